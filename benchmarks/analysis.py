"""The whole case analysis (``analyse_case``: haircut taint, deposit-address detection,
off-ramps, demixing, the four pattern detectors) plus the flow graph, on synthetic tables that
contain every structure the heuristics look for; next to a straightforward networkx-only
haircut on the same tables.

    .venv/bin/python -m benchmarks.analysis [--sizes 1000000,10000000] [--baseline-max 1000000]
        [--stages | --parts] [--seed 7] [--cache DIR]

Per size, three child processes, one after the other: the first generates the tables and
writes them as Parquet under ``--cache`` (default: the temp dir's ``tracer-bench-analysis``;
kept by size and seed, so later runs skip it); the second reads them (``pl.read_parquet``,
as ``tracer trace`` reads a crawl's tables) and runs the analysis, so its peak RSS (VmHWM)
is what a user would see: the tables as read plus the analysis, none of the generator's
garbage; the third reads the transfers the same way and runs the networkx baseline.

The table is the taint benchmark's power-law traffic (``benchmarks.taint.synthetic``: 20
labelled exchange hot wallets, five assets, five seeds) with, on top, about 1% of rows of
structure, spread over the whole block range and fed by the seeds:

* deposit addresses (``rows // 500``): two deposits each from the traffic (one from a seed
  for one in eight), swept within minutes to one hot wallet less gas; one in four holds a
  token instead, swept after a gas top-up from the exchange;
* a Tornado-style 1 ETH pool (``rows // 2000`` notes): ``mixer_deposit`` events, native
  deposits (one in five from a seed), withdrawals through a relayer to fresh addresses
  (``mixer_withdrawal`` events, internal payouts) that pay on at the depositor's gas price;
  the pool's transactions are in the transactions table;
* peel chains (``rows // 10000``): six hops from a seed, each peeling a tenth to a fresh
  address, the last hop paying a deposit address.

Timed: ``analyse_case`` (haircut) as a whole; with ``--stages``, each of its stages inside that
very run (time, resident memory at the start, peak and end); with ``--parts``, its parts alone
afterwards (taint, deposit addresses, the mixer view and demixing, the four pattern detectors);
``build_flow_graph``; the networkx baseline (``benchmarks.taint.networkx_haircut``) up to
``--baseline-max`` rows, in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any

import polars as pl

import tracer.analysis
from benchmarks.children import ChildFailedError, peak_rss_mib, reset_peak, rss_mib, run_child
from benchmarks.taint import networkx_haircut, synthetic
from tracer.analysis import analyse_case
from tracer.graph.build import build_flow_graph
from tracer.heuristics.exchanges.deposit_address import detect_deposit_addresses
from tracer.heuristics.mixers.combine import demix
from tracer.heuristics.mixers.model import build_view, traced_cluster
from tracer.heuristics.patterns.flows import (
    fan_in_consolidations,
    fan_out_splits,
    peel_chains,
    rapid_pass_through,
)
from tracer.heuristics.taint import Policy, TaintResult, trace_taint
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.protocols.events import EVENT_SCHEMA, TRANSACTION_SCHEMA
from tracer.transfers.schema import TRANSFER_SCHEMA, transfers_from_rows
from tracer.types import NATIVE_TOKEN, Address

ETH = 10**18
GWEI = 10**9
TOKEN = "0x" + "a2" * 20  # the 6-decimal token of the traffic
POOL = "0x" + "70" * 20
RELAYER = "0x" + "71" * 20
VICTIM = "0x" + "72" * 20
T0 = 1_700_000_000  # the traffic's first block time; 12 s per block
MODULE = "benchmarks.analysis"
TRANSFERS, EVENTS, TRANSACTIONS = "transfers.parquet", "events.parquet", "transactions.parquet"
TABLES = (TRANSFERS, EVENTS, TRANSACTIONS)
CASE_FILE = "case.json"  # seeds and labels; written last, so its presence means complete


class _Rows:
    """Structure rows for the three tables, with the traffic's conventions."""

    def __init__(self) -> None:
        self.transfers: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.txs: list[dict[str, Any]] = []
        self._n = 0

    def tx(self) -> str:
        self._n += 1
        return "0x" + f"f{self._n:063d}"

    def move(  # noqa: PLR0917 (a row builder)
        self, tx: str, block: int, src: str, dst: str, raw: int, token: str = NATIVE_TOKEN,
        kind: str = "native", gas_price: int = 20 * GWEI,
    ) -> None:  # fmt: skip
        erc20 = kind == "erc20"
        self.transfers.append(
            {"chain_id": 1, "block_number": block, "block_time": _time(block),
             "transaction_hash": tx, "transfer_kind": kind,
             "log_index": len(self.transfers) % 1000 if erc20 else None,
             "trace_address": "0" if kind == "internal" else None,
             "from_address": src, "to_address": dst, "token_address": token,
             "value_raw": str(raw), "token_decimals": 6 if erc20 else 18,
             "tx_succeeded": True, "gas_price": None if kind == "internal" else gas_price,
             "source": "synthetic"}
        )  # fmt: skip

    def fact(  # noqa: PLR0917 (a row builder)
        self, tx: str, block: int, sender: str, to: str, value: int, price: int
    ) -> None:
        self.txs.append(
            {"chain_id": 1, "transaction_hash": tx, "block_number": block,
             "block_time": _time(block), "transaction_index": 0, "from_address": sender,
             "to_address": to, "value_raw": str(value), "gas_price": price, "status": True,
             "source": "synthetic"}
        )  # fmt: skip

    def event(self, tx: str, block: int, kind: str, account: str, **more: str) -> None:
        self.events.append(
            {"chain_id": 1, "block_number": block, "block_time": _time(block),
             "transaction_hash": tx, "transaction_index": 0, "log_index": 0,
             "contract_address": POOL, "event": kind, "protocol": "tornado",
             "account": account, "source": "synthetic", **more}
        )  # fmt: skip


