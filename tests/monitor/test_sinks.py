"""Sinks: the JSONL file after a crash between write and record, and webhooks that fail."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.monitor.conftest import ETH, Live
from tests.monitor.test_cli import command
from tracer.errors import InputError
from tracer.monitor.alerts import Alert, Counterparty, summary
from tracer.monitor.blocks import Header
from tracer.monitor.runner import run_pass
from tracer.monitor.sinks import (
    PAUSE_AFTER_POSTS_ENV,
    PAUSED_MARKER,
    Backoff,
    JsonlSink,
    WebhookFormat,
    WebhookSink,
)
from tracer.monitor.state import MonitorState
from tracer.testbed.anvil import free_loopback_port

FAST = Backoff(attempts=3, base_delay=0.01, max_delay=0.05)


def alert(n: int) -> Alert:
    return Alert(
        id=f"tm1_{n:032x}",
        kind="outflow",
        seed="0x" + "5e" * 20,
        seed_label="Theft",
        rules=("moves",),
        chain_id=1,
        transaction_hash="0x" + f"{n:064x}",
        block_number=n,
        block_hash="0x" + f"{n:064x}",
        block_time=None,
        direction="out",
        subject="0x" + "5e" * 20,
        hops=0,
        counterparty=Counterparty("0x" + "99" * 20, ()),
        asset="ETH",
        token_address="0x" + "ee" * 20,
        token_id=None,
        amount="1",
        amount_raw=str(10**18),
        transfer_kind="native",
        log_index=None,
        trace_address=None,
    )


def header(n: int) -> Header:
    return Header(n, "0x" + f"{n:064x}", "0x" + f"{n - 1:064x}", n)


def test_jsonl_reconcile_after_a_crash_between_write_and_record(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "alerts.jsonl")
    alerts = [alert(n) for n in range(1, 5)]
    with MonitorState(tmp_path / "state.sqlite") as state:
        state.start(1, header(0))
        raised = state.commit_window(1, [header(1)], alerts, [], sinks=[sink.name])
        assert raised == [a.to_json() for a in alerts]
        # The crash: two lines made it to disk, the third only half, none was recorded.
        lines = [json.dumps(a.to_json(), separators=(",", ":"), sort_keys=True) for a in alerts]
        sink.path.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:25])
        assert sink.reconcile(state) == 2
        assert sink.path.read_text() == lines[0] + "\n" + lines[1] + "\n"
        assert [p.id for p in state.pending(sink.name)] == [alerts[2].id, alerts[3].id]
        assert sink.deliver(state) == 2
        assert sink.path.read_text().splitlines() == lines
        assert state.pending(sink.name) == []
        # A second reconcile and delivery change nothing.
        assert sink.reconcile(state) == 0
        assert sink.deliver(state) == 0
        assert sink.path.read_text().splitlines() == lines
        # Committing the same alerts again raises none of them a second time.
        assert state.commit_window(1, [header(2)], alerts, [], sinks=[sink.name]) == []


def test_a_second_monitor_on_the_same_state_is_refused(tmp_path: Path) -> None:
    with MonitorState(tmp_path / "s.sqlite"), pytest.raises(InputError, match="in use"):
        MonitorState(tmp_path / "s.sqlite")


@dataclass
class Receiver:
    """A real HTTP server on loopback that fails the first ``failures`` requests."""

    failures: int = 0
    status: int = 503
    requests: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((body, request.headers.get("Idempotency-Key", "")))
        if len(self.requests) <= self.failures:
            return web.Response(status=self.status)
        return web.Response(text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    app = web.Application()
    app.router.add_post("/hook", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield server
    await runner.cleanup()


async def three_outflows(live: Live) -> list[str]:
    await run_pass(live.watchlist(), live.options())
    hashes = [live.send(live.seed, live.stranger, (n + 1) * ETH) for n in range(3)]
    for tx_hash in hashes:
        live.confirm(tx_hash, 2)
    return hashes


async def test_a_webhook_that_fails_twice_then_succeeds_gets_every_alert(
    live: Live, receiver: Receiver
) -> None:
    hashes = await three_outflows(live)
    receiver.failures = 2
    webhook = WebhookSink(receiver.url, backoff=FAST)
    result = await run_pass(live.watchlist(), live.options(webhook=webhook))
    assert sorted(a["transaction_hash"] for a in result.alerts) == sorted(hashes)
    assert not result.delivery_failed
    received = [body for body, _ in receiver.requests]
    assert len(received) == 5  # two refusals of the first alert, then one per alert
    assert received[0] == received[1] == received[2] == result.alerts[0]
    assert received[2:] == result.alerts
    assert [key for _, key in receiver.requests[2:]] == [a["id"] for a in result.alerts]
    assert live.lines() == result.alerts  # the JSONL sink is independent of the webhook


async def test_a_webhook_down_for_a_pass_gets_its_alerts_on_the_next(
    live: Live, receiver: Receiver
) -> None:
    await three_outflows(live)
    receiver.failures = 10**6
    receiver.status = 500
    webhook = WebhookSink(receiver.url, backoff=FAST)
    down = await run_pass(live.watchlist(), live.options(webhook=webhook))
    assert len(down.alerts) == 3
    assert down.delivery_failed
    assert down.pending == {f"jsonl:{live.alerts.resolve()}": 0, webhook.name: 3}
    # The first alert was tried FAST.attempts times; the others wait for the next pass.
    assert len(receiver.requests) == FAST.attempts
    receiver.failures = 0
    receiver.requests.clear()
    up = await run_pass(live.watchlist(), live.options(webhook=webhook))
    assert up.alerts == []
    assert not up.delivery_failed
    assert [body for body, _ in receiver.requests] == down.alerts


async def test_slack_format(receiver: Receiver, tmp_path: Path) -> None:
    sink = WebhookSink(receiver.url, fmt=WebhookFormat.SLACK, backoff=FAST)
    with MonitorState(tmp_path / "state.sqlite") as state:
        state.start(1, header(0))
        state.commit_window(1, [header(7)], [alert(7)], [], sinks=[sink.name])
        outcome = await sink.deliver(state)
    assert (outcome.delivered, outcome.failed) == (1, False)
    assert receiver.requests == [
        (
            {
                "text": "[outflow] Theft: 1 ETH to 0x" + "99" * 20 + " in 0x" + f"{7:064x}"
                " (block 7) [alert " + alert(7).id + "]"
            },
            alert(7).id,
        )
    ]


async def test_slack_format_breaks_mass_mentions_in_untrusted_labels(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Discord's /slack endpoint pings everybody for a plain "@everyone" or "@here": a
    zero-width space after each "@" keeps the text readable and pings no one."""
    hostile = replace(
        alert(9),
        seed_label="@here Theft",
        counterparty=Counterparty("0x" + "99" * 20, ({"name": "@everyone Binance 14"},)),
    )
    sink = WebhookSink(receiver.url, fmt=WebhookFormat.SLACK, backoff=FAST)
    with MonitorState(tmp_path / "state.sqlite") as state:
        state.start(1, header(0))
        state.commit_window(1, [header(9)], [hostile], [], sinks=[sink.name])
        outcome = await sink.deliver(state)
    assert (outcome.delivered, outcome.failed) == (1, False)
    assert receiver.requests == [
        (
            {
                "text": "[outflow] @\u200bhere Theft: 1 ETH to 0x"
                + "99" * 20
                + " (@\u200beveryone Binance 14) in 0x"
                + f"{9:064x}"
                " (block 9) [alert " + hostile.id + "]"
            },
            hostile.id,
        )
    ]


