"""``make demo``: a laundering case on a fresh local chain, traced end to end.

Starts anvil, builds the small scenario (seed from ``TRACER_DEMO_SEED``, default 7), runs the
real ``tracer trace`` command on the thief's seed with the scenario's labels, prints its
summary and report, then sets the ground truth beside it: which of the true off-ramps the
crawl reached. anvil is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from tracer.testbed.anvil import AnvilNode
from tracer.testbed.build import build_scenario, node_options
from tracer.testbed.chain import Chain
from tracer.testbed.ground_truth import GROUND_TRUTH_FILE, LABELS_FILE


def _say(message: str) -> None:
    print(message, flush=True)


def _reached(transfers: pl.DataFrame, address: str) -> bool:
    return transfers.filter(pl.col("to_address") == address).height > 0


def _compare_with_ground_truth(case: Path, truth: dict[str, Any]) -> tuple[int, int]:
    transfers = pl.read_parquet(case / "transfers.parquet")
    decoys = {decoy["address"] for decoy in truth["decoys"]}
    _say("\nGround truth: where the stolen funds really went")
    found = 0
    for offramp in truth["offramps"]:
        reached = _reached(transfers, offramp["address"])
        found += reached
        route = "via mixer" if offramp["via_mixer"] else "direct"
        asset = offramp["asset"]
        amount = int(offramp["amount"]) / 10 ** asset["decimals"]  # display only
        _say(
            f"  {'reached' if reached else 'MISSED '}  {offramp['category']:<17} "
            f"{offramp['entity']:<24} {amount:>14,.4f} {asset['symbol']:<5} {route:<10} "
            f"{offramp['address']}"
        )
    decoys_in_table = sum(_reached(transfers, address) for address in decoys)
    _say(
        f"\nThe crawl reached {found} of {len(truth['offramps'])} true off-ramps; "
        f"{decoys_in_table} of {len(decoys)} decoy deposit addresses of innocent users appear "
        "in the transfer table (reaching an address is not attributing it: off-ramp "
        "attribution, taint amounts and demixing come from the tracing engine)."
    )
    return found, len(truth["offramps"])


def main() -> int:
    seed = int(os.environ.get("TRACER_DEMO_SEED", "7"))
    workdir = Path(os.environ.get("TRACER_DEMO_DIR") or tempfile.mkdtemp(prefix="tracer-demo-"))
    scenario_dir, case_dir = workdir / "scenario", workdir / "case"
    _say(f"Starting anvil and building the small laundering scenario (seed {seed})...")
    started = time.monotonic()
    with AnvilNode(node_options()) as node:
        with Chain(node.url) as chain:
            built = build_scenario(chain, seed, "small", out_dir=scenario_dir)
        counts = built.ground_truth["scenario"]["counts"]
        _say(
            f"Built in {time.monotonic() - started:.1f} s: {counts['transactions']} transactions, "
            f"{counts['transfers']} transfers in {counts['blocks']} blocks on {node.url}"
        )
        truth = json.loads((scenario_dir / GROUND_TRUTH_FILE).read_text())
        [seed_address] = truth["seeds"]
        command = [
            sys.executable, "-m", "tracer", "trace", seed_address,
            "--rpc-url", node.url,
            "--labels", str(scenario_dir / LABELS_FILE),
            "--out", str(case_dir),
        ]  # fmt: skip
        _say(f"\n$ tracer trace {seed_address} --rpc-url {node.url} --labels "
             f"{scenario_dir / LABELS_FILE} --out {case_dir}\n")  # fmt: skip
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            _say(f"tracer trace failed with exit code {result.returncode}")
            return result.returncode
    report = json.loads((case_dir / "report.json").read_text())
    _say(f"\n{case_dir / 'report.json'} (coverage entries omitted):")
    shown = {**report, "coverage": {k: v for k, v in report["coverage"].items() if k != "entries"}}
    _say(json.dumps(shown, indent=2))
    _compare_with_ground_truth(case_dir, truth)
    _say(f"\nCase files: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
