"""Following mixer links: which candidates become taint links, the routes' confidence and
evidence, and off-ramps reached through a link, on hand-built tables with full output."""

from __future__ import annotations

from typing import Any

import pytest

from tests.heuristics.test_taint_cases import (
    ETH,
    NAMES,
    assert_conserved,
    balances,
    labels,
    row,
    table,
    traced,
    tx,
)
from tracer.heuristics.exchanges.offramps import Arrival, Offramp
from tracer.heuristics.mixers.combine import MixerLink
from tracer.heuristics.mixers.follow import (
    Route,
    links_from_json,
    links_to_json,
    offramp_routes,
    pairs,
    taint_links,
    through_links,
    trace_routes,
)
from tracer.heuristics.taint import Link, Policy, trace_taint
from tracer.labels.model import Category
from tracer.reports.summary import AssetAmount
from tracer.types import NATIVE_TOKEN, Address

WEI = 10**18


def candidate(
    withdrawal: int, recipient: str, confidence: float, *, assigned: bool = True, fee: int = 0
) -> MixerLink:
    return MixerLink(
        mixer=Address(NAMES["mixer"]),
        deposit_tx=tx(2),
        withdrawal_tx=tx(withdrawal),
        withdrawal_address=Address(NAMES[recipient]),
        confidence=confidence,
        evidence=(),
        depositor=Address(NAMES["seed"]),
        relayer=None,
        denomination_raw=WEI,
        received_raw=WEI - fee,
        withdrawal_block=withdrawal,
        assigned=assigned,
    )


def test_only_assigned_candidates_at_or_above_the_threshold_are_followed() -> None:
    candidates = [
        candidate(9, "w", 0.5, fee=WEI // 100),  # at the threshold: followed
        candidate(5, "a", 0.9),
        candidate(7, "b", 0.49),  # below
        candidate(8, "c", 0.99, assigned=False),  # no note left for it: never followed
    ]
    links = taint_links(candidates, 0.5)
    assert links == (
        Link(tx(2), NAMES["a"], ETH, WEI, 5, NAMES["seed"], tx(5), 0.9, "mixer-demix"),
        Link(tx(2), NAMES["w"], ETH, WEI - WEI // 100, 9, NAMES["seed"], tx(9), 0.5, "mixer-demix"),
    )
    assert taint_links(candidates, 0.95) == ()
    assert taint_links(candidates) == links  # the mixer-demix default threshold, 0.5
    assert pairs(links) == {(tx(2), tx(5)), (tx(2), tx(9))}
    assert links_from_json(links_to_json(links)) == links
    assert links_to_json(links[:1]) == [
        {
            "from_tx": tx(2),
            "to_address": NAMES["a"],
            "token_address": NATIVE_TOKEN,
            "token_id": None,
            "amount_raw": str(WEI),
            "block": 5,
            "from_address": NAMES["seed"],
            "to_tx": tx(5),
            "confidence": 0.9,
            "heuristic": "mixer-demix",
        }
    ]


# The seed deposits 100 into the mixer (tx 2); the note is withdrawn to w (tx 4, 95 after a
# relayer fee of 5), w pays b and deposits again (tx 6); that note is withdrawn to d (tx 8).
# The seed also pays c directly, and c pays b: b is reached both ways.
def mixing_rows() -> list[dict[str, Any]]:
    return [
        row(1, 1, "victim", "seed", 1000),
        row(2, 2, "seed", "mixer", 100),
        row(3, 3, "seed", "c", 50),
        row(4, 5, "mixer", "w", 95, "internal", trace="0"),
        row(4, 5, "mixer", "relayer", 5, "internal", trace="1"),
        row(5, 6, "w", "b", 45),
        row(6, 7, "w", "mixer", 50),
        row(7, 8, "c", "b", 50),
        row(8, 9, "mixer", "d", 50, "internal", trace="0"),
        row(9, 10, "d", "exchange", 50),
    ]


FIRST = Link(tx(2), NAMES["w"], ETH, 95, 5, NAMES["seed"], tx(4), 0.8, "mixer-demix")
SECOND = Link(tx(6), NAMES["d"], ETH, 50, 9, NAMES["w"], tx(8), 0.5, "mixer-demix")


def test_links_carry_the_deposits_traced_share_and_chain_through_a_second_deposit() -> None:
    store = labels(mixer=Category.MIXER, exchange=Category.EXCHANGE)
    result = trace_taint(table(mixing_rows()), [NAMES["seed"]], Policy.HAIRCUT, store,
                         links=[FIRST, SECOND])  # fmt: skip
    assert_conserved(result)
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 1000, 1000),
        (2, "seed", "mixer", "ETH", 100, 0),
        (3, "seed", "c", "ETH", 50, 0),
        (4, "mixer", "w", "ETH", 95, 95),  # the relayer's fee is not traced
        (5, "w", "b", "ETH", 45, 0),
        (6, "w", "mixer", "ETH", 50, 0),
        (7, "c", "b", "ETH", 50, 0),
        (8, "mixer", "d", "ETH", 50, 50),
        (9, "d", "exchange", "ETH", 50, 0),
    ]
    assert balances(result)[("exchange", "ETH")] == (50, 0, 50)
    # Nothing is created: what came out of the mixer is what went in, less the fee.
    assert balances(result)[("mixer", "ETH")] == (150, 0, 150)

    routes = trace_routes(result, [FIRST, SECOND])
    first, second = (tx(2), tx(4)), (tx(6), tx(8))
    assert routes.held == {
        NAMES["seed"]: Route(1.0, frozenset(), direct=True),
        NAMES["c"]: Route(1.0, frozenset(), direct=True),
        NAMES["w"]: Route(0.8, frozenset({first})),
        NAMES["b"]: Route(1.0, frozenset({first}), direct=True),  # through c as well
        NAMES["d"]: Route(pytest.approx(0.4), frozenset({first, second})),  # type: ignore[arg-type]
    }
    assert routes.transfers[(tx(9), NAMES["exchange"])] == routes.held[NAMES["d"]]
    assert routes.transfers[(tx(4), NAMES["w"])] == Route(0.8, frozenset({first}))
    # The latest demixing's confidence overrides the one the link was followed with.
    again = trace_routes(result, [FIRST, SECOND], {tx(8): 0.9})
    assert again.held[NAMES["d"]].confidence == pytest.approx(0.72)


