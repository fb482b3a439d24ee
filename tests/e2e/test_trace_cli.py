"""`tracer trace` end to end on a real anvil: hops followed forward in time, exact amounts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from tracer.testbed.anvil import AnvilNode

ETH = 10**18


def send(node: AnvilNode, sender: str, to: str, wei: int) -> str:
    tx_hash: str = node.request(
        "eth_sendTransaction", [{"from": sender, "to": to, "value": hex(wei)}]
    )
    node.wait_for_receipt(tx_hash)
    return tx_hash


def test_trace_follows_hops_forward_in_time_and_stops_at_labelled_services(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    thief, hop, exchange, bystander, earlier = (
        "0x" + f"{n:040x}" for n in (0xA1, 0xA2, 0xEE, 0xB0, 0xC0)
    )
    funder = anvil.request("eth_accounts", [])[0]
    # Before the theft, the hop wallet already sent money to `earlier`: not traced funds.
    send(anvil, funder, hop, ETH)
    send(anvil, hop, earlier, ETH // 2)
    stolen = send(anvil, funder, thief, 5 * ETH)
    to_hop = send(anvil, thief, hop, 3 * ETH)
    to_exchange = send(anvil, hop, exchange, 2 * ETH)
    # The exchange pays a customer: a service's outflow, which must not be followed.
    send(anvil, exchange, bystander, ETH)

    labels = tmp_path / "labels.csv"
    labels.write_text(f"address,name,category\n{exchange},Exchange A,exchange\n")
    out = tmp_path / "case"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracer",
            "trace",
            thief,
            "--rpc-url",
            anvil.url,
            "--labels",
            str(labels),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Exchange A" in result.stdout

    report = json.loads((out / "report.json").read_text())
    assert report["seeds"] == [thief]
    assert report["chain_id"] == 31337
    [flow] = report["labelled_flows"]
    assert flow["address"] == exchange
    assert flow["amounts"] == [
        {
            "asset": "ETH",
            "token_address": "0x" + "e" * 40,
            "amount": "2",
            "amount_raw": str(2 * ETH),
        }
    ]
    assert flow["transactions"] == [to_exchange]
    statuses = {e["address"]: (e["hop"], e["status"]) for e in report["coverage"]["entries"]}
    assert statuses[thief] == (0, "complete")
    assert statuses[hop] == (1, "complete")
    assert statuses[exchange][1] == "truncated"  # a labelled service: kept, not expanded
    assert bystander not in statuses and earlier not in statuses

    table = pl.read_parquet(out / "transfers.parquet")
    hashes = set(table["transaction_hash"].to_list())
    assert {stolen, to_hop, to_exchange} <= hashes
    # The hop's history is read from the block where traced value arrived, not before.
    assert table.filter(pl.col("to_address") == earlier).height == 0
    assert table.filter(pl.col("transaction_hash") == to_exchange)["value_raw"].to_list() == [
        str(2 * ETH)
    ]
