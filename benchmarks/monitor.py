"""Benchmark: one ``tracer monitor`` pass over 100 new blocks, 10 to 10,000 watched addresses.

    .venv/bin/python -m benchmarks.monitor [--scale large] [--seed 1] [--blocks 100]

Builds the scenario on a fresh anvil, then for each watch-set size runs one pass (fresh
state, ``--from-block`` = head - blocks + 1, no confirmations, one window) and reports wall
time, HTTP requests and JSON-RPC calls, and the alerts raised. Two watch sets per size:
the thief plus random addresses (matching cost alone: almost nothing matches), and the thief
plus the scenario's other accounts from the ground truth (many of them busy in those blocks,
so the cost of raising thousands of alerts shows too). Goal: nearly flat in the number of
addresses.

For contrast, the per-address way (what a naive scheduler would do: ``JsonRpcSource``'s
transfers of each address over the same blocks) is measured for the smallest sizes.

Prints a Markdown table and a JSON summary on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracer.labels.store import LabelStore
from tracer.monitor.runner import MonitorOptions, run_pass
from tracer.monitor.watchlist import load_watchlist
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.transport import EndpointLimits, Transport
from tracer.testbed.anvil import AnvilNode
from tracer.testbed.build import build_scenario, node_options
from tracer.testbed.chain import Chain

SIZES = (10, 1_000, 10_000)
BASELINE_SIZES = (10, 100)
REPEATS = 3


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def watch_set(truth: dict[str, Any], size: int, rng: random.Random, *, active: bool) -> list[str]:
    """The thief, then (``active``) the scenario's other accounts, then random addresses."""
    others = sorted(set(truth["accounts"]) - set(truth["seeds"])) if active else []
    chosen = [truth["seeds"][0], *others][:size]
    while len(chosen) < size:
        chosen.append("0x" + rng.randbytes(20).hex())
    return chosen


def write_watchlist(path: Path, addresses: Sequence[str], start: int) -> Path:
    lines = [f"start_block: {start}", "seeds:"] + [f"  - '{address}'" for address in addresses]
    path.write_text("\n".join(lines) + "\n")
    return path


def monitor_pass(
    url: str, work: Path, addresses: Sequence[str], start: int, *, labels: LabelStore, tag: str
) -> dict[str, Any]:
    watchlist = load_watchlist(write_watchlist(work / f"{tag}.yaml", addresses, start))
    options = MonitorOptions(
        rpc_url=url,
        state_path=work / f"{tag}.sqlite",
        labels=labels,
        alerts_path=work / f"{tag}.jsonl",
        confirmations=0,
        window_blocks=100_000,  # one window: the whole range in one step
    )
    started = time.perf_counter()
    result = asyncio.run(run_pass(watchlist, options))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "blocks": result.blocks,
        "http_requests": result.http_requests,
        "rpc_calls": result.rpc_calls,
        "alerts": len(result.alerts),
    }


async def per_address(url: str, addresses: Sequence[str], start: int, end: int) -> dict[str, Any]:
    limits = EndpointLimits(requests_per_second=None, max_concurrent=4)
    async with Transport() as transport:
        source = JsonRpcSource.connect(transport, url, limits=limits, trace_window=300)
        started = time.perf_counter()
        rows = 0
        for address in addresses:
            rows += (await source.transfers_for_address(address, start, end)).height
        seconds = time.perf_counter() - started
        stats = list(transport.stats().values())
    return {
        "seconds": seconds,
        "http_requests": sum(s.http_requests for s in stats),
        "rpc_calls": sum(s.rpc_calls for s in stats),
        "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.monitor", description=__doc__)
    parser.add_argument("--scale", default="large", choices=("small", "large"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=100)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="tracer-bench-monitor-") as tmp:
        work = Path(tmp)
        with AnvilNode(node_options()) as node, Chain(node.url) as chain:
            say(f"building the {args.scale} scenario ...")
            build_scenario(chain, args.seed, args.scale, out_dir=work)
            truth = json.loads((work / "ground_truth.json").read_text())
            end = truth["scenario"]["last_block"]
            start = end - args.blocks + 1
            labels = LabelStore.from_files([work / "labels.csv"])
            rows: list[dict[str, Any]] = []
            for active in (False, True):
                for size in SIZES:
                    addresses = watch_set(truth, size, rng, active=active)
                    tag = f"{'active' if active else 'quiet'}-{size}"
                    runs = [
                        monitor_pass(
                            node.url, work, addresses, start, labels=labels, tag=f"{tag}-{n}"
                        )
                        for n in range(REPEATS)
                    ]
                    seconds = statistics.median(run["seconds"] for run in runs)
                    row = {"addresses": size, "active": active, **runs[0], "seconds": seconds}
                    say(f"{tag}: {json.dumps(row)}")
                    rows.append(row)
            baseline = []
            for size in BASELINE_SIZES:
                addresses = watch_set(truth, size, rng, active=True)
                measured = asyncio.run(per_address(node.url, addresses, start, end))
                say(f"per-address, {size} addresses: {json.dumps(measured)}")
                baseline.append({"addresses": size, **measured})
    print(f"blocks {start}..{end} of the {args.scale} scenario (seed {args.seed})\n")
    print(
        "| watched addresses | watch set | wall (s, median of 3) | HTTP requests | "
        "JSON-RPC calls | alerts |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for row in rows:
        kind = "scenario accounts first" if row["active"] else "thief + random"
        print(
            f"| {row['addresses']:,} | {kind} | {row['seconds']:.2f} | {row['http_requests']} | "
            f"{row['rpc_calls']} | {row['alerts']} |"
        )
    print("\n| per-address polling | wall (s) | HTTP requests | JSON-RPC calls |")
    print("|---:|---:|---:|---:|")
    for row in baseline:
        print(
            f"| {row['addresses']:,} | {row['seconds']:.2f} | {row['http_requests']} | "
            f"{row['rpc_calls']} |"
        )
    summary = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "blocks": [start, end],
        "monitor": rows,
        "per_address": baseline,
    }
    print("\n" + json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
