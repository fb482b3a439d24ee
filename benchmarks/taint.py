"""Taint analysis on synthetic transfer tables: graph build and every policy, against a
straightforward networkx-only haircut, each size in its own process (clean peak RSS).

    .venv/bin/python -m benchmarks.taint [--sizes 1000000,10000000] [--baseline-max 1000000]

The table (generated in polars, seeded): addresses drawn with a power law (u**3 over
``rows // 5`` addresses, so a few hubs see most transfers), the 20 busiest labelled as
exchanges (stops), five assets (the native coin and four ERC-20s with 18, 6, 8 and 0
decimals), 100 rows per block, and five seeds among mid-degree addresses. Timed: trace_taint
per policy (ordering, reachability, loop) and build_flow_graph on the haircut result. The
baseline builds a MultiDiGraph of the whole table and walks its edges in time order with the
same haircut books; it runs up to ``--baseline-max`` rows (default 1M, to keep ``make bench``
short; at 10M it takes about 3 min and raises the peak to about 13 GiB, see the README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set
import polars as pl

from benchmarks.children import peak_rss_mib, print_sizes
from tracer.graph.build import build_flow_graph
from tracer.heuristics.taint import Policy, trace_taint
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.types import NATIVE_TOKEN

TOKENS = [NATIVE_TOKEN, "0x" + "a1" * 20, "0x" + "a2" * 20, "0x" + "a3" * 20, "0x" + "a4" * 20]
DECIMALS = [18, 18, 6, 8, 0]


def _address(index: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit("0x"), index.cast(pl.String).str.zfill(40)])


def synthetic(rows: int, seed: int = 7) -> tuple[pl.DataFrame, list[str], LabelStore]:
    addresses = max(rows // 5, 100)
    i = pl.int_range(rows, dtype=pl.Int64)
    u1 = (i.hash(seed) % 1_000_003).cast(pl.Float64) / 1_000_003
    u2 = (i.hash(seed + 1) % 1_000_003).cast(pl.Float64) / 1_000_003
    src = (u1**3 * addresses).cast(pl.Int64)
    dst = (u2**3 * addresses).cast(pl.Int64)
    asset = (i.hash(seed + 2) % 8).clip(0, 4)  # the native coin on 4 of 8 rows
    frame = (
        pl.select(i=i, src=src, dst=dst, asset=asset)
        .with_columns(
            chain_id=pl.lit(1, pl.Int64),
            block_number=pl.col("i") // 100,
            block_time=pl.from_epoch(1_700_000_000 + 12 * (pl.col("i") // 100), "s")
            .dt.replace_time_zone("UTC")
            .cast(pl.Datetime("us", "UTC")),
            transaction_hash=pl.concat_str(
                [pl.lit("0x"), pl.col("i").cast(pl.String).str.zfill(64)]
            ),
            transfer_kind=pl.when(pl.col("asset") == 0)
            .then(pl.lit("native"))
            .otherwise(pl.lit("erc20")),
            log_index=pl.when(pl.col("asset") == 0).then(None).otherwise(pl.col("i") % 100),
            trace_address=pl.lit(None, pl.String),
            from_address=_address(pl.col("src")),
            to_address=_address(pl.col("dst")),
            token_address=pl.col("asset").replace_strict(list(range(5)), TOKENS),
            token_id=pl.lit(None, pl.String),
            value_raw=((pl.col("i").hash(seed + 3) % 10**12) + 1).cast(pl.String),
            value=pl.lit(None, pl.Float64),
            token_symbol=pl.lit(None, pl.String),
            token_decimals=pl.col("asset").replace_strict(list(range(5)), DECIMALS),
            tx_succeeded=(pl.col("i") % 97) != 0,
            gas_price=pl.lit(None, pl.UInt64),
            source=pl.lit("synthetic"),
            request_key=pl.lit(None, pl.String),
        )
        .drop("i", "src", "dst", "asset")
    )
    frame = frame.cast(
        {"transfer_kind": pl.Enum(["native", "internal", "erc20", "erc721", "erc1155"])}
    )
    hubs = [f"0x{index:040d}" for index in range(20)]
    seeds = [f"0x{index:040d}" for index in range(addresses // 3, addresses // 3 + 5)]
    labels = LabelStore(
        Label(hub, f"Exchange {n}", Category.EXCHANGE, "synthetic") for n, hub in enumerate(hubs)
    )
    return frame, seeds, labels


def networkx_haircut(frame: pl.DataFrame, seeds: list[str], stops: set[str]) -> int:
    """The straightforward way: the whole table as a MultiDiGraph, edges walked in time order."""
    graph = nx.MultiDiGraph()
    for order, (src, dst, token, value, ok) in enumerate(
        frame.select(
            "from_address", "to_address", "token_address", "value_raw", "tx_succeeded"
        ).iter_rows()
    ):
        if ok is not False:
            graph.add_edge(src, dst, order=order, token=token, amount=int(value))
    balance: dict[tuple[str, str], int] = defaultdict(int)
    traced: dict[tuple[str, str], int] = defaultdict(int)
    seed_set = set(seeds)
    reached = 0
    for src, dst, data in sorted(graph.edges(data=True), key=lambda edge: edge[2]["order"]):
        amount, token = data["amount"], data["token"]
        key = (src, token)
        carried = 0
        if src not in stops:
            total = max(balance[key], amount)
            carried = traced[key] * amount // total if traced[key] else 0
            balance[key] = total - amount
            traced[key] -= carried
        share = amount if dst in seed_set else carried
        balance[(dst, token)] += amount
        traced[(dst, token)] += share
        reached += share > 0
    return reached


def measure(rows: int, baseline: bool) -> dict[str, object]:
    started = time.perf_counter()
    frame, seeds, labels = synthetic(rows)
    out: dict[str, object] = {"rows": rows, "generate_s": round(time.perf_counter() - started, 1)}
    out["rss_after_generate_mib"] = peak_rss_mib()
    for policy in (Policy.HAIRCUT, Policy.FIFO, Policy.POISON):
        started = time.perf_counter()
        result = trace_taint(frame, seeds, policy, labels)
        out[f"{policy.value}_s"] = round(time.perf_counter() - started, 2)
        out[f"{policy.value}_rows_looped"] = result.rows_processed
        out[f"{policy.value}_traced_transfers"] = result.transfers.height
        if policy is Policy.HAIRCUT:
            started = time.perf_counter()
            graph = build_flow_graph(frame, result, labels)
            out["graph_s"] = round(time.perf_counter() - started, 2)
            out["graph_nodes"] = graph.number_of_nodes()
            out["graph_edges"] = graph.number_of_edges()
            del graph
        del result
    out["peak_rss_mib"] = peak_rss_mib()
    if baseline:
        started = time.perf_counter()
        networkx_haircut(frame, seeds, {label.address for label in labels.all_labels()})
        out["networkx_haircut_s"] = round(time.perf_counter() - started, 2)
        out["peak_rss_with_networkx_mib"] = peak_rss_mib()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.taint", description=__doc__)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--baseline-max", type=int, default=1_000_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.one <= args.baseline_max)), flush=True)
        return 0
    return print_sizes(
        "benchmarks.taint",
        args.sizes,
        ["--baseline-max", str(args.baseline_max)],
        ("networkx_over_tracer_haircut", "networkx_haircut_s", "haircut_s"),
    )


if __name__ == "__main__":
    sys.exit(main())
