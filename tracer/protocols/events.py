"""Protocol events and per-transaction facts: two typed tables, and pure decoders into them.

The transfer table says where value moved; the tracing heuristics also need *why*: which
mixer note was deposited or withdrawn, which swap turned ETH into a token, which bridge took
funds to another chain, and who sent each transaction at what gas price. Those facts live in
two tables written next to ``transfers.parquet``:

``events`` (:data:`EVENT_SCHEMA`), one row per decoded log; unique key ``(chain_id,
transaction_hash, log_index)``. ``event`` says what happened (:class:`EventKind`), and the
columns an event does not fill are null. Meaning per event (specs in
:mod:`tracer.protocols.specs`):

=================  ===================  ===================  ===============================
event              account              counterparty         other columns
=================  ===================  ===================  ===============================
mixer_deposit      depositor (tx from)  -                    commitment_or_nullifier
                                                             (commitment), leaf_index,
                                                             event_timestamp
mixer_withdrawal   recipient (``to``)   relayer (0x0: none)  commitment_or_nullifier
                                                             (nullifier hash), fee_raw
swap_v2            sender (router)      ``to``               amount0_in .. amount1_out
swap_v3            sender               recipient            amount0, amount1 (signed),
                                                             sqrt_price_x96, liquidity, tick
wrap / unwrap      dst / src            -                    amount_raw
bridge_deposit     sender               recipient (on the    destination_chain_id,
                                        other chain)         token_address, amount_raw,
                                                             nonce_raw
=================  ===================  ===================  ===============================

Tornado's ``Deposit`` does not name the depositor (a deposit may go through the router), so
the decoders leave ``account`` null and :func:`with_tx_senders` fills it from the
transaction's ``from``. The pool's denomination is not in the event either: it is the value
the transaction moved into ``contract_address`` (transfer table), or
:data:`~tracer.protocols.specs.TORNADO_ETH_POOLS` for the known mainnet pools. ``wrap`` and
``unwrap`` are recognised by WETH9's signatures at any address; check ``contract_address``
against the chain's wrapped native token before reading them as ETH.

Amounts are exact decimal strings (uint256 does not fit polars' Decimal); V3's signed
amounts carry a leading ``-`` when negative.

``transactions`` (:data:`TRANSACTION_SCHEMA`), one row per transaction: sender, recipient,
nonce, value, the gas-price fields (for fingerprinting: wallets tend to reuse one price),
type, index in the block and status. Unique key ``(chain_id, transaction_hash)``.

The decoders follow :mod:`tracer.transfers.from_rpc`: input is untrusted, a log or
transaction that cannot be read is skipped and counted (:class:`SkipReason`), never guessed
at; fields a row merely carries along (gas prices, nonce) become null when unreadable; logs
of other events are ignored without counting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from tracer.protocols.specs import PROTOCOL_EVENTS, Column, EventKind, EventSpec
from tracer.transfers.untrusted import (
    SkipError,
    SkipReason,
    SkipTally,
    address_field,
    show,
    tx_hash_field,
)

__all__ = [
    "EVENT_KINDS",
    "EVENT_SCHEMA",
    "EVENT_UNIQUE_KEY",
    "TRANSACTION_SCHEMA",
    "TRANSACTION_UNIQUE_KEY",
    "Decoded",
    "empty_events",
    "empty_transactions",
    "events_from_logs",
    "merge",
    "topics_of",
    "transactions_from_rpc",
    "with_block_times",
    "with_tx_senders",
]

EVENT_KINDS: Final[pl.DataType] = pl.Enum([kind.value for kind in EventKind])

# Columns holding small integers; every other argument column is an exact decimal string.
_INT_COLUMNS: Final = frozenset(
    {Column.TICK, Column.LEAF_INDEX, Column.EVENT_TIMESTAMP, Column.DESTINATION_CHAIN_ID}
)
_ADDRESS_COLUMNS: Final = frozenset({Column.ACCOUNT, Column.COUNTERPARTY, Column.TOKEN_ADDRESS})

EVENT_SCHEMA: Final[pl.Schema] = pl.Schema(
    {
        "chain_id": pl.Int64(),
        "block_number": pl.Int64(),
        "block_time": pl.Datetime("us", "UTC"),
        "transaction_hash": pl.String(),
        "transaction_index": pl.Int64(),
        "log_index": pl.Int64(),
        "contract_address": pl.String(),
        "event": EVENT_KINDS,
        "protocol": pl.String(),
        **{
            column.value: pl.Int64() if column in _INT_COLUMNS else pl.String() for column in Column
        },
        "source": pl.String(),
        "request_key": pl.String(),
    }
)
EVENT_UNIQUE_KEY: Final = ("chain_id", "transaction_hash", "log_index")
_EVENT_SORT: Final = ("chain_id", "block_number", "log_index", "transaction_hash")

TRANSACTION_SCHEMA: Final[pl.Schema] = pl.Schema(
    {
        "chain_id": pl.Int64(),
        "transaction_hash": pl.String(),
        "block_number": pl.Int64(),
        "block_time": pl.Datetime("us", "UTC"),
        "transaction_index": pl.Int64(),
        "from_address": pl.String(),
        "to_address": pl.String(),  # null for a contract creation
        "contract_address": pl.String(),  # the created contract, from the receipt
        "nonce": pl.UInt64(),
        "value_raw": pl.String(),
        "gas_price": pl.UInt64(),  # the transaction's gasPrice (mined: the price paid)
        "max_priority_fee_per_gas": pl.UInt64(),  # EIP-1559 only
        "max_fee_per_gas": pl.UInt64(),  # EIP-1559 only
        "effective_gas_price": pl.UInt64(),  # from the receipt
        "gas_limit": pl.UInt64(),
        "gas_used": pl.UInt64(),
        "tx_type": pl.Int64(),
        "status": pl.Boolean(),  # null: unknown (no receipt, or pre-Byzantium)
        "method_id": pl.String(),  # first four bytes of the input; null for a plain transfer
        "source": pl.String(),
    }
)
TRANSACTION_UNIQUE_KEY: Final = ("chain_id", "transaction_hash")
_TRANSACTION_SORT: Final = ("chain_id", "block_number", "transaction_index", "transaction_hash")

_UINT64_MAX: Final = 2**64 - 1
_INT64_MAX: Final = 2**63 - 1
_QUANTITY_RE: Final = re.compile(r"0x[0-9a-fA-F]{1,64}")
_WORD_RE: Final = re.compile(r"0x[0-9a-fA-F]{64}")
_DATA_RE: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


def empty_transactions() -> pl.DataFrame:
    return pl.DataFrame(schema=TRANSACTION_SCHEMA)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A canonical table (events or transactions) and what was skipped, with examples."""

    table: pl.DataFrame
    skipped: Mapping[SkipReason, int] = field(default_factory=dict)
    samples: Mapping[SkipReason, tuple[str, ...]] = field(default_factory=dict)


