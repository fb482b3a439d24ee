"""Off-ramps reached by traced funds: concrete cases with the full output asserted, and the
testbed's non-mixer off-ramps checked against ground truth (exact amounts, zero decoys)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from tests.conftest import Testbed
from tests.heuristics.test_deposit_address import (
    BRIDGE,
    CHAIN,
    ETH,
    FEE,
    HOT_A,
    HOT_B,
    OTHER,
    TUSD,
    USER,
    addr,
    deposit_expectations,
    labels,
    move,
    read_testbed_table,
    table,
    token_move,
    tx,
)
from tracer.amounts import AssetAmount
from tracer.heuristics.exchanges.deposit_address import detect_deposit_addresses
from tracer.heuristics.exchanges.offramps import (
    Arrival,
    Offramp,
    find_offramps,
    traced_from_addresses,
)
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.transfers.schema import UNIQUE_KEY
from tracer.types import NATIVE_TOKEN

THIEF, HOP = addr("thief"), addr("hop")
DEPOSIT, DECOY = addr("deposit"), addr("decoy")
OTC, POOL, RECIPIENT = addr("otc"), addr("pool"), addr("recipient")


def store() -> LabelStore:
    extra = [
        Label(OTC, "Desk X", Category.OTC, "test", confidence=0.8),
        Label(POOL, "Mixer pool", Category.MIXER, "test"),
    ]
    base = labels()
    for label in extra:
        base.add(label)
    return base


def rows() -> list[dict[str, Any]]:
    return [
        move(1, 0, USER, THIEF, 100 * ETH, tx_hash=tx(100)),
        token_move(1, 0, USER, THIEF, 9_000_000, tx_hash=tx(101)),
        # The thief pays a deposit address (which then sweeps to Exchange A) twice, in ETH
        # and tUSD; an innocent's deposit address (the decoy) is paid by someone else.
        move(2, 1, THIEF, DEPOSIT, 10 * ETH, tx_hash=tx(102)),
        token_move(2, 1, THIEF, DEPOSIT, 9_000_000, tx_hash=tx(103)),
        move(3, 2, DEPOSIT, HOT_A, 10 * ETH - FEE, tx_hash=tx(104)),
        move(3, 2, HOT_A, DEPOSIT, 3 * 10**15, tx_hash=tx(105)),
        token_move(4, 3, DEPOSIT, HOT_A, 9_000_000, tx_hash=tx(106)),
        move(2, 1, OTHER, DECOY, 4 * ETH, tx_hash=tx(107)),
        move(3, 2, DECOY, HOT_A, 4 * ETH - FEE, tx_hash=tx(108)),
        # Straight to a hot wallet, an OTC desk, a bridge; into a mixer (not an off-ramp).
        move(4, 3, THIEF, HOT_B, 5 * ETH, tx_hash=tx(109)),
        move(4, 3, THIEF, OTC, 20 * ETH, tx_hash=tx(110)),
        move(5, 4, THIEF, BRIDGE, 30 * ETH, tx_hash=tx(111)),
        move(5, 4, THIEF, POOL, 10 * ETH, tx_hash=tx(112)),
        # A hop the trace follows, then the OTC desk again.
        move(6, 5, THIEF, HOP, 25 * ETH - 2 * FEE, tx_hash=tx(113)),
        move(7, 6, HOP, OTC, 25 * ETH - 3 * FEE, tx_hash=tx(114)),
    ]


BRIDGE_EVENTS = pl.DataFrame(
    {
        "chain_id": [CHAIN],
        "transaction_hash": [tx(111)],
        "log_index": [3],
        "event": ["bridge_deposit"],
        "account": [THIEF],
        "counterparty": [RECIPIENT],
        "destination_chain_id": [137],
        "token_address": [NATIVE_TOKEN],
        "amount_raw": [str(30 * ETH)],
    }
)
TOKENS = {TUSD: ("tUSD", 6)}


def eth(raw: int) -> AssetAmount:
    return AssetAmount(NATIVE_TOKEN, "ETH", 18, raw)


def expected(otc_raw: int, otc_arrivals: tuple[Arrival, ...]) -> tuple[Offramp, ...]:
    return (
        Offramp(
            CHAIN, BRIDGE, "bridge", "Bridge", eth(30 * ETH), 1.0,
            (Arrival(tx(111), 5, 30 * ETH, 137, RECIPIENT),), (tx(111),), "label",
        ),
        Offramp(
            CHAIN, HOT_B, "exchange", "Exchange B", eth(5 * ETH), 0.9,
            (Arrival(tx(109), 4, 5 * ETH),), (tx(109),), "label",
        ),
        Offramp(
            CHAIN, DEPOSIT, "exchange_deposit", "Exchange A",
            AssetAmount(TUSD, "tUSD", 6, 9_000_000), 0.94,
            (Arrival(tx(103), 2, 9_000_000),), (tx(103), tx(106)),
            "exchange-deposit-address",
        ),
        Offramp(
            CHAIN, DEPOSIT, "exchange_deposit", "Exchange A", eth(10 * ETH), 0.94,
            (Arrival(tx(102), 2, 10 * ETH),), (tx(102), tx(104)),
            "exchange-deposit-address",
        ),
        Offramp(
            CHAIN, OTC, "otc", "Desk X", eth(otc_raw), 0.8, otc_arrivals,
            tuple(a.transaction_hash for a in otc_arrivals), "label",
        ),
    )  # fmt: skip


def test_offramps_of_a_traced_address_set() -> None:
    transfers = table(rows())
    deposits = detect_deposit_addresses(transfers, store())
    assert {d.address for d in deposits} == {DEPOSIT, DECOY}
    found = find_offramps(
        transfers, store(), {THIEF, HOP}, deposit_addresses=deposits,
        events=BRIDGE_EVENTS, token_info=TOKENS,
    )  # fmt: skip
    otc_arrivals = (Arrival(tx(110), 4, 20 * ETH), Arrival(tx(114), 7, 25 * ETH - 3 * FEE))
    assert found == expected(45 * ETH - 3 * FEE, otc_arrivals)
    assert DECOY not in {o.address for o in found}


def test_a_traced_frame_counts_only_the_traced_part_and_never_a_sweep_twice() -> None:
    transfers = table(rows())
    deposits = detect_deposit_addresses(transfers, store())
    # A taint policy that followed everything, including the sweep into the hot wallet, and
    # only half of the hop's payment to the OTC desk.
    frame = traced_from_addresses(transfers, {THIEF, HOP, DEPOSIT})
    half = (25 * ETH - 3 * FEE) // 2
    frame = frame.with_columns(
        pl.when(pl.col("transaction_hash") == tx(114))
        .then(pl.lit(str(half)))
        .otherwise(pl.col("traced_raw"))
        .alias("traced_raw")
    )
    found = find_offramps(
        transfers, store(), frame, deposit_addresses=deposits,
        events=BRIDGE_EVENTS, token_info=TOKENS,
    )  # fmt: skip
    otc_arrivals = (Arrival(tx(110), 4, 20 * ETH), Arrival(tx(114), 7, half))
    assert found == expected(20 * ETH + half, otc_arrivals)


def test_report_json_and_unknown_decimals() -> None:
    transfers = table(rows())
    deposits = detect_deposit_addresses(transfers, store())
    found = find_offramps(transfers, store(), {THIEF}, deposit_addresses=deposits)
    token = next(o for o in found if o.asset.token_address == TUSD)
    assert token.amount is None  # the table does not know tUSD's decimals
    bridge = found[0]
    assert bridge.to_json() == {
        "address": BRIDGE,
        "category": "bridge",
        "entity": "Bridge",
        "asset": "ETH",
        "amount": "30",
        "confidence": 1.0,
        "evidence": [tx(111)],
        "chain_id": CHAIN,
        "token_address": NATIVE_TOKEN,
        "decimals": 18,
        "amount_raw": str(30 * ETH),
        "identified_by": "label",
        "arrivals": [{"tx": tx(111), "block": 5, "amount_raw": str(30 * ETH)}],
    }


def test_a_traced_frame_must_carry_the_key_and_traced_raw() -> None:
    transfers = table(rows())
    with pytest.raises(ValueError, match="traced_raw"):
        find_offramps(transfers, store(), transfers.select(UNIQUE_KEY))


async def test_testbed_non_mixer_offramps_match_ground_truth_with_zero_decoys(
    testbed_small: Testbed,
) -> None:
    gt = testbed_small.built.ground_truth
    transfers = await read_testbed_table(testbed_small)
    labels_ = LabelStore.from_files([testbed_small.out_dir / "labels.csv"])
    deposits = detect_deposit_addresses(transfers, labels_)
    assert {d.address for d in deposits} == set(deposit_expectations(gt)[0])
    after_mixer = {w["address"] for w in gt["thief"]["withdrawal_addresses"]}
    traced = set(gt["thief"]["wallets"]) - after_mixer - {gt["thief"]["collector"]}
    tokens = {t["address"]: (symbol, t["decimals"]) for symbol, t in gt["tokens"].items()}
    found = find_offramps(transfers, labels_, traced, deposit_addresses=deposits, token_info=tokens)

    expected: dict[tuple[str, str], tuple[str, str, int, list[str]]] = {}
    for offramp in gt["offramps"]:
        arrivals = [a for a in offramp["arrivals"] if not a["via_mixer"]]
        if arrivals:
            key = (offramp["address"], offramp["asset"]["symbol"])
            amount = sum(int(a["amount"]) for a in arrivals)
            expected[key] = (
                offramp["category"],
                offramp["entity"],
                amount,
                [a["tx"] for a in arrivals],
            )
    got = {
        (o.address, o.asset.symbol): (
            o.category, o.entity, o.traced_raw, [a.transaction_hash for a in o.arrivals]
        )
        for o in found
    }  # fmt: skip
    assert got == expected
    assert all(o.amount is not None for o in found)
    decoys = {d["address"] for d in gt["decoys"]}
    assert not decoys & {o.address for o in found}

    # Tracing every thief wallet (through the mixers too) reaches exactly the ground truth.
    everything = find_offramps(
        transfers, labels_, gt["thief"]["wallets"], deposit_addresses=deposits, token_info=tokens
    )
    assert {(o.address, o.asset.symbol): (str(o.traced_raw), o.amount) for o in everything} == {
        (o["address"], o["asset"]["symbol"]): (o["amount"], o["amount_units"])
        for o in gt["offramps"]
    }
    assert not decoys & {o.address for o in everything}
