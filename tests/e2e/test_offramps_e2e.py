"""`tracer trace` on the testbed: the report names the off-ramps the stolen funds reached.

Checked against the scenario's ground truth, never against tracer's own output: every
off-ramp the thief reached without the mixer is reported with the exact amount under every
policy, and nothing is reported that the thief did not reach (an innocent's deposit address
would be a decoy). Off-ramps reached through the mixer: ``test_mixer_follow_e2e.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Testbed


def trace_command(testbed: Testbed, out: Path, *extra: str) -> list[str]:
    """``tracer trace`` on the thief's seed with the scenario's labels and default limits."""
    truth = json.loads((testbed.out_dir / "ground_truth.json").read_text())
    return [
        sys.executable, "-m", "tracer", "trace", truth["seeds"][0], "--rpc-url", testbed.url,
        "--labels", str(testbed.out_dir / "labels.csv"), "--no-default-labels",
        "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def run_trace(testbed: Testbed, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        trace_command(testbed, out, *extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("policy", ["haircut", "fifo", "poison"])
def test_direct_offramps_exact_and_no_false_positives(
    testbed_small: Testbed, tmp_path: Path, policy: str
) -> None:
    result = run_trace(testbed_small, tmp_path / "case", "--policy", policy)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads((tmp_path / "case" / "report.json").read_text())
    truth = json.loads((testbed_small.out_dir / "ground_truth.json").read_text())
    assert report["policy"] == policy
    reported = {(o["address"], o["token_address"]): o for o in report["offramps"]}
    truth_keys = {(o["address"], o["asset"]["address"]) for o in truth["offramps"]}
    direct = [o for o in truth["offramps"] if not o["via_mixer"]]
    assert direct, "the scenario has direct off-ramps"
    for offramp in direct:
        found = reported.get((offramp["address"], offramp["asset"]["address"]))
        assert found is not None, f"missed {offramp['category']} {offramp['address']}"
        assert found["amount_raw"] == offramp["amount"]
        assert found["category"] == offramp["category"]
        assert found["entity"] == offramp["entity"]
    assert set(reported) <= truth_keys, "reported an off-ramp the thief never reached"
    decoys = {decoy["address"] for decoy in truth["decoys"]}
    assert not decoys & {address for address, _token in reported}
    # Mixer entries are demixed and every candidate is listed with its evidence.
    assert report["mixer_links"]
    assert all(0.0 <= link["confidence"] <= 1.0 for link in report["mixer_links"])
    ids = [finding["id"] for finding in report["findings"]]
    assert len(ids) == len(set(ids))


def test_unknown_policy_is_a_one_line_error(testbed_small: Testbed, tmp_path: Path) -> None:
    result = run_trace(testbed_small, tmp_path / "case", "--policy", "haircutt")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: unknown taint policy 'haircutt'; did you mean 'haircut'?"
    )
