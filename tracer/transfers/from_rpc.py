"""Pure normalisers: raw JSON-RPC answers in, rows of the transfer table out.

Nothing here awaits or touches the network: callers pass already-parsed JSON (hex quantities
exactly as the node sent them) and get a :class:`Normalised` back, i.e. a canonical table
(:data:`~tracer.transfers.schema.TRANSFER_SCHEMA`) plus counts of what was skipped and why.

Input comes from nodes we do not control, so every field a row depends on is validated. An
item that cannot be read (a non-hex quantity, a Transfer log with a wrong topic count, a
payload that does not decode) is skipped and counted under a :class:`SkipReason`, never guessed
at and never allowed to crash the batch. Fields a row merely carries along (gas price) become
null when unreadable. Items that are not value movements at all (other events, reward traces,
zero-value calls) are ignored without being counted: they are not missing data.

Conventions shared by every path, so tables from different APIs line up row for row:

* **Zero values.** Native and internal movements of 0 wei are dropped: they move nothing, and
  every contract call would otherwise add a row. Token transfers of 0 are kept: zero-value
  transfers are how address-poisoning spam works, and that is evidence.
* **The top-level call is the transaction's own value.** In trace output the call with an empty
  trace address *is* the transaction, so it becomes a ``native`` row with ``trace_address``
  null, exactly the row :func:`transfers_from_transactions` makes. Deeper calls are
  ``internal`` rows whose ``trace_address`` is the comma-joined index path (``"0,2"``); the
  geth callTracer walker numbers children the way Parity does (position in the parent).
* **Success.** ``tx_succeeded`` says whether *this movement* took effect: false when the
  transaction failed or when the frame or any ancestor frame reverted (Parity marks only the
  frame that failed, not its descendants). It is null when unknown: pre-Byzantium receipts
  carry no status, and a ``trace_filter`` answer filtered by address may omit the ancestors a
  revert would be visible on. Rows decoded from logs are always true: a reverted frame's logs
  never reach a receipt.
* **Calls that move no value of their own** are skipped by type, not by value: DELEGATECALL
  and STATICCALL run in the caller's context (geth reports the *inherited* ``msg.value`` on
  DELEGATECALL frames, which is not a transfer), and CALLCODE credits the value back to the
  caller itself (geth even names the code address as ``to``).
* **Reward traces** (block and uncle rewards) are issuance, not transfers between addresses,
  and belong to no transaction: ignored.
* **Contract creation** sends the value to the new contract: its address comes from the
  trace result, else the receipt (``contractAddress``), else the node's ``creates`` field;
  when none is known the movement is skipped and counted as ``unknown_recipient``.
* **ots_getInternalOperations** has no call path: its rows carry ``trace_address`` =
  ``"ots:<n>"``, n being the operation's position in the node's answer. The prefix keeps
  these keys from ever colliding with (and silently de-duplicating against) a real call path.
  The answer of anvil and reth includes the transaction's own transfer first: it becomes the
  ``native`` row as above. Compare with the trace paths via :func:`movement_diff`, which
  ignores positions.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from tracer.transfers.schema import TransferKind, canonicalise, scaled_value, transfers_from_rows
from tracer.transfers.topics import (
    TOKEN_TRANSFER_TOPICS,
    TRANSFER_SINGLE_TOPIC,
    TRANSFER_TOPIC,
)
from tracer.transfers.untrusted import (
    SkipError,
    SkipReason,
    SkipTally,
    address_field,
    show,
    tx_hash_field,
)
from tracer.types import NATIVE_TOKEN

__all__ = [
    "MOVEMENT_COLUMNS",
    "NATIVE_DECIMALS",
    "MovementDiff",
    "Normalised",
    "ReceiptFacts",
    "SkipReason",
    "TokenMetadata",
    "block_times_from_blocks",
    "gas_prices_from_transactions",
    "merge",
    "movement_diff",
    "receipt_facts",
    "receipt_logs",
    "transfers_from_blocks",
    "transfers_from_geth_block_trace",
    "transfers_from_geth_call_trace",
    "transfers_from_logs",
    "transfers_from_ots_internal_operations",
    "transfers_from_parity_traces",
    "transfers_from_transactions",
]

# Every EVM chain counts its native asset in 10**-18 units (wei).
NATIVE_DECIMALS: Final = 18
UINT256_MAX: Final = 2**256 - 1
_UINT64_MAX: Final = 2**64 - 1

# A quantity that fits a uint256: at most 64 hex digits. Longer strings are either too large
# or absurdly padded; both mean the node is broken, and the cap keeps parsing cheap.
_QUANTITY_RE: Final = re.compile(r"0x[0-9a-fA-F]{1,64}")
_WORD_RE: Final = re.compile(r"0x[0-9a-fA-F]{64}")
_DATA_RE: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_ADDRESS_PADDING: Final = "0" * 24

_PARITY_VALUELESS_CALLS: Final = frozenset({"delegatecall", "staticcall", "callcode"})
_GETH_VALUELESS_FRAMES: Final = frozenset({"DELEGATECALL", "STATICCALL", "CALLCODE"})
_GETH_CREATES: Final = frozenset({"CREATE", "CREATE2"})
_OTS_TRANSFER, _OTS_SELFDESTRUCT, _OTS_CREATE, _OTS_CREATE2 = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class TokenMetadata:
    """What is known about a token contract; both fields are optional."""

    symbol: str | None = None
    decimals: int | None = None


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """The parts of a receipt the normalisers use; ``None`` means unknown."""

    succeeded: bool | None = None
    contract_address: str | None = None
    effective_gas_price: int | None = None


@dataclass(frozen=True, slots=True)
class Normalised:
    """A canonical transfer table plus an account of what was skipped.

    ``samples`` holds a few human-readable examples per reason, for coverage reports.
    """

    transfers: pl.DataFrame
    skipped: Mapping[SkipReason, int] = field(default_factory=dict)
    samples: Mapping[SkipReason, tuple[str, ...]] = field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def merge(results: Iterable[Normalised]) -> Normalised:
    """Concatenate results into one canonical table and add up their skip counts.

    Rows that several results share (the same native row from blocks and from traces) are
    kept once by the unique key; that overlap is expected and not counted as a skip.
    """
    collected = list(results)
    tally = SkipTally().merge(*collected)
    frames = [result.transfers for result in collected]
    table = canonicalise(pl.concat(frames)) if frames else transfers_from_rows([])
    return Normalised(table, tally.skipped, tally.samples)


# --------------------------------------------------------------------------------------------
# Internal machinery: validation that raises SkipError, and a row collector.


def _uint(raw: object, what: str) -> int:
    """A JSON-RPC quantity (hex string, or a plain JSON integer as Parity sends block numbers)."""
    if isinstance(raw, bool):
        pass
    elif isinstance(raw, int):
        if 0 <= raw <= UINT256_MAX:
            return raw
    elif isinstance(raw, str) and _QUANTITY_RE.fullmatch(raw):
        return int(raw, 16)
    raise SkipError(SkipReason.MALFORMED, f"{what} is not a hex quantity: {show(raw)}")


def _optional_uint(raw: object) -> int | None:
    try:
        return None if raw is None else _uint(raw, "")
    except SkipError:
        return None


def _optional_address(raw: object) -> str | None:
    try:
        return None if raw is None else address_field(raw, "")
    except SkipError:
        return None


def _word(raw: object, what: str) -> str:
    """A 32-byte topic as 64 lowercase hex digits."""
    if isinstance(raw, str) and _WORD_RE.fullmatch(raw):
        return raw[2:].lower()
    raise SkipError(SkipReason.MALFORMED, f"{what} is not a 32-byte topic: {show(raw)}")


def _topic_address(raw: object, what: str) -> str:
    word = _word(raw, what)
    if not word.startswith(_ADDRESS_PADDING):
        # A contract can emit any LOG3 with the Transfer topic; this one holds no address.
        raise SkipError(SkipReason.BAD_DATA, f"{what} holds no address: 0x{word}")
    return "0x" + word[24:]


def _data(raw: object) -> bytes:
    if isinstance(raw, str) and _DATA_RE.fullmatch(raw):
        return bytes.fromhex(raw[2:])
    raise SkipError(SkipReason.MALFORMED, f"log data is not hex bytes: {show(raw)}")


def _required(obj: Mapping[str, Any], key: str, what: str) -> object:
    value = obj.get(key)
    if value is None:
        raise SkipError(SkipReason.INCOMPLETE, f"{what} has no {key!r}")
    return value


def _object(raw: object, what: str) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    raise SkipError(SkipReason.MALFORMED, f"{what} is not a JSON object: {show(raw)}")


def _path(raw: object) -> tuple[int, ...]:
    if isinstance(raw, list) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in raw
    ):
        return tuple(raw)
    raise SkipError(SkipReason.MALFORMED, f"traceAddress is not a list of indices: {show(raw)}")


def _joined(path: tuple[int, ...]) -> str | None:
    return ",".join(map(str, path)) if path else None


@dataclass(frozen=True, slots=True)
class _Context:
    chain_id: int
    source: str
    request_key: str | None
    block_times: Mapping[int, int] | None
    receipts: Mapping[str, ReceiptFacts] | None
    gas_prices: Mapping[str, int] | None
    native_symbol: str | None

    def receipt(self, tx_hash: str) -> ReceiptFacts | None:
        return self.receipts.get(tx_hash) if self.receipts is not None else None

    def status(self, tx_hash: str) -> bool | None:
        facts = self.receipt(tx_hash)
        return facts.succeeded if facts is not None else None

    def gas_price(self, tx_hash: str, own: int | None = None) -> int | None:
        """Effective price from the receipt, else the transaction's own, else the mapping."""
        facts = self.receipt(tx_hash)
        price = facts.effective_gas_price if facts is not None else None
        if price is None:
            price = own
        if price is None and self.gas_prices is not None:
            price = self.gas_prices.get(tx_hash)
        return price if price is not None and 0 <= price <= _UINT64_MAX else None


