"""GEXF 1.2 for Gephi, written by networkx, with time for Gephi's timeline.

Each node starts at its first traced transfer in the view and each edge at its (first)
transfer: Gephi's timeline then replays the laundering in order. Times are ISO 8601 UTC
strings; networkx declares them ``timeformat="date"`` (its reader knows no finer time format,
and the round-trip tests read the file with it), which Gephi's importer maps to its DATE
time format.
Colour and shape come from the legend as ``viz`` elements; the legend itself goes in the
file's ``<meta><description>``.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import SubElement

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set

from tracer.atomic import atomic_write
from tracer.exporters.legend import LegendEntry, legend_entry
from tracer.exporters.text import xml_safe, xml_text
from tracer.exporters.view import ExportView, attribute_rows, flat_edges, flat_nodes

_GEXF_SHAPES = {"box": "square", "diamond": "diamond", "triangle": "triangle"}  # else disc


def _viz(entry: LegendEntry) -> dict[str, object]:
    red, green, blue = (int(entry.colour[i : i + 2], 16) for i in (1, 3, 5))
    return {
        "color": {"r": red, "g": green, "b": blue, "a": 1.0},
        "shape": _GEXF_SHAPES.get(entry.shape, "disc"),
    }


def gexf_graph(view: ExportView) -> nx.MultiDiGraph:
    graph: nx.MultiDiGraph = nx.MultiDiGraph(mode="dynamic")
    vizes = {entry.role: _viz(entry) for entry in view.legend}
    for row in attribute_rows(xml_safe(flat_nodes(view))):
        if "first_traced" in row:
            row["start"] = row["first_traced"]
        row["viz"] = vizes.get(row["role"]) or _viz(legend_entry(row["role"]))
        graph.add_node(row.pop("id"), **row)
    for row in attribute_rows(xml_safe(flat_edges(view))):
        if "first_time" in row:
            row["start"] = row["first_time"]
        # The edge id stays in the data: networkx writes it as GEXF's own edge id.
        graph.add_edge(row.pop("source"), row.pop("target"), key=row["id"], **row)
    return graph


def write_gexf(view: ExportView, path: Path) -> list[Path]:
    writer = nx.readwrite.gexf.GEXFWriter(encoding="utf-8", prettyprint=False)
    writer.add_graph(gexf_graph(view))
    meta = writer.xml.find("meta")
    description = "tracer export; " + "; ".join(
        f"{name}: {value}" for name, value in view.metadata().items()
    )
    SubElement(meta, "description").text = xml_text(description)

    def write(temp: Path) -> None:
        with temp.open("wb") as handle:
            writer.write(handle)

    atomic_write(path, write)
    return [path]