def merge(results: Iterable[Decoded], schema: pl.Schema) -> Decoded:
    """One canonical table of ``schema`` (events or transactions) from several results.

    The same log or transaction reached two ways (a pool's history and a receipt) is kept
    once: expected overlap, not a skip.
    """
    collected = list(results)
    tally = SkipTally().merge(*collected)
    frames = [result.table for result in collected if result.table.height]
    table = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    return Decoded(_canonical(table, schema), tally.skipped, tally.samples)


def _canonical(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    key, order = (
        (EVENT_UNIQUE_KEY, _EVENT_SORT)
        if schema == EVENT_SCHEMA
        else (TRANSACTION_UNIQUE_KEY, _TRANSACTION_SORT)
    )
    frame = frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
    return frame.unique(subset=list(key), keep="first", maintain_order=True).sort(
        list(order), nulls_last=False
    )


class _Collector:
    """Rows by unique key (the first wins; a repeat is counted) and skip counts."""

    def __init__(self, schema: pl.Schema) -> None:
        self.schema = schema
        self.rows: dict[tuple[object, ...], dict[str, object]] = {}
        self.tally = SkipTally()

    def skip(self, error: SkipError) -> None:
        self.tally.add(error)

    def add(self, key: tuple[object, ...], row: dict[str, object]) -> None:
        if key in self.rows:
            self.skip(SkipError(SkipReason.DUPLICATE, f"{key} twice"))
            return
        self.rows[key] = row

    def result(self) -> Decoded:
        names = self.schema.names()
        table = pl.DataFrame(
            [tuple(row.get(name) for name in names) for row in self.rows.values()],
            schema=self.schema,
            orient="row",
        )
        return Decoded(_canonical(table, self.schema), self.tally.skipped, self.tally.samples)


# --------------------------------------------------------------------------------------------
# Field readers for untrusted JSON: raise SkipError, or (optional_*) give None.


def _uint(raw: object, what: str) -> int:
    if isinstance(raw, str) and _QUANTITY_RE.fullmatch(raw):
        return int(raw, 16)
    raise SkipError(SkipReason.MALFORMED, f"{what} is not a hex quantity: {show(raw)}")


def _optional_uint(raw: object, limit: int = _UINT64_MAX) -> int | None:
    if isinstance(raw, str) and _QUANTITY_RE.fullmatch(raw):
        value = int(raw, 16)
        return value if value <= limit else None
    return None


def _object(raw: object, what: str) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    raise SkipError(SkipReason.MALFORMED, f"{what} is not a JSON object: {show(raw)}")


def _hex_bytes(raw: object, what: str) -> bytes:
    if isinstance(raw, str) and _DATA_RE.fullmatch(raw):
        return bytes.fromhex(raw[2:])
    raise SkipError(SkipReason.MALFORMED, f"{what} is not hex bytes: {show(raw)}")


def _time(block_times: Mapping[int, int] | None, number: int) -> datetime | None:
    seconds = block_times.get(number) if block_times is not None else None
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None


# --------------------------------------------------------------------------------------------
# Events from logs (eth_getLogs answers or receipts' logs).


def topics_of(specs: Iterable[EventSpec]) -> list[str]:
    """The distinct topic0 values of ``specs``, sorted (an eth_getLogs topic-0 filter)."""
    return sorted({spec.topic0 for spec in specs})


def events_from_logs(
    logs: Iterable[object],
    *,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    block_times: Mapping[int, int] | None = None,
    specs: Sequence[EventSpec] = PROTOCOL_EVENTS,
) -> Decoded:
    """Decode the logs that match one of ``specs`` into rows of :data:`EVENT_SCHEMA`.

    A log matches a spec by topic0, topic count (one per indexed argument, plus topic0) and,
    for specs restricted to known contracts, its address. A log whose topic0 is known but
    whose topic count fits no spec is skipped as ``wrong_topic_count``; one whose topics or
    data do not decode as the spec's ABI (an address topic with non-zero padding, data of the
    wrong length, an out-of-range value) as ``bad_data``. Removed and pending logs are
    skipped and counted too.
    """
    by_topic: dict[str, list[EventSpec]] = {}
    for spec in specs:
        by_topic.setdefault(spec.topic0, []).append(spec)
    collector = _Collector(EVENT_SCHEMA)
    for raw in logs:
        try:
            row = _event_row(raw, by_topic, chain_id, source, request_key, block_times)
        except SkipError as skip:
            collector.skip(skip)
            continue
        if row is not None:
            key = (row["transaction_hash"], row["log_index"])
            collector.add(key, row)
    return collector.result()


def _event_row(  # noqa: PLR0917 (the decoding context, passed through)
    raw: object,
    by_topic: Mapping[str, list[EventSpec]],
    chain_id: int,
    source: str,
    request_key: str | None,
    block_times: Mapping[int, int] | None,
) -> dict[str, object] | None:
    log = _object(raw, "log")
    topics = log.get("topics")
    if not isinstance(topics, list):
        raise SkipError(SkipReason.MALFORMED, f"log topics are not a list: {show(topics)}")
    if not topics or not isinstance(topics[0], str):
        return None  # anonymous event: not one of ours
    candidates = by_topic.get(topics[0].lower())
    if not candidates:
        return None
    where = f"log {show(log.get('transactionHash'))}#{show(log.get('logIndex'))}"
    if log.get("removed") is True:
        raise SkipError(SkipReason.REMOVED, f"{where} was removed by a reorg")
    if log.get("blockNumber") is None:
        raise SkipError(SkipReason.PENDING, f"{where} is not in a block yet")
    block_number = _uint(log.get("blockNumber"), "blockNumber")
    tx_hash = tx_hash_field(log.get("transactionHash"))
    log_index = _uint(log.get("logIndex"), "logIndex")
    contract = address_field(log.get("address"), "log address")
    mine = [spec for spec in candidates if spec.contracts is None or contract in spec.contracts]
    if not mine:
        return None  # a restricted spec's signature at some other contract
    fitting = [spec for spec in mine if sum(a.indexed for a in spec.args) + 1 == len(topics)]
    if not fitting:
        raise SkipError(
            SkipReason.WRONG_TOPIC_COUNT,
            f"{where}: {mine[0].name} with {len(topics)} topics at {contract}",
        )
    spec = fitting[0]
    row: dict[str, object] = {
        "chain_id": chain_id,
        "block_number": block_number,
        "block_time": _time(block_times, block_number),
        "transaction_hash": tx_hash,
        "transaction_index": _optional_uint(log.get("transactionIndex"), _INT64_MAX),
        "log_index": log_index,
        "contract_address": contract,
        "event": spec.kind.value,
        "protocol": spec.protocol,
        "source": source,
        "request_key": request_key,
    }
    for column, constant in spec.constants:
        row[column.value] = constant
    values = _decode_args(spec, topics[1:], _hex_bytes(log.get("data"), "log data"), where)
    for arg, value in zip(spec.args, values, strict=True):
        if arg.column is not None:
            row[arg.column.value] = _cell(arg.column, value, where)
    return row


def _decode_args(spec: EventSpec, topics: list[object], data: bytes, where: str) -> list[object]:
    """Argument values in declaration order: indexed ones from topics, the rest from data."""
    data_types = [arg.abi_type for arg in spec.args if not arg.indexed]
    # Every argument type the specs use is static: exactly one word each, nothing more.
    if len(data) != 32 * len(data_types):
        raise SkipError(
            SkipReason.BAD_DATA,
            f"{where}: {spec.name} data is {len(data)} bytes, expected {32 * len(data_types)}",
        )
    try:
        from_data = list(abi_decode(data_types, data))
        from_topics: list[object] = []
        indexed = [arg for arg in spec.args if arg.indexed]
        for arg, topic in zip(indexed, topics, strict=True):
            if not (isinstance(topic, str) and _WORD_RE.fullmatch(topic)):
                raise SkipError(
                    SkipReason.MALFORMED, f"{where}: topic is not 32 bytes: {show(topic)}"
                )
            [value] = abi_decode([arg.abi_type], bytes.fromhex(topic[2:]))
            from_topics.append(value)
    except (DecodingError, ValueError, OverflowError) as exc:
        # eth_abi's strict mode rejects non-zero padding (an "address" with high bytes set).
        raise SkipError(
            SkipReason.BAD_DATA, f"{where}: {spec.name} does not decode: {exc}"
        ) from exc
    return [from_topics.pop(0) if arg.indexed else from_data.pop(0) for arg in spec.args]


def _cell(column: Column, value: object, where: str) -> object:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):  # eth_abi gives addresses checksummed
        return value.lower() if column in _ADDRESS_COLUMNS else value
    if isinstance(value, int) and not isinstance(value, bool):
        if column in _INT_COLUMNS:
            if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
                raise SkipError(SkipReason.BAD_DATA, f"{where}: {column} {value} is out of range")
            return value
        return str(value)
    raise SkipError(SkipReason.BAD_DATA, f"{where}: {column} decoded as {show(value)}")


