"""Transfer table + taint result → the traced flow graph (a networkx MultiDiGraph).

Only transfers that carried traced value become edges (one edge per transfer, keyed by its
unique key, so parallel transfers between two addresses stay apart); their endpoints are the
nodes. The whole-table work (first/last seen per address) is one polars group-by; networkx
only holds the traced subgraph, which is small next to the table.

Node attributes: ``labels`` (names, every source), ``label_details`` (each label's name,
category, source and date, for the evidence a view shows), ``category`` (the tracing role, see
:meth:`tracer.labels.store.LabelStore.role`), ``entity``, ``seed``, ``stop`` (a service where
the trace ends), ``first_seen``/``last_seen`` (UTC datetimes over the whole table) and
``traced``: asset key (token address, ``#token_id`` for NFTs) → {received, sent, held}.

Edge attributes: ``tx_hash``, ``block``, ``time``, ``kind``, ``asset`` (asset key),
``token_address``, ``token_id``, ``amount_raw`` and ``traced_raw`` (exact Python ints: an
exporter writing a format with 64-bit integers must write them as strings), ``converted_raw``
(the part created by a swap, link or seed inflow) and ``order`` (the engine's processing order,
which paths use to stay forward in time).
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set
import polars as pl

from tracer.heuristics.taint import TaintResult, asset_key
from tracer.labels.model import Label
from tracer.labels.store import LabelStore


def edge_key(row: dict[str, object]) -> str:
    """The transfer's unique key within the chain, as one string."""
    parts = (
        row["transaction_hash"],
        row["transfer_kind"],
        row["log_index"],
        row["trace_address"],
        row["token_id"],
    )
    return ":".join("" if part is None else str(part) for part in parts)


def build_flow_graph(
    transfers: pl.DataFrame, taint: TaintResult, labels: LabelStore | None = None
) -> nx.MultiDiGraph:
    graph: nx.MultiDiGraph = nx.MultiDiGraph()
    traced = taint.transfers
    for order, row in enumerate(traced.iter_rows(named=True)):
        token_id = row["token_id"]
        graph.add_edge(
            row["from_address"],
            row["to_address"],
            key=edge_key(row),
            tx_hash=row["transaction_hash"],
            block=row["block_number"],
            time=row["block_time"],
            kind=row["transfer_kind"],
            asset=row["token_address"]
            if token_id is None
            else f"{row['token_address']}#{token_id}",
            token_address=row["token_address"],
            token_id=token_id,
            amount_raw=int(row["value_raw"]),
            traced_raw=int(row["traced_raw"]),
            converted_raw=int(row["converted_raw"]),
            order=order,
        )
    for (address, asset), balance in taint.balances.items():
        graph.add_node(address)
        graph.nodes[address].setdefault("traced", {})[asset_key(asset)] = {
            "received": balance.received,
            "sent": balance.sent,
            "held": balance.held,
        }
    graph.add_nodes_from(taint.seeds)
    _annotate_nodes(graph, transfers, taint, labels)
    return graph


def _annotate_nodes(
    graph: nx.MultiDiGraph,
    transfers: pl.DataFrame,
    taint: TaintResult,
    labels: LabelStore | None,
) -> None:
    nodes = list(graph.nodes)
    seen = _first_last_seen(transfers, nodes)
    chain_ids = transfers["chain_id"].drop_nulls().unique().to_list()
    chain_id = chain_ids[0] if len(chain_ids) == 1 else None
    for address in nodes:
        data = graph.nodes[address]
        data.setdefault("traced", {})
        found = labels.labels(address, chain_id) if labels is not None else []
        role = labels.role(address, chain_id) if labels is not None else None
        data["labels"] = sorted({label.name for label in found})
        data["label_details"] = _label_details(found)
        data["category"] = role.category.value if role is not None else None
        data["entity"] = role.display_entity if role is not None else None
        data["seed"] = address in taint.seeds
        data["stop"] = address in taint.stops
        data["first_seen"], data["last_seen"] = seen.get(address, (None, None))


def _first_last_seen(
    transfers: pl.DataFrame, addresses: Iterable[str]
) -> dict[str, tuple[object, object]]:
    wanted = list(addresses)
    if transfers.is_empty() or not wanted:
        return {}
    sides = pl.concat(
        [
            transfers.select(address="from_address", time="block_time"),
            transfers.select(address="to_address", time="block_time"),
        ]
    ).filter(pl.col("address").is_in(wanted))
    spans = sides.group_by("address").agg(first=pl.col("time").min(), last=pl.col("time").max())
    return {address: (first, last) for address, first, last in spans.iter_rows()}


def _label_details(found: Iterable[Label]) -> list[dict[str, str | None]]:
    """Each label's name, category, source and date, each once, by name then source."""
    details = {(label.name, label.category.value, label.source, label.date) for label in found}
    return [
        {"name": name, "category": category, "source": source, "date": date}
        for name, category, source, date in sorted(details, key=lambda d: tuple(map(str, d)))
    ]
