"""The export view: the part of a case's graph an export shows, in the shape every format uses.

Two choices make the view (:func:`build_view`):

* the scope: the whole traced subgraph, or only the foremost paths from the seeds to the
  off-ramps (:func:`tracer.graph.paths.seed_paths`);
* the edges: one per transfer (lossless), or one per (from, to, asset) with the exact sums,
  the count, the first and last time and block and the transaction hashes.

Both give the same edge columns (:data:`VIEW_EDGE_SCHEMA`), so a writer never branches on
the choice. Node ids are addresses, edge ids are the transfer's key (or ``from>to>asset``
when aggregated): the same in every format. Amounts stay exact decimal strings.

:func:`flat_nodes` / :func:`flat_edges` turn the view into scalar-only tables (lists and
structs as JSON, times as ISO 8601 UTC) for formats without nested types.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from tracer.amounts import asset_decimals, whole_units
from tracer.cases import Case
from tracer.errors import UnknownNameError
from tracer.exporters.legend import LEGEND, LegendEntry, legend_entry
from tracer.exporters.text import csv_text
from tracer.graph.paths import seed_paths
from tracer.graph.tables import NODE_SCHEMA

TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"  # block times are whole seconds, UTC


class Scope(enum.StrEnum):
    TRACED = "traced"  # every edge that carried traced value
    OFFRAMP_PATHS = "offramp-paths"  # the foremost path from a seed to each off-ramp

    @classmethod
    def parse(cls, name: str) -> Scope:
        try:
            return cls(name)
        except ValueError:
            raise UnknownNameError("export scope", name, [s.value for s in cls]) from None


VIEW_NODE_SCHEMA: Final = pl.Schema(
    {
        **NODE_SCHEMA,
        "label": pl.String(),  # what a viewer shows: entity, else first label, else address
        "colour": pl.String(),  # from the legend, by role
        "shape": pl.String(),
        "first_traced": pl.Datetime("us", "UTC"),  # earliest view edge at this node
    }
)

VIEW_EDGE_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String(),
        "source": pl.String(),
        "target": pl.String(),
        "asset": pl.String(),
        "token_address": pl.String(),
        "token_id": pl.String(),
        "token_symbol": pl.String(),
        "token_decimals": pl.Int64(),
        "transfer_kind": pl.String(),  # aggregated: the distinct kinds, comma-separated
        "amount_raw": pl.String(),
        "traced_raw": pl.String(),
        "converted_raw": pl.String(),
        "traced_amount": pl.String(),  # whole units, exact; null when decimals are unknown
        "label": pl.String(),  # e.g. "1.5 ETH"
        "transfers": pl.Int64(),
        "first_time": pl.Datetime("us", "UTC"),
        "last_time": pl.Datetime("us", "UTC"),
        "first_block": pl.Int64(),
        "last_block": pl.Int64(),
        "tx_hashes": pl.List(pl.String()),  # in time order, each once
        "order": pl.Int64(),  # the first transfer's processing order
    }
)


@dataclass(frozen=True, slots=True)
class ExportView:
    case: Case
    nodes: pl.DataFrame  # VIEW_NODE_SCHEMA
    edges: pl.DataFrame  # VIEW_EDGE_SCHEMA
    transfer_ids: frozenset[str]  # the case edges (transfers) the view's edges stand for
    scope: Scope
    aggregated: bool

    @property
    def chain_id(self) -> int | None:
        chain_id = self.case.report.get("chain_id")
        return chain_id if isinstance(chain_id, int) else None

    @property
    def legend(self) -> list[LegendEntry]:
        """The legend entries of the roles present, in the legend's order."""
        present = set(self.nodes["role"].to_list())
        return [entry for entry in LEGEND.values() if entry.role in present]

    def legend_json(self) -> list[dict[str, str]]:
        return [
            {"role": e.role, "title": e.title, "colour": e.colour, "shape": e.shape}
            for e in self.legend
        ]

    def metadata(self) -> dict[str, str]:
        """Graph-level facts every format carries (as graph attributes or comments)."""
        return {
            "chain_id": "" if self.chain_id is None else str(self.chain_id),
            "seeds": json.dumps(self.case.report.get("seeds", [])),
            "scope": self.scope.value,
            "edges": "aggregated per (from, to, asset)" if self.aggregated else "one per transfer",
            "legend": json.dumps(self.legend_json()),
        }


def build_view(case: Case, scope: Scope = Scope.TRACED, aggregate: bool = False) -> ExportView:
    edges = case.edges.sort("order")
    if scope is Scope.OFFRAMP_PATHS:
        edges = edges.filter(pl.col("id").is_in(sorted(_offramp_path_edges(case))))
    transfer_ids = frozenset(edges["id"].to_list())
    view_edges = _aggregate(edges) if aggregate else _per_transfer(edges)
    view_edges = view_edges.with_columns(
        pl.Series("traced_amount", _units_column(view_edges), dtype=pl.String())
    ).with_columns(label=_edge_label())
    nodes = case.nodes
    if scope is Scope.OFFRAMP_PATHS:
        kept = set(view_edges["source"].to_list()) | set(view_edges["target"].to_list())
        nodes = nodes.filter(pl.col("id").is_in(sorted(kept)))
    return ExportView(
        case, _view_nodes(nodes, view_edges), view_edges, transfer_ids, scope, aggregate
    )


def _offramp_path_edges(case: Case) -> set[str]:
    seeds = [str(seed) for seed in case.report.get("seeds", [])]
    sinks = {str(entry["address"]) for entry in case.report.get("offramps", [])}
    paths = seed_paths(case.graph(), seeds, sinks)
    return {key for path in paths.values() for key in path.edge_keys}


