"""Address and hash canonicalisation: the only place case and checksums are decided."""

from __future__ import annotations

import pytest

from tracer.errors import InvalidAddressError, InvalidTxHashError
from tracer.types import address_from_topic, parse_address, parse_tx_hash, to_checksum_address

# Tornado Cash 0.1 ETH pool, as published in EIP-55 form.
POOL_CHECKSUMMED = "0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc"
POOL_LOWER = POOL_CHECKSUMMED.lower()


def test_checksummed_lower_and_upper_inputs_canonicalise_to_lowercase() -> None:
    assert parse_address(POOL_CHECKSUMMED) == POOL_LOWER
    assert parse_address(POOL_LOWER) == POOL_LOWER
    assert parse_address("0x" + POOL_LOWER[2:].upper()) == POOL_LOWER
    assert parse_address(f"  {POOL_CHECKSUMMED}\n") == POOL_LOWER


def test_display_form_is_eip55() -> None:
    assert to_checksum_address(POOL_LOWER) == POOL_CHECKSUMMED


def test_bad_checksum_is_rejected_with_the_expected_form() -> None:
    typo = POOL_CHECKSUMMED[:-1] + "C"  # last letter upper-cased: breaks EIP-55
    with pytest.raises(InvalidAddressError, match="checksum") as caught:
        parse_address(typo)
    assert POOL_CHECKSUMMED in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        "12D66f87A04A9E220743712cE6d9bB1B5616B8Fc",
        POOL_LOWER + "00",
        POOL_LOWER[:-1],
        "0x12d66f87a04a9e220743712ce6d9bb1b5616b8fg",
    ],
)
def test_malformed_addresses_are_rejected(text: str) -> None:
    with pytest.raises(InvalidAddressError, match="expected 0x followed by 40 hex digits"):
        parse_address(text)


def test_tx_hash_and_topic_helpers() -> None:
    tx = "0x" + "AB" * 32
    assert parse_tx_hash(tx) == tx.lower()
    with pytest.raises(InvalidTxHashError):
        parse_tx_hash("0x1234")
    topic = "0x000000000000000000000000" + POOL_CHECKSUMMED[2:]
    assert address_from_topic(topic) == POOL_LOWER
