"""`tracer trace` then `tracer report` on the testbed, checked against its ground truth.

The freeze packs must hold, per exchange and OTC desk the thief reached without the mixer,
exactly the raw amounts the scenario sent there; each listed path must be the real route.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import Testbed
from tests.e2e.test_offramps_e2e import run_trace
from tests.reports import case
from tracer.reports.freeze import entity_slug

FREEZABLE = {"exchange", "exchange_deposit", "otc"}


def run_report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracer", "report", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def traced_case(testbed_small: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-e2e") / "case"
    result = run_trace(testbed_small, out)
    assert result.returncode == 0, result.stderr
    return out


def test_freeze_packs_hold_the_exact_direct_offramp_amounts(
    testbed_small: Testbed, traced_case: Path, tmp_path: Path
) -> None:
    truth: dict[str, Any] = json.loads((testbed_small.out_dir / "ground_truth.json").read_text())
    assert (traced_case / "report.md").is_file(), "tracer trace writes report.md"
    result = run_report(str(traced_case), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.md").read_text() == (traced_case / "report.md").read_text()
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    packed: dict[tuple[str, str, str], str] = {}
    for deposits in (tmp_path / "freeze").glob("*/deposits.csv"):
        for entry in csv.DictReader(deposits.open()):
            key = (deposits.parent.name, entry["deposit_address"], entry["token_address"])
            packed[key] = entry["amount_raw"]
    freezable = {
        (entity_slug(o["entity"]), o["address"], o["asset"]["address"]): (
            o["amount"],
            o["via_mixer"],
        )
        for o in truth["offramps"]
        if o["category"] in FREEZABLE
    }
    direct = {key: amount for key, (amount, via_mixer) in freezable.items() if not via_mixer}
    assert len(direct) >= 3, "the scenario has direct exchange off-ramps"
    # Every direct exchange off-ramp, exact; the rest (behind the mixer, reached through
    # followed links) only true off-ramps with their exact amounts.
    assert {key: packed[key] for key in direct if key in packed} == direct
    assert {key: amount for key, amount in packed.items()} == {
        key: freezable[key][0] for key in packed if key in freezable
    }
    assert set(packed) <= set(freezable), "a freeze pack for an address the thief never paid"


def test_paths_are_the_real_routes(testbed_small: Testbed, traced_case: Path) -> None:
    truth: dict[str, Any] = json.loads((testbed_small.out_dir / "ground_truth.json").read_text())
    report = json.loads((traced_case / "report.json").read_text())
    routes = {
        (o["address"], o["asset"]["address"]): {tuple(path) for path in o["paths"]}
        for o in truth["offramps"]
    }
    # Paths are over addresses: a swap at an address (ETH in, tokens out) is not a hop of its
    # own (tracer/graph/paths.py), so the truth's swap and wrap transactions are left out.
    events = pl.read_parquet(traced_case / "events.parquet")
    conversions = set(
        events.filter(
            pl.col("event").cast(pl.String).is_in(["swap_v2", "swap_v3", "wrap", "unwrap"])
        )["transaction_hash"].to_list()
    )
    routes = {
        key: {tuple(tx for tx in route if tx not in conversions) for route in found}
        for key, found in routes.items()
    }
    all_routes = [route for found in routes.values() for route in found]
    thief_links = [link for link in truth["mixer_links"] if link["owner"] == "thief"]
    thief_deposits = {link["deposit_tx"] for link in thief_links}
    thief_withdrawals = {link["withdrawal_tx"] for link in thief_links}
    checked = 0
    for offramp in report["offramps"]:
        true_routes = routes[(offramp["address"], offramp["token_address"])]
        assert offramp["paths"], offramp["address"]
        for path in offramp["paths"]:
            assert path["seed"] == truth["seeds"][0]
            assert path["omitted_hops"] == 0
            hashes = tuple(hop["tx"] for hop in path["hops"])
            # The truth's routes start at the theft (victim → seed), before the trace. Behind
            # the mixer any of the thief's notes of the pool may stand for the withdrawn one:
            # past the last withdrawal the path is a true route's tail, the hop before it is
            # one of the thief's deposits, and the part before that is on a true route.
            crossed = [i for i, tx in enumerate(hashes) if tx in thief_withdrawals]
            cut = crossed[-1] if crossed else 0
            assert any(route[-len(hashes[cut:]) :] == hashes[cut:] for route in true_routes), hashes
            if crossed:
                assert hashes[cut - 1] in thief_deposits, hashes
                assert any(_contains(route, hashes[: cut - 1]) for route in all_routes), hashes
            assert [hop["from"] for hop in path["hops"][1:]] == [
                hop["to"] for hop in path["hops"][:-1]
            ]
            checked += 1
    assert checked >= 5


def _contains(route: tuple[str, ...], part: tuple[str, ...]) -> bool:
    """Whether ``part`` appears in ``route`` as consecutive hops."""
    return any(route[i : i + len(part)] == part for i in range(len(route) - len(part) + 1))


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    missing = run_report(str(tmp_path))
    assert (missing.returncode, missing.stderr) == (
        2,
        f"error: {tmp_path}: no report.json here; is it a `tracer trace` output?\n",
    )
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "report.json").write_text(json.dumps({**case.report(), "format_version": 2}))
    result = run_report(str(newer))
    assert (result.returncode, result.stderr) == (
        2,
        f"error: {newer / 'report.json'}: report format 2 is newer than this tracer reads (1); "
        "upgrade tracer\n",
    )
    good = tmp_path / "good"
    good.mkdir()
    (good / "report.json").write_text(json.dumps(case.report()))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_report(str(good), "--out", str(blocker / "out"))
    assert (result.returncode, result.stderr) == (
        2,
        f"error: cannot write {blocker / 'out' / 'report.md'}: Not a directory\n",
    )
    result = run_report(str(good), "--format", "pfd")
    assert (result.returncode, result.stderr) == (
        2,
        "error: unknown report format 'pfd'; known: html, md\n",
    )
