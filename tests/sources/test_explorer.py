"""ExplorerSource against the explorer-compatible server on a real anvil chain.

Pagination runs on a chain with 10,500 transfers from one address (15 blocks of 700), so the
real limits apply: 1,000 records per request and a 10,000-record result window, with the
window ending inside a block. Errors, rate limits and the handling of the API key run on the
conformance scenario. Everything in this module shares one event loop, so that the chains and
the big server index are built once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Final

import polars as pl
import pytest
import pytest_asyncio

from tests.sources.conftest import FAST_RETRY, SHORT_TIMEOUTS, UNLIMITED
from tests.sources.explorer_server import ExplorerServer, Flavor, ServerConfig
from tests.sources.test_conformance import API_KEY, CHAIN_ID, ENVIRON, Scenario, build_scenario
from tracer.errors import (
    ApiKeyError,
    EndpointUnreachableError,
    ExplorerError,
)
from tracer.sources.explorer import (
    API_KEY_ENV,
    CoverageGap,
    ExplorerFlavor,
    ExplorerSource,
)
from tracer.sources.transport import EndpointLimits, RetryPolicy, Transport, redact_url
from tracer.testbed.anvil import AnvilNode, AnvilOptions, free_loopback_port
from tracer.testbed.chain import ETH_TRANSFER_GAS, Chain, Tx
from tracer.transfers.from_explorer import ExplorerAction
from tracer.transfers.schema import validate
from tracer.transfers.untrusted import SkipReason
from tracer.types import Address

pytestmark = pytest.mark.asyncio(loop_scope="module")

BLOCKS: Final = 15
PER_BLOCK: Final = 700  # 10,500 transfers: the 10,000th record is inside the last block


@dataclass(frozen=True)
class Bulk:
    node: AnvilNode
    sender: str
    receiver: str
    hashes: dict[str, int]  # every transfer the sender made: hash -> value
    blocks: tuple[int, ...]  # the blocks they are in
    head: int


@pytest.fixture(scope="module")
def bulk() -> Iterator[Bulk]:
    with AnvilNode(AnvilOptions.for_bulk()) as node, Chain.of(node) as chain:
        sender, receiver, other = chain.accounts()[:3]
        txs = [
            Tx(sender, receiver if i % 2 else other, 1 + i, gas=ETH_TRANSFER_GAS, gas_price=10**9)
            for i in range(BLOCKS * PER_BLOCK)
        ]
        mined = chain.send_in_blocks(txs, per_block=PER_BLOCK, check=False)
        hashes = {m.transaction_hash: tx.value for m, tx in zip(mined, txs, strict=True)}
        blocks = tuple(sorted({m.block_number for m in mined}))
        yield Bulk(node, sender, receiver, hashes, blocks, chain.block_number())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bulk_server(bulk: Bulk) -> AsyncIterator[ExplorerServer]:
    async with ExplorerServer(bulk.node.url, ServerConfig(api_key=API_KEY)) as server:
        yield server


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    with AnvilNode(AnvilOptions()) as node:
        yield build_scenario(node)


@pytest_asyncio.fixture(loop_scope="module")
async def transport() -> AsyncIterator[Transport]:
    async with Transport(timeouts=SHORT_TIMEOUTS, retry=FAST_RETRY, rng=random.Random(3)) as t:
        yield t


def explorer(
    transport: Transport,
    server: ExplorerServer,
    *,
    environ: dict[str, str] = ENVIRON,
    limits: EndpointLimits = UNLIMITED,
    page_size: int = 1_000,
    result_window: int = 10_000,
) -> ExplorerSource:
    flavor = (
        ExplorerFlavor.ETHERSCAN
        if server.config.flavor is Flavor.ETHERSCAN
        else ExplorerFlavor.BLOCKSCOUT
    )
    return ExplorerSource(
        transport,
        chain_id=CHAIN_ID,
        flavor=flavor,
        url=server.url,
        limits=limits,
        page_size=page_size,
        result_window=result_window,
        environ=environ,
    )


def assert_complete(table: pl.DataFrame, bulk: Bulk, block: int | None = None) -> None:
    """The sender's table holds exactly its transfers (of ``block`` only, if given), once."""
    validate(table)
    expected = {
        tx_hash: value
        for tx_hash, value in bulk.hashes.items()
        if block is None or tx_hash in set(table["transaction_hash"])
    }
    got = dict(zip(table["transaction_hash"], map(int, table["value_raw"]), strict=True))
    assert got == expected
    assert table.height == len(expected)
    assert set(table["transfer_kind"]) == {"native"}
    assert set(table["from_address"]) == {bulk.sender}
    if block is not None:
        assert set(table["block_number"]) == {block}


