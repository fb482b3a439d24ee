"""The records every demixing signal reads: deposits, withdrawals, who did what when.

:func:`build_view` reads the events table (``mixer_deposit`` / ``mixer_withdrawal``), the
transactions table (sender and gas fields of each transaction) and the transfer table (what
the addresses did around the pool) once; the signals never touch a DataFrame.

A transaction's gas *fingerprint* is its EIP-1559 priority fee when it has one (the total
price moves with the base fee; the tip is the wallet's habit), else its legacy gas price.
Transactions known only from the transfer table carry ``gas_price`` (the price paid).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import polars as pl

from tracer.heuristics.base import HeuristicSpec, ParameterValue
from tracer.heuristics.mixers.pools import Pool, recognise_pools
from tracer.protocols.specs import TORNADO_ETH_POOLS, EventKind, MixerPool
from tracer.types import Address

ZERO_ADDRESS = Address("0x" + "0" * 40)
Fingerprint = tuple[str, int]  # ("priority_fee" | "gas_price", wei)


@dataclass(frozen=True, slots=True)
class Deposit:
    pool: Pool
    tx: str
    block: int
    log_index: int
    time: int | None  # unix seconds
    depositor: Address | None  # the transaction's sender
    commitment: str | None


@dataclass(frozen=True, slots=True)
class Withdrawal:
    pool: Pool
    tx: str
    block: int
    log_index: int
    time: int | None
    recipient: Address
    relayer: Address | None  # None: sent by the withdrawer itself
    sender: Address | None  # the transaction's sender (the relayer, or whoever paid gas)
    nullifier: str | None
    fee_raw: int

    @property
    def received_raw(self) -> int | None:
        """What reached the recipient: the denomination less the relayer's fee."""
        denomination = self.pool.denomination_raw
        return None if denomination is None else denomination - self.fee_raw


@dataclass(frozen=True, slots=True)
class Contact:
    """One transfer between ``address`` and ``other`` (either direction)."""

    other: Address
    tx: str
    block: int
    sent: bool  # ``address`` was the sender


@dataclass(frozen=True, slots=True)
class SentTx:
    tx: str
    block: int
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class MixerView:
    pools: Mapping[tuple[int, Address], Pool]
    deposits: tuple[Deposit, ...]  # chronological
    withdrawals: tuple[Withdrawal, ...]  # chronological
    fingerprints: Mapping[str, tuple[Address, Fingerprint]]  # tx -> (sender, fingerprint)
    contacts: Contacts  # pools excluded
    sent: Mapping[Address, tuple[SentTx, ...]]  # every transaction an address sent

    def pool_txs(self) -> set[str]:
        return {d.tx for d in self.deposits} | {w.tx for w in self.withdrawals}


