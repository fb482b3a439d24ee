"""The testbed contracts behave as docs/testbed-contracts.md says, asserted on a real anvil.

Every check is on-chain: balances before and after (gas paid = gasUsed * effectiveGasPrice),
logs with the mainnet protocols' exact topic hashes, and internal value transfers as
trace_filter reports them, since that is what tracer itself reads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak

from tracer.errors import TestbedError
from tracer.testbed.anvil import REPO_ROOT, AnvilNode
from tracer.testbed.chain import (
    BRIDGE_NATIVE_ASSET,
    BUILD_DIR,
    Chain,
    Contract,
    Receipt,
    Tx,
    load_artifact,
)

# Topic hashes of the mainnet events, pinned as hex so that a typo in a signature fails twice.
TOPICS = {
    "Transfer(address,address,uint256)": (
        "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    ),
    "Approval(address,address,uint256)": (
        "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
    ),
    "Deposit(address,uint256)": (  # WETH9
        "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
    ),
    "Withdrawal(address,uint256)": (  # WETH9
        "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"
    ),
    "Deposit(bytes32,uint32,uint256)": (  # Tornado Cash
        "0xa945e51eec50ab98c161376f0db4cf2aeba3ec92755fe2fcd388bdbbb80ff196"
    ),
    "Withdrawal(address,bytes32,address,uint256)": (  # Tornado Cash
        "0xe9e508bad6d4c3227e881ca19068f099da81b5164dd6d62b2eaf1e8bc6c34931"
    ),
    "Swap(address,uint256,uint256,uint256,uint256,address)": (  # Uniswap V2
        "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
    ),
    "Sync(uint112,uint112)": (  # Uniswap V2
        "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
    ),
}
TRANSFER = TOPICS["Transfer(address,address,uint256)"]
APPROVAL = TOPICS["Approval(address,address,uint256)"]
WETH_DEPOSIT = TOPICS["Deposit(address,uint256)"]
WETH_WITHDRAWAL = TOPICS["Withdrawal(address,uint256)"]
TORNADO_DEPOSIT = TOPICS["Deposit(bytes32,uint32,uint256)"]
TORNADO_WITHDRAWAL = TOPICS["Withdrawal(address,bytes32,address,uint256)"]
SWAP = TOPICS["Swap(address,uint256,uint256,uint256,uint256,address)"]
SYNC = TOPICS["Sync(uint112,uint112)"]
BRIDGE_DEPOSIT = (
    "0x" + keccak(b"BridgeDeposit(address,address,uint256,address,uint256,uint256)").hex()
)

ETHER = 10**18
USD = 10**6  # TestUSD has 6 decimals
DENOMINATION = ETHER // 10
CONTRACTS = (
    "TestUSD",
    "WETH9",
    "TornadoPool",
    "UniswapV2Pair",
    "UniswapV2Router",
    "Bridge",
    "DepositForwarder",
    # OddTokens.sol: tokens with unusual metadata getters or a transfer fee, and a contract
    # that refuses ether
    "NoDecimalsToken",
    "Bytes32SymbolToken",
    "HostileMetadataToken",
    "FeeToken",
    "EtherRefuser",
)


def fresh(label: int) -> str:
    """An address nobody has used: its balance is exactly what the test sends it."""
    return "0x" + (0xF2E5_0000 + label).to_bytes(20, "big").hex()


def word(address: str) -> str:
    """An address as a 32-byte topic."""
    return "0x" + address[2:].rjust(64, "0")


def topics_of(receipt: Receipt, address: str) -> list[str]:
    return [log.topics[0] for log in receipt.logs if log.address == address]


def internal_value_transfers(chain: Chain, receipt: Receipt) -> list[tuple[str, str, int]]:
    """(from, to, wei) of the value-carrying internal calls of one transaction, per trace_filter."""
    block = hex(receipt.block_number)
    traces = chain.request("trace_filter", [{"fromBlock": block, "toBlock": block}])
    return [
        (t["action"]["from"], t["action"]["to"], int(t["action"]["value"], 16))
        for t in traces
        if t["transactionHash"] == receipt.transaction_hash
        and t["traceAddress"]
        and t["type"] == "call"
        and int(t["action"].get("value", "0x0"), 16) > 0
    ]


@pytest.fixture
def chain(anvil: AnvilNode) -> Iterator[Chain]:
    with Chain.of(anvil) as client:
        yield client


@dataclass
class People:
    deployer: str
    alice: str
    bob: str
    carol: str


@pytest.fixture
def people(chain: Chain) -> People:
    accounts = chain.accounts()
    return People(*accounts[:4])


def deadline(chain: Chain) -> int:
    return int(chain.block()["timestamp"], 16) + 600


# --------------------------------------------------------------------------- build


def test_every_contract_is_compiled_by_the_pinned_solc() -> None:
    for name in CONTRACTS:
        artifact = load_artifact(name)
        assert artifact.name == name
        assert artifact.compiler.startswith("0.8.37+")
        assert len(artifact.bytecode) > 100
    with pytest.raises(TestbedError, match=r"no compiled contract 'Nope'.*compile\.js"):
        load_artifact("Nope")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_compile_script_writes_artefacts_and_fails_loudly(tmp_path: Path) -> None:
    sources = REPO_ROOT / "fixtures" / "contracts"
    work = tmp_path / "contracts"
    work.mkdir()
    for path in [*sources.glob("*.sol"), sources / "compile.js"]:
        shutil.copy(path, work)
    env = {**os.environ, "NODE_PATH": str(REPO_ROOT / "node_modules")}
    node = shutil.which("node")
    assert node is not None
    # Left by an earlier build whose sources defined a contract that no source defines now.
    (work / "build").mkdir()
    (work / "build" / "Removed.json").write_text("{}\n")
    (work / "build" / "notes.txt").write_text("not an artefact\n")

    done = subprocess.run(
        [node, str(work / "compile.js")], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "removed Removed.json" in done.stdout
    written = sorted(p.name for p in (work / "build").iterdir())
    # No temp files left, the stale artefact gone, a file that is no artefact untouched.
    assert written == sorted([*(f"{name}.json" for name in CONTRACTS), "notes.txt"])
    body = json.loads((work / "build" / "TornadoPool.json").read_text())
    assert set(body) == {"contractName", "abi", "bytecode", "compiler"}
    assert body == json.loads((BUILD_DIR / "TornadoPool.json").read_text())

    (work / "Broken.sol").write_text("pragma solidity ^0.8.24; contract Broken { uint x = ; }")
    shutil.rmtree(work / "build")
    failed = subprocess.run(
        [node, str(work / "compile.js")], env=env, capture_output=True, text=True, check=False
    )
    assert failed.returncode != 0
    assert "ParserError" in failed.stderr and "Broken.sol" in failed.stderr
    assert not (work / "build").exists()


# --------------------------------------------------------------------------- TestUSD


def test_testusd_is_a_six_decimal_erc20_only_its_owner_can_mint(
    chain: Chain, people: People
) -> None:
    usd = chain.deploy("TestUSD", sender=people.deployer)
    assert usd.call("decimals") == 6
    assert usd.call("name") == "Test USD"
    assert usd.call("symbol") == "tUSD"

    minted = usd.transact("mint", people.alice, 1_000 * USD, sender=people.deployer)
    assert [log.topics for log in minted.logs] == [
        (TRANSFER, word("0x" + "00" * 20), word(people.alice))
    ]
    assert usd.call("balanceOf", people.alice) == 1_000 * USD
    assert usd.call("totalSupply") == 1_000 * USD
    refused = usd.transact("mint", people.bob, 1, sender=people.bob, gas=100_000, check=False)
    assert not refused.status
    assert usd.call("balanceOf", people.bob) == 0

    sent = usd.transact("transfer", people.bob, 250 * USD, sender=people.alice)
    assert usd.events(sent, "Transfer") == [
        {"from": people.alice, "to": people.bob, "value": 250 * USD}
    ]
    approved = usd.transact("approve", people.carol, 100 * USD, sender=people.alice)
    assert topics_of(approved, usd.address) == [APPROVAL]
    usd.transact("transferFrom", people.alice, people.carol, 60 * USD, sender=people.carol)
    assert usd.call("allowance", people.alice, people.carol) == 40 * USD
    too_much = usd.transact(
        "transferFrom",
        people.alice,
        people.carol,
        41 * USD,
        sender=people.carol,
        gas=100_000,
        check=False,
    )
    assert not too_much.status
    assert [usd.call("balanceOf", who) for who in (people.alice, people.bob, people.carol)] == [
        690 * USD,
        250 * USD,
        60 * USD,
    ]


# --------------------------------------------------------------------------- WETH9


def test_weth_wraps_and_unwraps_with_weth9_events_and_an_internal_call(
    chain: Chain, people: People
) -> None:
    weth = chain.deploy("WETH9", sender=people.deployer)
    assert (weth.call("symbol"), weth.call("decimals")) == ("WETH", 18)
    before = chain.balance(people.alice)

    wrapped = weth.transact("deposit", sender=people.alice, value=3 * ETHER)
    assert [log.topics for log in wrapped.logs] == [(WETH_DEPOSIT, word(people.alice))]
    assert weth.events(wrapped, "Deposit") == [{"dst": people.alice, "wad": 3 * ETHER}]
    # receive() wraps too.
    plain = chain.transact(Tx(people.alice, weth.address, value=ETHER))
    assert topics_of(plain, weth.address) == [WETH_DEPOSIT]
    assert weth.call("balanceOf", people.alice) == 4 * ETHER

    unwrapped = weth.transact("withdraw", ETHER, sender=people.alice)
    assert [log.topics for log in unwrapped.logs] == [(WETH_WITHDRAWAL, word(people.alice))]
    assert internal_value_transfers(chain, unwrapped) == [(weth.address, people.alice, ETHER)]
    fees = wrapped.fee + plain.fee + unwrapped.fee
    assert chain.balance(people.alice) == before - 3 * ETHER - fees
    assert chain.balance(weth.address) == 3 * ETHER == weth.call("totalSupply")

    moved = weth.transact("transfer", people.bob, ETHER, sender=people.alice)
    assert topics_of(moved, weth.address) == [TRANSFER]
    assert weth.call("balanceOf", people.bob) == ETHER


# --------------------------------------------------------------------------- TornadoPool


@pytest.fixture
def pool(chain: Chain, people: People) -> Contract:
    return chain.deploy("TornadoPool", DENOMINATION, sender=people.deployer)


def withdraw_args(nullifier: bytes, recipient: str, relayer: str, fee: int) -> tuple[Any, ...]:
    return (b"\x01" * 256, b"\x02" * 32, nullifier, recipient, relayer, fee, 0)


def test_pool_deposit_takes_exactly_the_denomination_and_emits_tornados_event(
    chain: Chain, people: People, pool: Contract
) -> None:
    before = chain.balance(people.alice)
    commitments = [keccak(b"note-1"), keccak(b"note-2")]
    receipts = [
        pool.transact("deposit", c, sender=people.alice, value=DENOMINATION) for c in commitments
    ]
    for index, (commitment, receipt) in enumerate(zip(commitments, receipts, strict=True)):
        (log,) = receipt.logs
        assert log.topics == (TORNADO_DEPOSIT, "0x" + commitment.hex())
        block_time = int(chain.block(receipt.block_number)["timestamp"], 16)
        assert pool.events(receipt, "Deposit") == [
            {"commitment": commitment, "leafIndex": index, "timestamp": block_time}
        ]
        assert pool.call("commitments", commitment) is True
    assert chain.balance(pool.address) == 2 * DENOMINATION
    assert chain.balance(people.alice) == before - 2 * DENOMINATION - sum(r.fee for r in receipts)


@pytest.mark.parametrize("value", [DENOMINATION - 1, DENOMINATION + 1, 0])
def test_pool_rejects_a_deposit_of_the_wrong_value(
    chain: Chain, people: People, pool: Contract, value: int
) -> None:
    before = chain.balance(people.alice)
    receipt = pool.transact(
        "deposit", keccak(b"x"), sender=people.alice, value=value, gas=200_000, check=False
    )
    assert not receipt.status
    assert receipt.logs == ()
    assert chain.balance(pool.address) == 0
    assert chain.balance(people.alice) == before - receipt.fee
    with pytest.raises(TestbedError, match="mixDenomination"):
        pool.transact("deposit", keccak(b"x"), sender=people.alice, value=value, gas=200_000)


def test_pool_withdrawal_pays_the_recipient_by_internal_call(
    chain: Chain, people: People, pool: Contract
) -> None:
    pool.transact("deposit", keccak(b"note"), sender=people.alice, value=DENOMINATION)
    recipient, nullifier = fresh(1), keccak(b"nullifier")
    no_relayer = "0x" + "00" * 20
    receipt = pool.transact(
        "withdraw", *withdraw_args(nullifier, recipient, no_relayer, 0), sender=people.bob
    )
    assert chain.balance(recipient) == DENOMINATION
    assert chain.balance(pool.address) == 0
    assert internal_value_transfers(chain, receipt) == [(pool.address, recipient, DENOMINATION)]
    (log,) = receipt.logs
    assert log.topics == (TORNADO_WITHDRAWAL, word(no_relayer))
    assert pool.events(receipt, "Withdrawal") == [
        {"to": recipient, "nullifierHash": nullifier, "relayer": no_relayer, "fee": 0}
    ]
    assert pool.call("isSpent", nullifier) is True


def test_pool_withdrawal_through_a_relayer_makes_two_internal_calls(
    chain: Chain, people: People, pool: Contract
) -> None:
    pool.transact("deposit", keccak(b"note"), sender=people.alice, value=DENOMINATION)
    recipient, relayer, fee = fresh(2), fresh(3), DENOMINATION // 50
    sender_before = chain.balance(people.bob)
    receipt = pool.transact(
        "withdraw", *withdraw_args(keccak(b"n"), recipient, relayer, fee), sender=people.bob
    )
    assert internal_value_transfers(chain, receipt) == [
        (pool.address, recipient, DENOMINATION - fee),
        (pool.address, relayer, fee),
    ]
    assert chain.balance(recipient) == DENOMINATION - fee
    assert chain.balance(relayer) == fee
    assert chain.balance(people.bob) == sender_before - receipt.fee
    (log,) = receipt.logs
    assert log.topics == (TORNADO_WITHDRAWAL, word(relayer))
    assert pool.events(receipt, "Withdrawal")[0]["fee"] == fee


def test_pool_refuses_a_spent_nullifier_and_bad_withdrawal_parameters(
    chain: Chain, people: People, pool: Contract
) -> None:
    for note in (b"a", b"b"):
        pool.transact("deposit", keccak(note), sender=people.alice, value=DENOMINATION)
    nullifier, recipient = keccak(b"spent"), fresh(4)
    pool.transact("withdraw", *withdraw_args(nullifier, recipient, recipient, 0), sender=people.bob)

    again = pool.transact(
        "withdraw",
        *withdraw_args(nullifier, recipient, recipient, 0),
        sender=people.bob,
        gas=300_000,
        check=False,
    )
    assert not again.status
    assert internal_value_transfers(chain, again) == []
    assert chain.balance(recipient) == DENOMINATION
    assert chain.balance(pool.address) == DENOMINATION
    with pytest.raises(TestbedError, match="has been already spent"):
        pool.transact(
            "withdraw", *withdraw_args(nullifier, recipient, recipient, 0), sender=people.bob
        )

    fresh_nullifier = keccak(b"unspent")
    bad_calls: list[tuple[tuple[Any, ...], int, str]] = [
        (withdraw_args(fresh_nullifier, recipient, recipient, DENOMINATION + 1), 0, "Fee exceeds"),
        ((*withdraw_args(fresh_nullifier, recipient, recipient, 0)[:6], 1), 0, "Refund value"),
        (withdraw_args(fresh_nullifier, recipient, recipient, 0), 1, "Message value"),
    ]
    for args, value, reason in bad_calls:
        with pytest.raises(TestbedError, match=reason):
            pool.transact("withdraw", *args, sender=people.bob, value=value, gas=300_000)
    assert pool.call("isSpent", fresh_nullifier) is False
    assert chain.balance(pool.address) == DENOMINATION


# --------------------------------------------------------------------------- Uniswap V2


@dataclass
class Market:
    usd: Contract
    weth: Contract
    pair: Contract
    router: Contract
    weth_is_token0: bool


RESERVE_WETH = 100 * ETHER
RESERVE_USD = 300_000 * USD


@pytest.fixture(params=[True, False], ids=["weth-token0", "usd-token0"])
def market(request: pytest.FixtureRequest, chain: Chain, people: People) -> Market:
    usd = chain.deploy("TestUSD", sender=people.deployer)
    weth = chain.deploy("WETH9", sender=people.deployer)
    weth_first: bool = request.param
    tokens = (weth.address, usd.address) if weth_first else (usd.address, weth.address)
    pair = chain.deploy("UniswapV2Pair", *tokens, sender=people.deployer)
    router = chain.deploy("UniswapV2Router", pair.address, weth.address, sender=people.deployer)
    assert (pair.call("token0"), pair.call("token1")) == tokens

    # Seed liquidity the documented way: transfer both tokens to the pair, then sync().
    usd.transact("mint", pair.address, RESERVE_USD, sender=people.deployer)
    weth.transact("deposit", sender=people.deployer, value=RESERVE_WETH)
    weth.transact("transfer", pair.address, RESERVE_WETH, sender=people.deployer)
    synced = pair.transact("sync", sender=people.deployer)
    reserves = (RESERVE_WETH, RESERVE_USD) if weth_first else (RESERVE_USD, RESERVE_WETH)
    assert [log.topics for log in synced.logs] == [(SYNC,)]
    assert pair.events(synced, "Sync") == [{"reserve0": reserves[0], "reserve1": reserves[1]}]
    return Market(usd, weth, pair, router, weth_first)


def amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Uniswap V2's getAmountOut: the 0.3 % fee taken from the input, rounded down."""
    with_fee = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


