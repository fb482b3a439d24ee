"""The bulk testbed client against a real anvil: batching, nonces, mining, checks, errors."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from tracer.errors import TestbedError
from tracer.testbed.anvil import AnvilNode, AnvilOptions, free_loopback_port
from tracer.testbed.chain import (
    ETH_TRANSFER_GAS,
    Chain,
    NodeRequestError,
    Tx,
    create_address,
    load_artifact,
)

ETHER = 10**18


def addr(label: int) -> str:
    return "0x" + (0xC4A1_0000 + label).to_bytes(20, "big").hex()


@pytest.fixture
def bulk() -> Iterator[Chain]:
    """A node in bulk mode (mining only on request) and a client for it."""
    with AnvilNode(AnvilOptions.for_bulk()) as node, Chain.of(node) as chain:
        yield chain


@pytest.fixture
def auto(anvil: AnvilNode) -> Iterator[Chain]:
    with Chain.of(anvil) as chain:
        yield chain


def test_for_bulk_options_reach_the_command_line() -> None:
    options = AnvilOptions.for_bulk(gas_limit=5_000_000_000)
    assert (options.no_mining, options.order, options.gas_limit) == (True, "fifo", 5_000_000_000)
    assert options.disable_pool_balance_checks
    with AnvilNode(options) as node:
        command = node._command()
        assert "--disable-pool-balance-checks" in command
        assert command[command.index("--gas-limit") + 1] == "5000000000"
        assert command[command.index("--order") + 1] == "fifo"


def test_a_multi_hop_chain_lands_in_one_block_with_the_given_timestamp(bulk: Chain) -> None:
    hops = [addr(i) for i in range(4)]
    bulk.set_balance(hops[0], 10 * ETHER)
    gas_price = 2 * 10**9  # legacy price: the fee of each hop is known in advance
    fee = ETH_TRANSFER_GAS * gas_price
    # Each hop forwards what it got minus its own gas; hops 1-3 are funded within the block.
    amounts = [5 * ETHER - i * fee for i in range(3)]
    txs = [
        Tx(hops[i], hops[i + 1], amounts[i], gas=ETH_TRANSFER_GAS, gas_price=gas_price)
        for i in range(3)
    ]
    start = int(bulk.block()["timestamp"], 16)
    mined = bulk.send_in_blocks(txs, per_block=3, timestamps=iter([start + 12]))
    assert {m.block_number for m in mined} == {1}
    assert int(bulk.block(1)["timestamp"], 16) == start + 12
    assert bulk.block(1)["transactions"] == [m.transaction_hash for m in mined]
    assert bulk.balances(hops) == [
        10 * ETHER - amounts[0] - fee,
        amounts[0] - amounts[1] - fee,
        amounts[1] - amounts[2] - fee,
        amounts[2],
    ]


def test_bulk_sends_keep_each_senders_order_across_blocks(bulk: Chain) -> None:
    senders = [addr(100 + i) for i in range(7)]
    bulk.set_balances(dict.fromkeys(senders, ETHER))
    txs = [Tx(senders[i % 7], addr(1000 + i), i + 1, gas=ETH_TRANSFER_GAS) for i in range(1_200)]
    stamps = itertools.count(int(bulk.block()["timestamp"], 16) + 1)
    mined = bulk.send_in_blocks(txs, per_block=500, timestamps=stamps)
    assert [m.block_number for m in mined[::500]] == [1, 2, 3]
    assert bulk.balances([addr(1000 + i) for i in range(1_200)]) == list(range(1, 1_201))
    raw = bulk.request("eth_getTransactionByHash", [mined[-1].transaction_hash])
    assert int(raw["nonce"], 16) == 1_199 // 7
    assert bulk.next_nonce(senders[0]) == 172


def test_failed_transactions_are_reported_from_traces(bulk: Chain) -> None:
    usd = load_artifact("TestUSD")
    owner = bulk.accounts()[0]
    token = bulk.deploy(usd, sender=owner)
    not_owner = bulk.accounts()[1]
    txs = [
        Tx(owner, addr(1), ETHER, gas=ETH_TRANSFER_GAS),
        token.tx("mint", addr(2), 5, sender=not_owner, gas=100_000),  # reverts: not the owner
        token.tx("mint", addr(2), 7, sender=owner, gas=100_000),
    ]
    with pytest.raises(TestbedError, match="1 transactions failed"):
        bulk.send_in_blocks(txs, per_block=10)
    head = bulk.block_number()
    failed = bulk.failed_transactions(head, head)
    (tx_hash,) = failed
    assert failed[tx_hash] == "Reverted"
    receipt = bulk.receipt(tx_hash)
    assert receipt is not None and not receipt.status and receipt.sender == not_owner
    assert token.call("balanceOf", addr(2)) == 7


def test_transactions_that_do_not_fit_are_an_error(bulk: Chain) -> None:
    bulk.request("evm_setBlockGasLimit", [hex(30_000_000)])
    sender = bulk.accounts()[0]
    txs = [Tx(sender, addr(i), 1, gas=ETH_TRANSFER_GAS) for i in range(1_500)]
    with pytest.raises(TestbedError, match=r"72 of 1500 transactions were not mined"):
        bulk.send_in_blocks(txs, per_block=1_500)


def test_a_rejected_send_names_the_method_and_the_tracker_recovers(bulk: Chain) -> None:
    sender = bulk.accounts()[0]
    bulk.send_in_blocks([Tx(sender, addr(1), 1, gas=ETH_TRANSFER_GAS)])
    with pytest.raises(NodeRequestError, match=r"eth_sendTransaction.*nonce 0") as caught:
        bulk.send(Tx(sender, addr(1), 1, gas=ETH_TRANSFER_GAS, nonce=0))
    assert caught.value.method == "eth_sendTransaction"
    assert caught.value.code is not None
    mined = bulk.send_in_blocks([Tx(sender, addr(1), 1, gas=ETH_TRANSFER_GAS)])
    assert mined[0].block_number == 2


def test_an_unpayable_transaction_is_an_error_and_does_not_block_its_sender(bulk: Chain) -> None:
    # With pool balance checks off (bulk mode), anvil accepts it, then drops it from the block.
    poor = addr(2)
    with pytest.raises(TestbedError, match="1 of 1 transactions were not mined in block 1"):
        bulk.send_in_blocks([Tx(poor, addr(3), ETHER, gas=ETH_TRANSFER_GAS)])
    bulk.set_balance(poor, 2 * ETHER)
    (mined,) = bulk.send_in_blocks([Tx(poor, addr(3), ETHER, gas=ETH_TRANSFER_GAS)])
    assert bulk.balance(addr(3)) == ETHER
    assert int(bulk.request("eth_getTransactionByHash", [mined.transaction_hash])["nonce"], 16) == 0


def test_node_errors_name_the_method_and_unreachable_nodes_are_clear(bulk: Chain) -> None:
    with pytest.raises(NodeRequestError, match="anvil eth_noSuchMethod failed") as caught:
        bulk.request("eth_noSuchMethod", [])
    assert caught.value.code == -32601
    with pytest.raises(NodeRequestError, match=r"request 1 of a batch"):
        bulk.batch([("eth_blockNumber", []), ("eth_noSuchMethod", [])])
    outcomes = bulk.batch_outcomes([("eth_blockNumber", []), ("eth_noSuchMethod", [])])
    assert outcomes[0] == "0x0" and isinstance(outcomes[1], NodeRequestError)
    with (
        Chain(f"http://127.0.0.1:{free_loopback_port()}") as nowhere,
        pytest.raises(TestbedError, match="cannot reach"),
    ):
        nowhere.block_number()
    with pytest.raises(TestbedError, match="http://host:port"):
        Chain("ws://127.0.0.1:1")


def test_snapshot_and_revert_restore_state_and_nonces(bulk: Chain) -> None:
    sender = bulk.accounts()[0]
    snapshot = bulk.snapshot()
    bulk.send_in_blocks([Tx(sender, addr(1), 5, gas=ETH_TRANSFER_GAS)] * 3)
    assert bulk.next_nonce(sender) == 3
    bulk.revert(snapshot)
    assert bulk.block_number() == 0
    assert bulk.balance(addr(1)) == 0
    assert bulk.next_nonce(sender) == 0
    with pytest.raises(TestbedError, match="unknown snapshot"):
        bulk.revert(snapshot)  # anvil forgets a snapshot once reverted to


def test_deploy_addresses_follow_the_nonce(bulk: Chain) -> None:
    deployer = bulk.accounts()[0]
    hot = addr(9)
    first = bulk.deploy("DepositForwarder", hot, sender=deployer)
    assert first.address == create_address(deployer, 0)
    many = bulk.deploy_many("DepositForwarder", [[hot]] * 150, sender=deployer, gas=300_000)
    assert [c.address for c in many] == [create_address(deployer, n) for n in range(1, 151)]
    assert all(c.call("hotWallet") == hot for c in many[::50])
    assert create_address("0x" + "00" * 20, 0x1234) == create_address("0x" + "00" * 20, 4660)


def test_mining_controls(bulk: Chain) -> None:
    assert not bulk.automine()
    assert bulk.mine_blocks(5, interval=12) == 5
    times = [int(bulk.block(n)["timestamp"], 16) for n in (4, 5)]
    assert times[1] - times[0] == 12
    bulk.set_next_block_timestamp(times[1] + 100)
    assert bulk.mine() == 6
    assert int(bulk.block()["timestamp"], 16) == times[1] + 100

    bulk.set_interval_mining(1)
    time.sleep(2.5)
    bulk.set_interval_mining(0)
    assert bulk.block_number() >= 7

    bulk.set_automine(True)
    sender = bulk.accounts()[0]
    hashes = bulk.send_many([Tx(sender, addr(i), 1, gas=ETH_TRANSFER_GAS) for i in range(20)])
    numbers = [r.block_number for r in bulk.wait_for_receipts(hashes)]
    assert numbers == sorted(set(numbers))  # one block per transaction


def test_automine_sends_one_block_per_transaction(auto: Chain) -> None:
    sender = auto.accounts()[0]
    txs = [Tx(sender, addr(i), i + 1, gas=ETH_TRANSFER_GAS) for i in range(30)]
    hashes = auto.send_many(txs)
    receipts = auto.receipts(hashes)
    assert [r.block_number if r else None for r in receipts] == list(range(1, 31))
    assert auto.balances([addr(i) for i in range(30)]) == list(range(1, 31))
