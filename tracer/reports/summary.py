"""A crawl summary computed from the transfer table: exact per-asset sums, no float maths."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import polars as pl

from tracer.amounts import asset_decimals, whole_units
from tracer.labels.store import LabelStore
from tracer.types import NATIVE_TOKEN, Address


@dataclass(frozen=True, slots=True)
class AssetAmount:
    token_address: str
    symbol: str
    decimals: int | None
    raw: int

    @classmethod
    def of(
        cls, token: str, raw: int, symbol: str | None, decimals: int | None, native_symbol: str
    ) -> AssetAmount:
        """An amount from table columns; the native asset has 18 decimals when not given."""
        symbol_text = asset_symbol(token, symbol, native_symbol)
        return cls(token, symbol_text, asset_decimals(token, decimals), raw)

    def display(self) -> str:
        """Whole token units as an exact decimal string (raw units when decimals unknown)."""
        if self.decimals is None:
            return f"{self.raw} (raw units)"
        return whole_units(self.raw, self.decimals)


@dataclass(frozen=True, slots=True)
class LabelledFlow:
    address: Address
    entity: str
    category: str
    amounts: tuple[AssetAmount, ...]
    transactions: tuple[str, ...]


def asset_symbol(token_address: str, symbol: str | None, native_symbol: str) -> str:
    if token_address == NATIVE_TOKEN:
        return native_symbol
    return symbol or f"token {token_address[:10]}…"


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
