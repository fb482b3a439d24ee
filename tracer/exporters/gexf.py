"""GEXF 1.2 for Gephi, streamed row by row, with time for Gephi's timeline.

Each node starts at its first traced transfer in the view and each edge at its (first)
transfer: Gephi's timeline then replays the laundering in order. Times are ISO 8601 UTC
strings declared ``timeformat="date"`` (networkx's reader knows no finer time format, and the
round-trip tests read the file with it), which Gephi's importer maps to its DATE time format.
Colour and shape come from the legend as ``viz`` elements; the legend itself goes in the
file's ``<meta><description>``. Node and edge labels and edge ids are GEXF's own attributes;
every other column is an ``attvalue`` (nulls left out), escaped by
:mod:`tracer.exporters.xmlrows`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from tracer.atomic import atomic_write
from tracer.exporters.legend import LEGEND, LegendEntry, legend_entry
from tracer.exporters.text import xml_safe, xml_text
from tracer.exporters.view import ExportView, flat_edges, flat_nodes
from tracer.exporters.xmlrows import (
    XML_DECLARATION,
    XSI_NAMESPACE,
    attribute,
    attribute_value,
    escaped_attribute,
    optional,
    text_value,
    write_rows,
    xml_type,
)

_HEADER: Final = (
    XML_DECLARATION + '<gexf xmlns="http://www.gexf.net/1.2draft" '
    'xmlns:viz="http://www.gexf.net/1.2draft/viz" '
    f"{XSI_NAMESPACE} "
    'xsi:schemaLocation="http://www.gexf.net/1.2draft http://www.gexf.net/1.2draft/gexf.xsd" '
    'version="1.2">\n'
)
_GEXF_SHAPES: Final = {"box": "square", "diamond": "diamond", "triangle": "triangle"}  # else disc
# Columns that are GEXF attributes of the element (the time is written as ``start``).
_OWN: Final = {"node": ("id", "label"), "edge": ("id", "source", "target", "label")}
_START: Final = {"node": "first_traced", "edge": "first_time"}


def _viz(entry: LegendEntry) -> str:
    red, green, blue = (int(entry.colour[i : i + 2], 16) for i in (1, 3, 5))
    shape = _GEXF_SHAPES.get(entry.shape, "disc")
    return f'<viz:color r="{red}" g="{green}" b="{blue}" a="1.0"/><viz:shape value="{shape}"/>'


def _attributes(domain: str, frame: pl.DataFrame, first_id: int) -> tuple[str, list[pl.Expr]]:
    """(the ``<attributes>`` declaration, the row's ``<attvalues>`` parts) of ``frame``."""
    declared, values = [], []
    columns = [name for name in frame.columns if name not in _OWN[domain]]
    for number, name in enumerate(columns, start=first_id):
        attr_type = xml_type(frame.schema[name])
        declared.append(
            f'<attribute id="{number}" title="{attribute_value(name)}" type="{attr_type}"/>'
        )
        value = pl.col(name)
        fragment = pl.concat_str(
            pl.lit(f'<attvalue for="{number}" value="'), escaped_attribute(value), pl.lit('"/>')
        )
        values.append(optional(value, fragment))
    declaration = f'<attributes class="{domain}" mode="static">{"".join(declared)}</attributes>\n'
    return declaration, [pl.lit("<attvalues>"), *values, pl.lit("</attvalues>")]


def write_gexf(view: ExportView, path: Path) -> list[Path]:
    nodes, edges = xml_safe(flat_nodes(view)), xml_safe(flat_edges(view))
    node_declaration, node_values = _attributes("node", nodes, 0)
    edge_declaration, edge_values = _attributes("edge", edges, nodes.width)
    roles = sorted(set(LEGEND) | set(nodes["role"].drop_nulls().to_list()))
    viz = pl.col("role").replace_strict(
        roles, [_viz(legend_entry(role)) for role in roles], default=_viz(legend_entry(None))
    )
    node = [
        pl.lit("<node"),
        *(attribute(name, pl.col(name)) for name in _OWN["node"]),
        attribute("start", pl.col(_START["node"])),
        pl.lit(">"),
        *node_values,
        viz,
        pl.lit("</node>"),
    ]
    edge = [
        pl.lit("<edge"),
        *(attribute(name, pl.col(name)) for name in _OWN["edge"]),
        attribute("start", pl.col(_START["edge"])),
        pl.lit(">"),
        *edge_values,
        pl.lit("</edge>"),
    ]
    description = "tracer export; " + "; ".join(
        f"{name}: {value}" for name, value in view.metadata().items()
    )

    def write(temp: Path) -> None:
        with temp.open("w", encoding="utf-8", newline="") as handle:
            handle.write(_HEADER)
            handle.write("<meta><creator>tracer</creator>")
            handle.write(f"<description>{text_value(xml_text(description))}</description>")
            handle.write("</meta>\n")
            handle.write('<graph defaultedgetype="directed" mode="dynamic" timeformat="date">\n')
            handle.write(node_declaration + edge_declaration + "<nodes>\n")
            write_rows(handle, nodes, node)
            handle.write("</nodes>\n<edges>\n")
            write_rows(handle, edges, edge)
            handle.write("</edges>\n</graph>\n</gexf>\n")

    atomic_write(path, write)
    return [path]
