"""The laundering scenario: a deterministic plan, and ground truth that matches the chain.

Every claim of the ground truth is checked against what the node itself reports (receipts,
traces, logs, balances), not against the plan that produced it.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak

from tests.conftest import Testbed
from tracer.errors import TestbedError
from tracer.testbed.__main__ import main
from tracer.testbed.anvil import AnvilNode
from tracer.testbed.build import (
    TRACE_FILTER_WINDOW,
    TRANSFER_TOPIC,
    build_scenario,
    count_transfers,
    node_options,
)
from tracer.testbed.chain import Chain, load_artifact
from tracer.testbed.ground_truth import (
    GROUND_TRUTH_FILE,
    LABEL_COLUMNS,
    LABELS_FILE,
    asset_symbol,
)
from tracer.testbed.scenario import (
    GWEI,
    SCALES,
    Kind,
    PlanError,
    make_plan,
)

ZERO = "0x" + "00" * 20


def _topic(signature: str) -> str:
    return "0x" + keccak(signature.encode()).hex()


DEPOSIT_TOPIC = _topic("Deposit(bytes32,uint32,uint256)")
WITHDRAWAL_TOPIC = _topic("Withdrawal(address,bytes32,address,uint256)")
SWAP_TOPIC = _topic("Swap(address,uint256,uint256,uint256,uint256,address)")
BRIDGE_TOPIC = _topic("BridgeDeposit(address,address,uint256,address,uint256,uint256)")


def _address(topic_or_word: str) -> str:
    return "0x" + topic_or_word[-40:].lower()


# --------------------------------------------------------------------------- the plan (pure)


def test_same_seed_same_plan_and_different_seeds_differ() -> None:
    first, again, other = make_plan(7, "small"), make_plan(7, "small"), make_plan(8, "small")
    assert first == again
    assert first.fingerprint() == again.fingerprint()
    assert other.fingerprint() != first.fingerprint()
    assert other.thief.seed != first.thief.seed
    assert [a.value for a in other.actions[:50]] != [a.value for a in first.actions[:50]]


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(PlanError, match="unknown scale 'tiny'"):
        make_plan(1, "tiny")


@pytest.mark.parametrize("seed", [1, 2, 3, 11, 12, 13, 101])
def test_plan_keeps_its_rules(seed: int) -> None:
    plan = make_plan(seed, "small")
    wallets = set(plan.thief.wallets)
    theft = set(plan.thief.theft_actions)
    thief_notes = {n.withdrawal_action for n in plan.notes if n.owner == "thief"}
    for action in plan.actions:
        # Dependencies are mined in earlier blocks; blocks run forward in time.
        assert all(plan.actions[d].block < action.block for d in action.deps)
        # Only stolen funds reach thief wallets: the theft, thief notes, the thief's own moves.
        for move in plan.moves(action):
            if move.dst in wallets:
                assert action.id in theft or action.id in thief_notes or action.sender in wallets, (
                    action,
                    move,
                )
        if action.sender in wallets:
            assert action.gas_price == plan.thief.gas_price
        elif action.actor != "relayer" or action.kind is not Kind.MIXER_WITHDRAW:
            assert action.gas_price % GWEI == 0
    assert plan.thief.gas_price % GWEI != 0
    times = [b.time for b in plan.blocks]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert {n.denomination for n in plan.notes if n.owner == "thief"} == set(plan.pools())
    assert sum(1 for n in plan.notes if n.owner == "innocent") > 10
    deposit_accounts = plan.deposit_accounts.values()
    assert {a.kind for a in deposit_accounts if a.owner == "thief"} == {"eoa", "forwarder"}
    assert sum(1 for a in deposit_accounts if a.owner != "thief") > 20


def test_large_plan_has_the_volume() -> None:
    plan = make_plan(1, "large")
    assert plan.expected_transfer_count() >= 105_000
    assert len(plan.actions) / len(plan.blocks) > 30
    assert len(plan.innocents) == SCALES["large"].innocents


# --------------------------------------------------------------------------- against the chain


def _getlogs(chain: Chain, gt: dict[str, Any], **filters: Any) -> list[dict[str, Any]]:
    first, last = gt["scenario"]["first_block"], gt["scenario"]["last_block"]
    calls = [
        (
            "eth_getLogs",
            [
                {
                    "fromBlock": hex(s),
                    "toBlock": hex(min(s + TRACE_FILTER_WINDOW - 1, last)),
                    **filters,
                }
            ],
        )
        for s in range(first, last + 1, TRACE_FILTER_WINDOW)
    ]
    return [log for window in chain.batch(calls) for log in window]


def _token_balances(chain: Chain, token: str, holders: Sequence[str]) -> list[int]:
    balance_of = load_artifact("TestUSD").function("balanceOf")
    calls = [
        ("eth_call", [{"to": token, "input": "0x" + balance_of.encode([h]).hex()}, "latest"])
        for h in holders
    ]
    out: list[int] = []
    for start in range(0, len(calls), 500):
        out += [int(r, 16) for r in chain.batch(calls[start : start + 500])]
    return out


def _ground_truth_hashes(gt: dict[str, Any]) -> set[str]:
    hashes = {t["tx"] for t in gt["theft"]}
    for offramp in gt["offramps"]:
        hashes |= {a["tx"] for a in offramp["arrivals"]} | set(offramp["path_txs"])
    for link in gt["mixer_links"] + gt["innocent_mixer_links"]:
        hashes |= {link["deposit_tx"], link["withdrawal_tx"]} - {None}
    for hop in gt["thief"]["peel_chain"]:
        hashes |= {t["tx"] for t in hop["transfers"]}
    return hashes


def check_transactions(chain: Chain, gt: dict[str, Any]) -> dict[str, Any]:
    """Every transaction the ground truth names exists and succeeded; the thief's carry its
    fingerprint gas price. Returns receipts by hash."""
    hashes = sorted(_ground_truth_hashes(gt))
    receipts = dict(zip(hashes, chain.receipts(hashes), strict=True))
    wallets = set(gt["thief"]["wallets"])
    for tx_hash, receipt in receipts.items():
        assert receipt is not None, tx_hash
        assert receipt.status, tx_hash
        if receipt.sender in wallets:
            assert receipt.effective_gas_price == int(gt["thief"]["gas_price"])
    return receipts


def check_accounts(chain: Chain, gt: dict[str, Any]) -> None:
    """Balances computed from the ground truth equal the node's, for every listed address."""
    addresses = list(gt["accounts"])
    chain_balances = {
        "ETH": chain.balances(addresses),
        "tUSD": _token_balances(chain, gt["tokens"]["tUSD"]["address"], addresses),
        "WETH": _token_balances(chain, gt["tokens"]["WETH"]["address"], addresses),
    }
    for i, address in enumerate(addresses):
        entry = gt["accounts"][address]
        for symbol, balances in chain_balances.items():
            book = entry.get(symbol, {})
            expected = sum(int(book.get(k, "0")) for k in ("initial", "received")) - sum(
                int(book.get(k, "0")) for k in ("sent", "gas")
            )
            assert expected == balances[i], (address, entry["role"], symbol)
            assert int(book.get("final", "0")) == expected


