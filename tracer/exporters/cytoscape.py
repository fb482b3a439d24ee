"""Cytoscape.js JSON: ``{"elements": {"nodes": [{"data": ...}], "edges": [...]}, "style": [...]}``.

Loads with ``cytoscape({container, ...json})`` or ``cy.json(json)``, and in Cytoscape desktop
(File > Import > Network from File, ``.cyjs``). Data keeps its native JSON types (lists,
per-asset traced amounts), amounts are exact strings, times ISO 8601 UTC. The legend is the
style (one selector per role: colour and shape) and is repeated in ``data.legend``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import polars as pl

from tracer.atomic import atomic_write_text
from tracer.exporters.view import TIME_FORMAT, ExportView

# Cytoscape.js node shapes for the legend's shape names (the rest are the same word).
_SHAPES: Final = {"box": "round-rectangle"}


def cytoscape_document(view: ExportView) -> dict[str, Any]:
    return {
        "format_version": "1.0",
        "generated_by": "tracer",
        "target_cytoscapejs_version": "~3",
        "data": {**view.metadata(), "legend": view.legend_json(), "seeds": _seeds(view)},
        "elements": {
            "nodes": [{"data": data} for data in _records(view.nodes)],
            "edges": [{"data": data} for data in _records(view.edges)],
        },
        "style": _style(view),
    }


def write_cytoscape(view: ExportView, path: Path) -> list[Path]:
    document = cytoscape_document(view)
    atomic_write_text(path, json.dumps(document, ensure_ascii=False) + "\n")
    return [path]


def _seeds(view: ExportView) -> list[str]:
    return [str(seed) for seed in view.case.report.get("seeds", [])]


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    times = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)]
    text = frame.with_columns(pl.col(name).dt.strftime(TIME_FORMAT) for name in times)
    return [
        {name: value for name, value in row.items() if value is not None}
        for row in text.iter_rows(named=True)
    ]


def _style(view: ExportView) -> list[dict[str, Any]]:
    style: list[dict[str, Any]] = [
        {
            "selector": "node",
            "style": {"label": "data(label)", "font-size": 10, "text-wrap": "ellipsis",
                      "text-max-width": "160px"},
        },
        {
            "selector": "edge",
            "style": {"label": "data(label)", "font-size": 8, "curve-style": "bezier",
                      "target-arrow-shape": "triangle", "width": 1.5},
        },
    ]  # fmt: skip
    for entry in view.legend:
        style.append(
            {
                "selector": f'node[role = "{entry.role}"]',
                "style": {
                    "background-color": entry.colour,
                    "shape": _SHAPES.get(entry.shape, entry.shape),
                },
            }
        )
    return style
