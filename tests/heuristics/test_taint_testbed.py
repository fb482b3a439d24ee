"""The taint engine on the small testbed scenario, against its ground truth.

The table is what tracer's own crawl of the seed returns from the real anvil. The thief's
wallets hold only stolen funds, so every policy must trace exactly the ground truth's amount
into every off-ramp not reached through a mixer; haircut and FIFO must conserve traced value.
"""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl
import pytest

from tests.conftest import Testbed
from tests.crawl.conftest import UNLIMITED
from tests.heuristics.test_taint_cases import assert_conserved
from tracer.crawl.crawler import Crawler, CrawlLimits
from tracer.graph.build import build_flow_graph
from tracer.graph.paths import seed_paths
from tracer.heuristics.taint import Asset, Policy, trace_taint
from tracer.labels.store import LabelStore
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.transport import Transport
from tracer.types import Address


async def _crawl(testbed: Testbed, labels: LabelStore, gt: dict[str, Any]) -> pl.DataFrame:
    async with Transport() as transport:
        source = JsonRpcSource.connect(transport, testbed.url, limits=UNLIMITED)
        limits = CrawlLimits(to_block=gt["scenario"]["last_block"])
        result = await Crawler(source, labels, limits).crawl([Address(s) for s in gt["seeds"]])
    return result.transfers


@pytest.fixture(scope="module")
def crawled(testbed_small: Testbed) -> tuple[pl.DataFrame, LabelStore, dict[str, Any]]:
    gt = testbed_small.built.ground_truth
    labels = LabelStore.from_files([testbed_small.out_dir / "labels.csv"])
    return asyncio.run(_crawl(testbed_small, labels, gt)), labels, gt


@pytest.mark.parametrize("policy", list(Policy))
def test_direct_offramps_receive_exactly_the_ground_truth(
    crawled: tuple[pl.DataFrame, LabelStore, dict[str, Any]], policy: Policy
) -> None:
    transfers, labels, gt = crawled
    result = trace_taint(transfers, gt["seeds"], policy, labels)
    if policy is not Policy.POISON:
        assert_conserved(result)
    direct = [offramp for offramp in gt["offramps"] if not offramp["via_mixer"]]
    assert direct
    got = {
        (o["address"], o["asset"]["symbol"]): result.received_at(
            o["address"], Asset(o["asset"]["address"])
        )
        for o in direct
    }
    assert got == {(o["address"], o["asset"]["symbol"]): int(o["amount"]) for o in direct}
    # Decoys (innocent deposit addresses) never receive traced value.
    decoys = {decoy["address"] for decoy in gt["decoys"]}
    assert not decoys & {address for address, _ in result.balances}


def test_paths_to_direct_offramps_follow_the_ground_truth_transactions(
    crawled: tuple[pl.DataFrame, LabelStore, dict[str, Any]],
) -> None:
    transfers, labels, gt = crawled
    result = trace_taint(transfers, gt["seeds"], Policy.HAIRCUT, labels)
    graph = build_flow_graph(transfers, result, labels)
    direct = [offramp for offramp in gt["offramps"] if not offramp["via_mixer"]]
    paths = seed_paths(graph, gt["seeds"], [o["address"] for o in direct])
    assert set(paths) == {o["address"] for o in direct}
    for offramp in direct:
        path = paths[offramp["address"]]
        assert path.addresses[0] == gt["seeds"][0]
        assert set(path.tx_hashes) <= set(offramp["path_txs"]), offramp["address"]