def check_offramps(chain: Chain, gt: dict[str, Any], receipts: dict[str, Any]) -> None:
    """Each arrival moved exactly its amount into the off-ramp, in that transaction."""
    tusd = gt["tokens"]["tUSD"]["address"]
    theft = {t["tx"] for t in gt["theft"]}
    for offramp in gt["offramps"]:
        address = offramp["address"]
        total = 0
        for arrival in offramp["arrivals"]:
            amount = int(arrival["amount"])
            total += amount
            receipt = receipts[arrival["tx"]]
            if offramp["asset"]["symbol"] == "ETH":
                traces = chain.traces(arrival["tx"])
                moved = sum(
                    int(t["action"]["value"], 16)
                    for t in traces
                    if t.get("type") == "call" and t["action"]["to"] == address
                )
            else:
                moved = sum(
                    int(log.data.hex() or "0", 16)
                    for log in receipt.logs
                    if log.address == tusd
                    and log.topics[0] == TRANSFER_TOPIC
                    and _address(log.topics[2]) == address
                )
            assert moved == amount, (offramp["entity"], arrival)
            if offramp["category"] == "bridge":
                (event,) = [log for log in receipt.logs if log.topics[0] == BRIDGE_TOPIC]
                token, value, _nonce = abi_decode(["address", "uint256", "uint256"], event.data)
                assert _address(event.topics[2]) == arrival["recipient"]
                assert int(event.topics[3], 16) == arrival["destination_chain_id"]
                assert value == amount
                assert token.lower() == offramp["asset"]["address"]
        assert total == int(offramp["amount"])
        decimals = offramp["asset"]["decimals"]
        assert Decimal(offramp["amount_units"]).scaleb(decimals) == total
        for path in offramp["paths"]:
            assert path[0] in theft
            assert path[-1] in {a["tx"] for a in offramp["arrivals"]}
        assert offramp["via_mixer"] == any(a["via_mixer"] for a in offramp["arrivals"])