def reserves(market: Market) -> tuple[int, int]:
    """(WETH, USD) reserves whatever the token order."""
    reserve0, reserve1, _ = market.pair.call("getReserves")
    return (reserve0, reserve1) if market.weth_is_token0 else (reserve1, reserve0)


def test_router_swaps_eth_for_tokens_with_the_constant_product_and_fee(
    chain: Chain, people: People, market: Market
) -> None:
    path = [market.weth.address, market.usd.address]
    amount_in, buyer = 2 * ETHER, people.alice
    expected = amount_out(amount_in, RESERVE_WETH, RESERVE_USD)
    assert market.router.call("getAmountsOut", amount_in, path) == (amount_in, expected)
    eth_before = chain.balance(buyer)

    receipt = market.router.transact(
        "swapExactETHForTokens",
        expected,
        path,
        buyer,
        deadline(chain),
        sender=buyer,
        value=amount_in,
    )
    assert chain.balance(buyer) == eth_before - amount_in - receipt.fee
    assert market.usd.call("balanceOf", buyer) == expected
    assert reserves(market) == (RESERVE_WETH + amount_in, RESERVE_USD - expected)
    # Wrapping is an internal call carrying the ETH from the router to WETH.
    assert internal_value_transfers(chain, receipt) == [
        (market.router.address, market.weth.address, amount_in)
    ]
    assert topics_of(receipt, market.pair.address) == [SYNC, SWAP]
    (swap_log,) = [log for log in receipt.logs if log.topics[0] == SWAP]
    assert swap_log.topics == (SWAP, word(market.router.address), word(buyer))
    (swap,) = market.pair.events(receipt, "Swap")
    weth0 = market.weth_is_token0
    amounts = (amount_in, 0, 0, expected) if weth0 else (0, amount_in, expected, 0)
    assert (swap["amount0In"], swap["amount1In"], swap["amount0Out"], swap["amount1Out"]) == (
        amounts
    )


