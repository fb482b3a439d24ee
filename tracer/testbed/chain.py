"""A fast synchronous client for building test scenarios on a local anvil node.

Scenario builders push 100,000+ transactions, so this client is built for throughput:

* one persistent HTTP/1.1 connection to the loopback node (no per-call connect);
* JSON-RPC *batches* of ``eth_sendTransaction`` (anvil runs with ``--auto-impersonate``, so
  any address can send without keys);
* nonces assigned here, not by the node: anvil serves a batch concurrently, and letting it pick
  nonces makes transactions of one sender collide ("replacement transaction underpriced");
* success checked with ``trace_block`` rather than receipts: anvil rebuilds every receipt of a
  block to answer for one, so receipts cost O(block size) each while traces stay cheap.

For bulk work: mining off (``AnvilOptions.for_bulk()``), blocks of a few hundred
transactions, one ``mine()`` per block (:meth:`Chain.send_in_blocks` does exactly that).

Throughput (anvil 1.7.1 on a 2-core container shared with other jobs: ranges are repeat runs;
100 senders, every transfer to a fresh address, send + mine + trace check, ``for_bulk()``)::

    transfers           per block   tx/s, 100,000 in total   tx/s, 20,000 in total
    ETH (21,000 gas)       300         2,800 - 3,100              -
    ETH                    500         5,100 - 5,500           12,500
    ETH                  1,000         4,900 - 6,300            9,400
    ETH                  2,000         5,600                      -
    TestUSD.transfer       500         5,100                      -
    TestUSD.transfer     1,000         7,000                   10,100
    ETH under automine       1           190 (1,000 in total), 87 (3,000 in total)

What costs what, measured: sending is ~36 us per transaction into an empty pool plus
~0.06 us per transaction already pending (so mine before the pool grows past a few
thousand); mining a block costs ~1 us per account in the state (the state root is
recomputed: 50,000 accounts = 58 ms even for an empty block) and grows with the number of
blocks too, so fewer, larger blocks win as the chain grows. But anvil rebuilds a whole
block's receipts to answer for one, so reading receipts of 1,000-transaction blocks runs at
~2,000/s against ~25,000/s for 50-transaction blocks; ``trace_block`` stays fast (a
2,000-transaction block in 20 ms), hence :meth:`Chain.failed_transactions`.

anvil flags, measured: ``--order fifo`` keeps blocks in submission order (reproducible, no
speed change); ``--gas-limit`` 1e9 lets a block hold every pending transaction and keeps
blocks under half full, so the base fee falls instead of climbing past fixed gas prices;
``--disable-pool-balance-checks`` lets hop chains funded within a block go in one block;
gas price given or left to anvil makes no measurable difference; ``--disable-block-gas-limit``
only lifts the per-transaction cap; ``--prune-history`` halves empty-block mining time but
drops historical state (no ``eth_getBalance`` at old blocks), so it is not in ``for_bulk``.

Amounts are integer wei throughout. Addresses are returned lowercase, as anvil sends them.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from tracer.errors import TestbedError
from tracer.testbed.anvil import REPO_ROOT, AnvilNode

BUILD_DIR = REPO_ROOT / "fixtures" / "contracts" / "build"
#: Gas for a plain ETH transfer to an address without code.
ETH_TRANSFER_GAS = 21_000
#: The stand-in address for the native asset used by the testbed Bridge's events.
BRIDGE_NATIVE_ASSET = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"


class NodeRequestError(TestbedError):
    """A JSON-RPC error answered by the node; keeps the method, code, message and revert data."""

    def __init__(
        self,
        method: str,
        code: int | None,
        message: str,
        data: Any = None,
        index: int | None = None,
    ) -> None:
        where = f" (request {index} of a batch)" if index is not None else ""
        detail = f" [data {data}]" if data not in (None, "", "0x") else ""
        super().__init__(f"anvil {method} failed{where}: {message} (code {code}){detail}")
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data
        self.index = index


# --------------------------------------------------------------------------- values and records


def _hex(value: int) -> str:
    return hex(value)


def _int(value: str | None) -> int:
    return int(value, 16) if value else 0


def to_hex_data(data: bytes | str) -> str:
    """``0x``-prefixed hex for calldata given as bytes or hex text."""
    if isinstance(data, bytes):
        return "0x" + data.hex()
    return data if data.startswith("0x") else "0x" + data


def from_hex_data(data: str) -> bytes:
    return bytes.fromhex(data[2:] if data.startswith("0x") else data)


def create_address(sender: str, nonce: int) -> str:
    """The address a CREATE by ``sender`` at ``nonce`` deploys to: keccak(rlp([sender, nonce]))."""
    if nonce == 0:
        nonce_rlp = b"\x80"
    elif nonce < 0x80:
        nonce_rlp = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        nonce_rlp = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + from_hex_data(sender) + nonce_rlp  # 0x94 = 0x80 + 20-byte string
    return "0x" + keccak(bytes([0xC0 + len(payload)]) + payload)[12:].hex()


@dataclass(frozen=True, slots=True)
class Tx:
    """A transaction request for ``eth_sendTransaction``.

    ``to=None`` deploys ``data``. ``gas=None`` lets anvil estimate (slow in bulk: give it for
    anything sent by the thousand). ``nonce=None`` takes the next nonce from the client's tracker.
    ``gas_price=None`` lets anvil price an EIP-1559 transaction from the current base fee.
    """

    sender: str
    to: str | None
    value: int = 0
    data: bytes | str = b""
    gas: int | None = None
    nonce: int | None = None
    gas_price: int | None = None

    def to_json(self) -> dict[str, str]:
        body = {"from": self.sender, "value": _hex(self.value)}
        if self.to is not None:
            body["to"] = self.to
        if self.data:
            body["input"] = to_hex_data(self.data)
        if self.gas is not None:
            body["gas"] = _hex(self.gas)
        if self.nonce is not None:
            body["nonce"] = _hex(self.nonce)
        if self.gas_price is not None:
            body["gasPrice"] = _hex(self.gas_price)
        return body


@dataclass(frozen=True, slots=True)
class Log:
    address: str
    topics: tuple[str, ...]
    data: bytes
    log_index: int
    transaction_hash: str
    block_number: int

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Log:
        return cls(
            address=raw["address"].lower(),
            topics=tuple(t.lower() for t in raw["topics"]),
            data=from_hex_data(raw["data"]),
            log_index=_int(raw.get("logIndex")),
            transaction_hash=raw["transactionHash"],
            block_number=_int(raw.get("blockNumber")),
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    transaction_hash: str
    block_number: int
    transaction_index: int
    sender: str
    to: str | None
    status: bool
    gas_used: int
    effective_gas_price: int
    contract_address: str | None
    logs: tuple[Log, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def fee(self) -> int:
        """Wei the sender paid for gas: gasUsed * effectiveGasPrice."""
        return self.gas_used * self.effective_gas_price

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Receipt:
        return cls(
            transaction_hash=raw["transactionHash"],
            block_number=_int(raw["blockNumber"]),
            transaction_index=_int(raw["transactionIndex"]),
            sender=raw["from"].lower(),
            to=raw["to"].lower() if raw.get("to") else None,
            status=raw["status"] == "0x1",
            gas_used=_int(raw["gasUsed"]),
            effective_gas_price=_int(raw["effectiveGasPrice"]),
            contract_address=(raw["contractAddress"] or "").lower() or None,
            logs=tuple(Log.from_json(entry) for entry in raw["logs"]),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Mined:
    """Where a transaction sent by :meth:`Chain.send_in_blocks` ended up."""

    transaction_hash: str
    block_number: int


# --------------------------------------------------------------------------- ABI


def _canonical_type(param: Mapping[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@dataclass(frozen=True, slots=True)
class AbiFunction:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    selector: bytes

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.inputs)})"

    def encode(self, args: Sequence[Any]) -> bytes:
        if len(args) != len(self.inputs):
            raise TestbedError(
                f"{self.signature} takes {len(self.inputs)} arguments, got {len(args)}"
            )
        return self.selector + abi_encode(self.inputs, args)

    def decode(self, result: bytes) -> Any:
        values = abi_decode(self.outputs, result)
        return values[0] if len(values) == 1 else values


@dataclass(frozen=True, slots=True)
class AbiEvent:
    name: str
    inputs: tuple[tuple[str, str, bool], ...]  # (name, canonical type, indexed)

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(kind for _, kind, _ in self.inputs)})"

    @property
    def topic0(self) -> str:
        return "0x" + keccak(self.signature.encode()).hex()

    def decode(self, log: Log) -> dict[str, Any]:
        """The event's arguments by name (indexed dynamic values come back as their hash)."""
        indexed = [(n, k) for n, k, i in self.inputs if i]
        plain = [(n, k) for n, k, i in self.inputs if not i]
        if len(log.topics) != len(indexed) + 1 or log.topics[0] != self.topic0:
            raise TestbedError(
                f"log {log.log_index} of {log.transaction_hash} is not {self.signature}"
            )
        out: dict[str, Any] = {}
        for (name, kind), topic in zip(indexed, log.topics[1:], strict=True):
            dynamic = kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")
            word = from_hex_data(topic)
            out[name] = word if dynamic else abi_decode([kind], word)[0]
        values = abi_decode([k for _, k in plain], log.data)
        out.update({name: value for (name, _), value in zip(plain, values, strict=True)})
        return out


