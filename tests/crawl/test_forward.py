"""Which outflows are followed: unknown success (Otterscan's internal operations) yes, known
failure no; on a real anvil with a deposit forwarder and a reverted mixer deposit."""

from __future__ import annotations

import polars as pl
import pytest

from tests.crawl.conftest import UNLIMITED
from tracer.crawl.crawler import CoverageStatus, Crawler, CrawlLimits
from tracer.labels.store import LabelStore
from tracer.sources.jsonrpc import JsonRpcSource, TracePath
from tracer.sources.transport import Transport
from tracer.testbed.anvil import AnvilNode
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
