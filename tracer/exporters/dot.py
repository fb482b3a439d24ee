"""Graphviz DOT, written here (no binding needed: the format is small and the escaping is
the whole difficulty, so it is done in one place, :func:`tracer.exporters.text.dot_quoted`).

Every id and label is a double-quoted string, so nothing from a label file can end a string,
open an HTML-like label or add an attribute. Nodes carry the legend's colour and shape; the
legend is drawn as a table in the graph label (an HTML-like label built only from the
legend's own fixed text, escaped all the same). Render with ``dot -Tsvg graph.dot``.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

from tracer.atomic import atomic_write_text
from tracer.exporters.legend import legend_entry
from tracer.exporters.text import dot_quoted
from tracer.exporters.view import ExportView, attribute_rows, flat_edges, flat_nodes

_NODE_TOOLTIP = ("id", "role", "category", "entity", "labels", "offramp", "traced")
_EDGE_TOOLTIP = ("asset", "traced_raw", "amount_raw", "transfers", "first_time", "tx_hashes")


def dot_lines(view: ExportView) -> Iterator[str]:
    yield "digraph tracer {"
    yield "  graph [rankdir=LR, fontname=Helvetica, labelloc=b, labeljust=l];"
    yield "  node [style=filled, fontname=Helvetica, fontsize=10];"
    yield "  edge [fontname=Helvetica, fontsize=8];"
    for name, value in view.metadata().items():
        if name != "legend":
            yield f"  // {name}: {dot_quoted(value)}"
    yield f"  label=<{_legend_table(view)}>;"
    for row in attribute_rows(flat_nodes(view)):
        entry = legend_entry(row.get("role"))
        label = row["label"] if row["label"] == row["id"] else f"{row['label']}\n{row['id']}"
        attributes = {
            "id": row["id"],
            "label": label,
            "shape": entry.shape,
            "fillcolor": entry.colour,
            "tooltip": _tooltip(row, _NODE_TOOLTIP),
        }
        yield f"  {dot_quoted(row['id'])} [{_attributes(attributes)}];"
    for row in attribute_rows(flat_edges(view)):
        attributes = {
            "id": row["id"],
            "label": row["label"],
            "tooltip": _tooltip(row, _EDGE_TOOLTIP),
        }
        source, target = dot_quoted(row["source"]), dot_quoted(row["target"])
        yield f"  {source} -> {target} [{_attributes(attributes)}];"
    yield "}"


def write_dot(view: ExportView, path: Path) -> list[Path]:
    atomic_write_text(path, "\n".join(dot_lines(view)) + "\n")
    return [path]


def _attributes(attributes: dict[str, str]) -> str:
    return ", ".join(f"{name}={dot_quoted(value)}" for name, value in attributes.items())


def _tooltip(row: dict[str, object], names: tuple[str, ...]) -> str:
    return "\n".join(f"{name}: {row[name]}" for name in names if name in row)


def _legend_table(view: ExportView) -> str:
    cells = "".join(
        f'<TR><TD BGCOLOR="{html.escape(entry.colour)}" WIDTH="14"></TD>'
        f'<TD ALIGN="LEFT">{html.escape(entry.title)} ({html.escape(entry.shape)})</TD></TR>'
        for entry in view.legend
    )
    return f'<TABLE BORDER="0" CELLSPACING="2"><TR><TD COLSPAN="2">Legend</TD></TR>{cells}</TABLE>'
