"""The monitor on the small laundering scenario, checked against its ground truth: watching
the thief's wallet from the first block, every off-ramp not behind a mixer and every mixer
deposit of the thief raise their ``reached_*`` alert, with exact amounts (deposit addresses
recognised by behaviour in the window that holds their sweep), and no innocent deposit
address or decoy is ever named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Testbed
from tracer.labels.store import LabelStore
from tracer.monitor.runner import MonitorOptions, run_pass
from tracer.monitor.watchlist import load_watchlist


@pytest.mark.parametrize("window_blocks", [100, 3], ids=["windows-of-100", "windows-of-3"])
async def test_the_thief_is_followed_to_every_off_ramp_before_a_mixer(
    testbed_small: Testbed, tmp_path: Path, window_blocks: int
) -> None:
    """With windows of 3 blocks, deposits and their sweeps fall in different windows: the
    deposit addresses are recognised all the same, at the sweep."""
    truth: dict[str, Any] = json.loads((testbed_small.out_dir / "ground_truth.json").read_text())
    tusd = truth["tokens"]["tUSD"]
    path = tmp_path / "watchlist.yaml"
    path.write_text(
        f"start_block: {truth['scenario']['first_block']}\n"
        f"assets:\n  - {{symbol: tUSD, token: '{tusd['address']}', decimals: 6}}\n"
        "rules:\n  - {name: offramps, kinds: [reached], within_hops: 10}\n"
        f"seeds: ['{truth['seeds'][0]}']\n"
    )
    options = MonitorOptions(
        rpc_url=testbed_small.url,
        state_path=tmp_path / "state.sqlite",
        labels=LabelStore.from_files([testbed_small.out_dir / "labels.csv"]),
        alerts_path=tmp_path / "alerts.jsonl",
        confirmations=0,
        window_blocks=window_blocks,
    )
    result = await run_pass(load_watchlist(path), options)
    alerts = result.alerts
    assert result.scanned_to == truth["scenario"]["last_block"]
    # Requests grow with blocks (windows), not with transfers or addresses.
    windows = result.blocks // window_blocks + 2
    assert result.http_requests <= 10 + 3 * windows

    # Every off-ramp reached without a mixer on the way: its deposit address forwarding to
    # the exchange, or the bridge itself, with the transaction that did it.
    direct = [ramp for ramp in truth["offramps"] if not ramp["via_mixer"]]
    assert {ramp["category"] for ramp in direct} == {"bridge", "exchange_deposit"}
    for ramp in direct:
        if ramp["category"] == "bridge":
            hits = [
                a
                for a in alerts
                if a["kind"] == "reached_bridge" and a["counterparty"]["address"] == ramp["address"]
            ]
            assert {a["transaction_hash"] for a in hits} == {x["tx"] for x in ramp["arrivals"]}
            assert sum(int(a["amount_raw"]) for a in hits) == int(ramp["amount"])
        else:
            # The traced deposits into it, each alerted in its window: the address is
            # recognised by its sweeps (the exchange-deposit-address heuristic) ...
            deposits = [
                a
                for a in alerts
                if a["kind"] == "reached_exchange_deposit"
                and a["counterparty"]["address"] == ramp["address"]
            ]
            assert {a["transaction_hash"] for a in deposits} == {x["tx"] for x in ramp["arrivals"]}
            assert sum(int(a["amount_raw"]) for a in deposits) == int(ramp["amount"])
            [label] = deposits[0]["counterparty"]["labels"]
            assert label["category"] == "exchange_deposit"
            assert label["name"] == f"{ramp['entity']}: deposit address (by behaviour)"
            # ... and the sweep to the exchange's hot wallet.
            sweeps = [
                a
                for a in alerts
                if a["kind"] == "reached_exchange" and a["subject"] == ramp["address"]
            ]
            assert len(sweeps) == 1, ramp
            assert sweeps[0]["asset"] == ramp["asset"]["symbol"]
            swept = int(sweeps[0]["amount_raw"])  # what arrived, less at most the sweep's gas
            assert 0 <= int(ramp["amount"]) - swept < 10**15

    # Every mixer deposit of the thief, and nothing else, is a reached_mixer alert.
    thief_deposits = {link["deposit_tx"] for link in truth["mixer_links"]}
    mixed = {a["transaction_hash"] for a in alerts if a["kind"] == "reached_mixer"}
    assert mixed == thief_deposits
    innocent = {link["deposit_tx"] for link in truth["innocent_mixer_links"]}
    assert not mixed & innocent

    # No innocent deposit address or decoy is ever the subject or counterparty of an alert.
    innocents = {decoy["address"] for decoy in truth["decoys"]} | {
        deposit["address"]
        for exchange in truth["exchanges"]
        for deposit in exchange["innocent_deposit_addresses"]
    }
    named = {a["subject"] for a in alerts} | {a["counterparty"]["address"] for a in alerts}
    assert not named & innocents
    kinds = sorted({a["kind"] for a in alerts})
    assert kinds == [
        "reached_bridge",
        "reached_exchange",
        "reached_exchange_deposit",
        "reached_mixer",
    ]
    assert len(alerts) == len(mixed) + sum(
        len(ramp["arrivals"]) + (ramp["category"] == "exchange_deposit") for ramp in direct
    )
