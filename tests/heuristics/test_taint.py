"""The taint engine on concrete cases, full output asserted for every policy.

Each case asserts every (address, asset) → (received, sent, held) and every traced transfer
(tx, from, to, asset, traced, converted). Haircut and FIFO are also checked for exact
conservation; poison for its weaker guarantees (all-or-nothing, monotone over the others).
Amounts are worked out by hand in the comments.
"""

from __future__ import annotations

from typing import Any

import polars as pl
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
from tracer.errors import InputError, UnknownNameError
from tracer.heuristics.taint import Asset, Link, Policy, TaintResult, trace_taint
from tracer.labels.model import Category
from tracer.labels.store import LabelStore

SEEDS = [NAMES["seed"]]
POLICIES = [Policy.HAIRCUT, Policy.FIFO, Policy.POISON]


def run(
    rows: list[dict[str, Any]], policy: Policy, store: LabelStore | None = None, **kwargs: Any
) -> TaintResult:
    result = trace_taint(table(rows), SEEDS, policy, store, **kwargs)
    if policy is not Policy.POISON:
        assert_conserved(result)
    return result


def assert_poison_bounds(rows: list[dict[str, Any]], **kwargs: Any) -> None:
    """Poison: each transfer all or nothing, and at least what haircut and FIFO trace."""
    poison = trace_taint(table(rows), SEEDS, Policy.POISON, **kwargs)
    for r in poison.transfers.iter_rows(named=True):
        assert r["traced_raw"] == r["value_raw"]
    by_row = {t[:4]: t[4] for t in traced(poison)}
    for other in (Policy.HAIRCUT, Policy.FIFO):
        for t in traced(trace_taint(table(rows), SEEDS, other, **kwargs)):
            assert by_row[t[:4]] >= t[4], t


# A peel chain: the seed and each hop peel a slice off to an exchange and pass the rest on.
PEEL = [
    row(1, 1, "victim", "seed", 1000),
    row(2, 2, "seed", "exchange", 100),
    row(3, 2, "seed", "a", 900),
    row(4, 3, "a", "exchange", 100),
    row(5, 4, "a", "b", 800),
    row(6, 5, "b", "exchange", 800),
]


@pytest.mark.parametrize("policy", POLICIES)
def test_peel_chain_every_slice_reaches_the_exchange(policy: Policy) -> None:
    result = run(PEEL, policy, labels(exchange=Category.EXCHANGE))
    assert balances(result) == {
        ("seed", "ETH"): (1000, 1000, 0),
        ("exchange", "ETH"): (1000, 0, 1000),
        ("a", "ETH"): (900, 900, 0),
        ("b", "ETH"): (800, 800, 0),
    }
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 1000, 1000),
        (2, "seed", "exchange", "ETH", 100, 0),
        (3, "seed", "a", "ETH", 900, 0),
        (4, "a", "exchange", "ETH", 100, 0),
        (5, "a", "b", "ETH", 800, 0),
        (6, "b", "exchange", "ETH", 800, 0),
    ]
    assert result.reached == {(NAMES["exchange"], ETH): result.balances[(NAMES["exchange"], ETH)]}


def test_without_labels_the_exchange_is_followed_like_any_address() -> None:
    rows = [*PEEL, row(7, 6, "exchange", "c", 10)]
    assert (7, "exchange", "c", "ETH", 10, 0) in traced(run(rows, Policy.HAIRCUT))
    assert (7, "exchange", "c", "ETH", 10, 0) not in traced(
        run(rows, Policy.HAIRCUT, labels(exchange=Category.EXCHANGE))
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_split_and_merge(policy: Policy) -> None:
    rows = [
        row(1, 1, "victim", "seed", 1000),
        row(2, 2, "seed", "a", 600),
        row(3, 2, "seed", "b", 400),
        row(4, 3, "a", "c", 600),
        row(5, 3, "b", "c", 400),
        row(6, 4, "c", "d", 1000),
    ]
    result = run(rows, policy)
    assert balances(result) == {
        ("seed", "ETH"): (1000, 1000, 0),
        ("a", "ETH"): (600, 600, 0),
        ("b", "ETH"): (400, 400, 0),
        ("c", "ETH"): (1000, 1000, 0),
        ("d", "ETH"): (1000, 0, 1000),
    }
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 1000, 1000),
        (2, "seed", "a", "ETH", 600, 0),
        (3, "seed", "b", "ETH", 400, 0),
        (4, "a", "c", "ETH", 600, 0),
        (5, "b", "c", "ETH", 400, 0),
        (6, "c", "d", "ETH", 1000, 0),
    ]


