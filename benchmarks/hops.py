"""Benchmark: how ``tracer trace`` spends hop depth, and what following the mixer costs.

    .venv/bin/python -m benchmarks.hops [--scale large] [--seed 1] [--hops 6 12 40 64]

On one freshly built scenario chain (anvil), every request through a counting proxy, one
``tracer trace`` of the thief's seed per ``--max-hops`` value, each into a new case directory
with a cold cache (default limits otherwise: mixer links followed at 0.5). Per run: wall
time, HTTP requests and JSON-RPC calls, addresses covered, the deepest hop reached, addresses
cut by the hop limit, mixer rounds and links followed, and the off-ramps found against the
scenario's ground truth (direct and behind the mixer, false positives, decoys).

Prints a Markdown table and a JSON summary on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.crawl import run_measured, say, tracer_command
from benchmarks.rpc_proxy import CountingProxy
from tracer.testbed.anvil import AnvilNode
from tracer.testbed.build import build_scenario, node_options
from tracer.testbed.chain import Chain


def against_truth(report: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    reported = {(o["address"], o["token_address"]) for o in report["offramps"]}
    true = {(o["address"], o["asset"]["address"]): o["via_mixer"] for o in truth["offramps"]}
    decoys = {decoy["address"] for decoy in truth["decoys"]}
    thief_links = {link["withdrawal_tx"] for link in truth["mixer_links"]}
    followed = [link for link in report["mixer_links"] if link["followed"]]
    hops = [entry["hop"] for entry in report["coverage"]["entries"]]
    return {
        "addresses": report["coverage"]["addresses"],
        "deepest_hop": max(hops, default=0),
        "hop_limited": sum(
            "hop limit" in (entry["reason"] or "") for entry in report["coverage"]["entries"]
        ),
        "mixer_rounds": report["mixer_rounds"],
        "links_followed": len(followed),
        "thief_links_followed": sum(link["withdrawal_tx"] in thief_links for link in followed),
        "thief_links": len(thief_links),
        "direct_found": sum(key in reported for key, via in true.items() if not via),
        "direct": sum(not via for via in true.values()),
        "via_mixer_found": sum(key in reported for key, via in true.items() if via),
        "via_mixer": sum(true.values()),
        "false_positives": len(reported - set(true)),
        "decoys": sum(address in decoys for address, _ in reported),
    }


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| --max-hops | wall (s) | HTTP requests | addresses | deepest hop | hop-limited "
        "| rounds | links followed (thief's) | direct found | via mixer found | FP | decoys |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['max_hops']} | {r['seconds']:.1f} | {r['http_requests']:,} | {r['addresses']} "
            f"| {r['deepest_hop']} | {r['hop_limited']} | {r['mixer_rounds']} "
            f"| {r['links_followed']} ({r['thief_links_followed']} of {r['thief_links']}) "
            f"| {r['direct_found']} of {r['direct']} | {r['via_mixer_found']} of {r['via_mixer']} "
            f"| {r['false_positives']} | {r['decoys']} |"
        )
    return "\n".join(lines)


def run(scale: str, seed: int, hops: Sequence[int], work: Path) -> dict[str, Any]:
    scenario = work / "scenario"
    rows = []
    with AnvilNode(node_options()) as node:
        say(f"building the {scale} scenario, seed {seed}")
        with Chain(node.url) as chain:
            built = build_scenario(chain, seed, scale, out_dir=scenario)
        truth = built.ground_truth
        head = int(truth["scenario"]["last_block"])
        with CountingProxy(node.url) as proxy:
            for max_hops in hops:
                say(f"tracer trace --max-hops {max_hops}")
                case = work / f"case-{max_hops}"
                command = tracer_command(
                    truth["seeds"], proxy.url, scenario / "labels.csv", case, head,
                    "--no-default-labels", "--max-hops", str(max_hops),
                )  # fmt: skip
                measured = run_measured(command, proxy, work / f"trace-{max_hops}.log")
                report = json.loads((case / "report.json").read_text())
                rows.append(
                    {
                        "max_hops": max_hops,
                        "seconds": round(measured.seconds, 1),
                        "http_requests": measured.http_requests,
                        "rpc_calls": measured.rpc_calls,
                        **against_truth(report, truth),
                    }
                )
    return {
        "scale": scale,
        "seed": seed,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "runs": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hops", description=__doc__)
    parser.add_argument("--scale", choices=("small", "large"), default="large")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hops", type=int, nargs="+", default=[6, 12, 40, 64])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracer-bench-hops-") as work:
        results = run(args.scale, args.seed, args.hops, Path(work))
    print(markdown(results["runs"]))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
