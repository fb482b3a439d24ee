"""Following mixer links: which candidates become taint links, the routes' confidence and
evidence, and off-ramps reached through a link, on hand-built tables with full output."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from tests.heuristics.test_mixers_signals import (
    ETH,
    GWEI,
    INNOCENT,
    P1,
    P10,
    R_INNOCENT,
    RELAYER,
    ROUND,
    THIEF,
    THIEF_PRICE,
    Case,
    a,
    h,
)
from tests.heuristics.test_taint_cases import (
    ETH as NATIVE,
)
from tests.heuristics.test_taint_cases import (
    NAMES,
    assert_conserved,
    balances,
    labels,
    row,
    table,
    traced,
    tx,
)
from tracer.amounts import AssetAmount
from tracer.analysis import (
    PROBE_MAX_TRANSFERS,
    CaseAnalysis,
    MixerFollower,
    analyse_case,
    probes_to_json,
)
from tracer.crawl.case import Expansion
from tracer.crawl.crawler import Coverage, CoverageStatus, CrawlResult, Root
from tracer.crawl.protocols import Probe, ProtocolFacts
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
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.types import NATIVE_TOKEN, Address

WEI = 10**18
FEE = 4 * ETH // 1000  # the relayer's


def payout(case: Case, tx_hash: str, pool: str, to: str, value: int, *, fee: int = FEE) -> None:
    """The pool's internal payment of a withdrawal (and the relayer's fee)."""
    for index, (recipient, amount) in enumerate([(to, value - fee), (RELAYER, fee)]):
        if amount:
            case.transfers.append(
                {"chain_id": 1, "block_number": int(case.txs[-1]["block_number"]),
                 "block_time": case.txs[-1]["block_time"], "transaction_hash": tx_hash,
                 "transfer_kind": "internal", "trace_address": str(index),
                 "from_address": pool, "to_address": recipient,
                 "token_address": NATIVE_TOKEN, "value_raw": str(amount),
                 "tx_succeeded": True, "source": "test"}
            )  # fmt: skip


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
        Link(tx(2), NAMES["a"], NATIVE, WEI, 5, NAMES["seed"], tx(5), 0.9, "mixer-demix"),
        Link(
            tx(2), NAMES["w"], NATIVE, WEI - WEI // 100, 9, NAMES["seed"], tx(9), 0.5, "mixer-demix"
        ),
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


FIRST = Link(tx(2), NAMES["w"], NATIVE, 95, 5, NAMES["seed"], tx(4), 0.8, "mixer-demix")
SECOND = Link(tx(6), NAMES["d"], NATIVE, 50, 9, NAMES["w"], tx(8), 0.5, "mixer-demix")


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


R1, R2, EXCHANGE = a("r1"), a("r2"), a("exchange")


def two_pools() -> tuple[tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], LabelStore]:
    """The thief's note goes out to r1, who deposits into a second pool; that note goes out
    to r2, who pays an exchange. Innocents use both pools in the same blocks. Returns
    (events, transactions, transfers) and the labels."""
    case = Case()
    case.tx("theft", 1, a("victim"), THIEF, 5 * ETH, ROUND)
    case.deposit("d1", 10, THIEF, P1, ETH, THIEF_PRICE)
    case.deposit("d1-innocent", 10, INNOCENT, P1, ETH, ROUND)
    payout(case, case.withdraw("w1", 20, P1, R1, RELAYER, RELAYER, 6 * GWEI, FEE), P1, R1, ETH)
    w1_innocent = case.withdraw("w1-innocent", 21, P1, R_INNOCENT, INNOCENT, None, ROUND)
    payout(case, w1_innocent, P1, R_INNOCENT, ETH, fee=0)
    case.deposit("d2", 30, R1, P10, ETH // 2, THIEF_PRICE)
    case.deposit("d2-innocent", 30, a("innocent-2"), P10, ETH // 2, ROUND)
    w2 = case.withdraw("w2", 40, P10, R2, RELAYER, RELAYER, 6 * GWEI, FEE)
    payout(case, w2, P10, R2, ETH // 2)
    w2_innocent = case.withdraw("w2-innocent", 41, P10, a("r-innocent-2"), a("innocent-2"),
                                None, ROUND)  # fmt: skip
    payout(case, w2_innocent, P10, a("r-innocent-2"), ETH // 2, fee=0)
    case.tx("cash-out", 50, R2, EXCHANGE, ETH // 4, THIEF_PRICE)  # keeps the rest
    case.tx("shop", 51, a("r-innocent-2"), a("shop"), ETH // 4, ROUND)
    store = LabelStore(
        [Label(P1, "Pool 1", Category.MIXER, "test"), Label(P10, "Pool 2", Category.MIXER, "test"),
         Label(EXCHANGE, "Exchange", Category.EXCHANGE, "test", confidence=0.9)]
    )  # fmt: skip
    return case.tables(), store


def test_a_recipient_who_mixes_again_is_followed_through_both_pools() -> None:
    """The fixed point, round by round (:func:`two_pools`): each round follows one more
    layer; the off-ramp's confidence is the product of both links' and its evidence names
    both."""
    r1, r2, exchange, cash_out = R1, R2, EXCHANGE, h("cash-out")
    (events, transactions, transfers), store = two_pools()

    def round_of(links: tuple[Link, ...]) -> CaseAnalysis:
        return analyse_case(transfers, events, transactions, [THIEF], store, links=links)

    first = round_of(())
    assert [(link.to_tx, link.to_address) for link in first.next_links] == [(h("w1"), r1)]
    assert first.offramps == () and not first.settled
    second = round_of(first.next_links)
    assert [(link.to_tx, link.to_address, link.from_address) for link in second.next_links] == [
        (h("w1"), r1, THIEF),
        (h("w2"), r2, r1),  # r1's deposit is a traced note once w1 is followed
    ]
    assert [(c.withdrawal_tx, c.followed) for c in second.mixer_links] == [
        (h("w1"), True), (h("w1-innocent"), False), (h("w2"), False), (h("w2-innocent"), False)
    ]  # fmt: skip
    third = round_of(second.next_links)
    assert third.settled
    followed = {c.withdrawal_tx: c for c in third.mixer_links if c.followed}
    assert set(followed) == {h("w1"), h("w2")}
    (offramp,) = third.offramps
    assert (offramp.address, offramp.traced_raw) == (exchange, ETH // 4)
    route = followed[h("w1")].confidence * followed[h("w2")].confidence
    assert offramp.confidence == pytest.approx(0.9 * route)
    assert offramp.evidence == (cash_out, h("d1"), h("w1"), h("d2"), h("w2"))
    assert third.routes[(exchange, NATIVE_TOKEN)].links == {(h("d1"), h("w1")), (h("d2"), h("w2"))}
    # The innocents' recipients hold nothing traced.
    assert all(
        address not in (R_INNOCENT, a("r-innocent-2")) for address, _ in third.taint.balances
    )


def two_rounds() -> tuple[ProtocolFacts, MixerFollower, Expansion, CrawlResult, Expansion | None]:
    """The follower on :func:`two_pools`: its first extension (after the seed's crawl), the
    crawl with r1, and the second extension."""
    (events, transactions, transfers), store = two_pools()
    facts = ProtocolFacts(events, transactions)
    seed_only = CrawlResult(
        transfers, {THIEF: Coverage(THIEF, 0, 0, 60, CoverageStatus.COMPLETE)}, head_block=60
    )
    follower = MixerFollower([THIEF], store, threshold=0.5)
    first = follower(seed_only, facts, None)
    assert first is not None
    crawled = CrawlResult(
        transfers,
        {**seed_only.coverage, R1: Coverage(R1, 1, 20, 60, CoverageStatus.COMPLETE)},
        head_block=60,
    )
    return facts, follower, first, crawled, follower(crawled, facts, first.record)


def test_the_follower_crawls_followed_recipients_probes_the_others_then_stops() -> None:
    """What MixerFollower hands the case after each crawl: new roots one hop past their
    depositor, probes of the other candidates' recipients (a day after the withdrawal), and
    the record the next call starts from; it stops once a round of probes changed nothing."""
    facts, follower, first, crawled, second = two_rounds()
    # Blocks are 10 minutes apart: a day after block 21 is beyond the table's last block (51).
    assert (first.roots, first.probes) == (
        (Root(R1, 1, 20, ((NATIVE_TOKEN, ETH - FEE, None),)),),
        (Probe(R_INNOCENT, 21, PROBE_MAX_TRANSFERS, 51),),
    )
    assert first.record["probed"] == [R_INNOCENT]
    assert first.record["probes_last_round"] == 1
    # Why, for the report: the candidate withdrawals to it and their best confidence.
    assert first.record["probe_reasons"] == {
        R_INNOCENT: {"withdrawal_txs": [h("w1-innocent")], "confidence": 0.075}
    }
    assert [item["to_tx"] for item in first.record["links"]] == [h("w1")]
    # After the crawl of r1: its deposit is traced, so the second pool's withdrawal is
    # followed; r1 is one hop past the seed, r2 one past r1.
    assert second is not None
    assert second.roots == (Root(R2, 2, 40, ((NATIVE_TOKEN, ETH // 2 - FEE, None),)),)
    assert second.probes == (Probe(a("r-innocent-2"), 41, PROBE_MAX_TRANSFERS, 51),)
    assert [item["to_tx"] for item in second.record["links"]] == [h("w1"), h("w2")]
    # Settled, and the last round probed: nothing more to do. The analysis is kept for the
    # report.
    assert follower(crawled, facts, second.record) is None
    analysis = follower.analyse(crawled, facts, second.record)
    assert analysis.settled
    assert {c.withdrawal_tx for c in analysis.mixer_links if c.followed} == {h("w1"), h("w2")}


def test_the_report_lists_each_probe_with_its_round_blocks_reasons_and_transfers() -> None:
    """``probes`` in report.json, from the follower's records: by address, with the blocks
    actually read (the case's last block caps them), the evidence rows each takes part in,
    and whether a later round crawled it."""
    _facts, _follower, first, crawled, second = two_rounds()
    assert second is not None
    transfers = crawled.transfers
    innocent_2 = a("r-innocent-2")
    evidence = transfers.filter(
        pl.col("from_address").is_in([R_INNOCENT, innocent_2])
        | pl.col("to_address").is_in([R_INNOCENT, innocent_2])
    )
    assert evidence.height == 3  # the two payouts, and r-innocent-2 paying the shop
    # Say a later round followed a link to r-innocent-2: then it was crawled as well.
    later = CrawlResult(
        transfers,
        {**crawled.coverage, innocent_2: Coverage(innocent_2, 3, 41, 60, CoverageStatus.COMPLETE)},
        head_block=60,
    )
    rounds = [(first.record, first.probes), (second.record, second.probes)]
    assert probes_to_json(rounds, evidence, later) == [
        {"address": R_INNOCENT, "round": 1, "from_block": 21, "to_block": 51,
         "withdrawal_txs": [h("w1-innocent")], "confidence": 0.075, "transfers": 1,
         "crawled": False},
        {"address": innocent_2, "round": 2, "from_block": 41, "to_block": 51,
         "withdrawal_txs": [h("w2-innocent")],
         "confidence": second.record["probe_reasons"][innocent_2]["confidence"],
         "transfers": 2, "crawled": True},
    ]  # fmt: skip
    # A record from before reasons were kept, a window to the case's end, a self-transfer.
    self_transfer = evidence.head(1).with_columns(
        pl.lit(R_INNOCENT).alias("from_address"), pl.lit(R_INNOCENT).alias("to_address")
    )
    probes = (Probe(R_INNOCENT, 21, 10, None), Probe(R1, 20, 10, 99))
    older: list[tuple[Any, tuple[Probe, ...]]] = [({"links": []}, probes)]
    assert probes_to_json(older, self_transfer, crawled) == [
        {"address": R_INNOCENT, "round": 1, "from_block": 21, "to_block": 60,
         "withdrawal_txs": [], "confidence": None, "transfers": 1, "crawled": False},
        {"address": R1, "round": 1, "from_block": 20, "to_block": 60, "withdrawal_txs": [],
         "confidence": None, "transfers": 0, "crawled": True},
    ]  # fmt: skip
