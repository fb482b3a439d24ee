"""Benchmark: the tracer's crawl of the large scenario against cryo's whole-range extraction.

    .venv/bin/python -m benchmarks.crawl [--scale large] [--seed 1]

(``make bench`` installs cryo and pyarrow from ``requirements-bench.lock`` first.)

One run, on one freshly built scenario chain (anvil), every request through a counting proxy:

(a) ``tracer trace SEED --labels labels.csv`` (default limits, cold cache) versus cryo
    extracting ``native_transfers`` and ``erc20_transfers`` for the whole block range of the
    same chain and filtering them to the addresses the crawl covered: wall time and requests,
    and their ratios. Every transfer the tracer found is checked against cryo's rows.
(c) the same trace into a new case directory sharing the cache (``--cache``, ``--chain``,
    ``--to-block``): requests (goal: 0) and wall time.
(d) peak resident memory of each process (``ru_maxrss`` from ``wait4`` in a small launcher).

Wall times include interpreter start-up for both tools. Prints a Markdown table and a JSON
summary on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.rpc_proxy import CountingProxy, Counts
from tracer.testbed.anvil import AnvilNode
from tracer.testbed.build import build_scenario, node_options
from tracer.testbed.chain import Chain

CRYO_DATASETS = ("native_transfers", "erc20_transfers")


@dataclass(frozen=True)
class Measured:
    """One process: wall time, peak memory, and the requests the proxy saw from it."""

    seconds: float
    peak_rss_mib: float
    http_requests: int
    rpc_calls: int
    calls_by_method: dict[str, int]
    # The node's answering time per method, summed over requests (they overlap in time).
    node_seconds_by_method: dict[str, float]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Runs the measured command and reports its peak memory. A tiny stdlib-only process of its
# own, because ru_maxrss counts the image a child was started from: measured straight from
# this process (polars, the scenario in memory) every figure would include ours.
_LAUNCHER = """
import json, os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_pid, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"maxrss_kib": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}, out)
"""


def run_measured(command: Sequence[str], proxy: CountingProxy, log: Path) -> Measured:
    """Run ``command`` to completion; its wall time, peak RSS and requests through ``proxy``."""
    proxy.reset()
    usage_file = log.with_suffix(".usage.json")
    started = time.monotonic()
    with log.open("wb") as output:
        subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, str(usage_file), *command],
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.monotonic() - started
    usage = json.loads(usage_file.read_text())
    if usage["code"] != 0:
        raise SystemExit(f"{command[:4]} failed ({usage['code']}); see {log}")
    counts: Counts = proxy.reset()
    return Measured(
        seconds=seconds,
        peak_rss_mib=usage["maxrss_kib"] / 1024,  # KiB on Linux
        http_requests=counts.http_requests,
        rpc_calls=counts.rpc_calls,
        calls_by_method=dict(counts.calls.most_common()),
        node_seconds_by_method={
            method: round(seconds, 2)
            for method, seconds in sorted(counts.seconds.items(), key=lambda item: -item[1])
        },
    )


def tracer_command(
    seeds: Sequence[str], url: str, labels: Path, out: Path, head: int, *extra: str
) -> list[str]:
    return [
        sys.executable, "-m", "tracer", "trace", *seeds, "--rpc-url", url,
        "--labels", str(labels), "--out", str(out), "--to-block", str(head),
        "--confirmations", "0", "--quiet", *extra,
    ]  # fmt: skip


# -- cryo, in its own process (so its memory is its own) ------------------------------------


def cryo_worker(url: str, head: int, addresses_file: Path, out_dir: Path) -> None:
    """Extract both datasets for blocks 0..head with cryo and keep the rows touching the
    addresses (non-zero values), written as parquet for the comparison."""
    cryo: Any = importlib.import_module("cryo")  # a benchmark-only dependency
    addresses = json.loads(addresses_file.read_text())
    for dataset in CRYO_DATASETS:
        # cryo block ranges are half-open: 0:head+1 is every block up to the head.
        frame: pl.DataFrame = cryo.collect(
            dataset, rpc=url, start_block=0, end_block=head + 1, hex=True, verbose=False
        )
        extracted = frame.height
        touching = frame.filter(
            (pl.col("from_address").is_in(addresses) | pl.col("to_address").is_in(addresses))
            & (pl.col("value_string") != "0")
        )
        touching.write_parquet(out_dir / f"{dataset}.parquet")
        (out_dir / f"{dataset}.count").write_text(str(extracted))


# -- the comparison -----------------------------------------------------------------------


def found_in_cryo(tracer_rows: pl.DataFrame, cryo_dir: Path) -> dict[str, Any]:
    """How many of the tracer's successful, non-zero transfers cryo's rows contain."""
    moved = tracer_rows.filter(
        pl.col("tx_succeeded").ne_missing(False) & (pl.col("value_raw") != "0")
    )
    native = moved.filter(pl.col("transfer_kind").is_in(["native", "internal"]))
    tokens = moved.filter(pl.col("transfer_kind") == "erc20")
    cryo_native = pl.read_parquet(cryo_dir / "native_transfers.parquet")
    cryo_tokens = pl.read_parquet(cryo_dir / "erc20_transfers.parquet")
    native_keys = {
        (tx.lower(), src.lower(), dst.lower(), value)
        for tx, src, dst, value in cryo_native.select(
            "transaction_hash", "from_address", "to_address", "value_string"
        ).iter_rows()
    }
    token_keys = {
        (tx.lower(), int(index))
        for tx, index in cryo_tokens.select("transaction_hash", "log_index").iter_rows()
    }
    native_found = sum(
        1
        for row in native.select(
            "transaction_hash", "from_address", "to_address", "value_raw"
        ).iter_rows()
        if row in native_keys
    )
    token_found = sum(
        1
        for tx, index in tokens.select("transaction_hash", "log_index").iter_rows()
        if (tx, index) in token_keys
    )
    return {
        "tracer_native_and_internal": native.height,
        "found_in_cryo_native": native_found,
        "tracer_erc20": tokens.height,
        "found_in_cryo_erc20": token_found,
        "cryo_rows_touching_addresses": cryo_native.height + cryo_tokens.height,
        "cryo_rows_extracted": sum(
            int((cryo_dir / f"{name}.count").read_text()) for name in CRYO_DATASETS
        ),
    }


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "n/a"


def markdown(results: dict[str, Any]) -> str:
    cold, cryo, warm = (Measured(**results[name]) for name in ("tracer", "cryo", "tracer_warm"))
    rows = [
        ("tracer trace (cold cache)", cold),
        ("cryo: native + ERC-20, whole range", cryo),
        ("tracer trace (warm cache, new case dir)", warm),
    ]
    lines = [
        "| run | wall (s) | HTTP requests | JSON-RPC calls | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {m.seconds:.1f} | {m.http_requests:,} | {m.rpc_calls:,} | "
        f"{m.peak_rss_mib:.0f} |"
        for name, m in rows
    ]
    check = results["check"]
    lines += [
        "",
        f"tracer / cryo: wall {ratio(cold.seconds, cryo.seconds)}, "
        f"HTTP requests {ratio(cold.http_requests, cryo.http_requests)}, "
        f"calls {ratio(cold.rpc_calls, cryo.rpc_calls)}, "
        f"peak RSS {ratio(cold.peak_rss_mib, cryo.peak_rss_mib)}",
        f"crawl: {results['crawl']['addresses']} addresses, {results['crawl']['rows']} rows; "
        f"native/internal found in cryo {check['found_in_cryo_native']}/"
        f"{check['tracer_native_and_internal']}, ERC-20 {check['found_in_cryo_erc20']}/"
        f"{check['tracer_erc20']}; cryo extracted {check['cryo_rows_extracted']:,} rows, "
        f"{check['cryo_rows_touching_addresses']:,} touch those addresses",
        f"tracer calls: {cold.calls_by_method}",
        f"cryo calls: {cryo.calls_by_method}",
    ]
    return "\n".join(lines)


def run(scale: str, seed: int, work: Path) -> dict[str, Any]:
    with AnvilNode(node_options()) as node, Chain(node.url) as chain:
        say(f"building the {scale} scenario (seed {seed})")
        started = time.monotonic()
        built = build_scenario(chain, seed, scale, out_dir=work / "scenario")
        build_seconds = time.monotonic() - started
        head = chain.block_number()
        seeds: list[str] = built.ground_truth["seeds"]
        labels = work / "scenario" / "labels.csv"
        counts = built.ground_truth["scenario"]["counts"]
        say(f"built in {build_seconds:.0f} s: {counts['transfers']} transfers, head {head}")
        with CountingProxy(node.url) as proxy:
            say("(a) tracer trace, cold cache")
            case = work / "case"
            cold = run_measured(
                tracer_command(seeds, proxy.url, labels, case, head), proxy, work / "cold.log"
            )
            report = json.loads((case / "report.json").read_text())
            addresses = [entry["address"] for entry in report["coverage"]["entries"]]
            (work / "addresses.json").write_text(json.dumps(addresses))
            say(f"    {cold.seconds:.1f} s, {cold.http_requests} requests; cryo, whole range")
            cryo_dir = work / "cryo"
            cryo_dir.mkdir()
            cryo = run_measured(
                [sys.executable, "-m", "benchmarks.crawl", "--cryo-worker", proxy.url,
                 str(head), str(work / "addresses.json"), str(cryo_dir)],
                proxy, work / "cryo.log",
            )  # fmt: skip
            say(f"    {cryo.seconds:.1f} s, {cryo.http_requests} requests")
            say("(c) tracer trace, warm cache, new case directory")
            warm = run_measured(
                tracer_command(
                    seeds, proxy.url, labels, work / "warm", head,
                    "--cache", str(case / "cache.sqlite"), "--chain", "anvil",
                ),
                proxy, work / "warm.log",
            )  # fmt: skip
            say(f"    {warm.seconds:.1f} s, {warm.http_requests} requests")
    tracer_rows = pl.read_parquet(case / "transfers.parquet")
    warm_rows = pl.read_parquet(work / "warm" / "transfers.parquet")
    return {
        "scale": scale,
        "seed": seed,
        "machine": f"{os.cpu_count()} CPUs {platform.machine()}, "
        f"Python {platform.python_version()}",
        "scenario": {
            "build_seconds": round(build_seconds, 1),
            "head": head,
            "transfers": counts["transfers"],
        },
        "crawl": {
            "addresses": len(addresses),
            "rows": tracer_rows.height,
            "warm_equals_cold": warm_rows.equals(tracer_rows),
        },
        "tracer": asdict(cold),
        "cryo": asdict(cryo),
        "tracer_warm": asdict(warm),
        "check": found_in_cryo(tracer_rows, cryo_dir),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crawl", description=__doc__)
    parser.add_argument("--scale", default="large")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cryo-worker", nargs=4, metavar=("URL", "HEAD", "ADDRESSES", "OUT"))
    args = parser.parse_args(argv)
    if args.cryo_worker:
        url, head, addresses, out = args.cryo_worker
        cryo_worker(url, int(head), Path(addresses), Path(out))
        return 0
    with tempfile.TemporaryDirectory(prefix="tracer-bench-crawl-") as work:
        results = run(args.scale, args.seed, Path(work))
    print(markdown(results))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
