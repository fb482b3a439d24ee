"""GraphML (yEd, Gephi, Cytoscape desktop, networkx, igraph), streamed row by row.

GraphML has no null and no list: nulls are left out, lists are JSON text (see
:func:`tracer.exporters.view.flat_nodes`). Amounts stay strings (GraphML's ``long`` is 64-bit).
Text is cleaned of the control characters XML 1.0 cannot hold (:mod:`tracer.exporters.text`)
and escaped by :mod:`tracer.exporters.xmlrows`. Edge ids are GraphML edge ids, so networkx
reads them as the multigraph's edge keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from tracer.atomic import atomic_write
from tracer.exporters.text import xml_safe, xml_text
from tracer.exporters.view import ExportView, flat_edges, flat_nodes
from tracer.exporters.xmlrows import (
    XML_DECLARATION,
    XSI_NAMESPACE,
    attribute,
    attribute_value,
    escaped_text,
    optional,
    text_value,
    write_rows,
    xml_type,
)

_HEADER: Final = (
    XML_DECLARATION + '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    f"{XSI_NAMESPACE} "
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)
_OWN: Final = {"node": ("id",), "edge": ("id", "source", "target")}  # XML attributes, not data


class _Keys:
    """GraphML ``<key>`` ids (``d0``, ``d1``, ...) per (domain, attribute name)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], str] = {}
        self.lines: list[str] = []

    def add(self, domain: str, name: str, attr_type: str) -> str:
        key = f"d{len(self.ids)}"
        self.ids[(domain, name)] = key
        self.lines.append(
            f'<key id="{key}" for="{domain}" attr.name="{attribute_value(name)}" '
            f'attr.type="{attr_type}"/>\n'
        )
        return key

    def data(self, domain: str, frame: pl.DataFrame) -> list[pl.Expr]:
        """One ``<data>`` per non-null column value of ``frame``'s rows."""
        parts = []
        for name, dtype in frame.schema.items():
            if name in _OWN[domain]:
                continue
            key = self.add(domain, name, xml_type(dtype))
            value = pl.col(name)
            fragment = pl.concat_str(
                pl.lit(f'<data key="{key}">'), escaped_text(value), pl.lit("</data>")
            )
            parts.append(optional(value, fragment))
        return parts


def write_graphml(view: ExportView, path: Path) -> list[Path]:
    nodes, edges = xml_safe(flat_nodes(view)), xml_safe(flat_edges(view))
    keys = _Keys()
    graph_data = "".join(
        f'<data key="{keys.add("graph", name, "string")}">{text_value(xml_text(value))}</data>\n'
        for name, value in view.metadata().items()
    )
    node_data = keys.data("node", nodes)
    edge_data = keys.data("edge", edges)
    node = [pl.lit("<node"), attribute("id", pl.col("id")), pl.lit(">"), *node_data]
    edge = [
        pl.lit("<edge"),
        *(attribute(name, pl.col(name)) for name in _OWN["edge"]),
        pl.lit(">"),
        *edge_data,
    ]

    def write(temp: Path) -> None:
        with temp.open("w", encoding="utf-8", newline="") as handle:
            handle.write(_HEADER)
            handle.writelines(keys.lines)
            handle.write('<graph edgedefault="directed">\n')
            handle.write(graph_data)
            write_rows(handle, nodes, [*node, pl.lit("</node>")])
            write_rows(handle, edges, [*edge, pl.lit("</edge>")])
            handle.write("</graph>\n</graphml>\n")

    atomic_write(path, write)
    return [path]
