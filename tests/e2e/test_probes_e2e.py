"""Probed addresses and the progress phases, on the small scenario with seed 7.

Following the mixer there, the first round probes dozens of withdrawal recipients (a day of
their transfers, fetched as evidence for demixing only). ``report.json`` must say which,
why and what came back, exactly as the case's tables hold it, and the same after a crawl
killed halfway. ``tracer trace`` must say on stderr what it is doing between crawls.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import Testbed, _testbed
from tests.e2e.test_mixer_follow_e2e import kill_after_the_first_extension
from tests.e2e.test_offramps_e2e import run_trace, trace_command
from tracer.cli.trace import MAX_MIXER_ROUNDS


@pytest.fixture(scope="module")
def seed_7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    yield from _testbed(tmp_path_factory, "small", 7)


def loud(command: list[str]) -> list[str]:
    """``trace_command`` without its ``--quiet``."""
    return [part for part in command if part != "--quiet"]


@dataclass(frozen=True)
class Traced:
    out: Path
    stderr: str
    report: dict[str, Any]


@pytest.fixture(scope="module")
def traced(seed_7: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Traced:
    """One full trace, not quiet, stderr a pipe (not a terminal)."""
    out = tmp_path_factory.mktemp("probes") / "case"
    result = subprocess.run(
        loud(trace_command(seed_7, out)), capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return Traced(out, result.stderr, json.loads((out / "report.json").read_text()))


def touching(table: pl.DataFrame, address: str) -> pl.DataFrame:
    return table.filter((pl.col("from_address") == address) | (pl.col("to_address") == address))


def test_probes_say_what_was_fetched_as_evidence_and_why(traced: Traced) -> None:
    report = traced.report
    probes = report["probes"]
    assert len(probes) >= 10, "seed 7 probes the recipients of many candidate withdrawals"
    addresses = [probe["address"] for probe in probes]
    assert addresses == sorted(set(addresses))
    links = {link["withdrawal_tx"]: link for link in report["mixer_links"]}
    recipients = {link["withdrawal_address"] for link in links.values()}
    crawled = {entry["address"] for entry in report["coverage"]["entries"]}
    evidence = pl.read_parquet(traced.out / "probes.parquet")
    transfers = pl.read_parquet(traced.out / "transfers.parquet")
    graph = set(pl.read_parquet(traced.out / "nodes.parquet")["id"].to_list())
    for probe in probes:
        address = probe["address"]
        # A candidate recipient of a withdrawal tied to a traced deposit; the withdrawals
        # named are candidates to it, and the window starts at the first of them.
        assert address in recipients, address
        assert probe["withdrawal_txs"], address
        made = [links[tx] for tx in probe["withdrawal_txs"]]
        assert {link["withdrawal_address"] for link in made} == {address}
        first = min(link["details"]["withdrawal_block"] for link in made)
        assert probe["from_block"] == first
        assert first <= probe["to_block"] <= report["window"]["to_block"]
        assert 1 <= probe["round"] <= report["mixer_rounds"]
        assert 0 <= probe["confidence"] <= 1
        # What came back is what the case holds of it.
        assert probe["transfers"] == touching(evidence, address).height, address
        # Evidence only: never crawled or traced, unless a later round followed a link to it.
        assert probe["crawled"] is (address in crawled), address
        if probe["crawled"]:
            assert any(
                link["followed"] and link["withdrawal_address"] == address
                for link in links.values()
            ), address
        else:
            assert touching(transfers, address).height == 0, address
            assert address not in graph, address
    assert any(probe["transfers"] for probe in probes)
    assert not all(probe["crawled"] for probe in probes)
    # Every evidence row belongs to a probe's window.
    windows = {probe["address"]: (probe["from_block"], probe["to_block"]) for probe in probes}
    for row in evidence.iter_rows(named=True):
        assert any(
            windows[a][0] <= row["block_number"] <= windows[a][1]
            for a in (row["from_address"], row["to_address"])
            if a in windows
        ), row["transaction_hash"]


def expected_phases(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """The phase lines of a run as (pattern, optional): the first crawl's events; per round
    its analysis, the links it followed if any (how many is not in the report), its probes
    or else the new events; then the analysis that found nothing more, unless the rounds ran
    out; then the report."""
    probes_per_round: dict[int, int] = {}
    for probe in report["probes"]:
        probes_per_round[probe["round"]] = probes_per_round.get(probe["round"], 0) + 1
    lines = [("reading protocol events", False)]
    for number in range(1, report["mixer_rounds"] + 1):
        lines += [(f"analysing round {number}", False)]
        lines += [(rf"round {number}: following [1-9]\d* links?", True)]
        probed = probes_per_round.get(number, 0)
        noun = "address" if probed == 1 else "addresses"
        lines.append(
            (f"round {number}: probing {probed} {noun}", False)
            if probed
            else (f"round {number}: reading protocol events", False)
        )
    if report["mixer_rounds"] < MAX_MIXER_ROUNDS:
        lines.append((f"analysing round {report['mixer_rounds'] + 1}", False))
    return [*lines, ("building the report", False)]


def test_progress_phases_are_plain_lines_in_order_when_stderr_is_not_a_terminal(
    traced: Traced,
) -> None:
    lines = [
        line for line in traced.stderr.splitlines() if not line.startswith(("note: ", "warning: "))
    ]
    expected = expected_phases(traced.report)
    assert expected[3][0].startswith("round 1: probing ")  # seed 7 probes in round 1
    sequence = "".join(
        f"({pattern}\n)?" if optional else f"{pattern}\n" for pattern, optional in expected
    )
    assert re.fullmatch(sequence, "".join(f"{line}\n" for line in lines)), traced.stderr
    assert "round 1: following" in traced.stderr
    assert "\x1b" not in traced.stderr


def shared_cache(seed_7: Testbed, traced: Traced, out: Path, *extra: str) -> list[str]:
    """The same trace into another directory, answered from the first run's cache."""
    return trace_command(seed_7, out, "--cache", str(traced.out / "cache.sqlite"), *extra)


