"""Label benchmarks: loading the shipped packs, labelling a large table, screening, exposure.

    .venv/bin/python -m benchmarks.labels [--rows 1000000] [--repeat 5]

Goals (the issue's): loading all shipped packs < 2 s; labelling 1M addresses in a table
< 1 s (a polars join). Also measured: building the store's join frame, screening 10,000
addresses one by one, importing the OFAC SDN XML, and sanctions exposure over a table.
Figures are the minimum and median of ``--repeat`` runs; record them in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from tracer.labels.importers.ofac import import_sdn_advanced_xml
from tracer.labels.store import LabelStore, default_pack_paths
from tracer.screening.exposure import sanctions_exposure
from tracer.screening.screen import Target, screen
from tracer.transfers.schema import transfers_from_rows
from tracer.types import NATIVE_TOKEN

SDN_XML = (
    Path(__file__).resolve().parents[1].parent / "shared/data/ofac-brave-intl/sdn_advanced.xml.bz2"
)


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return min(runs), statistics.median(runs)


def address_table(store: LabelStore, rows: int, labelled_share: float, seed: int) -> pl.DataFrame:
    """``rows`` addresses: a share drawn from the store's labelled EVM addresses, the rest
    random (and so unlabelled), shuffled."""
    rng = random.Random(seed)
    known = sorted(a for a in (lbl.address for lbl in store.all_labels()) if a.startswith("0x"))
    labelled = int(rows * labelled_share)
    addresses = [rng.choice(known) for _ in range(labelled)]
    addresses += [f"0x{rng.getrandbits(160):040x}" for _ in range(rows - labelled)]
    rng.shuffle(addresses)
    return pl.DataFrame({"to_address": addresses})


def transfer_table(store: LabelStore, rows: int, seed: int) -> pl.DataFrame:
    """A random transfer graph over 20,000 addresses, ten of them sanctioned."""
    rng = random.Random(seed)
    sanctioned = sorted(store.sanctioned_addresses())[:10]
    pool = sanctioned + [f"0x{rng.getrandbits(160):040x}" for _ in range(20_000)]
    return transfers_from_rows(
        {
            "chain_id": 1,
            "block_number": rng.randrange(1_000_000),
            "block_time": 1_700_000_000,
            "transaction_hash": f"0x{n:064x}",
            "transfer_kind": "native",
            "trace_address": "",
            "from_address": rng.choice(pool),
            "to_address": rng.choice(pool),
            "token_address": NATIVE_TOKEN,
            "value_raw": str(rng.randrange(1, 10**20)),
            "tx_succeeded": True,
            "source": "benchmark",
        }
        for n in range(rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="addresses to label")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement")
    parser.add_argument("--transfers", type=int, default=200_000, help="rows for exposure")
    args = parser.parse_args(argv)

    results: list[tuple[str, float, float, str]] = []
    load_min, load_median = timed(lambda: LabelStore.from_files([], defaults=True), args.repeat)
    store = LabelStore.from_files([], defaults=True)
    results.append(
        (
            f"load the {len(default_pack_paths())} shipped packs "
            f"({sum(1 for _ in store.all_labels())} labels)",
            load_min,
            load_median,
            "< 2 s",
        )
    )

    def build_frame() -> None:
        store._frame = None
        store.frame()

    frame_min, frame_median = timed(build_frame, args.repeat)
    results.append(("build the join frame (once per store)", frame_min, frame_median, ""))

    table = address_table(store, args.rows, 0.1, seed=1)
    annotated = store.annotate(table, "to_address")
    join_min, join_median = timed(lambda: store.annotate(table, "to_address"), args.repeat)
    hits = annotated["category"].is_not_null().sum()
    results.append(
        (f"label {args.rows:,} addresses (join; {hits:,} labelled)", join_min, join_median, "< 1 s")
    )

    targets = [Target(a, "argument") for a in table["to_address"].head(10_000).to_list()]
    screen_min, screen_median = timed(lambda: screen(targets, store), args.repeat)
    results.append(("screen 10,000 addresses one by one", screen_min, screen_median, ""))

    transfers = transfer_table(store, args.transfers, seed=2)
    exposure = sanctions_exposure(transfers, store)
    exp_min, exp_median = timed(lambda: sanctions_exposure(transfers, store), args.repeat)
    results.append(
        (
            f"sanctions exposure over {args.transfers:,} transfers "
            f"({len(exposure.forward):,} forward, {len(exposure.backward):,} backward)",
            exp_min,
            exp_median,
            "",
        )
    )

    if SDN_XML.is_file():
        sdn_min, sdn_median = timed(lambda: import_sdn_advanced_xml(SDN_XML), 1)
        results.append(("import the OFAC SDN advanced XML (120 MB, bz2)", sdn_min, sdn_median, ""))

    print(f"{date.today()}, Python {platform.python_version()}, polars {pl.__version__}")
    print("| measurement | min | median | goal |")
    print("|---|---:|---:|---|")
    for name, best, median, goal in results:
        print(f"| {name} | {best * 1000:.0f} ms | {median * 1000:.0f} ms | {goal} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
