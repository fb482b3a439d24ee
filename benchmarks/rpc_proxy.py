"""A counting JSON-RPC proxy on 127.0.0.1 for benchmarks: forwards every request to a node
and counts HTTP requests, JSON-RPC calls per method, and the node's time per method.

Runs its own event loop in a background thread, so the process measured can be anything
(a ``tracer`` subprocess, cryo) pointed at :attr:`CountingProxy.url`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


@dataclass
class Counts:
    http_requests: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    # Node time attributed to each method (a batch's time is split evenly over its calls).
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rpc_calls(self) -> int:
        return sum(self.calls.values())


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.counts = Counts()
        self.url = ""
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        self._started.wait(timeout=10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def reset(self) -> Counts:
        """The counts so far, and start counting afresh."""
        with self._lock:
            counts, self.counts = self.counts, Counts()
        return counts

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._started.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        payload: Any = json.loads(body)
        items = payload if isinstance(payload, list) else [payload]
        methods = [str(item.get("method")) for item in items if isinstance(item, dict)]
        assert self._session is not None
        started = time.perf_counter()
        async with self._session.post(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            answer = await response.read()
            status = response.status
        elapsed = time.perf_counter() - started
        with self._lock:
            self.counts.http_requests += 1
            for method in methods:
                self.counts.calls[method] += 1
                share = elapsed / max(1, len(methods))
                self.counts.seconds[method] = self.counts.seconds.get(method, 0.0) + share
        return web.Response(body=answer, status=status, content_type="application/json")
