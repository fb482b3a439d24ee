"""Protocol events decoded from the testbed chain equal its ground truth, and the crawl
writes them (events.parquet, transactions.parquet) and re-runs without a request.

The shared ``testbed_small`` node is only read. Every expectation comes from
ground_truth.json (what the scenario did), never from tracer's own output."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import Testbed
from tracer.crawl.case import TraceOptions, run_case
from tracer.crawl.crawler import CrawlLimits
from tracer.labels.store import LabelStore
from tracer.protocols.events import EVENT_SCHEMA, TRANSACTION_SCHEMA, topics_of
from tracer.protocols.specs import PROTOCOL_EVENTS
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.transport import EndpointLimits, Transport
from tracer.testbed.anvil import free_loopback_port
from tracer.types import ZERO_ADDRESS

UNLIMITED = EndpointLimits(requests_per_second=None, max_concurrent=16)


def ground_truth(testbed: Testbed) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((testbed.out_dir / "ground_truth.json").read_text())
    return document


@pytest.fixture
async def source(testbed_small: Testbed) -> AsyncIterator[JsonRpcSource]:
    async with Transport() as transport:
        yield JsonRpcSource.connect(transport, testbed_small.url, limits=UNLIMITED)


async def all_events(source: JsonRpcSource, truth: dict[str, Any]) -> pl.DataFrame:
    contracts = truth["contracts"]
    addresses = [
        *contracts["mixer_pools"].values(),
        contracts["dex_pair"],
        contracts["weth"],
        contracts["bridge"],
    ]
    last = truth["scenario"]["last_block"]
    return await source.events_for_contracts(addresses, topics_of(PROTOCOL_EVENTS), 0, last)


def of(events: pl.DataFrame, kind: str) -> pl.DataFrame:
    return events.filter(pl.col("event") == kind)


async def test_mixer_events_equal_the_ground_truth(
    source: JsonRpcSource, testbed_small: Testbed
) -> None:
    truth = ground_truth(testbed_small)
    events = await all_events(source, truth)
    assert events.schema == EVENT_SCHEMA
    assert source.skipped == {}
    links = truth["mixer_links"] + truth["innocent_mixer_links"]
    counts = truth["scenario"]["counts"]
    deposits, withdrawals = of(events, "mixer_deposit"), of(events, "mixer_withdrawal")
    assert deposits.height == counts["mixer_deposits"] == len(links)
    assert withdrawals.height == counts["mixer_withdrawals"]

    assert set(
        deposits.select(
            "contract_address", "commitment_or_nullifier", "transaction_hash"
        ).iter_rows()
    ) == {(link["pool"], link["commitment"], link["deposit_tx"]) for link in links}
    assert set(
        withdrawals.select(
            "contract_address",
            "commitment_or_nullifier",
            "transaction_hash",
            "account",
            "counterparty",
            "fee_raw",
        ).iter_rows()
    ) == {
        (
            link["pool"],
            link["nullifier_hash"],
            link["withdrawal_tx"],
            link["withdrawal_address"],
            link["relayer"] or ZERO_ADDRESS,  # no relayer: Tornado's relayer argument is 0x0
            link["fee"],
        )
        for link in links
    }
    assert deposits["block_time"].null_count() == 0

    # The depositor is not in the event: it is the deposit transaction's sender.
    facts, in_txs = await source.transactions_and_events(deposits["transaction_hash"])
    assert facts.schema == TRANSACTION_SCHEMA
    depositors = of(in_txs, "mixer_deposit").select("transaction_hash", "account")
    assert set(depositors.iter_rows()) == {
        (link["deposit_tx"], link["depositor"]) for link in links
    }
    assert set(facts.select("transaction_hash", "from_address").iter_rows()) == set(
        depositors.iter_rows()
    )
    assert facts["status"].to_list() == [True] * len(links)


async def test_swaps_wraps_and_bridge_deposits_equal_the_ground_truth(
    source: JsonRpcSource, testbed_small: Testbed
) -> None:
    truth = ground_truth(testbed_small)
    events = await all_events(source, truth)
    counts = truth["scenario"]["counts"]
    contracts = truth["contracts"]
    swaps = of(events, "swap_v2")
    assert swaps.height == counts["swaps"]
    assert set(swaps["contract_address"]) == {contracts["dex_pair"]}
    assert set(swaps["account"]) == {contracts["dex_router"]}  # the router calls the pair

    # The thief's ETH -> tUSD swaps: WETH in and tUSD out, summed exactly.
    token0, _token1 = sorted((contracts["tusd"], contracts["weth"]))
    weth_in, tusd_out = (
        ("amount1_in", "amount0_out")
        if token0 == contracts["tusd"]
        else (
            "amount0_in",
            "amount1_out",
        )
    )
    thief = swaps.filter(
        pl.col("counterparty").is_in(truth["thief"]["wallets"]) & (pl.col(weth_in) != "0")
    )
    accounting = truth["thief_accounting"]
    assert sum(map(int, thief[weth_in])) == int(accounting["eth_swapped_for_tusd"])
    assert sum(map(int, thief[tusd_out])) == int(accounting["tusd_bought"])

    # Every router swap wraps (ETH in) or unwraps (ETH out) once; WETH the router received is
    # what it wrapped plus what the pair sent it to unwrap.
    router = contracts["dex_router"]
    by_router = events.filter(
        pl.col("event").is_in(["wrap", "unwrap"]) & (pl.col("account") == router)
    )
    assert set(by_router["contract_address"]) == {contracts["weth"]}
    assert by_router.height == counts["swaps"]
    received = truth["accounts"][router]["WETH"]["received"]
    assert sum(map(int, by_router["amount_raw"])) == int(received)

    bridged = of(events, "bridge_deposit")
    assert bridged.height == counts["bridge_deposits"]
    arrivals = [
        arrival
        for offramp in truth["offramps"]
        if offramp["category"] == "bridge"
        for arrival in offramp["arrivals"]
    ]
    assert arrivals
    rows = {row["transaction_hash"]: row for row in bridged.to_dicts()}
    for arrival in arrivals:
        row = rows[arrival["tx"]]
        assert row["destination_chain_id"] == arrival["destination_chain_id"]
        assert row["counterparty"] == arrival["recipient"]
        assert row["amount_raw"] == arrival["amount"]
        assert row["contract_address"] == contracts["bridge"]


def dead_url() -> str:
    return f"http://127.0.0.1:{free_loopback_port()}"


async def test_the_crawl_collects_events_and_reruns_without_requests(
    testbed_small: Testbed, tmp_path: Path
) -> None:
    truth = ground_truth(testbed_small)
    out = tmp_path / "case"
    options = TraceOptions(
        seeds=tuple(truth["seeds"]),
        rpc_url=testbed_small.url,
        out=out,
        limits=CrawlLimits(max_hops=3),
        cache_path=out / "cache.sqlite",
        confirmations=0,
        endpoint_limits=UNLIMITED,
    )
    labels = LabelStore.from_files([testbed_small.out_dir / "labels.csv"])
    first = await run_case(options, labels)
    events, transactions = first.protocol.events, first.protocol.transactions
    traced = set(first.crawl.transfers["transaction_hash"])
    assert traced <= set(transactions["transaction_hash"])
    assert transactions["from_address"].null_count() == 0

    # The thief's deposits are in the traced transactions; their pools' histories bring
    # every other deposit and withdrawal of those pools over the window.
    thief_links = [link for link in truth["mixer_links"] if link["deposit_tx"] in traced]
    assert thief_links
    pools = {link["pool"] for link in thief_links}
    everyone = [
        link
        for link in truth["mixer_links"] + truth["innocent_mixer_links"]
        if link["pool"] in pools
    ]
    deposits = of(events, "mixer_deposit").select(
        "contract_address", "commitment_or_nullifier", "account"
    )
    assert set(deposits.iter_rows()) == {
        (link["pool"], link["commitment"], link["depositor"]) for link in everyone
    }
    withdrawals = of(events, "mixer_withdrawal").select(
        "contract_address", "commitment_or_nullifier"
    )
    assert set(withdrawals.iter_rows()) == {
        (link["pool"], link["nullifier_hash"]) for link in everyone
    }

    # A re-run of the finished case: loaded, with its events, and not one request.
    again = await run_case(replace(options, rpc_url=dead_url()), labels)
    assert again.stats.http_requests == 0
    assert again.protocol.events.equals(events)
    assert again.protocol.transactions.equals(transactions)


def test_trace_writes_the_event_tables(testbed_small: Testbed, tmp_path: Path) -> None:
    truth = ground_truth(testbed_small)
    out = tmp_path / "cli"
    command = [
        sys.executable, "-m", "tracer", "trace", *truth["seeds"],
        "--rpc-url", testbed_small.url, "--labels", str(testbed_small.out_dir / "labels.csv"),
        "--out", str(out), "--confirmations", "0", "--max-hops", "2",
    ]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    events = pl.read_parquet(out / "events.parquet")
    transactions = pl.read_parquet(out / "transactions.parquet")
    assert events.schema == EVENT_SCHEMA and transactions.schema == TRANSACTION_SCHEMA
    assert set(pl.read_parquet(out / "transfers.parquet")["transaction_hash"]) <= set(
        transactions["transaction_hash"]
    )
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert "0 HTTP requests (0 JSON-RPC calls)" in again.stdout
    assert pl.read_parquet(out / "events.parquet").equals(events)
