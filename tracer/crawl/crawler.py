"""The crawl loop: from seeds, follow value forward in time, address by address.

Only this module and ``tracer.sources`` await anything. The crawler asks a source for every
transfer touching an address from the block where traced value first reached it, then
queues the recipients of that address's later outflows. It stops expanding at labelled
services (their inflows are kept: they are where the trace ends) and at high-degree hubs,
and records for every address whether its history is complete, truncated (and why) or
failed (and why), so a report never passes off a partial crawl as a complete one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import polars as pl

from tracer.errors import SourceError
from tracer.labels.store import LabelStore
from tracer.transfers.schema import canonicalise, empty_transfers
from tracer.types import Address


class TransferSource(Protocol):
    """What the crawler needs from a source (JSON-RPC node, explorer API, replay)."""

    async def head_block(self) -> int: ...

    async def transfers_for_address(
        self, address: Address, from_block: int, to_block: int
    ) -> pl.DataFrame: ...


class CoverageStatus(StrEnum):
    COMPLETE = "complete"
    TRUNCATED = "truncated"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Coverage:
    address: Address
    hop: int
    from_block: int
    to_block: int
    status: CoverageStatus
    reason: str | None = None
    transfers: int = 0


@dataclass(frozen=True, slots=True)
class CrawlLimits:
    max_hops: int = 6
    max_addresses: int = 500
    max_transfers_per_address: int = 10_000
    # An address with more distinct counterparties than this is a hub (a service we have no
    # label for): its transfers are kept but it is not expanded.
    hub_degree: int = 200
    from_block: int = 0
    to_block: int | None = None
    concurrency: int = 8


@dataclass
class CrawlResult:
    transfers: pl.DataFrame
    coverage: dict[Address, Coverage] = field(default_factory=dict)
    head_block: int = 0


ProgressCallback = Callable[[int, int, int], None]  # (addresses done, queued, transfers)


@dataclass(slots=True)
class _Task:
    address: Address
    hop: int
    from_block: int


class Crawler:
    def __init__(
        self,
        source: TransferSource,
        labels: LabelStore,
        limits: CrawlLimits | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self._source = source
        self._labels = labels
        self._limits = limits or CrawlLimits()
        self._on_progress = on_progress
        self._frames: list[pl.DataFrame] = []
        self._coverage: dict[Address, Coverage] = {}
        # Earliest block fetched so far per address: a later discovery with an earlier
        # arrival block only needs the missing earlier range.
        self._fetched_from: dict[Address, int] = {}
        self._transfer_rows = 0

    async def crawl(self, seeds: Iterable[Address]) -> CrawlResult:
        limits = self._limits
        head = await self._source.head_block()
        to_block = min(head, limits.to_block) if limits.to_block is not None else head
        queue: asyncio.Queue[_Task] = asyncio.Queue()
        for seed in dict.fromkeys(seeds):
            queue.put_nowait(_Task(seed, 0, limits.from_block))

        async def worker() -> None:
            while True:
                task = await queue.get()
                try:
                    for follow_up in await self._visit(task, to_block):
                        queue.put_nowait(follow_up)
                finally:
                    queue.task_done()
                    self._report_progress(queue.qsize())

        workers = [asyncio.create_task(worker()) for _ in range(limits.concurrency)]
        try:
            await queue.join()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        frames = [frame for frame in self._frames if frame.height]
        table = canonicalise(pl.concat(frames)) if frames else empty_transfers()
        return CrawlResult(transfers=table, coverage=dict(self._coverage), head_block=to_block)

    async def _visit(self, task: _Task, to_block: int) -> list[_Task]:
        address = task.address
        already_from = self._fetched_from.get(address)
        if already_from is not None and task.from_block >= already_from:
            return []
        if already_from is None and len(self._fetched_from) >= self._limits.max_addresses:
            self._coverage.setdefault(
                address,
                Coverage(
                    address,
                    task.hop,
                    task.from_block,
                    to_block,
                    CoverageStatus.TRUNCATED,
                    f"address budget of {self._limits.max_addresses} reached; not fetched",
                ),
            )
            return []
        range_end = to_block if already_from is None else already_from - 1
        self._fetched_from[address] = task.from_block
        try:
            frame = await self._source.transfers_for_address(address, task.from_block, range_end)
        except SourceError as exc:
            self._coverage[address] = Coverage(
                address, task.hop, task.from_block, range_end, CoverageStatus.FAILED, str(exc)
            )
            return []
        status, reason = CoverageStatus.COMPLETE, None
        if frame.height > self._limits.max_transfers_per_address:
            status = CoverageStatus.TRUNCATED
            reason = f"more than {self._limits.max_transfers_per_address} transfers; kept the first"
            frame = frame.sort("block_number").head(self._limits.max_transfers_per_address)
        self._frames.append(frame)
        self._transfer_rows += frame.height

        counterparties = _counterparties(frame, address)
        is_service = self._labels.is_service(address)
        expand = task.hop < self._limits.max_hops and not is_service
        if is_service:
            status = CoverageStatus.TRUNCATED if status is CoverageStatus.COMPLETE else status
            reason = reason or "labelled service: not expanded"
        elif len(counterparties) > self._limits.hub_degree:
            expand = False
            status = CoverageStatus.TRUNCATED
            reason = f"hub with {len(counterparties)} counterparties: not expanded"
        self._coverage[address] = Coverage(
            address, task.hop, task.from_block, to_block, status, reason, frame.height
        )
        if not expand:
            return []
        return [
            _Task(recipient, task.hop + 1, block)
            for recipient, block in _outflow_recipients(frame, address, task.from_block)
        ]

    def _report_progress(self, queued: int) -> None:
        if self._on_progress is not None:
            self._on_progress(len(self._coverage), queued, self._transfer_rows)


def _counterparties(frame: pl.DataFrame, address: Address) -> set[str]:
    sent_to = frame.filter(pl.col("from_address") == address)["to_address"]
    received_from = frame.filter(pl.col("to_address") == address)["from_address"]
    return set(sent_to.to_list()) | set(received_from.to_list())


def _outflow_recipients(
    frame: pl.DataFrame, address: Address, from_block: int
) -> list[tuple[Address, int]]:
    """Recipients of value leaving ``address`` at or after ``from_block``, with first block."""
    outflows = (
        frame.filter(
            (pl.col("from_address") == address)
            & (pl.col("to_address") != address)
            & pl.col("tx_succeeded")
            & (pl.col("value_raw") != "0")
            & (pl.col("block_number") >= from_block)
            & pl.col("to_address").is_not_null()
        )
        .group_by("to_address")
        .agg(pl.col("block_number").min())
        .sort("block_number", "to_address")
    )
    return [(Address(row[0]), int(row[1])) for row in outflows.iter_rows()]
