"""Plotly figure specifications (plain JSON-able dicts) for the flow graph and the Sankey.

Plotly renders a subset of HTML in hover text, trace names and Sankey labels, so every string
handed to it goes through :func:`plotly_text` (markup becomes entities, which Plotly shows as
the characters they stand for). Text the page inserts itself never comes through here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Final

import polars as pl

from tracer.exporters.html.layout import Position
from tracer.exporters.html.model import display_name
from tracer.exporters.legend import LEGEND, legend_entry

# The legend's shape names → Plotly marker symbols.
_SYMBOLS: Final = {
    "star": "star",
    "octagon": "octagon",
    "hexagon": "hexagon",
    "triangle": "triangle-up",
    "diamond": "diamond",
    "box": "square",
    "ellipse": "circle",
}
# Roles drawn large: where value is mixed or leaves the chain (off-ramps are also outlined).
_HIGHLIGHTED: Final = frozenset({"seed", "mixer", "bridge"})
_EDGE_COLOUR: Final = "#9aa5b1"
_PIXELS_PER_ROW: Final = 28  # vertical room per node of the tallest layer
_ASSUMED_WIDTH: Final = 1100  # px, only to point the arrows; the plot itself is responsive


def plotly_text(text: str) -> str:
    """Text Plotly may render as HTML, made inert."""
    return html.escape(text, quote=False)  # no tags without "<"; Plotly shows &quot; as is


def graph_figure(
    nodes: pl.DataFrame,
    edges: pl.DataFrame,
    positions: Mapping[str, Position],
    node_index: Mapping[str, int],
) -> dict[str, Any]:
    """The node-link figure: edge lines, clickable edge arrows, one node trace per role.

    Only nodes in ``positions`` (and edges between them) are drawn. ``node_traces`` and
    ``edge_traces`` name the trace indices whose ``customdata`` are node indices (in
    ``node_index``) or edge indices (rows of ``edges``); the page writes the arrows' hover text
    from the embedded edges.
    """
    rows = [row for row in nodes.iter_rows(named=True) if row["id"] in positions]
    names = {row["id"]: display_name(row) for row in rows}
    height = _height(positions)
    traces: list[dict[str, Any]] = [*_edge_traces(edges, positions, height)]
    edge_traces = [1]  # the arrows; the lines (trace 0) take no clicks
    node_traces = []
    for role in LEGEND:
        members = [row for row in rows if legend_entry(row["role"]).role == role]
        if members:
            node_traces.append(len(traces))
            traces.append(_node_trace(role, members, positions, names, node_index))
    far = max((position.layer for position in positions.values()), default=0)
    offramp_column = any(row["offramp"] and positions[row["id"]].layer == far for row in rows)
    ticks = [_column_title(layer, far, offramp_column) for layer in range(far + 1)]
    layout = {
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 30, "b": 30},
        "hovermode": "closest",
        "dragmode": "pan",
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.02, "yanchor": "top"},
        "xaxis": {
            "tickvals": list(range(far + 1)),
            "ticktext": ticks,
            "side": "top",
            "showgrid": False,
            "zeroline": False,
            "range": [-0.5, far + 0.5],
        },
        "yaxis": {"visible": False, "showgrid": False, "zeroline": False},
        "plot_bgcolor": "#ffffff",
    }
    return {
        "data": traces,
        "layout": layout,
        "node_traces": node_traces,
        "edge_traces": edge_traces,
    }


def sankey_figure(flow: Mapping[str, Any]) -> dict[str, Any]:
    """A Plotly Sankey for one asset's flows (see :mod:`tracer.exporters.html.sankey`)."""
    trace = {
        "type": "sankey",
        "arrangement": "snap",
        "valueformat": ".6~g",
        "node": {
            "label": [plotly_text(label) for label in flow["labels"]],
            "color": flow["colours"],
            "pad": 14,
            "thickness": 16,
            "hovertemplate": "%{label}<extra></extra>",
        },
        "link": {
            "source": flow["source"],
            "target": flow["target"],
            "value": flow["value"],
            "customdata": [plotly_text(amount) for amount in flow["amount"]],
            "color": "rgba(120, 130, 140, 0.35)",
            "hovertemplate": ("%{source.label} → %{target.label}<br>%{customdata}<extra></extra>"),
        },
    }
    return {
        "data": [trace],
        "layout": {
            "title": {"text": plotly_text(f"Traced {flow['title']}")},
            "height": max(360, 26 * len(flow["labels"])),
            "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
            "font": {"size": 11},
        },
    }


