"""The traced flow graph as two tables (nodes, edges): the case's canonical graph model.

``tracer trace`` writes them as ``nodes.parquet`` and ``edges.parquet`` beside the report, so
every exporter and view reads the same ids and attributes without re-running the analysis
(and without the label files the trace was run with). Node ids are addresses; edge ids are
the transfer's unique key within the chain (:func:`tracer.graph.build.edge_key`). Amounts are
exact decimal strings: uint256 does not fit any column type the formats share.

``role`` is the node's entry in the shared legend (:mod:`tracer.exporters.legend`): ``seed``,
``deposit_detected`` for an exchange deposit address found by behaviour, the label category,
or ``unlabelled``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set
import polars as pl

from tracer.exporters.legend import DEPOSIT_DETECTED, SEED, UNLABELLED
from tracer.heuristics.exchanges.offramps import Offramp
from tracer.labels.model import Category

TRACED_AMOUNT: Final = pl.Struct(
    {
        "asset": pl.String(),  # token address, "#token_id" appended for NFTs
        "received_raw": pl.String(),
        "sent_raw": pl.String(),
        "held_raw": pl.String(),
    }
)

# One label of a node as its source states it: the view's evidence panel shows where each
# label comes from. ``date``: when the source asserted it, where the label has one.
LABEL_DETAIL: Final = pl.Struct(
    {
        "name": pl.String(),
        "category": pl.String(),
        "source": pl.String(),
        "date": pl.String(),
    }
)

NODE_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String(),
        "role": pl.String(),
        "category": pl.String(),  # the label category that drives tracing, if any
        "entity": pl.String(),
        "labels": pl.List(pl.String()),
        "seed": pl.Boolean(),
        "stop": pl.Boolean(),  # a service where the trace ends
        "offramp": pl.String(),  # the off-ramp category when traced funds reached it here
        "first_seen": pl.Datetime("us", "UTC"),
        "last_seen": pl.Datetime("us", "UTC"),
        "traced": pl.List(TRACED_AMOUNT),
        "label_details": pl.List(LABEL_DETAIL),  # every label, by name then source
    }
)

# Node columns added after cases were first written: a case without them reads as empty.
LATER_NODE_COLUMNS: Final = ("label_details",)

EDGE_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String(),
        "source": pl.String(),
        "target": pl.String(),
        "transaction_hash": pl.String(),
        "block_number": pl.Int64(),
        "block_time": pl.Datetime("us", "UTC"),
        "transfer_kind": pl.String(),
        "asset": pl.String(),
        "token_address": pl.String(),
        "token_id": pl.String(),
        "token_symbol": pl.String(),
        "token_decimals": pl.Int64(),
        "amount_raw": pl.String(),
        "traced_raw": pl.String(),
        "converted_raw": pl.String(),
        "order": pl.Int64(),  # the engine's processing order: forward in time
    }
)


def graph_tables(
    graph: nx.MultiDiGraph,
    offramps: Iterable[Offramp] = (),
    token_info: dict[str, tuple[str | None, int | None]] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(nodes, edges) of a flow graph built by :func:`tracer.graph.build.build_flow_graph`.

    ``token_info`` maps token address to (symbol, decimals) for the edges' display columns.
    """
    reached = {offramp.address: offramp for offramp in offramps}
    node_rows = []
    for address, data in sorted(graph.nodes(data=True)):
        offramp = reached.get(address)
        node_rows.append(
            {
                "id": address,
                "role": _role(data, offramp),
                "category": data.get("category"),
                "entity": data.get("entity") or (offramp.entity if offramp else None),
                "labels": list(data.get("labels", [])),
                "seed": bool(data.get("seed", False)),
                "stop": bool(data.get("stop", False)),
                "offramp": offramp.category if offramp else None,
                "first_seen": data.get("first_seen"),
                "last_seen": data.get("last_seen"),
                "traced": [
                    {
                        "asset": asset,
                        "received_raw": str(book["received"]),
                        "sent_raw": str(book["sent"]),
                        "held_raw": str(book["held"]),
                    }
                    for asset, book in sorted(data.get("traced", {}).items())
                ],
                "label_details": list(data.get("label_details", [])),
            }
        )
    info = token_info or {}
    edge_rows = []
    for source, target, key, data in graph.edges(keys=True, data=True):
        symbol, decimals = info.get(data["token_address"], (None, None))
        edge_rows.append(
            {
                "id": key,
                "source": source,
                "target": target,
                "transaction_hash": data["tx_hash"],
                "block_number": data["block"],
                "block_time": data["time"],
                "transfer_kind": data["kind"],
                "asset": data["asset"],
                "token_address": data["token_address"],
                "token_id": data["token_id"],
                "token_symbol": symbol,
                "token_decimals": decimals,
                "amount_raw": str(data["amount_raw"]),
                "traced_raw": str(data["traced_raw"]),
                "converted_raw": str(data["converted_raw"]),
                "order": data["order"],
            }
        )
    edge_rows.sort(key=lambda row: row["order"])
    return (
        pl.DataFrame(node_rows, schema=NODE_SCHEMA),
        pl.DataFrame(edge_rows, schema=EDGE_SCHEMA),
    )


def graph_from_tables(nodes: pl.DataFrame, edges: pl.DataFrame) -> nx.MultiDiGraph:
    """The flow graph again, from the two tables (amounts as exact ints, as built)."""
    graph: nx.MultiDiGraph = nx.MultiDiGraph()
    for row in nodes.iter_rows(named=True):
        attributes = {name: value for name, value in row.items() if name != "id"}
        attributes["traced"] = {
            book["asset"]: {
                "received": int(book["received_raw"]),
                "sent": int(book["sent_raw"]),
                "held": int(book["held_raw"]),
            }
            for book in row["traced"] or []
        }
        graph.add_node(row["id"], **attributes)
    for row in edges.sort("order").iter_rows(named=True):
        graph.add_edge(
            row["source"],
            row["target"],
            key=row["id"],
            tx_hash=row["transaction_hash"],
            block=row["block_number"],
            time=row["block_time"],
            kind=row["transfer_kind"],
            asset=row["asset"],
            token_address=row["token_address"],
            token_id=row["token_id"],
            token_symbol=row["token_symbol"],
            token_decimals=row["token_decimals"],
            amount_raw=int(row["amount_raw"]),
            traced_raw=int(row["traced_raw"]),
            converted_raw=int(row["converted_raw"]),
            order=row["order"],
        )
    return graph


def token_info_of(transfers: pl.DataFrame) -> dict[str, tuple[str | None, int | None]]:
    """Token address → (symbol, decimals) as the transfer table knows them."""
    if transfers.is_empty():
        return {}
    known = transfers.group_by("token_address").agg(
        pl.col("token_symbol").drop_nulls().first(),
        pl.col("token_decimals").drop_nulls().first(),
    )
    return {token: (symbol, decimals) for token, symbol, decimals in known.iter_rows()}


def _role(data: dict[str, object], offramp: Offramp | None) -> str:
    if data.get("seed"):
        return SEED
    category = data.get("category")
    if isinstance(category, str):
        return category
    if offramp is not None and offramp.category == Category.EXCHANGE_DEPOSIT.value:
        return DEPOSIT_DETECTED  # unlabelled, found by behaviour
    return UNLABELLED