# b holds 50 clean, then receives 60 traced, then pays 30 to c and 77 to d.
MIXED = [
    row(1, 1, "victim", "seed", 100),
    row(2, 2, "clean", "b", 50),
    row(3, 3, "seed", "b", 60),
    row(4, 4, "b", "c", 30),
    row(5, 5, "b", "d", 77),
]


def test_mixed_funds_haircut_is_proportional_and_rounds_down() -> None:
    result = run(MIXED, Policy.HAIRCUT)
    # c: floor(30 * 60 / 110) = 16; then b holds 80 with 44 traced: floor(77 * 44 / 80) = 42.
    assert balances(result) == {
        ("seed", "ETH"): (100, 60, 40),
        ("b", "ETH"): (60, 58, 2),  # the two remainders stay held
        ("c", "ETH"): (16, 0, 16),
        ("d", "ETH"): (42, 0, 42),
    }
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 100, 100),
        (3, "seed", "b", "ETH", 60, 0),
        (4, "b", "c", "ETH", 16, 0),
        (5, "b", "d", "ETH", 42, 0),
    ]


def test_mixed_funds_fifo_spends_the_older_clean_lot_first() -> None:
    result = run(MIXED, Policy.FIFO)
    # Queue at b: [50 clean, 60 traced]. c takes 30 clean; d takes 20 clean + 57 traced.
    assert balances(result) == {
        ("seed", "ETH"): (100, 60, 40),
        ("b", "ETH"): (60, 57, 3),
        ("d", "ETH"): (57, 0, 57),
    }
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 100, 100),
        (3, "seed", "b", "ETH", 60, 0),
        (5, "b", "d", "ETH", 57, 0),
    ]


def test_mixed_funds_poison_taints_everything_after() -> None:
    result = run(MIXED, Policy.POISON)
    assert balances(result) == {
        ("seed", "ETH"): (100, 60, 40),
        ("b", "ETH"): (60, 107, 3),  # sends more than it received traced: no conservation
        ("c", "ETH"): (30, 0, 30),
        ("d", "ETH"): (77, 0, 77),
    }
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 100, 100),
        (3, "seed", "b", "ETH", 60, 0),
        (4, "b", "c", "ETH", 30, 0),
        (5, "b", "d", "ETH", 77, 0),
    ]
    assert_poison_bounds(MIXED)


def test_opening_balances_dilute_haircut() -> None:
    rows = [row(1, 1, "victim", "seed", 100), row(2, 2, "seed", "b", 60), row(3, 3, "b", "c", 30)]
    plain = run(rows, Policy.HAIRCUT)
    assert plain.balances[(NAMES["c"], ETH)].received == 30  # no history: b looks all traced
    opened = run(rows, Policy.HAIRCUT, opening_balances={(NAMES["b"], ETH): 60})
    assert opened.balances[(NAMES["c"], ETH)].received == 15  # floor(30 * 60 / 120)


def test_start_block_leaves_earlier_seed_inflows_clean() -> None:
    rows = [row(1, 1, "clean", "seed", 100), row(2, 5, "victim", "seed", 100)]
    rows.append(row(3, 6, "seed", "b", 50))
    result = run(rows, Policy.HAIRCUT, start_block=5)
    assert traced(result) == [
        (2, "victim", "seed", "ETH", 100, 100),
        (3, "seed", "b", "ETH", 25, 0),  # floor(50 * 100 / 200)
    ]


