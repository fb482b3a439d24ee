"""One conformance suite for every source: the same addresses give the same transfer table.

A scenario on a real anvil node produces every kind of movement: plain ETH transfers (one to
the sender itself), a Tornado-style pool paying the recipient and the relayer by internal call,
a chain of two exchange deposit forwarders (internal calls at depth 1 and 2), a Uniswap-style
router wrapping and unwrapping ETH (WETH pays the router at depth 2), an ERC-20, ERC-721 and
ERC-1155 events (a batch listing one id twice) and a reverted deposit.

Each source is then asked for each address's transfers and compared with the ``trace_filter``
path of :class:`~tracer.sources.jsonrpc.JsonRpcSource`:

* the columns that identify and describe a movement must be equal, row for row
  (:data:`IDENTITY_COLUMNS`);
* the columns a source may not know (:data:`CONTEXT_COLUMNS`: ``trace_filter`` has no token
  symbols, an explorer's ``txlistinternal`` no gas price, ots no per-frame success) must agree
  wherever both sides know them; ``source`` and ``request_key`` name the producer and differ;
* sources without call paths (ots' ``"ots:<n>"``, Blockscout's ``"blockscout:<index>"``) are
  compared without the ``trace_address`` of internal rows, and through
  :func:`~tracer.transfers.from_rpc.movement_diff` as ``from_rpc`` documents.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Final

import polars as pl
import pytest
from eth_abi.abi import encode as abi_encode

from tests.sources.conftest import UNLIMITED
from tests.sources.explorer_server import ExplorerServer, Flavor, ServerConfig
from tracer.sources.explorer import ExplorerFlavor, ExplorerSource
from tracer.sources.jsonrpc import JsonRpcSource, TracePath
from tracer.sources.rpcclient import JsonRpcClient
from tracer.sources.transport import Transport
from tracer.testbed.anvil import AnvilNode, AnvilOptions
from tracer.testbed.chain import Chain, Tx
from tracer.transfers.from_rpc import movement_diff
from tracer.transfers.schema import TRANSFER_SCHEMA, validate
from tracer.transfers.topics import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC

ETH: Final = 10**18
CHAIN_ID: Final = 31337
API_KEY: Final = "conformance-key-0123456789"
ENVIRON: Final = {"TRACER_ETHERSCAN_API_KEY": API_KEY}

IDENTITY_COLUMNS: Final = (
    "chain_id",
    "block_number",
    "block_time",
    "transaction_hash",
    "transfer_kind",
    "log_index",
    "trace_address",
    "from_address",
    "to_address",
    "token_address",
    "token_id",
    "value_raw",
)
CONTEXT_COLUMNS: Final = ("value", "token_symbol", "token_decimals", "tx_succeeded", "gas_price")
assert set(TRANSFER_SCHEMA.names()) == {
    *IDENTITY_COLUMNS,
    *CONTEXT_COLUMNS,
    "source",
    "request_key",
}

# A log emitter: LOG4 with calldata words 0..3 as topics and calldata[128:] as data. Runtime:
#   PUSH1 0x60 CALLDATALOAD  PUSH1 0x40 CALLDATALOAD  PUSH1 0x20 CALLDATALOAD  PUSH0 CALLDATALOAD
#   PUSH1 0x80 CALLDATASIZE SUB  DUP1 PUSH1 0x80 PUSH0 CALLDATACOPY  PUSH0 LOG4 STOP
EMITTER_RUNTIME: Final = "606035604035602035" + "5f35" + "608036038060805f37" + "5fa400"
# Init: CODECOPY the 23 runtime bytes (after these 9) to memory 0 and RETURN them.
EMITTER_INIT: Final = "6017806009" + "5f395ff3"


def _word(value: int | str) -> bytes:
    number = int(value, 16) if isinstance(value, str) else value
    return number.to_bytes(32, "big")


@dataclass(frozen=True)
class Scenario:
    node: AnvilNode
    head: int
    sender: str
    receiver: str
    recipient: str
    relayer: str
    hot_wallet: str
    trader: str
    pool: str
    forwarder: str  # forwards to the second forwarder, which forwards to the hot wallet
    second_forwarder: str
    token: str
    weth: str
    router: str
    emitter: str
    withdrawal_tx: str
    failed_tx: str
    sell_tx: str  # trader sells tUSD for ETH: WETH pays the router two calls deep

    @property
    def addresses(self) -> tuple[str, ...]:
        return (
            self.sender,
            self.receiver,
            self.recipient,
            self.relayer,
            self.hot_wallet,
            self.trader,
            self.pool,
            self.forwarder,
            self.second_forwarder,
            self.router,
            self.weth,
        )


def build_scenario(node: AnvilNode) -> Scenario:
    with Chain.of(node) as chain:
        deployer, sender, receiver, relayer, recipient, hot, trader = chain.accounts()[:7]
        token = chain.deploy("TestUSD", sender=deployer)
        pool = chain.deploy("TornadoPool", ETH, sender=deployer)
        second = chain.deploy("DepositForwarder", hot, sender=deployer)
        forwarder = chain.deploy("DepositForwarder", second.address, sender=deployer)
        weth = chain.deploy("WETH9", sender=deployer)
        pair = chain.deploy("UniswapV2Pair", token.address, weth.address, sender=deployer)
        router = chain.deploy("UniswapV2Router", pair.address, weth.address, sender=deployer)
        emitter = chain.transact(Tx(deployer, None, data=EMITTER_INIT + EMITTER_RUNTIME))
        assert emitter.contract_address is not None
        nft = emitter.contract_address

        chain.transact(Tx(sender, receiver, 2 * ETH))
        chain.transact(Tx(sender, sender, 3 * ETH))  # to itself: one row
        chain.mine_blocks(5)
        pool.transact("deposit", b"\x01" * 32, sender=sender, value=ETH)
        withdrawal = pool.transact(
            "withdraw", b"", b"\x02" * 32, b"\x03" * 32, recipient, relayer, ETH // 10, 0,
            sender=relayer,
        )  # fmt: skip
        chain.transact(Tx(recipient, forwarder.address, ETH // 2))  # two hops by internal call
        token.transact("mint", sender, 5_000_000, sender=deployer)
        token.transact("transfer", recipient, 1_250_000, sender=sender)

        # Liquidity, then one swap each way through the router.
        token.transact("mint", pair.address, 1_000_000_000, sender=deployer)
        weth.transact("deposit", sender=deployer, value=10 * ETH)
        weth.transact("transfer", pair.address, 10 * ETH, sender=deployer)
        pair.transact("sync", sender=deployer)
        token.transact("mint", trader, 50_000_000, sender=deployer)
        token.transact("approve", router.address, 2**256 - 1, sender=trader)
        deadline = 2**40
        sell = router.transact(
            "swapExactTokensForETH", 20_000_000, 0, [token.address, weth.address], trader,
            deadline, sender=trader,
        )  # fmt: skip
        router.transact(
            "swapExactETHForTokens", 0, [weth.address, token.address], trader, deadline,
            sender=trader, value=ETH // 4,
        )  # fmt: skip

        single = abi_encode(["uint256", "uint256"], [3, 40])
        batch = abi_encode(["uint256[]", "uint256[]"], [[1, 2, 1], [5, 6, 7]])
        events: list[tuple[list[str | int], bytes]] = [  # four topics, then data
            ([TRANSFER_TOPIC, sender, recipient, 7], b""),  # ERC-721 token 7
            ([TRANSFER_SINGLE_TOPIC, deployer, sender, recipient], single),  # operator first
            ([TRANSFER_BATCH_TOPIC, deployer, recipient, sender], batch),  # id 1 twice
        ]
        for topics, data in events:
            calldata = b"".join(_word(topic) for topic in topics) + data
            chain.transact(Tx(deployer, nft, data=calldata))
        bad_deposit = pool.encode("deposit", b"\x04" * 32)  # 3 ETH instead of 1: reverts
        failed = chain.transact(
            Tx(sender, pool.address, 3 * ETH, data=bad_deposit, gas=200_000), check=False
        )
        assert not failed.status
        head = chain.block_number()
    return Scenario(
        node, head, sender, receiver, recipient, relayer, hot, trader, pool.address,
        forwarder.address, second.address, token.address, weth.address, router.address, nft,
        withdrawal.transaction_hash, failed.transaction_hash, sell.transaction_hash,
    )  # fmt: skip


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    with AnvilNode(AnvilOptions()) as node:
        yield build_scenario(node)


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport() as shared:
        yield shared


# --------------------------------------------------------------------------------------------
# Comparison.


def _without_positions(frame: pl.DataFrame) -> pl.DataFrame:
    internal = pl.col("transfer_kind") == "internal"
    return frame.with_columns(
        pl.when(internal).then(None).otherwise(pl.col("trace_address")).alias("trace_address")
    )


def table_differences(
    expected: pl.DataFrame, actual: pl.DataFrame, *, positions: bool = True
) -> list[str]:
    """What keeps ``actual`` from being the same table as ``expected`` (empty: the same)."""
    problems: list[str] = []
    if not positions:
        if not movement_diff(expected, actual).equal:
            problems.append(f"movements differ: {movement_diff(expected, actual)}")
        expected, actual = _without_positions(expected), _without_positions(actual)
    columns = list(IDENTITY_COLUMNS)
    left = expected.sort(columns, nulls_last=False)
    right = actual.sort(columns, nulls_last=False)
    if not left.select(columns).equals(right.select(columns)):
        only_left = left.select(columns).join(
            right.select(columns), on=columns, how="anti", nulls_equal=True
        )
        only_right = right.select(columns).join(
            left.select(columns), on=columns, how="anti", nulls_equal=True
        )
        problems.append(f"rows only expected:\n{only_left}\nrows only actual:\n{only_right}")
        return problems
    for column in CONTEXT_COLUMNS:
        pairs = pl.DataFrame({"expected": left[column], "actual": right[column]})
        clash = pairs.filter(
            pl.col("expected").is_not_null()
            & pl.col("actual").is_not_null()
            & (pl.col("expected") != pl.col("actual"))
        )
        if clash.height:
            problems.append(f"{column} disagrees where both know it:\n{clash}")
    return problems


# --------------------------------------------------------------------------------------------
# The sources.

SourceFactory = Callable[
    [Transport, Scenario, ExplorerServer | None], JsonRpcSource | ExplorerSource
]


def _rpc(path: TracePath) -> SourceFactory:
    def make(transport: Transport, scenario: Scenario, _: ExplorerServer | None) -> JsonRpcSource:
        client = JsonRpcClient(transport, scenario.node.url, limits=UNLIMITED)
        return JsonRpcSource(client, trace_path=path, trace_window=64, logs_window=64)

    return make


def _explorer(
    flavor: ExplorerFlavor, *, page_size: int = 1_000, result_window: int = 10_000
) -> SourceFactory:
    def make(
        transport: Transport, scenario: Scenario, server: ExplorerServer | None
    ) -> ExplorerSource:
        assert server is not None
        return ExplorerSource(
            transport,
            chain_id=CHAIN_ID,
            flavor=flavor,
            url=server.url,
            limits=UNLIMITED,
            page_size=page_size,
            result_window=result_window,
            environ=ENVIRON,
        )

    return make


@dataclass(frozen=True)
class Case:
    name: str
    make: SourceFactory
    server: ServerConfig | None = None
    positions: bool = True  # does the source know call paths?
    internal: bool = True  # does the source see internal transfers at all?


CASES: Final = (
    Case("rpc:ots", _rpc(TracePath.OTTERSCAN), positions=False),
    # No tracing API: the same table but for the internal transfers, which it cannot see.
    Case("rpc:blocks", _rpc(TracePath.BLOCKS), internal=False),
    Case("rpc:callTracer", _rpc(TracePath.CALL_TRACER)),
    Case(
        "explorer:etherscan",
        _explorer(ExplorerFlavor.ETHERSCAN),
        ServerConfig(flavor=Flavor.ETHERSCAN, api_key=API_KEY, record_cap=1_000),
    ),
    Case(
        # Pages of 2 records in a window of 6: every address crosses pages, windows and
        # block-cursor restarts, and a block's records span pages.
        "explorer:etherscan:tiny-pages",
        _explorer(ExplorerFlavor.ETHERSCAN, page_size=2, result_window=6),
        ServerConfig(flavor=Flavor.ETHERSCAN, api_key=API_KEY, record_cap=2, result_window=6),
    ),
    Case(
        "explorer:blockscout",
        _explorer(ExplorerFlavor.BLOCKSCOUT),
        ServerConfig(flavor=Flavor.BLOCKSCOUT, api_key=None),
        positions=False,
    ),
)


async def _tables(
    source: JsonRpcSource | ExplorerSource, scenario: Scenario
) -> dict[str, pl.DataFrame]:
    return {
        address: await source.transfers_for_address(address, 0, scenario.head)
        for address in scenario.addresses
    }


async def test_the_scenario_covers_every_kind_and_nested_calls(
    transport: Transport, scenario: Scenario
) -> None:
    reference = await _tables(_rpc(TracePath.TRACE_FILTER)(transport, scenario, None), scenario)
    everything = pl.concat(reference.values())
    assert set(everything["transfer_kind"]) == {"native", "internal", "erc20", "erc721", "erc1155"}
    assert False in set(everything["tx_succeeded"])
    nested = everything.filter(pl.col("trace_address").str.contains(","))
    # WETH pays the router inside its withdraw() call, and the second forwarder the hot wallet.
    assert set(nested.select("from_address", "to_address").rows()) == {
        (scenario.weth, scenario.router),
        (scenario.second_forwarder, scenario.hot_wallet),
    }
    batch = reference[scenario.recipient].filter(
        (pl.col("transfer_kind") == "erc1155") & (pl.col("from_address") == scenario.recipient)
    )
    assert batch.select("token_id", "value_raw").rows() == [("1", "12"), ("2", "6")]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_every_source_gives_the_reference_table(
    transport: Transport, scenario: Scenario, case: Case
) -> None:
    reference = await _tables(_rpc(TracePath.TRACE_FILTER)(transport, scenario, None), scenario)
    if case.server is None:
        tables = await _tables(case.make(transport, scenario, None), scenario)
    else:
        async with ExplorerServer(scenario.node.url, case.server) as server:
            tables = await _tables(case.make(transport, scenario, server), scenario)
    assert sum(frame.height for frame in reference.values()) >= 30
    for address in scenario.addresses:
        validate(tables[address])
        expected = reference[address]
        if not case.internal:
            expected = expected.filter(pl.col("transfer_kind") != "internal")
        problems = table_differences(expected, tables[address], positions=case.positions)
        assert not problems, (case.name, address, "\n".join(problems))
