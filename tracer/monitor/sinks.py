"""Alert sinks: a JSONL file (exactly once) and a webhook (at least once).

Both deliver from the state's pending table, oldest first, and remove a delivery only after
it happened, so a crash or a failure leaves it pending for the next pass: nothing is dropped.

**JSONL, exactly once.** Lines are appended and fsynced, then recorded as delivered. A crash
between the two leaves lines in the file that the state still calls pending; on start,
:meth:`JsonlSink.reconcile` reads the file's tail (pending deliveries are written in order,
so the lines written are the newest ones), marks the pending ids it finds as delivered and
cuts off a half-written last line. So a line is never written twice and never lost.

**Webhook, at least once.** Each alert is POSTed as JSON (or as a Slack message) with its id
in the body and in an ``Idempotency-Key`` header; retryable failures are retried with
exponential back-off, and a delivery that still fails stays pending for the next pass. A
crash after the receiver accepted but before the state recorded it sends it again: receivers
de-duplicate by id. The URL may hold a secret (Slack's, Discord's and Teams' tokens are path
segments; others use the query or userinfo): only its scheme, host and port are ever shown,
and the sink's name in the state is a hash of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import aiohttp
from yarl import URL

from tracer.errors import InputError
from tracer.monitor.alerts import summary
from tracer.monitor.state import MonitorState, Pending
from tracer.sources.transport import parse_retry_after

log = logging.getLogger(__name__)

# Test-only hook (see tests/monitor/): after this many JSONL lines are written and fsynced,
# and before they are recorded as delivered, the process stops still so a test can SIGKILL
# it at exactly the worst moment. Never set it in production.
PAUSE_AFTER_LINES_ENV: Final = "TRACER_MONITOR_TEST_PAUSE_AFTER_LINES"
# Test-only hook, the same for webhooks: after this many POSTs were accepted, before the
# state records the last one as delivered.
PAUSE_AFTER_POSTS_ENV: Final = "TRACER_MONITOR_TEST_PAUSE_AFTER_POSTS"
PAUSED_MARKER: Final = "tracer-monitor-test: paused"
_RETRYABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_TAIL_CHUNK: Final = 64 * 1024


def test_pause(env_name: str, count: int) -> None:
    """The test-only pause: block forever once ``count`` reaches the variable's value."""
    wanted = os.environ.get(env_name)
    if wanted is not None and wanted.isdigit() and count >= int(wanted):
        sys.stderr.write(PAUSED_MARKER + "\n")
        sys.stderr.flush()
        while True:
            time.sleep(3600)


class JsonlSink:
    """One JSON object per line, appended to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"jsonl:{path.resolve()}"
        self._written = 0

    def reconcile(self, state: MonitorState) -> int:
        """Align the state with the file after a crash; returns the lines found delivered."""
        if not self.path.exists():
            return 0
        self._cut_partial_line()
        pending = state.pending(self.name)
        if not pending:
            return 0
        written = {_line_id(line) for line in self._tail_lines(len(pending))}
        found = [item.seq for item in pending if item.id in written]
        state.delivered(self.name, found)
        return len(found)

    def _cut_partial_line(self) -> None:
        with self.path.open("r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            # Find the last newline; everything after it is a line the crash cut short.
            end = size
            while end > 0:
                start = max(0, end - _TAIL_CHUNK)
                handle.seek(start)
                chunk = handle.read(end - start)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    handle.truncate(start + newline + 1)
                    break
                end = start
            else:
                handle.truncate(0)
            handle.flush()
            os.fsync(handle.fileno())

    def _tail_lines(self, count: int) -> list[bytes]:
        """The last ``count`` lines of the file (fewer if it has fewer)."""
        with self.path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            data = b""
            position = size
            while position > 0 and data.count(b"\n") <= count:
                step = min(_TAIL_CHUNK, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
        return [line for line in data.splitlines() if line][-count:]

    def deliver(self, state: MonitorState) -> int:
        pending = state.pending(self.name)
        if not pending:
            return 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                for item in pending:
                    line = json.dumps(item.payload, separators=(",", ":"), sort_keys=True)
                    handle.write(line.encode() + b"\n")
                    self._written += 1
                    if os.environ.get(PAUSE_AFTER_LINES_ENV):
                        handle.flush()
                        os.fsync(handle.fileno())
                        test_pause(PAUSE_AFTER_LINES_ENV, self._written)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise InputError(f"cannot write alerts to {self.path}: {exc.strerror}") from exc
        state.delivered(self.name, [item.seq for item in pending])
        return len(pending)


def _line_id(line: bytes) -> str | None:
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    identity = parsed.get("id") if isinstance(parsed, dict) else None
    return identity if isinstance(identity, str) else None


def shown_webhook(url: str) -> str:
    """Where a webhook goes, without anything that may be its secret: no userinfo, path or
    query (a generic redaction that keeps "word-like" path segments would show a Slack token
    made of letters only)."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return "<unparseable URL>"
    if not parsed.is_absolute() or not parsed.raw_host:
        return "<not an absolute URL>"
    port = "" if parsed.explicit_port is None else f":{parsed.explicit_port}"
    hidden = parsed.raw_path not in ("", "/") or parsed.query_string or parsed.user
    return f"{parsed.scheme}://{parsed.raw_host}{port}" + ("/***" if hidden else "")