def test_router_swaps_tokens_for_eth_and_pays_out_by_internal_call(
    chain: Chain, people: People, market: Market
) -> None:
    seller, amount_in = fresh(5), 3_000 * USD
    chain.set_balance(seller, ETHER)
    market.usd.transact("mint", seller, amount_in, sender=people.deployer)
    approved = market.usd.transact("approve", market.router.address, amount_in, sender=seller)
    path = [market.usd.address, market.weth.address]
    expected = amount_out(amount_in, RESERVE_USD, RESERVE_WETH)
    assert market.router.call("getAmountsOut", amount_in, path) == (amount_in, expected)

    receipt = market.router.transact(
        "swapExactTokensForETH", amount_in, expected, path, seller, deadline(chain), sender=seller
    )
    assert chain.balance(seller) == ETHER - approved.fee - receipt.fee + expected
    assert market.usd.call("balanceOf", seller) == 0
    assert reserves(market) == (RESERVE_WETH - expected, RESERVE_USD + amount_in)
    assert chain.balance(market.router.address) == 0
    # Unwrap (WETH -> router) and payout (router -> seller) are both internal calls.
    assert internal_value_transfers(chain, receipt) == [
        (market.weth.address, market.router.address, expected),
        (market.router.address, seller, expected),
    ]
    assert topics_of(receipt, market.weth.address) == [TRANSFER, WETH_WITHDRAWAL]
    (swap,) = market.pair.events(receipt, "Swap")
    assert (swap["sender"], swap["to"]) == (market.router.address, market.router.address)
    weth_out = "amount0Out" if market.weth_is_token0 else "amount1Out"
    usd_in = "amount1In" if market.weth_is_token0 else "amount0In"
    assert (swap[weth_out], swap[usd_in]) == (expected, amount_in)


