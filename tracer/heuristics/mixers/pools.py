"""Mixer pools: recognised by their events at any address, by labels, or as known pools.

A contract that emitted Tornado's ``Deposit`` or ``Withdrawal`` is a pool whatever its labels
say (forks and the testbed's pools have no labels). The denomination is not in the events:
it is the value the deposit transactions moved into the pool (the most common one, as a
router or a batched deposit may move more), else the known mainnet pool's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from tracer.protocols.specs import TORNADO_ETH_POOLS, EventKind, MixerPool
from tracer.types import Address

_MIXER_EVENTS = (EventKind.MIXER_DEPOSIT.value, EventKind.MIXER_WITHDRAWAL.value)


@dataclass(frozen=True, slots=True)
class Pool:
    chain_id: int
    address: Address
    denomination_raw: int | None  # None: no deposit value seen and not a known pool
    how: str  # "events", "label" or "known": why it is taken for a pool


def recognise_pools(
    events: pl.DataFrame,
    transfers: pl.DataFrame,
    *,
    labelled: Iterable[tuple[int, Address]] = (),
    known: Iterable[MixerPool] = TORNADO_ETH_POOLS,
) -> dict[tuple[int, Address], Pool]:
    """Pools by ``(chain_id, address)``: emitters of mixer events, then ``labelled`` mixer
    addresses, then ``known`` pools that appear in the tables."""
    known_by_key = {(pool.chain_id, pool.address): pool for pool in known}
    mixer_rows = events.filter(pl.col("event").cast(pl.String).is_in(_MIXER_EVENTS))
    found: dict[tuple[int, Address], str] = {}
    for chain_id, address in mixer_rows.select("chain_id", "contract_address").unique().rows():
        found[(chain_id, Address(address))] = "events"
    for key in labelled:
        found.setdefault(key, "label")
    seen = set(transfers.select("chain_id", "to_address").unique().rows())
    for key in known_by_key:
        if key in seen:
            found.setdefault(key, "known")
    values = _deposit_values(mixer_rows, transfers)
    pools: dict[tuple[int, Address], Pool] = {}
    for key, how in sorted(found.items()):
        counts = values.get(key)
        if counts:
            # Most common value; ties to the smaller one so the answer does not depend on order.
            denomination: int | None = min(counts, key=lambda v: (-counts[v], v))
        else:
            spec = known_by_key.get(key)
            denomination = spec.denomination_raw if spec is not None else None
        pools[key] = Pool(key[0], key[1], denomination, how)
    return pools


def _deposit_values(
    mixer_rows: pl.DataFrame, transfers: pl.DataFrame
) -> dict[tuple[int, Address], Counter[int]]:
    deposits = mixer_rows.filter(pl.col("event") == EventKind.MIXER_DEPOSIT.value).select(
        "chain_id", "transaction_hash", pl.col("contract_address").alias("to_address")
    )
    native = transfers.filter(
        pl.col("transfer_kind").cast(pl.String).is_in(["native", "internal"])
        & pl.col("tx_succeeded").fill_null(value=True)
    ).select("chain_id", "transaction_hash", "to_address", "value_raw")
    moved = deposits.unique().join(native, on=["chain_id", "transaction_hash", "to_address"])
    values: dict[tuple[int, Address], Counter[int]] = {}
    for chain_id, _tx, pool, value_raw in moved.rows():
        values.setdefault((chain_id, Address(pool)), Counter())[int(value_raw)] += 1
    return values