# a holds 4000 clean wei and receives 6000 traced; swaps 5000 wei for 1,000,000 tUSD through a
# DEX router (ETH in, router wraps, WETH to the pair, tUSD out), then 500,000 tUSD back for
# 2000 wei (tUSD to the pair by log; the router pays ETH by internal call, which the in-block
# order puts *before* the log: the swap rule must not depend on that).
SWAPS = [
    row(1, 1, "clean", "a", 4000),
    row(2, 2, "victim", "seed", 6000),
    row(3, 3, "seed", "a", 6000),
    row(4, 4, "a", "router", 5000),
    row(4, 4, "router", "weth", 5000, "internal", trace="0"),
    row(4, 4, "router", "pair", 5000, "erc20", token="weth", log=0),
    row(4, 4, "pair", "a", 1_000_000, "erc20", token="tusd", log=1, decimals=6),
    row(5, 5, "a", "pair", 500_000, "erc20", token="tusd", log=3, decimals=6),
    row(5, 5, "pair", "router", 2000, "erc20", token="weth", log=4),
    row(5, 5, "weth", "router", 2000, "internal", trace="0,0"),
    row(5, 5, "router", "a", 2000, "internal", trace="0,1"),
]
SWAP_LABELS = {"router": Category.DEX, "pair": Category.DEX, "weth": Category.WRAPPED_NATIVE}


def test_swaps_haircut_convert_at_each_swaps_own_rate() -> None:
    result = run(SWAPS, Policy.HAIRCUT, labels(**SWAP_LABELS))
    # ETH→tUSD: a sends floor(5000 * 6000 / 10000) = 3000 traced of 5000, so the 1,000,000
    # tUSD arrive with floor(1,000,000 * 3000 / 5000) = 600,000 traced. tUSD→ETH: 500,000 tUSD
    # carry 300,000 traced, so the 2000 wei arrive with floor(2000 * 300,000 / 500,000) = 1200.
    assert balances(result) == {
        ("seed", "ETH"): (6000, 6000, 0),
        ("a", "ETH"): (7200, 3000, 4200),
        ("router", "ETH"): (3000, 0, 3000),
        ("a", "tUSD"): (600_000, 300_000, 300_000),
        ("pair", "tUSD"): (300_000, 0, 300_000),
    }
    assert traced(result) == [
        (2, "victim", "seed", "ETH", 6000, 6000),
        (3, "seed", "a", "ETH", 6000, 0),
        (4, "a", "router", "ETH", 3000, 0),
        (4, "pair", "a", "tUSD", 600_000, 600_000),
        (5, "a", "pair", "tUSD", 300_000, 0),
        (5, "router", "a", "ETH", 1200, 1200),
    ]
    swaps = [
        (c.kind.value, c.rate_in, c.traced_in, c.amount_out, c.traced_out)
        for c in result.conversions
    ]
    assert swaps == [
        ("swap", 5000, 3000, 1_000_000, 600_000),
        ("swap", 500_000, 300_000, 2000, 1200),
    ]


def test_swaps_fifo() -> None:
    result = run(SWAPS, Policy.FIFO, labels(**SWAP_LABELS))
    # a's queue [4000 clean, 6000 traced]: 5000 wei = 4000 clean + 1000 traced → 200,000 tUSD
    # traced, queued first; 500,000 tUSD out = 200,000 traced + 300,000 clean → 800 wei.
    assert balances(result) == {
        ("seed", "ETH"): (6000, 6000, 0),
        ("a", "ETH"): (6800, 1000, 5800),
        ("router", "ETH"): (1000, 0, 1000),
        ("a", "tUSD"): (200_000, 200_000, 0),
        ("pair", "tUSD"): (200_000, 0, 200_000),
    }
    assert traced(result) == [
        (2, "victim", "seed", "ETH", 6000, 6000),
        (3, "seed", "a", "ETH", 6000, 0),
        (4, "a", "router", "ETH", 1000, 0),
        (4, "pair", "a", "tUSD", 200_000, 200_000),
        (5, "a", "pair", "tUSD", 200_000, 0),
        (5, "router", "a", "ETH", 800, 800),
    ]