# --------------------------------------------------------------------------------------------
# Pagination.


async def test_more_records_than_the_result_window_are_all_read(
    transport: Transport, bulk: Bulk, bulk_server: ExplorerServer
) -> None:
    bulk_server.reconfigure(ServerConfig(api_key=API_KEY, record_cap=1_000))
    source = explorer(transport, bulk_server)
    table = await source.transfers_for_address(bulk.sender, 0, bulk.head)
    assert table.height == BLOCKS * PER_BLOCK
    assert_complete(table, bulk)
    # Pages 1-10 fill the window, which ends inside the last block: the cursor restarts at
    # that block and reads its 700 records again in full. No request is refused.
    assert bulk_server.stats.by_action["txlist"] == 11
    assert bulk_server.stats.window_errors == 0
    assert source.coverage_gaps == []


async def test_small_pages_and_windows_restart_inside_blocks_and_lose_nothing(
    transport: Transport, bulk: Bulk, bulk_server: ExplorerServer
) -> None:
    config = ServerConfig(api_key=API_KEY, record_cap=100, result_window=1_000)
    bulk_server.reconfigure(config)
    source = explorer(transport, bulk_server, page_size=100, result_window=1_000)
    received = await source.transfers_for_address(bulk.receiver, 0, bulk.head)
    validate(received)
    expected = {h: v for h, v in bulk.hashes.items() if v % 2 == 0}  # odd i: to the receiver
    assert dict(
        zip(received["transaction_hash"], map(int, received["value_raw"]), strict=True)
    ) == (expected)
    assert bulk_server.stats.window_errors == 0


