"""Case documents on a synthetic case: off-ramp paths, report.md, report.html, freeze packs
and the terminal summary, timed one by one.

    .venv/bin/python -m benchmarks.reports [--rows 1000000]

The case is the taint benchmark's synthetic table (:func:`benchmarks.taint.synthetic`:
power-law addresses, the 20 busiest labelled as exchanges, five assets, five seeds), traced
with haircut; its off-ramps (the exchanges, per asset) make the report. Timed: building the
flow graph, :func:`~tracer.reports.paths.add_offramp_paths` (the backward walks), then each
renderer on the resulting report dict. The taint itself is measured by ``benchmarks.taint``.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import polars as pl
from rich.console import Console

from benchmarks.taint import synthetic
from tracer.graph.build import build_flow_graph
from tracer.graph.tables import token_info_of
from tracer.heuristics.exchanges.offramps import TRACED_COLUMNS, find_offramps
from tracer.heuristics.taint import Policy, trace_taint
from tracer.reports.freeze import freeze_packs
from tracer.reports.html import markdown_to_html
from tracer.reports.markdown import render_markdown
from tracer.reports.paths import add_offramp_paths
from tracer.reports.terminal import print_summary
from tracer.transfers.schema import TRANSFER_KINDS


def measure(rows: int) -> dict[str, object]:
    frame, seeds, labels = synthetic(rows)
    taint = trace_taint(frame, seeds, Policy.HAIRCUT, labels)
    traced = taint.transfers.select(TRACED_COLUMNS).with_columns(
        pl.col("transfer_kind").cast(TRANSFER_KINDS)
    )
    offramps = find_offramps(frame, labels, traced)
    report: dict[str, Any] = {
        "format_version": 1, "chain_id": 1, "seeds": seeds, "policy": "haircut",
        "offramps": [o.to_json() for o in offramps], "mixer_links": [], "findings": [],
        "coverage": {}, "transfers": {"rows": frame.height, "by_kind": {}},
    }  # fmt: skip
    out: dict[str, object] = {"rows": rows, "offramps": len(offramps)}
    started = time.perf_counter()
    graph = build_flow_graph(frame, taint, labels)
    out["graph_s"] = _since(started)
    out["graph_edges"] = graph.number_of_edges()
    started = time.perf_counter()
    add_offramp_paths(
        report, graph, token_info=token_info_of(frame), native_symbol="ETH",
        conversions=taint.conversions,
    )  # fmt: skip
    out["paths_s"] = _since(started)
    routes = [path for offramp in report["offramps"] for path in offramp["paths"]]
    out["paths"] = len(routes)
    out["hops_max"] = max((len(p["hops"]) + p["omitted_hops"] for p in routes), default=0)
    started = time.perf_counter()
    markdown = render_markdown(report)
    out["markdown_s"] = _since(started)
    out["markdown_kib"] = len(markdown.encode()) // 1024
    started = time.perf_counter()
    markdown_to_html(markdown, "benchmark")
    out["html_s"] = _since(started)
    started = time.perf_counter()
    freeze_packs(report)
    out["freeze_s"] = _since(started)
    started = time.perf_counter()
    print_summary(report, Console(file=io.StringIO(), width=160))
    out["terminal_s"] = _since(started)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return out


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reports", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.rows)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
