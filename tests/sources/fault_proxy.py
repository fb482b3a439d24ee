"""A JSON-RPC proxy on 127.0.0.1 that forwards to a real node and misbehaves on schedule.

Faults come from a deterministic schedule indexed by the proxy's request counter, so a test
knows exactly what the client went through. Besides whole-request faults the proxy can:

* answer every ``item_limit_every``-th JSON-RPC call with a -32005 "limit exceeded" error,
  shaped as Infura shapes its rate-limit errors (``data.backoff_seconds``);
* refuse ``eth_getLogs`` / ``trace_filter`` ranges wider than a cap the way providers do
  (Infura's live -32602 for log ranges, EIP-1474's -32005 "Limit exceeded" for traces);
* answer batches in reverse order (JSON-RPC allows any order; clients must match by id).

The node itself is never faked: every answer that is not a fault is the node's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import aiohttp
from aiohttp import web


class Fault(StrEnum):
    PASS = "pass"
    RATE_LIMIT = "429"  # HTTP 429 with a Retry-After header
    BAD_GATEWAY = "502"
    STALL = "stall"  # say nothing for stall_seconds
    TRUNCATE = "truncate"  # forward, then send the first half of the body (valid HTTP)
    DROP = "drop"  # forward, announce the full length, send half and close the socket
    LIMIT = "limit"  # JSON-RPC -32005 for every call in the request


@dataclass
class ProxyRecord:
    number: int
    at: float  # loop time of arrival
    methods: list[str]
    fault: Fault


@dataclass
class RangeCap:
    blocks: int
    code: int
    message: str


DEFAULT_RANGE_CAPS = {
    "eth_getLogs": lambda cap: RangeCap(cap, -32602, f"block range exceeds limit of {cap}"),
    "trace_filter": lambda cap: RangeCap(cap, -32005, "query exceeds max block range"),
}


@dataclass
class FaultProxy:
    upstream: str
    schedule: Sequence[Fault] = (Fault.PASS,)
    # A callable gets the request number and returns the header value (e.g. an HTTP-date).
    retry_after: str | Callable[[int], str] | None = "1"
    stall_seconds: float = 5.0
    item_limit_every: int | None = None
    range_caps: dict[str, RangeCap] = field(default_factory=dict)
    reverse_batches: bool = False
    # Methods answered with -32601 "Method not found", to play a node without that API.
    disabled_methods: frozenset[str] = frozenset()
    respond_delay: float = 0.0
    records: list[ProxyRecord] = field(default_factory=list)
    forwarded_calls: int = 0
    range_refusals: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._counter = itertools.count()
        self._item_counter = itertools.count(1)
        self._in_flight = 0
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    @staticmethod
    def cap(method: str, blocks: int) -> tuple[str, RangeCap]:
        return method, DEFAULT_RANGE_CAPS[method](blocks)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._released.set()  # wake stalled handlers
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def faults_of(self, fault: Fault) -> int:
        return sum(1 for record in self.records if record.fault is fault)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        number = next(self._counter)
        payload = json.loads(await request.read())
        is_batch = isinstance(payload, list)
        items: list[dict[str, Any]] = payload if is_batch else [payload]
        fault = self.schedule[number % len(self.schedule)]
        loop = asyncio.get_running_loop()
        self.records.append(ProxyRecord(number, loop.time(), [i["method"] for i in items], fault))
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.respond_delay:
                await asyncio.sleep(self.respond_delay)
            return await self._respond(request, number, items, is_batch, fault)
        finally:
            self._in_flight -= 1

    async def _respond(
        self,
        request: web.Request,
        number: int,
        items: list[dict[str, Any]],
        is_batch: bool,
        fault: Fault,
    ) -> web.StreamResponse:
        if fault is Fault.RATE_LIMIT:
            headers = {}
            if self.retry_after is not None:
                value = self.retry_after
                headers["Retry-After"] = value(number) if callable(value) else value
            return web.Response(status=429, headers=headers, text="Too Many Requests")
        if fault is Fault.BAD_GATEWAY:
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>")
        if fault is Fault.STALL:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.stall_seconds)
            return web.Response(status=504, text="stalled")
        if fault is Fault.LIMIT:
            answers = [self._limit_error(item) for item in items]
        else:
            answers = await self._forward(items)
        if is_batch and self.reverse_batches:
            answers.reverse()
        body = json.dumps(answers if is_batch else answers[0]).encode()
        if fault is Fault.TRUNCATE:
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        if fault is Fault.DROP:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=body, content_type="application/json")

    @staticmethod
    def _limit_error(item: dict[str, Any]) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": item.get("id"),
            "error": {
                "code": -32005,
                "message": "project ID request rate exceeded",
                "data": {"allowed_rps": 10.0, "current_rps": 12.5, "backoff_seconds": 0.05},
            },
        }

    def _range_error(self, item: dict[str, Any]) -> dict[str, Any] | None:
        cap = self.range_caps.get(item.get("method", ""))
        params = item.get("params") or []
        if cap is None or not params or not isinstance(params[0], dict):
            return None
        try:
            span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
        except (KeyError, TypeError, ValueError):
            return None
        if span <= cap.blocks:
            return None
        self.range_refusals += 1
        return {
            "jsonrpc": "2.0",
            "id": item.get("id"),
            "error": {"code": cap.code, "message": cap.message, "data": {}},
        }

    async def _forward(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answers: dict[int, dict[str, Any]] = {}
        upstream_items: list[tuple[int, dict[str, Any]]] = []
        for position, item in enumerate(items):
            refusal = self._range_error(item)
            if item.get("method") in self.disabled_methods:
                refusal = {
                    "jsonrpc": "2.0",
                    "id": item.get("id"),
                    "error": {"code": -32601, "message": "the method does not exist"},
                }
            if (
                refusal is None
                and self.item_limit_every is not None
                and len(items) > 1
                and next(self._item_counter) % self.item_limit_every == 0
            ):
                refusal = self._limit_error(item)
            if refusal is not None:
                answers[position] = refusal
            else:
                upstream_items.append((position, item))
        if upstream_items:
            assert self._session is not None
            self.forwarded_calls += len(upstream_items)
            async with self._session.post(
                self.upstream, json=[item for _, item in upstream_items]
            ) as response:
                upstream_answers = await response.json()
            by_id = {answer["id"]: answer for answer in upstream_answers}
            for position, item in upstream_items:
                answers[position] = by_id[item["id"]]
        return [answers[position] for position in range(len(items))]