def check_events(chain: Chain, gt: dict[str, Any], receipts: dict[str, Any]) -> None:
    """Deposit, Withdrawal, Swap and BridgeDeposit events agree with the ground truth."""
    contracts = gt["contracts"]
    pools = list(contracts["mixer_pools"].values())
    counts = gt["scenario"]["counts"]
    deposits = _getlogs(chain, gt, address=pools, topics=[DEPOSIT_TOPIC])
    withdrawals = _getlogs(chain, gt, address=pools, topics=[WITHDRAWAL_TOPIC])
    assert len(deposits) == counts["mixer_deposits"]
    assert len(withdrawals) == counts["mixer_withdrawals"]
    by_commitment = {log["topics"][1]: log for log in deposits}
    by_nullifier: dict[str, tuple[dict[str, Any], str, int]] = {}
    for log in withdrawals:
        to, nullifier, fee = abi_decode(
            ["address", "bytes32", "uint256"], bytes.fromhex(log["data"][2:])
        )
        by_nullifier["0x" + nullifier.hex()] = (log, to.lower(), fee)
    for link in gt["mixer_links"] + gt["innocent_mixer_links"]:
        deposit = by_commitment[link["commitment"]]
        assert deposit["transactionHash"] == link["deposit_tx"]
        assert deposit["address"] == link["pool"]
        log, to, fee = by_nullifier[link["nullifier_hash"]]
        assert log["transactionHash"] == link["withdrawal_tx"]
        assert log["address"] == link["pool"]
        assert to == link["withdrawal_address"]
        assert _address(log["topics"][1]) == (link["relayer"] or ZERO)
        assert fee == int(link["fee"])
    swaps = _getlogs(chain, gt, address=contracts["dex_pair"], topics=[SWAP_TOPIC])
    assert len(swaps) == counts["swaps"]
    swap_to = {log["transactionHash"]: _address(log["topics"][2]) for log in swaps}
    wallets = set(gt["thief"]["wallets"])
    thief_swaps = {
        h for h, r in receipts.items() if r.to == contracts["dex_router"] and r.sender in wallets
    }
    assert thief_swaps, "the thief swaps on the DEX"
    assert all(swap_to[h] in wallets for h in thief_swaps)
    bridged = _getlogs(chain, gt, address=contracts["bridge"], topics=[BRIDGE_TOPIC])
    assert len(bridged) == counts["bridge_deposits"]


def check_counts(chain: Chain, gt: dict[str, Any]) -> dict[str, int]:
    scenario = gt["scenario"]
    counts = scenario["counts"]
    first, last = scenario["first_block"], scenario["last_block"]
    assert last - first + 1 == counts["blocks"]
    sizes = chain.batch(
        [("eth_getBlockTransactionCountByNumber", [hex(n)]) for n in range(first, last + 1)]
    )
    assert sum(int(s, 16) for s in sizes) == counts["transactions"]
    assert chain.block_number() == last  # nothing was mined after the scenario
    transfers = count_transfers(chain, first, last)
    assert transfers == counts["transfers_by_kind"]
    assert sum(transfers.values()) == counts["transfers"]
    return transfers


