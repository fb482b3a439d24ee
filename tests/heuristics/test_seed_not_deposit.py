"""A seed that pays a labelled exchange in one move is the thief, not an exchange deposit."""

from __future__ import annotations

import polars as pl

from tests.heuristics.test_taint_cases import NAMES, labels, row, table
from tracer.analysis import analyse_case
from tracer.heuristics.exchanges.deposit_address import detect_deposit_addresses
from tracer.labels.model import Category
from tracer.protocols.events import EVENT_SCHEMA, TRANSACTION_SCHEMA
from tracer.types import Address

STOLEN = 10 * 10**18
GAS = 21_000 * 30 * 10**9  # what the seed keeps back: exactly a sweep's shortfall


def test_seed_cashing_out_in_one_move_is_not_reported_as_a_deposit_address() -> None:
    transfers = table(
        [
            row(1, 10, "victim", "seed", STOLEN),
            row(2, 12, "seed", "exchange", STOLEN - GAS),
        ]
    )
    store = labels(exchange=Category.EXCHANGE)
    # By behaviour alone the seed is a deposit address: it swept its one deposit to the exchange.
    assert [d.address for d in detect_deposit_addresses(transfers, store)] == [NAMES["seed"]]
    analysis = analyse_case(
        transfers,
        pl.DataFrame(schema=EVENT_SCHEMA),
        pl.DataFrame(schema=TRANSACTION_SCHEMA),
        [Address(NAMES["seed"])],
        store,
    )
    assert [(o.address, o.category, o.traced_raw) for o in analysis.offramps] == [
        (NAMES["exchange"], "exchange", STOLEN - GAS)
    ]
    assert not [
        f for f in analysis.findings if NAMES["seed"] in f.subjects and "deposit" in f.heuristic
    ]
