"""The JSON-RPC source: every transfer touching an address, from any EVM node.

Fetching only (design rule 2): this module decides what to ask the node and hands the raw
answers to the pure normalisers in :mod:`tracer.transfers.from_rpc`.

* **Tokens** (ERC-20/721/1155) always come from ``eth_getLogs``: four filters per block
  window, with the padded address in topic 1 (``Transfer`` from), topic 2 (``Transfer`` to),
  topic 2 (``TransferSingle``/``TransferBatch`` from) and topic 3 (their to), sent as one batch.
* **Native and internal value** come from the best tracing API the node offers, probed once
  (:meth:`JsonRpcSource.capabilities`), in this order of preference:

  ``trace_filter`` (Erigon, reth, Nethermind, anvil)
      ``fromAddress`` and ``toAddress`` as two filters per window (nodes disagree on whether
      giving both means "and" or "or"), always with explicit hex block numbers.
  ``ots`` (Erigon, anvil, reth)
      ``ots_searchTransactionsAfter`` pages through the address's transactions (the index
      includes transactions that reach it only by internal call), then
      ``ots_getInternalOperations`` for each.
  ``callTracer`` (geth)
      ``debug_traceBlockByNumber`` with the callTracer over every non-empty block of the range.
      geth has no per-address index, so this costs one trace per block: fine for a local node,
      slow over a long range.
  ``blocks`` (no tracing API)
      native value from full blocks; internal transfers are missing, and a warning says so.

* **Ranges** are fetched in windows. A provider's range or result cap (identified by code, see
  :mod:`tracer.sources.rpcclient`) halves the window that hit it, and the smaller size is
  remembered for the rest of the run, per method.
* **Context**: receipts (success, effective gas price) and block timestamps are fetched in
  batches only for the transactions and blocks that produced rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, cast

import polars as pl

from tracer.chains import chain_by_id
from tracer.errors import (
    ChainMismatchError,
    RangeTooLargeError,
    ResponseFormatError,
    RpcError,
    SourceError,
)
from tracer.sources.rpcclient import METHOD_NOT_FOUND_CODES, JsonRpcClient, RpcCall
from tracer.sources.transport import EndpointLimits, Transport, gather_all, request_key
from tracer.transfers import from_rpc
from tracer.transfers.from_rpc import Normalised, ReceiptFacts
from tracer.transfers.schema import empty_transfers
from tracer.transfers.topics import (
    TRANSFER_BATCH_TOPIC,
    TRANSFER_SINGLE_TOPIC,
    TRANSFER_TOPIC,
)
from tracer.types import Address, parse_address

log = logging.getLogger(__name__)

# Otterscan API level from which ots_getInternalOperations and ots_search* exist as used
# here (Erigon and anvil report 8).
MIN_OTS_API_LEVEL: Final = 8
LOGS_SOURCE: Final = "rpc:eth_getLogs"


class TracePath(StrEnum):
    """Where native and internal value come from."""

    TRACE_FILTER = "trace_filter"
    OTTERSCAN = "ots"
    CALL_TRACER = "callTracer"
    BLOCKS = "blocks"  # no tracing API: native value only

    @property
    def source(self) -> str:
        """The ``source`` column of the rows this path produces."""
        return f"rpc:{self.value}"


_PREFERENCE: Final = (TracePath.TRACE_FILTER, TracePath.OTTERSCAN, TracePath.CALL_TRACER)


@dataclass(frozen=True)
class Capabilities:
    """What the node answered to the probes; ``refusals`` says why a path is unavailable."""

    trace_filter: bool
    otterscan: bool
    call_tracer: bool
    refusals: Mapping[TracePath, str] = field(default_factory=dict)

    def supports(self, path: TracePath) -> bool:
        return {
            TracePath.TRACE_FILTER: self.trace_filter,
            TracePath.OTTERSCAN: self.otterscan,
            TracePath.CALL_TRACER: self.call_tracer,
            TracePath.BLOCKS: True,
        }[path]

    def best_path(self) -> TracePath:
        return next((path for path in _PREFERENCE if self.supports(path)), TracePath.BLOCKS)


@dataclass
class _Window:
    """A block-window size shared by every range query of one method."""

    method: str
    size: int
    confirmed: bool = False  # a window of about this size has worked


@dataclass(frozen=True)
class _Answer:
    """One request and the node's answer to it."""

    call: RpcCall
    result: Any
    key: str