def check_thief_isolation(chain: Chain, gt: dict[str, Any]) -> None:
    """Nothing but stolen funds ever reached a thief wallet (checked on the chain)."""
    wallets = gt["thief"]["wallets"]
    allowed = {t["tx"] for t in gt["theft"]} | {link["withdrawal_tx"] for link in gt["mixer_links"]}
    padded = ["0x" + "00" * 12 + w[2:] for w in wallets]
    incoming = {
        log["transactionHash"] for log in _getlogs(chain, gt, topics=[TRANSFER_TOPIC, None, padded])
    }
    first, last = gt["scenario"]["first_block"], gt["scenario"]["last_block"]
    for start in range(first, last + 1, TRACE_FILTER_WINDOW):
        window = {"fromBlock": hex(start), "toBlock": hex(min(start + 299, last))}
        traces = chain.request("trace_filter", [{**window, "toAddress": wallets}])
        incoming |= {t["transactionHash"] for t in traces if int(t["action"]["value"], 16)}
    unexplained = sorted(incoming - allowed)
    senders = chain.batch([("eth_getTransactionByHash", [h]) for h in unexplained])
    assert all(tx["from"] in set(wallets) for tx in senders)


def check_labels(gt: dict[str, Any], labels_path: Path) -> None:
    with labels_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == LABEL_COLUMNS
        rows = list(reader)
    labelled = {row["address"] for row in rows}
    assert {row["category"] for row in rows} <= {
        "exchange",
        "otc",
        "dex",
        "bridge",
        "mixer",
        "wrapped_native",
    }
    assert {ex["hot_wallet"] for ex in gt["exchanges"]} <= labelled
    assert gt["otc_desk"]["address"] in labelled
    assert set(gt["contracts"]["mixer_pools"].values()) <= labelled
    deposit_addresses = {d["address"] for d in gt["decoys"]} | {
        a["address"] for ex in gt["exchanges"] for a in ex["thief_deposit_addresses"]
    }
    assert not labelled & deposit_addresses, "deposit addresses must be found by behaviour"
    assert not labelled & set(gt["thief"]["wallets"])


def check_accounting(gt: dict[str, Any]) -> None:
    """Stolen ETH and tUSD are fully accounted for, to the wei."""
    book = {k: v for k, v in gt["thief_accounting"].items() if k != "note"}
    stolen = {k: int(v) for k, v in book["stolen"].items()}
    offramps = {k: int(v) for k, v in book["to_offramps"].items()}
    left = {k: int(v) for k, v in book["left_in_thief_wallets"].items()}
    assert stolen["ETH"] == (
        offramps["ETH"]
        + int(book["eth_swapped_for_tusd"])
        + int(book["relayer_fees"])
        + int(book["gas"])
        + left["ETH"]
    )
    assert stolen["tUSD"] + int(book["tusd_bought"]) == offramps["tUSD"] + left["tUSD"]
    categories = {o["category"] for o in gt["offramps"]}
    assert categories == {"exchange_deposit", "otc", "bridge"}
    assert {o["via_mixer"] for o in gt["offramps"]} == {True, False}
    assert {o["asset"]["symbol"] for o in gt["offramps"] if o["category"] == "bridge"} == {
        "ETH",
        "tUSD",
    }


def verify_against_chain(chain: Chain, gt: dict[str, Any], labels_path: Path) -> dict[str, int]:
    receipts = check_transactions(chain, gt)
    check_accounts(chain, gt)
    check_offramps(chain, gt, receipts)
    check_events(chain, gt, receipts)
    check_thief_isolation(chain, gt)
    check_labels(gt, labels_path)
    check_accounting(gt)
    return check_counts(chain, gt)


@pytest.fixture(scope="module", params=[2, 3, 5])
def small_build(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Testbed]:
    seed: int = request.param
    out_dir = tmp_path_factory.mktemp(f"scenario-{seed}")
    with AnvilNode(node_options()) as node, Chain(node.url) as chain:
        yield Testbed(node, build_scenario(chain, seed, "small", out_dir=out_dir), out_dir)


def test_small_ground_truth_matches_the_chain(small_build: Testbed) -> None:
    gt = small_build.built.ground_truth
    with Chain(small_build.url) as chain:
        transfers = verify_against_chain(chain, gt, small_build.out_dir / "labels.csv")
    assert 500 <= sum(transfers.values()) <= 5_000