def test_swaps_poison() -> None:
    result = run(SWAPS, Policy.POISON, labels(**SWAP_LABELS))
    assert balances(result) == {
        ("seed", "ETH"): (6000, 6000, 0),
        ("a", "ETH"): (8000, 5000, 7000),
        ("router", "ETH"): (5000, 0, 5000),
        ("a", "tUSD"): (1_000_000, 500_000, 500_000),
        ("pair", "tUSD"): (500_000, 0, 500_000),
    }
    assert [t[4] for t in traced(result)] == [6000, 6000, 5000, 1_000_000, 500_000, 2000]
    assert_poison_bounds(SWAPS, labels=labels(**SWAP_LABELS))


def test_swap_detection_off_loses_the_trace_at_the_dex() -> None:
    result = run(SWAPS, Policy.HAIRCUT, labels(**SWAP_LABELS), swap_detection=False)
    assert (NAMES["a"], Asset(NAMES["tusd"])) not in result.balances
    assert result.conversions == []


# a (1000 traced + 1000 clean wei) wraps 800, sends 300 WETH to b, unwraps 400. WETH9 emits
# Deposit/Withdrawal, not Transfer: the table has only the native legs.
WRAP = [
    row(1, 1, "victim", "seed", 1000),
    row(2, 2, "seed", "a", 1000),
    row(3, 3, "clean", "a", 1000),
    row(4, 4, "a", "weth", 800),
    row(5, 5, "a", "b", 300, "erc20", token="weth", log=0),
    row(6, 6, "weth", "a", 400, "internal", trace="0"),
]


def test_weth_wrap_and_unwrap_haircut() -> None:
    result = run(WRAP, Policy.HAIRCUT, labels(weth=Category.WRAPPED_NATIVE))
    # Wrap: 800 wei carry 400 traced → 800 WETH with 400 traced; b gets floor(300 * 400 / 800)
    # = 150; unwrap burns 400 of 500 WETH (250 traced) → 200 traced wei back.
    assert balances(result) == {
        ("seed", "ETH"): (1000, 1000, 0),
        ("a", "ETH"): (1200, 400, 800),
        ("weth", "ETH"): (400, 0, 400),
        ("a", "WETH"): (400, 350, 50),
        ("b", "WETH"): (150, 0, 150),
    }
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 1000, 1000),
        (2, "seed", "a", "ETH", 1000, 0),
        (4, "a", "weth", "ETH", 400, 0),
        (5, "a", "b", "WETH", 150, 0),
        (6, "weth", "a", "ETH", 200, 200),
    ]
    kinds = [(c.kind.value, c.rate_in, c.traced_in, c.traced_out) for c in result.conversions]
    assert kinds == [("wrap", 800, 400, 400), ("unwrap", 400, 200, 200)]


def test_weth_wrap_and_unwrap_fifo() -> None:
    result = run(WRAP, Policy.FIFO, labels(weth=Category.WRAPPED_NATIVE))
    assert balances(result) == {
        ("seed", "ETH"): (1000, 1000, 0),
        ("a", "ETH"): (1400, 800, 600),
        ("weth", "ETH"): (800, 0, 800),
        ("a", "WETH"): (800, 700, 100),
        ("b", "WETH"): (300, 0, 300),
    }
    assert [t[4] for t in traced(result)] == [1000, 1000, 800, 300, 400]
    assert_poison_bounds(WRAP, wrapped_native=[NAMES["weth"]])


