"""Exporting a traced graph of 100,000 edges to every format: time and size per format.

    .venv/bin/python -m benchmarks.export [--edges 100000] [--aggregate]

The case is synthetic and seeded, written as a real case directory (report.json,
nodes.parquet, edges.parquet, transfers.parquet) and read back with ``load_case``, as
``tracer export`` does: ``edges // 5`` addresses drawn with a power law (``u**3``), one seed,
1 in 20 addresses labelled (names with quotes, a comma and a newline), the 20 busiest as
exchanges, three assets (the native coin, 6- and 18-decimal tokens), amounts up to 2**80 (above
64 bits), 10 transfers per block. Timed: building the export view once, then each writer on
that view (``--aggregate``: one edge per (from, to, asset)), wall-clock and CPU time (the CPU
time is what a machine not shared with other work would show as wall-clock, less the disk's
fsync); size: the bytes written.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tracer.cases import load_case
from tracer.exporters.registry import FORMATS, export_case
from tracer.exporters.view import build_view
from tracer.graph.tables import EDGE_SCHEMA, NODE_SCHEMA
from tracer.transfers.schema import TRANSFER_SCHEMA
from tracer.types import NATIVE_TOKEN

ASSETS = [(NATIVE_TOKEN, "ETH", 18), ("0x" + "a1" * 20, "USDX", 6), ("0x" + "a2" * 20, "TKN", 18)]
START = datetime(2024, 5, 1, tzinfo=UTC)


def _address(index: int) -> str:
    return f"0x{index:040x}"


def synthetic_case(directory: Path, edges: int, seed: int = 7) -> None:
    """Write a case directory holding a synthetic traced graph of ``edges`` edges."""
    addresses = max(edges // 5, 10)
    frame = pl.select(i=pl.int_range(edges, dtype=pl.Int64)).with_columns(
        u1=(pl.col("i").hash(seed) % 1_000_003).cast(pl.Float64) / 1_000_003,
        u2=(pl.col("i").hash(seed + 1) % 1_000_003).cast(pl.Float64) / 1_000_003,
        asset=(pl.col("i").hash(seed + 2) % 3).cast(pl.Int64),
        amount=(pl.col("i").hash(seed + 3) % 1_000_000_007).cast(pl.Int64),
    )
    edge_rows: list[dict[str, Any]] = []
    transfer_rows: list[dict[str, Any]] = []
    for i, u1, u2, asset, amount in frame.select("i", "u1", "u2", "asset", "amount").iter_rows():
        source, target = _address(int(u1**3 * addresses)), _address(int(u2**3 * addresses))
        token, symbol, decimals = ASSETS[asset]
        raw = amount * (2**50 if i % 1000 == 0 else 10**9)  # 1 in 1000 above 2**64
        tx_hash = f"0x{i:064x}"
        when = START + timedelta(seconds=12 * (i // 10))
        native = token == NATIVE_TOKEN
        edge_rows.append(
            {
                "id": f"{tx_hash}:{'native' if native else 'erc20'}:{'' if native else 0}::",
                "source": source, "target": target, "transaction_hash": tx_hash,
                "block_number": i // 10, "block_time": when,
                "transfer_kind": "native" if native else "erc20", "asset": token,
                "token_address": token, "token_id": None, "token_symbol": symbol,
                "token_decimals": decimals, "amount_raw": str(raw), "traced_raw": str(raw // 2),
                "converted_raw": "0", "order": i,
            }
        )  # fmt: skip
        transfer_rows.append(
            {
                "chain_id": 1, "block_number": i // 10, "block_time": when,
                "transaction_hash": tx_hash, "transfer_kind": "native" if native else "erc20",
                "log_index": None if native else 0, "trace_address": "" if native else None,
                "from_address": source, "to_address": target, "token_address": token,
                "token_id": None, "value_raw": str(raw), "value": None, "token_symbol": symbol,
                "token_decimals": decimals, "tx_succeeded": True, "gas_price": 1,
                "source": "synthetic", "request_key": None,
            }
        )  # fmt: skip
    edge_frame = pl.DataFrame(edge_rows, schema=EDGE_SCHEMA)
    degree = (
        pl.concat([edge_frame.select(id="source"), edge_frame.select(id="target")])
        .group_by("id")
        .len()
        .sort(["len", "id"], descending=[True, False])
    )
    exchanges = set(degree["id"].head(20).to_list())
    seed_address = _address(0)
    node_rows = []
    for index, address in enumerate(sorted(degree["id"].to_list())):
        labelled = address in exchanges or index % 20 == 0
        name = f'Service "{index}", desk\nfloor {index}' if labelled else None
        category = "exchange" if address in exchanges else ("other" if labelled else None)
        node_rows.append(
            {
                "id": address,
                "role": "seed" if address == seed_address else (category or "unlabelled"),
                "category": category, "entity": name, "labels": [name] if name else [],
                "seed": address == seed_address, "stop": address in exchanges, "offramp": None,
                "first_seen": START, "last_seen": START + timedelta(days=1),
                "traced": [{"asset": NATIVE_TOKEN, "received_raw": str(2**70 + index),
                            "sent_raw": "0", "held_raw": str(2**70 + index)}],
                "label_details": [{"name": name, "category": category, "source": "bench list",
                                   "date": "2024-04-30"}] if name else [],
            }
        )  # fmt: skip
    pl.DataFrame(node_rows, schema=NODE_SCHEMA).write_parquet(directory / "nodes.parquet")
    edge_frame.write_parquet(directory / "edges.parquet")
    pl.DataFrame(transfer_rows, schema=TRANSFER_SCHEMA).write_parquet(
        directory / "transfers.parquet"
    )
    report = {
        "format_version": 1, "chain_id": 1, "seeds": [seed_address], "offramps": [],
        "mixer_links": [], "findings": [],
    }  # fmt: skip
    (directory / "report.json").write_text(json.dumps(report), encoding="utf-8")


def _size(paths: Sequence[Path]) -> int:
    return sum(path.stat().st_size for path in paths)


def measure(edges: int, aggregate: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tracer-export-bench-") as scratch:
        case_dir = Path(scratch) / "case"
        case_dir.mkdir()
        started = time.perf_counter()
        synthetic_case(case_dir, edges)
        generated = time.perf_counter() - started
        case = load_case(case_dir)
        started = time.perf_counter()
        view = build_view(case, aggregate=aggregate)
        view_seconds = time.perf_counter() - started
        figures: dict[str, Any] = {
            "edges": edges, "aggregate": aggregate, "view_edges": view.edges.height,
            "nodes": view.nodes.height, "generate_s": round(generated, 1),
            "view_s": round(view_seconds, 2), "formats": {},
        }  # fmt: skip
        for name, export_format in FORMATS.items():
            target = Path(scratch) / "out" / export_format.default_name
            started, cpu = time.perf_counter(), time.process_time()
            written = export_format.write(view, target)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            size = _size(written)
            figures["formats"][name] = {
                "s": round(seconds, 2),
                "cpu_s": round(cpu, 2),
                "bytes": size,
            }
            print(
                f"{name:10} {seconds:6.2f} s ({cpu:5.2f} s CPU) {size / 2**20:7.1f} MiB", flush=True
            )
        started = time.perf_counter()
        export_case(case, [FORMATS["graphml"]], Path(scratch) / "cli.graphml")
        figures["graphml_end_to_end_s"] = round(time.perf_counter() - started, 2)
        return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export", description=__doc__)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--aggregate", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.edges, args.aggregate)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