def _edge_traces(
    edges: pl.DataFrame, positions: Mapping[str, Position], height: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    far = max((position.layer for position in positions.values()), default=0)
    ys = [position.y for position in positions.values()]
    # Pixels per data unit, roughly, so an arrow points the way its edge runs on screen.
    x_scale = _ASSUMED_WIDTH / (far + 1)
    y_scale = height / max(1.0, max(ys, default=0) - min(ys, default=0) + 1)
    placed = pl.DataFrame(
        {
            "id": list(positions),
            "x": [position.x for position in positions.values()],
            "y": [position.y for position in positions.values()],
        },
        schema={"id": pl.String, "x": pl.Float64, "y": pl.Float64},
    )
    start, end = (placed.rename({"id": column, "x": f"x_{column}", "y": f"y_{column}"})
                  for column in ("source", "target"))  # fmt: skip
    drawn = (
        edges.select("source", "target")
        .with_row_index("row")
        .join(start, on="source", maintain_order="left")  # inner: both ends drawn
        .join(end, on="target", maintain_order="left")
        .with_columns(
            dx=(pl.col("x_target") - pl.col("x_source")),
            dy=(pl.col("y_target") - pl.col("y_source")),
        )
        .select(
            "row",
            line_x=pl.concat_list("x_source", "x_target", pl.lit(None, pl.Float64)),
            line_y=pl.concat_list("y_source", "y_target", pl.lit(None, pl.Float64)),
            arrow_x=pl.col("x_source") + 0.6 * pl.col("dx"),
            arrow_y=pl.col("y_source") + 0.6 * pl.col("dy"),
            # Plotly's "arrow" points up; its angle turns it clockwise, in degrees.
            angle=pl.when((pl.col("dx") != 0) | (pl.col("dy") != 0))
            .then(90 - pl.arctan2(pl.col("dy") * y_scale, pl.col("dx") * x_scale).degrees())
            .otherwise(0.0)
            .round(1),
        )
    )
    lines = {
        "type": "scatter",
        "mode": "lines",
        "x": drawn["line_x"].explode().to_list(),
        "y": drawn["line_y"].explode().to_list(),
        "line": {"color": _EDGE_COLOUR, "width": 1},
        "hoverinfo": "skip",
        "showlegend": False,
    }
    arrows = {
        "type": "scatter",
        "mode": "markers",
        "name": "Transfer (click for evidence)",
        "x": drawn["arrow_x"].to_list(),
        "y": drawn["arrow_y"].to_list(),
        "customdata": drawn["row"].to_list(),
        "hoverinfo": "text",
        "marker": {
            "symbol": "arrow",
            "angle": drawn["angle"].to_list(),
            "size": 10,
            "color": "#5b6770",
        },
        "showlegend": True,
    }
    return lines, arrows


def _node_trace(
    role: str,
    rows: Sequence[Mapping[str, Any]],
    positions: Mapping[str, Position],
    names: Mapping[str, str],
    node_index: Mapping[str, int],
) -> dict[str, Any]:
    entry = LEGEND[role]
    big = role in _HIGHLIGHTED
    sizes, widths, labels, places, hover = [], [], [], [], []
    for row in rows:
        offramp = row["offramp"]
        sizes.append(20 if offramp or big else 12)
        widths.append(3 if offramp else 1)
        # Off-ramps stack in the last column: names beside them, not over their neighbours.
        places.append("middle left" if offramp else "top center")
        # Off-ramps, mixers and bridges are named on the graph; the rest on hover.
        labels.append(plotly_text(names[row["id"]]) if offramp or big else "")
        lines = [names[row["id"]], entry.title]
        if offramp:
            lines.append(f"off-ramp: {offramp}")
        hover.append("<br>".join(plotly_text(line) for line in lines))
    return {
        "type": "scatter",
        "mode": "markers+text",
        "name": plotly_text(entry.title),
        "x": [positions[row["id"]].x for row in rows],
        "y": [positions[row["id"]].y for row in rows],
        "customdata": [node_index[row["id"]] for row in rows],
        "text": labels,
        "textposition": places,
        "textfont": {"size": 10},
        "hovertext": hover,
        "hoverinfo": "text",
        "marker": {
            "symbol": _SYMBOLS.get(entry.shape, "circle"),
            "color": entry.colour,
            "size": sizes,
            "line": {"color": "#1b1b1b", "width": widths},
        },
    }


def _height(positions: Mapping[str, Position]) -> int:
    tallest: dict[int, int] = {}
    for position in positions.values():
        tallest[position.layer] = tallest.get(position.layer, 0) + 1
    rows = max(tallest.values(), default=1)
    return max(480, min(6000, _PIXELS_PER_ROW * rows + 120))


def _column_title(layer: int, far: int, offramp_column: bool) -> str:
    if layer == far and offramp_column and far > 0:
        return "Off-ramps"
    if layer == 0:
        return "Seeds"
    return "1 hop" if layer == 1 else f"{layer} hops"