@pytest.mark.parametrize("policy", POLICIES)
def test_failed_transfers_move_nothing_and_unknown_success_moves_value(policy: Policy) -> None:
    rows = [
        row(1, 1, "victim", "seed", 1000),
        row(2, 2, "seed", "a", 500, ok=False),
        row(3, 3, "seed", "b", 300, ok=None),
        row(4, 4, "a", "c", 500),
    ]
    result = run(rows, policy)
    assert balances(result) == {("seed", "ETH"): (1000, 300, 700), ("b", "ETH"): (300, 0, 300)}
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 1000, 1000),
        (3, "seed", "b", "ETH", 300, 0),
    ]


# A fee-on-transfer token with no decimals: 100 sent, 98 arrive and 2 go to the fee collector
# (two Transfer events); a then sends 120, more than the table shows it ever had.
FEE = [
    row(1, 1, "victim", "seed", 1000, "erc20", token="tusd", log=0, decimals=None),
    row(2, 2, "seed", "a", 98, "erc20", token="tusd", log=0, decimals=None),
    row(2, 2, "seed", "fee", 2, "erc20", token="tusd", log=1, decimals=None),
    row(3, 3, "a", "b", 120, "erc20", token="tusd", log=0, decimals=None),
]


@pytest.mark.parametrize("policy", [Policy.HAIRCUT, Policy.FIFO])
def test_fee_on_transfer_token_without_decimals(policy: Policy) -> None:
    result = run(FEE, policy)
    # The 22 beyond a's tracked balance are clean history the table lacks.
    assert balances(result) == {
        ("seed", "tUSD"): (1000, 100, 900),
        ("a", "tUSD"): (98, 98, 0),
        ("fee", "tUSD"): (2, 0, 2),
        ("b", "tUSD"): (98, 0, 98),
    }
    assert traced(result) == [
        (1, "victim", "seed", "tUSD", 1000, 1000),
        (2, "seed", "a", "tUSD", 98, 0),
        (2, "seed", "fee", "tUSD", 2, 0),
        (3, "a", "b", "tUSD", 98, 0),
    ]


def test_fee_on_transfer_poison() -> None:
    result = run(FEE, Policy.POISON)
    assert balances(result)[("a", "tUSD")] == (98, 120, 0)
    assert balances(result)[("b", "tUSD")] == (120, 0, 120)


@pytest.mark.parametrize("policy", POLICIES)
def test_nfts_are_separate_assets_per_token_id(policy: Policy) -> None:
    nft: dict[str, Any] = {"kind": "erc721", "token": "nft", "log": 0, "decimals": None}
    rows = [
        row(1, 1, "victim", "seed", 1, **nft, token_id="7"),
        row(2, 2, "clean", "a", 1, **nft, token_id="8"),
        row(3, 3, "seed", "a", 1, **nft, token_id="7"),
        row(4, 4, "a", "b", 1, **nft, token_id="8"),
        row(5, 5, "a", "c", 1, **nft, token_id="7"),
    ]
    result = run(rows, policy)
    assert balances(result) == {
        ("seed", "nft#7"): (1, 1, 0),
        ("a", "nft#7"): (1, 1, 0),
        ("c", "nft#7"): (1, 0, 1),
    }
    assert traced(result) == [
        (1, "victim", "seed", "nft#7", 1, 1),
        (3, "seed", "a", "nft#7", 1, 0),
        (5, "a", "c", "nft#7", 1, 0),
    ]


@pytest.mark.parametrize("policy", POLICIES)
def test_mixer_link_continues_the_trace_from_the_withdrawal(policy: Policy) -> None:
    rows = [
        row(1, 1, "victim", "seed", 1000),
        row(2, 2, "seed", "mixer", 100),
        row(3, 2, "clean", "mixer", 100),
        row(4, 5, "mixer", "w", 95, "internal", trace="0"),
        row(4, 5, "mixer", "relayer", 5, "internal", trace="1"),
        row(5, 6, "w", "b", 95),
    ]
    link = Link(tx(2), NAMES["w"], ETH, 95, 5, to_tx=tx(4), confidence=0.7)
    result = run(rows, policy, labels(mixer=Category.MIXER), links=[link])
    assert balances(result) == {
        ("seed", "ETH"): (1000, 100, 900),
        ("mixer", "ETH"): (100, 0, 100),
        ("w", "ETH"): (95, 95, 0),
        ("b", "ETH"): (95, 0, 95),
    }
    assert traced(result) == [
        (1, "victim", "seed", "ETH", 1000, 1000),
        (2, "seed", "mixer", "ETH", 100, 0),
        (4, "mixer", "w", "ETH", 95, 95),
        (5, "w", "b", "ETH", 95, 0),
    ]
    (conversion,) = result.conversions
    assert (conversion.kind.value, conversion.confidence) == ("link", 0.7)
    unlinked = run(rows, policy, labels(mixer=Category.MIXER))
    assert (NAMES["w"], ETH) not in unlinked.balances


