"""JSON-RPC 2.0 over the transport: single calls, batches, and error classification by code.

Batches are matched to their answers by ``id`` (servers may answer out of order, and may
drop items), and only the items that failed retryably are sent again, in a smaller batch.

Which JSON-RPC error codes mean what is protocol knowledge, so it is data here, with its
sources. We never branch on the text of a message: where codes are ambiguous (-32005 is both
"rate limited" and "too many results" in EIP-1474's "Limit exceeded"), the method and the
structured ``data`` decide.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tracer.errors import (
    RangeTooLargeError,
    RateLimitedError,
    ResponseFormatError,
    RpcError,
    SourceError,
)
from tracer.sources.transport import Endpoint, EndpointLimits, Transport, gather_all

log = logging.getLogger(__name__)

# Read-only methods: the only ones ever retried (web3.py keeps a similar allowlist). Anything
# else (eth_sendRawTransaction, eth_sendTransaction, personal_*, anvil_*/evm_*, filter
# installation) may have taken effect even when its answer was lost, so it is sent once.
READ_ONLY_METHODS: Final = frozenset(
    {
        "web3_clientVersion",
        "net_version",
        "eth_chainId",
        "eth_blockNumber",
        "eth_syncing",
        "eth_gasPrice",
        "eth_feeHistory",
        "eth_getBalance",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_getTransactionCount",
        "eth_call",
        "eth_estimateGas",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockReceipts",
        "eth_getBlockTransactionCountByNumber",
        "eth_getBlockTransactionCountByHash",
        "eth_getTransactionByHash",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getTransactionReceipt",
        "eth_getLogs",
        "trace_filter",
        "trace_block",
        "trace_transaction",
        "trace_get",
        "trace_replayTransaction",
        "trace_replayBlockTransactions",
        "debug_traceTransaction",
        "debug_traceBlockByNumber",
        "debug_traceBlockByHash",
        "debug_traceCall",
        "ots_getApiLevel",
        "ots_hasCode",
        "ots_getInternalOperations",
        "ots_getTransactionError",
        "ots_traceTransaction",
        "ots_getBlockDetails",
        "ots_getBlockDetailsByHash",
        "ots_getBlockTransactions",
        "ots_searchTransactionsBefore",
        "ots_searchTransactionsAfter",
        "ots_getTransactionBySenderAndNonce",
        "ots_getContractCreator",
    }
)

# "Slow down" codes, for any method:
#   -32005  EIP-1474 "Limit exceeded"; Infura answers request-rate limits with it (and an
#           HTTP 429), Goldsky's Edge RPC normalises every provider's rate limit to it.
#   429     Alchemy's JSON-RPC code for "exceeded its compute units per second capacity".
RATE_LIMIT_CODES: Final = frozenset({-32005, 429})

# "This block range is too wide / matches too much": only for RANGE_METHODS, and only acted
# upon by splitting the range, never by retrying it as is:
#   -32005  EIP-1474 "Limit exceeded": Infura's documented "query returned more than 10000
#           results", Nethermind/Aurora result caps, Forest's block-range cap.
#   -32602  "Invalid params" as used for range caps: Infura's live 10,000-block cap, Alchemy's
#           log-response-size cap, reth, and anvil's 300-block trace_filter cap.
#   -32012  Goldsky Edge RPC's normalised "Range too large".
# A genuinely invalid parameter also gets -32602; halving then ends at a one-block range,
# where the error surfaces unchanged (a few wasted calls, never a wrong answer).
RANGE_LIMIT_CODES: Final = frozenset({-32005, -32602, -32012})
RANGE_METHODS: Final = frozenset({"eth_getLogs", "trace_filter"})

# "No such method here": JSON-RPC 2.0 -32601; EIP-1474 -32004 "Method not supported".
METHOD_NOT_FOUND_CODES: Final = frozenset({-32601, -32004})

# Keys of the structured ``data`` by which a -32005 on a range method is known to be a rate
# limit rather than a result cap (Infura: {"current_rps", "allowed_rps", "backoff_seconds"}).
_RATE_DATA_KEYS: Final = frozenset({"backoff_seconds", "current_rps", "allowed_rps"})
_MAX_MESSAGE: Final = 300


def _rate_hint(data: Any) -> tuple[bool, float | None]:
    """(data marks a rate limit, the back-off it asks for in seconds)."""
    if not isinstance(data, Mapping) or not _RATE_DATA_KEYS & data.keys():
        return False, None
    backoff = data.get("backoff_seconds")
    if isinstance(backoff, int | float) and not isinstance(backoff, bool) and backoff >= 0:
        return True, float(backoff)
    return True, None


def classify_rpc_error(
    endpoint: Endpoint, method: str, code: int, message: str, data: Any
) -> SourceError:
    """The typed error for one JSON-RPC error object (see the code tables above)."""
    shown = message[:_MAX_MESSAGE]
    is_rate_limit, backoff = _rate_hint(data)
    if method in RANGE_METHODS and code in RANGE_LIMIT_CODES and not is_rate_limit:
        return RangeTooLargeError(method, code, shown, data)
    if code in RATE_LIMIT_CODES:
        return RateLimitedError(
            f"{endpoint.where} is rate limiting {method} (JSON-RPC error {code})",
            retry_after=backoff,
            code=code,
        )
    return RpcError(method, code, shown, data)


@dataclass(frozen=True)
class RpcCall:
    method: str
    params: Sequence[Any] = ()


class _Pending:
    """Placeholder for an outcome not known yet."""


_PENDING: Final = _Pending()


class JsonRpcClient:
    """Calls and batches against one JSON-RPC endpoint, with the transport's retries.

    ``max_batch_size`` bounds one HTTP request (providers cap batches: geth at 1000 calls by
    default, many hosted providers lower). ``batching=False`` sends every call on its own for
    endpoints that reject batches.
    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        *,
        limits: EndpointLimits | None = None,
        headers: Mapping[str, str] | None = None,
        max_batch_size: int = 100,
        batching: bool = True,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self.transport = transport
        self.endpoint = transport.endpoint(url, limits=limits, headers=headers, label="RPC")
        self.max_batch_size = max_batch_size
        self.batching = batching
        self._ids = itertools.count(1)

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One call, sent as a plain (non-batch) request; raises a typed SourceError."""
        outcome = (await self._exchange([RpcCall(method, params)], as_batch=False))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def batch(self, calls: Iterable[RpcCall]) -> list[Any]:
        """Results in the order of ``calls``; raises the first error of any item."""
        outcomes = await self.batch_settled(calls)
        for outcome in outcomes:
            if isinstance(outcome, RpcError):
                raise outcome
        return outcomes

    async def batch_settled(self, calls: Iterable[RpcCall]) -> list[Any]:
        """Results in the order of ``calls``, with an :class:`RpcError` in place of each item
        the node answered with an error. Failures of the endpoint itself (unreachable, rate
        limits that outlast the retries, ...) are raised."""
        call_list = list(calls)
        if not call_list:
            return []
        if self.batching:
            chunks = [
                call_list[start : start + self.max_batch_size]
                for start in range(0, len(call_list), self.max_batch_size)
            ]
            as_batch = True
        else:
            chunks = [[call] for call in call_list]
            as_batch = False
        answered = await gather_all(self._exchange(chunk, as_batch=as_batch) for chunk in chunks)
        outcomes = [outcome for chunk_outcomes in answered for outcome in chunk_outcomes]
        for outcome in outcomes:
            if isinstance(outcome, SourceError) and not isinstance(outcome, RpcError):
                raise outcome
        return outcomes

    async def _exchange(self, calls: Sequence[RpcCall], *, as_batch: bool) -> list[Any]:
        """Send ``calls`` and retry the retryable failures of idempotent items, only those."""
        outcomes: list[Any] = [_PENDING] * len(calls)
        pending = list(range(len(calls)))
        attempt = 0
        while pending:
            attempt += 1
            ids = {next(self._ids): index for index in pending}
            payload = [
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": calls[index].method,
                    "params": list(calls[index].params),
                }
                for request_id, index in ids.items()
            ]
            try:
                answer = await self.transport.send_once(
                    self.endpoint,
                    json_body=payload if as_batch else payload[0],
                    calls=len(payload),
                )
                failures = self._match(answer, ids, calls, outcomes, as_batch=as_batch)
                for error in failures.values():
                    self.endpoint.stats.count_failure(error)
            except SourceError as error:  # the whole request failed (counted by the transport)
                failures = dict.fromkeys(pending, error)
            pending, delay = self._plan_retries(failures, calls, outcomes, attempt)
            if pending:
                self.endpoint.stats.retries += 1
                log.debug(
                    "%s: retrying %d of %d calls in %.2f s",
                    self.endpoint.display,
                    len(pending),
                    len(calls),
                    delay,
                )
                await asyncio.sleep(delay)
        return outcomes

    def _plan_retries(
        self,
        failures: Mapping[int, SourceError],
        calls: Sequence[RpcCall],
        outcomes: list[Any],
        attempt: int,
    ) -> tuple[list[int], float]:
        retry: list[int] = []
        delay = 0.0
        noted: set[int] = set()
        for index, error in failures.items():
            wait = None
            if calls[index].method in READ_ONLY_METHODS:
                wait = self.transport.retry_delay(self.endpoint, attempt, error)
            if wait is None:
                if error.retryable and attempt > 1 and id(error) not in noted:
                    error.add_note(f"{calls[index].method}: gave up after {attempt} attempts")
                    noted.add(id(error))
                outcomes[index] = error
            else:
                retry.append(index)
                delay = max(delay, wait)
        return retry, delay

    def _match(
        self,
        answer: Any,
        ids: Mapping[int, int],
        calls: Sequence[RpcCall],
        outcomes: list[Any],
        *,
        as_batch: bool,
    ) -> dict[int, SourceError]:
        """Store results by id; return the failures by call index."""
        where = self.endpoint.where
        if as_batch and isinstance(answer, Mapping) and "error" in answer:
            # One error for the whole batch (a provider refusing batches or rate limiting).
            return {index: self._item_error(answer, calls[index].method) for index in ids.values()}
        items = self._items_of(answer, as_batch=as_batch)
        failures: dict[int, SourceError] = {}
        seen: set[int] = set()
        for item in items:
            if not isinstance(item, Mapping):
                raise ResponseFormatError(f"{where} sent a batch item that is not an object")
            request_id = item.get("id")
            index = ids.get(request_id) if isinstance(request_id, int) else None
            if index is None and request_id is None and not as_batch:
                # JSON-RPC 2.0 answers with id null when it could not read the request.
                index = next(iter(ids.values()))
            if index is None or index in seen:
                continue  # not ours (or a duplicate); a missing answer is handled below
            seen.add(index)
            if "error" in item:
                failures[index] = self._item_error(item, calls[index].method)
            elif "result" in item:
                outcomes[index] = item["result"]
            else:
                failures[index] = ResponseFormatError(
                    f"{where} answered {calls[index].method} with neither result nor error"
                )
        for index in ids.values():
            if index not in seen:
                failures[index] = ResponseFormatError(
                    f"{where} left {calls[index].method} unanswered in a batch"
                )
        return failures

    def _items_of(self, answer: Any, *, as_batch: bool) -> list[Any]:
        where = self.endpoint.where
        if as_batch:
            if not isinstance(answer, list):
                raise ResponseFormatError(f"{where} answered a batch with a non-list")
            return answer
        if not isinstance(answer, Mapping):
            raise ResponseFormatError(f"{where} answered a call with a non-object")
        return [answer]

    def _item_error(self, item: Mapping[str, Any], method: str) -> SourceError:
        error = item.get("error")
        code = error.get("code") if isinstance(error, Mapping) else None
        if not isinstance(error, Mapping) or not isinstance(code, int) or isinstance(code, bool):
            return ResponseFormatError(
                f"{self.endpoint.where} sent a malformed JSON-RPC error for {method}"
            )
        message = error.get("message")
        return classify_rpc_error(
            self.endpoint,
            method,
            code,
            message if isinstance(message, str) else "",
            error.get("data"),
        )