class _Builder:
    """Collects rows (first of each unique key wins) and skip counts."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self._rows: dict[tuple[object, ...], dict[str, object]] = {}
        self._tally = SkipTally()

    def skip(self, error: SkipError) -> None:
        self._tally.add(error)

    def native(
        self,
        *,
        block_number: int,
        tx_hash: str,
        trace_address: str | None,
        from_address: str,
        to_address: str,
        value: int,
        succeeded: bool | None,
        gas_price: int | None,
    ) -> None:
        """A native-asset movement: no position means the transaction's own value."""
        self.emit(
            block_number=block_number,
            tx_hash=tx_hash,
            kind=TransferKind.NATIVE if trace_address is None else TransferKind.INTERNAL,
            trace_address=trace_address,
            from_address=from_address,
            to_address=to_address,
            token_address=NATIVE_TOKEN,
            value=value,
            decimals=NATIVE_DECIMALS,
            symbol=self.ctx.native_symbol,
            succeeded=succeeded,
            gas_price=gas_price,
        )

    def emit(
        self,
        *,
        block_number: int,
        tx_hash: str,
        kind: TransferKind,
        log_index: int | None = None,
        trace_address: str | None = None,
        from_address: str,
        to_address: str,
        token_address: str,
        token_id: int | None = None,
        value: int,
        decimals: int | None,
        symbol: str | None,
        succeeded: bool | None,
        gas_price: int | None,
    ) -> None:
        token_id_text = str(token_id) if token_id is not None else None
        key = (tx_hash, kind, log_index, trace_address, token_id_text)
        if key in self._rows:
            where = log_index if log_index is not None else trace_address
            self.skip(SkipError(SkipReason.DUPLICATE, f"{kind} {tx_hash} at {where} twice"))
            return
        block_time = (
            self.ctx.block_times.get(block_number) if self.ctx.block_times is not None else None
        )
        self._rows[key] = {
            "chain_id": self.ctx.chain_id,
            "block_number": block_number,
            "block_time": block_time,
            "transaction_hash": tx_hash,
            "transfer_kind": kind.value,
            "log_index": log_index,
            "trace_address": trace_address,
            "from_address": from_address,
            "to_address": to_address,
            "token_address": token_address,
            "token_id": token_id_text,
            "value_raw": str(value),
            "value": scaled_value(value, decimals),
            "token_symbol": symbol,
            "token_decimals": decimals,
            "tx_succeeded": succeeded,
            "gas_price": gas_price,
            "source": self.ctx.source,
            "request_key": self.ctx.request_key,
        }

    def result(self) -> Normalised:
        table = canonicalise(transfers_from_rows(self._rows.values()))
        return Normalised(table, self._tally.skipped, self._tally.samples)