def _per_transfer(edges: pl.DataFrame) -> pl.DataFrame:
    return edges.select(
        "id",
        "source",
        "target",
        "asset",
        "token_address",
        "token_id",
        "token_symbol",
        "token_decimals",
        "transfer_kind",
        "amount_raw",
        "traced_raw",
        "converted_raw",
        pl.lit(None, pl.String()).alias("traced_amount"),
        pl.lit(None, pl.String()).alias("label"),
        pl.lit(1, pl.Int64()).alias("transfers"),
        pl.col("block_time").alias("first_time"),
        pl.col("block_time").alias("last_time"),
        pl.col("block_number").alias("first_block"),
        pl.col("block_number").alias("last_block"),
        pl.concat_list("transaction_hash").alias("tx_hashes"),
        "order",
    ).cast(VIEW_EDGE_SCHEMA)


def _aggregate(edges: pl.DataFrame) -> pl.DataFrame:
    """One edge per (from, to, asset), in order of first appearance.

    Polars groups; the raw amounts are summed as Python ints (uint256 sums overflow every
    polars integer type, and the strings cannot be added as numbers there).
    """
    grouped = edges.group_by(["source", "target", "asset"], maintain_order=True).agg(
        pl.col("token_address", "token_id", "token_symbol", "token_decimals").first(),
        pl.col("transfer_kind").unique().sort().str.join(","),
        pl.col("amount_raw", "traced_raw", "converted_raw"),
        pl.len().cast(pl.Int64()).alias("transfers"),
        pl.col("block_time").min().alias("first_time"),
        pl.col("block_time").max().alias("last_time"),
        pl.col("block_number").min().alias("first_block"),
        pl.col("block_number").max().alias("last_block"),
        pl.col("transaction_hash").unique(maintain_order=True).alias("tx_hashes"),
        pl.col("order").min(),
    )
    sums = {
        name: pl.Series(
            name, [str(sum(map(int, raws))) for raws in grouped[name].to_list()], pl.String()
        )
        for name in ("amount_raw", "traced_raw", "converted_raw")
    }
    return (
        grouped.with_columns(
            *sums.values(),
            pl.concat_str("source", "target", "asset", separator=">").alias("id"),
            pl.lit(None, pl.String()).alias("traced_amount"),
            pl.lit(None, pl.String()).alias("label"),
        )
        .select(list(VIEW_EDGE_SCHEMA))
        .cast(VIEW_EDGE_SCHEMA)
    )


def _units_column(edges: pl.DataFrame) -> list[str | None]:
    """Traced amounts in whole units; null where the token's decimals are unknown."""
    units: list[str | None] = []
    for raw, token, decimals in edges.select(
        "traced_raw", "token_address", "token_decimals"
    ).iter_rows():
        known = asset_decimals(token, decimals)
        units.append(None if known is None else whole_units(int(raw), known))
    return units


def _edge_label() -> pl.Expr:
    symbol = pl.coalesce("token_symbol", pl.col("asset"))
    return (
        pl.when(pl.col("traced_amount").is_not_null())
        .then(pl.concat_str("traced_amount", pl.lit(" "), symbol))
        .otherwise(pl.concat_str("traced_raw", pl.lit(" raw "), symbol))
    )


def _view_nodes(nodes: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    touching = pl.concat(
        [
            edges.select(pl.col("source").alias("id"), "first_time"),
            edges.select(pl.col("target").alias("id"), "first_time"),
        ]
    )
    first_traced = touching.group_by("id").agg(pl.col("first_time").min().alias("first_traced"))
    roles = list(LEGEND)
    return (
        nodes.join(first_traced, on="id", how="left")
        .with_columns(
            label=pl.coalesce(pl.col("entity"), pl.col("labels").list.first(), pl.col("id")),
            colour=pl.col("role").replace_strict(
                roles, [LEGEND[r].colour for r in roles], default=legend_entry(None).colour
            ),
            shape=pl.col("role").replace_strict(
                roles, [LEGEND[r].shape for r in roles], default=legend_entry(None).shape
            ),
        )
        .select(list(VIEW_NODE_SCHEMA))
        .cast(VIEW_NODE_SCHEMA)
        .sort("id")
    )


# -- flat tables: scalars only --------------------------------------------------------------


def flat_nodes(view: ExportView) -> pl.DataFrame:
    return flatten(view.nodes)


def flat_edges(view: ExportView) -> pl.DataFrame:
    return flatten(view.edges)


def flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists and structs as JSON text, times as ISO 8601 UTC; other columns unchanged."""
    columns: list[pl.Expr | pl.Series] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            columns.append(pl.col(name).dt.strftime(TIME_FORMAT))
        elif isinstance(dtype, (pl.List, pl.Struct)):
            values = frame[name].to_list()
            text = [None if value is None else json.dumps(value) for value in values]
            columns.append(pl.Series(name, text, dtype=pl.String()))
        else:
            columns.append(pl.col(name))
    return frame.select(columns)


def legend_csv(view: ExportView) -> str:
    """The legend of the roles present as CSV (role, title, colour, shape)."""
    return csv_text(("role", "title", "colour", "shape"), view.legend_json())


def attribute_rows(frame: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """Rows without their null values: formats that cannot say "null" leave them out."""
    for row in frame.iter_rows(named=True):
        yield {name: value for name, value in row.items() if value is not None}