# A step that converts raw answers into rows, given the context fetched afterwards.
_Convert = Callable[[Mapping[int, int], Mapping[str, ReceiptFacts]], Normalised]


def _padded(address: Address) -> str:
    return "0x" + "0" * 24 + address[2:]


class JsonRpcSource:
    """Transfers touching an address, from one JSON-RPC endpoint.

    ``trace_path`` forces a path instead of probing (a conformance suite runs every path
    against one node). ``expected_chain_id`` makes the first request check the node's chain.
    Window sizes are where the adaptive splitting starts; anvil caps ``trace_filter`` at 300
    blocks, Infura and others cap logs at 10,000 (or fewer when results are many).
    """

    def __init__(
        self,
        client: JsonRpcClient,
        *,
        expected_chain_id: int | None = None,
        trace_path: TracePath | None = None,
        logs_window: int = 10_000,
        trace_window: int = 1_000,
        parallel_windows: int = 4,
        ots_page_size: int = 100,
        block_batch: int = 20,
        tx_batch: int = 100,
    ) -> None:
        if min(logs_window, trace_window, parallel_windows, ots_page_size, block_batch) < 1:
            raise ValueError("window sizes, page sizes and parallelism must be at least 1")
        self.client = client
        self.expected_chain_id = expected_chain_id
        self._forced_path = trace_path
        self._logs_window = _Window("eth_getLogs", logs_window)
        self._trace_window = _Window("trace_filter", trace_window)
        self._parallel_windows = parallel_windows
        self._ots_page_size = ots_page_size
        self._block_batch = block_batch
        self._tx_batch = tx_batch
        self._chain_id: int | None = None
        self._native_symbol: str | None = None
        self._capabilities: Capabilities | None = None
        self._path: TracePath | None = None
        self._lock = asyncio.Lock()  # one capability probe, however many callers
        self._chain_lock = asyncio.Lock()
        # What the normalisers skipped, summed over the run (for coverage reports).
        self.skipped: dict[from_rpc.SkipReason, int] = {}

    @classmethod
    def connect(
        cls,
        transport: Transport,
        url: str,
        *,
        limits: EndpointLimits | None = None,
        max_batch_size: int = 100,
        **options: Any,
    ) -> JsonRpcSource:
        """A source for ``url`` on the run's transport (options as for the constructor)."""
        client = JsonRpcClient(transport, url, limits=limits, max_batch_size=max_batch_size)
        return cls(client, **options)

    @property
    def window_sizes(self) -> dict[str, int]:
        """The block-window sizes currently in use (smaller after a provider cap)."""
        return {w.method: w.size for w in (self._logs_window, self._trace_window)}

    # -- identity and capabilities -------------------------------------------------------

    async def chain_id(self) -> int:
        """The node's chain id (asked once); a mismatch with the expected one is an error."""
        async with self._chain_lock:
            if self._chain_id is None:
                answer = await self.client.call("eth_chainId")
                chain_id = _quantity(answer, "eth_chainId", self.client)
                if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
                    raise ChainMismatchError(
                        self.client.endpoint.where, self.expected_chain_id, chain_id
                    )
                known = chain_by_id(chain_id)
                self._native_symbol = known.native_symbol if known else None
                self._chain_id = chain_id
            return self._chain_id

    async def head_block(self) -> int:
        await self.chain_id()
        return _quantity(await self.client.call("eth_blockNumber"), "eth_blockNumber", self.client)

    async def capabilities(self) -> Capabilities:
        """Probe the tracing APIs once (one batch) and remember the answer."""
        async with self._lock:
            if self._capabilities is None:
                self._capabilities = await self._probe()
            return self._capabilities

    async def trace_path(self) -> TracePath:
        """The forced path, or the best one the node supports (warning when none)."""
        if self._forced_path is not None:
            return self._forced_path
        if self._path is None:
            capabilities = await self.capabilities()
            path = capabilities.best_path()
            if path is TracePath.BLOCKS and self._path is None:
                log.warning(
                    "%s offers no tracing API (trace_filter: %s; ots: %s; callTracer: %s). "
                    "Internal transfers (value moved by contract calls: mixer withdrawals, "
                    "exchange deposit forwarders, swaps paid out in ETH) will be MISSING; "
                    "native transfers are read from whole blocks, which is slow over long "
                    "ranges. Use an archive node with trace_* or ots_* for complete results.",
                    self.client.endpoint.where,
                    capabilities.refusals.get(TracePath.TRACE_FILTER, "?"),
                    capabilities.refusals.get(TracePath.OTTERSCAN, "?"),
                    capabilities.refusals.get(TracePath.CALL_TRACER, "?"),
                )
            self._path = path
        return self._path

    async def _probe(self) -> Capabilities:
        head = await self.head_block()
        probes = [
            RpcCall(
                "trace_filter",
                [{"fromBlock": hex(head), "toBlock": hex(head), "toAddress": ["0x" + "00" * 20]}],
            ),
            RpcCall("ots_getApiLevel"),
            RpcCall("debug_traceBlockByNumber", [hex(head), {"tracer": "callTracer"}]),
        ]
        trace, ots, call_tracer = await self.client.batch_settled(probes)
        refusals: dict[TracePath, str] = {}

        def usable(path: TracePath, outcome: Any, valid: Callable[[Any], bool]) -> bool:
            if isinstance(outcome, RpcError):
                missing = outcome.code in METHOD_NOT_FOUND_CODES
                refusals[path] = "not offered" if missing else f"error {outcome.code}"
                return False
            if not valid(outcome):
                refusals[path] = "unexpected answer"
                return False
            return True

        capabilities = Capabilities(
            trace_filter=usable(TracePath.TRACE_FILTER, trace, lambda r: isinstance(r, list)),
            otterscan=usable(
                TracePath.OTTERSCAN,
                ots,
                lambda r: isinstance(r, int) and r >= MIN_OTS_API_LEVEL,
            ),
            call_tracer=usable(TracePath.CALL_TRACER, call_tracer, lambda r: isinstance(r, list)),
            refusals=refusals,
        )
        log.info(
            "%s capabilities: trace_filter=%s ots=%s callTracer=%s",
            self.client.endpoint.where,
            capabilities.trace_filter,
            capabilities.otterscan,
            capabilities.call_tracer,
        )
        return capabilities

    # -- the public query ----------------------------------------------------------------

    async def transfers_for_address(
        self, address: Address | str, from_block: int, to_block: int
    ) -> pl.DataFrame:
        """Every transfer from or to ``address`` in blocks ``from_block..to_block`` (inclusive),
        as a canonical table in the transfer schema."""
        wanted = parse_address(address)
        if from_block < 0:
            raise ValueError(f"invalid block range {from_block}..{to_block}")
        if to_block < from_block:
            return empty_transfers()  # an empty range: nothing to ask for
        chain_id = await self.chain_id()
        path = await self.trace_path()
        value_steps = {
            TracePath.TRACE_FILTER: self._trace_filter_steps,
            TracePath.OTTERSCAN: self._ots_steps,
            TracePath.CALL_TRACER: self._call_tracer_steps,
            TracePath.BLOCKS: self._block_steps,
        }[path]
        token_steps, native_steps = await gather_all(
            [
                self._log_steps(chain_id, wanted, from_block, to_block),
                value_steps(chain_id, wanted, from_block, to_block),
            ]
        )
        steps = [*token_steps, *native_steps]
        # First pass without context, only to learn which transactions and blocks matter.
        draft = _touching(from_rpc.merge(step({}, {}) for step in steps).transfers, wanted)
        if draft.height == 0:
            return empty_transfers()
        times_task = self._block_times(draft["block_number"].unique().sort().to_list())
        receipts_task = self._receipts(draft["transaction_hash"].unique().sort().to_list())
        context = await gather_all([times_task, receipts_task])
        block_times = cast(dict[int, int], context[0])
        receipts = cast(dict[str, ReceiptFacts], context[1])
        result = from_rpc.merge(step(block_times, receipts) for step in steps)
        for reason, count in result.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count
        return _touching(result.transfers, wanted)

    # -- tokens ---------------------------------------------------------------------------

    async def _log_steps(
        self, chain_id: int, address: Address, from_block: int, to_block: int
    ) -> list[_Convert]:
        padded = _padded(address)
        multi = [TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC]
        topic_filters: list[list[Any]] = [
            [TRANSFER_TOPIC, padded],  # ERC-20/721 from
            [TRANSFER_TOPIC, None, padded],  # ERC-20/721 to
            [multi, None, padded],  # ERC-1155 from (topic 1 is the operator)
            [multi, None, None, padded],  # ERC-1155 to
        ]

        def build(start: int, end: int) -> list[RpcCall]:
            return [
                RpcCall(
                    "eth_getLogs",
                    [{"fromBlock": hex(start), "toBlock": hex(end), "topics": topics}],
                )
                for topics in topic_filters
            ]

        answers = await self._ranged(chain_id, from_block, to_block, self._logs_window, build)
        return [
            _step(
                from_rpc.transfers_from_logs,
                _list(answer.result, answer.call.method, self.client),
                chain_id=chain_id,
                source=LOGS_SOURCE,
                request_key=answer.key,
            )
            for answer in answers
        ]

    # -- native and internal value --------------------------------------------------------

    async def _trace_filter_steps(
        self, chain_id: int, address: Address, from_block: int, to_block: int
    ) -> list[_Convert]:
        def build(start: int, end: int) -> list[RpcCall]:
            window = {"fromBlock": hex(start), "toBlock": hex(end)}
            return [
                RpcCall("trace_filter", [{**window, "fromAddress": [address]}]),
                RpcCall("trace_filter", [{**window, "toAddress": [address]}]),
            ]

        answers = await self._ranged(chain_id, from_block, to_block, self._trace_window, build)
        traces = [_list(answer.result, "trace_filter", self.client) for answer in answers]
        # A filtered answer lacks the ancestors of a nested call, so whether a revert higher
        # up undid it would stay unknown. The whole trace of those transactions settles it;
        # its steps come first, so its rows win the de-duplication.
        nested = sorted(
            {
                trace["transactionHash"]
                for answer_traces in traces
                for trace in answer_traces
                if isinstance(trace, Mapping)
                and trace.get("traceAddress")
                and isinstance(trace.get("transactionHash"), str)
            }
        )
        calls = [RpcCall("trace_transaction", [tx_hash]) for tx_hash in nested]
        full = await self._batched(calls, self._tx_batch)
        requests = [
            (
                _list(result, call.method, self.client),
                request_key(chain_id, call.method, call.params),
            )
            for call, result in zip(calls, full, strict=True)
        ] + [
            (answer_traces, answer.key)
            for answer_traces, answer in zip(traces, answers, strict=True)
        ]
        return [
            _step(
                from_rpc.transfers_from_parity_traces,
                raw,
                chain_id=chain_id,
                source=TracePath.TRACE_FILTER.source,
                request_key=key,
                native_symbol=self._native_symbol,
            )
            for raw, key in requests
        ]

    async def _ots_steps(
        self, chain_id: int, address: Address, from_block: int, to_block: int
    ) -> list[_Convert]:
        transactions, pages = await self._ots_transactions(chain_id, address, from_block, to_block)
        calls = [RpcCall("ots_getInternalOperations", [tx["hash"]]) for tx in transactions]
        operations = await self._batched(calls, self._tx_batch)
        source = TracePath.OTTERSCAN.source
        steps: list[_Convert] = []
        for tx, call, ops in zip(transactions, calls, operations, strict=True):
            steps.append(
                _step(
                    from_rpc.transfers_from_ots_internal_operations,
                    _list(ops, call.method, self.client),
                    transaction=tx,
                    chain_id=chain_id,
                    source=source,
                    request_key=request_key(chain_id, call.method, call.params),
                    native_symbol=self._native_symbol,
                )
            )
        # The transactions' own value, for nodes (Erigon) whose operations leave it out.
        for key, page_transactions in pages:
            steps.append(
                _step(
                    from_rpc.transfers_from_transactions,
                    page_transactions,
                    chain_id=chain_id,
                    source=source,
                    request_key=key,
                    native_symbol=self._native_symbol,
                )
            )
        return steps

    async def _ots_transactions(
        self, chain_id: int, address: Address, from_block: int, to_block: int
    ) -> tuple[list[dict[str, Any]], list[tuple[str, list[dict[str, Any]]]]]:
        """The address's transactions in the range, oldest first, and the pages they came in.

        ``ots_searchTransactionsAfter(address, n, size)`` answers with transactions in blocks
        after ``n``, newest first, and ``firstPage`` once it reached the newest. A full page
        may end inside a block, so the next page restarts at the last block seen and
        duplicates are dropped by hash; a single block with more matches than a page doubles
        the page size.
        """
        seen: dict[str, dict[str, Any]] = {}
        pages: list[tuple[str, list[dict[str, Any]]]] = []
        cursor = max(0, from_block - 1)
        page_size = self._ots_page_size
        while True:
            params = [address, cursor, page_size]
            answer = await self.client.call("ots_searchTransactionsAfter", params)
            page = _ots_page(answer, self.client)
            in_range = [tx for tx in page if from_block <= _block_of(tx, self.client) <= to_block]
            new = [tx for tx in in_range if tx["hash"] not in seen]
            for tx in new:
                seen[tx["hash"]] = tx
            if new:
                key = request_key(chain_id, "ots_searchTransactionsAfter", params)
                pages.append((key, new))
            blocks = [_block_of(tx, self.client) for tx in page]
            if not page or answer.get("firstPage") is True or max(blocks) > to_block:
                break
            if len(page) < page_size:
                cursor = max(blocks)
            elif min(blocks) < max(blocks):
                cursor = max(blocks) - 1  # the newest block may continue on the next page
            else:
                page_size *= 2  # one block alone filled the page
        ordered = sorted(seen.values(), key=lambda tx: (_block_of(tx, self.client), tx["hash"]))
        return ordered, pages

    async def _call_tracer_steps(
        self, chain_id: int, address: Address, from_block: int, to_block: int
    ) -> list[_Convert]:
        headers = await self._headers(range(from_block, to_block + 1))
        busy = [
            (number, header["transactions"])
            for number, header in headers.items()
            if isinstance(header.get("transactions"), list) and header["transactions"]
        ]
        calls = [
            RpcCall("debug_traceBlockByNumber", [hex(number), {"tracer": "callTracer"}])
            for number, _ in busy
        ]
        traces = await self._batched(calls, self._block_batch)
        return [
            _step(
                from_rpc.transfers_from_geth_block_trace,
                _list(trace, call.method, self.client),
                block_number=number,
                transaction_hashes=hashes,
                chain_id=chain_id,
                source=TracePath.CALL_TRACER.source,
                request_key=request_key(chain_id, call.method, call.params),
                native_symbol=self._native_symbol,
            )
            for (number, hashes), call, trace in zip(busy, calls, traces, strict=True)
        ]

    async def _block_steps(
        self, chain_id: int, address: Address, from_block: int, to_block: int
    ) -> list[_Convert]:
        calls = [
            RpcCall("eth_getBlockByNumber", [hex(number), True])
            for number in range(from_block, to_block + 1)
        ]
        blocks = await self._batched(calls, self._block_batch)
        return [
            _step(
                from_rpc.transfers_from_blocks,
                [block],
                with_times=False,
                chain_id=chain_id,
                source=TracePath.BLOCKS.source,
                request_key=request_key(chain_id, call.method, call.params),
                native_symbol=self._native_symbol,
            )
            for call, block in zip(calls, blocks, strict=True)
            if isinstance(block, Mapping) and block.get("transactions")
        ]

    # -- context ---------------------------------------------------------------------------

    async def _headers(self, numbers: Iterable[int]) -> dict[int, Mapping[str, Any]]:
        calls = [RpcCall("eth_getBlockByNumber", [hex(number), False]) for number in numbers]
        blocks = await self._batched(calls, self.client.max_batch_size)
        headers: dict[int, Mapping[str, Any]] = {}
        for call, block in zip(calls, blocks, strict=True):
            if not isinstance(block, Mapping):
                raise ResponseFormatError(
                    f"{self.client.endpoint.where} has no block {call.params[0]} "
                    "(a pruned or lagging node?)"
                )
            headers[int(call.params[0], 16)] = block
        return headers

    async def _block_times(self, numbers: Sequence[int]) -> dict[int, int]:
        headers = await self._headers(numbers)
        return from_rpc.block_times_from_blocks(headers.values())

    async def _receipts(self, hashes: Sequence[str]) -> dict[str, ReceiptFacts]:
        calls = [RpcCall("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes]
        receipts = await self._batched(calls, self._tx_batch)
        return from_rpc.receipt_facts(receipts)

    # -- request plumbing ------------------------------------------------------------------

    async def _batched(self, calls: Sequence[RpcCall], size: int) -> list[Any]:
        """Results of ``calls`` in order, sent in batches of ``size``; any error raises."""
        chunks = [calls[start : start + size] for start in range(0, len(calls), size)]
        answered = await gather_all(self.client.batch(chunk) for chunk in chunks)
        return [result for chunk in answered for result in chunk]

    async def _ranged(
        self,
        chain_id: int,
        from_block: int,
        to_block: int,
        window: _Window,
        build: Callable[[int, int], list[RpcCall]],
    ) -> list[_Answer]:
        """Run the calls ``build(start, end)`` over the range, window by window.

        A window refused as too large shrinks ``window`` to half of it and goes back to be
        cut again. Until one window has worked, windows go one at a time, so finding the
        provider's cap costs one refusal per halving rather than one per parallel window.
        """
        done: dict[int, list[_Answer]] = {}
        unfetched: list[tuple[int, int]] = [(from_block, to_block)]

        async def fetch(start: int, end: int) -> bool:
            calls = build(start, end)
            outcomes = await self.client.batch_settled(calls)
            refused = [o for o in outcomes if isinstance(o, RangeTooLargeError)]
            if refused:
                if start == end:
                    raise refused[0]
                half = (end - start + 1) // 2
                if half < window.size:
                    window.size = half
                    log.info(
                        "%s caps %s ranges (error %d): trying %d-block windows",
                        self.client.endpoint.where,
                        window.method,
                        refused[0].code,
                        half,
                    )
                return False
            for outcome in outcomes:
                if isinstance(outcome, SourceError):
                    raise outcome
            window.confirmed = True
            done[start] = [
                _Answer(call, result, request_key(chain_id, call.method, call.params))
                for call, result in zip(calls, outcomes, strict=True)
            ]
            return True

        while unfetched:
            parallel = self._parallel_windows if window.confirmed else 1
            wave: list[tuple[int, int]] = []
            while unfetched and len(wave) < parallel:
                start, end = unfetched.pop(0)
                piece_end = min(end, start + window.size - 1)
                wave.append((start, piece_end))
                if piece_end < end:
                    unfetched.insert(0, (piece_end + 1, end))
            fetched = await gather_all(fetch(start, end) for start, end in wave)
            unfetched += [span for span, ok in zip(wave, fetched, strict=True) if not ok]
            unfetched.sort()
        return [answer for start in sorted(done) for answer in done[start]]


def _step(
    convert: Callable[..., Normalised], raw: Any, *, with_times: bool = True, **fixed: Any
) -> _Convert:
    """Bind a normaliser to its raw answer; the context is supplied when known."""

    def run(block_times: Mapping[int, int], receipts: Mapping[str, ReceiptFacts]) -> Normalised:
        if with_times:
            return convert(raw, block_times=block_times, receipts=receipts, **fixed)
        return convert(raw, receipts=receipts, **fixed)  # full blocks carry their own times

    return run


def _touching(frame: pl.DataFrame, address: Address) -> pl.DataFrame:
    return frame.filter((pl.col("from_address") == address) | (pl.col("to_address") == address))


def _quantity(answer: Any, method: str, client: JsonRpcClient) -> int:
    if isinstance(answer, str) and answer.startswith("0x"):
        try:
            return int(answer, 16)
        except ValueError:
            pass
    raise ResponseFormatError(
        f"{client.endpoint.where} answered {method} with {str(answer)[:40]!r}, not a quantity"
    )


def _list(answer: Any, method: str, client: JsonRpcClient) -> list[Any]:
    if isinstance(answer, list):
        return answer
    raise ResponseFormatError(f"{client.endpoint.where} answered {method} with a non-list")


def _ots_page(answer: Any, client: JsonRpcClient) -> list[dict[str, Any]]:
    txs = answer.get("txs") if isinstance(answer, Mapping) else None
    if not isinstance(txs, list) or not all(
        isinstance(tx, dict) and isinstance(tx.get("hash"), str) for tx in txs
    ):
        raise ResponseFormatError(
            f"{client.endpoint.where} answered ots_searchTransactionsAfter without a txs list"
        )
    return txs


def _block_of(tx: Mapping[str, Any], client: JsonRpcClient) -> int:
    return _quantity(tx.get("blockNumber"), "ots_searchTransactionsAfter", client)
