"""Seed → off-ramp paths in report.json, on small cases with every hop asserted."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from tests.heuristics.test_taint import PEEL, SWAP_LABELS, SWAPS
from tests.heuristics.test_taint_cases import ETH, NAMES, labels, row, table, tx
from tracer.graph.build import build_flow_graph
from tracer.graph.tables import token_info_of
from tracer.heuristics.exchanges.offramps import TRACED_COLUMNS, find_offramps
from tracer.heuristics.taint import Link, Policy, trace_taint
from tracer.labels.model import Category
from tracer.labels.store import LabelStore
from tracer.reports import paths
from tracer.reports.paths import add_offramp_paths
from tracer.transfers.schema import TRANSFER_KINDS
from tracer.types import NATIVE_TOKEN

SEED = NAMES["seed"]


def traced_report(
    rows: list[dict[str, Any]],
    store: LabelStore,
    links: Iterable[Link] = (),
    mixer_links: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The off-ramps of a case as tracer trace reports them, with their paths added."""
    transfers = table(rows)
    taint = trace_taint(transfers, [SEED], Policy.HAIRCUT, store, links=list(links))
    traced = taint.transfers.select(TRACED_COLUMNS).with_columns(
        pl.col("transfer_kind").cast(TRANSFER_KINDS)
    )
    report = {
        "offramps": [o.to_json() for o in find_offramps(transfers, store, traced)],
        "mixer_links": list(mixer_links),
    }
    add_offramp_paths(
        report,
        build_flow_graph(transfers, taint, store),
        token_info=token_info_of(transfers),
        native_symbol="ETH",
        conversions=taint.conversions,
    )
    return report


def when(block: int) -> str:
    moment = datetime.fromtimestamp(1_700_000_000 + 12 * block, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hop(  # noqa: PLR0917 (a hop, field by field)
    src: str, dst: str, n: int, block: int, raw: int, amount: str
) -> dict[str, Any]:
    """A hop in ETH (18 decimals): ``amount`` is ``raw`` in whole units, written out."""
    return {
        "from": NAMES[src], "to": NAMES[dst], "tx": tx(n), "block": block, "time": when(block),
        "asset": "ETH", "token_address": NATIVE_TOKEN, "decimals": 18, "amount": amount,
        "amount_raw": str(raw),
    }  # fmt: skip


def test_peel_chain_paths_largest_arrival_first_with_every_hop() -> None:
    [offramp] = traced_report(PEEL, labels(exchange=Category.EXCHANGE))["offramps"]
    assert offramp["amount_raw"] == "1000"
    assert [(a["tx"], a["time"]) for a in offramp["arrivals"]] == [
        (tx(2), when(2)),
        (tx(4), when(3)),
        (tx(6), when(5)),
    ]
    assert offramp["paths"] == [
        {
            "seed": SEED,
            "omitted_hops": 0,
            "hops": [
                hop("seed", "a", 3, 2, 900, "0.0000000000000009"),
                hop("a", "b", 5, 4, 800, "0.0000000000000008"),
                hop("b", "exchange", 6, 5, 800, "0.0000000000000008"),
            ],
        },
        # Equal arrivals (100 each): the earlier first.
        {
            "seed": SEED,
            "omitted_hops": 0,
            "hops": [hop("seed", "exchange", 2, 2, 100, "0.0000000000000001")],
        },
        {
            "seed": SEED,
            "omitted_hops": 0,
            "hops": [
                hop("seed", "a", 3, 2, 900, "0.0000000000000009"),
                hop("a", "exchange", 4, 3, 100, "0.0000000000000001"),
            ],
        },
    ]
    assert offramp["paths_omitted"] == 0


def test_limits_say_what_they_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "MAX_PATHS", 1)
    monkeypatch.setattr(paths, "MAX_HOPS", 2)
    [offramp] = traced_report(PEEL, labels(exchange=Category.EXCHANGE))["offramps"]
    assert offramp["paths"] == [
        {
            "seed": SEED,
            "omitted_hops": 1,  # seed → a, before the two hops kept
            "hops": [
                hop("a", "b", 5, 4, 800, "0.0000000000000008"),
                hop("b", "exchange", 6, 5, 800, "0.0000000000000008"),
            ],
        }
    ]
    assert offramp["paths_omitted"] == 2


def test_after_a_swap_the_path_follows_the_asset_sold_not_the_dex() -> None:
    rows = [*SWAPS, row(6, 6, "a", "exchange", 300_000, "erc20", token="tusd", log=5, decimals=6)]
    report = traced_report(rows, labels(exchange=Category.EXCHANGE, **SWAP_LABELS))
    [offramp] = [o for o in report["offramps"] if o["address"] == NAMES["exchange"]]
    # a holds 300,000 traced tUSD after tx 5 (600,000 bought, 300,000 sold back): haircut
    # sends floor(300,000 * 300,000 / 500,000) = 180,000 of them on.
    assert offramp["amount_raw"] == "180000"
    [path] = offramp["paths"]
    assert path == {
        "seed": SEED,
        "omitted_hops": 0,
        "hops": [
            hop("seed", "a", 3, 3, 6000, "0.000000000000006"),
            {
                "from": NAMES["a"],
                "to": NAMES["exchange"],
                "tx": tx(6),
                "block": 6,
                "time": when(6),
                "asset": "token 0x75757575…",
                "token_address": NAMES["tusd"],
                "decimals": 6,
                "amount": "0.18",
                "amount_raw": "180000",
            },
        ],
    }


def test_through_a_mixer_the_path_takes_the_linked_deposit() -> None:
    rows = [
        row(1, 1, "victim", "seed", 1000),
        row(2, 2, "seed", "mixer", 300),
        row(3, 3, "seed", "mixer", 100),
        row(4, 5, "mixer", "w", 100, "internal", trace="0"),
        row(5, 6, "w", "exchange", 100),
    ]
    link = Link(tx(3), NAMES["w"], ETH, 100, 5, to_tx=tx(4))
    report = traced_report(
        rows,
        labels(mixer=Category.MIXER, exchange=Category.EXCHANGE),
        links=[link],
        mixer_links=[{"deposit_tx": tx(3), "withdrawal_tx": tx(4)}],
    )
    [offramp] = report["offramps"]
    assert offramp["paths"] == [
        {
            "seed": SEED,
            "omitted_hops": 0,
            "hops": [
                # The larger deposit (tx 2) is not the one the link names.
                hop("seed", "mixer", 3, 3, 100, "0.0000000000000001"),
                hop("mixer", "w", 4, 5, 100, "0.0000000000000001"),
                hop("w", "exchange", 5, 6, 100, "0.0000000000000001"),
            ],
        }
    ]
