"""One monitor pass, and the loop that repeats it until SIGTERM/SIGINT.

A pass: ask the node for its chain and head (before the state is opened, so an unreachable
node leaves the state untouched), finish the deliveries earlier passes left pending, check the
cursor's block hash for a reorg (and rewind to the common ancestor if the chain moved), then
read the confirmed blocks after the cursor window by window. Each window is matched and
committed in one transaction, then delivered. Orphaned alerts whose transaction is gone from
the chain are retracted at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tracer.chains import chain_by_id
from tracer.errors import InputError, SourceError
from tracer.labels.model import Label
from tracer.labels.store import LabelStore
from tracer.monitor.blocks import BlockReader, ChainMovedError
from tracer.monitor.rules import Matcher, Tracking, learned_deposit_label, seed_trackings
from tracer.monitor.sinks import JsonlSink, WebhookSink, test_pause
from tracer.monitor.state import MonitorState
from tracer.monitor.watchlist import Watchlist
from tracer.sources.cache import ResponseCache
from tracer.sources.rpcclient import JsonRpcClient, RpcCall
from tracer.sources.transport import EndpointLimits, RetryPolicy, Transport

log = logging.getLogger(__name__)

# Test-only hook: stop still after this many windows are committed, before their delivery.
PAUSE_AFTER_WINDOWS_ENV: Final = "TRACER_MONITOR_TEST_PAUSE_AFTER_WINDOWS"
# A window whose blocks change under us is re-read after a reorg check, this many times.
MAX_MOVES: Final = 5
# Answers are cached only this many blocks below the head at least (as `tracer trace` does).
CACHE_DEPTH: Final = 12


@dataclass(frozen=True)
class MonitorOptions:
    rpc_url: str
    state_path: Path
    labels: LabelStore = field(default_factory=LabelStore)
    alerts_path: Path | None = None
    webhook: WebhookSink | None = None
    confirmations: int = 12
    from_block: int | None = None
    window_blocks: int = 100
    reorg_depth: int = 128
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    requests_per_second: float | None = None
    # Answer cache shared with `tracer trace` and other monitors of the chain (None: none).
    cache_path: Path | None = None


@dataclass
class PassResult:
    chain_id: int
    head: int
    scanned_from: int | None = None  # None: nothing new was confirmed
    scanned_to: int | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)  # raised in this pass
    delivered: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # per configured sink, after
    unconfigured_pending: int = 0  # deliveries for sinks this run was not given
    reorgs: int = 0
    retracted: int = 0
    http_requests: int = 0
    rpc_calls: int = 0
    seconds: float = 0.0

    @property
    def blocks(self) -> int:
        if self.scanned_from is None or self.scanned_to is None:
            return 0
        return self.scanned_to - self.scanned_from + 1

    @property
    def delivery_failed(self) -> bool:
        return any(self.pending.values())


class _Pass:
    def __init__(
        self,
        watchlist: Watchlist,
        options: MonitorOptions,
        *,
        reader: BlockReader,
        state: MonitorState,
        chain_id: int,
        result: PassResult,
    ) -> None:
        self.watchlist = watchlist
        self.options = options
        self.reader = reader
        self.state = state
        self.chain_id = chain_id
        self.result = result
        known = chain_by_id(chain_id)
        self.matcher = Matcher(
            watchlist,
            options.labels,
            chain_id,
            known.native_symbol if known else "ETH",
            learned=self._learned(),
        )
        self.jsonl = JsonlSink(options.alerts_path) if options.alerts_path else None
        self.sinks: list[str] = [
            sink.name for sink in (self.jsonl, options.webhook) if sink is not None
        ]
        self.windows = 0
        self.webhook_down = False

    def _learned(self) -> list[Label]:
        return [
            learned_deposit_label(address, entity, confidence, self.chain_id)
            for address, entity, confidence in self.state.learned(self.chain_id)
        ]

    async def deliver(self) -> None:
        if self.jsonl is not None:
            done = self.jsonl.deliver(self.state)
            self.result.delivered[self.jsonl.name] = (
                self.result.delivered.get(self.jsonl.name, 0) + done
            )
        webhook = self.options.webhook
        if webhook is not None and not self.webhook_down:
            outcome = await webhook.deliver(self.state)
            # Down after its retries: the rest waits for the next pass, not the next window.
            self.webhook_down = outcome.failed
            self.result.delivered[webhook.name] = (
                self.result.delivered.get(webhook.name, 0) + outcome.delivered
            )

    async def begin(self, safe: int) -> int:
        """The cursor, set on the first pass from --from-block / start_block / the safe head."""
        cursor = self.state.cursor(self.chain_id)
        if cursor is not None:
            return cursor
        start = self.options.from_block
        if start is None:
            start = self.watchlist.start_block
        block = max(0, safe) if start is None else max(0, start - 1)
        headers = await self.reader.headers([block])
        if block not in headers:
            raise InputError(
                f"the first block to scan, {block + 1}, is beyond the node's head; "
                "lower --from-block (or the watchlist's start_block)"
            )
        self.state.start(self.chain_id, headers[block])
        return block

    async def check_reorg(self, cursor: int) -> int:
        """The cursor after making sure its block is still on the chain (rewound if not)."""
        stored = self.state.recent_blocks(self.chain_id, self.options.reorg_depth)
        if not stored:
            return cursor
        newest_number, newest_hash = stored[0]
        current = await self.reader.headers([newest_number])
        if newest_number in current and current[newest_number].hash == newest_hash:
            return cursor
        now = await self.reader.headers([number for number, _ in stored])
        ancestor = next(
            (n for n, h in stored if n in now and now[n].hash == h),
            stored[-1][0] - 1,
        )
        if ancestor == stored[-1][0] - 1:
            log.warning(
                "reorg deeper than the %d block hashes kept; re-scanning from block %d",
                len(stored),
                ancestor + 1,
            )
        orphaned = self.state.rewind(self.chain_id, ancestor)
        # Deposit addresses learned from the replaced blocks are forgotten with them.
        self.matcher.learned = {label.address: label for label in self._learned()}
        self.result.reorgs += 1
        log.warning(
            "reorg: blocks after %d were replaced; %d alert(s) wait to be re-raised or retracted",
            ancestor,
            orphaned,
        )
        return ancestor

    async def scan(self, cursor: int, safe: int, stop: asyncio.Event | None) -> None:
        tracked = self._tracked()
        start = cursor + 1
        moves = 0
        size = self.options.window_blocks
        while start <= safe and not (stop is not None and stop.is_set()):
            # Windows aligned to multiples of their size: every monitor of the chain asks
            # for the same ranges, so a shared cache answers them.
            end = min(safe, start - start % size + size - 1)
            stored = self.state.recent_blocks(self.chain_id, 1)
            try:
                window = await self.reader.read(start, end)
                if stored and window.headers[0].parent_hash != stored[0][1]:
                    raise ChainMovedError(f"block {start} no longer follows block {start - 1}")
            except ChainMovedError:
                moves += 1
                if moves > MAX_MOVES:
                    raise
                start = await self.check_reorg(start - 1) + 1
                tracked = self._tracked()
                continue
            hashes = {header.number: header.hash for header in window.headers}
            evaluation = self.matcher.evaluate(
                window.transfers,
                hashes,
                tracked,
                self.state.candidates(self.chain_id),
                now=window.headers[-1].timestamp,
            )
            raised = self.state.commit_window(
                self.chain_id,
                window.headers,
                evaluation.alerts,
                evaluation.discovered,
                sinks=self.sinks,
                learned=evaluation.learned,
                candidates=evaluation.candidates,
                dropped=evaluation.dropped,
            )
            tracked = self._tracked()
            self.result.alerts += raised
            if self.result.scanned_from is None:
                self.result.scanned_from = start
            self.result.scanned_to = end
            self.windows += 1
            test_pause(PAUSE_AFTER_WINDOWS_ENV, self.windows)
            await self.deliver()
            start = end + 1

    def _tracked(self) -> list[Tracking]:
        seeds = set(self.matcher.seeds)
        return seed_trackings(self.watchlist) + [
            t for t in self.state.tracked(self.chain_id) if t.seed in seeds
        ]

    async def retract_orphans(self, cursor: int) -> None:
        orphans = [o for o in self.state.orphans(self.chain_id) if o.block_number <= cursor]
        if not orphans:
            return
        hashes = sorted({orphan.transaction_hash for orphan in orphans})
        calls = [RpcCall("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes]
        receipts = dict(zip(hashes, await self.reader.client.batch(calls), strict=True))
        for orphan in orphans:
            receipt = receipts.get(orphan.transaction_hash)
            mined_at = _block_of(receipt)
            if mined_at is not None and mined_at > cursor:
                continue  # mined again in a block not confirmed yet: re-raised when it is
            self.state.retract(self.chain_id, orphan, self.sinks)
            self.result.retracted += 1


def _block_of(receipt: Any) -> int | None:
    if not isinstance(receipt, dict) or not isinstance(receipt.get("blockNumber"), str):
        return None
    try:
        return int(receipt["blockNumber"], 16)
    except ValueError:
        return None


async def run_pass(
    watchlist: Watchlist, options: MonitorOptions, *, stop: asyncio.Event | None = None
) -> PassResult:
    """One pass over the confirmed blocks after the cursor."""
    started = time.perf_counter()
    limits = EndpointLimits(requests_per_second=options.requests_per_second, max_concurrent=4)
    async with Transport(retry=options.retry) as transport:
        client = JsonRpcClient(transport, options.rpc_url, limits=limits)
        reader = BlockReader(client, final_depth=max(options.confirmations, CACHE_DEPTH))
        try:
            # Everything the node must answer before the state may change.
            chain_id = await reader.chain_id()
            head = await reader.head()
            await reader.trace_path()
            result = PassResult(chain_id=chain_id, head=head)
            safe = head - options.confirmations
            with contextlib.ExitStack() as stack:
                state = stack.enter_context(MonitorState(options.state_path))
                if options.cache_path is not None:
                    reader.cache = stack.enter_context(ResponseCache(options.cache_path))
                run = _Pass(
                    watchlist, options, reader=reader, state=state, chain_id=chain_id, result=result
                )
                if run.jsonl is not None:
                    run.jsonl.reconcile(state)
                await run.deliver()  # what earlier passes left pending goes first
                cursor = await run.begin(safe)
                cursor = await run.check_reorg(cursor)
                await run.scan(cursor, safe, stop)
                await run.retract_orphans(state.cursor(chain_id) or 0)
                await run.deliver()
                counts = state.pending_counts()
                result.pending = {sink: counts.get(sink, 0) for sink in run.sinks}
                result.unconfigured_pending = sum(
                    count for sink, count in counts.items() if sink not in run.sinks
                )
        finally:
            stats = transport.stats().values()
            requests = sum(s.http_requests for s in stats), sum(s.rpc_calls for s in stats)
    result.http_requests, result.rpc_calls = requests
    result.seconds = time.perf_counter() - started
    return result


async def run_forever(
    watchlist: Watchlist,
    options: MonitorOptions,
    interval: float,
    report: Callable[[PassResult | SourceError], None],
) -> None:
    """Pass after pass, ``interval`` seconds apart, until SIGTERM or SIGINT; a pass in
    progress finishes its current window first. A failing node is reported and retried at
    the next interval; input errors end the loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        while not stop.is_set():
            try:
                report(await run_pass(watchlist, options, stop=stop))
            except SourceError as error:
                report(error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
