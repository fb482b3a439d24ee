"""Sanctions exposure over a transfer table: hops, blocks and exact per-asset amounts.

The scenario (blocks in brackets; S is sanctioned, X an exchange):

    [2] S -> M 1 ETH        [6]  M -> A 1 ETH      [20] A -> B 3 ETH    [30] B -> C 1 ETH
    [5] D -> A 7 ETH        [8]  A -> E 2 ETH      [10] S -> A 5 ETH    [11] S -> A 1000 USDC
    [12] S -> X 2 ETH       [13] S -> F 9 ETH (reverted)                [40] X -> Y 1 ETH
    [3] P -> Q 4 ETH        [4]  Q -> S 2 ETH      [50] R -> Q 1 ETH    [7] S -> S 1 ETH

A is one hop from S (block 10) but exposed since block 6 (through M), so its block-8
payment to E carries exposure, and E is three hops away (S -> M -> A -> E is the only
time-respecting path); D's 7 ETH into A does not count as exposed; Y is paid by an
exchange and is not tainted through it; F's transfer failed. Backward, Q paid S (hop 1) and
P paid Q before that (hop 2); R paid Q only afterwards.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tracer.crawl.crawler import CrawlResult
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.reports.json_report import build_report
from tracer.screening.exposure import Direction, exposure_json, sanctions_exposure
from tracer.transfers.schema import transfers_from_rows
from tracer.types import NATIVE_TOKEN, Address

ETH = 10**18
NAMES = ["S", "M", "A", "B", "C", "D", "E", "X", "Y", "F", "P", "Q", "R", "U"]
ADDRESS = {name: "0x" + f"{index + 1:02x}" * 20 for index, name in enumerate(NAMES)}
S, M, A, B, C, D, E, X, Y, F, P, Q, R, U = (ADDRESS[name] for name in NAMES)


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


def row(n: int, block: int, sender: str, recipient: str, raw: int, **extra: Any) -> dict[str, Any]:
    base = {
        "chain_id": 1,
        "block_number": block,
        "block_time": 1_700_000_000 + block * 12,
        "transaction_hash": tx(n),
        "transfer_kind": "native",
        "trace_address": "",
        "from_address": sender,
        "to_address": recipient,
        "token_address": NATIVE_TOKEN,
        "value_raw": str(raw),
        "tx_succeeded": True,
        "source": "test",
    }
    return base | extra


USDC = {"transfer_kind": "erc20", "token_address": U, "token_symbol": "USDC", "token_decimals": 6}
TABLE = transfers_from_rows(
    [
        row(1, 2, S, M, ETH),
        row(2, 3, P, Q, 4 * ETH),
        row(3, 4, Q, S, 2 * ETH),
        row(4, 5, D, A, 7 * ETH),
        row(5, 6, M, A, ETH),
        row(6, 8, A, E, 2 * ETH),
        row(7, 10, S, A, 5 * ETH),
        row(8, 11, S, A, 1000 * 10**6, log_index=0, trace_address=None, **USDC),
        row(9, 12, S, X, 2 * ETH),
        row(10, 13, S, F, 9 * ETH, tx_succeeded=False),
        row(11, 20, A, B, 3 * ETH),
        row(12, 30, B, C, ETH),
        row(13, 40, X, Y, ETH),
        row(14, 50, R, Q, ETH),
        row(15, 7, S, S, ETH),
    ]
)
STORE = LabelStore(
    [
        Label(
            S, "Lazarus Group", Category.SANCTIONED, "OFAC", designation="SDN", listed="2019-09-13"
        ),
        Label(X, "Exchange X", Category.EXCHANGE, "Etherscan", confidence=0.8),
        # A delisted designation is history: not a source of exposure.
        Label(Y, "Old entry", Category.SANCTIONED, "OFAC", delisted="2025-03-21"),
    ]
)


def eth(raw: int) -> dict[str, str]:
    return {
        "asset": "ETH",
        "token_address": NATIVE_TOKEN,
        "amount": str(raw // ETH),
        "amount_raw": str(raw),
    }


def test_forward_and_backward_exposure_in_full() -> None:
    report = exposure_json(sanctions_exposure(TABLE, STORE))
    assert report == {
        "stops_at": ["bridge", "dex", "exchange", "mixer", "otc"],
        "sanctioned": [
            {
                "address": S,
                "labels": [
                    {"entity": "Lazarus Group", "designation": "SDN", "listed": "2019-09-13",
                     "source": "OFAC"}
                ],
            }
        ],
        "forward": [
            {
                "address": M, "hops": 1, "first_block": 2, "entity": None, "category": None,
                "sources": [S], "counterparties": [S], "amounts": [eth(ETH)],
                "transactions": [tx(1)],
            },
            {
                "address": A, "hops": 1, "first_block": 6, "entity": None, "category": None,
                "sources": [S], "counterparties": [S, M],
                "amounts": [
                    {"asset": "USDC", "token_address": U, "amount": "1000",
                     "amount_raw": str(1000 * 10**6)},
                    eth(6 * ETH),
                ],
                "transactions": [tx(5), tx(7), tx(8)],
            },
            {
                "address": X, "hops": 1, "first_block": 12, "entity": "Exchange X",
                "category": "exchange", "sources": [S], "counterparties": [S],
                "amounts": [eth(2 * ETH)], "transactions": [tx(9)],
            },
            {
                "address": B, "hops": 2, "first_block": 20, "entity": None, "category": None,
                "sources": [S], "counterparties": [A], "amounts": [eth(3 * ETH)],
                "transactions": [tx(11)],
            },
            {
                "address": C, "hops": 3, "first_block": 30, "entity": None, "category": None,
                "sources": [S], "counterparties": [B], "amounts": [eth(ETH)],
                "transactions": [tx(12)],
            },
            {
                # Three hops: S -> M [2] -> A [6] -> E [8]; S -> A [10] came after A paid E.
                "address": E, "hops": 3, "first_block": 8, "entity": None, "category": None,
                "sources": [S], "counterparties": [A], "amounts": [eth(2 * ETH)],
                "transactions": [tx(6)],
            },
        ],
        "backward": [
            {
                "address": Q, "hops": 1, "last_block": 4, "entity": None, "category": None,
                "sources": [S], "counterparties": [S], "amounts": [eth(2 * ETH)],
                "transactions": [tx(3)],
            },
            {
                "address": P, "hops": 2, "last_block": 3, "entity": None, "category": None,
                "sources": [S], "counterparties": [Q], "amounts": [eth(4 * ETH)],
                "transactions": [tx(2)],
            },
        ],
    }  # fmt: skip


def test_a_hop_limit_cuts_paths_and_their_amounts_alike() -> None:
    result = sanctions_exposure(TABLE, STORE, max_hops=1)
    assert [(e.address, e.hops, e.block) for e in result.forward] == [
        (M, 1, 2),
        (A, 1, 10),  # the earlier two-hop arrival through M is beyond the limit
        (X, 1, 12),
    ]
    [a] = [e for e in result.forward if e.address == A]
    assert [(x.amount.symbol, x.amount.raw) for x in a.amounts] == [
        ("USDC", 1000 * 10**6),
        ("ETH", 5 * ETH),
    ]
    assert {e.direction for e in result.backward} == {Direction.BACKWARD}


def test_exposure_through_a_service_is_kept_when_services_are_not_stops() -> None:
    result = sanctions_exposure(TABLE, STORE, stop_at=())
    assert [(e.address, e.hops) for e in result.forward if e.address in (X, Y)] == [
        (X, 1),
        (Y, 2),
    ]


def test_different_sources_and_nft_ids_are_kept_apart() -> None:
    other = "0x" + "ee" * 20
    nft = {"transfer_kind": "erc1155", "token_address": U, "log_index": 1, "trace_address": None}
    table = pl.concat(
        [
            TABLE,
            transfers_from_rows(
                [
                    row(20, 60, other, M, 5, token_id="7", **nft),
                    row(21, 61, other, M, 3, token_id="8", **nft | {"log_index": 2}),
                ]
            ),
        ]
    )
    store = LabelStore([*STORE.all_labels(), Label(other, "Other", Category.SANCTIONED, "OFAC")])
    [m] = [e for e in sanctions_exposure(table, store).forward if e.address == M]
    assert m.sources == (S, other)
    assert [(x.amount.token_address, x.token_id, x.amount.raw) for x in m.amounts] == [
        (U, "7", 5),
        (U, "8", 3),
        (NATIVE_TOKEN, None, ETH),
    ]


def test_no_sanctioned_address_no_exposure() -> None:
    result = sanctions_exposure(TABLE, LabelStore())
    assert (result.sanctioned, result.forward, result.backward) == ((), (), ())
    empty = sanctions_exposure(TABLE.head(0), STORE)
    assert exposure_json(empty)["forward"] == []


def test_report_json_carries_the_exposure_for_the_traced_chain() -> None:
    bsc_only = Label(M, "BSC router", Category.DEX, "bscscan", chain_id=56)
    store = LabelStore([*STORE.all_labels(), bsc_only])
    report = build_report(
        chain_id=1,
        native_symbol="ETH",
        seeds=[Address(S)],
        crawl=CrawlResult(transfers=TABLE, head_block=60),
        labels=store,
    )
    # M's label is for another chain: on Ethereum it is no service, so exposure passes it.
    assert report["sanctions_exposure"] == exposure_json(sanctions_exposure(TABLE, STORE))
    on_bsc = build_report(
        chain_id=56,
        native_symbol="BNB",
        seeds=[Address(S)],
        crawl=CrawlResult(transfers=TABLE, head_block=60),
        labels=store,
    )
    forward = {e["address"]: e for e in on_bsc["sanctions_exposure"]["forward"]}
    assert forward[M]["category"] == "dex"
    assert forward[A]["first_block"] == 10  # M is a stop on BSC
    assert forward[A]["amounts"][1]["asset"] == "BNB"
