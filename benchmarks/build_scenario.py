"""Benchmark: build the laundering scenario at each scale on a fresh anvil.

    .venv/bin/python -m benchmarks.build_scenario [--scale small --scale large] [--seed 1]

Measures wall time (plan, execution, receipts and ground truth: everything
``python -m tracer.testbed build`` does, and the sending-and-mining part of it), the
transactions and blocks built, the transfers the node itself reports (trace_filter + Transfer
logs in 300-block windows, counted after the build), and anvil's peak resident memory at the
end of the build and after that count (answering 300-block trace windows costs memory too).
Prints a Markdown table; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tracer.testbed.anvil import AnvilNode, anvil_binary, peak_rss_kib
from tracer.testbed.build import build_scenario, count_transfers, node_options
from tracer.testbed.chain import Chain


@dataclass(frozen=True)
class Result:
    scale: str
    seed: int
    seconds: float
    mining_seconds: float
    transactions: int
    transfers: int
    blocks: int
    max_block_transactions: int
    anvil_peak_mib: float
    anvil_peak_after_count_mib: float


def measure(scale: str, seed: int) -> Result:
    with AnvilNode(node_options()) as node, Chain(node.url) as chain:
        started = time.monotonic()
        built = build_scenario(chain, seed, scale)
        seconds = time.monotonic() - started
        assert node.pid is not None
        peak = peak_rss_kib(node.pid) or 0
        execution = built.execution
        transfers = count_transfers(chain, execution.first_block, execution.last_block)
        peak_after_count = peak_rss_kib(node.pid) or 0
    return Result(
        scale=scale,
        seed=seed,
        seconds=seconds,
        mining_seconds=execution.seconds,
        transactions=len(built.plan.actions),
        transfers=sum(transfers.values()),
        blocks=len(built.plan.blocks),
        max_block_transactions=max(len(b.actions) for b in built.plan.blocks),
        anvil_peak_mib=peak / 1024,
        anvil_peak_after_count_mib=peak_after_count / 1024,
    )


def table(results: Sequence[Result]) -> str:
    lines = [
        "| scale | seed | build (s) | sending + mining (s) | transactions | transfers "
        "| blocks | max tx/block | anvil peak RSS (MiB) | ... after counting (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.scale} | {r.seed} | {r.seconds:.1f} | {r.mining_seconds:.1f} "
        f"| {r.transactions:,} | {r.transfers:,} | {r.blocks:,} | {r.max_block_transactions} "
        f"| {r.anvil_peak_mib:,.0f} | {r.anvil_peak_after_count_mib:,.0f} |"
        for r in results
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.build_scenario")
    parser.add_argument("--scale", action="append", choices=("small", "large"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    results = []
    for scale in args.scale or ["small", "large"]:
        print(f"building {scale} (seed {args.seed})...", file=sys.stderr, flush=True)
        results.append(measure(scale, args.seed))
    anvil_version = (
        subprocess.run(
            [str(anvil_binary()), "--version"], capture_output=True, text=True, check=True
        )
        .stdout.splitlines()[0]
        .replace(" Version:", "")
    )
    print(
        f"Scenario build on {os.cpu_count()} CPUs ({platform.machine()}), "
        f"Python {platform.python_version()}, {anvil_version}:\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
