"""``tracer monitor`` as cron runs it: a subprocess, its exit codes, SIGKILL mid-pass, a dead
node, a bad watchlist, SIGTERM in --interval mode, and the README documenting every option."""

from __future__ import annotations

import inspect
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import get_args, get_type_hints

import pytest
from typer.models import OptionInfo

from tests.monitor.conftest import ETH, Live
from tracer.cli import monitor as monitor_cli
from tracer.monitor.runner import PAUSE_AFTER_WINDOWS_ENV
from tracer.monitor.sinks import PAUSE_AFTER_LINES_ENV, PAUSED_MARKER
from tracer.testbed.anvil import free_loopback_port

README = Path(__file__).resolve().parents[2] / "README.md"


def command(
    live: Live,
    *extra: str,
    state: Path | None = None,
    alerts: Path | None = None,
    rpc_url: str | None = None,
) -> list[str]:
    return [
        sys.executable, "-m", "tracer", "monitor",
        "--watchlist", str(live.tmp / "watchlist.yaml"),
        "--rpc-url", rpc_url or live.node.url,
        "--state", str(state or live.state),
        "--alerts", str(alerts or live.alerts),
        "--labels", str(live.labels_csv()),
        "--no-default-labels",
        *extra,
    ]  # fmt: skip


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


