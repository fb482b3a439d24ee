"""A case directory on a real anvil: resume, offline re-runs, the block window from dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.crawl.activity import BLOCK_SECONDS, ETH, GENESIS, Tree
from tests.crawl.conftest import UNLIMITED
from tracer.chains import chain_by_name
from tracer.crawl.case import Expansion, Phase, Step, TraceOptions, run_case
from tracer.crawl.crawler import CrawlLimits, CrawlResult, Root
from tracer.crawl.frontier import FrontierPolicy
from tracer.crawl.protocols import Probe, ProtocolFacts
from tracer.crawl.window import first_block_at_or_after, parse_when
from tracer.errors import InputError
from tracer.labels.store import LabelStore
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.transport import Transport
from tracer.testbed.anvil import AnvilNode, free_loopback_port
from tracer.types import NATIVE_TOKEN


def block_time(number: int) -> datetime:
    return datetime.fromtimestamp(GENESIS + number * BLOCK_SECONDS, tz=UTC)


def dead_url() -> str:
    """An endpoint nobody listens on: any request to it fails the test loudly."""
    return f"http://127.0.0.1:{free_loopback_port()}"


@pytest.fixture
def options(tree_node: AnvilNode, tree: Tree, tmp_path: Path) -> TraceOptions:
    out = tmp_path / "case"
    return TraceOptions(
        seeds=(tree.seed,),
        rpc_url=tree_node.url,
        out=out,
        limits=CrawlLimits(max_hops=2),
        cache_path=out / "cache.sqlite",
        confirmations=0,
        endpoint_limits=UNLIMITED,
    )


async def test_a_case_is_resumed_rerun_and_moved_offline(
    options: TraceOptions, tree: Tree, tmp_path: Path
) -> None:
    first = await run_case(options, LabelStore())
    assert first.stats.http_requests > 0
    assert first.crawl.head_block == tree.head
    assert len(first.crawl.coverage) == 1 + 5 + 25

    # The same case again: loaded from its checkpoint, nothing sent (the node is gone).
    offline = replace(options, rpc_url=dead_url())
    again = await run_case(offline, LabelStore())
    assert again.stats.http_requests == 0
    assert again.crawl.transfers.equals(first.crawl.transfers)
    assert again.crawl.coverage == first.crawl.coverage

    # Other options: a new crawl on the recorded snapshot, every answer from the cache.
    taint = replace(offline, limits=replace(options.limits, policy=FrontierPolicy.TAINT))
    other = await run_case(taint, LabelStore())
    assert other.stats.http_requests == 0
    assert other.stats.cache is not None and other.stats.cache.misses == 0
    assert any("starts over" in note for note in other.notes)
    assert other.crawl.transfers.equals(first.crawl.transfers)  # no budget: same addresses

    # A new case directory sharing the cache needs the chain and the last block.
    fresh = replace(
        offline,
        out=tmp_path / "elsewhere",
        chain=chain_by_name("anvil"),
        limits=replace(options.limits, to_block=tree.head),
    )
    moved = await run_case(fresh, LabelStore())
    assert moved.stats.http_requests == 0
    assert moved.trace_path.value == "trace_filter"  # remembered by the cache
    assert moved.crawl.transfers.equals(first.crawl.transfers)


async def test_a_wrong_chain_is_caught_before_any_data_is_used(
    options: TraceOptions, tree: Tree, tmp_path: Path
) -> None:
    await run_case(options, LabelStore())
    ethereum = replace(
        options,
        out=tmp_path / "other",
        chain=chain_by_name("ethereum"),
        limits=replace(options.limits, to_block=tree.head),
    )
    with pytest.raises(
        InputError, match="ethereum expects chain id 1, but the RPC endpoint serves chain id 31337"
    ):
        await run_case(ethereum, LabelStore())


async def test_dates_map_to_blocks(options: TraceOptions, tree: Tree) -> None:
    # From one second after the theft's block to just before the last payments' block.
    since = datetime.fromtimestamp(block_time(tree.theft_block).timestamp() + 1, tz=UTC)
    until = block_time(tree.theft_block + 3)
    outcome = await run_case(replace(options, since=since, until=until), LabelStore())
    crawl = outcome.crawl
    assert (crawl.from_block, crawl.head_block) == (tree.theft_block + 1, tree.theft_block + 2)
    # The theft itself is outside the window; the first payments are in it.
    blocks = crawl.transfers["block_number"].unique().sort().to_list()
    assert blocks == [tree.theft_block + 1, tree.theft_block + 2]


async def test_a_last_block_beyond_the_head_is_refused(options: TraceOptions, tree: Tree) -> None:
    beyond = replace(options, cache_path=None, limits=CrawlLimits(to_block=tree.head + 1))
    with pytest.raises(InputError, match=f"beyond the chain head {tree.head}"):
        await run_case(beyond, LabelStore())


async def test_bisection_over_block_times(tree_node: AnvilNode, tree: Tree) -> None:
    async with Transport() as transport:
        source = JsonRpcSource.connect(transport, tree_node.url, limits=UNLIMITED)
        head = tree.head
        assert await first_block_at_or_after(source, block_time(0), head) == 0
        assert await first_block_at_or_after(source, block_time(7), head) == 7
        later = datetime.fromtimestamp(block_time(7).timestamp() + 1, tz=UTC)
        assert await first_block_at_or_after(source, later, head) == 8
        assert await first_block_at_or_after(source, block_time(head + 5), head) == head + 1


def test_dates_are_parsed_as_utc() -> None:
    assert parse_when("2024-05-01", "--since") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_when("2024-05-01T12:30:00Z", "--since") == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert parse_when("2024-05-01T14:30:00+02:00", "--until") == datetime(
        2024, 5, 1, 12, 30, tzinfo=UTC
    )
    with pytest.raises(InputError, match="--until 'yesterday': expected a date"):
        parse_when("yesterday", "--until")


async def test_a_case_extends_from_new_roots_and_probes_and_reloads_them_offline(
    options: TraceOptions, tree: Tree
) -> None:
    """An extension crawls its roots (in the same checkpoint, budgets and hop counts) and
    fetches its probes as evidence only; a re-run loads all of it without a request."""
    shallow = replace(options, limits=CrawlLimits(max_hops=1))
    root, probed = tree.levels[2][0], tree.levels[2][7]
    calls: list[tuple[Any, bool, int]] = []

    def expand(crawl: CrawlResult, facts: ProtocolFacts, record: Any) -> Expansion | None:
        calls.append((record, root in crawl.coverage, facts.probed.height))
        if record is not None:
            return None
        return Expansion(
            roots=(Root(root, 1, tree.theft_block, ((NATIVE_TOKEN, ETH, 18),)),),
            record={"round": 1},
            probes=(Probe(probed, tree.theft_block, 10),),
        )

    phases: list[Phase] = []
    first = await run_case(
        shallow, LabelStore(), expand=expand, max_expansions=3, on_phase=phases.append
    )
    assert calls == [(None, False, 0), ({"round": 1}, True, 6)]
    assert first.expansions == [{"round": 1}]
    assert first.rounds() == [({"round": 1}, (Probe(probed, tree.theft_block, 10),))]
    # Each step between crawls is announced, in order: the analysis that found nothing
    # more to follow too. (Reading facts only when they are collected, not loaded.)
    assert phases == [
        Phase(Step.READING, 0),
        Phase(Step.ANALYSING, 1),
        Phase(Step.FOLLOWING, 1, 1),
        Phase(Step.PROBING, 1, 1),
        Phase(Step.ANALYSING, 2),
    ]
    # The root is fetched at the hop it was given: its outflows are past the hop limit.
    entry = first.crawl.coverage[root]
    assert (entry.hop, entry.status.value) == (1, "truncated")
    assert entry.reason == "hop limit 1 reached: outflows not followed"
    assert len(first.crawl.coverage) == 1 + 5 + 1
    # The probe's transfers (its parent's payment and its 5 children) are not crawled.
    assert probed not in first.crawl.coverage
    assert set(first.protocol.probed["to_address"].to_list()) == {probed, *tree.levels[3][35:40]}
    assert first.crawl.transfers.filter(pl.col("from_address") == probed).height == 0

    calls.clear()
    offline = replace(shallow, rpc_url=dead_url())
    phases.clear()
    again = await run_case(
        offline, LabelStore(), expand=expand, max_expansions=3, on_phase=phases.append
    )
    assert again.stats.http_requests == 0
    assert calls == [({"round": 1}, True, 6)]  # the recorded extension is not asked again
    assert phases == [Phase(Step.ANALYSING, 2)]
    assert again.rounds() == first.rounds()
    assert again.crawl.transfers.equals(first.crawl.transfers)
    assert again.crawl.coverage == first.crawl.coverage
    assert again.protocol.probed.equals(first.protocol.probed)
    assert again.expansions == first.expansions