def test_retractions_and_reinstatements_say_so_in_one_line() -> None:
    withdrawn = {**alert(3).to_json(), "kind": "retracted", "retracts": "tm1_a"}
    again = {**alert(3).to_json(), "reinstates": "tm1_a"}
    tail = "in 0x" + f"{3:064x}" + " (block 3)"
    assert summary(withdrawn).startswith("[retracted] Theft: 1 ETH to 0x")
    assert summary(withdrawn).endswith(tail + "; withdraws alert tm1_a: a reorg undid it")
    assert summary(again).startswith("[outflow] Theft: 1 ETH to 0x")
    assert summary(again).endswith(tail + "; mined again after alert tm1_a was withdrawn")


def test_untrusted_label_text_cannot_inject_markup_or_terminal_escapes() -> None:
    hostile = alert(3).to_json()
    hostile["counterparty"]["labels"] = [{"name": "<!channel> & <https://evil|Binance>\x1b[2J"}]
    text = WebhookSink("http://127.0.0.1:1/", fmt=WebhookFormat.SLACK).body(hostile)["text"]
    assert "&lt;!channel&gt; &amp; &lt;https://evil|Binance&gt;?[2J" in text
    assert "<" not in text and "\x1b" not in text
    assert "\x1b" not in summary(hostile)


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://hooks.example.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX1234", "1234"),
        ("https://hooks.example.com/services/T0A1B2C3/B0A1B2C3/abcdEFGHijklMNOPqrstUVWX", "UVWX"),
        ("http://127.0.0.1:8080/hook/s3cr3t", "s3cr3t"),
        ("https://alerts.example.com/x?token=s3cr3t", "s3cr3t"),
        ("https://bot:s3cr3t@alerts.example.com/", "s3cr3t"),
    ],
)
def test_a_webhook_url_with_a_secret_is_never_shown(url: str, secret: str) -> None:
    sink = WebhookSink(url)
    assert secret not in sink.shown
    assert secret not in sink.name
    assert sink.shown.split("/")[2] in url  # where it goes is still shown
    with pytest.raises(InputError) as refused:
        WebhookSink("ftp" + url.removeprefix("https").removeprefix("http"))
    assert secret not in str(refused.value)


