"""Token amounts: exact raw integers with their asset, shown as exact whole-unit text.

:class:`AssetAmount` is what reports, exports and heuristics pass around; :func:`whole_units`
is the one formatter they all render amounts with.

Integer arithmetic only: ``Decimal`` rounds to its context's 28 digits, and a uint256 amount
has up to 78, so ``2**200 + 12345`` wei would print rounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracer.transfers.from_rpc import NATIVE_DECIMALS
from tracer.types import NATIVE_TOKEN


def whole_units(raw: int, decimals: int) -> str:
    """``raw`` smallest units as whole units, exact, without trailing zeros (``1.2345``)."""
    if decimals < 0:
        raise ValueError(f"decimals must not be negative, got {decimals}")
    whole, fraction = divmod(abs(raw), 10**decimals)
    sign = "-" if raw < 0 else ""
    if fraction == 0:
        return f"{sign}{whole}"
    digits = str(fraction).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{digits}"


def asset_decimals(token_address: str, decimals: int | None) -> int | None:
    """The token's decimals; the native asset's are known even where a table leaves them out."""
    if decimals is None and token_address == NATIVE_TOKEN:
        return NATIVE_DECIMALS
    return decimals


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


def asset_symbol(token_address: str, symbol: str | None, native_symbol: str) -> str:
    if token_address == NATIVE_TOKEN:
        return native_symbol
    return symbol or f"token {token_address[:10]}…"