def with_block_times(frame: pl.DataFrame, block_times: Mapping[int, int]) -> pl.DataFrame:
    """Fill the null ``block_time`` cells of an events or transactions table from Unix
    timestamps by block number (decoders run before the times are fetched)."""
    if not block_times or frame.height == 0:
        return frame
    times = pl.DataFrame(
        {"block_number": list(block_times), "_seconds": list(block_times.values())},
        schema={"block_number": pl.Int64(), "_seconds": pl.Int64()},
    )
    filled = frame.join(times, on="block_number", how="left").with_columns(
        pl.coalesce(
            pl.col("block_time"),
            pl.from_epoch(pl.col("_seconds"), time_unit="s").dt.replace_time_zone("UTC"),
        )
        .cast(pl.Datetime("us", "UTC"))
        .alias("block_time")
    )
    return filled.select(frame.columns)


def with_tx_senders(
    events: pl.DataFrame,
    transactions: pl.DataFrame,
    specs: Sequence[EventSpec] = PROTOCOL_EVENTS,
) -> pl.DataFrame:
    """Fill ``account`` of the events whose spec takes the transaction's sender (Tornado
    deposits) from ``transactions``; stays null where the transaction is not there."""
    kinds = sorted({spec.kind.value for spec in specs if spec.account_is_tx_sender})
    senders = transactions.select(
        "chain_id", "transaction_hash", pl.col("from_address").alias("_sender")
    ).unique(subset=["chain_id", "transaction_hash"])
    joined = events.join(senders, on=["chain_id", "transaction_hash"], how="left")
    return joined.with_columns(
        pl.when(pl.col("event").cast(pl.String).is_in(kinds) & pl.col("account").is_null())
        .then(pl.col("_sender"))
        .otherwise(pl.col("account"))
        .alias("account")
    ).select(EVENT_SCHEMA.names())


