"""Inputs and outputs of the taint engine: policies, injected links, per-address balances.

Amounts are exact Python ints (raw token units); frames carry them as decimal strings, as the
transfer table does. An *asset* is a token address (the native asset is
:data:`tracer.types.NATIVE_TOKEN`) plus, for NFTs and ERC-1155, the token id: amounts of two
different assets are never added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import polars as pl

from tracer.errors import UnknownNameError


class Policy(StrEnum):
    """How an address holding traced and clean value of one asset marks what it sends on."""

    POISON = "poison"  # everything it sends after receiving traced value is traced
    HAIRCUT = "haircut"  # each outflow is traced in the proportion of the traced balance
    FIFO = "fifo"  # value leaves in the order it arrived, lot by lot

    @classmethod
    def parse(cls, name: str | Policy) -> Policy:
        if isinstance(name, Policy):
            return name
        try:
            return cls(name.strip().lower())
        except ValueError:
            raise UnknownNameError("taint policy", name, [p.value for p in cls]) from None


@dataclass(frozen=True, slots=True)
class Asset:
    """Token address (NATIVE_TOKEN for the chain's coin) and token id (NFTs, ERC-1155)."""

    token_address: str
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """An edge the transfer table does not show, injected by another heuristic.

    Typical: a mixer link (deposit transaction ``from_tx`` → withdrawal to ``to_address``), or
    a bridge (value sent into the bridge in ``from_tx`` → paid out to ``to_address`` on the
    same chain's table). The traced share of what ``from_tx`` moved into stop addresses
    (services: the mixer pool, the bridge), optionally only what ``from_address`` sent, sets
    the share of the link's amount that arrives traced at ``to_address``:
    ``floor(amount_raw * traced_in / amount_in)``, the largest share over the assets moved in.

    When ``to_tx`` is given and the table holds rows of ``to_tx`` paying ``asset`` to
    ``to_address`` (the withdrawal itself), those rows carry the link's traced share. Otherwise
    the link is a synthetic inflow of ``amount_raw`` at the end of block ``block``.
    """

    from_tx: str
    to_address: str
    asset: Asset
    amount_raw: int
    block: int
    from_address: str | None = None
    to_tx: str | None = None
    confidence: float = 1.0
    heuristic: str = ""


@dataclass(frozen=True, slots=True)
class TaintBalance:
    """Traced value of one asset at one address over the whole trace.

    ``received`` counts traced value arriving (carried by transfers, created by a swap,
    wrap/unwrap or link, or a seed's own inflows); ``sent`` what its outflows carried on;
    ``held`` what it still holds. Haircut and FIFO: ``received == sent + held`` exactly.
    Poison: ``held`` is the address's whole tracked balance once it holds any traced value,
    so the identity does not hold (see :mod:`tracer.heuristics.taint`).
    """

    received: int
    sent: int
    held: int


class ConversionKind(StrEnum):
    SWAP = "swap"  # sent asset X and received asset Y in one transaction
    WRAP = "wrap"  # native coin into the wrapped-native contract: WETH minted without a row
    UNWRAP = "unwrap"  # WETH burnt without a row, native coin paid back
    LINK = "link"  # an injected Link


@dataclass(frozen=True, slots=True)
class Conversion:
    """Traced value created at ``address`` in ``asset_out`` from traced ``asset_in``.

    ``rate_in`` is the amount of ``asset_in`` (and ``traced_in`` its traced part) the rate was
    taken from: the swapper's outflows of that asset in the transaction, the wrapped amount,
    or what the link's source transaction moved into services.
    """

    kind: ConversionKind
    transaction_hash: str
    address: str
    asset_in: Asset
    rate_in: int
    traced_in: int
    asset_out: Asset
    amount_out: int
    traced_out: int
    confidence: float = 1.0


TRACED_TRANSFER_SCHEMA: Final = pl.Schema(
    {
        "chain_id": pl.Int64(),
        "block_number": pl.Int64(),
        "block_time": pl.Datetime("us", "UTC"),
        "transaction_hash": pl.String(),
        "transfer_kind": pl.String(),
        "log_index": pl.Int64(),
        "trace_address": pl.String(),
        "token_id": pl.String(),
        "token_address": pl.String(),
        "from_address": pl.String(),
        "to_address": pl.String(),
        "value_raw": pl.String(),
        "traced_raw": pl.String(),  # carried from the sender + converted
        "converted_raw": pl.String(),  # created here by a swap, link or seed inflow
    }
)

BALANCE_SCHEMA: Final = pl.Schema(
    {
        "address": pl.String(),
        "token_address": pl.String(),
        "token_id": pl.String(),
        "received_raw": pl.String(),
        "sent_raw": pl.String(),
        "held_raw": pl.String(),
    }
)


@dataclass(slots=True)
class TaintResult:
    """What :func:`tracer.heuristics.taint.trace_taint` found.

    ``balances`` maps (address, asset) to its traced totals, for every address that ever
    received traced value. ``transfers`` has one row per transfer carrying traced value
    (``traced_raw`` > 0), in processing order. ``reached`` is the subset of ``balances`` at
    stop addresses (services): where traced value left the trace.
    """

    policy: Policy
    seeds: frozenset[str]
    balances: dict[tuple[str, Asset], TaintBalance]
    transfers: pl.DataFrame
    conversions: list[Conversion] = field(default_factory=list)
    stops: frozenset[str] = frozenset()
    rows_processed: int = 0

    @property
    def reached(self) -> dict[tuple[str, Asset], TaintBalance]:
        return {key: value for key, value in self.balances.items() if key[0] in self.stops}

    def received_at(self, address: str, asset: Asset) -> int:
        balance = self.balances.get((address, asset))
        return balance.received if balance is not None else 0

    def balances_frame(self) -> pl.DataFrame:
        rows = [
            (
                address,
                asset.token_address,
                asset.token_id,
                str(b.received),
                str(b.sent),
                str(b.held),
            )
            for (address, asset), b in sorted(
                self.balances.items(),
                key=lambda item: (item[0][0], item[0][1].token_address, item[0][1].token_id or ""),
            )
        ]
        return pl.DataFrame(rows, schema=BALANCE_SCHEMA, orient="row")
