"""Exchange deposit addresses, recognised by how they behave rather than by a label.

Exchanges give every customer a deposit address and move what arrives there to a hot wallet
("sweep"), usually within hours; label sets hold the hot wallets but almost never the millions
of deposit addresses. Victor (2020) identifies them on Ethereum by exactly this behaviour: an
address that forwards what it receives to an exchange within a short time, keeping no more
than the fee. This module follows that rule, per asset and per deposit:

* every outgoing transfer of value goes to a labelled exchange address (``exchange`` role),
  and all of them to ONE exchange (entity): an address paying two exchanges, or anyone else,
  is a user's wallet;
* every deposit (an inflow from anyone but that exchange) is swept within
  ``max_sweep_delay_hours``, and each sweep takes (nearly) everything the address held in that
  asset: the native asset may fall short by gas (``native_fee_max_wei``, plus any gas top-ups
  the exchange sent since the last native sweep), a token by at most ``token_dust_fraction``;
* small native payments from the same exchange are gas top-ups for token sweeps, which is
  exchange behaviour (an EOA cannot move tokens without gas); a larger payment or any token
  from the exchange is a withdrawal, which deposit addresses do not receive;
* a contract that forwards native value to the hot wallet by internal call in the same
  transaction (a forwarder, like the testbed's DepositForwarder) is a deposit address too; so
  is an address whose tokens are swept while it never held native gas (only a contract can be
  emptied by someone else's transaction).

Within a block the table does not say which transaction came first, so inflows are counted
before outflows (a forwarder's deposit and forward share a transaction). Only successful,
non-zero, fungible transfers count (NFTs are not swept like balances). The table must hold
every transfer of a candidate address in the time range, or the balances are wrong: a sweep
larger than what the table shows arriving rejects the candidate rather than guessing.

Confidence (``CONFIDENCE`` below, points out of 100, then times the hot wallet label's
confidence): 95 for a same-transaction forward, 85 otherwise; +5 when an exchange gas top-up
precedes a token sweep; +4 when there are two or more sweep transactions (repeated behaviour);
-10 when some deposit waited more than half the allowed delay; capped at 99.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import polars as pl

from tracer.findings import Finding
from tracer.heuristics.base import HeuristicSpec, Parameter, ParameterValue, Reference
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.transfers.schema import TransferKind
from tracer.types import NATIVE_TOKEN

HEURISTIC_ID: Final = "exchange-deposit-address"

VICTOR_2020 = Reference(
    "Victor, F. (2020). Address Clustering Heuristics for Ethereum. Financial Cryptography "
    "and Data Security (FC 2020), LNCS 12059, pp. 617-633 (deposit address heuristic)",
    "https://doi.org/10.1007/978-3-030-51280-4_33",
)
BERES_2021 = Reference(
    "Béres, F. et al. (2021). Blockchain is Watching You: Profiling and Deanonymizing "
    "Ethereum Users. IEEE DAPPS 2021 (deposit-address reuse as a linking signal)",
    "https://arxiv.org/abs/2005.14051",
)

HEURISTICS: Final[tuple[HeuristicSpec, ...]] = (
    HeuristicSpec(
        id=HEURISTIC_ID,
        title="Exchange deposit address (by behaviour)",
        description=(
            "An address that sends value only to one labelled exchange, sweeping every "
            "deposit within a bounded time and keeping no more than the fee (gas for the "
            "native asset, nothing or dust for tokens), is that exchange's customer deposit "
            "address. Gas top-ups from the exchange before token sweeps and forwarder "
            "contracts that pass native value on by internal call in the same transaction "
            "are recognised as the same behaviour."
        ),
        references=(VICTOR_2020, BERES_2021),
        parameters=(
            Parameter(
                "max_sweep_delay_hours",
                int,
                24,
                "Longest time from a deposit to the sweep that takes it.",
                1,
                24 * 90,
            ),
            Parameter(
                "native_fee_max_wei",
                int,
                10**16,
                "Most native value (wei) a sweep may fall short of the balance by (gas).",
                0,
                10**20,
            ),
            Parameter(
                "top_up_max_wei",
                int,
                5 * 10**16,
                "Largest native payment from the exchange read as a gas top-up.",
                0,
                10**20,
            ),
            Parameter(
                "token_dust_fraction",
                float,
                0.0,
                "Fraction of a token balance a sweep may leave behind.",
                0.0,
                0.05,
            ),
        ),
        confidence=(
            "Points: 95 same-transaction forwarder, else 85; +5 exchange gas top-up before a "
            "token sweep; +4 two or more sweeps; -10 a deposit waited over half the allowed "
            "delay; at most 99; times the hot wallet label's confidence."
        ),
    ),
)

DepositKind = Literal["eoa", "forwarder"]

# Confidence points (out of 100); see the module docstring.
CONFIDENCE: Final[Mapping[str, int]] = {
    "forwarder": 95,
    "base": 85,
    "gas_top_up": 5,
    "repeated_sweeps": 4,
    "slow_sweep": -10,
    "cap": 99,
}
_FUNGIBLE: Final = (TransferKind.NATIVE, TransferKind.INTERNAL, TransferKind.ERC20)


@dataclass(frozen=True, slots=True)
class AssetSweeps:
    """What one asset did at a deposit address (raw integers, exact)."""

    token_address: str
    received_raw: int  # deposits: inflows from anyone but the exchange
    top_up_raw: int  # native only: gas money from the exchange
    swept_raw: int  # sent to the exchange
    deposits: tuple[str, ...]  # tx hashes, chronological
    sweeps: tuple[str, ...]
    max_delay_seconds: int  # longest deposit-to-sweep wait

    @property
    def unswept_raw(self) -> int:
        """Received (and topped up) but not swept: gas paid, for the native asset, or dust."""
        return self.received_raw + self.top_up_raw - self.swept_raw

    def to_json(self) -> dict[str, Any]:
        return {
            "token_address": self.token_address,
            "received_raw": str(self.received_raw),
            "top_up_raw": str(self.top_up_raw),
            "swept_raw": str(self.swept_raw),
            "unswept_raw": str(self.unswept_raw),
            "deposits": list(self.deposits),
            "sweeps": list(self.sweeps),
            "max_delay_seconds": self.max_delay_seconds,
        }


@dataclass(frozen=True, slots=True)
class DepositAddress:
    """A detected exchange deposit address and why."""

    chain_id: int
    address: str
    kind: DepositKind
    entity: str  # the exchange, from its hot wallet's label
    hot_wallets: tuple[str, ...]
    confidence: float
    assets: tuple[AssetSweeps, ...]
    signals: tuple[str, ...]  # the confidence signals that applied
    top_ups: tuple[str, ...] = ()  # tx hashes of the exchange's gas top-ups
    parameters: Mapping[str, ParameterValue] = field(default_factory=dict)

    @property
    def heuristic(self) -> str:
        return HEURISTIC_ID

    @property
    def evidence(self) -> tuple[str, ...]:
        """Deposit, sweep and top-up transactions (each once, in that order)."""
        hashes = [h for a in self.assets for h in (*a.deposits, *a.sweeps)] + list(self.top_ups)
        return tuple(dict.fromkeys(hashes))

    def to_finding(self) -> Finding:
        return Finding(
            heuristic=HEURISTIC_ID,
            confidence=self.confidence,
            subjects=(self.address, *self.hot_wallets),
            evidence=self.evidence,
            details={
                "chain_id": self.chain_id,
                "kind": self.kind,
                "entity": self.entity,
                "hot_wallets": list(self.hot_wallets),
                "assets": [asset.to_json() for asset in self.assets],
                "signals": list(self.signals),
                "parameters": dict(self.parameters),
            },
        )


def exchange_entity(label: Label) -> str:
    """The exchange a label names: its entity, else the part of the name before ": "
    (the Etherscan convention "Binance: Hot Wallet 14")."""
    if label.entity:
        return label.entity
    return label.name.partition(": ")[0].strip() or label.name


def exchange_label(labels: LabelStore, address: str, chain_id: int) -> Label | None:
    role = labels.role(address, chain_id)
    return role if role is not None and role.category is Category.EXCHANGE else None


@dataclass(frozen=True, slots=True)
class _Move:
    block: int
    time: datetime
    tx: str
    incoming: bool
    kind: str
    counterparty: str
    token: str
    value: int


def is_fungible_move() -> pl.Expr:
    """Successful, non-zero, fungible transfers between two different addresses."""
    return (
        pl.col("transfer_kind").is_in([kind.value for kind in _FUNGIBLE])
        & pl.col("tx_succeeded").fill_null(True)
        & (pl.col("value_raw") != "0")
        & (pl.col("from_address") != pl.col("to_address"))
    )


def touches(addresses: pl.Series) -> pl.Expr:
    """Rows sent or received by one of ``addresses``."""
    wanted = addresses.implode()
    return pl.col("from_address").is_in(wanted) | pl.col("to_address").is_in(wanted)


def fungible_moves(transfers: pl.DataFrame) -> pl.DataFrame:
    """Successful, non-zero, fungible transfers between two different addresses."""
    return transfers.filter(is_fungible_move())


def detect_deposit_addresses(
    transfers: pl.DataFrame,
    labels: LabelStore,
    *,
    candidates: Iterable[str] | None = None,
    parameters: Mapping[str, object] | None = None,
) -> tuple[DepositAddress, ...]:
    """Deposit addresses among the addresses that sent value to a labelled exchange.

    ``candidates`` narrows the search (default: every sender to an exchange in the table).
    Result order: by chain, then address.
    """
    params = HEURISTICS[0].resolve(parameters)
    # Lazy, and only the columns read: an eager copy of the table's moves cost about 15% of
    # the table's size at 1M rows, per copy.
    moves = (
        transfers.lazy()
        .filter(is_fungible_move())
        .select(
            "chain_id", "block_number", "block_time", "transaction_hash", "transfer_kind",
            "from_address", "to_address", "token_address", "value_raw",
        )
    )  # fmt: skip
    wanted = None if candidates is None else set(candidates)
    found: list[DepositAddress] = []
    chains = moves.select(pl.col("chain_id").unique()).collect().to_series()
    for chain_id in sorted(chains.to_list()):
        on_chain = moves.filter(pl.col("chain_id") == chain_id)
        exchanges = _exchanges_among(on_chain, labels, chain_id)
        senders = _senders_only_to(on_chain, exchanges, labels, chain_id)
        if wanted is not None:
            senders = [address for address in senders if address in wanted]
        for address, moves_of_address in _moves_by_address(on_chain, senders).items():
            detected = _examine(moves_of_address, labels, chain_id, address, params)
            if detected is not None:
                found.append(detected)
    return tuple(found)


def _exchanges_among(moves: pl.LazyFrame, labels: LabelStore, chain_id: int) -> list[str]:
    receivers = moves.select(pl.col("to_address").unique()).collect().to_series().to_list()
    return sorted(a for a in receivers if exchange_label(labels, a, chain_id) is not None)


def _senders_only_to(
    moves: pl.LazyFrame, exchanges: list[str], labels: LabelStore, chain_id: int
) -> list[str]:
    """Addresses that sent value to an exchange and to nobody else, in address order.

    Sending to anyone else rejects a candidate anyway (see :func:`_single_exchange`); doing
    that test here in one pass keeps the per-candidate work to the few that remain.
    """
    to_exchange = pl.col("to_address").is_in(pl.Series(exchanges, dtype=pl.String).implode())
    senders = (
        moves.group_by("from_address")
        .agg(to_exchange.any().alias("some"), to_exchange.all().alias("only"))
        .filter(pl.col("some") & pl.col("only"))
        .select("from_address")
        .collect()
        .to_series()
    )
    # A labelled service (another exchange, a bridge, a mixer) is not a customer address.
    return sorted(a for a in senders.to_list() if not labels.is_service(a, chain_id))


def _moves_by_address(frame: pl.LazyFrame, addresses: list[str]) -> dict[str, list[_Move]]:
    """Each address's moves (both directions), in one pass over the rows touching them."""
    out: dict[str, list[_Move]] = {address: [] for address in addresses}
    rows = (
        frame.filter(touches(pl.Series(addresses, dtype=pl.String)))
        .select(
            "block_number", "block_time", "transaction_hash", "transfer_kind",
            "from_address", "to_address", "token_address", "value_raw",
        )
        .collect()
    )  # fmt: skip
    for block, when, tx, kind, src, dst, token, raw in rows.iter_rows():
        for address, incoming, counterparty in ((dst, True, src), (src, False, dst)):
            if address in out:
                out[address].append(
                    _Move(
                        block=block, time=when, tx=tx, incoming=incoming, kind=str(kind),
                        counterparty=counterparty, token=token or NATIVE_TOKEN, value=int(raw),
                    )
                )  # fmt: skip
    for moves in out.values():
        # Inflows before outflows within a block: the table has no transaction order, and a
        # forwarder's deposit and forward share a transaction.
        moves.sort(key=lambda m: (m.block, not m.incoming, m.tx, m.kind, m.token))
    return out


