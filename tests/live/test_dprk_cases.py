"""Live regression cases: trace real DPRK (Lazarus) thefts on mainnet and check that the
crawl reaches the exchange deposit addresses where investigators found the funds.

Opt-in: ``pytest -m live tests/live`` with ``TRACER_LIVE_RPC_URL`` set to an Ethereum mainnet
archive node with a trace API (trace_filter, ots_* or debug_trace*); the URL may carry the
provider's key and is never printed. Optional: ``TRACER_LIVE_MAX_ADDRESSES`` (default 2000),
``TRACER_LIVE_MAX_HOPS`` (default 4), ``TRACER_LIVE_RPS`` (requests per second, default 10).

What it checks today, before the off-ramp engine exists: every expected deposit address
appears in the crawled transfer table (``transfers.parquet``), i.e. traced value was
followed to it; the seeds' OFAC-sanctioned addresses are reported in ``sanctions_exposure``;
and the deposit addresses are not pre-labelled by the shipped packs (so reaching them is the
crawl's doing). When off-ramp detection lands, the same cases should assert ``offramps``.

Seeds per case: the case's attacker-side addresses that touch the funds after the theft
(theft receivers, exploiters, intermediaries, mixer withdrawers, laundering contracts), since
demixing is not implemented yet: a mixer is a stop, so post-mixer withdrawers seed the rest.
Expected: the case's ``cex_deposit:<Exchange>`` rows (KuCoin: the addresses reported as
receiving the funds). Data: ../shared/data/dprk-case-seeds (sources in its SOURCE.txt).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from tests.live.run import live_trace
from tracer.labels.store import LabelStore

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dprk-case-seeds"
SEED_ROLES = frozenset(
    {
        "theft_receiver",
        "exploiter",
        "intermediary_to_cex",
        "mixer_withdrawer",
        "mixer_withdrawer_to_bridge",
        "laundering_contract",
    }
)
RPC_URL = os.environ.get("TRACER_LIVE_RPC_URL", "")


@dataclass(frozen=True)
class Case:
    name: str
    since: str  # the incident date: the crawl window starts there
    seeds: tuple[str, ...]
    expected: dict[str, str]  # deposit address -> exchange (or what the reporter called it)


def load_cases() -> list[Case]:
    if not DATA.is_dir():
        return []
    rows = list(csv.DictReader((DATA / "dprk_case_seeds.csv").open(encoding="utf-8")))
    seeds: dict[str, list[str]] = defaultdict(list)
    expected: dict[str, dict[str, str]] = defaultdict(dict)
    since: dict[str, str] = {}
    for row in rows:
        case, role, address = row["case"], row["role"], row["address"].lower()
        since[case] = row["incident_date"]
        if role in SEED_ROLES:
            seeds[case].append(address)
        elif role.startswith("cex_deposit:"):
            expected[case][address] = role.split(":", 1)[1]
        elif role == "reported_destination":
            expected[case][address] = row["note"]
    return [
        Case(name, since[name], tuple(dict.fromkeys(seeds[name])), expected[name])
        for name in sorted(expected)
        if seeds[name]
    ]


CASES = load_cases()


def test_the_cases_are_loaded() -> None:
    """Offline: the case table yields seeds and expected deposits for three cases."""
    if not DATA.is_dir():
        pytest.skip(f"shared data set not available: {DATA}")
    assert {case.name: len(case.expected) for case in CASES} == {
        "harmony": 20,
        "kucoin": 3,
        "ronin": 8,
    }


@pytest.mark.live
@pytest.mark.timeout(4 * 3600)
@pytest.mark.skipif(not RPC_URL, reason="set TRACER_LIVE_RPC_URL to a mainnet archive node")
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_trace_reaches_the_exchange_deposit_addresses(case: Case, tmp_path: Path) -> None:
    # The shipped packs must not already know these addresses as exchange deposits.
    shipped = LabelStore.from_files([], defaults=True)
    assert not [
        a
        for a in case.expected
        if any(label.category.value == "exchange_deposit" for label in shipped.labels(a))
    ]
    out = tmp_path / case.name
    options = ["--chain", "ethereum", "--since", case.since]
    result = live_trace(case.seeds, RPC_URL, out, options)
    assert result.returncode == 0, result.stderr[-2000:]
    transfers = pl.read_parquet(out / "transfers.parquet")
    seen = set(transfers["from_address"].to_list()) | set(transfers["to_address"].to_list())
    missing = {address: name for address, name in case.expected.items() if address not in seen}
    assert not missing, f"{case.name}: deposit addresses not reached: {missing}"
    report = json.loads((out / "report.json").read_text())
    sanctioned_seeds = {s for s in case.seeds if shipped.is_sanctioned(s)}
    reported = {entry["address"] for entry in report["sanctions_exposure"]["sanctioned"]}
    assert sanctioned_seeds <= reported


@pytest.mark.live
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not RPC_URL, reason="set TRACER_LIVE_RPC_URL to a mainnet archive node")
def test_bybit_first_hops_are_followed(tmp_path: Path) -> None:
    """From the Bybit theft receiver, the published hop-1 and hop-2 transfers (tx hashes in
    bybit_known_transfers.csv) are in the crawled table with their recipients."""
    known = [
        row
        for row in csv.DictReader((DATA / "bybit_known_transfers.csv").open(encoding="utf-8"))
        if row["hop"] in ("1", "2")
    ]
    out = tmp_path / "bybit"
    result = subprocess.run(
        [
            sys.executable, "-m", "tracer", "trace", "0x47666fab8bd0ac7003bce3f5c3585383f09486e2",
            "--rpc-url", RPC_URL, "--chain", "ethereum", "--since", "2025-02-21",
            "--until", "2025-03-05", "--max-hops", "2",
            "--max-addresses", os.environ.get("TRACER_LIVE_MAX_ADDRESSES", "2000"),
            "--rps", os.environ.get("TRACER_LIVE_RPS", "10"), "--out", str(out), "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    transfers = pl.read_parquet(out / "transfers.parquet")
    hashes = set(transfers["transaction_hash"].to_list())
    recipients = set(transfers["to_address"].to_list())
    assert {row["tx_hash"] for row in known} <= hashes
    assert {row["to"] for row in known} <= recipients