@dataclass(frozen=True)
class Artifact:
    """A compiled contract from ``fixtures/contracts/build/<name>.json``."""

    name: str
    abi: tuple[Mapping[str, Any], ...]
    bytecode: bytes
    compiler: str
    functions: Mapping[str, tuple[AbiFunction, ...]] = field(repr=False)
    events: Mapping[str, AbiEvent] = field(repr=False)
    constructor_inputs: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Artifact:
        functions: dict[str, list[AbiFunction]] = {}
        events: dict[str, AbiEvent] = {}
        constructor: tuple[str, ...] = ()
        for entry in body["abi"]:
            inputs = tuple(_canonical_type(p) for p in entry.get("inputs", ()))
            if entry["type"] == "function":
                signature = f"{entry['name']}({','.join(inputs)})"
                functions.setdefault(entry["name"], []).append(
                    AbiFunction(
                        name=entry["name"],
                        inputs=inputs,
                        outputs=tuple(_canonical_type(p) for p in entry.get("outputs", ())),
                        selector=keccak(signature.encode())[:4],
                    )
                )
            elif entry["type"] == "event":
                events[entry["name"]] = AbiEvent(
                    name=entry["name"],
                    inputs=tuple(
                        (p["name"], _canonical_type(p), bool(p.get("indexed")))
                        for p in entry["inputs"]
                    ),
                )
            elif entry["type"] == "constructor":
                constructor = inputs
        return cls(
            name=body["contractName"],
            abi=tuple(body["abi"]),
            bytecode=from_hex_data(body["bytecode"]),
            compiler=body["compiler"],
            functions={name: tuple(overloads) for name, overloads in functions.items()},
            events=events,
            constructor_inputs=constructor,
        )

    def function(self, name: str, arg_count: int | None = None) -> AbiFunction:
        """A function by name, or by full signature ``name(type,...)`` when it is overloaded."""
        if "(" in name:
            for overloads in self.functions.values():
                for fn in overloads:
                    if fn.signature == name:
                        return fn
            raise TestbedError(f"{self.name} has no function {name}")
        candidates = self.functions.get(name, ())
        if arg_count is not None and len(candidates) > 1:
            candidates = tuple(fn for fn in candidates if len(fn.inputs) == arg_count)
        if len(candidates) != 1:
            known = ", ".join(sorted(self.functions))
            problem = "is overloaded; pass the full signature" if candidates else "does not exist"
            raise TestbedError(f"{self.name}.{name} {problem} (functions: {known})")
        return candidates[0]

    def event(self, name: str) -> AbiEvent:
        try:
            return self.events[name]
        except KeyError:
            known = ", ".join(sorted(self.events)) or "none"
            raise TestbedError(f"{self.name} has no event {name} (events: {known})") from None

    def deploy_data(self, args: Sequence[Any]) -> bytes:
        if len(args) != len(self.constructor_inputs):
            raise TestbedError(
                f"{self.name}'s constructor takes {len(self.constructor_inputs)} arguments, "
                f"got {len(args)}"
            )
        return self.bytecode + abi_encode(self.constructor_inputs, args)


