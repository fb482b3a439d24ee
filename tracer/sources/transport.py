"""HTTP for every source: one aiohttp session per run, per-endpoint rate limits, retries.

Everything that decides *whether* and *when* to send a request lives here, so sources only
say what to ask for (design rule 6):

* **Rate limit** per endpoint: a scheduling limiter (GCRA, the token bucket expressed as a
  "theoretical arrival time") that spaces requests exactly ``1/rate`` apart after an initial
  burst. It reserves slots without polling, so the achieved rate is the configured rate, not
  a fraction of it. A JSON-RPC batch costs one unit per call by default: providers meter
  calls, not HTTP requests.
* **Concurrency** per endpoint: a semaphore around the request and the reading of its body.
* **Retries** with exponential back-off and full jitter (``uniform(0, min(cap, base*2^n))``),
  for failures that :class:`~tracer.errors.SourceError` marks ``retryable``: connection
  failures, HTTP 429 / 5xx / 408, read timeouts, dropped connections, malformed or truncated
  JSON, and whatever a source's ``interpret`` hook classifies as rate limiting (the explorer's
  "Max rate limit reached"). ``Retry-After`` (seconds or HTTP-date) is honoured, and it pauses
  the whole endpoint, not just the request that got it. Only idempotent requests are retried.
* **Redaction**: API keys sit in URL paths (Infura, Alchemy), query strings (Etherscan) or
  headers. Errors and logs only ever show :func:`redact_url` output and never headers.
* **Counting**: :class:`EndpointStats` per endpoint, for benchmarks and progress.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import hashlib
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import aiohttp
from yarl import URL

from tracer.errors import (
    EndpointUnreachableError,
    HttpStatusError,
    RateLimitedError,
    ResponseFormatError,
    SourceError,
    SourceTimeoutError,
    TransientSourceError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT: Final = "tracer/0.1 (+https://github.com/tracer-forensics/tracer)"

# HTTP statuses worth retrying: 408 Request Timeout, 425 Too Early, and server-side 5xx
# except 501 Not Implemented (which will not start working on the next attempt).
_RETRYABLE_STATUSES: Final = frozenset({408, 425, 500, 502, 503, 504, 520, 521, 522, 523, 524})

# Path segments that may be credentials (Infura's /v3/<32 hex>, Alchemy's /v2/<key>,
# QuickNode's /<token>/): anything longer than a route word, and shorter ones mixing letters
# and digits. A key made only of letters is still a key, so letters alone do not make a segment
# safe to show; route words (v2, api, rpc, mainnet) are short.
_SECRET_SEGMENT: Final = re.compile(r"^(?:.{11,}|(?=.*[0-9])(?=.*[A-Za-z]).{6,})$")
REDACTED: Final = "***"


def redact_url(url: str | URL) -> str:
    """The URL with credentials hidden: userinfo, every query value, key-like path segments."""
    try:
        parsed = URL(url) if isinstance(url, str) else url
    except (ValueError, TypeError):
        return "<unparseable URL>"
    if not parsed.is_absolute():
        return "<relative URL>"
    path = "/".join(
        REDACTED if _SECRET_SEGMENT.match(segment) else segment
        for segment in parsed.raw_path.split("/")
    )
    if path == "/" and not str(parsed.with_query(None).with_fragment(None)).endswith("/"):
        path = ""  # yarl reports "/" for an empty path; show the URL as the user wrote it
    shown = f"{parsed.scheme}://"
    if parsed.user is not None or parsed.password is not None:
        shown += f"{REDACTED}@"
    shown += parsed.raw_host or ""
    if parsed.explicit_port is not None:
        shown += f":{parsed.explicit_port}"
    shown += path
    if parsed.query:
        shown += "?" + "&".join(f"{key}={REDACTED}" for key in parsed.query)
    return shown


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110: delay-seconds or HTTP-date)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await all concurrently and return their results in order; on the first failure cancel
    the rest and raise that failure itself (not an ExceptionGroup: callers catch SourceError)."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_as_coroutine(item)) for item in awaitables]
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def request_key(chain_id: int, method: str, params: Any) -> str:
    """A stable key naming one request: what the on-disk cache and ``request_key`` use.

    Built from the chain and the request only, never from the endpoint URL (which may hold
    a key, and two providers of one chain give the same final answers).
    """
    canonical = json.dumps([chain_id, method, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Timeouts:
    """Client timeouts in seconds. ``read`` bounds the silence between bytes, so a stalled
    server fails the request instead of hanging the crawl; ``total`` caps one attempt."""

    connect: float = 10.0
    read: float = 30.0
    total: float = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry retryable failures of idempotent requests."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A Retry-After beyond this (a daily quota, a ban) is not waited out: the error is raised
    # at once with its ``retry_after`` so the caller can decide.
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2^(attempt-1))]."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class EndpointLimits:
    """Per-endpoint pacing. ``requests_per_second=None`` means unlimited (a local node)."""

    requests_per_second: float | None = 10.0
    max_concurrent: int = 4
    # Requests that may start back to back before the rate applies; 1 = evenly spaced.
    burst: int = 1
    # Charge a JSON-RPC batch one unit per call (how providers meter) rather than one per
    # HTTP request.
    count_batch_calls: bool = True

    def __post_init__(self) -> None:
        if self.requests_per_second is not None and not self.requests_per_second > 0:
            raise ValueError("requests_per_second must be positive (or None for unlimited)")
        if self.max_concurrent < 1 or self.burst < 1:
            raise ValueError("max_concurrent and burst must be at least 1")


@dataclass
class EndpointStats:
    """Counters for one endpoint (every attempt counts, retries included)."""

    http_requests: int = 0
    rpc_calls: int = 0
    retries: int = 0
    bytes_received: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def count_failure(self, error: SourceError) -> None:
        name = type(error).__name__
        self.failures[name] = self.failures.get(name, 0) + 1


class RateLimiter:
    """GCRA scheduler: each caller reserves the next free slot, then sleeps until it.

    Reservation happens without an ``await``, so concurrent callers are served in arrival
    order and the long-run rate is exactly ``rate`` units per second. ``defer`` pushes every
    future slot past a server-imposed pause (``Retry-After``).
    """

    def __init__(
        self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._theoretical_arrival = clock()

    def reserve(self, cost: float = 1.0) -> float:
        """Book ``cost`` units; return how many seconds the caller must wait first."""
        now = self._clock()
        arrival = max(self._theoretical_arrival, now)
        self._theoretical_arrival = arrival + cost * self._interval
        return max(0.0, arrival - self._tolerance - now)

    async def acquire(self, cost: float = 1.0) -> None:
        delay = self.reserve(cost)
        if delay > 0:
            await asyncio.sleep(delay)

    def defer(self, seconds: float) -> None:
        """No slot starts earlier than ``seconds`` from now."""
        self._theoretical_arrival = max(
            self._theoretical_arrival, self._clock() + seconds + self._tolerance
        )


class Endpoint:
    """One URL with its limits, counters and (secret) headers; see :meth:`Transport.endpoint`."""

    def __init__(
        self, url: str, limits: EndpointLimits, headers: Mapping[str, str] | None, label: str
    ) -> None:
        self.url = URL(url)
        if self.url.scheme not in ("http", "https") or not self.url.host:
            raise SourceError(f"not an http(s) URL: {redact_url(url)}")
        self.display = redact_url(self.url)
        self.label = label
        self.limits = limits
        self.headers = dict(headers or {})
        self.stats = EndpointStats()
        self.limiter = (
            RateLimiter(limits.requests_per_second, limits.burst)
            if limits.requests_per_second is not None
            else None
        )
        self.semaphore = asyncio.Semaphore(limits.max_concurrent)

    @property
    def where(self) -> str:
        """``"RPC at http://host/v3/***"``: how messages name this endpoint."""
        return f"{self.label} at {self.display}"

    def __repr__(self) -> str:
        return f"Endpoint({self.display!r})"


class Transport:
    """The one HTTP client of a run. Use ``async with Transport() as transport:``."""

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self.retry_policy = retry or RetryPolicy()
        self._rng = rng or random.Random()  # jitter, not cryptography
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._endpoints: dict[str, Endpoint] = {}

    async def __aenter__(self) -> Transport:
        self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.timeouts.total,
                sock_connect=self.timeouts.connect,
                sock_read=self.timeouts.read,
            )
            # The per-endpoint semaphores bound concurrency; the connector only pools.
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                timeout=timeout,
                connector=connector,
                headers={"User-Agent": self._user_agent},
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def endpoint(
        self,
        url: str,
        *,
        limits: EndpointLimits | None = None,
        headers: Mapping[str, str] | None = None,
        label: str = "RPC",
    ) -> Endpoint:
        """The endpoint for ``url``; asking twice for one URL returns the same object, so its
        limits and counters are shared by every source that talks to it."""
        existing = self._endpoints.get(url)
        if existing is not None:
            return existing
        created = Endpoint(url, limits or EndpointLimits(), headers, label)
        self._endpoints[url] = created
        return created

    def stats(self) -> dict[str, EndpointStats]:
        """Counters per endpoint, keyed by the redacted URL."""
        return {endpoint.display: endpoint.stats for endpoint in self._endpoints.values()}

    # -- one attempt ---------------------------------------------------------------------

    async def send_once(
        self,
        endpoint: Endpoint,
        *,
        http_method: str = "POST",
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        calls: int = 0,
    ) -> Any:
        """Send one request and return its parsed JSON body; raise a typed SourceError.

        ``calls`` is the number of JSON-RPC calls in the body (0 for non-JSON-RPC requests).
        """
        session = self._open()
        url = endpoint.url.update_query(params) if params else endpoint.url
        data = None if json_body is None else json.dumps(json_body, separators=(",", ":"))
        headers = {**endpoint.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        cost = max(1, calls) if endpoint.limits.count_batch_calls else 1
        async with endpoint.semaphore:
            if endpoint.limiter is not None:
                await endpoint.limiter.acquire(cost)
            endpoint.stats.http_requests += 1
            endpoint.stats.rpc_calls += calls
            try:
                async with session.request(
                    http_method, url, data=data, headers=headers, allow_redirects=False
                ) as response:
                    body = await response.read()
                    status = response.status
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = _connection_error(endpoint, exc)
                endpoint.stats.count_failure(error)
                raise error from None  # the aiohttp error may quote the full URL
        endpoint.stats.bytes_received += len(body)
        try:
            return _interpret_http(endpoint, status, body, retry_after)
        except SourceError as error:
            endpoint.stats.count_failure(error)
            raise

    # -- retries -------------------------------------------------------------------------

    def retry_delay(self, endpoint: Endpoint, attempt: int, error: SourceError) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up now.

        A server's ``Retry-After`` wins over the jittered back-off (a little jitter is added
        so that paused requests do not all return in the same instant), and pauses the whole
        endpoint: every request to it would be refused just the same.
        """
        if not error.retryable or attempt >= self.retry_policy.max_attempts:
            return None
        hint = error.retry_after if isinstance(error, RateLimitedError) else None
        if hint is not None:
            if hint > self.retry_policy.max_retry_after:
                return None
            delay = hint + self._rng.uniform(0.0, self.retry_policy.base_delay)
            if endpoint.limiter is not None:
                endpoint.limiter.defer(hint)
            return delay
        return self.retry_policy.backoff(attempt, self._rng)

    async def with_retries(
        self,
        endpoint: Endpoint,
        attempt_once: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        what: str,
    ) -> T:
        """Run ``attempt_once`` until it succeeds, a failure is not retryable, the request is
        not idempotent, or the attempts run out; then raise the last error as it was."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await attempt_once()
            except SourceError as error:
                delay = self.retry_delay(endpoint, attempt, error) if idempotent else None
                if delay is None:
                    if error.retryable and attempt > 1:
                        error.add_note(f"{what}: gave up after {attempt} attempts")
                    raise
                endpoint.stats.retries += 1
                log.debug(
                    "%s: %s failed (%s); retry %d in %.2f s",
                    endpoint.display,
                    what,
                    type(error).__name__,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)

    async def request_json(
        self,
        endpoint: Endpoint,
        *,
        http_method: str = "GET",
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
        interpret: Callable[[Any], T] | None = None,
        what: str = "request",
    ) -> T | Any:
        """One logical request with retries. ``interpret`` turns the parsed body into the
        caller's result and may raise typed errors; this is where a source plugs its own
        classification in (the explorer maps ``status: "0"`` answers: "Max rate limit
        reached" to RateLimitedError, which is then retried like an HTTP 429)."""

        async def attempt_once() -> Any:
            body = await self.send_once(
                endpoint, http_method=http_method, json_body=json_body, params=params
            )
            if interpret is None:
                return body
            try:
                return interpret(body)
            except SourceError as error:
                endpoint.stats.count_failure(error)
                raise

        return await self.with_retries(endpoint, attempt_once, idempotent=idempotent, what=what)


# Connection failures that never reached the server: (type, what to tell the user, retry?).
_CONNECT_FAILURES: Final[tuple[tuple[type[BaseException], str, bool], ...]] = (
    (aiohttp.ConnectionTimeoutError, "connection timed out", True),
    (aiohttp.ClientConnectorCertificateError, "its TLS certificate was rejected", False),
    (aiohttp.ClientConnectorDNSError, "the host name does not resolve", True),
    (aiohttp.InvalidURL, "the URL is invalid", False),
)


def _connection_error(endpoint: Endpoint, exc: BaseException) -> SourceError:
    """Map an aiohttp/OS exception to a typed error whose message holds no secret."""
    for kind, reason, retryable in _CONNECT_FAILURES:
        if isinstance(exc, kind):
            unreachable = EndpointUnreachableError(f"cannot reach {endpoint.where}: {reason}")
            unreachable.retryable = retryable
            return unreachable
    if isinstance(exc, aiohttp.ClientConnectorError):
        return EndpointUnreachableError(f"cannot reach {endpoint.where}: {_os_reason(exc)}")
    if isinstance(exc, TimeoutError):  # sock_read or total timeout: the server went quiet
        return SourceTimeoutError(f"{endpoint.where} did not answer in time")
    if isinstance(exc, aiohttp.ClientPayloadError):
        reason = "cut off its answer mid-body"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        reason = "closed the connection without answering"
    elif isinstance(exc, OSError):
        reason = f"failed: {_os_reason(exc)}"
    else:
        reason = f"failed ({type(exc).__name__})"
    return TransientSourceError(f"{endpoint.where} {reason}")


def _os_reason(exc: OSError) -> str:
    code = exc.errno
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
    if code == errno.ECONNREFUSED:
        return "connection refused"
    if code is not None:
        return os.strerror(code).lower()
    return type(exc).__name__


def _interpret_http(endpoint: Endpoint, status: int, body: bytes, retry_after: float | None) -> Any:
    if status == 429:
        raise RateLimitedError(
            f"{endpoint.where} is rate limiting us (HTTP 429)", retry_after=retry_after
        )
    if status == 503 and retry_after is not None:  # RFC 9110: 503 may carry Retry-After too
        raise RateLimitedError(
            f"{endpoint.where} is overloaded (HTTP 503)", retry_after=retry_after
        )
    if status in _RETRYABLE_STATUSES:
        raise TransientSourceError(f"{endpoint.where} answered HTTP {status}")
    if status >= 400 or status < 200:
        hint = {
            401: "check the API key",
            403: "check the API key and the plan's allowed methods",
            404: "check the URL",
            413: "the request is too large for this endpoint",
        }.get(status, "the endpoint refused the request")
        raise HttpStatusError(f"{endpoint.where} answered HTTP {status}: {hint}", status=status)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ResponseFormatError(
            f"{endpoint.where} sent a body that is not valid JSON "
            f"({len(body)} bytes; truncated or an error page)"
        ) from None