class _RejectedError(Exception):
    """The candidate does not behave like a deposit address (internal control flow)."""


@dataclass
class _AssetState:
    balance: int = 0
    received: int = 0
    top_up: int = 0
    top_up_since_sweep: int = 0
    swept: int = 0
    pending: list[tuple[datetime, str]] = field(default_factory=list)
    deposits: list[str] = field(default_factory=list)
    sweeps: list[str] = field(default_factory=list)
    max_delay: int = 0


def _examine(
    moves: Sequence[_Move],
    labels: LabelStore,
    chain_id: int,
    address: str,
    params: Mapping[str, ParameterValue],
) -> DepositAddress | None:
    try:
        entity, hot_wallets, hot_confidence = _single_exchange(moves, labels, chain_id)
        states, top_ups, saw_top_up_before_token_sweep = _replay(moves, hot_wallets, params)
    except _RejectedError:
        return None
    if not any(s.deposits for s in states.values()) or not any(s.sweeps for s in states.values()):
        return None
    forwarded = {m.tx for m in moves if m.incoming and m.token == NATIVE_TOKEN} & {
        m.tx for m in moves if not m.incoming and m.kind == TransferKind.INTERNAL
    }
    never_held_native = NATIVE_TOKEN not in states
    kind: DepositKind = "forwarder" if forwarded or never_held_native else "eoa"
    signals: list[str] = ["same-tx-forward" if forwarded else "sweeps"]
    points = CONFIDENCE["forwarder" if forwarded else "base"]
    if saw_top_up_before_token_sweep:
        signals.append("gas-top-up")
        points += CONFIDENCE["gas_top_up"]
    if len({tx for s in states.values() for tx in s.sweeps}) >= 2:
        signals.append("repeated-sweeps")
        points += CONFIDENCE["repeated_sweeps"]
    max_delay = int(params["max_sweep_delay_hours"]) * 3600
    if any(s.max_delay * 2 > max_delay for s in states.values()):
        signals.append("slow-sweep")
        points += CONFIDENCE["slow_sweep"]
    points = max(0, min(points, CONFIDENCE["cap"]))
    assets = tuple(
        AssetSweeps(
            token_address=token,
            received_raw=s.received,
            top_up_raw=s.top_up,
            swept_raw=s.swept,
            deposits=tuple(s.deposits),
            sweeps=tuple(s.sweeps),
            max_delay_seconds=s.max_delay,
        )
        for token, s in sorted(states.items())
    )
    return DepositAddress(
        chain_id=chain_id,
        address=address,
        kind=kind,
        entity=entity,
        hot_wallets=hot_wallets,
        confidence=round(points / 100 * hot_confidence, 4),
        assets=assets,
        signals=tuple(signals),
        top_ups=tuple(top_ups),
        parameters=dict(params),
    )