# --------------------------------------------------------------------------------------------
# Receipts, blocks and small helpers callers need to assemble the context.


def receipt_facts(receipts: Iterable[object]) -> dict[str, ReceiptFacts]:
    """Index ``eth_getTransactionReceipt`` / ``eth_getBlockReceipts`` results by tx hash.

    Pre-Byzantium receipts carry a state ``root`` instead of ``status``: success is then
    unknown (``None``), not assumed. Unreadable fields are unknown too; a receipt without a
    readable hash cannot be attributed and is left out, so its transaction's status stays
    unknown rather than guessed.
    """
    facts: dict[str, ReceiptFacts] = {}
    for receipt in receipts:
        if not isinstance(receipt, Mapping):
            continue
        try:
            tx_hash = tx_hash_field(receipt.get("transactionHash"))
        except SkipError:
            continue
        status = _optional_uint(receipt.get("status"))
        facts[tx_hash] = ReceiptFacts(
            succeeded={0: False, 1: True}.get(status) if status is not None else None,
            contract_address=_optional_address(receipt.get("contractAddress")),
            effective_gas_price=_optional_uint(receipt.get("effectiveGasPrice")),
        )
    return facts


def receipt_logs(receipts: Iterable[object]) -> list[object]:
    """All logs of the given receipts, in order, for :func:`transfers_from_logs`."""
    logs: list[object] = []
    for receipt in receipts:
        if isinstance(receipt, Mapping) and isinstance(receipt.get("logs"), list):
            logs.extend(receipt["logs"])
    return logs


def block_times_from_blocks(blocks: Iterable[object]) -> dict[int, int]:
    """Block number -> Unix timestamp from ``eth_getBlockByNumber`` results (either form)."""
    times: dict[int, int] = {}
    for block in blocks:
        if isinstance(block, Mapping):
            number = _optional_uint(block.get("number"))
            timestamp = _optional_uint(block.get("timestamp"))
            if number is not None and timestamp is not None:
                times[number] = timestamp
    return times


def gas_prices_from_transactions(transactions: Iterable[object]) -> dict[str, int]:
    """Tx hash -> ``gasPrice`` from transaction objects, for the trace and log paths."""
    prices: dict[str, int] = {}
    for tx in transactions:
        if not isinstance(tx, Mapping):
            continue
        price = _optional_uint(tx.get("gasPrice"))
        try:
            tx_hash = tx_hash_field(tx.get("hash"))
        except SkipError:
            continue
        if price is not None:
            prices[tx_hash] = price
    return prices


# --------------------------------------------------------------------------------------------
# 1. Token transfers from logs.