def test_router_and_pair_refuse_bad_swaps(chain: Chain, people: People, market: Market) -> None:
    path = [market.weth.address, market.usd.address]
    expected = amount_out(ETHER, RESERVE_WETH, RESERVE_USD)
    cases = [
        (expected + 1, deadline(chain), "INSUFFICIENT_OUTPUT_AMOUNT"),
        (0, int(chain.block()["timestamp"], 16) - 1, "EXPIRED"),
    ]
    for minimum, until, reason in cases:
        with pytest.raises(TestbedError, match=reason):
            market.router.transact(
                "swapExactETHForTokens",
                minimum,
                path,
                people.alice,
                until,
                sender=people.alice,
                value=ETHER,
                gas=300_000,
            )
    # Paying the pair exactly and asking one unit more than the fee allows breaks K.
    market.weth.transact("deposit", sender=people.alice, value=ETHER)
    market.weth.transact("transfer", market.pair.address, ETHER, sender=people.alice)
    outs = (0, expected + 1) if market.weth_is_token0 else (expected + 1, 0)
    with pytest.raises(TestbedError, match="UniswapV2: K"):
        market.pair.transact("swap", *outs, people.alice, b"", sender=people.alice, gas=300_000)
    assert reserves(market) == (RESERVE_WETH, RESERVE_USD)


