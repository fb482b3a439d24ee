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
* **Cache** (optional, :mod:`tracer.sources.cache`): every data request is looked up first
  and only the misses are sent; final answers are stored. Ranges are cut at the safe head
  (head minus ``confirmations``) so only their unconfirmed tail is ever asked again, and the
  windows a final range was fetched in are cached too (a *tiling*), so a re-run asks for
  exactly the windows that are stored, whatever the provider refused on the way. With
  :meth:`JsonRpcSource.assume` (chain id, head and trace path recorded by an earlier run) a
  fully cached run sends no request at all; the chain id and the trace path are checked
  against the node just before the first request that does go out. Learned window sizes are
  kept in the cache per chain, so a later crawl does not have to learn them again.
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
from tracer.protocols import events as protocol_events
from tracer.protocols.events import EVENT_SCHEMA
from tracer.protocols.specs import PROTOCOL_EVENTS, EventSpec
from tracer.sources.cache import (
    FOREVER,
    MISS,
    CacheEntry,
    CacheStats,
    ResponseCache,
    final_through,
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
from tracer.transfers.untrusted import SkipAccount, SkipReason, SkipsOverRun, SkipTally
from tracer.types import Address, parse_address, parse_tx_hash

log = logging.getLogger(__name__)

# Otterscan API level from which ots_getInternalOperations and ots_search* exist as used
# here (Erigon and anvil report 8).
MIN_OTS_API_LEVEL: Final = 8
LOGS_SOURCE: Final = "rpc:eth_getLogs"
# The cache entry recording which windows a block range was fetched in (not a node method).
TILING_METHOD: Final = "tracer:windows"


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


class JsonRpcSource(SkipsOverRun):
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
        cache: ResponseCache | None = None,
        confirmations: int = 12,
    ) -> None:
        if min(logs_window, trace_window, parallel_windows, ots_page_size, block_batch) < 1:
            raise ValueError("window sizes, page sizes and parallelism must be at least 1")
        if confirmations < 0:
            raise ValueError("confirmations must not be negative")
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
        self.cache = cache
        self.confirmations = confirmations
        # The highest head seen or assumed: a lower bound of the real head, so answers at or
        # below it minus ``confirmations`` are final.
        self._known_head: int | None = None
        # Values assumed from an earlier run, checked before the first real request.
        self._chain_checked = True
        self._assumed_path: TracePath | None = None
        self._windows_loaded = False
        self._skips = SkipTally()

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

    def assume(
        self,
        *,
        chain_id: int | None = None,
        head: int | None = None,
        trace_path: TracePath | None = None,
    ) -> None:
        """Take what an earlier run learned instead of asking: the chain id, a head (any
        block the chain is known to have reached) and the trace path. Nothing is sent now;
        the chain id and the path are checked against the node before the first request
        the cache cannot answer, so an offline re-run sends none at all."""
        if chain_id is not None:
            if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
                raise ChainMismatchError(
                    self.client.endpoint.where, self.expected_chain_id, chain_id
                )
            self._set_chain(chain_id)
            self._chain_checked = False
        if head is not None:
            self._note_head(head)
        if trace_path is not None and self._forced_path is None:
            self._path = trace_path
            self._assumed_path = trace_path

    @property
    def known_head(self) -> int | None:
        """The highest head asked or assumed so far (None before either)."""
        return self._known_head

    @property
    def probed(self) -> bool:
        """Whether the capabilities were probed (and a missing trace API logged)."""
        return self._capabilities is not None

    @property
    def cache_stats(self) -> CacheStats | None:
        return self.cache.stats if self.cache is not None else None

    def _set_chain(self, chain_id: int) -> None:
        known = chain_by_id(chain_id)
        self._native_symbol = known.native_symbol if known else None
        self._chain_id = chain_id

    def _note_head(self, head: int) -> None:
        self._known_head = head if self._known_head is None else max(self._known_head, head)

    async def chain_id(self) -> int:
        """The node's chain id (asked once unless assumed); a mismatch with the expected one
        is an error."""
        if self._chain_id is not None:
            return self._chain_id
        return await self._ask_chain_id()

    async def _ask_chain_id(self) -> int:
        async with self._chain_lock:
            if self._chain_id is None or not self._chain_checked:
                answer = await self.client.call("eth_chainId")
                chain_id = _quantity(answer, "eth_chainId", self.client)
                expected = self._chain_id if self._chain_id is not None else None
                expected = expected if expected is not None else self.expected_chain_id
                if expected is not None and chain_id != expected:
                    raise ChainMismatchError(self.client.endpoint.where, expected, chain_id)
                self._set_chain(chain_id)
                self._chain_checked = True
            assert self._chain_id is not None
            return self._chain_id

    async def _before_network(self) -> None:
        """Check what :meth:`assume` took on trust, once, before the first real request."""
        if not self._chain_checked:
            await self._ask_chain_id()
        assumed = self._assumed_path
        if assumed is not None and assumed is not TracePath.BLOCKS:
            capabilities = await self.capabilities()
            if not capabilities.supports(assumed):
                raise SourceError(
                    f"{self.client.endpoint.where} does not offer {assumed.value} "
                    f"({capabilities.refusals.get(assumed, 'refused')}), which this case was "
                    "traced with; use a node that does, or start a new case"
                )
            self._assumed_path = None

    async def head_block(self) -> int:
        await self._before_chain_request()
        head = _quantity(await self.client.call("eth_blockNumber"), "eth_blockNumber", self.client)
        self._note_head(head)
        return head

    async def _before_chain_request(self) -> None:
        if self._chain_id is None or not self._chain_checked:
            await self._ask_chain_id()

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
                log.warning("%s", self.missing_data_warning(capabilities))
            self._path = path
            if self.cache is not None:
                chain_id = await self.chain_id()
                self.cache.set_meta(f"trace_path/{chain_id}", path.value)
        return self._path

    def missing_data_warning(self, capabilities: Capabilities | None = None) -> str:
        """What is missing when the node offers no tracing API (the ``blocks`` path)."""
        refusals = capabilities or self._capabilities or Capabilities(False, False, False)
        reasons = refusals.refusals
        return (
            f"{self.client.endpoint.where} offers no tracing API "
            f"(trace_filter: {reasons.get(TracePath.TRACE_FILTER, '?')}; "
            f"ots: {reasons.get(TracePath.OTTERSCAN, '?')}; "
            f"callTracer: {reasons.get(TracePath.CALL_TRACER, '?')}). "
            "Internal transfers (value moved by contract calls: mixer withdrawals, exchange "
            "deposit forwarders, swaps paid out in ETH) will be MISSING; native transfers are "
            "read from whole blocks, which is slow over long ranges. Use an archive node with "
            "trace_* or ots_* for complete results."
        )

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
        frame, _skipped = await self.transfers_with_skips(address, from_block, to_block)
        return frame

    async def transfers_with_skips(
        self, address: Address | str, from_block: int, to_block: int
    ) -> tuple[pl.DataFrame, dict[SkipReason, int]]:
        """:meth:`transfers_for_address`, and what the normalisers skipped in the answers
        for this query (so a crawl can tell an address whose data came back incomplete)."""
        wanted = parse_address(address)
        if from_block < 0:
            raise ValueError(f"invalid block range {from_block}..{to_block}")
        if to_block < from_block:
            return empty_transfers(), {}  # an empty range: nothing to ask for
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
        first = from_rpc.merge(step({}, {}) for step in steps)
        draft = _touching(first.transfers, wanted)
        if draft.height == 0:
            return empty_transfers(), self._count_skips(first)
        times_task = self._block_times(draft["block_number"].unique().sort().to_list())
        receipts_task = self._receipts(draft["transaction_hash"].unique().sort().to_list())
        context = await gather_all([times_task, receipts_task])
        block_times = cast(dict[int, int], context[0])
        receipts = cast(dict[str, ReceiptFacts], context[1])
        result = from_rpc.merge(step(block_times, receipts) for step in steps)
        return _touching(result.transfers, wanted), self._count_skips(result)

    def _count_skips(self, account: SkipAccount) -> dict[SkipReason, int]:
        self._skips.merge(account)
        return dict(account.skipped)

    # -- protocol events and transaction facts --------------------------------------------

    async def events_for_contracts(
        self,
        addresses: Iterable[Address | str],
        topics: Sequence[str],
        from_block: int,
        to_block: int,
        *,
        specs: Sequence[EventSpec] = PROTOCOL_EVENTS,
    ) -> pl.DataFrame:
        """Every log the contracts emitted with one of ``topics`` (topic 0) in the blocks,
        decoded by ``specs`` into the events table: a pool's whole history in a window,
        the innocents' deposits and withdrawals included. Windows, cache and tilings as for
        token transfers."""
        wanted = sorted({parse_address(address) for address in addresses})
        if from_block < 0:
            raise ValueError(f"invalid block range {from_block}..{to_block}")
        if not wanted or not topics or to_block < from_block:
            return protocol_events.empty_events()
        chain_id = await self.chain_id()
        topic_filter = [sorted({topic.lower() for topic in topics})]

        def build(start: int, end: int) -> list[RpcCall]:
            window = {"fromBlock": hex(start), "toBlock": hex(end)}
            return [RpcCall("eth_getLogs", [{**window, "address": wanted, "topics": topic_filter}])]

        answers = await self._ranged(chain_id, from_block, to_block, self._logs_window, build)
        decoded = protocol_events.merge(
            (
                protocol_events.events_from_logs(
                    _list(answer.result, answer.call.method, self.client),
                    chain_id=chain_id,
                    source=LOGS_SOURCE,
                    request_key=answer.key,
                    specs=specs,
                )
                for answer in answers
            ),
            EVENT_SCHEMA,
        )
        self._count_skips(decoded)
        numbers = decoded.table["block_number"].unique().sort().to_list()
        return protocol_events.with_block_times(decoded.table, await self._block_times(numbers))

    async def transaction_facts(self, hashes: Iterable[str]) -> pl.DataFrame:
        """Sender, recipient, nonce, gas prices, type, index and status of each transaction
        (the transactions table); unknown hashes are left out."""
        facts, _events = await self.transactions_and_events(hashes)
        return facts

    async def events_in_transactions(
        self, hashes: Iterable[str], *, specs: Sequence[EventSpec] = PROTOCOL_EVENTS
    ) -> pl.DataFrame:
        """The protocol events the transactions emitted (from their receipts' logs)."""
        _facts, events = await self.transactions_and_events(hashes, specs=specs)
        return events

    async def transactions_and_events(
        self, hashes: Iterable[str], *, specs: Sequence[EventSpec] = PROTOCOL_EVENTS
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """:meth:`transaction_facts` and :meth:`events_in_transactions` from one batch of
        ``eth_getTransactionByHash`` and ``eth_getTransactionReceipt`` calls (both cached
        once final); mixer deposits get their depositor from the transaction's sender."""
        wanted = sorted({parse_tx_hash(tx_hash) for tx_hash in hashes})
        if not wanted:
            return protocol_events.empty_transactions(), protocol_events.empty_events()
        chain_id = await self.chain_id()
        calls = [RpcCall("eth_getTransactionByHash", [tx_hash]) for tx_hash in wanted] + [
            RpcCall("eth_getTransactionReceipt", [tx_hash]) for tx_hash in wanted
        ]
        answers = await self._batched(calls, self._tx_batch)
        transactions, receipts = answers[: len(wanted)], answers[len(wanted) :]
        facts = protocol_events.transactions_from_rpc(
            [tx for tx in transactions if tx is not None],
            [receipt for receipt in receipts if receipt is not None],
            chain_id=chain_id,
            source="rpc:eth_getTransactionByHash",
        )
        events = protocol_events.merge(
            (
                protocol_events.events_from_logs(
                    receipt["logs"],
                    chain_id=chain_id,
                    source="rpc:eth_getTransactionReceipt",
                    request_key=request_key(chain_id, call.method, call.params),
                    specs=specs,
                )
                for call, receipt in zip(calls[len(wanted) :], receipts, strict=True)
                if isinstance(receipt, Mapping) and isinstance(receipt.get("logs"), list)
            ),
            EVENT_SCHEMA,
        )
        self._count_skips(facts)
        self._count_skips(events)
        numbers = sorted(
            set(facts.table["block_number"].to_list()) | set(events.table["block_number"])
        )
        times = await self._block_times(numbers)
        table = protocol_events.with_block_times(facts.table, times)
        found = protocol_events.with_block_times(events.table, times)
        return table, protocol_events.with_tx_senders(found, table, specs)

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
        blocks = [_block_of(tx, self.client) for tx in transactions]
        operations = await self._batched(calls, self._tx_batch, blocks=blocks)
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
            call = RpcCall("ots_searchTransactionsAfter", params)
            [answer] = await self._settled([call], through=to_block, page_size=page_size)
            if isinstance(answer, SourceError):
                raise answer
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

    async def contracts_among(self, addresses: Sequence[Address], block: int) -> list[Address]:
        """The addresses that hold code at ``block`` (one batch, cached once final)."""
        calls = [RpcCall("eth_getCode", [address, hex(block)]) for address in addresses]
        answers = await self._settled(calls, through=block)
        found = []
        for address, answer in zip(addresses, answers, strict=True):
            if isinstance(answer, SourceError):
                raise answer
            if not isinstance(answer, str):
                kind = type(answer).__name__
                raise ResponseFormatError(
                    f"{self.client.endpoint.where} answered eth_getCode with {kind}, not code"
                )
            if answer not in ("0x", "0x0", ""):
                found.append(address)
        return found

    async def block_time(self, number: int) -> int:
        """The Unix timestamp of block ``number`` (cached once final)."""
        times = await self._block_times([number])
        if number not in times:
            raise ResponseFormatError(
                f"{self.client.endpoint.where} sent block {number} without a timestamp"
            )
        return times[number]

    async def _block_times(self, numbers: Sequence[int]) -> dict[int, int]:
        headers = await self._headers(numbers)
        return from_rpc.block_times_from_blocks(headers.values())

    async def _receipts(self, hashes: Sequence[str]) -> dict[str, ReceiptFacts]:
        calls = [RpcCall("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes]
        receipts = await self._batched(calls, self._tx_batch)
        return from_rpc.receipt_facts(receipts)

    # -- request plumbing ------------------------------------------------------------------

    async def _batched(
        self, calls: Sequence[RpcCall], size: int, *, blocks: Sequence[int] | None = None
    ) -> list[Any]:
        """Results of ``calls`` in order, sent in batches of ``size``; any error raises."""
        starts = range(0, len(calls), size)
        answered = await gather_all(
            self._settled(
                calls[start : start + size],
                blocks=None if blocks is None else blocks[start : start + size],
            )
            for start in starts
        )
        results = [result for chunk in answered for result in chunk]
        for result in results:
            if isinstance(result, SourceError):
                raise result
        return results

    async def _settled(
        self,
        calls: Sequence[RpcCall],
        *,
        through: int = 0,
        page_size: int | None = None,
        blocks: Sequence[int] | None = None,
    ) -> list[Any]:
        """Like :meth:`JsonRpcClient.batch_settled`, through the cache: hits are answered
        from it, only the misses are sent, and final answers are stored (one transaction).

        ``through``: the highest block the caller needs (for open-ended answers);
        ``blocks``: per call, the block its answer belongs to when the call does not say.
        """
        if not calls:
            return []
        cache = self.cache
        if cache is None:
            await self._before_network()
            return await self.client.batch_settled(calls)
        chain_id = await self.chain_id()
        keys = [request_key(chain_id, call.method, call.params) for call in calls]
        outcomes = cache.get_many(keys, through)
        missing = [index for index, outcome in enumerate(outcomes) if outcome is MISS]
        if not missing:
            return outcomes
        await self._before_network()
        answers = await self.client.batch_settled([calls[index] for index in missing])
        safe_head = await self._safe_head()
        entries: list[CacheEntry] = []
        for index, answer in zip(missing, answers, strict=True):
            outcomes[index] = answer
            if isinstance(answer, SourceError):
                continue
            call = calls[index]
            final = final_through(
                call.method,
                call.params,
                answer,
                safe_head=safe_head,
                block=None if blocks is None else blocks[index],
                page_size=page_size,
            )
            if final is not None:
                entries.append(CacheEntry(keys[index], chain_id, call.method, final, answer))
        cache.put_many(entries)
        return outcomes

    async def _safe_head(self) -> int:
        """Answers at or below this block are final (see ``confirmations``)."""
        head = self._known_head
        if head is None:
            head = await self.head_block()
        return head - self.confirmations

    def _load_windows(self, chain_id: int) -> None:
        """Start from the window sizes an earlier run learned for this chain, so that a
        re-run cuts its ranges as that run did and finds them in the cache."""
        if self._windows_loaded or self.cache is None:
            return
        self._windows_loaded = True
        for window in (self._logs_window, self._trace_window):
            learned = self.cache.meta(f"window/{chain_id}/{window.method}")
            if learned is not None and learned.isdigit() and 0 < int(learned) < window.size:
                window.size = int(learned)

    def _learned(self, chain_id: int, window: _Window) -> None:
        if self.cache is not None:
            self.cache.set_meta(f"window/{chain_id}/{window.method}", str(window.size))

    async def _ranged(
        self,
        chain_id: int,
        from_block: int,
        to_block: int,
        window: _Window,
        build: Callable[[int, int], list[RpcCall]],
    ) -> list[_Answer]:
        """Run the calls ``build(start, end)`` over the range, window by window.

        With a cache, the range is cut at the safe head first: the part below it is final,
        so a re-run only asks for the unconfirmed tail again.
        """
        self._load_windows(chain_id)
        spans = [(from_block, to_block)]
        if self.cache is not None and self._known_head is not None:
            safe = self._known_head - self.confirmations
            if from_block <= safe < to_block:
                spans = [(from_block, safe), (safe + 1, to_block)]
        answered = [await self._span(chain_id, start, end, window, build) for start, end in spans]
        return [answer for span_answers in answered for answer in span_answers]

    async def _span(
        self,
        chain_id: int,
        from_block: int,
        to_block: int,
        window: _Window,
        build: Callable[[int, int], list[RpcCall]],
    ) -> list[_Answer]:
        """One span, in the windows a cached earlier run used, or adaptively.

        Which windows a span was cut into depends on what the provider refused and on what
        the run had learned by then, so a re-run could not guess them: they are cached
        too, as a *tiling* entry named after the span's own (never sent) whole-range
        request. A re-run fetches exactly those windows, all from the cache.
        """
        cache = self.cache
        tiling_key = None
        if cache is not None:
            whole = [[call.method, call.params] for call in build(from_block, to_block)]
            tiling_key = request_key(chain_id, TILING_METHOD, whole)
            [tiling] = cache.get_many([tiling_key], count=False)
            if _is_tiling(tiling, from_block, to_block):
                return await self._windows(chain_id, [tuple(w) for w in tiling], window, build)
        answers, windows = await self._adaptive(chain_id, from_block, to_block, window, build)
        if cache is not None and tiling_key is not None and to_block <= await self._safe_head():
            entry = CacheEntry(tiling_key, chain_id, TILING_METHOD, FOREVER, windows)
            cache.put_many([entry])
        return answers

    async def _windows(
        self,
        chain_id: int,
        windows: list[tuple[int, ...]],
        window: _Window,
        build: Callable[[int, int], list[RpcCall]],
    ) -> list[_Answer]:
        """Fetch exactly these windows (from a cached tiling); adaptive if one is refused."""
        answers: list[_Answer] = []
        for start, end in windows:
            # Exactly this window first, whatever size the shared window has shrunk to.
            exact = _Window(window.method, end - start + 1, confirmed=True)
            answers += (await self._adaptive(chain_id, start, end, exact, build))[0]
        return answers

    async def _adaptive(
        self,
        chain_id: int,
        from_block: int,
        to_block: int,
        window: _Window,
        build: Callable[[int, int], list[RpcCall]],
    ) -> tuple[list[_Answer], list[list[int]]]:
        """Answers over the range and the windows they came from.

        A window refused as too large shrinks ``window`` to half of it and goes back to be
        cut again. Until one window has worked, windows go one at a time, so finding the
        provider's cap costs one refusal per halving rather than one per parallel window.
        """
        done: dict[int, tuple[int, list[_Answer]]] = {}
        unfetched: list[tuple[int, int]] = [(from_block, to_block)]

        async def fetch(start: int, end: int) -> bool:
            calls = build(start, end)
            outcomes = await self._settled(calls)
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
                    self._learned(chain_id, window)
                return False
            for outcome in outcomes:
                if isinstance(outcome, SourceError):
                    raise outcome
            window.confirmed = True
            done[start] = (
                end,
                [
                    _Answer(call, result, request_key(chain_id, call.method, call.params))
                    for call, result in zip(calls, outcomes, strict=True)
                ],
            )
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
        answers = [answer for start in sorted(done) for answer in done[start][1]]
        return answers, [[start, done[start][0]] for start in sorted(done)]


def _is_tiling(value: Any, from_block: int, to_block: int) -> bool:
    """Whether ``value`` is a list of [start, end] windows covering the span exactly."""
    if not isinstance(value, list) or not value:
        return False
    expected = from_block
    for item in value:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(n, int) for n in item)
            and item[0] == expected
            and item[1] >= item[0]
        ):
            return False
        expected = item[1] + 1
    return expected == to_block + 1


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