def transfers_from_logs(
    logs: Iterable[object],
    *,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    block_times: Mapping[int, int] | None = None,
    receipts: Mapping[str, ReceiptFacts] | None = None,
    gas_prices: Mapping[str, int] | None = None,
    token_metadata: Mapping[str, TokenMetadata] | None = None,
) -> Normalised:
    """ERC-20, ERC-721 and ERC-1155 transfers from ``eth_getLogs`` results or receipt logs.

    ``Transfer`` with 3 topics is ERC-20 (amount in data), with 4 topics ERC-721 (token id
    in topic 3, amount 1). Other topic counts (e.g. tokens that index nothing, like
    CryptoKitties) are skipped: with every argument in data, an amount and a token id cannot
    be told apart. ``TransferBatch`` yields one row per token id; an id listed twice in one
    batch is one row holding the exact sum, because the unique key has no room for two.
    ``token_metadata`` (keyed by token address) supplies symbol and decimals; without
    decimals ``value`` stays null, and so it does for decimals outside ERC-20's uint8 range
    (a hostile token can answer ``decimals()`` with anything). ERC-721 tokens are
    indivisible, so their decimals are 0.
    """
    ctx = _Context(chain_id, source, request_key, block_times, receipts, gas_prices, None)
    builder = _Builder(ctx)
    metadata = {
        address.lower(): _sane_metadata(meta) for address, meta in (token_metadata or {}).items()
    }
    for log in logs:
        try:
            _log_rows(builder, log, metadata)
        except SkipError as skip:
            builder.skip(skip)
    return builder.result()


def _sane_metadata(meta: TokenMetadata) -> TokenMetadata:
    if meta.decimals is None or 0 <= meta.decimals <= 255:
        return meta
    return TokenMetadata(meta.symbol, None)


@dataclass(frozen=True, slots=True)
class _TokenMove:
    kind: TransferKind
    from_address: str
    to_address: str
    token_id: int | None
    value: int


def _log_rows(builder: _Builder, raw: object, metadata: Mapping[str, TokenMetadata]) -> None:
    log = _object(raw, "log")
    topics = log.get("topics")
    if not isinstance(topics, list):
        raise SkipError(SkipReason.MALFORMED, f"log topics are not a list: {show(topics)}")
    if not topics or not isinstance(topics[0], str):
        return  # anonymous event: not one of ours
    topic0 = topics[0].lower()
    if topic0 not in TOKEN_TRANSFER_TOPICS:
        return
    if log.get("removed") is True or log.get("blockNumber") is None:
        where = f"log {show(log.get('transactionHash'))}#{show(log.get('logIndex'))}"
        if log.get("removed") is True:
            raise SkipError(SkipReason.REMOVED, f"{where} was removed by a reorg")
        raise SkipError(SkipReason.PENDING, f"{where} is not in a block yet")
    block_number = _uint(log.get("blockNumber"), "blockNumber")
    tx_hash = tx_hash_field(log.get("transactionHash"))
    log_index = _uint(log.get("logIndex"), "logIndex")
    token = address_field(log.get("address"), "log address")
    moves = _token_moves(topic0, topics, _data(log.get("data")), f"log {tx_hash}#{log_index}")
    meta = metadata.get(token, TokenMetadata())
    gas_price = builder.ctx.gas_price(tx_hash)
    for move in moves:
        builder.emit(
            block_number=block_number,
            tx_hash=tx_hash,
            kind=move.kind,
            log_index=log_index,
            from_address=move.from_address,
            to_address=move.to_address,
            token_address=token,
            token_id=move.token_id,
            value=move.value,
            # ERC-721 tokens are indivisible by definition: one token is one unit.
            decimals=0 if move.kind is TransferKind.ERC721 else meta.decimals,
            symbol=meta.symbol,
            succeeded=True,  # logs of reverted frames never reach a receipt
            gas_price=gas_price,
        )


def _token_moves(topic0: str, topics: list[object], data: bytes, where: str) -> list[_TokenMove]:
    if topic0 == TRANSFER_TOPIC:
        if len(topics) not in (3, 4):
            raise SkipError(
                SkipReason.WRONG_TOPIC_COUNT, f"{where}: Transfer with {len(topics)} topics"
            )
        sender = _topic_address(topics[1], "topic 1")
        recipient = _topic_address(topics[2], "topic 2")
        if len(topics) == 3:
            if len(data) != 32:
                raise SkipError(SkipReason.BAD_DATA, f"{where}: ERC-20 data is {len(data)} bytes")
            value = int.from_bytes(data, "big")
            return [_TokenMove(TransferKind.ERC20, sender, recipient, None, value)]
        if data:
            raise SkipError(SkipReason.BAD_DATA, f"{where}: ERC-721 Transfer carries data")
        token_id = int(_word(topics[3], "topic 3"), 16)
        return [_TokenMove(TransferKind.ERC721, sender, recipient, token_id, 1)]

    if len(topics) != 4:
        raise SkipError(
            SkipReason.WRONG_TOPIC_COUNT, f"{where}: ERC-1155 event with {len(topics)} topics"
        )
    sender = _topic_address(topics[2], "topic 2")  # topic 1 is the operator
    recipient = _topic_address(topics[3], "topic 3")
    if topic0 == TRANSFER_SINGLE_TOPIC:
        if len(data) != 64:
            raise SkipError(
                SkipReason.BAD_DATA, f"{where}: TransferSingle data is {len(data)} bytes"
            )
        amounts = {int.from_bytes(data[:32], "big"): int.from_bytes(data[32:], "big")}
    else:  # TransferBatch, the last member of TOKEN_TRANSFER_TOPICS
        amounts = _batch_amounts(data, where)
    return [
        _TokenMove(TransferKind.ERC1155, sender, recipient, token_id, amount)
        for token_id, amount in amounts.items()
    ]