# --------------------------------------------------------------------------- Bridge


def test_bridge_deposits_carry_destination_chain_and_recipient(
    chain: Chain, people: People
) -> None:
    bridge = chain.deploy("Bridge", sender=people.deployer)
    usd = chain.deploy("TestUSD", sender=people.deployer)
    recipient = fresh(6)
    assert bridge.call("ETH") == BRIDGE_NATIVE_ASSET

    eth_leg = bridge.transact("depositETH", 10, recipient, sender=people.alice, value=ETHER)
    (log,) = eth_leg.logs
    assert log.topics == (BRIDGE_DEPOSIT, word(people.alice), word(recipient), "0x" + "a".zfill(64))
    assert bridge.events(eth_leg, "BridgeDeposit") == [
        {
            "sender": people.alice,
            "recipient": recipient,
            "destinationChainId": 10,
            "token": BRIDGE_NATIVE_ASSET,
            "amount": ETHER,
            "nonce": 0,
        }
    ]
    assert chain.balance(bridge.address) == ETHER

    usd.transact("mint", people.alice, 500 * USD, sender=people.deployer)
    usd.transact("approve", bridge.address, 500 * USD, sender=people.alice)
    token_leg = bridge.transact(
        "depositERC20", usd.address, 500 * USD, 42161, recipient, sender=people.alice
    )
    assert usd.events(token_leg, "Transfer") == [
        {"from": people.alice, "to": bridge.address, "value": 500 * USD}
    ]
    (event,) = bridge.events(token_leg, "BridgeDeposit")
    assert (event["destinationChainId"], event["token"], event["amount"], event["nonce"]) == (
        42161,
        usd.address,
        500 * USD,
        1,
    )
    assert usd.call("balanceOf", bridge.address) == 500 * USD


