"""`--min-value` in whole native units becomes an exact raw amount, however many digits."""

import pytest

from tracer.cli.trace import _whole_units_to_raw
from tracer.errors import InputError


def test_amounts_beyond_28_digits_are_exact() -> None:
    assert _whole_units_to_raw("0.5", "--min-value") == 5 * 10**17
    # 31 integer digits + 18 decimals: the default decimal context would round this.
    text = "1234567890123456789012345678901.123456789012345678"
    assert _whole_units_to_raw(text, "--min-value") == int(text.replace(".", ""))


@pytest.mark.parametrize("text", ["-1", "0.0000000000000000001", "abc", "inf"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="--min-value"):
        _whole_units_to_raw(text, "--min-value")
