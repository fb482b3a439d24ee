"""Which outflows are followed: unknown success (Otterscan's internal operations) yes, known
failure no; on a real anvil with a deposit forwarder and a reverted mixer deposit. And an
address whose answers the node could not give in full is never reported complete."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from tests.crawl.activity import GENESIS, build_tree
from tests.crawl.conftest import UNLIMITED
from tracer.crawl.crawler import CoverageStatus, Crawler, CrawlLimits
from tracer.labels.store import LabelStore
from tracer.sources.jsonrpc import JsonRpcSource, TracePath
from tracer.sources.transport import Transport
from tracer.testbed.anvil import AnvilNode, AnvilOptions
from tracer.testbed.chain import Chain, Tx
from tracer.types import Address

ETH = 10**18


@pytest.mark.parametrize("path", [TracePath.OTTERSCAN, TracePath.TRACE_FILTER])
async def test_unknown_success_is_followed_and_known_failure_is_not(
    anvil: AnvilNode, transport: Transport, path: TracePath
) -> None:
    with Chain.of(anvil) as chain:
        deployer, seed, hot = chain.accounts()[:3]
        forwarder = chain.deploy("DepositForwarder", hot, sender=deployer)
        pool = chain.deploy("TornadoPool", ETH, sender=deployer)
        chain.transact(Tx(seed, forwarder.address, 2 * ETH))  # forwarded on by internal call
        deposit = pool.encode("deposit", b"\x04" * 32)  # 3 ETH instead of 1: reverts
        failed = chain.transact(
            Tx(seed, pool.address, 3 * ETH, data=deposit, gas=200_000), check=False
        )
        assert not failed.status
        head = chain.block_number()
    source = JsonRpcSource.connect(transport, anvil.url, limits=UNLIMITED, trace_path=path)
    crawler = Crawler(source, LabelStore(), CrawlLimits(to_block=head))
    result = await crawler.crawl([Address(seed)])

    table = result.transfers
    onwards = table.filter(
        (pl.col("from_address") == forwarder.address) & (pl.col("to_address") == hot)
    )
    assert onwards["value_raw"].to_list() == [str(2 * ETH)]
    if path is TracePath.OTTERSCAN:
        # ots_getInternalOperations cannot say whether the call's frame reverted.
        assert onwards["tx_succeeded"].to_list() == [None]
    entries = {a: (c.hop, c.status) for a, c in result.coverage.items()}
    assert entries == {
        seed: (0, CoverageStatus.COMPLETE),
        forwarder.address: (1, CoverageStatus.COMPLETE),
        hot: (2, CoverageStatus.COMPLETE),  # reached only through the unknown-success row
    }
    # The reverted deposit is kept and flagged, and the pool is not followed.
    reverted = table.filter(pl.col("transaction_hash") == failed.transaction_hash)
    assert reverted["tx_succeeded"].to_list() == [False]


async def test_an_address_whose_answers_could_not_be_read_is_not_complete(
    tmp_path: Path, transport: Transport
) -> None:
    # A chain loaded from a state dump has its blocks but not the states to re-execute them:
    # anvil answers debug_traceBlockByNumber with an error entry per transaction.
    with AnvilNode(AnvilOptions.for_bulk(genesis_timestamp=GENESIS)) as node:
        tree = build_tree(node, depth=1, padding=0)
        # anvil_dumpState answers gzipped JSON in hex; --load-state reads the plain JSON.
        dumped = node.request("anvil_dumpState", [])
        (tmp_path / "state.json").write_bytes(gzip.decompress(bytes.fromhex(dumped[2:])))
    with AnvilNode(AnvilOptions(extra_args=("--load-state", str(tmp_path / "state.json")))) as node:
        source = JsonRpcSource.connect(
            transport, node.url, limits=UNLIMITED, trace_path=TracePath.CALL_TRACER
        )
        result = await Crawler(source, LabelStore(), CrawlLimits(to_block=tree.head)).crawl(
            [tree.seed]
        )
    [entry] = result.coverage.values()
    assert (entry.address, entry.status, entry.transfers) == (
        tree.seed,
        CoverageStatus.TRUNCATED,
        0,
    )
    # Every transaction of the four blocks: the seed's range covers them all.
    assert entry.reason == (
        "the node's answers had unreadable entries (8 incomplete): transfers may be missing"
    )
