"""SkipTally: the one count of skipped items every normaliser keeps (counts per reason, the
first three details of each as examples, merged in the order given)."""

from __future__ import annotations

import polars as pl

from tracer.protocols.events import Decoded
from tracer.transfers.from_rpc import Normalised
from tracer.transfers.schema import empty_transfers
from tracer.transfers.untrusted import SAMPLES_PER_REASON, SkipError, SkipReason, SkipTally

MALFORMED, PENDING, DUPLICATE = SkipReason.MALFORMED, SkipReason.PENDING, SkipReason.DUPLICATE


def tally_of(*errors: tuple[SkipReason, str]) -> SkipTally:
    tally = SkipTally()
    for reason, detail in errors:
        tally.add(SkipError(reason, detail))
    return tally


def test_an_empty_tally_has_nothing() -> None:
    tally = SkipTally()
    assert (tally.skipped, tally.samples) == ({}, {})
    assert (SkipTally().merge().skipped, SkipTally().merge().samples) == ({}, {})


def test_every_skip_counts_and_only_the_first_three_details_are_kept() -> None:
    tally = tally_of(
        (PENDING, "p1"),
        (MALFORMED, "m1"),
        (MALFORMED, "m2"),
        (MALFORMED, "m3"),
        (PENDING, "p2"),
        (MALFORMED, "m4"),
        (MALFORMED, "m5"),
    )
    assert SAMPLES_PER_REASON == 3
    # Reasons in the order first seen, in both mappings.
    assert list(tally.skipped.items()) == [(PENDING, 2), (MALFORMED, 5)]
    assert list(tally.samples.items()) == [(PENDING, ("p1", "p2")), (MALFORMED, ("m1", "m2", "m3"))]


def test_merge_adds_counts_and_keeps_the_earliest_parts_examples() -> None:
    first = tally_of((MALFORMED, "a1"), (MALFORMED, "a2"))
    second = tally_of((DUPLICATE, "b1"), (MALFORMED, "b2"), (MALFORMED, "b3"))
    third = tally_of((PENDING, "c1"), (DUPLICATE, "c2"))

    merged = SkipTally().merge(first, second, third)
    assert list(merged.skipped.items()) == [(MALFORMED, 4), (DUPLICATE, 2), (PENDING, 1)]
    assert list(merged.samples.items()) == [
        (MALFORMED, ("a1", "a2", "b2")),  # the cap: b3 came after three others
        (DUPLICATE, ("b1", "c2")),
        (PENDING, ("c1",)),
    ]
    # The order of the parts decides which examples survive.
    reversed_order = SkipTally().merge(third, second, first)
    assert list(reversed_order.skipped.items()) == [(PENDING, 1), (DUPLICATE, 2), (MALFORMED, 4)]
    assert list(reversed_order.samples.items()) == [
        (PENDING, ("c1",)),
        (DUPLICATE, ("c2", "b1")),
        (MALFORMED, ("b2", "b3", "a1")),
    ]
    # Merging reads the parts and leaves them as they were.
    assert (first.skipped, first.samples) == ({MALFORMED: 2}, {MALFORMED: ("a1", "a2")})


def test_merge_takes_the_mappings_of_results_and_adds_to_what_was_there() -> None:
    tally = tally_of((PENDING, "own"))
    normalised = Normalised(
        empty_transfers(),
        {MALFORMED: 7, PENDING: 1},
        # Hand-made: more examples than a tally keeps, and a reason with none.
        {MALFORMED: ("n1", "n2", "n3", "n4"), PENDING: ()},
    )
    decoded = Decoded(pl.DataFrame(), {PENDING: 3}, {PENDING: ("d1", "d2", "d3")})

    assert tally.merge(normalised, decoded) is tally
    assert list(tally.skipped.items()) == [(PENDING, 5), (MALFORMED, 7)]
    assert list(tally.samples.items()) == [
        (PENDING, ("own", "d1", "d2")),
        (MALFORMED, ("n1", "n2", "n3")),
    ]
    tally.add(SkipError(MALFORMED, "late"))  # the cap holds for later skips too
    assert tally.skipped == {PENDING: 5, MALFORMED: 8}
    assert tally.samples[MALFORMED] == ("n1", "n2", "n3")


def test_the_mappings_handed_out_are_copies() -> None:
    tally = tally_of((MALFORMED, "m1"))
    skipped, samples = tally.skipped, tally.samples
    skipped[MALFORMED] = 99
    samples[PENDING] = ("invented",)
    assert (tally.skipped, tally.samples) == ({MALFORMED: 1}, {MALFORMED: ("m1",)})
    assert type(tally.skipped) is dict and type(tally.samples) is dict