def load_artifact(name: str, build_dir: Path | None = None) -> Artifact:
    """Load ``<build_dir>/<name>.json`` written by ``fixtures/contracts/compile.js``."""
    return _load_artifact(name, (build_dir or BUILD_DIR).resolve())


@cache
def _load_artifact(name: str, build_dir: Path) -> Artifact:
    path = build_dir / f"{name}.json"
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        available = sorted(p.stem for p in build_dir.glob("*.json"))
        hint = f"available: {', '.join(available)}" if available else "the build is empty"
        raise TestbedError(
            f"no compiled contract {name!r} at {path} ({hint}); "
            "run `make .stamps/contracts` (node fixtures/contracts/compile.js)"
        ) from None
    except (OSError, ValueError) as exc:
        raise TestbedError(f"cannot read contract artefact {path}: {exc}") from exc
    return Artifact.from_json(body)


# --------------------------------------------------------------------------- the client


class Chain:
    """A synchronous JSON-RPC client for one anvil node, tuned for bulk scenario building.

    Not thread-safe (one connection, one nonce tracker). Nonces are tracked per sender from the
    node's pending count the first time a sender is seen; if you send with another client in
    between, call :meth:`reset_nonces`.
    """

    def __init__(self, url: str, *, timeout: float = 300.0, batch_size: int = 500) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise TestbedError(f"testbed chain URL must be http://host:port, got {url!r}")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self._timeout = timeout
        self.batch_size = batch_size
        self._conn: http.client.HTTPConnection | None = None
        self._next_id = 0
        self._nonces: dict[str, int] = {}
        self._automine: bool | None = None

    @classmethod
    def of(cls, node: AnvilNode, **kwargs: Any) -> Chain:
        """A client for a node started with :class:`~tracer.testbed.anvil.AnvilNode`."""
        return cls(node.url, **kwargs)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------------- transport

    def _post(self, body: bytes, what: str) -> Any:
        # A kept-alive connection the server has closed fails on first use; reconnect once.
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
            try:
                self._conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                response = self._conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise TestbedError(f"anvil {what}: connection lost ({exc})") from exc
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TestbedError(f"anvil {what}: cannot reach {self.url} ({exc})") from exc
            if response.status != 200:
                text = payload[:500].decode(errors="replace")
                raise TestbedError(f"anvil {what}: HTTP {response.status}: {text}")
            try:
                return json.loads(payload)
            except ValueError as exc:
                raise TestbedError(f"anvil {what}: answer is not JSON ({exc})") from exc
        raise AssertionError("unreachable")

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One JSON-RPC call; raises :class:`NodeRequestError` on an error answer."""
        self._next_id += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": list(params)}
        )
        answer = self._post(body.encode(), method)
        if "error" in answer:
            error = answer["error"]
            raise NodeRequestError(
                method, error.get("code"), error.get("message", ""), error.get("data")
            )
        return answer["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Many calls in one HTTP request; results in call order.

        Raises :class:`NodeRequestError` for the first failed call (the others may have taken
        effect: anvil runs a batch's calls concurrently).
        """
        results = self.batch_outcomes(calls)
        for outcome in results:
            if isinstance(outcome, NodeRequestError):
                raise outcome
        return results

    def batch_outcomes(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Like :meth:`batch`, but failed calls come back as :class:`NodeRequestError` values."""
        if not calls:
            return []
        first = self._next_id + 1
        self._next_id += len(calls)
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": first + i, "method": method, "params": list(params)}
                for i, (method, params) in enumerate(calls)
            ]
        )
        what = f"batch of {len(calls)} ({calls[0][0]}...)"
        answers = self._post(body.encode(), what)
        if not isinstance(answers, list):
            error = answers.get("error", answers) if isinstance(answers, dict) else answers
            raise TestbedError(f"anvil {what} failed: {error}")
        by_id = {answer.get("id"): answer for answer in answers}
        results: list[Any] = []
        for i, (method, _) in enumerate(calls):
            answer = by_id.get(first + i)
            if answer is None:
                raise TestbedError(f"anvil {what}: no answer to request {i} ({method})")
            if "error" in answer:
                error = answer["error"]
                results.append(
                    NodeRequestError(
                        method, error.get("code"), error.get("message", ""), error.get("data"), i
                    )
                )
            else:
                results.append(answer["result"])
        return results

    def _batched(
        self, calls: Sequence[tuple[str, Sequence[Any]]], size: int | None = None
    ) -> list[Any]:
        step = size or self.batch_size
        out: list[Any] = []
        for start in range(0, len(calls), step):
            out += self.batch(calls[start : start + step])
        return out

    # ----------------------------------------------------------------------- chain state

    def chain_id(self) -> int:
        return _int(self.request("eth_chainId"))

    def accounts(self) -> list[str]:
        return [a.lower() for a in self.request("eth_accounts")]

    def block_number(self) -> int:
        return _int(self.request("eth_blockNumber"))

    def block(self, number: int | str = "latest", *, full: bool = False) -> dict[str, Any]:
        tag = _hex(number) if isinstance(number, int) else number
        block = self.request("eth_getBlockByNumber", [tag, full])
        if block is None:
            raise TestbedError(f"block {number} does not exist")
        return dict(block)

    def balance(self, address: str, block: int | str = "latest") -> int:
        tag = _hex(block) if isinstance(block, int) else block
        return _int(self.request("eth_getBalance", [address, tag]))

    def balances(self, addresses: Sequence[str], block: int | str = "latest") -> list[int]:
        tag = _hex(block) if isinstance(block, int) else block
        return [_int(b) for b in self._batched([("eth_getBalance", [a, tag]) for a in addresses])]

    def code(self, address: str) -> bytes:
        return from_hex_data(self.request("eth_getCode", [address, "latest"]))

    def set_balance(self, address: str, wei: int) -> None:
        self.request("anvil_setBalance", [address, _hex(wei)])

    def set_balances(self, balances: Mapping[str, int]) -> None:
        """Fund many addresses at once (no transaction, no trace: tainted money needs transfers)."""
        self._batched([("anvil_setBalance", [a, _hex(w)]) for a, w in balances.items()])

    # ----------------------------------------------------------------------- mining and time

    def automine(self) -> bool:
        if self._automine is None:
            self._automine = bool(self.request("anvil_getAutomine"))
        return self._automine

    def set_automine(self, enabled: bool) -> None:
        self.request("evm_setAutomine", [enabled])
        self._automine = enabled

    def set_interval_mining(self, seconds: int) -> None:
        """Mine a block every ``seconds`` (0 turns interval mining off)."""
        self.request("anvil_setIntervalMining", [seconds])
        self._automine = None

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.request("evm_setNextBlockTimestamp", [timestamp])

    def mine(self, timestamp: int | None = None) -> int:
        """Mine one block with every pending transaction (up to the gas limit); its number.

        ``timestamp`` (unix seconds) must be later than the previous block's.
        """
        self.request("evm_mine", [] if timestamp is None else [timestamp])
        return self.block_number()

    def mine_blocks(self, count: int, interval: int | None = None) -> int:
        """Mine ``count`` blocks quickly (``anvil_mine``), ``interval`` seconds apart."""
        params: list[Any] = [_hex(count)]
        if interval is not None:
            params.append(_hex(interval))
        self.request("anvil_mine", params)
        return self.block_number()

    def snapshot(self) -> str:
        return str(self.request("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        """Go back to a snapshot (which anvil then forgets, as in every node that has them)."""
        if not self.request("evm_revert", [snapshot_id]):
            raise TestbedError(f"anvil evm_revert: unknown snapshot {snapshot_id}")
        self.reset_nonces()

    # ----------------------------------------------------------------------- sending

    def reset_nonces(self) -> None:
        """Forget tracked nonces; they are re-read from the node on the next send."""
        self._nonces.clear()

    def next_nonce(self, sender: str) -> int:
        """The nonce the next transaction from ``sender`` will get."""
        self._load_nonces([sender.lower()])
        return self._nonces[sender.lower()]

    def _load_nonces(self, senders: Iterable[str]) -> None:
        missing = sorted({s for s in senders if s not in self._nonces})
        counts = self._batched([("eth_getTransactionCount", [s, "pending"]) for s in missing])
        self._nonces.update(zip(missing, (_int(c) for c in counts), strict=True))

    def _with_nonces(self, txs: Sequence[Tx]) -> list[Tx]:
        self._load_nonces(tx.sender.lower() for tx in txs if tx.nonce is None)
        out = []
        for tx in txs:
            if tx.nonce is None:
                sender = tx.sender.lower()
                out.append(replace(tx, nonce=self._nonces[sender]))
                self._nonces[sender] += 1
            else:
                out.append(tx)
        return out

    def send(self, tx: Tx) -> str:
        """Send one transaction; its hash (it is mined later unless automine is on)."""
        return self.send_many([tx])[0]

    def send_many(self, txs: Iterable[Tx], *, batch_size: int | None = None) -> list[str]:
        """Send transactions in JSON-RPC batches; their hashes, in order.

        Nonces are assigned here in list order, so one sender's transactions execute in the
        order given. On a rejected transaction this raises, and forgets the tracked nonces of
        that batch's senders (later transactions of theirs would otherwise wait forever).
        With automine on, transactions go one at a time, each waiting for its own block.

        Bulk work belongs in no-mining mode (:meth:`send_in_blocks`). anvil's own interval
        miner is unsafe for bulk: when pending transactions overflow a block it dropped the
        rest without a trace in our runs (1,000 of 3,000 with the default 30M gas limit).
        """
        if self.automine():
            # anvil 1.7.1's automine loses track of transactions that arrive while it mines:
            # with batched sends, some stayed queued or pending for good in our runs. So under
            # automine, send one at a time and wait for each block.
            hashes: list[str] = []
            for tx in txs:
                hashes.append(self._send_chunk([tx])[0])
                self.wait_for_receipts(hashes[-1:])
            return hashes
        return self._send_batched(txs, batch_size or self.batch_size)

    def _send_batched(self, txs: Iterable[Tx], step: int) -> list[str]:
        hashes: list[str] = []
        chunk: list[Tx] = []
        for tx in txs:
            chunk.append(tx)
            if len(chunk) == step:
                hashes += self._send_chunk(chunk)
                chunk = []
        if chunk:
            hashes += self._send_chunk(chunk)
        return hashes

    def _send_chunk(self, txs: Sequence[Tx]) -> list[str]:
        ready = self._with_nonces(txs)
        outcomes = self.batch_outcomes([("eth_sendTransaction", [tx.to_json()]) for tx in ready])
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, NodeRequestError):
                for tx in ready:
                    self._nonces.pop(tx.sender.lower(), None)
                tx = ready[index]
                raise NodeRequestError(
                    "eth_sendTransaction",
                    outcome.code,
                    f"{outcome.rpc_message} (from {tx.sender} nonce {tx.nonce} to {tx.to})",
                    outcome.data,
                    index,
                )
        return [str(h) for h in outcomes]

    def send_in_blocks(
        self,
        txs: Sequence[Tx],
        *,
        per_block: int = 400,
        timestamps: Iterator[int] | None = None,
        check: bool = True,
    ) -> list[Mined]:
        """Send with mining off and mine a block after every ``per_block`` transactions.

        Requires automine to be off (``AnvilOptions(no_mining=True)`` or ``set_automine``).
        ``timestamps`` yields each new block's timestamp. Every transaction must land in the
        block mined after it (TestbedError otherwise: raise the gas limit or lower
        ``per_block``), and with ``check`` every one must succeed (checked with traces).
        """
        if self.automine():
            raise TestbedError("send_in_blocks needs automine off: call set_automine(False)")
        mined: list[Mined] = []
        first_block = self.block_number() + 1
        for start in range(0, len(txs), per_block):
            hashes = self.send_many(txs[start : start + per_block])
            number = self.mine(next(timestamps) if timestamps is not None else None)
            included = set(self.block(number)["transactions"])
            left_out = [h for h in hashes if h not in included]
            if left_out:
                # anvil drops a transaction its sender cannot pay for when the block is built,
                # leaving a gap in our nonces: re-read them all on the next send.
                self.reset_nonces()
                raise TestbedError(
                    f"{len(left_out)} of {len(hashes)} transactions were not mined in block "
                    f"{number} (first: {left_out[0]}): the block gas limit is too low, or a "
                    "sender could not pay for value plus gas when the block was built"
                )
            mined += [Mined(h, number) for h in hashes]
        if check and mined:
            failed = self.failed_transactions(first_block, mined[-1].block_number)
            if failed:
                first, reason = next(iter(failed.items()))
                raise TestbedError(
                    f"{len(failed)} transactions failed (first: {first}: {reason}); "
                    "pass check=False to keep failing transactions on purpose"
                )
        return mined

    def transact(self, tx: Tx, *, check: bool = True, timeout: float = 30.0) -> Receipt:
        """Send one transaction, mine it if automine is off, and return its receipt.

        With ``check``, a reverted transaction raises TestbedError.
        """
        tx_hash = self.send(tx)
        if not self.automine():
            self.mine()
        receipt = self.wait_for_receipt(tx_hash, timeout=timeout)
        if check and not receipt.status:
            reason = self._revert_reason(tx)
            raise TestbedError(f"transaction {tx_hash} reverted{reason}")
        return receipt

    def _revert_reason(self, tx: Tx) -> str:
        # Replay as eth_call at the latest block: usually gives the reason; best effort only.
        if tx.to is None:
            return ""
        try:
            self.call(tx.to, tx.data, sender=tx.sender, value=tx.value)
        except NodeRequestError as exc:
            return f": {exc.rpc_message}"
        return ""

    # ----------------------------------------------------------------------- reading results

    def receipt(self, tx_hash: str) -> Receipt | None:
        raw = self.request("eth_getTransactionReceipt", [tx_hash])
        return Receipt.from_json(raw) if raw else None

    def receipts(self, hashes: Sequence[str], *, batch_size: int = 200) -> list[Receipt | None]:
        """Receipts in batches (None for unmined). Slow on big blocks: see the module notes."""
        raw = self._batched([("eth_getTransactionReceipt", [h]) for h in hashes], batch_size)
        return [Receipt.from_json(r) if r else None for r in raw]

    def wait_for_receipt(self, tx_hash: str, *, timeout: float = 30.0) -> Receipt:
        return self.wait_for_receipts([tx_hash], timeout=timeout)[0]

    def wait_for_receipts(self, hashes: Sequence[str], *, timeout: float = 60.0) -> list[Receipt]:
        """Poll until every transaction is mined (anvil mines asynchronously after sending)."""
        found: dict[str, Receipt] = {}
        deadline = time.monotonic() + timeout
        pause = 0.0005  # anvil mines within a millisecond or so: start polling fast
        while True:
            waiting = [h for h in hashes if h not in found]
            for tx_hash, receipt in zip(waiting, self.receipts(waiting), strict=True):
                if receipt is not None:
                    found[tx_hash] = receipt
            if len(found) == len(set(hashes)):
                return [found[h] for h in hashes]
            if time.monotonic() > deadline:
                missing = len(set(hashes)) - len(found)
                raise TestbedError(
                    f"{missing} transactions not mined within {timeout:.0f} s "
                    f"(first: {next(h for h in hashes if h not in found)}); is mining off?"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def failed_transactions(self, from_block: int, to_block: int) -> dict[str, str]:
        """Hash -> error of every transaction that failed in the block range (from traces)."""
        failed: dict[str, str] = {}
        calls = [("trace_block", [_hex(n)]) for n in range(from_block, to_block + 1)]
        for traces in self._batched(calls, 50):
            for trace in traces or ():
                if not trace.get("traceAddress") and trace.get("error"):
                    failed[trace["transactionHash"]] = trace["error"]
        return failed

    def traces(self, tx_hash: str) -> list[dict[str, Any]]:
        """Parity-style traces of one transaction (the call tree, flattened)."""
        return list(self.request("trace_transaction", [tx_hash]))

    def call(
        self,
        to: str,
        data: bytes | str,
        *,
        sender: str | None = None,
        value: int = 0,
        block: int | str = "latest",
    ) -> bytes:
        """``eth_call``; a revert raises NodeRequestError with the revert data."""
        body: dict[str, str] = {"to": to, "input": to_hex_data(data)}
        if sender is not None:
            body["from"] = sender
        if value:
            body["value"] = _hex(value)
        tag = _hex(block) if isinstance(block, int) else block
        return from_hex_data(self.request("eth_call", [body, tag]))

    # ----------------------------------------------------------------------- contracts

    def contract(self, artifact: Artifact | str, address: str) -> Contract:
        art = load_artifact(artifact) if isinstance(artifact, str) else artifact
        return Contract(self, art, address.lower())

    def deploy(
        self,
        artifact: Artifact | str,
        *args: Any,
        sender: str,
        value: int = 0,
        gas: int | None = None,
    ) -> Contract:
        """Deploy and wait for it (mining a block if automine is off)."""
        art = load_artifact(artifact) if isinstance(artifact, str) else artifact
        receipt = self.transact(
            Tx(sender=sender, to=None, value=value, data=art.deploy_data(args), gas=gas)
        )
        if receipt.contract_address is None:
            raise TestbedError(f"deploying {art.name}: receipt has no contract address")
        return Contract(self, art, receipt.contract_address)

    def deploy_many(
        self,
        artifact: Artifact | str,
        args_list: Sequence[Sequence[Any]],
        *,
        sender: str,
        gas: int | None = None,
    ) -> list[Contract]:
        """Deploy many instances from one sender in batches (addresses from the nonces)."""
        art = load_artifact(artifact) if isinstance(artifact, str) else artifact
        txs = self._with_nonces(
            [Tx(sender=sender, to=None, data=art.deploy_data(args), gas=gas) for args in args_list]
        )
        hashes = self.send_many(txs)
        if not self.automine():
            self.mine()
        for receipt in self.wait_for_receipts(hashes):
            if not receipt.status:
                raise TestbedError(f"deploying {art.name}: {receipt.transaction_hash} reverted")
        return [Contract(self, art, create_address(sender.lower(), tx.nonce or 0)) for tx in txs]


class Contract:
    """A deployed contract: encode calls, read views, build or send transactions, decode logs."""

    def __init__(self, chain: Chain, artifact: Artifact, address: str) -> None:
        self.chain = chain
        self.artifact = artifact
        self.address = address

    def __repr__(self) -> str:
        return f"<{self.artifact.name} at {self.address}>"

    def encode(self, function: str, *args: Any) -> bytes:
        return self.artifact.function(function, len(args)).encode(args)

    def call(self, function: str, *args: Any, sender: str | None = None) -> Any:
        """Read a view (decoded: one value, or a tuple for several)."""
        fn = self.artifact.function(function, len(args))
        return fn.decode(self.chain.call(self.address, fn.encode(args), sender=sender))

    def tx(
        self,
        function: str,
        *args: Any,
        sender: str,
        value: int = 0,
        gas: int | None = None,
        nonce: int | None = None,
    ) -> Tx:
        """A transaction calling ``function`` (for :meth:`Chain.send_many`)."""
        data = self.encode(function, *args)
        return Tx(sender=sender, to=self.address, value=value, data=data, gas=gas, nonce=nonce)

    def transact(
        self,
        function: str,
        *args: Any,
        sender: str,
        value: int = 0,
        gas: int | None = None,
        check: bool = True,
    ) -> Receipt:
        """Send one call and wait for its receipt (see :meth:`Chain.transact`)."""
        return self.chain.transact(
            self.tx(function, *args, sender=sender, value=value, gas=gas), check=check
        )

    def events(self, source: Receipt | Iterable[Log], name: str) -> list[dict[str, Any]]:
        """Decoded ``name`` events this contract emitted in a receipt (or a list of logs)."""
        event = self.artifact.event(name)
        logs = source.logs if isinstance(source, Receipt) else source
        return [
            event.decode(log)
            for log in logs
            if log.address == self.address and log.topics and log.topics[0] == event.topic0
        ]
