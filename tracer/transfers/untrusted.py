"""Validation shared by the normalisers: node and explorer answers are untrusted input.

A field that cannot be read raises :class:`SkipError` with a :class:`SkipReason`; the
normaliser then skips the item and counts it, so a malformed answer never crashes a crawl and
never turns into an invented value.
"""

from __future__ import annotations

from enum import StrEnum

from tracer.errors import InvalidAddressError, InvalidTxHashError
from tracer.types import parse_address, parse_tx_hash


class SkipReason(StrEnum):
    """Why an item that could have held a transfer produced no row."""

    REMOVED = "removed"  # log flagged removed: its block left the canonical chain
    PENDING = "pending"  # no block number yet
    WRONG_TOPIC_COUNT = "wrong_topic_count"  # a transfer event with topics that fit no standard
    BAD_DATA = "bad_data"  # a payload that does not decode as the event's ABI
    MALFORMED = "malformed"  # a missing or ill-typed field (non-hex quantity, bad address)
    INCOMPLETE = "incomplete"  # the answer omits what a row needs (old geth SELFDESTRUCT frames)
    UNKNOWN_RECIPIENT = "unknown_recipient"  # a creation whose new contract address is unknown
    UNSUPPORTED = "unsupported"  # a trace or operation type this module does not know
    DUPLICATE = "duplicate"  # a second item with the same unique key (first one kept)


class SkipError(Exception):
    """An item to skip and count; ``detail`` names the field and shows the bad value."""

    def __init__(self, reason: SkipReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def show(raw: object) -> str:
    """A short printable form of an untrusted value, for skip details."""
    text = repr(raw)
    return text if len(text) <= 48 else text[:45] + "..."


def address_field(raw: object, what: str) -> str:
    if isinstance(raw, str):
        try:
            return parse_address(raw)
        except InvalidAddressError:
            pass
    raise SkipError(SkipReason.MALFORMED, f"{what} is not an address: {show(raw)}")


def tx_hash_field(raw: object) -> str:
    if isinstance(raw, str):
        try:
            return parse_tx_hash(raw)
        except InvalidTxHashError:
            pass
    raise SkipError(SkipReason.MALFORMED, f"transaction hash is malformed: {show(raw)}")
