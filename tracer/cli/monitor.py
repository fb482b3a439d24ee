"""``tracer monitor``: watch seed wallets and alert on new confirmed movements.

Exit codes of ``--once`` (for cron, systemd timers, Kubernetes CronJobs): 0 nothing new,
10 alerts were raised or delivered, 11 some delivery is still pending (it is retried on
the next pass), 2 bad input, 3 the node failed (the state is left as it was).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Final

import typer

from tracer.cli.options import LabelFiles, NoDefaultLabels, label_store
from tracer.errors import InputError, SourceError
from tracer.monitor.alerts import summary
from tracer.monitor.runner import MonitorOptions, PassResult, run_forever, run_pass
from tracer.monitor.sinks import WebhookFormat, WebhookSink
from tracer.monitor.watchlist import load_watchlist
from tracer.sources.transport import RetryPolicy

EXIT_QUIET: Final = 0
EXIT_ALERTS: Final = 10
EXIT_DELIVERY_PENDING: Final = 11


def monitor(
    watchlist: Annotated[
        Path,
        typer.Option(
            "--watchlist",
            help="Wallets to watch: YAML (seeds, rules, assets, labels, start_block) or CSV "
            "address,label (default rules).",
        ),
    ],
    state: Annotated[
        Path,
        typer.Option(
            "--state",
            help="State file (SQLite): cursor, block hashes, alerts raised, pending deliveries. "
            "Keep it between runs; created on the first pass.",
        ),
    ],
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc-url",
            envvar="TRACER_RPC_URL",
            help="JSON-RPC endpoint; trace_filter or debug_traceBlockByHash are needed to see "
            "internal transfers.",
        ),
    ] = None,
    alerts: Annotated[
        Path | None,
        typer.Option(
            "--alerts", help="Append alerts to this JSONL file (one JSON object per line)."
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            envvar="TRACER_MONITOR_WEBHOOK",
            help="POST each alert to this URL (at least once; de-duplicate on the alert id).",
        ),
    ] = None,
    webhook_format: Annotated[
        WebhookFormat,
        typer.Option(
            "--webhook-format",
            help="json: the alert object; slack: a Slack-compatible {'text': ...} message.",
        ),
    ] = WebhookFormat.JSON,
    confirmations: Annotated[
        int,
        typer.Option(
            "--confirmations",
            min=0,
            help="Alert only on blocks at least this many blocks below the head.",
        ),
    ] = 12,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run one pass and exit (the exit code tells the outcome)."),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0.1,
            help="Run a pass every SECONDS until SIGTERM/SIGINT (then finish the window).",
        ),
    ] = None,
    labels: LabelFiles = None,
    no_default_labels: NoDefaultLabels = False,
    from_block: Annotated[
        int | None,
        typer.Option(
            "--from-block",
            min=1,
            help="First pass only: start at this block (default: the watchlist's start_block, "
            "else the current confirmed head: only what happens from now on alerts).",
        ),
    ] = None,
    window_blocks: Annotated[
        int,
        typer.Option(
            "--window-blocks", min=1, help="Blocks read and committed per step (one transaction)."
        ),
    ] = 100,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            envvar="TRACER_CACHE",
            help="Answer cache (SQLite) for blocks 12+ deep, shareable with tracer trace and "
            "other monitors of the chain: each final block is read from the node once.",
        ),
    ] = None,
    rpc_attempts: Annotated[
        int,
        typer.Option(
            "--rpc-attempts", min=1, help="Attempts per RPC request before the pass fails."
        ),
    ] = 6,
    rps: Annotated[
        float | None,
        typer.Option("--rps", min=0.1, help="Requests per second to the node (default: no limit)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not print alerts and the pass summary.")
    ] = False,
) -> None:
    """Watch seed wallets: alert once per new confirmed movement or off-ramp reached.

    Each pass reads the new confirmed blocks once (logs and traces of whole blocks, however
    many wallets are watched), matches them against the watchlist's rules, and appends each
    new alert to --alerts and/or POSTs it to --webhook. Alerts have stable ids: never raised
    twice, and a delivery that failed is retried on the next pass.

    Exit codes of --once: 0 nothing new, 10 alerts raised or delivered, 11 a delivery still
    pending (retried on the next pass), 2 bad input, 3 the node failed (the state is left as
    it was). --interval exits 0 after SIGTERM/SIGINT, 2 on bad input.
    """
    if once == (interval is not None):
        raise InputError("give exactly one of --once (one pass) and --interval SECONDS")
    if rpc_url is None:
        raise InputError("no RPC endpoint: pass --rpc-url or set TRACER_RPC_URL")
    watched = load_watchlist(watchlist)
    options = MonitorOptions(
        rpc_url=rpc_url,
        state_path=state,
        labels=label_store(labels, no_default_labels, extra=watched.label_files),
        alerts_path=alerts,
        webhook=WebhookSink(webhook, fmt=webhook_format) if webhook else None,
        confirmations=confirmations,
        from_block=from_block,
        window_blocks=window_blocks,
        retry=RetryPolicy(max_attempts=rpc_attempts),
        requests_per_second=rps,
        cache_path=cache,
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if interval is not None:

        def report(outcome: PassResult | SourceError) -> None:
            if isinstance(outcome, SourceError):
                typer.secho(f"pass failed: {outcome}; retrying next interval", err=True)
            elif not quiet:
                _print(outcome)

        asyncio.run(run_forever(watched, options, interval, report))
        return
    result = asyncio.run(run_pass(watched, options))
    if not quiet:
        _print(result)
    if result.delivery_failed:
        raise typer.Exit(EXIT_DELIVERY_PENDING)
    # Alerts an interrupted earlier pass left undelivered count too: they went out now.
    sent = result.alerts or any(result.delivered.values())
    raise typer.Exit(EXIT_ALERTS if sent else EXIT_QUIET)


def _print(result: PassResult) -> None:
    for alert in result.alerts:
        typer.echo(summary(alert))
    scanned = (
        f"blocks {result.scanned_from}..{result.scanned_to}"
        if result.scanned_from is not None
        else "no new confirmed block"
    )
    pending = sum(result.pending.values())
    typer.echo(
        json.dumps(
            {
                "chain_id": result.chain_id,
                "head": result.head,
                "scanned": scanned,
                "alerts": len(result.alerts),
                "pending_deliveries": pending,
                "reorgs": result.reorgs,
                "retracted": result.retracted,
                "requests": result.http_requests,
                "seconds": round(result.seconds, 3),
            }
        ),
        err=True,
    )
    if result.unconfigured_pending:
        typer.secho(
            f"{result.unconfigured_pending} alert deliveries wait for a sink this run was not "
            "given (--alerts/--webhook of an earlier run)",
            err=True,
        )