def _batch_amounts(data: bytes, where: str) -> dict[int, int]:
    try:
        ids, values = abi_decode(["uint256[]", "uint256[]"], data)
    except (DecodingError, ValueError, OverflowError) as exc:
        raise SkipError(SkipReason.BAD_DATA, f"{where}: TransferBatch data: {exc}") from exc
    if len(ids) != len(values):
        raise SkipError(
            SkipReason.BAD_DATA, f"{where}: TransferBatch has {len(ids)} ids, {len(values)} values"
        )
    amounts: dict[int, int] = {}
    for token_id, amount in zip(ids, values, strict=True):
        amounts[token_id] = amounts.get(token_id, 0) + amount
    if any(total > UINT256_MAX for total in amounts.values()):
        raise SkipError(SkipReason.BAD_DATA, f"{where}: TransferBatch amounts overflow uint256")
    return amounts


# --------------------------------------------------------------------------------------------
# 2. Native value from transactions.


def transfers_from_transactions(
    transactions: Iterable[object],
    *,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    block_times: Mapping[int, int] | None = None,
    receipts: Mapping[str, ReceiptFacts] | None = None,
    native_symbol: str | None = None,
) -> Normalised:
    """The value each transaction carries itself (one ``native`` row per non-zero value).

    Failed transactions are kept with ``tx_succeeded`` false (status from ``receipts``; null
    when unknown). ``gas_price`` is the receipt's effective price when given, else the
    transaction's ``gasPrice``.
    """
    ctx = _Context(chain_id, source, request_key, block_times, receipts, None, native_symbol)
    builder = _Builder(ctx)
    for tx in transactions:
        try:
            _transaction_row(builder, tx)
        except SkipError as skip:
            builder.skip(skip)
    return builder.result()


def transfers_from_blocks(
    blocks: Iterable[object],
    *,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    receipts: Mapping[str, ReceiptFacts] | None = None,
    native_symbol: str | None = None,
) -> Normalised:
    """:func:`transfers_from_transactions` over ``eth_getBlockByNumber(n, true)`` results,
    with block times taken from the blocks themselves."""
    block_list = list(blocks)
    ctx = _Context(
        chain_id,
        source,
        request_key,
        block_times_from_blocks(block_list),
        receipts,
        None,
        native_symbol,
    )
    builder = _Builder(ctx)
    for raw in block_list:
        try:
            block = _object(raw, "block")
            transactions = block.get("transactions")
            if not isinstance(transactions, list):
                raise SkipError(SkipReason.MALFORMED, "block has no transaction list")
        except SkipError as skip:
            builder.skip(skip)
            continue
        for tx in transactions:
            try:
                if isinstance(tx, str):
                    raise SkipError(
                        SkipReason.INCOMPLETE,
                        f"transaction {tx[:18]}... given as a hash; fetch full transactions",
                    )
                _transaction_row(builder, tx)
            except SkipError as skip:
                builder.skip(skip)
    return builder.result()


def _transaction_row(builder: _Builder, raw: object) -> None:
    tx = _object(raw, "transaction")
    tx_hash = tx_hash_field(tx.get("hash"))
    if tx.get("blockNumber") is None:
        raise SkipError(SkipReason.PENDING, f"transaction {tx_hash} is not in a block yet")
    block_number = _uint(tx.get("blockNumber"), "blockNumber")
    value = _uint(tx.get("value"), "value")
    if value == 0:
        return
    sender = address_field(tx.get("from"), "from")
    facts = builder.ctx.receipt(tx_hash)
    if tx.get("to") is None:
        recipient = (facts.contract_address if facts else None) or _optional_address(
            tx.get("creates")
        )
        if recipient is None:
            raise SkipError(
                SkipReason.UNKNOWN_RECIPIENT, f"creation {tx_hash}: contract address unknown"
            )
    else:
        recipient = address_field(tx.get("to"), "to")
    builder.native(
        block_number=block_number,
        tx_hash=tx_hash,
        trace_address=None,
        from_address=sender,
        to_address=recipient,
        value=value,
        succeeded=facts.succeeded if facts else None,
        gas_price=builder.ctx.gas_price(tx_hash, _optional_uint(tx.get("gasPrice"))),
    )


# --------------------------------------------------------------------------------------------
# 3. Parity-style traces (trace_block, trace_filter, trace_transaction).


