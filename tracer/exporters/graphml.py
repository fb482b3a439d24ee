"""GraphML (yEd, Gephi, Cytoscape desktop, networkx, igraph), written by networkx.

GraphML has no null and no list: nulls are left out, lists are JSON text (see
:func:`tracer.exporters.view.flat_nodes`). Amounts stay strings (GraphML's ``long`` is 64-bit).
Text is cleaned of the control characters XML 1.0 cannot hold (see :func:`xml_text`).
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set

from tracer.atomic import atomic_write
from tracer.exporters.text import xml_text
from tracer.exporters.view import ExportView, attribute_rows, flat_edges, flat_nodes


def view_graph(view: ExportView) -> nx.MultiDiGraph:
    """The view as a networkx graph of scalar attributes (edge key = edge id)."""
    graph: nx.MultiDiGraph = nx.MultiDiGraph(
        **{name: xml_text(value) for name, value in view.metadata().items()}
    )
    for row in attribute_rows(flat_nodes(view)):
        node = row.pop("id")
        graph.add_node(node, **{name: xml_text(value) for name, value in row.items()})
    for row in attribute_rows(flat_edges(view)):
        source, target, key = row.pop("source"), row.pop("target"), row.pop("id")
        graph.add_edge(
            source, target, key=key, **{name: xml_text(value) for name, value in row.items()}
        )
    return graph


def write_graphml(view: ExportView, path: Path) -> list[Path]:
    graph = view_graph(view)
    atomic_write(path, lambda temp: nx.write_graphml(graph, temp, encoding="utf-8"))
    return [path]
