"""`tracer trace` on inputs that are odd but legal, on a real anvil: a seed with no activity,
a seed that is a contract, a fee-on-transfer token, a token without ``decimals()`` and a
failed transfer. Each one gets a clear one-line message or exact amounts, never a crash."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tracer.heuristics.taint import Policy, trace_taint
from tracer.heuristics.taint.model import Asset
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.testbed.anvil import AnvilNode
from tracer.testbed.chain import Chain, Tx
from tracer.types import NATIVE_TOKEN

ETH = 10**18
THIEF, HOP, EXCHANGE, FEE_WALLET = ("0x" + f"{n:040x}" for n in (0xA1, 0xA2, 0xEE, 0xFE))


def run_trace(
    node: AnvilNode, out: Path, seed: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracer", "trace", seed, "--rpc-url", node.url,
         "--no-default-labels", "--out", str(out), "--quiet", *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_seed_without_activity_is_said_and_gets_a_valid_empty_report(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    with Chain.of(anvil) as chain:
        head = chain.mine()
    idle = "0x" + "5e" * 20
    result = run_trace(anvil, tmp_path / "case", idle)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"note: no activity: the seeds have no transfers in blocks 0..{head}; the report is empty"
    ]
    report = json.loads((tmp_path / "case" / "report.json").read_text())
    assert report["seeds"] == [idle]
    assert report["transfers"] == {"rows": 0, "by_kind": {}}
    assert report["window"] == {"from_block": 0, "to_block": head}
    for section in ("offramps", "mixer_links", "findings", "labelled_flows"):
        assert report[section] == [], section
    assert pl.read_parquet(tmp_path / "case" / "transfers.parquet").height == 0


def test_a_contract_seed_is_warned_about_and_traced(anvil: AnvilNode, tmp_path: Path) -> None:
    with Chain.of(anvil) as chain:
        user = chain.accounts()[1]
        weth = chain.deploy("WETH9", sender=chain.accounts()[0])
        weth.transact("deposit", sender=user, value=ETH)
        weth.transact("withdraw", ETH // 4, sender=user)
        head = chain.block_number()
    result = run_trace(anvil, tmp_path / "case", weth.address)
    assert result.returncode == 0, result.stderr
    warning = (
        f"warning: seed {weth.address} is a contract (it has code at block {head}): tracing "
        "a contract follows the funds of everyone who uses it, not one owner's"
    )
    assert result.stderr.splitlines() == [warning]
    report = json.loads((tmp_path / "case" / "report.json").read_text())
    assert report["seeds"] == [weth.address]
    # Traced anyway: the user's deposit in, the withdrawal out to the user.
    assert report["transfers"]["by_kind"] == {"native": 1, "internal": 1}
    # A re-run loads the recorded facts: the same warning, nothing asked of the (gone) node.
    again = run_trace(anvil, tmp_path / "case", weth.address, "--rpc-url", "http://127.0.0.1:9")
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines() == [
        "note: loaded the finished crawl recorded in this case directory",
        warning,
    ]


@dataclass(frozen=True)
class OddCase:
    node: AnvilNode
    fee_token: str
    bare_token: str
    refuser: str
    failed_tx: str


@pytest.fixture
def odd_case(anvil: AnvilNode) -> Iterator[OddCase]:
    """The thief (seed) gets 5 ETH, 1,000 FEE (1% fee per transfer to FEE_WALLET) and 500 of
    a token without metadata; pays HOP 2 ETH and 1,000 FEE (HOP gets 990), tries to pay a
    contract that refuses ether (fails), pays the exchange the bare token; HOP pays the
    exchange 1.5 ETH and all its 990 FEE (the exchange gets 980.1)."""
    with Chain.of(anvil) as chain:
        owner = chain.accounts()[0]
        fee = chain.deploy("FeeToken", FEE_WALLET, sender=owner)
        bare = chain.deploy("NoDecimalsToken", "", "", sender=owner)  # no name, no symbol
        refuser = chain.deploy("EtherRefuser", sender=owner)
        chain.set_balances({THIEF: 0, HOP: ETH // 10})
        chain.transact(Tx(owner, THIEF, 5 * ETH))
        fee.transact("mint", THIEF, 1_000 * ETH, sender=owner)
        bare.transact("mint", THIEF, 500, sender=owner)
        chain.transact(Tx(THIEF, HOP, 2 * ETH))
        fee.transact("transfer", HOP, 1_000 * ETH, sender=THIEF)
        failed = chain.transact(Tx(THIEF, refuser.address, ETH, gas=100_000), check=False)
        assert not failed.status
        bare.transact("transfer", EXCHANGE, 500, sender=THIEF)
        chain.transact(Tx(HOP, EXCHANGE, 3 * ETH // 2))
        fee.transact("transfer", EXCHANGE, 990 * ETH, sender=HOP)
        yield OddCase(anvil, fee.address, bare.address, refuser.address, failed.transaction_hash)


def test_odd_tokens_and_a_failed_transfer_are_traced_exactly(
    odd_case: OddCase, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(f"address,name,category\n{EXCHANGE},Exchange A,exchange\n")
    out = tmp_path / "case"
    result = run_trace(odd_case.node, out, THIEF, "--labels", str(labels))
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    offramps = {
        o["token_address"]: (o["address"], o["entity"], o["asset"], o["decimals"], o["amount"],
                             o["amount_raw"])
        for o in report["offramps"]
    }  # fmt: skip
    # The JSON-RPC source reads no token metadata, so neither token has decimals here: the
    # amount in whole units is unknown (null), the raw amount is exact.
    fee, bare = odd_case.fee_token, odd_case.bare_token
    assert offramps == {
        NATIVE_TOKEN: (EXCHANGE, "Exchange A", "ETH", 18, "1.5", str(3 * ETH // 2)),
        # 1,000 less two 1% fees: what the exchange really received, to the last unit.
        fee: (EXCHANGE, "Exchange A", "FEE", 18, "980.1", str(9801 * ETH // 10)),
        # No symbol() and no decimals(): named by its address, amount in raw units only.
        bare: (EXCHANGE, "Exchange A", f"token {bare[:10]}…", None, None, "500"),
    }

    transfers = pl.read_parquet(out / "transfers.parquet")
    failed = transfers.filter(pl.col("transaction_hash") == odd_case.failed_tx)
    assert failed.select("from_address", "to_address", "value_raw", "tx_succeeded").rows() == [
        (THIEF, odd_case.refuser, str(ETH), False)
    ]
    fees = transfers.filter(pl.col("token_address") == odd_case.fee_token).sort("block_number")
    assert fees.select("from_address", "to_address", "value_raw").rows() == [
        ("0x" + "0" * 40, THIEF, str(1_000 * ETH)),
        (THIEF, HOP, str(990 * ETH)),
        (THIEF, FEE_WALLET, str(10 * ETH)),
        (HOP, EXCHANGE, str(9801 * ETH // 10)),
        (HOP, FEE_WALLET, str(99 * ETH // 10)),
    ]

    # Conservation, per asset, on the crawled table: what the seed received is exactly what
    # sits at the addresses the trace reached (the failed payment moved nothing).
    store = LabelStore([Label(EXCHANGE, "Exchange A", Category.EXCHANGE, "test")])
    taint = trace_taint(transfers, [THIEF], Policy.HAIRCUT, store)
    held = {
        (address, asset.token_address): balance.held
        for (address, asset), balance in taint.balances.items()
        if balance.held
    }
    assert held == {
        (THIEF, NATIVE_TOKEN): 3 * ETH,
        (HOP, NATIVE_TOKEN): ETH // 2,
        (EXCHANGE, NATIVE_TOKEN): 3 * ETH // 2,
        (FEE_WALLET, odd_case.fee_token): 10 * ETH + 99 * ETH // 10,
        (EXCHANGE, odd_case.fee_token): 9801 * ETH // 10,
        (EXCHANGE, odd_case.bare_token): 500,
    }
    assert taint.received_at(odd_case.refuser, Asset(NATIVE_TOKEN)) == 0
    assert odd_case.failed_tx not in set(taint.transfers["transaction_hash"].to_list())