def test_the_shared_small_testbed_matches_the_chain(testbed_small: Testbed) -> None:
    with Chain(testbed_small.url) as chain:
        verify_against_chain(
            chain, testbed_small.built.ground_truth, testbed_small.out_dir / "labels.csv"
        )


def test_only_the_thief_uses_its_fingerprint_gas_price(testbed_small: Testbed) -> None:
    gt = testbed_small.built.ground_truth
    thief_price = int(gt["thief"]["gas_price"])
    wallets = set(gt["thief"]["wallets"])
    first, last = gt["scenario"]["first_block"], gt["scenario"]["last_block"]
    with Chain(testbed_small.url) as chain:
        blocks = chain.batch([("eth_getBlockReceipts", [hex(n)]) for n in range(first, last + 1)])
    prices: dict[bool, set[int]] = defaultdict(set)
    for receipts in blocks:
        for receipt in receipts:
            prices[receipt["from"] in wallets].add(int(receipt["effectiveGasPrice"], 16))
    assert prices[True] == {thief_price}
    assert all(price % GWEI == 0 for price in prices[False])


def test_same_seed_builds_the_same_chain(testbed_small: Testbed) -> None:
    with AnvilNode(node_options()) as node, Chain(node.url) as chain:
        again = build_scenario(chain, 1, "small")
    assert again.execution.tx_hashes == testbed_small.built.execution.tx_hashes
    assert again.ground_truth == testbed_small.built.ground_truth


def test_builds_on_a_plain_automining_node(anvil: AnvilNode, tmp_path: Path) -> None:
    """A node started without the bulk options (fees order, 30M gas limit, balance checks,
    automine): the build still lands every transaction, and automine is back afterwards."""
    with Chain(anvil.url) as chain:
        built = build_scenario(chain, 4, "small", out_dir=tmp_path)
        verify_against_chain(chain, built.ground_truth, tmp_path / "labels.csv")
        assert chain.automine()


def test_command_builds_writes_and_saves_a_loadable_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    code = main(
        [
            "build",
            "--scale",
            "small",
            "--seed",
            "6",
            "--out",
            str(tmp_path),
            "--dump-state",
            str(state),
        ]
    )
    assert code == 0
    assert "built small scenario, seed 6" in capsys.readouterr().out
    gt = json.loads((tmp_path / GROUND_TRUTH_FILE).read_text())
    assert (tmp_path / LABELS_FILE).read_text().startswith(",".join(LABEL_COLUMNS) + "\n")
    options = replace(node_options(), extra_args=("--load-state", str(state)))
    with AnvilNode(options) as node, Chain(node.url) as chain:
        assert chain.block_number() == gt["scenario"]["last_block"]
        (receipt,) = chain.receipts([gt["theft"][0]["tx"]])
        assert receipt is not None and receipt.status


def test_command_reports_errors_as_messages(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--out", "/nonexistent", "--rpc-url", "ftp://example"])
    assert code == TestbedError.exit_code
    assert capsys.readouterr().err.startswith("error: testbed chain URL must be http")


def test_a_node_that_has_the_scenario_refuses_it_again(testbed_small: Testbed) -> None:
    with Chain(testbed_small.url) as chain, pytest.raises(TestbedError, match="built here before"):
        build_scenario(chain, 1, "small")


def test_ground_truth_names_assets_consistently(testbed_small: Testbed) -> None:
    plan = testbed_small.built.plan
    gt = testbed_small.built.ground_truth
    for symbol, token in gt["tokens"].items():
        assert asset_symbol(plan, token["address"]) == symbol


@pytest.mark.large
def test_large_ground_truth_matches_the_chain(testbed_large: Testbed) -> None:
    gt = testbed_large.built.ground_truth
    with Chain(testbed_large.url) as chain:
        transfers = verify_against_chain(chain, gt, testbed_large.out_dir / "labels.csv")
        first, last = gt["scenario"]["first_block"], gt["scenario"]["last_block"]
        sizes = [
            int(s, 16)
            for s in chain.batch(
                [("eth_getBlockTransactionCountByNumber", [hex(n)]) for n in range(first, last + 1)]
            )
        ]
    assert sum(transfers.values()) >= 100_000
    assert max(sizes) >= 100  # many transactions per block