def test_once_exit_codes_tell_the_outcome(live: Live) -> None:
    live.watchlist()
    first = run(command(live, "--once", "--confirmations", "1"))
    assert first.returncode == 0, first.stderr
    tx_hash = live.send(live.seed, live.exchange, 2 * ETH)
    live.confirm(tx_hash, 1)
    raised = run(command(live, "--once", "--confirmations", "1"))
    assert raised.returncode == 10, raised.stderr
    assert raised.stdout.splitlines() == [
        f"[outflow] Theft wallet: 2 ETH to {live.exchange} (Exchange X: Hot Wallet) in {tx_hash} "
        f"(block {live.lines()[0]['block_number']})",
        f"[reached_exchange] Theft wallet: 2 ETH to {live.exchange} (Exchange X: Hot Wallet) "
        f"in {tx_hash} (block {live.lines()[0]['block_number']})",
    ]
    assert [line["kind"] for line in live.lines()] == ["outflow", "reached_exchange"]
    quiet = run(command(live, "--once", "--confirmations", "1"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == ""
    assert len(live.lines()) == 2


def prepare_history(live: Live) -> int:
    """Five alerts in five consecutive-ish blocks, all confirmed; the first one's block."""
    live.watchlist()
    blocks = []
    for n in range(3):
        blocks.append(live.confirm(live.send(live.seed, live.stranger, (n + 1) * ETH), 0))
    blocks.append(live.confirm(live.send(live.seed, live.hop, ETH), 0))
    blocks.append(live.confirm(live.send(live.hop, live.exchange, ETH // 2), 2))
    assert len(set(blocks)) == 5
    return blocks[0]


@pytest.mark.parametrize(
    ("hook", "count"),
    [(PAUSE_AFTER_LINES_ENV, 2), (PAUSE_AFTER_WINDOWS_ENV, 3)],
    ids=["after-second-line", "after-third-window"],
)
def test_sigkill_mid_pass_then_rerun_gives_no_duplicate_and_no_missing_alert(
    live: Live, hook: str, count: int
) -> None:
    first = prepare_history(live)
    options = ("--once", "--from-block", str(first), "--confirmations", "0", "--window-blocks", "1")
    clean = run(command(live, *options))
    assert clean.returncode == 10, clean.stderr
    expected = live.lines()
    assert [line["kind"] for line in expected] == ["outflow"] * 4 + ["reached_exchange"]

    state, alerts = live.tmp / "crash.sqlite", live.tmp / "crash.jsonl"
    args = command(live, *options, state=state, alerts=alerts)
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, hook: str(count)},
    )
    assert process.stderr is not None
    try:
        assert process.stderr.readline().strip() == PAUSED_MARKER
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    written = live.lines(alerts)
    # Killed with lines written but not recorded, or with a window committed but undelivered
    # (one alert per block here, so the windows before it were delivered).
    assert len(written) == (count if hook == PAUSE_AFTER_LINES_ENV else count - 1)
    rerun = run(command(live, *options, state=state, alerts=alerts))
    assert rerun.returncode == 10, rerun.stderr  # the rest of the alerts went out now
    assert [line["id"] for line in live.lines(alerts)] == [line["id"] for line in expected]
    assert live.lines(alerts) == expected


def test_unreachable_rpc_fails_the_pass_and_leaves_the_state_untouched(live: Live) -> None:
    live.watchlist()
    assert run(command(live, "--once")).returncode == 0
    before = dump(live.state)
    dead = f"http://127.0.0.1:{free_loopback_port()}"
    result = run(command(live, "--once", "--rpc-attempts", "1", rpc_url=dead))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "127.0.0.1" in lines[0]
    assert dump(live.state) == before
    fresh = live.tmp / "never.sqlite"
    again = run(command(live, "--once", "--rpc-attempts", "1", rpc_url=dead, state=fresh))
    assert again.returncode == 3
    assert not fresh.exists()


def test_a_malformed_watchlist_names_the_line(live: Live) -> None:
    path = live.tmp / "watchlist.yaml"
    path.write_text(f"seeds:\n  - address: '{live.seed}'\n  - address: '0xnothex'\n")
    result = run(command(live, "--once"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}:3: invalid address '0xnothex': expected 0x followed by 40 hex digits"
    ]
    assert not live.state.exists()


def test_a_start_beyond_the_head_is_bad_input(live: Live) -> None:
    live.watchlist()
    result = run(command(live, "--once", "--from-block", "1000000"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: the first block to scan, 1000000, is beyond the node's head; lower "
        "--from-block (or the watchlist's start_block)"
    ]


def test_once_and_interval_are_exclusive(live: Live) -> None:
    live.watchlist()
    result = run(command(live, "--once", "--interval", "5"))
    assert result.returncode == 2
    assert "exactly one of --once" in result.stderr


def test_interval_mode_stops_gracefully_on_sigterm(live: Live) -> None:
    live.watchlist()
    process = subprocess.Popen(
        command(live, "--interval", "0.3", "--confirmations", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        first = process.stderr.readline()  # the first pass's summary
        assert '"chain_id": 31337' in first
        tx_hash = live.send(live.seed, live.stranger, ETH)
        live.confirm(tx_hash, 1)
        deadline = time.monotonic() + 20
        while not live.lines() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [line["transaction_hash"] for line in live.lines()] == [tx_hash]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0
    assert len(live.lines()) == 1


def test_interval_mode_survives_a_dead_node_until_sigterm(live: Live) -> None:
    live.watchlist()
    dead = f"http://127.0.0.1:{free_loopback_port()}"
    process = subprocess.Popen(
        command(live, "--interval", "0.2", "--rpc-attempts", "1", rpc_url=dead),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        failures = [process.stderr.readline() for _ in range(2)]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0
    assert all(line.startswith("pass failed: ") for line in failures), failures
    assert all("retrying next interval" in line for line in failures)
    assert not live.state.exists()


def monitor_options() -> list[str]:
    hints = get_type_hints(monitor_cli.monitor, include_extras=True)
    names: list[str] = []
    for parameter in inspect.signature(monitor_cli.monitor).parameters:
        info = next((a for a in get_args(hints[parameter]) if isinstance(a, OptionInfo)), None)
        assert info is not None
        declared = [d for d in info.param_decls or () if d.startswith("--")]
        names += declared or ["--" + parameter.replace("_", "-")]
    return names


def test_every_monitor_option_is_in_the_readme() -> None:
    options = monitor_options()
    assert {"--watchlist", "--rpc-url", "--state", "--once", "--interval", "--webhook"} <= set(
        options
    )
    readme = README.read_text()
    section = readme[readme.index("## `tracer monitor`") :]
    missing = [name for name in options if f"`{name}" not in section]
    assert not missing, f"undocumented tracer monitor options: {missing}"
    for key in (
        "Exit codes",
        "retracted",
        "reinstates",
        "reached_exchange",
        "Idempotency-Key",
        "cron",
    ):
        assert key in section, key
