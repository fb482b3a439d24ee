"""Findings have content-derived ids and a canonical order."""

from __future__ import annotations

import pytest

from tracer.findings import Finding, canonical_order, finding_id

A, B = "0x" + "a" * 40, "0x" + "b" * 40
TX1, TX2 = "0x" + "1" * 64, "0x" + "2" * 64


def test_id_depends_on_content_not_on_order_or_repetition() -> None:
    first = Finding("peel-chain", 0.8, (A, B), (TX1, TX2))
    same = Finding("peel-chain", 0.5, (B, A, A), (TX2, TX1))
    assert first.id == same.id == finding_id("peel-chain", [A, B], [TX1, TX2])
    assert len(first.id) == 16
    assert Finding("fan-out", 0.8, (A, B), (TX1, TX2)).id != first.id
    assert Finding("peel-chain", 0.8, (A,), (TX1, TX2)).id != first.id


def test_canonical_order_is_input_order_independent_and_keeps_the_most_confident() -> None:
    low = Finding("peel-chain", 0.4, (A,), (TX1,))
    high = Finding("peel-chain", 0.9, (A,), (TX1,), {"hops": 3})
    other = Finding("fan-out", 0.7, (B,), (TX2,))
    for ordering in ([low, high, other], [other, high, low]):
        result = canonical_order(ordering)
        assert [f.heuristic for f in result] == ["fan-out", "peel-chain"]
        assert result[1] is high


def test_json_shape_and_validation() -> None:
    finding = Finding("fan-in", 0.75, (A,), (TX1,), {"amount_raw": "10"})
    assert finding.to_json() == {
        "id": finding.id,
        "heuristic": "fan-in",
        "confidence": 0.75,
        "subjects": [A],
        "evidence": [TX1],
        "details": {"amount_raw": "10"},
    }
    with pytest.raises(ValueError, match="outside"):
        Finding("fan-in", 1.2, (A,))
    with pytest.raises(ValueError, match="at least one subject"):
        Finding("fan-in", 0.5, ())