async def test_a_silent_per_request_cap_is_recognised_once_for_the_run(
    transport: Transport,
    bulk: Bulk,
    bulk_server: ExplorerServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bulk_server.reconfigure(ServerConfig(api_key=API_KEY, record_cap=1_000))
    source = explorer(transport, bulk_server, page_size=5_000)  # more than the plan gives
    with caplog.at_level(logging.WARNING, logger="tracer.sources.explorer"):
        sent, received = await asyncio.gather(
            source.transfers_for_address(bulk.sender, 0, bulk.head),
            source.transfers_for_address(bulk.receiver, 0, bulk.head),
        )
    assert_complete(sent, bulk)
    assert sent.height == BLOCKS * PER_BLOCK
    assert received.height == BLOCKS * PER_BLOCK // 2
    assert (source.page_size, source.result_window) == (1_000, 10_000)
    warnings = [r.getMessage() for r in caplog.records if "per-request cap" in r.getMessage()]
    assert len(warnings) == 1, warnings


async def test_a_smaller_result_window_is_adopted_for_the_run(
    transport: Transport, bulk: Bulk, bulk_server: ExplorerServer
) -> None:
    bulk_server.reconfigure(ServerConfig(api_key=API_KEY, result_window=2_000))
    source = explorer(transport, bulk_server)  # believes in 10,000
    table = await source.transfers_for_address(bulk.sender, 0, bulk.head)
    received = await source.transfers_for_address(bulk.receiver, 0, bulk.head)
    assert table.height == BLOCKS * PER_BLOCK
    assert_complete(table, bulk)
    assert received.height == BLOCKS * PER_BLOCK // 2
    assert source.result_window == 2_000
    assert bulk_server.stats.window_errors == 1  # learnt once, then kept


async def test_a_block_with_more_records_than_the_window_is_reported_as_a_gap(
    transport: Transport,
    bulk: Bulk,
    bulk_server: ExplorerServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bulk_server.reconfigure(ServerConfig(api_key=API_KEY, record_cap=100, result_window=500))
    source = explorer(transport, bulk_server, page_size=100, result_window=500)
    block = bulk.blocks[3]
    with caplog.at_level(logging.WARNING, logger="tracer.sources.explorer"):
        table = await source.transfers_for_address(bulk.sender, block, block)
    assert table.height == 500  # of 700: the API cannot page further within one block
    assert_complete(table, bulk, block)
    assert source.coverage_gaps == [
        CoverageGap(Address(bulk.sender), ExplorerAction.TXLIST, block, 500)
    ]
    assert any("INCOMPLETE" in record.getMessage() for record in caplog.records)


# --------------------------------------------------------------------------------------------
# What the explorer adds, and what it keeps.


async def test_explorer_rows_carry_token_metadata_and_failed_transfers(
    transport: Transport, scenario: Scenario
) -> None:
    async with ExplorerServer(scenario.node.url, ServerConfig(api_key=API_KEY)) as server:
        source = explorer(transport, server)
        recipient = await source.transfers_for_address(scenario.recipient, 0, scenario.head)
        pool = await source.transfers_for_address(scenario.pool, 0, scenario.head)
        assert await source.head_block() == scenario.head
    erc20 = recipient.filter(pl.col("transfer_kind") == "erc20")
    assert erc20.select("token_symbol", "token_decimals", "value", "source").rows() == [
        ("tUSD", 6, 1.25, "explorer:tokentx")
    ]
    failed = pool.filter(pl.col("transaction_hash") == scenario.failed_tx)
    assert failed.select("transfer_kind", "value_raw", "tx_succeeded").rows() == [
        ("native", str(3 * 10**18), False)
    ]
    assert recipient["request_key"].null_count() == 0


async def test_unreadable_records_are_skipped_and_counted_over_the_run(
    transport: Transport, scenario: Scenario
) -> None:
    """A record the explorer garbles is left out, not guessed at; the source sums what it
    skipped over every query of the run and keeps the first examples."""
    garbled = (scenario.failed_tx, "value", "3e18")
    config = ServerConfig(api_key=API_KEY, tampered=(garbled,))
    async with ExplorerServer(scenario.node.url, config) as server:
        source = explorer(transport, server)
        assert (source.skipped, source.samples) == ({}, {})
        first = await source.transfers_for_address(scenario.pool, 0, scenario.head)
        assert source.skipped == {SkipReason.MALFORMED: 1}
        second = await source.transfers_for_address(scenario.pool, 0, scenario.head)
    async with ExplorerServer(scenario.node.url, ServerConfig(api_key=API_KEY)) as server:
        clean = explorer(transport, server)
        truth = await clean.transfers_for_address(scenario.pool, 0, scenario.head)
    assert clean.skipped == {}
    assert scenario.failed_tx in set(truth["transaction_hash"])
    assert first.equals(truth.filter(pl.col("transaction_hash") != scenario.failed_tx))
    assert second.equals(first)
    assert source.skipped == {SkipReason.MALFORMED: 2}
    detail = "value is not a decimal quantity: '3e18'"
    assert source.samples == {SkipReason.MALFORMED: (detail, detail)}


async def test_blockscout_head_block(transport: Transport, scenario: Scenario) -> None:
    config = ServerConfig(flavor=Flavor.BLOCKSCOUT, api_key=None)
    async with ExplorerServer(scenario.node.url, config) as server:
        assert await explorer(transport, server, environ={}).head_block() == scenario.head


# --------------------------------------------------------------------------------------------
# Rate limits.

PATIENT: Final = RetryPolicy(max_attempts=12, base_delay=0.02, max_delay=0.3)


@pytest.mark.parametrize("flavor", [Flavor.ETHERSCAN, Flavor.BLOCKSCOUT])
async def test_rate_limit_answers_are_retried_and_nothing_is_lost(
    scenario: Scenario, flavor: Flavor
) -> None:
    addresses = (scenario.recipient, scenario.router, scenario.pool)
    key = API_KEY if flavor is Flavor.ETHERSCAN else None
    async with (
        ExplorerServer(scenario.node.url, ServerConfig(flavor=flavor, api_key=key)) as server,
        Transport(retry=PATIENT, rng=random.Random(5)) as transport,
    ):
        source = explorer(transport, server)
        unlimited = [await source.transfers_for_address(a, 0, scenario.head) for a in addresses]
        # Five actions at once against 20 calls/s with a bucket of 2: most are refused first.
        server.reconfigure(ServerConfig(flavor=flavor, api_key=key, calls_per_second=20.0, burst=2))
        limited = [await source.transfers_for_address(a, 0, scenario.head) for a in addresses]
        stats = transport.stats()[redact_url(server.url)]
    assert server.stats.rate_limited > 0
    assert stats.failures == {"RateLimitedError": server.stats.rate_limited}
    assert stats.retries == server.stats.rate_limited
    for before, after in zip(unlimited, limited, strict=True):
        assert after.equals(before)


# --------------------------------------------------------------------------------------------
# Bad input and the API key.

SECRET: Final = "S3CRET-key-9f8e7d6c5b4a"


async def test_a_wrong_api_key_is_fatal_and_never_shown(
    transport: Transport, scenario: Scenario
) -> None:
    async with ExplorerServer(scenario.node.url, ServerConfig(api_key=API_KEY)) as server:
        source = explorer(transport, server, environ={API_KEY_ENV: SECRET})
        with pytest.raises(ApiKeyError) as caught:
            await source.transfers_for_address(scenario.recipient, 0, scenario.head)
    message = str(caught.value)
    assert "refused the API key ('NOTOK Invalid API Key')" in message
    assert f"check the key in {API_KEY_ENV}" in message
    assert f"Etherscan at http://127.0.0.1:{server.port}/v2/api" in message
    assert SECRET not in message
    assert transport.stats()[redact_url(server.url)].retries == 0  # not worth retrying


async def test_a_missing_api_key_fails_before_any_request(
    transport: Transport, scenario: Scenario
) -> None:
    async with ExplorerServer(scenario.node.url, ServerConfig(api_key=API_KEY)) as server:
        source = explorer(transport, server, environ={API_KEY_ENV: "  "})
        with pytest.raises(ApiKeyError, match="needs an API key") as caught:
            await source.transfers_for_address(scenario.recipient, 0, scenario.head)
        with pytest.raises(ApiKeyError):
            await source.head_block()
    assert f"set {API_KEY_ENV} (or {API_KEY_ENV}_ANVIL for chain 31337 only)" in str(caught.value)
    assert server.stats.requests == 0


async def test_the_chain_specific_key_wins(transport: Transport, scenario: Scenario) -> None:
    environ = {API_KEY_ENV: "generic-key", f"{API_KEY_ENV}_ANVIL": API_KEY}
    async with ExplorerServer(scenario.node.url, ServerConfig(api_key=API_KEY)) as server:
        table = await explorer(transport, server, environ=environ).transfers_for_address(
            scenario.recipient, 0, scenario.head
        )
    assert table.height > 0
    assert server.stats.refused_keys == 0


async def test_the_key_reaches_no_log_error_request_key_or_counter(
    transport: Transport, scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(api_key=SECRET, disabled_actions=frozenset({"token1155tx"}))
    async with ExplorerServer(scenario.node.url, config) as server:
        source = explorer(transport, server, environ={API_KEY_ENV: SECRET})
        other = explorer(transport, server, environ={API_KEY_ENV: "another-key"})
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(ExplorerError) as caught:
                await source.transfers_for_address(scenario.recipient, 0, scenario.head)
            enabled = replace(config, disabled_actions=frozenset())
            server.reconfigure(enabled)
            table = await source.transfers_for_address(scenario.recipient, 0, scenario.head)
            server.reconfigure(replace(enabled, api_key="another-key"))
            again = await other.transfers_for_address(scenario.recipient, 0, scenario.head)
    assert caught.value.explorer_message == "'NOTOK Error! Missing Or invalid Action name'"
    texts = [
        str(caught.value),
        repr(caught.value),
        *(getattr(caught.value, "__notes__", [])),
        caplog.text,
        repr(source),
        repr(source.__dict__),
        repr(transport.stats()),
        table.write_csv(),
    ]
    assert all(SECRET not in text for text in texts)
    # Request keys name the request, not the credentials: another key, the same keys.
    assert again["request_key"].to_list() == table["request_key"].to_list()


async def test_other_status_zero_answers_are_typed_errors_carrying_the_message(
    transport: Transport, scenario: Scenario
) -> None:
    config = ServerConfig(api_key=API_KEY, disabled_actions=frozenset({"tokennfttx"}))
    async with ExplorerServer(scenario.node.url, config) as server:
        with pytest.raises(ExplorerError) as caught:
            await explorer(transport, server).transfers_for_address(scenario.sender, 0, 10)
    assert type(caught.value) is ExplorerError
    assert "answered with an error: 'NOTOK Error! Missing Or invalid Action name'" in str(
        caught.value
    )


async def test_an_unreachable_endpoint_is_a_clear_error(transport: Transport) -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}/v2/api"
    source = ExplorerSource(transport, chain_id=CHAIN_ID, url=url, environ=ENVIRON)
    with pytest.raises(EndpointUnreachableError) as caught:
        await source.transfers_for_address("0x" + "ab" * 20, 0, 100)
    assert str(caught.value) == f"cannot reach Etherscan at {url}: connection refused"
    assert "gave up after 6 attempts" in caught.value.__notes__[0]
    assert API_KEY not in repr(caught.value) + "".join(caught.value.__notes__)


async def test_bad_arguments_are_refused_before_any_request(transport: Transport) -> None:
    source = ExplorerSource(transport, chain_id=CHAIN_ID, environ=ENVIRON)
    with pytest.raises(ValueError, match="invalid block range"):
        await source.transfers_for_address("0x" + "ab" * 20, 10, 9)
    with pytest.raises(ValueError, match="Blockscout source needs"):
        ExplorerSource(transport, chain_id=CHAIN_ID, flavor=ExplorerFlavor.BLOCKSCOUT)
    with pytest.raises(ValueError, match="page_size"):
        ExplorerSource(transport, chain_id=CHAIN_ID, page_size=2_000, result_window=1_000)
    assert transport.stats()["https://api.etherscan.io/v2/api"].http_requests == 0