def _single_exchange(
    moves: Sequence[_Move], labels: LabelStore, chain_id: int
) -> tuple[str, tuple[str, ...], float]:
    """The one exchange every outflow goes to: (entity, hot wallets, lowest label confidence)."""
    outflow_labels: dict[str, Label] = {}
    for move in moves:
        if move.incoming or move.counterparty in outflow_labels:
            continue
        label = exchange_label(labels, move.counterparty, chain_id)
        if label is None:
            raise _RejectedError  # value sent to someone who is not an exchange
        outflow_labels[move.counterparty] = label
    entities = {exchange_entity(label) for label in outflow_labels.values()}
    if len(entities) != 1:
        raise _RejectedError  # two exchanges: a user's wallet, not one exchange's deposit address
    confidence = min(label.confidence for label in outflow_labels.values())
    return entities.pop(), tuple(sorted(outflow_labels)), confidence


def _replay(
    moves: Sequence[_Move], hot_wallets: tuple[str, ...], params: Mapping[str, ParameterValue]
) -> tuple[dict[str, _AssetState], list[str], bool]:
    """Walk the moves in order checking every deposit and sweep; _RejectedError on a breach."""
    max_delay = int(params["max_sweep_delay_hours"]) * 3600
    fee_max = int(params["native_fee_max_wei"])
    top_up_max = int(params["top_up_max_wei"])
    dust = float(params["token_dust_fraction"])
    states: dict[str, _AssetState] = defaultdict(_AssetState)
    top_ups: list[str] = []
    top_up_pending = False
    top_up_then_token_sweep = False
    for move in moves:
        state = states[move.token]
        native = move.token == NATIVE_TOKEN
        if move.incoming:
            state.balance += move.value
            if move.counterparty in hot_wallets:
                if not native or move.value > top_up_max:
                    raise _RejectedError  # the exchange paid it out: a withdrawal, not gas
                state.top_up += move.value
                state.top_up_since_sweep += move.value
                top_ups.append(move.tx)
                top_up_pending = True
            else:
                state.received += move.value
                state.pending.append((move.time, move.tx))
                state.deposits.append(move.tx)
            continue
        if move.value > state.balance:
            raise _RejectedError  # more out than the table shows coming in: incomplete data
        shortfall = state.balance - move.value
        allowed = fee_max + state.top_up_since_sweep if native else int(dust * state.balance)
        if shortfall > allowed:
            raise _RejectedError  # kept part of the balance: not a sweep
        for deposit_time, _tx in state.pending:
            delay = int((move.time - deposit_time).total_seconds())
            if delay > max_delay:
                raise _RejectedError  # swept too late for an exchange
            state.max_delay = max(state.max_delay, delay)
        if not native and top_up_pending:
            top_up_then_token_sweep = True
            top_up_pending = False
        state.swept += move.value
        state.sweeps.append(move.tx)
        state.pending.clear()
        # What a native sweep fell short by was gas (or a top-up's remainder): start afresh.
        state.balance = 0 if native else shortfall
        state.top_up_since_sweep = 0
    for token, state in states.items():
        native = token == NATIVE_TOKEN
        allowed = fee_max + state.top_up_since_sweep if native else int(dust * state.received)
        if state.balance > allowed:
            raise _RejectedError  # deposits left unswept
    return dict(states), top_ups, top_up_then_token_sweep
