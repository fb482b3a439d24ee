"""Plain tables of the view: ``nodes``, ``edges`` and ``transfers`` as CSV or Parquet.

``transfers`` holds the case's transfer-table rows behind the view's edges (every column of
the transfer schema). Parquet keeps the native types (lists, per-asset structs, UTC times);
CSV has scalars only: lists and structs as JSON text, times as ISO 8601 UTC. Amounts are exact
decimal strings in both. ``legend.csv`` maps each role to its colour and shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from tracer.atomic import atomic_write, atomic_write_text
from tracer.exporters.view import ExportView, flat_edges, flat_nodes, flatten, legend_csv

TRANSFER_KEY: Final = (
    "transaction_hash", "transfer_kind", "log_index", "trace_address", "token_id",
)  # fmt: skip


def view_transfers(view: ExportView) -> pl.DataFrame:
    """The transfer-table rows behind the view's edges, in the case's order."""
    transfers = view.case.transfers()
    if transfers.is_empty():
        return transfers
    # The key as tracer.graph.build.edge_key writes it, computed by polars for the whole table.
    key = pl.concat_str(
        [pl.col(name).cast(pl.String()).fill_null("") for name in TRANSFER_KEY], separator=":"
    )
    return transfers.filter(key.is_in(sorted(view.transfer_ids)))


def write_parquet_tables(view: ExportView, directory: Path) -> list[Path]:
    tables = {"nodes": view.nodes, "edges": view.edges, "transfers": view_transfers(view)}
    return _write(view, directory, tables, "parquet")


def write_csv_tables(view: ExportView, directory: Path) -> list[Path]:
    tables = {
        "nodes": flat_nodes(view),
        "edges": flat_edges(view),
        "transfers": flatten(view_transfers(view)),
    }
    return _write(view, directory, tables, "csv")


def _write(
    view: ExportView, directory: Path, tables: dict[str, pl.DataFrame], suffix: str
) -> list[Path]:
    paths = []
    for name, frame in tables.items():
        path = directory / f"{name}.{suffix}"
        atomic_write(path, frame.write_parquet if suffix == "parquet" else frame.write_csv)
        paths.append(path)
    atomic_write_text(directory / "legend.csv", legend_csv(view))
    return [*paths, directory / "legend.csv"]
