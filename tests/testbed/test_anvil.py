"""The anvil harness starts a real node, serves the APIs tracer relies on, and cleans up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracer.errors import TestbedError
from tracer.testbed.anvil import AnvilNode, AnvilOptions


def test_node_answers_and_serves_trace_and_otterscan_apis(anvil: AnvilNode) -> None:
    assert int(anvil.request("eth_chainId", []), 16) == 31337
    sender, receiver = anvil.request("eth_accounts", [])[:2]
    tx_hash = anvil.request(
        "eth_sendTransaction", [{"from": sender, "to": receiver, "value": hex(10**18)}]
    )
    receipt = anvil.wait_for_receipt(tx_hash)
    assert receipt["status"] == "0x1"
    head = int(anvil.request("eth_blockNumber", []), 16)
    traces = anvil.request("trace_filter", [{"fromBlock": "0x0", "toBlock": hex(head)}])
    assert [t["action"]["value"] for t in traces if t["transactionHash"] == tx_hash] == [
        hex(10**18)
    ]
    assert anvil.request("ots_getApiLevel", []) >= 8


def test_stop_kills_the_process_and_deletes_the_cache() -> None:
    node = AnvilNode(AnvilOptions())
    pid = node.pid
    workdir = node.log_path.parent
    assert pid is not None and workdir.is_dir()
    node.stop()
    assert not node.is_running()
    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_node_dies_with_a_parent_killed_by_sigkill(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from tracer.testbed.anvil import AnvilNode\n"
        "node = AnvilNode()\n"
        "print(node.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child_pid, 9)
        pytest.fail("anvil outlived its SIGKILLed parent")


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACER_ANVIL_BIN", str(tmp_path / "nope"))
    with pytest.raises(TestbedError, match="anvil not found"):
        AnvilNode()
