"""The crawler against a real anvil: forward in time, policies, limits, stops, coverage."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import polars as pl
import pytest

from tests.crawl.activity import ETH, Tree, unit
from tests.crawl.conftest import UNLIMITED
from tracer.crawl.checkpoint import Checkpoint
from tracer.crawl.crawler import (
    Coverage,
    CoverageStatus,
    Crawler,
    CrawlLimits,
    CrawlProgress,
    CrawlResult,
)
from tracer.crawl.frontier import FrontierPolicy
from tracer.errors import EndpointUnreachableError
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.transport import Transport
from tracer.testbed.anvil import AnvilNode
from tracer.types import NATIVE_TOKEN, Address


async def crawl(
    node: AnvilNode,
    transport: Transport,
    tree: Tree,
    labels: LabelStore | None = None,
    checkpoint: Checkpoint | None = None,
    **limits: object,
) -> CrawlResult:
    source = JsonRpcSource.connect(transport, node.url, limits=UNLIMITED)
    settings = CrawlLimits(to_block=tree.head, **limits)  # type: ignore[arg-type]
    crawler = Crawler(source, labels or LabelStore(), settings, checkpoint=checkpoint)
    return await crawler.crawl([tree.seed])


def status(result: CrawlResult, address: Address) -> tuple[int, CoverageStatus, str | None]:
    entry = result.coverage[address]
    return entry.hop, entry.status, entry.reason


async def test_breadth_first_crawl_covers_the_tree_forward_in_time(
    tree_node: AnvilNode, transport: Transport, tree: Tree
) -> None:
    result = await crawl(tree_node, transport, tree)
    assert set(result.coverage) == set(tree.addresses)
    for hop, level in enumerate(tree.levels):
        for address in level:
            assert status(result, address) == (hop, CoverageStatus.COMPLETE, None)
    # Each tree address's history starts where traced value reached it.
    first_child = tree.levels[1][0]
    assert result.coverage[first_child].from_block == tree.theft_block + 1
    # The decoy was paid before the theft: not traced, not in the table.
    assert tree.decoy not in result.coverage
    table = result.transfers
    assert table.filter(pl.col("to_address") == tree.decoy).height == 0
    # One native transfer into every tree address, exact amounts.
    received = dict(
        table.filter(pl.col("to_address").is_in(list(tree.addresses)))
        .select("to_address", "value_raw")
        .iter_rows()
    )
    assert received == {address: str(wei) for address, wei in tree.amounts.items()}
    assert table["source"].unique().sort().to_list() == ["rpc:trace_filter"]
    assert table["request_key"].null_count() == 0


async def test_hop_limit_truncates_and_says_so(
    tree_node: AnvilNode, transport: Transport, tree: Tree
) -> None:
    result = await crawl(tree_node, transport, tree, max_hops=1)
    assert set(result.coverage) == {tree.seed, *tree.levels[1]}
    assert status(result, tree.seed) == (0, CoverageStatus.COMPLETE, None)
    for address in tree.levels[1]:
        assert status(result, address) == (
            1,
            CoverageStatus.TRUNCATED,
            "hop limit 1 reached: outflows not followed",
        )


async def test_address_budget_breadth_first_versus_taint_priority(
    tree_node: AnvilNode, transport: Transport, tree: Tree
) -> None:
    children = tree.levels[1]  # child j received (j + 1) ETH
    bfs = await crawl(tree_node, transport, tree, max_addresses=3)
    fetched = {a for a, c in bfs.coverage.items() if c.reason is None or "budget" not in c.reason}
    assert fetched == {tree.seed, children[0], children[1]}  # lowest addresses first
    budget = "address budget of 3 reached: not fetched"
    assert {a for a, c in bfs.coverage.items() if c.reason == budget} >= set(children[2:])

    taint = await crawl(tree_node, transport, tree, max_addresses=3, policy=FrontierPolicy.TAINT)
    fetched = {a for a, c in taint.coverage.items() if c.reason is None or "budget" not in c.reason}
    assert fetched == {tree.seed, children[4], children[3]}  # most traced value first
    # The children of the fetched ones were queued, then left out when the budget ran out.
    assert taint.coverage[tree.levels[2][4 * 5]].reason == budget


async def test_minimum_value_keeps_small_outflows_but_does_not_follow_them(
    tree_node: AnvilNode, transport: Transport, tree: Tree
) -> None:
    result = await crawl(tree_node, transport, tree, max_hops=1, min_value={NATIVE_TOKEN: 3 * ETH})
    children = tree.levels[1]
    assert set(result.coverage) == {tree.seed, *children[2:]}
    # The 1 and 2 ETH outflows are still in the table, only not followed.
    small = result.transfers.filter(pl.col("to_address").is_in(list(children[:2])))
    assert sorted(small["value_raw"].to_list()) == [str(ETH), str(2 * ETH)]


async def test_hubs_and_labelled_services_stop_the_crawl_but_keep_the_inflows(
    tree_node: AnvilNode, transport: Transport, tree: Tree
) -> None:
    exchange = tree.levels[1][4]
    labels = LabelStore([Label(exchange, "Exchange A", Category.EXCHANGE, "test")])
    # Level-1 addresses have 6 counterparties (their parent and 5 children).
    result = await crawl(tree_node, transport, tree, labels, hub_degree=5)
    assert set(result.coverage) == {tree.seed, *tree.levels[1]}
    for address in tree.levels[1][:4]:
        assert status(result, address) == (
            1,
            CoverageStatus.TRUNCATED,
            "hub with 6 counterparties: not expanded",
        )
    hop, state, reason = status(result, exchange)
    assert (hop, state, result.coverage[exchange].transfers) == (1, CoverageStatus.TRUNCATED, 0)
    assert reason == "labelled exchange 'Exchange A': not expanded (transfers into it are kept)"
    into = result.transfers.filter(pl.col("to_address") == exchange)
    assert into["value_raw"].to_list() == [str(5 * ETH)]


async def test_transfers_per_address_cap_keeps_the_earliest(
    tree_node: AnvilNode, transport: Transport, tree: Tree
) -> None:
    result = await crawl(tree_node, transport, tree, max_hops=1, max_transfers_per_address=3)
    hop, state, reason = status(result, tree.seed)
    assert (hop, state) == (0, CoverageStatus.TRUNCATED)
    assert reason == "more than 3 transfers; kept the earliest"
    assert result.coverage[tree.seed].transfers == 3
    # Kept: the theft and two of the five payments (canonical order); only those followed.
    assert len(result.coverage) == 3


async def test_progress_is_reported(tree_node: AnvilNode, transport: Transport, tree: Tree) -> None:
    seen: list[CrawlProgress] = []
    source = JsonRpcSource.connect(transport, tree_node.url, limits=UNLIMITED)
    limits = CrawlLimits(to_block=tree.head, max_hops=1)
    await Crawler(source, LabelStore(), limits, seen.append).crawl([tree.seed])
    assert seen[-1] == CrawlProgress(done=6, queued=0, in_flight=0, transfers=36, failed=0)
    assert max(p.in_flight for p in seen) > 1


class Jittery:
    """Answers from the real node, each after a random delay: a different completion order
    on every run (and optionally a dead endpoint after ``fail_after`` fetches)."""

    def __init__(self, source: JsonRpcSource, seed: int, fail_after: int | None = None) -> None:
        self.source = source
        self.random = random.Random(seed)
        self.fail_after = fail_after
        self.fetches = 0

    async def head_block(self) -> int:
        return await self.source.head_block()

    async def transfers_for_address(
        self, address: Address, from_block: int, to_block: int
    ) -> pl.DataFrame:
        self.fetches += 1
        if self.fail_after is not None and self.fetches > self.fail_after:
            raise EndpointUnreachableError("cannot reach RPC at http://127.0.0.1:1: refused")
        await asyncio.sleep(self.random.uniform(0, 0.02))
        return await self.source.transfers_for_address(address, from_block, to_block)


def comparable(result: CrawlResult) -> tuple[pl.DataFrame, dict[Address, Coverage]]:
    return result.transfers, result.coverage


@pytest.mark.parametrize("policy", list(FrontierPolicy))
async def test_timing_does_not_change_the_crawl_and_a_killed_crawl_resumes_identically(
    tree_node: AnvilNode, transport: Transport, tree: Tree, tmp_path: Path, policy: FrontierPolicy
) -> None:
    # Budgets make the order matter: which 40 addresses get fetched depends on every step.
    limits = CrawlLimits(to_block=tree.head, max_addresses=40, policy=policy, in_flight=6)
    source = JsonRpcSource.connect(transport, tree_node.url, limits=UNLIMITED)
    runs = [
        await Crawler(Jittery(source, seed), LabelStore(), limits).crawl([tree.seed])
        for seed in (1, 2)
    ]
    reference = runs[0]
    assert runs[1].transfers.equals(reference.transfers)
    assert runs[1].coverage == reference.coverage

    path = tmp_path / "checkpoint.sqlite"
    with Checkpoint(path) as checkpoint:
        dying = Jittery(source, 3, fail_after=17)
        with pytest.raises(EndpointUnreachableError):
            await Crawler(dying, LabelStore(), limits, checkpoint=checkpoint).crawl([tree.seed])
    with Checkpoint(path) as checkpoint:
        assert 0 < len(checkpoint.load().chunks) <= 17
        again = Jittery(source, 4)
        resumed = await Crawler(again, LabelStore(), limits, checkpoint=checkpoint).crawl(
            [tree.seed]
        )
    assert resumed.resumed
    assert again.fetches < 40  # only what was not done yet
    assert resumed.transfers.equals(reference.transfers)
    assert resumed.coverage == reference.coverage
    # A finished crawl loads from its checkpoint without fetching anything.
    with Checkpoint(path) as checkpoint:
        idle = Jittery(source, 5)
        loaded = await Crawler(idle, LabelStore(), limits, checkpoint=checkpoint).crawl([tree.seed])
    assert idle.fetches == 0
    assert loaded.transfers.equals(reference.transfers)


def test_units_leave_room_for_gas() -> None:
    # The tree's amounts: every parent pays its five children and their gas.
    for level in (1, 2, 3):
        assert sum(j + 1 for j in range(5)) * unit(level) + 5 * 21_000 * 10**9 < unit(level - 1)
