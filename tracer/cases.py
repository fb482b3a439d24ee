"""A case directory written by ``tracer trace``, read back for reports, exports and views.

The files (names are part of the documented case layout):

* ``report.json``: the report (the contract in the README);
* ``transfers.parquet``: every transfer the crawl fetched;
* ``nodes.parquet`` / ``edges.parquet``: the traced flow graph (:mod:`tracer.graph.tables`);
* ``events.parquet`` / ``transactions.parquet``: protocol events and transaction facts;
* ``probes.parquet``: the transfers of probed addresses (evidence for demixing, not traced).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set
import polars as pl

from tracer.errors import InputError
from tracer.graph.tables import EDGE_SCHEMA, LATER_NODE_COLUMNS, NODE_SCHEMA, graph_from_tables
from tracer.reports.load import load_report

TRANSFERS_FILE: Final = "transfers.parquet"
NODES_FILE: Final = "nodes.parquet"
EDGES_FILE: Final = "edges.parquet"
EVENTS_FILE: Final = "events.parquet"
TRANSACTIONS_FILE: Final = "transactions.parquet"
PROBES_FILE: Final = "probes.parquet"


@dataclass(frozen=True, slots=True)
class Case:
    directory: Path
    report: dict[str, Any]
    nodes: pl.DataFrame
    edges: pl.DataFrame

    def graph(self) -> nx.MultiDiGraph:
        return graph_from_tables(self.nodes, self.edges)

    def transfers(self) -> pl.DataFrame:
        """The full transfer table (read on demand: it can be far larger than the graph)."""
        return _read_parquet(self.directory / TRANSFERS_FILE)


def load_case(directory: Path) -> Case:
    """Read a case directory; a missing or damaged file is a one-line :class:`InputError`."""
    report = load_report(directory)  # checked as every renderer expects it
    for name in (NODES_FILE, EDGES_FILE):
        if not (directory / name).is_file():
            raise InputError(
                f"{directory}: no {name} (written by tracer trace since the graph model was "
                "added); run the same `tracer trace` again to add it"
            )
    nodes = _with_later_columns(_read_parquet(directory / NODES_FILE))
    edges = _read_parquet(directory / EDGES_FILE)
    _check_columns(directory / NODES_FILE, nodes, NODE_SCHEMA)
    _check_columns(directory / EDGES_FILE, edges, EDGE_SCHEMA)
    return Case(directory, report, nodes, edges)


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"{path}: unreadable table ({exc})") from exc


def _with_later_columns(nodes: pl.DataFrame) -> pl.DataFrame:
    """A case traced before a node column existed reads with that column empty."""
    return nodes.with_columns(
        pl.lit([], NODE_SCHEMA[name]).alias(name)
        for name in LATER_NODE_COLUMNS
        if name not in nodes.columns
    )


def _check_columns(path: Path, frame: pl.DataFrame, schema: pl.Schema) -> None:
    missing = [name for name in schema.names() if name not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing columns {', '.join(missing)}")
