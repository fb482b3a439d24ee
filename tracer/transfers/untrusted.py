"""Validation shared by the normalisers: node and explorer answers are untrusted input.

A field that cannot be read raises :class:`SkipError` with a :class:`SkipReason`; the
normaliser then skips the item and counts it in a :class:`SkipTally`, so a malformed answer
never crashes a crawl and never turns into an invented value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Final, Protocol

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


# Enough examples per reason to show what went wrong in a coverage report, without letting a
# node that sends a million bad items fill memory with their descriptions.
SAMPLES_PER_REASON: Final = 3


class SkipAccount(Protocol):
    """What a normaliser's result (or a tally) says it skipped: counts and a few examples."""

    @property
    def skipped(self) -> Mapping[SkipReason, int]: ...

    @property
    def samples(self) -> Mapping[SkipReason, Sequence[str]]: ...


class SkipTally:
    """Skipped items counted per reason, with the first few details of each as examples.

    Reasons and examples keep the order they were first seen in; merging adds accounts in the
    order given, so the examples of a merged result are those of the earliest parts.
    """

    __slots__ = ("_counts", "_samples")

    def __init__(self) -> None:
        self._counts: dict[SkipReason, int] = {}
        self._samples: dict[SkipReason, list[str]] = {}

    def add(self, error: SkipError) -> None:
        self._counts[error.reason] = self._counts.get(error.reason, 0) + 1
        self._keep(error.reason, (error.detail,))

    def merge(self, *accounts: SkipAccount) -> SkipTally:
        """Add the counts and examples of ``accounts`` to this tally; returns the tally."""
        for account in accounts:
            for reason, count in account.skipped.items():
                self._counts[reason] = self._counts.get(reason, 0) + count
            for reason, examples in account.samples.items():
                self._keep(reason, examples)
        return self

    def _keep(self, reason: SkipReason, examples: Sequence[str]) -> None:
        kept = self._samples.setdefault(reason, [])
        kept.extend(examples[: SAMPLES_PER_REASON - len(kept)])

    # Fresh copies, so a result built from the tally cannot be changed through it (or it
    # through the result).
    @property
    def skipped(self) -> dict[SkipReason, int]:
        return dict(self._counts)

    @property
    def samples(self) -> dict[SkipReason, tuple[str, ...]]:
        return {reason: tuple(kept) for reason, kept in self._samples.items()}


class SkipsOverRun:
    """Mixed into a source: what its normalisers skipped, summed over the run (for coverage
    reports). The source sets ``_skips`` and merges each normalised result into it."""

    _skips: SkipTally

    @property
    def skipped(self) -> dict[SkipReason, int]:
        return self._skips.skipped

    @property
    def samples(self) -> dict[SkipReason, tuple[str, ...]]:
        return self._skips.samples


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