def offramp(address: str, confidence: float, arrivals: list[tuple[int, int]]) -> Offramp:
    return Offramp(
        chain_id=31337,
        address=NAMES[address],
        category="exchange_deposit",
        entity="Exchange A",
        asset=AssetAmount(NATIVE_TOKEN, "ETH", 18, sum(raw for _, raw in arrivals)),
        confidence=confidence,
        arrivals=tuple(Arrival(tx(n), n, raw) for n, raw in arrivals),
        evidence=(*(tx(n) for n, _ in arrivals), tx(99)),
        identified_by="exchange-deposit-address",
    )


def test_an_offramp_reached_through_links_is_as_sure_as_its_best_route() -> None:
    transfers = {
        (tx(9), NAMES["exchange"]): Route(0.4, frozenset({(tx(2), tx(4)), (tx(6), tx(8))})),
        (tx(5), NAMES["b"]): Route(0.8, frozenset({(tx(2), tx(4))})),
        (tx(7), NAMES["b"]): Route(1.0, frozenset(), direct=True),
    }
    via_mixer = offramp("exchange", 0.9, [(9, 50)])
    both = offramp("b", 0.85, [(5, 45), (7, 50)])
    routes = offramp_routes([via_mixer, both], transfers)
    assert routes == {
        (NAMES["exchange"], NATIVE_TOKEN): transfers[(tx(9), NAMES["exchange"])],
        (NAMES["b"], NATIVE_TOKEN): Route(1.0, frozenset({(tx(2), tx(4))}), direct=True),
    }
    adjusted = through_links(via_mixer, routes[(NAMES["exchange"], NATIVE_TOKEN)])
    # Identification 0.9 x route 0.4; evidence: the arrival, the sweep, then each link's
    # deposit and withdrawal.
    assert adjusted.confidence == pytest.approx(0.36)
    assert adjusted.evidence == (tx(9), tx(99), tx(2), tx(4), tx(6), tx(8))
    assert (adjusted.amount, adjusted.arrivals) == (via_mixer.amount, via_mixer.arrivals)
    # Reached directly too: the identification's confidence stands, the link is evidence.
    direct = through_links(both, routes[(NAMES["b"], NATIVE_TOKEN)])
    assert direct.confidence == 0.85
    assert direct.evidence == (tx(5), tx(7), tx(99), tx(2), tx(4))
    # An off-ramp no traced transfer explains keeps what it had.
    assert offramp_routes([offramp("c", 0.9, [(3, 50)])], {}) == {
        (NAMES["c"], NATIVE_TOKEN): Route(1.0, frozenset(), direct=True)
    }
