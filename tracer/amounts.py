"""Raw token amounts as exact whole-unit text: the one formatter every report and export uses.

Integer arithmetic only: ``Decimal`` rounds to its context's 28 digits, and a uint256 amount
has up to 78, so ``2**200 + 12345`` wei would print rounded.
"""

from __future__ import annotations

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
