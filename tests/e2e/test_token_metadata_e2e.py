"""`tracer trace` reads token symbols and decimals from the tokens themselves.

On the testbed the stablecoin off-ramps carry the ground truth's whole-unit amounts. On a
chain of odd tokens (no ``decimals()``, a bytes32 symbol, hostile answers) the amounts that
cannot be scaled stay null and the symbols are the decoded, cleaned text. A re-run of a
finished case, and a new case on its answer cache, send no request at all.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import Testbed
from tests.e2e.test_offramps_e2e import run_trace
from tracer.testbed.anvil import AnvilNode, AnvilOptions, free_loopback_port
from tracer.testbed.chain import Chain

ETH = 10**18


def dead_url() -> str:
    """An endpoint nobody listens on: a run that sends any request to it fails."""
    return f"http://127.0.0.1:{free_loopback_port()}"


def report_of(case: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((case / "report.json").read_text())
    return report


def test_testbed_stablecoin_offramps_in_whole_units(testbed_small: Testbed, tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_trace(testbed_small, case)
    assert result.returncode == 0, result.stderr
    report = report_of(case)
    truth = json.loads((testbed_small.out_dir / "ground_truth.json").read_text())
    tusd = truth["tokens"]["tUSD"]
    reported = {(o["address"], o["token_address"]): o for o in report["offramps"]}
    expected = [o for o in truth["offramps"] if o["asset"]["address"] == tusd["address"]]
    direct = [o for o in expected if not o["via_mixer"]]
    assert direct, "the scenario has stablecoin off-ramps the thief reached directly"
    for offramp in direct:
        found = reported[(offramp["address"], tusd["address"])]
        assert (found["asset"], found["decimals"]) == ("tUSD", tusd["decimals"])
        assert found["amount_raw"] == offramp["amount"]
        assert found["amount"] == offramp["amount_units"]
    # Every token row of the table got the token's own symbol, decimals and display value.
    table = pl.read_parquet(case / "transfers.parquet")
    tokens = table.filter(pl.col("token_address") == tusd["address"])
    assert tokens.height > 0
    for symbol, decimals, value, raw in tokens.select(
        "token_symbol", "token_decimals", "value", "value_raw"
    ).rows():
        assert (symbol, decimals, value) == ("tUSD", 6, float(Decimal(raw).scaleb(-6)))
    markdown = (case / "report.md").read_text()
    assert f"{direct[0]['amount_units']} tUSD" in markdown
    assert "raw units of tUSD" not in markdown

    # The finished case again, with the node gone: the same report from the checkpoint.
    again = run_trace(testbed_small, case, "--rpc-url", dead_url())
    assert again.returncode == 0, again.stderr
    assert report_of(case)["offramps"] == report["offramps"]


@dataclass(frozen=True)
class OddChain:
    node: AnvilNode
    seed: str
    deposit: str  # the exchange's deposit address for this customer
    exchange: str
    head: int
    tokens: dict[str, str]  # contract name -> address
    labels: Path


@pytest.fixture
def odd_chain(tmp_path: Path) -> Iterator[OddChain]:
    """A seed holding four tokens (tUSD and the three metadata oddities of OddTokens.sol)
    that pays each of them into a deposit address, which sweeps them to a labelled exchange."""
    seed = "0x" + "5e" * 20
    deposit = "0x" + "de" * 20
    exchange = "0x" + "ec" * 20
    with AnvilNode(AnvilOptions()) as node, Chain(node.url) as chain:
        deployer = chain.accounts()[0]
        chain.set_balances({seed: ETH, deposit: ETH})
        amounts = {
            "TestUSD": 12_500_500_000,  # 12500.5 tUSD
            "NoDecimalsToken": 42,
            "Bytes32SymbolToken": 1_500_000_000_000_000_000,  # 1.5 MKR
            "HostileMetadataToken": 7,
        }
        arguments = {"NoDecimalsToken": ("No Decimals", "NODEC")}
        tokens: dict[str, str] = {}
        for name, amount in amounts.items():
            token = chain.deploy(name, *arguments.get(name, ()), sender=deployer)
            token.transact("mint", seed, amount, sender=deployer)
            token.transact("transfer", deposit, amount, sender=seed)
            token.transact("transfer", exchange, amount, sender=deposit)
            tokens[name] = token.address
        labels = tmp_path / "labels.csv"
        labels.write_text(f"address,name,category\n{exchange},Exchange Z: Hot Wallet,exchange\n")
        yield OddChain(node, seed, deposit, exchange, chain.block_number(), tokens, labels)


def trace_odd(odd: OddChain, out: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracer", "trace", odd.seed, "--rpc-url", url,
         "--labels", str(odd.labels), "--no-default-labels", "--confirmations", "0",
         "--out", str(out), "--quiet", *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_odd_tokens_null_decimals_decoded_symbols_and_no_requests_again(
    odd_chain: OddChain, tmp_path: Path
) -> None:
    case = tmp_path / "case"
    result = trace_odd(odd_chain, case, odd_chain.node.url)
    assert result.returncode == 0, result.stderr
    tokens = odd_chain.tokens
    report = report_of(case)
    offramps = {
        o["token_address"]: (o["address"], o["asset"], o["decimals"], o["amount"], o["amount_raw"])
        for o in report["offramps"]
    }
    deposit = odd_chain.deposit
    assert offramps == {
        tokens["TestUSD"]: (deposit, "tUSD", 6, "12500.5", "12500500000"),
        tokens["NoDecimalsToken"]: (deposit, "NODEC", None, None, "42"),
        tokens["Bytes32SymbolToken"]: (deposit, "MKR", 18, "1.5", "1500000000000000000"),
        # The escape code's ESC byte and the newline are gone, the non-UTF-8 byte is U+FFFD.
        tokens["HostileMetadataToken"]: (deposit, "[31mEVIL\ufffd", None, None, "7"),
    }
    no_decimals = sorted([tokens["NoDecimalsToken"], tokens["HostileMetadataToken"]])
    block = odd_chain.head
    assert " ".join(result.stderr.split()) == (  # the console wraps long lines
        f"note: 2 token(s) without readable decimals at block {block} (a value above 77: 1; "
        f"no decimals() function: 1): their amounts stay in raw units ({', '.join(no_decimals)}) "
        "note: 1 token symbol(s) held bytes that are not UTF-8, control characters or more "
        "than 32 characters: they are kept cleaned"
    )
    table = pl.read_parquet(case / "transfers.parquet").filter(pl.col("to_address") == deposit)
    assert sorted(table.select("token_symbol", "token_decimals", "value").rows()) == sorted(
        [
            ("tUSD", 6, 12500.5),
            ("NODEC", None, None),
            ("MKR", 18, 1.5),
            ("[31mEVIL\ufffd", None, None),
        ]
    )
    # The documents show what the report holds; no terminal escape reaches them.
    markdown = (case / "report.md").read_text()
    assert "12500.5 tUSD" in markdown and "1.5 MKR" in markdown
    assert "42 raw units of NODEC" in markdown
    documents = subprocess.run(
        [sys.executable, "-m", "tracer", "report", str(case)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert documents.returncode == 0, documents.stderr
    [pack] = (case / "freeze").iterdir()
    with (pack / "deposits.csv").open() as deposits:
        amounts = {row["asset"]: row["amount"] for row in csv.DictReader(deposits)}
    assert amounts == {"tUSD": "12500.5", "NODEC": "", "MKR": "1.5", "[31mEVIL\ufffd": ""}
    for written in (case / "report.md", case / "report.html", pack / "deposits.csv"):
        assert "\x1b" not in written.read_text()

    # The finished case again with the node gone: not one request.
    again = trace_odd(odd_chain, case, dead_url())
    assert again.returncode == 0, again.stderr
    assert report_of(case)["offramps"] == report["offramps"]

    # A new case on the same answer cache, told the chain and the last block: no request
    # either, so the token answers came from the cache, not from the first case's checkpoint.
    shared = trace_odd(
        odd_chain, tmp_path / "other", dead_url(),
        "--cache", str(case / "cache.sqlite"), "--chain", "anvil", "--to-block", str(block),
    )  # fmt: skip
    assert shared.returncode == 0, shared.stderr
    assert report_of(tmp_path / "other")["offramps"] == report["offramps"]
