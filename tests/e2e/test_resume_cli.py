"""`tracer trace` killed with SIGKILL halfway and run again equals a clean run, row for row;
and a finished case re-runs with the node gone, from its cache, with zero requests."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from tests.crawl.activity import GENESIS, Tree, build_tree
from tracer.testbed.anvil import AnvilNode, AnvilOptions


@pytest.fixture
def tree_node() -> Iterator[AnvilNode]:
    with AnvilNode(AnvilOptions.for_bulk(genesis_timestamp=GENESIS)) as node:
        yield node


def trace_command(tree: Tree, url: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "tracer", "trace", tree.seed,
        "--rpc-url", url, "--out", str(out), "--confirmations", "0", *extra,
    ]  # fmt: skip


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result


def kill_when(command: list[str], ready: Callable[[], bool], *, within: float) -> None:
    """Run ``command`` and kill -9 it as soon as ``ready()``, which must come before it
    ends and within ``within`` seconds."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + within
    while not ready():
        assert process.poll() is None, "the trace ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


def applied_steps(checkpoint: Path) -> int:
    """Addresses whose fetch the crawl has committed, read while it runs (WAL readers)."""
    try:
        with sqlite3.connect(f"file:{checkpoint}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def test_sigkill_halfway_then_resume_equals_a_clean_run(
    tree_node: AnvilNode, tmp_path: Path
) -> None:
    tree = build_tree(tree_node)  # 156 addresses
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    run(trace_command(tree, tree_node.url, clean, "--quiet"))

    # Paced at 400 calls/s the crawl takes a few seconds: kill it once a third is done.
    paced = trace_command(tree, tree_node.url, crashed, "--quiet", "--rps", "400")
    kill_when(paced, lambda: applied_steps(crashed / "checkpoint.sqlite") >= 50, within=60)
    halfway = applied_steps(crashed / "checkpoint.sqlite")
    assert 50 <= halfway < len(tree.addresses)
    assert not (crashed / "report.json").exists()

    resumed = run(trace_command(tree, tree_node.url, crashed))
    assert "resumed the interrupted crawl" in resumed.stderr
    expected = pl.read_parquet(clean / "transfers.parquet")
    actual = pl.read_parquet(crashed / "transfers.parquet")
    assert actual.height == len(tree.addresses)  # one transfer into each tree address
    assert actual.equals(expected)  # every column, row for row: no duplicates, same sources
    assert actual.select("transaction_hash").is_unique().all()
    report = json.loads((crashed / "report.json").read_text())
    assert report == json.loads((clean / "report.json").read_text())
    assert report["coverage"]["complete"] == len(tree.addresses)


def test_a_finished_case_reruns_offline_with_zero_requests(
    tree_node: AnvilNode, tmp_path: Path
) -> None:
    tree = build_tree(tree_node, depth=2)
    case, elsewhere = tmp_path / "case", tmp_path / "elsewhere"
    first = run(trace_command(tree, tree_node.url, case))
    assert " 0 HTTP requests" not in first.stdout
    tree_node.stop()  # from here on, any request would fail

    again = run(trace_command(tree, tree_node.url, case))
    assert "0 HTTP requests (0 JSON-RPC calls)" in again.stdout
    assert "loaded the finished crawl" in again.stderr
    # Another case directory sharing the cache: the chain and last block are given.
    shared = ("--cache", str(case / "cache.sqlite"), "--chain", "anvil", "--to-block")
    moved = run(trace_command(tree, tree_node.url, elsewhere, *shared, str(tree.head)))
    assert "0 HTTP requests (0 JSON-RPC calls)" in moved.stdout
    assert pl.read_parquet(elsewhere / "transfers.parquet").equals(
        pl.read_parquet(case / "transfers.parquet")
    )
