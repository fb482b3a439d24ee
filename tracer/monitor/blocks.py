"""Reading whole block windows: every transfer in blocks ``start..end`` and their hashes.

The monitor's cost must grow with new blocks, not with watched addresses, so nothing here is
filtered by address: one ``eth_getLogs`` for the token Transfer topics over the window, the
native and internal value of the whole window from the best tracing API (``trace_filter``
over the range, else ``debug_traceBlockByNumber`` per block, else full blocks), and one batch
of headers for the block hashes. Answers are normalised by the pure functions of
:mod:`tracer.transfers.from_rpc`, and every log and trace must carry the hash of the header
read with it: a reorg between the reads raises :class:`ChainMovedError` instead of mixing
two forks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from tracer.chains import chain_by_id
from tracer.errors import RangeTooLargeError, ResponseFormatError, SourceError
from tracer.sources.cache import MISS, CacheEntry, ResponseCache, final_through
from tracer.sources.jsonrpc import JsonRpcSource, TracePath
from tracer.sources.rpcclient import JsonRpcClient, RpcCall
from tracer.sources.transport import request_key
from tracer.transfers import from_rpc
from tracer.transfers.from_rpc import Normalised
from tracer.transfers.topics import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC

log = logging.getLogger(__name__)

LOGS_SOURCE: Final = "rpc:eth_getLogs"
_TOPICS: Final = [[TRANSFER_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC]]


class ChainMovedError(SourceError):
    """The node switched forks while a window was read; the caller checks for a reorg."""

    retryable = True


@dataclass(frozen=True)
class Header:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


@dataclass(frozen=True)
class BlockWindow:
    """Blocks ``start..end``: their headers in order and every transfer in them."""

    headers: tuple[Header, ...]
    transfers: pl.DataFrame
    skipped: Mapping[str, int]


class BlockReader:
    """Whole-window reads from one endpoint; the tracing API is probed once.

    With a ``cache`` (the answer cache of :mod:`tracer.sources.cache`, shareable with
    ``tracer trace`` and between monitors of one chain), window reads are answered from it
    when present, and answers for blocks at least ``final_depth`` below the head are stored:
    a re-run after a crash, or a second monitor with another watchlist, reads each final
    block from the node once. Reorg checks always ask the node.
    """

    def __init__(
        self,
        client: JsonRpcClient,
        *,
        expected_chain_id: int | None = None,
        cache: ResponseCache | None = None,
        final_depth: int = 12,
    ) -> None:
        self.client = client
        self._source = JsonRpcSource(client, expected_chain_id=expected_chain_id)
        self._path: TracePath | None = None
        self.cache = cache
        self.final_depth = final_depth

    async def chain_id(self) -> int:
        return await self._source.chain_id()

    async def head(self) -> int:
        return await self._source.head_block()

    async def _fetch(self, calls: Sequence[RpcCall]) -> list[Any]:
        """Outcomes of ``calls`` (an RpcError in place of a refused item), through the cache."""
        if self.cache is None:
            return await self.client.batch_settled(calls)
        chain_id = await self.chain_id()
        keys = [request_key(chain_id, call.method, call.params) for call in calls]
        outcomes = self.cache.get_many(keys)
        missing = [index for index, outcome in enumerate(outcomes) if outcome is MISS]
        if not missing:
            return outcomes
        answers = await self.client.batch_settled([calls[index] for index in missing])
        known = self._source.known_head
        safe = (known if known is not None else await self.head()) - self.final_depth
        entries: list[CacheEntry] = []
        for index, answer in zip(missing, answers, strict=True):
            outcomes[index] = answer
            call = calls[index]
            if isinstance(answer, SourceError):
                continue
            through = final_through(call.method, call.params, answer, safe_head=safe)
            if through is not None:
                entries.append(CacheEntry(keys[index], chain_id, call.method, through, answer))
        self.cache.put_many(entries)
        return outcomes

    async def _fetch_all(self, calls: Sequence[RpcCall]) -> list[Any]:
        outcomes = await self._fetch(calls)
        for outcome in outcomes:
            if isinstance(outcome, SourceError):
                raise outcome
        return outcomes

    async def trace_path(self) -> TracePath:
        if self._path is None:
            path = (await self._source.capabilities()).best_path()
            if path is TracePath.OTTERSCAN:
                path = TracePath.BLOCKS  # ots indexes per address: no whole-block reads
            if path is TracePath.BLOCKS:
                log.warning(
                    "%s has no trace_filter or callTracer: internal transfers are not watched",
                    self.client.endpoint.where,
                )
            self._path = path
        return self._path

    async def headers(self, numbers: Sequence[int], *, fresh: bool = True) -> dict[int, Header]:
        """Headers of existing blocks (a number beyond the head is left out); ``fresh``:
        from the node, never the cache (what a reorg check compares with)."""
        calls = [RpcCall("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        blocks = await (self.client.batch(calls) if fresh else self._fetch_all(calls))
        found: dict[int, Header] = {}
        for block in blocks:
            if block is not None:
                header = self._header(block)
                found[header.number] = header
        return found

    def _header(self, block: Any) -> Header:
        try:
            return Header(
                number=int(block["number"], 16),
                hash=_hash(block["hash"]),
                parent_hash=_hash(block["parentHash"]),
                timestamp=int(block["timestamp"], 16),
            )
        except (KeyError, TypeError, ValueError):
            raise ResponseFormatError(
                f"{self.client.endpoint.where} sent a block header without number, hash, "
                "parentHash or timestamp"
            ) from None

    async def read(self, start: int, end: int) -> BlockWindow:
        """Every transfer in blocks ``start..end`` (inclusive) and their headers."""
        chain_id = await self.chain_id()
        known = chain_by_id(chain_id)
        native = known.native_symbol if known else None
        path = await self.trace_path()
        numbers = list(range(start, end + 1))
        full_blocks: list[Any] = []
        if path is TracePath.BLOCKS:
            calls = [RpcCall("eth_getBlockByNumber", [hex(n), True]) for n in numbers]
            full_blocks = await self._fetch_all(calls)
            if any(block is None for block in full_blocks):
                raise ChainMovedError(f"block {start}..{end} is not there any more")
            by_number = {h.number: h for h in (self._header(b) for b in full_blocks)}
        else:
            by_number = await self.headers(numbers, fresh=False)
        if sorted(by_number) != numbers:
            raise ChainMovedError(f"block {start}..{end} is not there any more")
        headers = tuple(by_number[n] for n in numbers)
        hashes = {header.number: header.hash for header in headers}
        times = {header.number: header.timestamp for header in headers}
        logs = await self._ranged("eth_getLogs", start, end, lambda a, b: {"topics": _TOPICS})
        _check_hashes(logs, hashes)
        parts = [
            from_rpc.transfers_from_logs(
                logs, chain_id=chain_id, source=LOGS_SOURCE, block_times=times
            )
        ]
        if path is TracePath.TRACE_FILTER:
            traces = await self._ranged("trace_filter", start, end, lambda a, b: {})
            _check_hashes(traces, hashes)
            parts.append(
                from_rpc.transfers_from_parity_traces(
                    traces,
                    chain_id=chain_id,
                    source=path.source,
                    block_times=times,
                    native_symbol=native,
                )
            )
        elif path is TracePath.CALL_TRACER:
            parts += await self._call_traces(chain_id, headers, times, native)
        else:
            parts.append(
                from_rpc.transfers_from_blocks(
                    full_blocks, chain_id=chain_id, source=path.source, native_symbol=native
                )
            )
        merged = from_rpc.merge(parts)
        return BlockWindow(
            headers, merged.transfers, {k.value: v for k, v in merged.skipped.items()}
        )

    async def _call_traces(
        self,
        chain_id: int,
        headers: Sequence[Header],
        times: Mapping[int, int],
        native: str | None,
    ) -> list[Normalised]:
        calls = [
            RpcCall("debug_traceBlockByHash", [header.hash, {"tracer": "callTracer"}])
            for header in headers
        ]
        answers = await self.client.batch(calls)
        return [
            from_rpc.transfers_from_geth_block_trace(
                answer if isinstance(answer, list) else [],
                block_number=header.number,
                chain_id=chain_id,
                source=TracePath.CALL_TRACER.source,
                block_times=times,
                native_symbol=native,
            )
            for header, answer in zip(headers, answers, strict=True)
        ]

    async def _ranged(
        self,
        method: str,
        start: int,
        end: int,
        extra: Callable[[int, int], dict[str, Any]],
    ) -> list[Any]:
        """A range query over ``start..end``, halved wherever the provider caps the range."""
        pending = [(start, end)]
        items: list[Any] = []
        while pending:
            first, last = pending.pop(0)
            params = {"fromBlock": hex(first), "toBlock": hex(last), **extra(first, last)}
            [answer] = await self._fetch([RpcCall(method, [params])])
            if isinstance(answer, RangeTooLargeError) and first < last:
                middle = (first + last) // 2
                pending[:0] = [(first, middle), (middle + 1, last)]
                continue
            if isinstance(answer, SourceError):
                raise answer
            if not isinstance(answer, list):
                raise ResponseFormatError(
                    f"{self.client.endpoint.where} answered {method} with a non-list"
                )
            items += answer
        return items


def _hash(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise ValueError("not a 32-byte hash")
    return value.lower()


def _check_hashes(items: Sequence[Any], hashes: Mapping[int, str]) -> None:
    """Every log or trace must come from the block whose header was read with it."""
    for item in items:
        if not isinstance(item, Mapping):
            continue  # the normaliser counts it as malformed
        block_hash = item.get("blockHash")
        number = item.get("blockNumber")
        if not isinstance(block_hash, str):
            continue
        block = _block_number(number)
        if block is not None and block in hashes and hashes[block] != block_hash.lower():
            raise ChainMovedError(f"block {block} changed while it was read (a reorg)")


def _block_number(value: Any) -> int | None:
    """A log's hex ``blockNumber`` or a trace's integer one; None when unreadable (the
    normaliser then counts the item as malformed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None
