"""A crawl summary computed from the transfer table: exact per-asset sums, no float maths."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import polars as pl

from tracer.amounts import AssetAmount
from tracer.labels.store import LabelStore
from tracer.types import Address


@dataclass(frozen=True, slots=True)
class LabelledFlow:
    address: Address
    entity: str
    category: str
    amounts: tuple[AssetAmount, ...]
    transactions: tuple[str, ...]


def flows_into_labelled(
    transfers: pl.DataFrame,
    senders: set[Address],
    labels: LabelStore,
    native_symbol: str,
) -> list[LabelledFlow]:
    """Value sent by crawled addresses straight into labelled addresses, summed exactly."""
    moved = transfers.filter(
        pl.col("from_address").is_in(list(senders))
        & pl.col("tx_succeeded")
        & (pl.col("value_raw") != "0")
        & (pl.col("transfer_kind") != "erc721")
    )
    totals: dict[tuple[str, str], int] = defaultdict(int)
    meta: dict[str, tuple[str | None, int | None]] = {}
    txs: dict[str, list[str]] = defaultdict(list)
    for to_address, token, raw, symbol, decimals, tx_hash in moved.select(
        "to_address",
        "token_address",
        "value_raw",
        "token_symbol",
        "token_decimals",
        "transaction_hash",
    ).iter_rows():
        if labels.primary(Address(to_address)) is None:
            continue
        totals[(to_address, token)] += int(raw)
        meta[token] = (symbol, decimals)
        if tx_hash not in txs[to_address]:
            txs[to_address].append(tx_hash)
    per_address: dict[str, list[AssetAmount]] = defaultdict(list)
    for (to_address, token), raw in sorted(totals.items()):
        symbol, decimals = meta[token]
        per_address[to_address].append(AssetAmount.of(token, raw, symbol, decimals, native_symbol))
    flows = []
    for to_address, amounts in per_address.items():
        primary = labels.primary(Address(to_address))
        assert primary is not None  # filtered above
        flows.append(
            LabelledFlow(
                Address(to_address),
                primary.name,
                primary.category.value,
                tuple(amounts),
                tuple(txs[to_address]),
            )
        )
    return sorted(flows, key=lambda flow: (flow.entity, flow.address))


def counts_by_kind(transfers: pl.DataFrame) -> dict[str, int]:
    grouped = transfers.group_by("transfer_kind").len().sort("transfer_kind")
    return {str(kind): int(count) for kind, count in grouped.iter_rows()}
