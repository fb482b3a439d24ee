"""GraphML (yEd, Gephi, Cytoscape desktop, networkx, igraph), written by networkx.

GraphML has no null and no list: nulls are left out, lists are JSON text (see
:func:`tracer.exporters.view.flat_nodes`). Amounts stay strings (GraphML's ``long`` is 64-bit).
Text is cleaned of the control characters XML 1.0 cannot hold (:mod:`tracer.exporters.text`).
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set

from tracer.atomic import atomic_write
from tracer.exporters.text import xml_safe, xml_text
from tracer.exporters.view import ExportView, attribute_rows, flat_edges, flat_nodes


def view_graph(view: ExportView) -> nx.MultiDiGraph:
    """The view as a networkx graph of scalar attributes (edge key = edge id)."""
    graph: nx.MultiDiGraph = nx.MultiDiGraph(
        **{name: xml_text(value) for name, value in view.metadata().items()}
    )
    for row in attribute_rows(xml_safe(flat_nodes(view))):
        graph.add_node(row.pop("id"), **row)
    for row in attribute_rows(xml_safe(flat_edges(view))):
        graph.add_edge(row.pop("source"), row.pop("target"), key=row.pop("id"), **row)
    return graph


def write_graphml(view: ExportView, path: Path) -> list[Path]:
    graph = view_graph(view)
    # networkx streams through lxml when it is installed (pinned for that: about 40 % faster).
    atomic_write(
        path, lambda temp: nx.write_graphml(graph, temp, encoding="utf-8", prettyprint=False)
    )
    return [path]