@dataclass(frozen=True, slots=True)
class Traced:
    """The traced cluster: its addresses and the deposits they made (the mixer entries)."""

    addresses: frozenset[Address]
    deposits: tuple[Deposit, ...]
    hubs: frozenset[Address] = field(default_factory=frozenset)  # services: never a link


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one signal says about one withdrawal: a strength in [0, 1] and why."""

    signal: str
    score: float
    explanation: str
    txs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "score": round(self.score, 4),
            "explanation": self.explanation,
            "txs": list(self.txs),
        }


def settings_of(
    spec: HeuristicSpec, overrides: Mapping[str, object] | None
) -> dict[str, ParameterValue]:
    return spec.resolve(overrides)


def as_float(values: Mapping[str, ParameterValue], name: str) -> float:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"parameter {name} is {value!r}, not a number")
    return float(value)


def as_int(values: Mapping[str, ParameterValue], name: str) -> int:
    return int(as_float(values, name))


def _seconds(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def build_view(
    events: pl.DataFrame,
    transactions: pl.DataFrame,
    transfers: pl.DataFrame,
    *,
    labelled_mixers: Iterable[tuple[int, Address]] = (),
    known_pools: Iterable[MixerPool] = TORNADO_ETH_POOLS,
) -> MixerView:
    pools = recognise_pools(events, transfers, labelled=labelled_mixers, known=known_pools)
    senders: dict[str, Address] = {}
    times: dict[str, int] = {}
    fingerprints: dict[str, tuple[Address, Fingerprint]] = {}
    sent: dict[Address, dict[str, SentTx]] = defaultdict(dict)
    for tx, block, when, sender, gas_price, tip in transactions.select(
        "transaction_hash", "block_number", "block_time", "from_address", "gas_price",
        "max_priority_fee_per_gas",
    ).rows():  # fmt: skip
        senders[tx] = Address(sender)
        if when is not None:
            times[tx] = int(when.timestamp())
        fingerprint = _fingerprint(gas_price, tip)
        if fingerprint is not None:
            fingerprints[tx] = (Address(sender), fingerprint)
            sent[Address(sender)][tx] = SentTx(tx, block, fingerprint)
    # Transactions known only from the transfer table: the sender of the top-level value
    # (native rows) paid the gas.
    for tx, block, sender, gas_price in (
        transfers.filter(pl.col("transfer_kind") == "native")
        .select("transaction_hash", "block_number", "from_address", "gas_price")
        .rows()
    ):
        fingerprint = _fingerprint(gas_price, None)
        if tx not in fingerprints and fingerprint is not None:
            fingerprints[tx] = (Address(sender), fingerprint)
            sent[Address(sender)][tx] = SentTx(tx, block, fingerprint)
    deposits: list[Deposit] = []
    withdrawals: list[Withdrawal] = []
    mixer = events.filter(
        pl.col("event")
        .cast(pl.String)
        .is_in([EventKind.MIXER_DEPOSIT.value, EventKind.MIXER_WITHDRAWAL.value])
    ).sort("block_number", "log_index")
    for row in mixer.iter_rows(named=True):
        pool = pools[(row["chain_id"], Address(row["contract_address"]))]
        tx = row["transaction_hash"]
        when = _seconds(row["block_time"])
        when = times.get(tx) if when is None else when
        if row["event"] == EventKind.MIXER_DEPOSIT.value:
            account = row["account"] or senders.get(tx)
            deposits.append(
                Deposit(
                    pool, tx, row["block_number"], row["log_index"], when,
                    Address(account) if account else None, row["commitment_or_nullifier"],
                )
            )  # fmt: skip
        else:
            relayer = row["counterparty"]
            withdrawals.append(
                Withdrawal(
                    pool, tx, row["block_number"], row["log_index"], when,
                    Address(row["account"]),
                    None if relayer in (None, ZERO_ADDRESS) else Address(relayer),
                    senders.get(tx) or (fingerprints[tx][0] if tx in fingerprints else None),
                    row["commitment_or_nullifier"], int(row["fee_raw"] or 0),
                )
            )  # fmt: skip
    pool_addresses = {address for _, address in pools}
    return MixerView(
        pools=pools,
        deposits=tuple(deposits),
        withdrawals=tuple(withdrawals),
        fingerprints=fingerprints,
        contacts=_contacts(transfers, pool_addresses),
        sent={
            a: tuple(sorted(txs.values(), key=lambda s: (s.block, s.tx))) for a, txs in sent.items()
        },
    )


def _fingerprint(gas_price: int | None, tip: int | None) -> Fingerprint | None:
    if tip is not None:
        return ("priority_fee", tip)
    return None if gas_price is None else ("gas_price", gas_price)


def _contacts(transfers: pl.DataFrame, pools: set[Address]) -> Contacts:
    """Who each address exchanged value with, outside the pools (a withdrawal's own payout
    is not a link between its recipient and anyone)."""
    kept = transfers.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
        (
            pl.col("tx_succeeded").fill_null(value=True)
            & ~pl.col("from_address").is_in(list(pools))
            & ~pl.col("to_address").is_in(list(pools))
            & (pl.col("from_address") != pl.col("to_address"))
        ).alias("kept"),
        pl.col("from_address").hash(_HASH_SEED).alias("from_key"),
        pl.col("to_address").hash(_HASH_SEED).alias("to_key"),
    ).filter(pl.col("kept"))
    index = pl.concat(
        [kept.select(pl.col(side).alias("key"), "row") for side in ("from_key", "to_key")]
    ).sort("key", "row")
    return Contacts(transfers, index["key"], index["row"])


_HASH_SEED: Final = 20_221_108
_CHUNK: Final = 1_000_000


class Contacts(Mapping[Address, tuple[Contact, ...]]):
    """Each address's contacts in (block, tx, other) order, answered on demand: an index of
    (address hash, row) sorted by hash points at the address's rows of the transfer table.
    Building every address's tuple up front cost more time and memory than all the signals
    together on a large table, and the signals ask about a few hundred addresses."""

    def __init__(self, transfers: pl.DataFrame, keys: pl.Series, rows: pl.Series) -> None:
        self._transfers = transfers.select(
            "from_address", "to_address", "transaction_hash", "block_number"
        )
        # Plain arrays, searched with bisect: a polars call per lookup costs ~0.3 ms, and the
        # signals make tens of thousands of lookups.
        self._keys = array("Q")
        self._rows = array("I")
        for start in range(0, keys.len(), _CHUNK):
            self._keys.extend(keys.slice(start, _CHUNK).to_list())
            self._rows.extend(rows.slice(start, _CHUNK).to_list())
        self._found: dict[Address, tuple[Contact, ...]] = {}

    def _spans(self, addresses: Sequence[Address]) -> list[tuple[int, int]]:
        """Where each address's rows lie in the index (hashed in one polars call)."""
        keys = pl.Series(addresses, dtype=pl.String).hash(_HASH_SEED).to_list()
        return [(bisect_left(self._keys, key), bisect_right(self._keys, key)) for key in keys]

    def busier_than(self, addresses: Iterable[Address], cap: int) -> set[Address]:
        """Those of ``addresses`` with more than ``cap`` distinct contacts, in two batched
        queries rather than a contact list per address."""
        wanted = sorted(set(addresses))
        spans = dict(zip(wanted, self._spans(wanted), strict=True))
        # At most ``cap`` transfers means at most ``cap`` contacts (another address sharing
        # the hash can only add rows): only the busier rest are counted.
        busy = [a for a, (start, end) in spans.items() if end - start > cap]
        if not busy:
            return set()
        rows = sorted({row for a in busy for row in self._rows[spans[a][0] : spans[a][1]]})
        frame = self._transfers[rows]
        sides = pl.concat(
            [
                frame.select(address=pl.col(mine), other=pl.col(theirs))
                for mine, theirs in (("from_address", "to_address"), ("to_address", "from_address"))
            ]
        ).filter(pl.col("address").is_in(pl.Series(busy, dtype=pl.String).implode()))
        counted = sides.group_by("address").agg(pl.col("other").n_unique())
        return {Address(a) for a, contacts in counted.iter_rows() if contacts > cap}

    def __getitem__(self, address: Address) -> tuple[Contact, ...]:
        if address not in self._found:
            ((start, end),) = self._spans([address])
            found: set[Contact] = set()
            rows = self._transfers[list(self._rows[start:end])]
            for src, dst, tx, block in rows.rows():
                if src == address:  # another address may share the hash: check
                    found.add(Contact(Address(dst), tx, block, sent=True))
                if dst == address:
                    found.add(Contact(Address(src), tx, block, sent=False))
            if not found:
                raise KeyError(address)
            self._found[address] = tuple(
                sorted(found, key=lambda c: (c.block, c.tx, c.other, c.sent))
            )
        return self._found[address]

    def _addresses(self) -> pl.Series:
        rows = self._transfers[sorted(set(self._rows))]
        return pl.concat([rows["from_address"], rows["to_address"]]).unique().sort()

    def __iter__(self) -> Iterator[Address]:
        return (Address(a) for a in self._addresses().to_list())

    def __len__(self) -> int:
        return self._addresses().len()


def traced_cluster(
    view: MixerView,
    addresses: Iterable[Address],
    *,
    hubs: Iterable[Address] = (),
) -> Traced:
    """The cluster ``addresses`` and their deposits: the mixer entries to demix."""
    members = frozenset(addresses)
    deposits = tuple(d for d in view.deposits if d.depositor in members)
    return Traced(members, deposits, frozenset(hubs))


def candidate_withdrawals(
    view: MixerView, traced: Traced, max_delay_seconds: int
) -> tuple[Withdrawal, ...]:
    """Withdrawals that could spend a traced note: same pool, after a traced deposit (and
    within ``max_delay_seconds`` of one when times are known)."""
    by_pool: dict[Address, list[Deposit]] = defaultdict(list)
    for deposit in traced.deposits:
        by_pool[deposit.pool.address].append(deposit)
    found = []
    for withdrawal in view.withdrawals:
        for deposit in by_pool.get(withdrawal.pool.address, ()):
            if deposit.block >= withdrawal.block:
                continue
            if (
                deposit.time is None
                or withdrawal.time is None
                or withdrawal.time - deposit.time <= max_delay_seconds
            ):
                found.append(withdrawal)
                break
    return tuple(found)
