"""Whole-unit amount text is exact for every uint256, in every place that renders one."""

from __future__ import annotations

import pytest

from tracer.amounts import AssetAmount, asset_decimals, whole_units
from tracer.types import NATIVE_TOKEN

UINT256_MAX = 2**256 - 1


@pytest.mark.parametrize(
    ("raw", "decimals", "text"),
    [
        (0, 18, "0"),
        (1, 18, "0.000000000000000001"),
        (10**18, 18, "1"),
        (UINT256_MAX, 18, "115792089237316195423570985008687907853269984665640564039457"
                          ".584007913129639935"),
        (UINT256_MAX, 0, str(UINT256_MAX)),
        (UINT256_MAX, 77, "1.15792089237316195423570985008687907853269984665640564039457"
                          "584007913129639935"),
        (2**200 + 12345, 18, "1606938044258990275541962092341162602522202.993782792835313721"),
        (1234500, 6, "1.2345"),
        (-1234500, 6, "-1.2345"),
        (7, 0, "7"),
    ],
)  # fmt: skip
def test_whole_units_is_exact(raw: int, decimals: int, text: str) -> None:
    assert whole_units(raw, decimals) == text


def test_negative_decimals_are_refused() -> None:
    with pytest.raises(ValueError, match="decimals"):
        whole_units(1, -1)


@pytest.mark.parametrize("raw", [UINT256_MAX, 2**200 + 12345])
def test_report_amounts_do_not_round_past_28_digits(raw: int) -> None:
    # Decimal's default context keeps 28 significant digits; a uint256 has up to 78.
    amount = AssetAmount.of(NATIVE_TOKEN, raw, None, None, "ETH")
    whole, _, fraction = amount.display().partition(".")
    assert int(whole + fraction.ljust(18, "0")) == raw


def test_native_decimals_are_known_and_others_are_not_guessed() -> None:
    assert asset_decimals(NATIVE_TOKEN, None) == 18
    assert asset_decimals("0x" + "ab" * 20, None) is None
    assert asset_decimals("0x" + "ab" * 20, 6) == 6
