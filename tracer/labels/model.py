"""A label: what an address is believed to be, and who says so."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tracer.types import Address


class Category(StrEnum):
    """Categories tracing decisions depend on. Unknown categories are rejected, not guessed."""

    EXCHANGE = "exchange"  # an exchange's hot/cold wallet: an off-ramp, and a hub not to expand
    EXCHANGE_DEPOSIT = "exchange_deposit"  # a per-customer deposit address of an exchange
    OTC = "otc"
    BRIDGE = "bridge"
    DEX = "dex"
    MIXER = "mixer"
    SANCTIONED = "sanctioned"
    WRAPPED_NATIVE = "wrapped_native"
    TOKEN = "token"  # noqa: S105 (a category name, not a secret)
    DEFI = "defi"
    THIEF = "thief"  # attributed to the perpetrator (e.g. an FBI-listed Lazarus address)
    VICTIM = "victim"
    OTHER = "other"


# Services where a trace ends: the funds are now commingled in a custodian or protocol, and
# expanding them would pull in thousands of unrelated users.
SERVICE_CATEGORIES = frozenset(
    {Category.EXCHANGE, Category.OTC, Category.BRIDGE, Category.DEX, Category.MIXER}
)


@dataclass(frozen=True, slots=True)
class Label:
    address: Address
    name: str
    category: Category
    source: str
    chain_id: int | None = None  # None: applies on every chain
    confidence: float = 1.0
    date: str | None = None  # ISO date the source asserted it