# --------------------------------------------------------------------------------------------
# Transaction facts from eth_getTransactionByHash (or full blocks) and receipts.


def transactions_from_rpc(
    transactions: Iterable[object],
    receipts: Iterable[object] = (),
    *,
    chain_id: int,
    source: str,
    block_times: Mapping[int, int] | None = None,
) -> Decoded:
    """One :data:`TRANSACTION_SCHEMA` row per transaction object.

    ``receipts`` (matched by hash) add status, effective gas price, gas used and the created
    contract; without one those stay null. Hash, block number and sender are required;
    a transaction not yet in a block is skipped as ``pending``; a receipt for another block
    than its transaction's (a reorg between the two requests) is ignored.
    """
    by_hash: dict[str, Mapping[str, Any]] = {}
    for receipt in receipts:
        if isinstance(receipt, Mapping):
            try:
                by_hash[tx_hash_field(receipt.get("transactionHash"))] = receipt
            except SkipError:
                continue  # cannot be attributed: its transaction's status stays unknown
    collector = _Collector(TRANSACTION_SCHEMA)
    for raw in transactions:
        try:
            row = _transaction_row(raw, by_hash, chain_id, source, block_times)
        except SkipError as skip:
            collector.skip(skip)
            continue
        collector.add((row["transaction_hash"],), row)
    return collector.result()