async def test_a_failing_webhook_keeps_its_secret_out_of_logs_errors_and_state(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    await three_outflows(live)
    port = free_loopback_port()  # nobody listens there
    secret = "abcdEFGHijklMNOPqrstUVWX"
    webhook = WebhookSink(f"http://127.0.0.1:{port}/services/T0/B0/{secret}", backoff=FAST)
    result = await run_pass(live.watchlist(), live.options(webhook=webhook))
    assert result.delivery_failed
    with sqlite3.connect(live.state) as db:
        dump = "\n".join(db.iterdump())
        [error] = db.execute("SELECT DISTINCT last_error FROM deliveries WHERE attempts > 0")
    assert error[0].startswith("ClientConnectorError (webhook at http://127.0.0.1:")
    assert secret not in dump
    assert caplog.records and secret not in caplog.text
    assert secret not in repr(result)


async def test_sigkill_after_a_post_was_accepted_sends_it_again_with_the_same_id(
    live: Live, receiver: Receiver
) -> None:
    """Killed after the receiver took the second alert and before the state recorded it:
    the re-run sends that one again (same id, same Idempotency-Key) and then the rest; the
    JSONL file, exactly once, holds each alert once."""
    hashes = await three_outflows(live)
    args = command(live, "--once", "--confirmations", "2", "--webhook", receiver.url)
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, PAUSE_AFTER_POSTS_ENV: "2"},
    )
    assert process.stderr is not None
    try:
        line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
        assert line.decode().strip() == PAUSED_MARKER
    finally:
        process.kill()
        await process.wait()
    first = [(body["id"], key) for body, key in receiver.requests]
    assert len(first) == 2
    rerun = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(rerun.communicate(), timeout=60)
    assert rerun.returncode == 10, errors.decode()
    ids = [line["id"] for line in live.lines()]
    assert sorted(line["transaction_hash"] for line in live.lines()) == sorted(hashes)
    assert len(set(ids)) == 3
    received = [(body["id"], key) for body, key in receiver.requests]
    assert received == [*first, (ids[1], ids[1]), (ids[2], ids[2])]
    assert first == [(ids[0], ids[0]), (ids[1], ids[1])]
