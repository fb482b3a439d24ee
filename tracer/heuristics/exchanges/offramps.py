"""Off-ramps reached by traced funds: where they can be frozen or subpoenaed.

An off-ramp is a service that takes funds out of the traceable graph: an exchange (a labelled
hot wallet paid directly, or a customer deposit address, labelled or detected by
:mod:`tracer.heuristics.exchanges.deposit_address`), an OTC desk, or a bridge. Each traced
transfer into one is an *arrival*; arrivals are summed per off-ramp and asset as exact
integers (different tokens are never added up).

What counts as traced comes in one of two shapes:

* a per-transfer frame from a taint policy: the transfer table's unique key columns
  (:data:`~tracer.transfers.schema.UNIQUE_KEY`) plus ``traced_raw``, the traced part of that
  transfer as a decimal string (``traced_raw`` may be smaller than ``value_raw``);
* a set of traced addresses (the fallback, :func:`traced_from_addresses`): every successful
  transfer out of one of them counts in full.

Transfers out of an off-ramp are the service's own business (a deposit address's sweep, a
hot wallet's payout) and never make a second arrival, so funds are not counted twice when a
taint policy follows them into the hot wallet.

Bridge exits carry the destination chain and recipient when ``events`` holds the bridge's
decoded deposit event: rows with ``event == "bridge_deposit"`` and the columns ``chain_id``,
``transaction_hash``, ``destination_chain_id``, ``counterparty`` (the recipient on the other
chain), ``token_address`` and ``amount_raw`` (the events table of :mod:`tracer.protocols`).

Confidence of an off-ramp is that of its identification: the label's confidence for labelled
services, the detector's for deposit addresses found by behaviour (how much of the traced
amount is really the victim's is the taint policy's answer, carried in ``traced_raw``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import polars as pl

from tracer.amounts import AssetAmount
from tracer.chains import chain_by_id
from tracer.heuristics.base import HeuristicSpec, Reference
from tracer.heuristics.exchanges.deposit_address import (
    VICTOR_2020,
    DepositAddress,
    exchange_entity,
    fungible_moves,
)
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.transfers.schema import UNIQUE_KEY
from tracer.types import NATIVE_TOKEN

HEURISTIC_ID: Final = "offramp"

HEURISTICS: Final[tuple[HeuristicSpec, ...]] = (
    HeuristicSpec(
        id=HEURISTIC_ID,
        title="Off-ramps reached by traced funds",
        description=(
            "Traced transfers into a labelled exchange, OTC desk or bridge, or into an "
            "exchange deposit address (labelled or detected by behaviour), are arrivals at an "
            "off-ramp; they are summed exactly per off-ramp and asset. Transfers out of an "
            "off-ramp are the service's own and never count again. Bridge arrivals carry the "
            "destination chain and recipient from the bridge's deposit event."
        ),
        references=(
            VICTOR_2020,
            Reference(
                "FATF (October 2021). Updated Guidance for a Risk-Based Approach to Virtual "
                "Assets and Virtual Asset Service Providers (VASPs as the points of control)",
                "https://www.fatf-gafi.org/media/fatf/documents/recommendations/"
                "Updated-Guidance-VA-VASP.pdf",
            ),
        ),
        confidence=(
            "The identification's confidence: the label's for labelled services, the "
            "exchange-deposit-address detector's for deposit addresses found by behaviour."
        ),
    ),
)

OfframpCategory = Literal["exchange_deposit", "exchange", "otc", "bridge"]
TRACED_COLUMNS: Final = (*UNIQUE_KEY, "traced_raw")
_LABEL_CATEGORIES: Final[Mapping[Category, OfframpCategory]] = {
    Category.EXCHANGE_DEPOSIT: "exchange_deposit",
    Category.EXCHANGE: "exchange",
    Category.OTC: "otc",
    Category.BRIDGE: "bridge",
}


@dataclass(frozen=True, slots=True)
class Arrival:
    """One traced transfer into an off-ramp."""

    transaction_hash: str
    block_number: int
    traced_raw: int
    destination_chain_id: int | None = None  # bridges, from the deposit event
    recipient: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tx": self.transaction_hash,
            "block": self.block_number,
            "amount_raw": str(self.traced_raw),
        }
        if self.destination_chain_id is not None or self.recipient is not None:
            out["destination_chain_id"] = self.destination_chain_id
            out["recipient"] = self.recipient
        return out


@dataclass(frozen=True, slots=True)
class Offramp:
    """Traced funds of one asset that reached one off-ramp."""

    chain_id: int
    address: str
    category: OfframpCategory
    entity: str
    asset: AssetAmount  # token address, symbol, decimals and the exact traced raw amount
    confidence: float
    arrivals: tuple[Arrival, ...]
    evidence: tuple[str, ...]  # arrival txs, then the deposit address's sweeps of the asset
    identified_by: str  # "label" or the heuristic that found the address

    @property
    def traced_raw(self) -> int:
        return self.asset.raw

    @property
    def amount(self) -> str | None:
        """Whole units as an exact decimal string; None when the decimals are unknown."""
        return None if self.asset.decimals is None else self.asset.display()

    def to_json(self) -> dict[str, Any]:
        """The report.json ``offramps`` entry (contract fields first)."""
        return {
            "address": self.address,
            "category": self.category,
            "entity": self.entity,
            "asset": self.asset.symbol,
            "amount": self.amount,
            "confidence": round(self.confidence, 4),
            "evidence": list(self.evidence),
            "chain_id": self.chain_id,
            "token_address": self.asset.token_address,
            "decimals": self.asset.decimals,
            "amount_raw": str(self.traced_raw),
            "identified_by": self.identified_by,
            "arrivals": [arrival.to_json() for arrival in self.arrivals],
        }


@dataclass(frozen=True, slots=True)
class _Target:
    category: OfframpCategory
    entity: str
    confidence: float
    identified_by: str
    # Per token: the transactions that show what the address is (a deposit address's sweeps).
    supporting: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def traced_from_addresses(transfers: pl.DataFrame, addresses: Iterable[str]) -> pl.DataFrame:
    """The fallback traced frame: every successful transfer out of ``addresses``, in full."""
    return (
        fungible_moves(transfers)
        .filter(pl.col("from_address").is_in(sorted(set(addresses))))
        .select(*UNIQUE_KEY, pl.col("value_raw").alias("traced_raw"))
    )


def find_offramps(
    transfers: pl.DataFrame,
    labels: LabelStore,
    traced: pl.DataFrame | Iterable[str],
    *,
    deposit_addresses: Sequence[DepositAddress] = (),
    events: pl.DataFrame | None = None,
    token_info: Mapping[str, tuple[str, int]] | None = None,
) -> tuple[Offramp, ...]:
    """Off-ramps that traced funds reached, one per (chain, address, asset).

    ``traced`` is a traced-amount frame (:data:`TRACED_COLUMNS`) or a set of traced
    addresses. ``token_info`` maps token address to (symbol, decimals) where the table lacks
    them. Order: chain, category, entity, address, token.
    """
    if not isinstance(traced, pl.DataFrame):
        traced = traced_from_addresses(transfers, traced)
    missing = [c for c in TRACED_COLUMNS if c not in traced.columns]
    if missing:
        raise ValueError(f"the traced frame lacks the columns {missing}")
    # Narrowed to the traced transactions first: a join on the whole table's six-column key
    # would encode every row's key.
    traced_txs = traced["transaction_hash"].unique().implode()
    arrived = fungible_moves(transfers.filter(pl.col("transaction_hash").is_in(traced_txs))).join(
        traced.select(TRACED_COLUMNS), on=list(UNIQUE_KEY), how="inner", nulls_equal=True
    )
    detected = {(d.chain_id, d.address): d for d in deposit_addresses}
    exits = _bridge_exits(events)
    targets: dict[tuple[int, str], _Target | None] = {}

    def target(chain_id: int, address: str) -> _Target | None:
        key = (chain_id, address)
        if key not in targets:
            targets[key] = _identify(labels, detected, chain_id, address)
        return targets[key]

    totals: dict[tuple[int, str, str], int] = defaultdict(int)
    arrivals: dict[tuple[int, str, str], list[Arrival]] = defaultdict(list)
    meta: dict[str, tuple[str | None, int | None]] = {
        token: (symbol, decimals) for token, (symbol, decimals) in (token_info or {}).items()
    }
    rows = arrived.sort("block_number", "transaction_hash").iter_rows(named=True)
    for row in rows:
        chain_id, to_address = row["chain_id"], row["to_address"]
        raw = int(row["traced_raw"])
        if raw == 0 or target(chain_id, to_address) is None:
            continue
        if target(chain_id, row["from_address"]) is not None:
            continue  # the service moving its own funds (a sweep, a payout)
        token = row["token_address"] or NATIVE_TOKEN
        meta.setdefault(token, (row["token_symbol"], row["token_decimals"]))
        destination, recipient = _exit_of(
            exits, chain_id, row["transaction_hash"], token, int(row["value_raw"])
        )
        key = (chain_id, to_address, token)
        totals[key] += raw
        arrivals[key].append(
            Arrival(row["transaction_hash"], row["block_number"], raw, destination, recipient)
        )
    out: list[Offramp] = []
    for (chain_id, address, token), raw in totals.items():
        found = targets[(chain_id, address)]
        assert found is not None  # only identified off-ramps were summed
        chain = chain_by_id(chain_id)
        symbol, decimals = meta[token]
        asset = AssetAmount.of(
            token, raw, symbol, decimals, chain.native_symbol if chain else "native"
        )
        hashes = [a.transaction_hash for a in arrivals[(chain_id, address, token)]]
        out.append(
            Offramp(
                chain_id=chain_id,
                address=address,
                category=found.category,
                entity=found.entity,
                asset=asset,
                confidence=found.confidence,
                arrivals=tuple(arrivals[(chain_id, address, token)]),
                evidence=tuple(dict.fromkeys([*hashes, *found.supporting.get(token, ())])),
                identified_by=found.identified_by,
            )
        )
    out.sort(key=lambda o: (o.chain_id, o.category, o.entity, o.address, o.asset.token_address))
    return tuple(out)


def _identify(
    labels: LabelStore,
    detected: Mapping[tuple[int, str], DepositAddress],
    chain_id: int,
    address: str,
) -> _Target | None:
    """What kind of off-ramp ``address`` is, if any. A label of a service category wins over
    detection (it is someone's explicit claim); detection covers the unlabelled."""
    role: Label | None = labels.role(address, chain_id)
    if role is not None and role.category in _LABEL_CATEGORIES:
        category = _LABEL_CATEGORIES[role.category]
        entity = exchange_entity(role) if category != "bridge" else role.display_entity
        return _Target(category, entity, role.confidence, "label")
    if role is not None and labels.is_service(address, chain_id):
        return None  # a mixer or a DEX: funds go on, the trace does not end here
    found = detected.get((chain_id, address))
    if found is None:
        return None
    sweeps = {asset.token_address: asset.sweeps for asset in found.assets}
    return _Target("exchange_deposit", found.entity, found.confidence, found.heuristic, sweeps)


_BridgeExits = Mapping[tuple[int, str], Sequence[tuple[str, int | None, str | None, int | None]]]


def _bridge_exits(events: pl.DataFrame | None) -> _BridgeExits:
    """(chain, tx) -> [(token, destination chain, recipient, amount)] from bridge deposits."""
    if events is None or events.height == 0:
        return {}
    rows = events.filter(pl.col("event").cast(pl.String) == "bridge_deposit").select(
        "chain_id", "transaction_hash", "token_address", "destination_chain_id",
        "counterparty", "amount_raw",
    )  # fmt: skip
    out: dict[tuple[int, str], list[tuple[str, int | None, str | None, int | None]]] = defaultdict(
        list
    )
    for chain_id, tx, token, destination, recipient, amount in rows.iter_rows():
        out[(chain_id, tx)].append(
            (
                (token or NATIVE_TOKEN).lower(),
                None if destination is None else int(destination),
                recipient,
                None if amount is None else int(amount),
            )
        )
    return out


def _exit_of(
    exits: _BridgeExits, chain_id: int, tx: str, token: str, raw: int
) -> tuple[int | None, str | None]:
    """The bridge deposit event of an arrival: the only one for its token in the
    transaction, else the one of the same amount; (None, None) when it is ambiguous."""
    candidates = [e for e in exits.get((chain_id, tx), ()) if e[0] == token]
    if len(candidates) > 1:
        candidates = [e for e in candidates if e[3] == raw]
    if len(candidates) != 1:
        return None, None
    return candidates[0][1], candidates[0][2]
