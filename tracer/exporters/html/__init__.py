"""The interactive case view: one self-contained HTML file that works offline.

It shows the flow graph laid out from the seeds to the off-ramps (click a node or an edge for
its evidence), a Sankey diagram of traced value per asset, the off-ramp table and the legend.
Plotly draws the graph and the Sankey; its script is inlined from the pinned Python package,
so the page loads nothing. :mod:`.page` says how untrusted text is kept inert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import polars as pl

from tracer.atomic import atomic_write_text
from tracer.cases import Case
from tracer.exporters.html.columns import (
    asset_columns,
    asset_keys,
    edge_columns,
    exact_raw,
    node_columns,
)
from tracer.exporters.html.figures import graph_figure, sankey_figure
from tracer.exporters.html.layout import LayoutNode, Position, layered_layout
from tracer.exporters.html.model import OFFRAMP_COLUMNS, Assets, legend_rows, offramp_rows
from tracer.exporters.html.page import render_page
from tracer.exporters.html.sankey import back_flow_note, sankey_flows

__all__ = ["MAX_DRAWN_NODES", "case_view_data", "layout_edges", "write_case_view"]

# Beyond this many nodes the graph draws the ones nearest the seeds plus every seed and
# off-ramp, and says so (benchmarks/README.md has the load times behind the number); the
# Sankey, the table and the evidence always cover the whole case.
MAX_DRAWN_NODES: Final = 5000


def write_case_view(case: Case, path: Path) -> Path:
    """Write the case view of ``case`` to ``path`` (atomically) and return ``path``."""
    atomic_write_text(path, render_page(case_view_data(case)))
    return path


def case_view_data(case: Case, max_drawn_nodes: int = MAX_DRAWN_NODES) -> dict[str, Any]:
    """Everything the page shows, as the JSON it embeds."""
    assets = Assets.of_case(case)
    full = _layout(case.nodes, case.edges)
    hops = {node_id: position.hops for node_id, position in full.items()}
    drawn = _drawn_nodes(case.nodes, full, max_drawn_nodes)
    positions = full if drawn.height == case.nodes.height else _layout(drawn, case.edges)
    keys = asset_keys(case)
    asset_index = {key: index for index, key in enumerate(keys)}
    nodes = node_columns(case, hops, asset_index)
    node_index = {node_id: index for index, node_id in enumerate(nodes["id"])}
    edges = edge_columns(case.edges, nodes["id"], asset_index)  # checks every edge's ends
    flows = sankey_flows(case.nodes, case.edges, assets, hops)
    seeds = case.report.get("seeds")
    return {
        "summary": {
            "seeds": [str(seed) for seed in seeds] if isinstance(seeds, list) else [],
            "policy": str(case.report.get("policy") or "—"),
            "chain_id": str(case.report.get("chain_id") or "—"),
            "nodes": case.nodes.height,
            "edges": case.edges.height,
            "drawn_nodes": drawn.height,
        },
        "graph": graph_figure(drawn, case.edges, positions, node_index),
        "assets": asset_columns(assets, keys),
        "nodes": nodes,
        "edges": edges,
        "sankeys": [
            {"title": flow["title"], "figure": sankey_figure(flow), "note": back_flow_note(flow)}
            for flow in flows
        ],
        "offramps": {"columns": list(OFFRAMP_COLUMNS), "rows": offramp_rows(case, assets)},
        "legend": legend_rows(case.nodes["role"].to_list()),
    }


def _layout(nodes: pl.DataFrame, edges: pl.DataFrame) -> dict[str, Position]:
    layout_nodes = [
        LayoutNode(
            row["id"],
            bool(row["seed"]),
            row["offramp"] is not None,
            row["first_seen"],
            bool(row["stop"]),
        )
        for row in nodes.select("id", "seed", "offramp", "first_seen", "stop").iter_rows(named=True)
    ]
    return layered_layout(layout_nodes, layout_edges(edges))


def layout_edges(edges: pl.DataFrame) -> list[tuple[str, str, bool]]:
    """(source, target, carried on) per edge: carried on when its ``converted_raw`` is not
    zero, the rule :func:`tracer.graph.paths.seed_paths` passes a service by."""
    return [
        (source, target, raw.lstrip("0") != "")
        for source, target, raw in zip(
            edges["source"].to_list(),
            edges["target"].to_list(),
            exact_raw(edges["converted_raw"]),
            strict=True,
        )
    ]


def _drawn_nodes(nodes: pl.DataFrame, positions: dict[str, Position], limit: int) -> pl.DataFrame:
    """All nodes, or the ``limit`` that matter most: seeds and off-ramps, then by layer."""
    if nodes.height <= limit:
        return nodes
    layers = {node_id: position.layer for node_id, position in positions.items()}
    ranked = nodes.with_columns(
        (~(pl.col("seed") | pl.col("offramp").is_not_null())).alias("_rest"),
        pl.col("id").replace_strict(layers, return_dtype=pl.Int64).alias("_layer"),
    ).sort("_rest", "_layer", "first_seen", "id", nulls_last=True)
    return ranked.head(limit).drop("_rest", "_layer")