def test_link_without_withdrawal_rows_is_a_synthetic_inflow() -> None:
    rows = [
        row(1, 1, "victim", "seed", 1000),
        row(2, 2, "seed", "mixer", 100),
        row(5, 6, "w", "b", 40),
    ]
    link = Link(tx(2), NAMES["w"], ETH, 90, 5)
    result = run(rows, Policy.HAIRCUT, labels(mixer=Category.MIXER), links=[link])
    assert balances(result) == {
        ("seed", "ETH"): (1000, 100, 900),
        ("mixer", "ETH"): (100, 0, 100),
        ("w", "ETH"): (90, 40, 50),
        ("b", "ETH"): (40, 0, 40),
    }


def test_result_frames_use_exact_decimal_strings() -> None:
    big = 2**255 + 12345  # beyond polars' 128-bit Decimal
    rows = [row(1, 1, "victim", "seed", big), row(2, 2, "seed", "a", big - 1)]
    result = run(rows, Policy.HAIRCUT)
    assert result.transfers["traced_raw"].to_list() == [str(big), str(big - 1)]
    frame = result.balances_frame()
    assert frame.schema["held_raw"] == pl.String
    assert frame.filter(pl.col("address") == NAMES["seed"])["held_raw"].item() == "1"


def test_bad_inputs_are_named() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'fifo'"):
        Policy.parse("fifi")
    two_chains = table(
        [row(1, 1, "victim", "seed", 1), {**row(2, 1, "seed", "a", 1), "chain_id": 1}]
    )
    with pytest.raises(InputError, match="one chain at a time"):
        trace_taint(two_chains, SEEDS)
    empty = trace_taint(table([]), SEEDS, "fifo")
    assert empty.balances == {}
    assert empty.transfers.is_empty()


@pytest.mark.parametrize("policy", POLICIES)
def test_chunked_loop_gives_the_same_result(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop holds a few rows at a time, cut at block ends; tiny chunks change nothing."""
    later = [
        dict(
            r,
            block_number=r["block_number"] + 10,
            transaction_hash=tx(int(r["transaction_hash"], 16) + 50),
        )
        for r in WRAP
    ]
    rows = [*SWAPS, *later]
    link_rows = [
        row(89, 29, "victim", "seed", 100),
        row(90, 30, "seed", "mixer", 100),
        row(91, 33, "mixer", "w", 95, "internal", trace="0"),
        row(92, 34, "w", "b", 95),
    ]
    rows += link_rows
    store = labels(**SWAP_LABELS, mixer=Category.MIXER)
    links = [
        Link(tx(90), NAMES["w"], ETH, 95, 33, to_tx=tx(91)),
        Link(tx(90), NAMES["d"], ETH, 5, 31),
    ]
    whole = trace_taint(table(rows), SEEDS, policy, store, links=links)
    monkeypatch.setattr("tracer.heuristics.taint.engine.CHUNK_ROWS", 2)
    chunked = trace_taint(table(rows), SEEDS, policy, store, links=links)
    assert chunked.balances == whole.balances
    assert chunked.transfers.equals(whole.transfers)
    assert chunked.conversions == whole.conversions
    kinds = {c.kind.value for c in whole.conversions}
    assert kinds == {"swap", "wrap", "unwrap", "link"}
