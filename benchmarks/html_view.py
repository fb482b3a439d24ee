"""HTML case view: time to write the file, its size, and its load time in headless Chromium.

    .venv/bin/python -m benchmarks.html_view [--nodes 1000 3000 5000 10000] [--repeat 3]
        [--export-edges 100000]

Cases: the small testbed scenario traced for real (anvil + ``tracer trace``), synthetic
flow graphs of the given sizes (peel chains and fan-outs from two seeds through mixers into
exchange deposit addresses, about 2.5 edges per node), and the export benchmark's random
power-law graph (``benchmarks.export``, ``--export-edges``; 0 leaves it out), whose Sankey
has many flows back to earlier hops. Load time is from navigation to the
page saying it has drawn the graph and the Sankey (Debian's /usr/bin/chromium, driven by
playwright; skipped when Chromium is missing). Figures are the minimum and median of
``--repeat`` runs; record them in benchmarks/README.md. The measured load times set
:data:`tracer.exporters.html.MAX_DRAWN_NODES`; ``--uncapped`` sizes above it are also drawn
whole, to show what the cap saves.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from playwright.sync_api import Browser

from benchmarks.export import synthetic_case as export_case
from benchmarks.labels import timed
from tests.exporters.html_case import CHROMIUM, chromium
from tracer.atomic import atomic_write_text
from tracer.cases import Case, load_case
from tracer.exporters.html import MAX_DRAWN_NODES, case_view_data, write_case_view
from tracer.exporters.html.page import render_page
from tracer.graph.tables import EDGE_SCHEMA, NODE_SCHEMA
from tracer.testbed.anvil import AnvilNode
from tracer.testbed.build import build_scenario, node_options
from tracer.testbed.chain import Chain
from tracer.types import NATIVE_TOKEN

START = datetime(2024, 5, 1, tzinfo=UTC)


def traced_testbed_case(workdir: Path) -> Case:
    """The small scenario on a fresh anvil, traced by the real CLI."""
    out = workdir / "testbed"
    out.mkdir()
    with AnvilNode(node_options()) as node, Chain(node.url) as chain:
        build_scenario(chain, 1, "small", out_dir=out)
        truth = json.loads((out / "ground_truth.json").read_text())
        subprocess.run(
            [sys.executable, "-m", "tracer", "trace", truth["seeds"][0], "--rpc-url", node.url,
             "--labels", str(out / "labels.csv"), "--no-default-labels", "--max-hops", "20",
             "--out", str(workdir / "case"), "--quiet"],
            check=True, timeout=600,
        )  # fmt: skip
    return load_case(workdir / "case")


def synthetic_case(nodes: int, seed: int, directory: Path) -> Case:
    """A flow graph of ``nodes`` addresses: each new wallet is paid by an earlier one (a
    random tree from two seeds) plus extra cross edges; 1 % are mixers, 2 % deposit off-ramps."""
    rng = random.Random(seed)
    ids = [f"0x{rng.getrandbits(160):040x}" for _ in range(nodes)]
    roles = ["seed", "seed"] + [
        "mixer" if index % 100 == 0 else "unlabelled" for index in range(nodes - 2)
    ]
    offramps = set(rng.sample(range(2, nodes), max(1, nodes // 50)))
    edge_pairs = [(rng.randrange(0, max(1, index)), index) for index in range(2, nodes)]
    edge_pairs += [
        (rng.randrange(0, nodes - 1), rng.randrange(1, nodes)) for _ in range(int(nodes * 1.5))
    ]
    node_rows = []
    for index, address in enumerate(ids):
        offramp = index in offramps
        role = "deposit_detected" if offramp else roles[index]
        node_rows.append(
            {
                "id": address,
                "role": role,
                "category": "mixer" if role == "mixer" else None,
                "entity": f"Exchange {index % 7}" if offramp else None,
                "labels": [f"Pool {index}"] if role == "mixer" else [],
                "seed": role == "seed",
                "stop": role == "mixer" or offramp,
                "offramp": "exchange_deposit" if offramp else None,
                "first_seen": START + timedelta(minutes=index),
                "last_seen": START + timedelta(minutes=index + 60),
                "traced": [
                    {"asset": NATIVE_TOKEN, "received_raw": "1", "sent_raw": "1", "held_raw": "0"}
                ],
            }
        )
    edge_rows = []
    for order, (source, target) in enumerate(edge_pairs):
        if source == target:
            continue
        raw = str(rng.randrange(10**15, 10**19))
        edge_rows.append(
            {
                "id": f"0x{rng.getrandbits(256):064x}:native:::",
                "source": ids[source],
                "target": ids[target],
                "transaction_hash": f"0x{rng.getrandbits(256):064x}",
                "block_number": 1000 + order,
                "block_time": START + timedelta(seconds=12 * order),
                "transfer_kind": "native",
                "asset": NATIVE_TOKEN,
                "token_address": NATIVE_TOKEN,
                "token_id": None,
                "token_symbol": "ETH",
                "token_decimals": 18,
                "amount_raw": raw,
                "traced_raw": raw,
                "converted_raw": "0",
                "order": order,
            }
        )
    report: dict[str, Any] = {
        "chain_id": 1,
        "policy": "haircut",
        "seeds": ids[:2],
        "offramps": [
            {
                "address": ids[index],
                "category": "exchange_deposit",
                "entity": f"Exchange {index % 7}",
                "asset": "ETH",
                "amount": "1",
                "confidence": 0.85,
                "evidence": [],
                "token_address": NATIVE_TOKEN,
                "decimals": 18,
                "amount_raw": "1000000000000000000",
            }
            for index in sorted(offramps)
        ],
        "mixer_links": [],
        "findings": [],
    }
    return Case(
        directory,
        report,
        pl.DataFrame(node_rows, schema=NODE_SCHEMA),
        pl.DataFrame(edge_rows, schema=EDGE_SCHEMA),
    )


def load_seconds(browser: Browser, path: Path) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        started = time.perf_counter()
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("body[data-ready]", timeout=600_000)
        elapsed = time.perf_counter() - started
        drawn = page.locator("#graph").get_attribute("data-rendered-nodes")
        if drawn is None or int(drawn) == 0:
            raise RuntimeError(f"{path}: the page drew no node")
        if (
            page.locator("#sankey .sankey-node").count() == 0
            and page.locator("#sankey-empty").is_hidden()
        ):
            raise RuntimeError(f"{path}: the page drew no Sankey")
        return elapsed
    finally:
        page.close()


def measure(
    name: str, case: Case, workdir: Path, browser: Browser | None, repeat: int, *, cap: int | None
) -> None:
    """Write and load one view; ``cap`` None is the shipped cap, else drawn nodes at most."""
    path = workdir / f"{name}.html"

    def write() -> None:
        if cap is None:
            write_case_view(case, path)
        else:
            atomic_write_text(path, render_page(case_view_data(case, max_drawn_nodes=cap)))

    write_min, write_median = timed(write, repeat)
    size = path.stat().st_size / 1e6
    line = (
        f"{name:>16}: {case.nodes.height:>6} nodes {case.edges.height:>6} edges | write "
        f"{write_min:.2f}/{write_median:.2f} s | {size:.1f} MB"
    )
    if browser is not None:
        runs = [load_seconds(browser, path) for _ in range(repeat)]
        line += f" | load {min(runs):.2f}/{statistics.median(runs):.2f} s"
    notes = [entry["note"] for entry in case_view_data(case)["sankeys"] if entry["note"]]
    print(line + "".join(f"\n{'':>18}Sankey: {note}" for note in notes), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.html_view", description=__doc__)
    parser.add_argument("--nodes", type=int, nargs="*", default=[1000, 3000, 5000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--uncapped", type=int, nargs="*", default=[10000], help="also draw these sizes whole"
    )
    parser.add_argument("--export-edges", type=int, default=100_000)
    parser.add_argument("--no-testbed", action="store_true", help="skip the traced testbed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracer-html-bench-") as scratch:
        workdir = Path(scratch)
        cases: list[tuple[str, Case, int | None]] = []
        if not args.no_testbed:
            cases.append(("testbed-small", traced_testbed_case(workdir), None))
        cases += [
            (f"synthetic-{n}", synthetic_case(n, seed=n, directory=workdir), None)
            for n in args.nodes
        ]
        cases += [
            (f"uncapped-{n}", synthetic_case(n, seed=n, directory=workdir), n)
            for n in args.uncapped
            if n > MAX_DRAWN_NODES
        ]
        if args.export_edges:
            export_dir = workdir / "export-case"
            export_dir.mkdir()
            export_case(export_dir, args.export_edges)
            cases.append((f"export-{args.export_edges}", load_case(export_dir), None))
        print("figures: min/median of", args.repeat, "runs", flush=True)
        if not CHROMIUM.exists():
            print("no /usr/bin/chromium (make .stamps/chromium): load times skipped")
            for name, case, cap in cases:
                measure(name, case, workdir, None, args.repeat, cap=cap)
            return 0
        with chromium() as browser:
            for name, case, cap in cases:
                measure(name, case, workdir, browser, args.repeat, cap=cap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