def _transaction_row(
    raw: object,
    receipts: Mapping[str, Mapping[str, Any]],
    chain_id: int,
    source: str,
    block_times: Mapping[int, int] | None,
) -> dict[str, object]:
    tx = _object(raw, "transaction")
    tx_hash = tx_hash_field(tx.get("hash"))
    if tx.get("blockNumber") is None:
        raise SkipError(SkipReason.PENDING, f"transaction {tx_hash} is not in a block yet")
    block_number = _uint(tx.get("blockNumber"), "blockNumber")
    sender = address_field(tx.get("from"), "from")
    recipient = None if tx.get("to") is None else address_field(tx.get("to"), "to")
    receipt = receipts.get(tx_hash, {})
    if receipt and _optional_uint(receipt.get("blockNumber"), _INT64_MAX) != block_number:
        receipt = {}
    status = _optional_uint(receipt.get("status"))
    created = receipt.get("contractAddress")
    data = tx.get("input", tx.get("data"))
    method_id = (
        data[:10].lower()
        if isinstance(data, str) and _DATA_RE.fullmatch(data) and len(data) >= 10
        else None
    )
    value = _optional_uint(tx.get("value"), 2**256 - 1)
    return {
        "chain_id": chain_id,
        "transaction_hash": tx_hash,
        "block_number": block_number,
        "block_time": _time(block_times, block_number),
        "transaction_index": _optional_uint(tx.get("transactionIndex"), _INT64_MAX),
        "from_address": sender,
        "to_address": recipient,
        "contract_address": _optional_address(created),
        "nonce": _optional_uint(tx.get("nonce")),
        "value_raw": None if value is None else str(value),
        "gas_price": _optional_uint(tx.get("gasPrice")),
        "max_priority_fee_per_gas": _optional_uint(tx.get("maxPriorityFeePerGas")),
        "max_fee_per_gas": _optional_uint(tx.get("maxFeePerGas")),
        "effective_gas_price": _optional_uint(receipt.get("effectiveGasPrice")),
        "gas_limit": _optional_uint(tx.get("gas")),
        "gas_used": _optional_uint(receipt.get("gasUsed")),
        "tx_type": _optional_uint(tx.get("type"), _INT64_MAX),
        "status": {0: False, 1: True}.get(status) if status is not None else None,
        "method_id": method_id,
        "source": source,
    }


def _optional_address(raw: object) -> str | None:
    try:
        return None if raw is None else address_field(raw, "")
    except SkipError:
        return None
