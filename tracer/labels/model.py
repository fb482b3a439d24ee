"""A label: what an address is believed to be, who says so, and since when.

Addresses of every network are held as plain strings in their network's canonical form
(see :mod:`tracer.labels.addresses`): EVM addresses lowercase 0x-hex as everywhere in tracer,
Bech32 and CashAddr lowercase, Base58 forms (Bitcoin, Tron, XRP, Monero, Solana) exactly as
written because Base58 is case-sensitive. ``network`` says which family the string belongs to;
``chain_id`` narrows an EVM label to one chain (None: every EVM chain, as for a sanctioned
key holder, whose address is the same everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


class Network(StrEnum):
    """Address families. One family may span many chains (``evm``: every EVM chain)."""

    EVM = "evm"
    BITCOIN = "bitcoin"
    BITCOIN_CASH = "bitcoin-cash"
    BITCOIN_SV = "bitcoin-sv"
    BITCOIN_GOLD = "bitcoin-gold"
    LITECOIN = "litecoin"
    DASH = "dash"
    ZCASH = "zcash"
    VERGE = "verge"
    TRON = "tron"
    XRP = "xrp"
    SOLANA = "solana"
    MONERO = "monero"
    BNB_BEACON = "bnb-beacon"  # the retired BNB Beacon Chain (bnb1... Bech32 addresses)


@dataclass(frozen=True, slots=True)
class Label:
    address: str  # canonical form for ``network`` (lowercase 0x-hex for EVM)
    name: str  # what this address is, e.g. "Tornado.Cash: 0.1 ETH" or "Binance 14"
    category: Category
    source: str  # dataset, URL or repository, and commit or issue date
    chain_id: int | None = None  # EVM only; None: applies on every EVM chain
    confidence: float = 1.0  # probability the source's claim is right, 0..1
    date: str | None = None  # ISO date the source asserted it (list issue, scrape date)
    network: Network = Network.EVM
    entity: str | None = None  # who controls it ("Binance", "Lazarus Group"); None: unknown
    asset: str | None = None  # the asset the source listed the address for (OFAC: XBT, USDT)
    # Sanctions designation: programme and legal basis as the list states them, the date the
    # entry was listed, and the date it was lifted (a delisted entry is history, not a hit).
    designation: str | None = None
    listed: str | None = None
    delisted: str | None = None

    @property
    def is_active_sanction(self) -> bool:
        return self.category is Category.SANCTIONED and self.delisted is None

    @property
    def display_entity(self) -> str:
        return self.entity or self.name