def transfers_from_parity_traces(
    traces: Iterable[object],
    *,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    block_times: Mapping[int, int] | None = None,
    receipts: Mapping[str, ReceiptFacts] | None = None,
    gas_prices: Mapping[str, int] | None = None,
    native_symbol: str | None = None,
) -> Normalised:
    """Native and internal value from Parity/OpenEthereum-format traces.

    Rows come from ``call`` (callType ``call``), ``create`` and ``suicide`` traces with a
    value above 0; a suicide moves ``action.balance`` from ``action.address`` to
    ``action.refundAddress``. A movement failed when its trace or any ancestor (a trace of the
    same transaction whose trace address is a prefix) has an ``error``; when an ancestor is
    missing from the input, success is unknown unless ``receipts`` says the whole transaction
    failed.
    """
    ctx = _Context(chain_id, source, request_key, block_times, receipts, gas_prices, native_symbol)
    builder = _Builder(ctx)
    located: list[tuple[Mapping[str, Any], str, tuple[int, ...]]] = []
    present: defaultdict[str, set[tuple[int, ...]]] = defaultdict(set)
    errored: defaultdict[str, set[tuple[int, ...]]] = defaultdict(set)
    for raw in traces:
        try:
            trace = _object(raw, "trace")
            if trace.get("type") == "reward":
                continue  # issuance to a miner: no sender, no transaction
            tx_hash = tx_hash_field(trace.get("transactionHash"))
            path = _path(trace.get("traceAddress"))
        except SkipError as skip:
            builder.skip(skip)
            continue
        present[tx_hash].add(path)
        if trace.get("error"):
            errored[tx_hash].add(path)
        located.append((trace, tx_hash, path))

    for trace, tx_hash, path in located:
        prefixes = [path[:depth] for depth in range(len(path) + 1)]
        succeeded: bool | None
        if ctx.status(tx_hash) is False or any(p in errored[tx_hash] for p in prefixes):
            succeeded = False
        elif all(p in present[tx_hash] for p in prefixes[:-1]):
            succeeded = True  # the whole ancestry is here and nothing on it failed
        else:
            succeeded = None
        try:
            _parity_row(builder, trace, tx_hash, path, succeeded)
        except SkipError as skip:
            builder.skip(skip)
    return builder.result()


def _parity_row(
    builder: _Builder,
    trace: Mapping[str, Any],
    tx_hash: str,
    path: tuple[int, ...],
    succeeded: bool | None,
) -> None:
    action = _object(trace.get("action"), "trace action")
    kind = trace.get("type")
    where = f"trace {tx_hash} [{_joined(path) or ''}]"
    if kind == "call":
        call_type = action.get("callType")
        if call_type in _PARITY_VALUELESS_CALLS:
            return
        if call_type != "call":
            raise SkipError(SkipReason.UNSUPPORTED, f"{where}: callType {show(call_type)}")
        value = _uint(action.get("value"), "action.value")
        if value == 0:
            return
        sender = address_field(action.get("from"), "action.from")
        recipient = address_field(action.get("to"), "action.to")
    elif kind == "create":
        value = _uint(action.get("value"), "action.value")
        if value == 0:
            return
        sender = address_field(action.get("from"), "action.from")
        result = trace.get("result")
        created = result.get("address") if isinstance(result, Mapping) else None
        recipient_or_none = _created_address(builder, created, tx_hash, path)
        if recipient_or_none is None:
            raise SkipError(SkipReason.UNKNOWN_RECIPIENT, f"{where}: created address unknown")
        recipient = recipient_or_none
    elif kind in ("suicide", "selfdestruct"):
        if not path:
            raise SkipError(SkipReason.MALFORMED, f"{where}: selfdestruct at the top level")
        value = _uint(action.get("balance"), "action.balance")
        if value == 0:
            return
        sender = address_field(action.get("address"), "action.address")
        recipient = address_field(action.get("refundAddress"), "action.refundAddress")
    else:
        raise SkipError(SkipReason.UNSUPPORTED, f"{where}: trace type {show(kind)}")
    builder.native(
        block_number=_uint(trace.get("blockNumber"), "blockNumber"),
        tx_hash=tx_hash,
        trace_address=_joined(path),
        from_address=sender,
        to_address=recipient,
        value=value,
        succeeded=succeeded,
        gas_price=builder.ctx.gas_price(tx_hash),
    )


def _created_address(
    builder: _Builder, raw: object, tx_hash: str, path: tuple[int, ...]
) -> str | None:
    """The new contract: from the trace, else (top level only) from the receipt."""
    if raw is not None:
        return address_field(raw, "created address")
    facts = builder.ctx.receipt(tx_hash)
    return facts.contract_address if facts is not None and not path else None


# --------------------------------------------------------------------------------------------
# 4. geth callTracer (debug_traceTransaction, debug_traceBlockByNumber/Hash).


def transfers_from_geth_call_trace(
    frame: object,
    *,
    transaction_hash: str,
    block_number: int,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    block_times: Mapping[int, int] | None = None,
    receipts: Mapping[str, ReceiptFacts] | None = None,
    gas_prices: Mapping[str, int] | None = None,
    native_symbol: str | None = None,
) -> Normalised:
    """Native and internal value from one transaction's ``callTracer`` result.

    CALL, CREATE, CREATE2 and SELFDESTRUCT frames with a value above 0 become rows; a frame
    failed when it or an ancestor carries ``error``. Trace addresses follow Parity's numbering
    of children, so they agree with ``trace_*`` output wherever both tracers list the same
    children; tracers differ on zero-value precompile calls (Erigon's Parity-style tracer
    leaves them out by default), so compare across tracers with :func:`movement_diff`.
    """
    ctx = _Context(chain_id, source, request_key, block_times, receipts, gas_prices, native_symbol)
    builder = _Builder(ctx)
    try:
        tx_hash = tx_hash_field(transaction_hash)
    except SkipError as skip:
        builder.skip(skip)
        return builder.result()
    _geth_rows(builder, frame, tx_hash, block_number)
    return builder.result()