# --------------------------------------------------------------------------- DepositForwarder


def test_forwarder_passes_eth_to_the_hot_wallet_in_the_same_transaction(
    chain: Chain, people: People, pool: Contract
) -> None:
    hot_wallet = fresh(7)
    forwarder = chain.deploy("DepositForwarder", hot_wallet, sender=people.deployer)
    assert forwarder.call("hotWallet") == hot_wallet

    receipt = chain.transact(Tx(people.alice, forwarder.address, value=2 * ETHER))
    assert chain.balance(hot_wallet) == 2 * ETHER
    assert chain.balance(forwarder.address) == 0
    assert internal_value_transfers(chain, receipt) == [(forwarder.address, hot_wallet, 2 * ETHER)]

    # A mixer withdrawal straight into a deposit address: two nested internal calls.
    pool.transact("deposit", keccak(b"note"), sender=people.alice, value=DENOMINATION)
    withdrawal = pool.transact(
        "withdraw",
        *withdraw_args(keccak(b"n"), forwarder.address, people.bob, 0),
        sender=people.bob,
    )
    assert internal_value_transfers(chain, withdrawal) == [
        (pool.address, forwarder.address, DENOMINATION),
        (forwarder.address, hot_wallet, DENOMINATION),
    ]
    assert chain.balance(hot_wallet) == 2 * ETHER + DENOMINATION


def test_forwarder_sweeps_tokens_for_the_hot_wallet_only(chain: Chain, people: People) -> None:
    hot_wallet = fresh(8)
    chain.set_balance(hot_wallet, ETHER)
    forwarder = chain.deploy("DepositForwarder", hot_wallet, sender=people.deployer)
    usd = chain.deploy("TestUSD", sender=people.deployer)
    usd.transact("mint", people.alice, 700 * USD, sender=people.deployer)
    usd.transact("transfer", forwarder.address, 700 * USD, sender=people.alice)

    refused = forwarder.transact(
        "sweep", usd.address, sender=people.alice, gas=100_000, check=False
    )
    assert not refused.status
    assert usd.call("balanceOf", forwarder.address) == 700 * USD

    swept = forwarder.transact("sweep", usd.address, sender=hot_wallet)
    assert usd.events(swept, "Transfer") == [
        {"from": forwarder.address, "to": hot_wallet, "value": 700 * USD}
    ]
    assert usd.call("balanceOf", forwarder.address) == 0
    assert usd.call("balanceOf", hot_wallet) == 700 * USD