_ZERO_WIDTH_SPACE: Final = "\u200b"


class WebhookFormat(StrEnum):
    JSON = "json"  # the alert object as is
    SLACK = "slack"  # {"text": ...} for a Slack (or Mattermost, Discord /slack) webhook


@dataclass(frozen=True)
class Backoff:
    """Attempts per delivery within a pass, and the delay before each retry."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1)))


@dataclass(frozen=True)
class WebhookOutcome:
    delivered: int
    failed: bool
    error: str | None = None


class WebhookSink:
    """POST each alert to ``url``."""

    def __init__(
        self,
        url: str,
        *,
        fmt: WebhookFormat = WebhookFormat.JSON,
        backoff: Backoff | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.shown = shown_webhook(url)
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--webhook must be an http(s) URL, not {self.shown}")
        self.url = url
        self.fmt = fmt
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self.name = "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:16]

    def body(self, alert: dict[str, Any]) -> dict[str, Any]:
        if self.fmt is WebhookFormat.SLACK:
            text = f"{summary(alert)} [alert {alert.get('id')}]"
            # Slack's message syntax: &, < and > must be escaped, or a label name such as
            # "<!channel>" or "<https://evil|Binance>" would become a mention or a link.
            escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            # Discord's /slack endpoint (and Mattermost) also mention on plain text: a label
            # "@everyone" or "@here" would ping the whole server. Discord documents
            # allowed_mentions only for its native execute endpoint, not for /slack (Slack's
            # fields only), so it cannot be relied on there; a zero-width space after every
            # "@" breaks any mention on every receiver and looks the same.
            return {"text": escaped.replace("@", "@" + _ZERO_WIDTH_SPACE)}
        return alert

    async def deliver(self, state: MonitorState) -> WebhookOutcome:
        """Deliver the pending alerts in order; stop at the first one that keeps failing
        (the endpoint is down: the rest would fail the same way)."""
        pending = state.pending(self.name)
        if not pending:
            return WebhookOutcome(0, failed=False)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        delivered = 0
        posted = 0
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for item in pending:
                error = await self._post(session, item)
                if error is not None:
                    state.failed(self.name, item.seq, error)
                    log.warning("webhook %s: %s; kept for the next pass", self.shown, error)
                    return WebhookOutcome(delivered, failed=True, error=error)
                posted += 1
                test_pause(PAUSE_AFTER_POSTS_ENV, posted)
                state.delivered(self.name, [item.seq])
                delivered += 1
        return WebhookOutcome(delivered, failed=False)

    async def _post(self, session: aiohttp.ClientSession, item: Pending) -> str | None:
        """None once delivered; else why the last attempt failed."""
        error = "not attempted"
        for attempt in range(1, self.backoff.attempts + 1):
            retry_after: float | None = None
            try:
                async with session.post(
                    self.url,
                    json=self.body(item.payload),
                    headers={"Idempotency-Key": item.id, "X-Tracer-Alert-Id": item.id},
                    allow_redirects=False,
                ) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        return None
                    error = f"HTTP {response.status}"
                    if response.status not in _RETRYABLE_STATUSES:
                        return error  # will not heal by retrying now; next pass tries again
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__} (webhook at {self.shown})"
            if attempt < self.backoff.attempts:
                delay = self.backoff.delay(attempt)
                if retry_after is not None:
                    delay = min(self.backoff.max_delay, max(delay, retry_after))
                await asyncio.sleep(delay)
        return error