def transfers_from_geth_block_trace(
    results: Sequence[object],
    *,
    block_number: int,
    transaction_hashes: Sequence[str] | None = None,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    block_times: Mapping[int, int] | None = None,
    receipts: Mapping[str, ReceiptFacts] | None = None,
    gas_prices: Mapping[str, int] | None = None,
    native_symbol: str | None = None,
) -> Normalised:
    """:func:`transfers_from_geth_call_trace` over a ``debug_traceBlockBy*`` answer.

    Each entry is ``{"txHash": ..., "result": frame}``; older geth omits ``txHash``, and then
    ``transaction_hashes`` (the block's transactions in order) must be given and match the
    number of entries, otherwise the entries cannot be attributed and are counted as
    incomplete. Entries holding an ``error`` instead of a result are counted the same way.
    """
    ctx = _Context(chain_id, source, request_key, block_times, receipts, gas_prices, native_symbol)
    builder = _Builder(ctx)
    aligned = transaction_hashes is not None and len(transaction_hashes) == len(results)
    for position, raw in enumerate(results):
        try:
            entry = _object(raw, "block trace entry")
            if entry.get("txHash") is not None:
                tx_hash = tx_hash_field(entry.get("txHash"))
                if (
                    aligned
                    and transaction_hashes
                    and tx_hash_field(transaction_hashes[position]) != tx_hash
                ):
                    raise SkipError(
                        SkipReason.MALFORMED,
                        f"entry {position} is {tx_hash}, the block lists another transaction",
                    )
            elif aligned and transaction_hashes:
                tx_hash = tx_hash_field(transaction_hashes[position])
            else:
                raise SkipError(
                    SkipReason.INCOMPLETE, f"entry {position} names no transaction hash"
                )
            if entry.get("result") is None:
                raise SkipError(
                    SkipReason.INCOMPLETE,
                    f"{tx_hash} was not traced: {show(entry.get('error'))}",
                )
        except SkipError as skip:
            builder.skip(skip)
            continue
        _geth_rows(builder, entry["result"], tx_hash, block_number)
    return builder.result()


def _geth_rows(builder: _Builder, root: object, tx_hash: str, block_number: int) -> None:
    tx_failed = builder.ctx.status(tx_hash) is False
    stack: list[tuple[object, tuple[int, ...], bool]] = [(root, (), tx_failed)]
    while stack:
        raw, path, parent_failed = stack.pop()
        where = f"frame {tx_hash} [{_joined(path) or ''}]"
        if not isinstance(raw, Mapping):
            builder.skip(SkipError(SkipReason.MALFORMED, f"{where} is not an object"))
            continue
        failed = parent_failed or bool(raw.get("error"))
        calls = raw.get("calls")
        if isinstance(calls, list):
            stack.extend((child, (*path, i), failed) for i, child in enumerate(calls))
        elif calls is not None:
            builder.skip(SkipError(SkipReason.MALFORMED, f"{where}: calls is not a list"))
        try:
            _geth_frame_row(builder, raw, tx_hash, block_number, path=path, failed=failed)
        except SkipError as skip:
            builder.skip(skip)


def _geth_frame_row(
    builder: _Builder,
    frame: Mapping[str, Any],
    tx_hash: str,
    block_number: int,
    *,
    path: tuple[int, ...],
    failed: bool,
) -> None:
    where = f"frame {tx_hash} [{_joined(path) or ''}]"
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise SkipError(SkipReason.MALFORMED, f"{where}: type {show(kind)}")
    kind = kind.upper()
    if kind in _GETH_VALUELESS_FRAMES:
        return
    if kind not in ("CALL", "SELFDESTRUCT") and kind not in _GETH_CREATES:
        raise SkipError(SkipReason.UNSUPPORTED, f"{where}: frame type {kind}")
    if kind == "SELFDESTRUCT" and not path:
        raise SkipError(SkipReason.MALFORMED, f"{where}: selfdestruct at the top level")
    # Old geth reports SELFDESTRUCT as a bare {"type": ...}: the value is unknown, not zero.
    value = _uint(_required(frame, "value", where), "value")
    if value == 0:
        return
    sender = address_field(_required(frame, "from", where), "from")
    if kind in _GETH_CREATES:
        recipient_or_none = _created_address(builder, frame.get("to"), tx_hash, path)
        if recipient_or_none is None:
            raise SkipError(SkipReason.UNKNOWN_RECIPIENT, f"{where}: created address unknown")
        recipient = recipient_or_none
    else:
        recipient = address_field(_required(frame, "to", where), "to")
    builder.native(
        block_number=block_number,
        tx_hash=tx_hash,
        trace_address=_joined(path),
        from_address=sender,
        to_address=recipient,
        value=value,
        succeeded=not failed,
        gas_price=builder.ctx.gas_price(tx_hash),
    )


