"""Flow patterns: concrete cases with the full findings asserted, and the testbed's peel chain,
split and collector found against ground truth."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Testbed
from tests.heuristics.test_deposit_address import (
    ETH,
    HOUR,
    addr,
    move,
    read_testbed_table,
    table,
    token_move,
    tx,
)
from tracer.findings import Finding
from tracer.heuristics.exchanges.deposit_address import detect_deposit_addresses
from tracer.heuristics.patterns.flows import (
    HEURISTICS,
    fan_in_consolidations,
    fan_out_splits,
    peel_chains,
    rapid_pass_through,
)
from tracer.labels.store import LabelStore
from tracer.types import NATIVE_TOKEN

DEFAULTS = {spec.id: spec.defaults() for spec in HEURISTICS}
VICTIM = addr("victim")
H0, H1, H2, H3 = (addr(f"hop{i}") for i in range(4))
SIDE_A, SIDE_B, SIDE_C = addr("sideA"), addr("sideB"), addr("sideC")
WIDE, WIDE2 = addr("wide"), addr("wide2")


def peel_rows() -> list[dict[str, Any]]:
    return [
        move(1, 0, VICTIM, H0, 100 * ETH, tx_hash=tx(1)),
        move(2, 1, H0, SIDE_A, 5 * ETH, tx_hash=tx(2)),
        move(2, 1, H0, H1, 95 * ETH, tx_hash=tx(3)),
        move(3, 2, H1, SIDE_B, 5 * ETH, tx_hash=tx(4)),
        move(3, 2, H1, H2, 90 * ETH, tx_hash=tx(5)),
        move(4, 3, H2, SIDE_C, 10 * ETH, tx_hash=tx(6)),
        move(4, 3, H2, H3, 80 * ETH, tx_hash=tx(7)),
        move(5, 4, H3, addr("end"), 80 * ETH, tx_hash=tx(8)),  # one payment: not a peel
        # Not a peel: 40 % goes to the side.
        move(1, 0, VICTIM, WIDE, 10 * ETH),
        move(2, 1, WIDE, addr("x"), 4 * ETH),
        move(2, 1, WIDE, WIDE2, 6 * ETH),
    ]


def hop(
    address: str,
    received: int,
    onward: tuple[str, int, str],
    peel: tuple[str, int, str],
) -> dict[str, Any]:
    """The expected details of one hop: ``onward`` and ``peel`` are (to, amount, tx)."""
    return {
        "address": address,
        "received_raw": str(received),
        "onward_to": onward[0],
        "onward_raw": str(onward[1]),
        "onward_tx": onward[2],
        "peels": [{"to": peel[0], "amount_raw": str(peel[1]), "tx": peel[2]}],
    }


def test_peel_chain() -> None:
    findings = peel_chains(table(peel_rows()))
    assert findings == [
        Finding(
            heuristic="peel-chain",
            confidence=0.6,
            subjects=(H0, H1, H2),
            evidence=(tx(2), tx(3), tx(4), tx(5), tx(6), tx(7)),
            details={
                "token_address": NATIVE_TOKEN,
                "hops": [
                    hop(H0, 100 * ETH, (H1, 95 * ETH, tx(3)), (SIDE_A, 5 * ETH, tx(2))),
                    hop(H1, 95 * ETH, (H2, 90 * ETH, tx(5)), (SIDE_B, 5 * ETH, tx(4))),
                    hop(H2, 90 * ETH, (H3, 80 * ETH, tx(7)), (SIDE_C, 10 * ETH, tx(6))),
                ],
                "peeled_raw": str(20 * ETH),
                "end": H3,
                "parameters": DEFAULTS["peel-chain"],
            },
        )
    ]
    assert peel_chains(table(peel_rows()), parameters={"min_hops": 4}) == []
    assert peel_chains(table(peel_rows()), subjects_from={H1, H2}) == []  # two hops only


SPLITTER, REUSER, KNOWN = addr("splitter"), addr("reuser"), addr("known")
FRESH = [addr(f"fresh{i}") for i in range(4)]


def split_rows() -> list[dict[str, Any]]:
    return [
        move(1, 0, VICTIM, SPLITTER, 10 * ETH, tx_hash=tx(11)),
        *(
            move(2, 1, SPLITTER, fresh, 2_500_000_000_000_000_000, tx_hash=tx(12 + i))
            for i, fresh in enumerate(FRESH)
        ),
        # Three recipients, but one was seen before: only two fresh, no split.
        move(1, 0, KNOWN, VICTIM, 1),
        move(1, 0, VICTIM, REUSER, 9 * ETH),
        move(2, 1, REUSER, KNOWN, 3 * ETH),
        move(2, 1, REUSER, addr("f1"), 3 * ETH),
        move(2, 1, REUSER, addr("f2"), 3 * ETH),
    ]


def test_fan_out_split() -> None:
    findings = fan_out_splits(table(split_rows()))
    assert findings == [
        Finding(
            heuristic="fan-out-split",
            confidence=0.7,  # 0.6, +0.05 for a fourth recipient, +0.05 emptied
            subjects=(SPLITTER, *sorted(FRESH)),
            evidence=(tx(11), tx(12), tx(13), tx(14), tx(15)),
            details={
                "token_address": NATIVE_TOKEN,
                "received_raw": str(10 * ETH),
                "sent_raw": str(10 * ETH),
                "fresh_recipients": {a: "2500000000000000000" for a in sorted(FRESH)},
                "emptied": True,
                "parameters": DEFAULTS["fan-out-split"],
            },
        )
    ]
    late = fan_out_splits(table(split_rows()), parameters={"min_recipients": 5})
    assert late == []


COLLECTOR, DESK = addr("collector"), addr("desk")
WITHDRAWALS = [addr(f"wd{i}") for i in range(3)]
TOKEN = "0x" + "7" * 40


def collector_rows() -> list[dict[str, Any]]:
    return [
        *(move(1 + i, i, w, COLLECTOR, ETH, tx_hash=tx(21 + i)) for i, w in enumerate(WITHDRAWALS)),
        move(5, 30, COLLECTOR, DESK, 3 * ETH - 10**15, tx_hash=tx(25)),
        # Tokens of the same addresses are a separate asset: two sources only.
        token_move(1, 0, WITHDRAWALS[0], COLLECTOR, 5),
        token_move(2, 0, WITHDRAWALS[1], COLLECTOR, 5),
        token_move(3, 1, COLLECTOR, DESK, 10),
    ]


def test_fan_in_consolidation() -> None:
    expected = Finding(
        heuristic="fan-in-consolidation",
        confidence=0.65,  # 0.6 at three sources, +0.05 as all are traced
        subjects=(COLLECTOR, *sorted(WITHDRAWALS)),
        evidence=(tx(21), tx(22), tx(23), tx(25)),
        details={
            "token_address": NATIVE_TOKEN,
            "sources": {w: str(ETH) for w in sorted(WITHDRAWALS)},
            "received_raw": str(3 * ETH),
            "sent_raw": str(3 * ETH - 10**15),
            "to": [DESK],
            "parameters": DEFAULTS["fan-in-consolidation"],
        },
    )
    assert fan_in_consolidations(table(collector_rows()), sources_from=WITHDRAWALS) == [expected]
    # Untraced: the same collector at the base confidence; excluded: nothing.
    untraced = fan_in_consolidations(table(collector_rows()))
    assert [(f.subjects, f.confidence) for f in untraced] == [(expected.subjects, 0.6)]
    assert fan_in_consolidations(table(collector_rows()), exclude=[COLLECTOR]) == []
    assert fan_in_consolidations(table(collector_rows()), sources_from=WITHDRAWALS[:2]) == []


RELAY, KEEPER, SLOW = addr("relay"), addr("keeper"), addr("slow")


@pytest.mark.parametrize(
    ("outflow_hours", "sent", "expected_confidence"),
    [(1, 7 * ETH, 0.9), (5, 7 * ETH - 10**15, 0.75), (7, 7 * ETH, None), (1, 5 * ETH, None)],
    ids=["fast-relay", "slower-with-gas", "too-slow", "keeps-part"],
)
def test_rapid_pass_through(
    outflow_hours: int, sent: int, expected_confidence: float | None
) -> None:
    rows = [
        move(1, 0, VICTIM, RELAY, 7 * ETH, tx_hash=tx(31)),
        move(2, outflow_hours, RELAY, DESK, sent, tx_hash=tx(32)),
    ]
    findings = rapid_pass_through(table(rows))
    if expected_confidence is None:
        assert findings == []
        return
    assert findings == [
        Finding(
            heuristic="rapid-pass-through",
            confidence=expected_confidence,
            subjects=(RELAY,),
            evidence=(tx(31), tx(32)),
            details={
                "token_address": NATIVE_TOKEN,
                "received_raw": str(7 * ETH),
                "forwarded_raw": str(sent),
                "hold_seconds": outflow_hours * HOUR,
                "from": [VICTIM],
                "to": [DESK],
                "parameters": DEFAULTS["rapid-pass-through"],
            },
        )
    ]


async def test_testbed_peel_chain_split_and_collector(testbed_small: Testbed) -> None:
    gt = testbed_small.built.ground_truth
    thief = gt["thief"]
    transfers = await read_testbed_table(testbed_small)
    labels = LabelStore.from_files([testbed_small.out_dir / "labels.csv"])
    wallets = set(thief["wallets"])

    [chain] = peel_chains(transfers, labels=labels, subjects_from=wallets)
    peeling = [hop for hop in thief["peel_chain"] if len(hop["transfers"]) == 2]
    assert list(chain.subjects) == [hop["address"] for hop in peeling]
    assert [
        (h["peels"][0]["to"], h["peels"][0]["amount_raw"], h["onward_raw"])
        for h in chain.details["hops"]
    ] == [
        (hop["transfers"][0]["to"], hop["transfers"][0]["amount"], hop["transfers"][1]["amount"])
        for hop in peeling
    ]

    splits = fan_out_splits(transfers, labels=labels, subjects_from=wallets)
    [seed_split] = [f for f in splits if f.subjects[0] == thief["seed"]]
    assert set(thief["split_wallets"]) <= set(seed_split.subjects)

    deposits = [d.address for d in detect_deposit_addresses(transfers, labels)]
    collectors = fan_in_consolidations(
        transfers, labels=labels, sources_from=wallets, exclude=deposits
    )
    collected = {w["address"] for w in thief["withdrawal_addresses"] if w["purpose"] == "collector"}
    assert [(f.subjects[0], set(f.subjects[1:])) for f in collectors] == [
        (thief["collector"], collected)
    ]
    assert collectors[0].details["to"] == [thief["otc_desk"]]

    relays = {
        f.subjects[0] for f in rapid_pass_through(transfers, labels=labels, subjects_from=wallets)
    }
    assert {hop["address"] for hop in peeling} <= relays