def test_progress_phases_show_on_the_live_line_of_a_terminal(
    seed_7: Testbed, traced: Traced, tmp_path: Path
) -> None:
    main, child = pty.openpty()
    with subprocess.Popen(
        loud(shared_cache(seed_7, traced, tmp_path / "case")),
        stdout=subprocess.DEVNULL,
        stderr=child,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "200"},
    ) as process:
        os.close(child)
        received = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            received.append(chunk)
        assert process.wait(timeout=300) == 0
    os.close(main)
    shown = b"".join(received).decode()
    assert "\x1b[" in shown  # drawn and redrawn in place, not printed line by line
    at = 0
    for pattern, optional in expected_phases(traced.report):
        found = re.compile(pattern).search(shown, at)
        if optional:
            continue
        assert found is not None, (pattern, shown[at : at + 2000])
        at = found.end()
    assert json.loads((tmp_path / "case" / "report.json").read_text()) == traced.report


def test_quiet_shows_no_phase(seed_7: Testbed, traced: Traced, tmp_path: Path) -> None:
    result = run_trace(seed_7, tmp_path / "case", "--cache", str(traced.out / "cache.sqlite"))
    assert result.returncode == 0, result.stderr
    assert all(line.startswith(("note: ", "warning: ")) for line in result.stderr.splitlines())
    assert result.stdout == ""
    assert json.loads((tmp_path / "case" / "report.json").read_text()) == traced.report


def test_killed_in_the_first_round_resumes_to_the_same_probes(
    seed_7: Testbed, traced: Traced, tmp_path: Path
) -> None:
    crashed = tmp_path / "crashed"
    kill_after_the_first_extension(seed_7, crashed)
    resumed = run_trace(seed_7, crashed)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((crashed / "report.json").read_text())
    assert report["probes"] == traced.report["probes"]
    assert pl.read_parquet(crashed / "probes.parquet").equals(
        pl.read_parquet(traced.out / "probes.parquet")
    )
