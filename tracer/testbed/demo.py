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

from tracer.testbed.anvil import AnvilNode
from tracer.testbed.build import build_scenario, node_options
from tracer.testbed.chain import Chain
from tracer.testbed.ground_truth import GROUND_TRUTH_FILE, LABELS_FILE


def _say(message: str) -> None:
    print(message, flush=True)


def _compare_with_ground_truth(report: dict[str, Any], truth: dict[str, Any]) -> None:
    reported = {(o["address"], o["token_address"]): o for o in report["offramps"]}
    truth_keys = {(o["address"], o["asset"]["address"]) for o in truth["offramps"]}
    decoys = {decoy["address"] for decoy in truth["decoys"]}
    _say("\nGround truth beside the report: where the stolen funds really went")
    found = 0
    for offramp in truth["offramps"]:
        asset = offramp["asset"]
        hit = reported.get((offramp["address"], asset["address"]))
        exact = hit is not None and hit["amount_raw"] == offramp["amount"]
        found += hit is not None
        status = "exact  " if exact else "partial" if hit else "missed "
        route = "via mixer" if offramp["via_mixer"] else "direct"
        amount = int(offramp["amount"]) / 10 ** asset["decimals"]  # display only
        _say(
            f"  {status} {offramp['category']:<17} {offramp['entity']:<24} "
            f"{amount:>14,.4f} {asset['symbol']:<5} {route:<10} {offramp['address']}"
        )
    false_positives = [key for key in reported if key not in truth_keys]
    via_mixer = [o for o in truth["offramps"] if o["via_mixer"]]
    found_via = sum((o["address"], o["asset"]["address"]) in reported for o in via_mixer)
    followed = [link for link in report["mixer_links"] if link.get("followed")]
    thief_links = {link["withdrawal_tx"] for link in truth["mixer_links"]}
    _say(
        f"\nReported {len(reported)} off-ramps: {found} of {len(truth['offramps'])} true ones "
        f"found ({found_via} of {len(via_mixer)} behind the mixer), "
        f"{len(false_positives)} not in the ground truth, "
        f"{sum(a in decoys for a, _ in reported)} of {len(decoys)} decoys."
    )
    _say(
        f"Mixer links followed: {len(followed)} "
        f"({sum(link['withdrawal_tx'] in thief_links for link in followed)} of the thief's "
        f"{len(thief_links)} withdrawals, "
        f"{sum(link['withdrawal_tx'] not in thief_links for link in followed)} innocent) "
        f"in {report['mixer_rounds']} rounds."
    )


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
    # The contract's fields of each off-ramp; the whole report (paths, coverage, findings) is
    # in the file and in report.md.
    contract = ("address", "category", "entity", "asset", "amount", "confidence")
    shown = [{name: offramp[name] for name in contract} for offramp in report["offramps"]]
    _say(f"\n{case_dir / 'report.json'}, its off-ramps (contract fields):")
    _say(json.dumps(shown, indent=2))
    _compare_with_ground_truth(report, truth)
    _say(f"\nCase files: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