def _time(block: int) -> datetime:
    return datetime.fromtimestamp(T0 + 12 * block, tz=UTC)


def _fresh(kind: int, index: int) -> str:
    """An address outside the traffic's (which are small zero-padded numbers)."""
    return f"0x{kind}{index:039d}"


def structured(
    rows: int, seeds: list[str], hubs: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Deposit addresses, a mixer pool and peel chains (see the module docstring)."""
    out = _Rows()
    blocks = rows // 100
    traffic = max(rows // 5, 100)

    def sender(i: int) -> str:
        return seeds[i % len(seeds)] if i % 8 == 0 else f"0x{(i * 7919) % traffic:040d}"

    for seed in seeds:  # the theft: what the seeds receive is traced in full
        out.move(out.tx(), 0, VICTIM, seed, 10**6 * ETH)
        out.move(out.tx(), 0, VICTIM, seed, 10**12, TOKEN, "erc20")
    deposit_addresses = [_fresh(1, i) for i in range(rows // 500)]
    for i, address in enumerate(deposit_addresses):
        block = (i * 7_777) % max(blocks - 10, 1)
        hub = hubs[i % len(hubs)]
        if i % 4:
            first, second = (i + 1) * 10**15, (i + 2) * 10**15
            out.move(out.tx(), block, sender(i), address, first)
            out.move(out.tx(), block + 1, sender(i + 1), address, second)
            out.move(out.tx(), block + 5, address, hub, first + second - 21_000 * 30 * GWEI)
        else:
            amount = (i + 1) * 10**6
            out.move(out.tx(), block, sender(i), address, amount, TOKEN, "erc20")
            out.move(out.tx(), block + 2, hub, address, 10**15)
            out.move(out.tx(), block + 4, address, hub, amount, TOKEN, "erc20")
    for i in range(rows // 2000):
        block = (i * 3_331) % max(blocks - 400, 1)
        depositor = seeds[i % len(seeds)] if i % 5 == 0 else f"0x{(i * 104_729) % traffic:040d}"
        price = 13 * GWEI + i  # each depositor's own habit
        tx = out.tx()
        out.move(tx, block, depositor, POOL, ETH, gas_price=price)
        out.fact(tx, block, depositor, POOL, ETH, price)
        out.event(tx, block, "mixer_deposit", depositor, commitment_or_nullifier=f"c{i}")
        recipient, fee, later = _fresh(2, i), 4 * 10**15, block + 50 + i % 300
        tx = out.tx()
        out.fact(tx, later, RELAYER, POOL, 0, 6 * GWEI)
        out.event(
            tx, later, "mixer_withdrawal", recipient, counterparty=RELAYER,
            commitment_or_nullifier=f"n{i}", fee_raw=str(fee),
        )  # fmt: skip
        out.move(tx, later, POOL, recipient, ETH - fee, kind="internal")
        out.move(tx, later, POOL, RELAYER, fee, kind="internal")
        out.move(out.tx(), later + 20, recipient, _fresh(3, i), ETH // 2, gas_price=price)
    for chain in range(rows // 10_000):
        block = (chain * 9_973) % max(blocks - 40, 1)
        held = 100 * ETH
        hop = _fresh(4, chain * 10)
        out.move(out.tx(), block, seeds[chain % len(seeds)], hop, held)
        for step in range(1, 7):
            peel, onward = held // 10, held - held // 10 - 21_000 * 30 * GWEI
            nxt = _fresh(4, chain * 10 + step) if step < 6 else deposit_addresses[chain]
            out.move(out.tx(), block + step, hop, _fresh(5, chain * 10 + step), peel)
            out.move(out.tx(), block + step, hop, nxt, onward)
            hop, held = nxt, onward
    transfers = transfers_from_rows(out.transfers)
    return transfers, _frame(out.events, EVENT_SCHEMA), _frame(out.txs, TRANSACTION_SCHEMA)


def _frame(rows: list[dict[str, Any]], schema: pl.Schema) -> pl.DataFrame:
    given = pl.DataFrame(rows, infer_schema_length=None)
    frame = pl.concat([pl.DataFrame(schema=schema), given], how="diagonal_relaxed")
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def case_tables(
    rows: int, seed: int = 7
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[str], LabelStore]:
    traffic, seeds, labels = synthetic(rows, seed)
    hubs = sorted({label.address for label in labels.all_labels()})
    extra, events, txs = structured(rows, seeds, hubs)
    # In the table's canonical order, as a crawl writes it.
    transfers = pl.concat([traffic.cast(dict(TRANSFER_SCHEMA)), extra]).sort(  # type: ignore[arg-type]
        "block_number", "transaction_hash", maintain_order=True
    )
    return transfers, events, txs, seeds, labels


def _timed(
    out: dict[str, object], name: str, work: Callable[[], Any], *, memory: bool = False
) -> Any:
    """Run ``work`` and record its wall time; with ``memory``, also how far this process's
    peak RSS rose above its resident size at the start (the step's own transient and kept
    memory; the peak is reset first)."""
    before = rss_mib() if memory and reset_peak() else None
    started = time.perf_counter()
    result = work()
    out[f"{name}_s"] = round(time.perf_counter() - started, 2)
    if before is not None:
        out[f"{name}_peak_above_mib"] = peak_rss_mib() - before
    return result


def case_directory(cache: Path, rows: int, seed: int) -> Path:
    """Where the tables of one size and seed are cached."""
    return cache / f"rows{rows}-seed{seed}"


def generate(rows: int, seed: int, cache: Path) -> dict[str, object]:
    """Write the tables (Parquet, as a crawl does) and the seeds and labels (JSON) once per
    size and seed; later runs find them and only say so."""
    directory = case_directory(cache, rows, seed)
    out: dict[str, object] = {"tables": str(directory)}
    if (directory / CASE_FILE).is_file():
        out["cached"] = True
        return out
    out["cached"] = False
    transfers, events, txs, seeds, labels = _timed(out, "generate", lambda: case_tables(rows, seed))
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, frame in ((TRANSFERS, transfers), (EVENTS, events), (TRANSACTIONS, txs)):
        frame.write_parquet(partial / name)
    case = {
        "seeds": seeds,
        "labels": [
            [label.address, label.name, str(label.category), label.source]
            for label in labels.all_labels()
        ],
    }
    (partial / CASE_FILE).write_text(json.dumps(case), encoding="utf-8")
    partial.rename(directory)
    out["peak_rss_generate_mib"] = peak_rss_mib()
    return out


def _read_case(
    directory: Path, out: dict[str, object]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[Address], LabelStore]:
    """The cached tables as ``tracer trace`` would have them: read from Parquet."""
    case = json.loads((directory / CASE_FILE).read_text(encoding="utf-8"))
    labels = LabelStore(
        Label(address, name, Category(category), source)
        for address, name, category, source in case["labels"]
    )
    transfers, events, txs = _timed(
        out,
        "read",
        lambda: tuple(pl.read_parquet(directory / name) for name in TABLES),
    )
    return transfers, events, txs, [Address(seed) for seed in case["seeds"]], labels


# What analyse_case calls, by its names in tracer.analysis, in the order it calls them.
STAGES = (
    "trace_taint", "detect_deposit_addresses", "find_offramps", "build_view", "_cluster",
    "demix", "trace_routes", "offramp_routes", "peel_chains", "fan_out_splits",
    "fan_in_consolidations", "rapid_pass_through",
)  # fmt: skip


class StageMeter:
    """Records each stage of one analyse_case run as it happens: wall time, resident memory
    at its start and end, and its peak (VmHWM reset at its start). The peak is reset per
    stage, so the run's overall peak is kept as the highest reading taken before each reset:
    the maximum over consecutive intervals is the maximum of the whole run."""

    def __init__(self) -> None:
        self.stages: list[dict[str, object]] = []
        self.highest = 0

    def install(self) -> None:
        for name in STAGES:
            setattr(tracer.analysis, name, self._wrap(name, getattr(tracer.analysis, name)))

    def _wrap(self, name: str, stage: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(stage)
        def measured(*args: Any, **kwargs: Any) -> Any:
            self.highest = max(self.highest, peak_rss_mib())
            reset_peak()
            start, started = rss_mib(), time.perf_counter()
            result = stage(*args, **kwargs)
            peak = peak_rss_mib()
            self.highest = max(self.highest, peak)
            self.stages.append(
                {
                    "stage": name.lstrip("_"),
                    "s": round(time.perf_counter() - started, 2),
                    "start_mib": start,
                    "peak_mib": peak,
                    "end_mib": rss_mib(),
                }
            )
            return result

        return measured

    def peak(self) -> int:
        return max(self.highest, peak_rss_mib())


def measure(directory: Path, parts: bool, stages: bool = False) -> dict[str, object]:
    """The whole analysis in this (fresh) process, on tables read from ``directory``."""
    out: dict[str, object] = {}
    transfers, events, txs, seeds, labels = _read_case(directory, out)
    out["table_rows"] = transfers.height
    out["events"] = events.height
    out["rss_table_mib"] = rss_mib()  # the tables as read, resident throughout
    meter = StageMeter()
    if stages:
        meter.install()
    result = _timed(
        out, "analyse_case",
        lambda: analyse_case(transfers, events, txs, seeds, labels, policy=Policy.HAIRCUT),
    )  # fmt: skip
    # The figure: this process's peak so far (reading the tables, then analyse_case).
    out["peak_rss_analysis_mib"] = meter.peak()
    if stages:
        out["stages"] = meter.stages
    out["traced_transfers"] = result.taint.transfers.height
    out["offramps"] = len(result.offramps)
    out["mixer_links"] = len(result.mixer_links)
    kinds: dict[str, int] = {}
    for finding in result.findings:
        kinds[finding.heuristic] = kinds.get(finding.heuristic, 0) + 1
    out["findings"] = kinds
    taint = result.taint
    graph = _timed(out, "graph", lambda: build_flow_graph(transfers, taint, labels))
    out["graph_nodes"], out["graph_edges"] = graph.number_of_nodes(), graph.number_of_edges()
    del graph
    out["peak_rss_mib"] = meter.peak()  # with the graph
    if parts:  # after the figures above: the parts reset the peak
        _parts(out, (transfers, events, txs), seeds, labels, taint)
    return out


def measure_baseline(directory: Path) -> dict[str, object]:
    """The networkx-only haircut in this (fresh) process, on the same transfers table."""
    out: dict[str, object] = {}
    case = json.loads((directory / CASE_FILE).read_text(encoding="utf-8"))
    transfers = pl.read_parquet(directory / TRANSFERS)
    stops = {address for address, _name, _category, _source in case["labels"]}
    _timed(out, "networkx_haircut", lambda: networkx_haircut(transfers, case["seeds"], stops))
    out["peak_rss_networkx_mib"] = peak_rss_mib()
    return out


def _parts(
    out: dict[str, object],
    tables: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
    seeds: list[Address],
    labels: LabelStore,
    taint: TaintResult,
) -> None:
    """Each stage of analyse_case on its own, to say where the time and the memory go (run
    after the whole analysis, whose result is still resident: each stage's figure is its rise
    above that)."""
    transfers, events, txs = tables
    _timed(
        out,
        "part_taint",
        lambda: trace_taint(transfers, seeds, Policy.HAIRCUT, labels),
        memory=True,
    )
    deposits = _timed(
        out, "part_deposits", lambda: detect_deposit_addresses(transfers, labels), memory=True
    )
    out["deposit_addresses"] = len(deposits)
    holders = {address for address, _asset in taint.balances} - set(taint.stops)
    out["holders"] = len(holders)
    view = _timed(out, "part_mixer_view", lambda: build_view(events, txs, transfers), memory=True)
    cluster = traced_cluster(view, [Address(a) for a in holders])
    _timed(out, "part_demix", lambda: demix(view, cluster), memory=True)
    exclude = {d.address for d in deposits}
    subjects = {"labels": labels, "subjects_from": holders, "exclude": exclude}
    _timed(out, "part_peel_chains", lambda: peel_chains(transfers, **subjects), memory=True)  # type: ignore[arg-type]
    _timed(out, "part_fan_out", lambda: fan_out_splits(transfers, **subjects), memory=True)  # type: ignore[arg-type]
    _timed(out, "part_pass_through", lambda: rapid_pass_through(transfers, **subjects), memory=True)  # type: ignore[arg-type]
    _timed(
        out,
        "part_fan_in",
        lambda: fan_in_consolidations(
            transfers, labels=labels, sources_from=holders, exclude=exclude
        ),
        memory=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analysis", description=__doc__)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--baseline-max", type=int, default=1_000_000)
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--parts", action="store_true", help="also time each stage alone")
    how.add_argument(
        "--stages", action="store_true", help="record each stage inside the measured run"
    )
    parser.add_argument("--seed", type=int, default=7, help="the traffic's hash seed")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "tracer-bench-analysis",
        help="where the generated tables are kept, by size and seed",
    )
    # Child processes, one job each.
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--analyse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        figures = generate(args.generate, args.seed, args.cache)
    elif args.analyse:
        figures = measure(args.analyse, args.parts, args.stages)
    elif args.baseline:
        figures = measure_baseline(args.baseline)
    else:
        return _run_sizes(args)
    print(json.dumps(figures), flush=True)
    return 0


def _run_sizes(args: argparse.Namespace) -> int:
    """Per size: tables generated (or found) by one child, the analysis run by a second that
    reads them, the baseline by a third; one JSON line of figures each."""
    common = ["--seed", str(args.seed), "--cache", str(args.cache)]
    try:
        for rows in (int(text) for text in args.sizes.split(",")):
            figures: dict[str, object] = {"rows": rows, "seed": args.seed}
            figures |= run_child(MODULE, ["--generate", str(rows), *common])
            directory = str(case_directory(args.cache, rows, args.seed))
            parts = ["--parts"] if args.parts else ["--stages"] if args.stages else []
            figures |= run_child(MODULE, ["--analyse", directory, *parts])
            if rows <= args.baseline_max:
                figures |= run_child(MODULE, ["--baseline", directory])
                ratio = float(str(figures["networkx_haircut_s"])) / float(
                    str(figures["analyse_case_s"])
                )
                figures["networkx_haircut_over_analyse_case"] = round(ratio, 2)
            figures["load_average"] = [round(load, 2) for load in os.getloadavg()]
            print(json.dumps(figures), flush=True)
    except ChildFailedError as failure:
        print(failure, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
