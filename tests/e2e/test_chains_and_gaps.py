"""`tracer trace --all-chains` across real anvils with different chain ids, and a node
without any trace API: both say what they found and what is missing, never silently."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set
import polars as pl

from tests.sources.fault_proxy import FaultProxy
from tracer.testbed.anvil import AnvilNode, AnvilOptions, free_loopback_port

ETH = 10**18
SEED, HOP, OTHER = ("0x" + f"{n:040x}" for n in (0x5EED, 0x40B, 0x07E4))


def send(node: AnvilNode, to: str, wei: int, sender: str | None = None) -> str:
    source = sender or node.request("eth_accounts", [])[0]
    tx = {"from": source, "to": to, "value": hex(wei)}
    tx_hash: str = node.request("eth_sendTransaction", [tx])
    node.wait_for_receipt(tx_hash)
    return tx_hash


def test_all_chains_probes_each_configured_chain_and_traces_where_active(tmp_path: Path) -> None:
    out = tmp_path / "case"
    with (
        AnvilNode(AnvilOptions(chain_id=31337)) as local,
        AnvilNode(AnvilOptions(chain_id=56)) as bsc,
        AnvilNode(AnvilOptions(chain_id=1)) as ethereum,
    ):
        send(local, SEED, 5 * ETH)
        send(local, HOP, 2 * ETH, sender=SEED)
        send(bsc, SEED, ETH)  # received only: a balance, no nonce
        env = {key: value for key, value in os.environ.items() if not key.startswith("TRACER_")}
        env |= {
            "TRACER_RPC_URL_ANVIL": local.url,
            "TRACER_RPC_URL_BSC": bsc.url,
            "TRACER_RPC_URL_ETHEREUM": ethereum.url,  # the seed never used this chain
            "TRACER_RPC_URL_POLYGON": f"http://127.0.0.1:{free_loopback_port()}",  # down
        }
        result = subprocess.run(
            [sys.executable, "-m", "tracer", "trace", SEED, "--all-chains", "--out", str(out),
             "--confirmations", "0", "--rps", "1000"],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip
    # The chains that answered are traced; the failed probe is an error, not a silence.
    assert result.returncode == 3, result.stderr
    [error] = result.stderr.strip().splitlines()[-1:]
    assert error.startswith("error: 1 chain probe(s) failed")
    assert "polygon: cannot reach RPC at http://127.0.0.1:" in error
    document = json.loads((out / "chains.json").read_text())
    assert document["traced"] == ["bsc", "anvil"]  # registry order
    probes = {entry["chain"]: entry for entry in document["chains"]}
    assert set(probes) == {"ethereum", "bsc", "polygon", "anvil"}
    assert (probes["anvil"]["active"], probes["anvil"]["nonce"]) == (True, 1)
    assert (probes["bsc"]["active"], probes["bsc"]["balance_raw"]) == (True, str(ETH))
    assert (probes["ethereum"]["active"], probes["ethereum"]["error"]) == (False, None)
    assert probes["polygon"]["error"] is not None
    assert "Seed activity per chain" in result.stdout

    local_report = json.loads((out / "anvil" / "report.json").read_text())
    assert local_report["chain_id"] == 31337
    assert {e["address"] for e in local_report["coverage"]["entries"]} == {SEED, HOP}
    bsc_report = json.loads((out / "bsc" / "report.json").read_text())
    assert bsc_report["chain_id"] == 56
    assert bsc_report["transfers"]["rows"] == 1
    assert not (out / "ethereum").exists() and not (out / "polygon").exists()


def test_all_chains_exports_each_traced_chain_into_its_own_case(tmp_path: Path) -> None:
    out = tmp_path / "case"
    with (
        AnvilNode(AnvilOptions(chain_id=31337)) as local,
        AnvilNode(AnvilOptions(chain_id=56)) as bsc,
    ):
        # Different graphs per chain: funder -> seed -> hop -> other here, funder -> seed ->
        # hop on bsc (the seed's funding is traced value too).
        funder = local.request("eth_accounts", [])[0].lower()
        send(local, SEED, 5 * ETH)
        send(local, HOP, 2 * ETH, sender=SEED)
        send(local, OTHER, ETH, sender=HOP)
        send(bsc, SEED, ETH)
        send(bsc, HOP, ETH // 2, sender=SEED)
        env = {key: value for key, value in os.environ.items() if not key.startswith("TRACER_")}
        env |= {"TRACER_RPC_URL_ANVIL": local.url, "TRACER_RPC_URL_BSC": bsc.url}
        result = subprocess.run(
            [sys.executable, "-m", "tracer", "trace", SEED, "--all-chains", "--out", str(out),
             "--confirmations", "0", "--rps", "1000", "--no-default-labels", "--quiet",
             "--export", "graphml,csv"],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "chains.json").read_text())["traced"] == ["bsc", "anvil"]
    assert not (out / "export").exists()  # no export of the run as a whole: one per chain
    expected = {"anvil": ({funder, SEED, HOP, OTHER}, 3), "bsc": ({funder, SEED, HOP}, 2)}
    for chain, (addresses, edge_count) in expected.items():
        case = out / chain
        nodes = pl.read_parquet(case / "nodes.parquet")
        edges = pl.read_parquet(case / "edges.parquet")
        assert set(nodes["id"]) == addresses and edges.height == edge_count, chain
        graph = nx.read_graphml(case / "export" / "graph.graphml", force_multigraph=True)
        assert set(graph.nodes) == set(nodes["id"]), chain
        assert {key for _u, _v, key in graph.edges(keys=True)} == set(edges["id"]), chain
        assert {(u, v) for u, v in graph.edges()} == set(
            zip(edges["source"], edges["target"], strict=True)
        ), chain
        table = pl.read_csv(case / "export" / "csv" / "edges.csv", infer_schema=False)
        assert sorted(table["id"]) == sorted(edges["id"]), chain


async def test_a_node_without_trace_api_is_reported_as_a_gap(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    send(anvil, SEED, 5 * ETH)
    send(anvil, HOP, 2 * ETH, sender=SEED)
    out = tmp_path / "case"
    bare = frozenset({"trace_filter", "ots_getApiLevel", "debug_traceBlockByNumber"})
    async with FaultProxy(anvil.url, disabled_methods=bare) as proxy:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tracer", "trace", SEED, "--rpc-url", proxy.url,
            "--out", str(out), "--confirmations", "0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    assert "Internal transfers" in stderr.decode() and "MISSING" in stderr.decode()
    assert "gap: internal transfers missing" in " ".join(stdout.decode().split())
    coverage = json.loads((out / "report.json").read_text())["coverage"]
    assert coverage["trace_path"] == "blocks"
    [gap] = coverage["gaps"]
    assert gap.startswith("internal transfers missing: RPC at http://127.0.0.1:")
    # No address is passed off as complete: each one carries the gap.
    assert coverage["complete"] == 0
    assert {e["address"] for e in coverage["entries"]} == {SEED, HOP}
    for entry in coverage["entries"]:
        assert entry["status"] == "truncated"
        assert "internal transfers missing" in entry["reason"]
