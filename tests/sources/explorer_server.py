"""An explorer-compatible API for the tests, computed from a real local chain.

The server reads blocks, receipts (with their logs) and Parity traces from an anvil node over
JSON-RPC and answers ``module=account`` requests the way Etherscan v2 (``/v2/api`` with
``chainid`` and ``apikey``) or Blockscout (``/api``) do: the ``{"status", "message",
"result"}`` envelope, their field names, every number as a decimal string, ``status: "0"``
answers for empty results and errors. Nothing is taken from what a test expects: each request
first indexes any blocks mined since the last one, then filters, sorts and pages.

What it models of the real services, and where that knowledge comes from:

* Fields: Etherscan's documented examples for ``txlist``, ``txlistinternal`` (``traceId``, the
  Parity trace address joined by ``_``), ``tokentx``, ``tokennfttx`` and ``token1155tx``
  (plus ``logIndex``); Blockscout's RPC API view (``transactionHash`` and ``index`` instead of
  ``hash`` and ``traceId`` for internal transactions; EIP-55 addresses).
* Internal transactions listed: calls that move value, creations and selfdestructs, not the
  top-level call (Blockscout lists a top-level creation, at ``index`` 0). ``isError`` is
  ``"1"`` when the movement did not take effect: its own frame or an ancestor reverted, or the
  transaction failed (Parity's ``error`` marks only the failing frame).
* Paging: ``page x offset`` above the result window (10,000) answers "Result window is too
  large, ..."; ``record_cap`` truncates every answer silently, like the free tier's 1,000
  records per request from 2026-07.
* Rate limit: a token bucket of ``calls_per_second`` and ``burst``, or at most
  ``calls_per_second`` calls in each wall-clock second. Etherscan answers HTTP 200
  ``{"status": "0", "message": "NOTOK", "result": "Max rate limit reached"}``; Blockscout
  answers HTTP 429. Refused requests do not use up the budget.
* Keys (Etherscan only): none gives "Missing/Invalid API Key", a wrong one "Invalid API Key".
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import aiohttp
from aiohttp import web
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from tracer.transfers.topics import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC
from tracer.types import to_checksum_address

Record = dict[str, str]

_ACTIONS: Final = ("txlist", "txlistinternal", "tokentx", "tokennfttx", "token1155tx")
_MAX_BLOCK: Final = 99_999_999
_SELECTORS: Final = {"name": "0x06fdde03", "symbol": "0x95d89b41", "decimals": "0x313ce567"}
_BLOCKSCOUT_EMPTY: Final = {
    "txlist": "No transactions found",
    "txlistinternal": "No internal transactions found",
    "tokentx": "No token transfers found",
    "tokennfttx": "No token transfers found",
    "token1155tx": "No token transfers found",
}


class Flavor(StrEnum):
    ETHERSCAN = "etherscan"
    BLOCKSCOUT = "blockscout"


@dataclass(frozen=True)
class ServerConfig:
    flavor: Flavor = Flavor.ETHERSCAN
    chain_id: int = 31337
    api_key: str | None = "test-explorer-key"  # Etherscan only
    calls_per_second: float | None = None  # None: no rate limit
    burst: int | None = None  # bucket size; default one second's worth
    # "bucket": a token bucket; "second": at most calls_per_second in each wall-clock second
    # (a fixed window, the other common way to enforce "N calls per second").
    limit_style: str = "bucket"
    record_cap: int | None = None  # records per answer (the free tier's 1,000)
    result_window: int = 10_000
    disabled_actions: frozenset[str] = frozenset()  # answered like an unknown action
    # (transaction hash, field, value): served records of that transaction carry the value,
    # as a broken explorer would send them; the index itself stays true to the chain.
    tampered: tuple[tuple[str, str, str], ...] = ()


@dataclass
class ServerStats:
    requests: int = 0
    served: int = 0  # answered (any outcome but a rate-limit refusal)
    rate_limited: int = 0
    refused_keys: int = 0
    window_errors: int = 0
    records: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    served_at: list[float] = field(default_factory=list)  # monotonic times, for benchmarks


class _SecondWindow:
    def __init__(self, rate: float) -> None:
        self.calls = int(rate)
        self.second = -1
        self.used = 0

    def take(self) -> bool:
        second = int(time.time())
        if second != self.second:
            self.second, self.used = second, 0
        if self.used < self.calls:
            self.used += 1
            return True
        return False


class _TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Entry:
    """One record with what it is sorted and filtered by."""

    sort_key: tuple[int, int, int]
    block: int
    participants: frozenset[str]
    record: Record


@dataclass
class _Token:
    name: str
    symbol: str
    decimals: str


class ExplorerServer:
    """Serve ``config.flavor``'s API for the chain at ``rpc_url``; ``async with`` runs it."""

    def __init__(self, rpc_url: str, config: ServerConfig | None = None) -> None:
        self.rpc_url = rpc_url
        self.config = config or ServerConfig()
        self.stats = ServerStats()
        self._entries: dict[str, list[_Entry]] = {action: [] for action in _ACTIONS}
        self._by_address: dict[str, dict[str, list[_Entry]]] = {
            action: defaultdict(list) for action in _ACTIONS
        }
        self._tokens: dict[str, _Token] = {}
        self._indexed_to = -1
        self._head = 0
        self._sync_lock = asyncio.Lock()
        self._bucket = self._limiter()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._rpc_id = 0
        self.port = 0

    def _limiter(self) -> _TokenBucket | _SecondWindow | None:
        rate = self.config.calls_per_second
        if not rate:
            return None
        if self.config.limit_style == "second":
            return _SecondWindow(rate)
        return _TokenBucket(rate, self.config.burst or max(1, round(rate)))

    def reconfigure(self, config: ServerConfig) -> None:
        """New limits for the next requests (the flavour stays: records are indexed in its
        format); the counters start again from zero."""
        if config.flavor is not self.config.flavor:
            raise ValueError("a running server keeps its flavour")
        self.config = config
        self._bucket = self._limiter()
        self.stats = ServerStats()

    @property
    def url(self) -> str:
        path = "/v2/api" if self.config.flavor is Flavor.ETHERSCAN else "/api"
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> ExplorerServer:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_get(
            "/v2/api" if self.config.flavor is Flavor.ETHERSCAN else "/api", self._handle
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        await self.sync()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        self.stats.requests += 1
        if self._bucket is not None and not self._bucket.take():
            self.stats.rate_limited += 1
            if self.config.flavor is Flavor.BLOCKSCOUT:
                return web.json_response({"message": "Too Many Requests"}, status=429)
            return _notok("Max rate limit reached")
        self.stats.served += 1
        self.stats.served_at.append(time.monotonic())
        query = request.query
        if self.config.flavor is Flavor.ETHERSCAN:
            refusal = self._check_etherscan(query)
            if refusal is not None:
                return refusal
        await self.sync()
        return self._dispatch(query)

    def _dispatch(self, query: Mapping[str, str]) -> web.Response:
        module, action = query.get("module", ""), query.get("action", "")
        self.stats.by_action[action] += 1
        if module == "proxy" and action == "eth_blockNumber":
            return web.json_response({"jsonrpc": "2.0", "id": 83, "result": hex(self._head)})
        if module == "block" and action == "eth_block_number":
            return web.json_response({"jsonrpc": "2.0", "result": hex(self._head), "id": 1})
        if module != "account":
            return _notok("Error! Missing Or invalid Module name")
        if action not in _ACTIONS or action in self.config.disabled_actions:
            return _notok("Error! Missing Or invalid Action name")
        return self._account(action, query)

    def _check_etherscan(self, query: Mapping[str, str]) -> web.Response | None:
        chain = query.get("chainid")
        if chain is None or chain != str(self.config.chain_id):
            return _notok(
                "Missing or unsupported chainid parameter (required for v2 api), please see "
                "https://api.etherscan.io/v2/chainlist for the list of supported chainids"
            )
        key = query.get("apikey")
        if self.config.api_key is not None and key != self.config.api_key:
            self.stats.refused_keys += 1
            return _notok("Missing/Invalid API Key" if not key else "Invalid API Key")
        return None

    def _account(self, action: str, query: Mapping[str, str]) -> web.Response:
        address = query.get("address", "").lower()
        if len(address) != 42 or not address.startswith("0x"):
            return _notok("Error! Invalid address format")
        try:
            start = int(query.get("startblock", "0"))
            end = int(query.get("endblock", str(_MAX_BLOCK)))
            page = int(query.get("page", "1"))
            offset = int(query.get("offset", str(self.config.result_window)))
        except ValueError:
            return _notok("Error! Invalid parameter")
        page, offset = max(page, 1), max(offset, 1)
        if page * offset > self.config.result_window:
            self.stats.window_errors += 1
            return _notok(
                "Result window is too large, PageNo x Offset size must be less than or equal "
                f"to {self.config.result_window}"
            )
        matches = [e for e in self._by_address[action].get(address, []) if start <= e.block <= end]
        matches.sort(key=lambda entry: entry.sort_key, reverse=query.get("sort") == "desc")
        chosen = matches[(page - 1) * offset : page * offset]
        if self.config.record_cap is not None:
            chosen = chosen[: self.config.record_cap]
        if not chosen:
            message = (
                _BLOCKSCOUT_EMPTY[action]
                if self.config.flavor is Flavor.BLOCKSCOUT
                else "No transactions found"
            )
            return web.json_response({"status": "0", "message": message, "result": []})
        self.stats.records += len(chosen)
        result = []
        for entry in chosen:
            record = dict(entry.record)
            if "confirmations" in record:
                record["confirmations"] = str(self._head - entry.block + 1)
            for tx_hash, name, value in self.config.tampered:
                if tx_hash in (record.get("hash"), record.get("transactionHash")):
                    record[name] = value
            result.append(record)
        return web.json_response({"status": "1", "message": "OK", "result": result})

    # -- indexing the chain ----------------------------------------------------------------

    async def sync(self) -> None:
        """Index every block mined since the last call."""
        async with self._sync_lock:
            head = int(await self._rpc("eth_blockNumber", []), 16)
            if head <= self._indexed_to:
                return
            numbers = list(range(self._indexed_to + 1, head + 1))
            for chunk_start in range(0, len(numbers), 100):
                await self._index_blocks(numbers[chunk_start : chunk_start + 100])
            self._indexed_to = head
            self._head = head

    async def _index_blocks(self, numbers: Sequence[int]) -> None:
        blocks = await self._rpc_batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
        busy = [block for block in blocks if block["transactions"]]
        receipts = await self._rpc_batch(
            [("eth_getBlockReceipts", [block["number"]]) for block in busy]
        )
        traces = await self._rpc_batch([("trace_block", [block["number"]]) for block in busy])
        for block, block_receipts, block_traces in zip(busy, receipts, traces, strict=True):
            await self._index_block(block, block_receipts, block_traces)

    async def _index_block(
        self, block: Mapping[str, Any], receipts: Sequence[Any], traces: Sequence[Any]
    ) -> None:
        number = int(block["number"], 16)
        timestamp = str(int(block["timestamp"], 16))
        by_hash = {receipt["transactionHash"]: receipt for receipt in receipts}
        traces_of: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for trace in traces:
            if trace.get("transactionHash"):
                traces_of[trace["transactionHash"]].append(trace)
        for tx in block["transactions"]:
            receipt = by_hash[tx["hash"]]
            position = int(tx["transactionIndex"], 16)
            base = self._base_fields(tx, receipt, number, timestamp)
            self._index_transaction(tx, receipt, base, number, position)
            self._index_internal(
                tx,
                receipt=receipt,
                traces=traces_of[tx["hash"]],
                number=number,
                timestamp=timestamp,
                position=position,
            )
            for log in receipt["logs"]:
                await self._index_log(log, base, number, position)

    def _base_fields(
        self, tx: Mapping[str, Any], receipt: Mapping[str, Any], number: int, timestamp: str
    ) -> Record:
        data = tx.get("input") or "0x"
        return {
            "blockNumber": str(number),
            "timeStamp": timestamp,
            "hash": tx["hash"],
            "nonce": str(int(tx["nonce"], 16)),
            "blockHash": tx["blockHash"],
            "transactionIndex": str(int(tx["transactionIndex"], 16)),
            "gas": str(int(tx["gas"], 16)),
            # The price actually paid (for EIP-1559 transactions the effective price).
            "gasPrice": str(int(receipt.get("effectiveGasPrice") or tx["gasPrice"], 16)),
            "gasUsed": str(int(receipt["gasUsed"], 16)),
            "cumulativeGasUsed": str(int(receipt["cumulativeGasUsed"], 16)),
            "input": data,
            "methodId": data[:10] if len(data) >= 10 else "0x",
            "functionName": "",
            "confirmations": "0",
        }

    def _address(self, raw: str | None) -> str:
        if not raw:
            return ""
        return to_checksum_address(raw) if self.config.flavor is Flavor.BLOCKSCOUT else raw.lower()

    def _add(self, action: str, entry: _Entry) -> None:
        self._entries[action].append(entry)
        for participant in entry.participants:
            self._by_address[action][participant].append(entry)

    def _index_transaction(
        self,
        tx: Mapping[str, Any],
        receipt: Mapping[str, Any],
        base: Record,
        number: int,
        position: int,
    ) -> None:
        succeeded = int(receipt["status"], 16) == 1
        created = receipt.get("contractAddress")
        record = {
            **base,
            "from": self._address(tx["from"]),
            "to": self._address(tx.get("to")),
            "value": str(int(tx["value"], 16)),
            "isError": "0" if succeeded else "1",
            "txreceipt_status": "1" if succeeded else "0",
            "contractAddress": self._address(created),
        }
        participants = {tx["from"].lower(), (tx.get("to") or "").lower(), (created or "").lower()}
        self._add("txlist", _Entry((number, position, 0), number, _known(participants), record))

    def _index_internal(
        self,
        tx: Mapping[str, Any],
        *,
        receipt: Mapping[str, Any],
        traces: Sequence[Mapping[str, Any]],
        number: int,
        timestamp: str,
        position: int,
    ) -> None:
        tx_failed = int(receipt["status"], 16) != 1
        errored = {tuple(trace["traceAddress"]) for trace in traces if trace.get("error")}
        for ordinal, trace in enumerate(traces):
            path = tuple(trace["traceAddress"])
            action, kind = trace["action"], trace["type"]
            if kind == "create":
                kind = action.get("creationMethod") or "create"
                sender, recipient = action["from"], ""
                created = (trace.get("result") or {}).get("address") or ""
                value = int(action["value"], 16)
            elif kind == "call":
                if action.get("callType") != "call" or int(action["value"], 16) == 0:
                    continue  # explorers list only calls that move value
                sender, recipient, created = action["from"], action["to"], ""
                value = int(action["value"], 16)
            elif kind == "suicide":
                sender, recipient, created = action["address"], action["refundAddress"], ""
                value = int(action["balance"], 16)
            else:
                continue
            blockscout = self.config.flavor is Flavor.BLOCKSCOUT
            if not path and not (blockscout and kind.startswith("create")):
                continue  # the top-level call is the transaction itself (txlist)
            reverted = tx_failed or any(path[:depth] in errored for depth in range(len(path) + 1))
            record: Record = {
                "blockNumber": str(number),
                "timeStamp": timestamp,
                "from": self._address(sender),
                "to": self._address(recipient),
                "value": str(value),
                "contractAddress": self._address(created),
                "input": "",
                "type": "suicide" if kind == "suicide" else kind,
                "gas": str(int(action.get("gas", "0x0"), 16)),
                "gasUsed": str(int((trace.get("result") or {}).get("gasUsed", "0x0"), 16)),
                "isError": "1" if reverted else "0",
                "errCode": str(trace.get("error") or ""),
            }
            if blockscout:
                record["transactionHash"] = tx["hash"]
                record["index"] = str(ordinal)
                record["callType"] = "call" if kind == "call" else ""
            else:
                record["hash"] = tx["hash"]
                record["traceId"] = "_".join(str(step) for step in path)
            participants = _known({sender.lower(), recipient.lower(), created.lower()})
            self._add(
                "txlistinternal", _Entry((number, position, ordinal), number, participants, record)
            )

    async def _index_log(
        self, log: Mapping[str, Any], base: Record, number: int, position: int
    ) -> None:
        topics = [topic.lower() for topic in log.get("topics", [])]
        data = bytes.fromhex(log["data"][2:])
        log_index = int(log["logIndex"], 16)
        moves: list[tuple[str, str, str, dict[str, str]]] = []  # action, from, to, fields
        if not topics:
            return
        if topics[0] == TRANSFER_TOPIC and len(topics) == 3 and len(data) == 32:
            fields = {"value": str(int.from_bytes(data, "big"))}
            moves.append(("tokentx", _topic_address(topics[1]), _topic_address(topics[2]), fields))
        elif topics[0] == TRANSFER_TOPIC and len(topics) == 4 and not data:
            fields = {"tokenID": str(int(topics[3], 16))}
            moves.append(
                ("tokennfttx", _topic_address(topics[1]), _topic_address(topics[2]), fields)
            )
        elif topics[0] in (TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC) and len(topics) == 4:
            try:
                if topics[0] == TRANSFER_SINGLE_TOPIC:
                    ids, amounts = abi_decode(["uint256", "uint256"], data)
                    ids, amounts = [ids], [amounts]
                else:
                    ids, amounts = abi_decode(["uint256[]", "uint256[]"], data)
            except (DecodingError, ValueError, OverflowError):
                return
            sender, recipient = _topic_address(topics[2]), _topic_address(topics[3])
            for token_id, amount in zip(ids, amounts, strict=False):
                fields = {"tokenID": str(token_id), "tokenValue": str(amount)}
                moves.append(("token1155tx", sender, recipient, fields))
        if not moves:
            return
        token_address = log["address"].lower()
        token = await self._token(token_address)
        for ordinal, (action, sender, recipient, fields) in enumerate(moves):
            record = {
                **base,
                "from": self._address(sender),
                "to": self._address(recipient),
                "contractAddress": self._address(token_address),
                "tokenName": token.name,
                "tokenSymbol": token.symbol,
                "logIndex": str(log_index),
                **fields,
            }
            if action == "tokennfttx":
                record["tokenDecimal"] = "0"
            elif action == "tokentx":
                record["tokenDecimal"] = token.decimals
            entry = _Entry(
                (number, log_index, ordinal), number, _known({sender, recipient}), record
            )
            self._add(action, entry)

    async def _token(self, address: str) -> _Token:
        """Name, symbol and decimals as the token reports them ("" when it does not)."""
        if address not in self._tokens:
            answers = await self._rpc_batch(
                [
                    ("eth_call", [{"to": address, "data": selector}, "latest"])
                    for selector in _SELECTORS.values()
                ],
                errors_as_none=True,
            )
            name, symbol, decimals = (
                _decode(answer, kind)
                for answer, kind in zip(answers, ("string", "string", "uint256"), strict=True)
            )
            self._tokens[address] = _Token(name, symbol, decimals)
        return self._tokens[address]

    # -- JSON-RPC to the node ----------------------------------------------------------------

    async def _rpc(self, method: str, params: list[Any]) -> Any:
        return (await self._rpc_batch([(method, params)]))[0]

    async def _rpc_batch(
        self, calls: Sequence[tuple[str, list[Any]]], *, errors_as_none: bool = False
    ) -> list[Any]:
        if not calls:
            return []
        assert self._session is not None
        first = self._rpc_id + 1
        self._rpc_id += len(calls)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        async with self._session.post(self.rpc_url, json=body) as response:
            answers = await response.json()
        by_id = {answer["id"]: answer for answer in answers}
        results: list[Any] = []
        for i, (method, _) in enumerate(calls):
            answer = by_id[first + i]
            if "error" in answer:
                if not errors_as_none:
                    raise RuntimeError(f"anvil {method} failed: {answer['error']}")
                results.append(None)
            else:
                results.append(answer["result"])
        return results


def _notok(text: str) -> web.Response:
    return web.json_response({"status": "0", "message": "NOTOK", "result": text})


def _topic_address(topic: str) -> str:
    return "0x" + topic[-40:]


def _known(addresses: set[str]) -> frozenset[str]:
    return frozenset(address for address in addresses if address)


def _decode(answer: Any, kind: str) -> str:
    if not isinstance(answer, str) or len(answer) < 66:
        return ""
    try:
        (value,) = abi_decode([kind], bytes.fromhex(answer[2:]))
    except (DecodingError, ValueError, OverflowError):
        return ""
    return str(value)
