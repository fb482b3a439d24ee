"""JsonRpcSource against a real anvil: every trace path, faults, range caps, clear errors.

The scenario sends real transactions: plain ETH transfers, a Tornado-style pool whose
withdrawal pays the recipient and the relayer by internal call (in a transaction the
recipient did not send), an exchange deposit forwarder (internal call onwards), an ERC-20,
ERC-721/1155 events from a hand-assembled log emitter, and a reverted deposit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import polars as pl
import pytest
from eth_abi.abi import encode as abi_encode

from tests.sources.conftest import SHORT_TIMEOUTS, UNLIMITED
from tests.sources.fault_proxy import Fault, FaultProxy
from tracer.errors import ChainMismatchError, EndpointUnreachableError
from tracer.sources.jsonrpc import JsonRpcSource, TracePath
from tracer.sources.rpcclient import JsonRpcClient
from tracer.sources.transport import RetryPolicy, Transport
from tracer.testbed.anvil import AnvilNode, free_loopback_port
from tracer.testbed.chain import Chain, Tx
from tracer.transfers.from_rpc import movement_diff
from tracer.transfers.schema import TRANSFER_SCHEMA, validate
from tracer.transfers.topics import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC

ETH = 10**18
TRACE_PATHS = (TracePath.TRACE_FILTER, TracePath.OTTERSCAN, TracePath.CALL_TRACER)

# Runtime: copy calldata[128:] to memory, LOG4 with calldata words 0..3 as topics, stop.
#   PUSH1 0x80 CALLDATASIZE SUB DUP1 PUSH1 0x80 PUSH1 0 CALLDATACOPY
#   PUSH1 0x60 CALLDATALOAD PUSH1 0x40 CALLDATALOAD PUSH1 0x20 CALLDATALOAD PUSH1 0 CALLDATALOAD
#   DUP5 PUSH1 0 LOG4 STOP
_EMITTER_RUNTIME = "6080360380608060003760603560403560203560003584600" + "0a400"
# Init: CODECOPY the 27-byte runtime (at offset 11) to memory 0 and RETURN it.
_EMITTER_INIT = "601b80600b6000396000f3"


def _word(value: int | str) -> bytes:
    number = int(value, 16) if isinstance(value, str) else value
    return number.to_bytes(32, "big")


@dataclass(frozen=True)
class Scenario:
    node: AnvilNode
    head: int
    sender: str  # sends ETH, deposits into the pool, holds and sends tokens
    receiver: str  # gets plain ETH
    recipient: str  # withdraws from the pool (by internal call), then pays the forwarder
    relayer: str
    hot_wallet: str
    pool: str
    forwarder: str
    token: str
    nft: str  # the log emitter, posing as an ERC-721 and an ERC-1155 contract
    withdrawal_tx: str
    failed_tx: str

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.sender, self.recipient, self.pool, self.hot_wallet, self.relayer)


def build_scenario(node: AnvilNode) -> Scenario:
    with Chain.of(node) as chain:
        deployer, sender, receiver, relayer, recipient, hot = chain.accounts()[:6]
        token = chain.deploy("TestUSD", sender=deployer)
        pool = chain.deploy("TornadoPool", ETH, sender=deployer)
        forwarder = chain.deploy("DepositForwarder", hot, sender=deployer)
        emitter = chain.transact(Tx(deployer, None, data=_EMITTER_INIT + _EMITTER_RUNTIME))
        nft = emitter.contract_address
        assert nft is not None
        chain.transact(Tx(sender, receiver, 2 * ETH))
        chain.transact(Tx(sender, sender, 3 * ETH))  # to itself: one row, found twice
        chain.mine_blocks(25)
        pool.transact("deposit", b"\x01" * 32, sender=sender, value=ETH)
        chain.mine_blocks(40)
        withdrawal = pool.transact(
            "withdraw", b"", b"\x02" * 32, b"\x03" * 32, recipient, relayer, ETH // 10, 0,
            sender=relayer,
        )  # fmt: skip
        chain.transact(Tx(recipient, forwarder.address, ETH // 2))
        token.transact("mint", sender, 5_000_000, sender=deployer)
        token.transact("transfer", recipient, 1_250_000, sender=sender)
        chain.mine_blocks(30)
        single = abi_encode(["uint256", "uint256"], [3, 40])
        batch = abi_encode(["uint256[]", "uint256[]"], [[1, 2], [5, 6]])
        events: list[tuple[list[str | int], bytes]] = [  # four topics, then data
            ([TRANSFER_TOPIC, sender, recipient, 7], b""),  # ERC-721 token 7
            ([TRANSFER_SINGLE_TOPIC, deployer, sender, recipient], single),  # operator first
            ([TRANSFER_BATCH_TOPIC, deployer, recipient, sender], batch),
        ]
        for topics, data in events:
            calldata = b"".join(_word(topic) for topic in topics) + data
            chain.transact(Tx(deployer, nft, data=calldata))
        bad_deposit = pool.encode("deposit", b"\x04" * 32)  # with 3 ETH instead of 1
        failed = chain.transact(
            Tx(sender, pool.address, 3 * ETH, data=bad_deposit, gas=200_000), check=False
        )
        assert not failed.status
        head = chain.block_number()
    return Scenario(
        node, head, sender, receiver, recipient, relayer, hot, pool.address, forwarder.address,
        token.address, nft, withdrawal.transaction_hash, failed.transaction_hash,
    )  # fmt: skip


@pytest.fixture
def scenario(anvil: AnvilNode) -> Iterator[Scenario]:
    yield build_scenario(anvil)


@pytest.fixture
async def clean_transport() -> AsyncIterator[Transport]:
    async with Transport() as transport:
        yield transport


async def _tables(
    source: JsonRpcSource, scenario: Scenario, from_block: int = 0
) -> dict[str, pl.DataFrame]:
    return {
        address: await source.transfers_for_address(address, from_block, scenario.head)
        for address in scenario.addresses
    }


def _source(transport: Transport, url: str, **options: object) -> JsonRpcSource:
    client = JsonRpcClient(transport, url, limits=UNLIMITED)
    return JsonRpcSource(client, **options)  # type: ignore[arg-type]


async def test_anvil_offers_every_trace_path_and_is_probed_once(
    clean_transport: Transport, anvil: AnvilNode
) -> None:
    source = _source(clean_transport, anvil.url)
    capabilities = await source.capabilities()
    assert (capabilities.trace_filter, capabilities.otterscan, capabilities.call_tracer) == (
        True,
        True,
        True,
    )
    assert await source.trace_path() is TracePath.TRACE_FILTER
    requests = clean_transport.stats()[anvil.url].http_requests
    await source.capabilities()
    await source.trace_path()
    assert clean_transport.stats()[anvil.url].http_requests == requests


async def test_the_recipient_of_a_mixer_withdrawal_sees_every_kind_of_transfer(
    clean_transport: Transport, scenario: Scenario
) -> None:
    source = _source(clean_transport, scenario.node.url, trace_window=16, logs_window=16)
    table = await source.transfers_for_address(scenario.recipient, 0, scenario.head)
    validate(table)
    assert table.schema == TRANSFER_SCHEMA
    rows = table.select(
        "transfer_kind", "from_address", "to_address", "token_address", "token_id", "value_raw"
    ).rows()
    native = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    zero = "0x" + "00" * 20
    assert rows == [
        ("internal", scenario.pool, scenario.recipient, native, None, str(9 * ETH // 10)),
        ("native", scenario.recipient, scenario.forwarder, native, None, str(ETH // 2)),
        ("erc20", scenario.sender, scenario.recipient, scenario.token, None, "1250000"),
        ("erc721", scenario.sender, scenario.recipient, scenario.nft, "7", "1"),
        ("erc1155", scenario.sender, scenario.recipient, scenario.nft, "3", "40"),
        ("erc1155", scenario.recipient, scenario.sender, scenario.nft, "1", "5"),
        ("erc1155", scenario.recipient, scenario.sender, scenario.nft, "2", "6"),
    ]
    assert zero not in table["to_address"].to_list()
    internal = table.row(0, named=True)
    assert internal["transaction_hash"] == scenario.withdrawal_tx
    assert internal["source"] == "rpc:trace_filter"
    assert table["block_time"].null_count() == 0
    assert table["gas_price"].null_count() == 0
    assert table["request_key"].null_count() == 0
    # Known for the internal row too: the source fetched its transaction's whole trace.
    assert set(table["tx_succeeded"]) == {True}
    assert set(table["source"]) == {"rpc:trace_filter", "rpc:eth_getLogs"}


async def test_a_reverted_transfer_is_kept_and_flagged(
    clean_transport: Transport, scenario: Scenario
) -> None:
    source = _source(clean_transport, scenario.node.url)
    table = await source.transfers_for_address(scenario.pool, 0, scenario.head)
    failed = table.filter(pl.col("transaction_hash") == scenario.failed_tx)
    assert failed.select("transfer_kind", "value_raw", "tx_succeeded").rows() == [
        ("native", str(3 * ETH), False)
    ]


@pytest.mark.parametrize("from_block", [0, 30])
async def test_every_trace_path_gives_the_same_transfers(
    clean_transport: Transport, scenario: Scenario, from_block: int
) -> None:
    # Small windows and two-transaction ots pages, so that window edges and ots paging (a
    # page may end inside a block) are crossed many times; from block 30 starts mid-history.
    options = {"trace_window": 9, "logs_window": 13, "ots_page_size": 2}
    tables = {
        path: await _tables(
            _source(clean_transport, scenario.node.url, trace_path=path, **options),
            scenario,
            from_block,
        )
        for path in (*TRACE_PATHS, TracePath.BLOCKS)
    }
    reference = tables[TracePath.TRACE_FILTER]
    assert sum(frame.height for frame in reference.values()) >= (20 if from_block == 0 else 15)
    for path in TRACE_PATHS:
        for address in scenario.addresses:
            diff = movement_diff(reference[address], tables[path][address])
            assert diff.equal, (path, address, diff)
            assert set(tables[path][address]["source"]) <= {path.source, "rpc:eth_getLogs"}
            assert tables[path][address]["block_number"].min() >= from_block  # type: ignore[operator]
    # Without a tracing API only the internal transfers are missing.
    for address in scenario.addresses:
        expected = reference[address].filter(pl.col("transfer_kind") != "internal")
        assert movement_diff(expected, tables[TracePath.BLOCKS][address]).equal


async def test_the_table_through_a_faulty_proxy_equals_the_clean_table(
    clean_transport: Transport, scenario: Scenario
) -> None:
    options = {"trace_window": 32, "logs_window": 32}
    clean = await _tables(_source(clean_transport, scenario.node.url, **options), scenario)
    # Every fault once in each cycle, each followed by two clean answers: concurrent
    # requests interleave, and no call should meet a fault at every one of its attempts.
    faults = [Fault.RATE_LIMIT, Fault.BAD_GATEWAY, Fault.TRUNCATE, Fault.STALL, Fault.DROP]
    schedule = [
        step for fault in [*faults, Fault.LIMIT] for step in (fault, Fault.PASS, Fault.PASS)
    ]
    async with (
        FaultProxy(
            scenario.node.url,
            schedule=schedule,
            retry_after="0",
            item_limit_every=5,
            reverse_batches=True,
        ) as proxy,
        Transport(timeouts=SHORT_TIMEOUTS, retry=_PATIENT) as faulty_transport,
    ):
        faulty = await _tables(_source(faulty_transport, proxy.url, **options), scenario)
        stats = faulty_transport.stats()[proxy.url]
    for fault in set(schedule) - {Fault.PASS}:
        assert proxy.faults_of(fault) > 0, fault
    assert stats.retries > 10
    for address in scenario.addresses:
        assert faulty[address].equals(clean[address]), address


async def test_range_caps_split_windows_and_change_nothing_but_request_keys(
    clean_transport: Transport, scenario: Scenario
) -> None:
    options = {"trace_window": 64, "logs_window": 64}
    clean = await _tables(_source(clean_transport, scenario.node.url, **options), scenario)
    async with FaultProxy(
        scenario.node.url,
        range_caps=dict([FaultProxy.cap("eth_getLogs", 10), FaultProxy.cap("trace_filter", 7)]),
    ) as proxy:
        source = _source(clean_transport, proxy.url, **options)
        capped = await _tables(source, scenario)
    # 64 -> 32 -> 16 -> 8 fits the 10-block log cap; 64 -> 32 -> 16 -> 8 -> 4 the trace cap.
    assert source.window_sizes == {"eth_getLogs": 8, "trace_filter": 4}
    # Found once and remembered: 3 refused log windows of 4 filters, 4 refused trace windows
    # of 2 filters, for all five addresses together.
    assert proxy.range_refusals == 3 * 4 + 4 * 2
    for address in scenario.addresses:
        assert capped[address].drop("request_key").equals(clean[address].drop("request_key"))


async def test_anvils_own_trace_filter_cap_is_found_by_halving(
    clean_transport: Transport, scenario: Scenario
) -> None:
    scenario.node.request("anvil_mine", [hex(700)])
    head = scenario.head + 700
    source = _source(clean_transport, scenario.node.url, trace_window=1_000)
    table = await source.transfers_for_address(scenario.recipient, 0, head)
    # 811 blocks -> 405 -> 202: anvil allows at most 300 blocks per trace_filter.
    assert source.window_sizes["trace_filter"] == 202
    assert "internal" in set(table["transfer_kind"])


async def test_a_node_without_trace_apis_warns_which_data_is_missing(
    clean_transport: Transport, scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    geth_like = frozenset({"trace_filter", "ots_getApiLevel"})
    bare = geth_like | {"debug_traceBlockByNumber"}
    async with FaultProxy(scenario.node.url, disabled_methods=geth_like) as proxy:
        source = _source(clean_transport, proxy.url)
        assert await source.trace_path() is TracePath.CALL_TRACER
    async with FaultProxy(scenario.node.url, disabled_methods=bare) as proxy:
        source = _source(clean_transport, proxy.url)
        with caplog.at_level(logging.WARNING, logger="tracer.sources.jsonrpc"):
            table = await source.transfers_for_address(scenario.recipient, 0, scenario.head)
    assert await source.trace_path() is TracePath.BLOCKS
    warning = caplog.records[-1].getMessage()
    assert "Internal transfers" in warning and "MISSING" in warning
    assert f"RPC at {proxy.url}" in warning
    assert "internal" not in set(table["transfer_kind"])
    assert "native" in set(table["transfer_kind"])


async def test_a_wrong_chain_is_refused(clean_transport: Transport, anvil: AnvilNode) -> None:
    source = _source(clean_transport, anvil.url, expected_chain_id=1)
    with pytest.raises(ChainMismatchError) as caught:
        await source.transfers_for_address("0x" + "11" * 20, 0, 0)
    assert str(caught.value) == (
        f"RPC at {anvil.url} serves chain id 31337, not the expected chain id 1; check the RPC URL"
    )


async def test_an_unreachable_node_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}"
    async with Transport(retry=RetryPolicy(max_attempts=2, base_delay=0.01)) as transport:
        source = JsonRpcSource.connect(transport, url)
        with pytest.raises(EndpointUnreachableError, match="connection refused") as caught:
            await source.head_block()
    assert str(caught.value) == f"cannot reach RPC at {url}: connection refused"


async def test_an_empty_history_is_an_empty_table(
    clean_transport: Transport, anvil: AnvilNode
) -> None:
    source = _source(clean_transport, anvil.url)
    table = await source.transfers_for_address("0x" + "22" * 20, 0, 0)
    assert table.height == 0 and table.schema == TRANSFER_SCHEMA
    requests = clean_transport.stats()[anvil.url].http_requests
    nothing = await source.transfers_for_address("0x" + "22" * 20, 5, 4)  # an empty range
    assert nothing.height == 0 and clean_transport.stats()[anvil.url].http_requests == requests


_PATIENT = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05)