# --------------------------------------------------------------------------------------------
# 5. Otterscan's ots_getInternalOperations (anvil, Erigon, reth).


def transfers_from_ots_internal_operations(
    operations: Sequence[object],
    *,
    transaction: object,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    block_times: Mapping[int, int] | None = None,
    receipts: Mapping[str, ReceiptFacts] | None = None,
    native_symbol: str | None = None,
) -> Normalised:
    """Value movements from ``ots_getInternalOperations`` for one transaction.

    ``transaction`` is that transaction's object (``eth_getTransactionByHash`` or an
    ``ots_search*`` entry): it supplies hash, block and gas price, and tells the
    transaction's own transfer apart. anvil and reth list that transfer first (the same
    sender, recipient and value as the transaction); it becomes the ``native`` row. Every
    other operation with a value above 0 becomes an ``internal`` row keyed ``"ots:<n>"``.

    The answer does not say whether an operation's frame reverted (reth records operations on
    entry), so internal rows of a successful transaction have ``tx_succeeded`` null; rows of a
    failed transaction are false. anvil's tracer (revm-inspectors) has reported post-Cancun
    SELFDESTRUCT with value 0 and recipient 0x0: such movements are lost on this path.
    """
    ctx = _Context(chain_id, source, request_key, block_times, receipts, None, native_symbol)
    builder = _Builder(ctx)
    try:
        tx = _object(transaction, "transaction")
        tx_hash = tx_hash_field(tx.get("hash"))
        block_number = _uint(tx.get("blockNumber"), "blockNumber")
        tx_from = address_field(tx.get("from"), "from")
        tx_to = None if tx.get("to") is None else address_field(tx.get("to"), "to")
        tx_value = _uint(tx.get("value"), "value")
    except SkipError as skip:
        for _ in operations:
            builder.skip(SkipError(skip.reason, f"transaction object unusable: {skip.detail}"))
        return builder.result()
    status = ctx.status(tx_hash)
    gas_price = ctx.gas_price(tx_hash, _optional_uint(tx.get("gasPrice")))
    for ordinal, raw in enumerate(operations):
        try:
            op = _object(raw, "internal operation")
            op_type = _uint(op.get("type"), "type")
            if op_type not in (_OTS_TRANSFER, _OTS_SELFDESTRUCT, _OTS_CREATE, _OTS_CREATE2):
                raise SkipError(SkipReason.UNSUPPORTED, f"{tx_hash} op {ordinal}: type {op_type}")
            value = _uint(op.get("value"), "value")
            if value == 0:
                continue
            where = f"{tx_hash} op {ordinal}"
            sender = address_field(_required(op, "from", where), "from")
            recipient = address_field(_required(op, "to", where), "to")
        except SkipError as skip:
            builder.skip(skip)
            continue
        own_transfer = (
            ordinal == 0
            and sender == tx_from
            and value == tx_value
            and (
                (op_type == _OTS_TRANSFER and recipient == tx_to)
                or (op_type == _OTS_CREATE and tx_to is None)
            )
        )
        builder.native(
            block_number=block_number,
            tx_hash=tx_hash,
            trace_address=None if own_transfer else f"ots:{ordinal}",
            from_address=sender,
            to_address=recipient,
            value=value,
            succeeded=status if own_transfer else (False if status is False else None),
            gas_price=gas_price,
        )
    return builder.result()


# --------------------------------------------------------------------------------------------
# Comparing tables whose position keys differ (ots ordinals vs trace addresses).

MOVEMENT_COLUMNS: Final = (
    "chain_id",
    "transaction_hash",
    "transfer_kind",
    "from_address",
    "to_address",
    "token_address",
    "token_id",
    "value_raw",
)


@dataclass(frozen=True, slots=True)
class MovementDiff:
    """Movements found in only one of two tables (``MOVEMENT_COLUMNS`` + ``occurrence``)."""

    only_left: pl.DataFrame
    only_right: pl.DataFrame

    @property
    def equal(self) -> bool:
        return self.only_left.height == 0 and self.only_right.height == 0


def movement_diff(left: pl.DataFrame, right: pl.DataFrame) -> MovementDiff:
    """Compare what moved, ignoring where in the call tree or log list it was recorded.

    Rows are compared as a multiset over :data:`MOVEMENT_COLUMNS`: two identical movements in
    one transaction must appear twice on both sides (``occurrence`` numbers the repeats).
    Success flags are not compared, since the paths know them to different degrees.
    """

    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        columns = list(MOVEMENT_COLUMNS)
        return (
            frame.select(columns)
            .sort(columns, nulls_last=False)
            .with_columns(pl.int_range(pl.len()).over(columns).alias("occurrence"))
        )

    on = [*MOVEMENT_COLUMNS, "occurrence"]
    left_keyed, right_keyed = keyed(left), keyed(right)
    return MovementDiff(
        only_left=left_keyed.join(right_keyed, on=on, how="anti", nulls_equal=True),
        only_right=right_keyed.join(left_keyed, on=on, how="anti", nulls_equal=True),
    )
