"""Pure normalisers: Etherscan-format explorer records in, rows of the transfer table out.

Nothing here awaits or touches the network. Callers pass the ``result`` lists of
``module=account`` answers (Etherscan v2, or Blockscout's compatible API) and get a
:class:`~tracer.transfers.from_rpc.Normalised` back: a canonical table plus skip counts.
Explorer answers are untrusted input: every field a row depends on is validated, and a record
that cannot be read is skipped and counted under a :class:`~tracer.transfers.SkipReason`,
never guessed at. Fields a row merely carries along (gas price, symbol, decimals, time) become
null when unreadable.

The conventions are those of :mod:`tracer.transfers.from_rpc`, so that an explorer table and a
node table of the same address line up row for row:

* **Zero values.** Native and internal movements of 0 wei are dropped; token transfers of 0
  are kept (address-poisoning spam is evidence).
* **The top-level call is the transaction's own value**: ``txlist`` records become ``native``
  rows with ``trace_address`` null, and so does an internal record that names the top-level
  call (an empty ``traceId``, or Blockscout's ``index`` 0).
* **Position of an internal movement.** Etherscan's ``traceId`` is the Parity trace address
  joined with underscores: ``"0_1_1"`` is the call at ``[0, 1, 1]`` (the second child of the
  first call, then its second child), which becomes ``trace_address = "0,1,1"``, exactly what
  ``trace_filter`` and the callTracer walker produce for that call (the conformance suite checks
  this against anvil). Blockscout gives no call path, only ``index``, the movement's position
  in the transaction's flattened trace list; those rows are keyed ``"blockscout:<index>"``
  (a prefix that can never collide with a real call path, like ``from_rpc``'s ``"ots:<n>"``)
  and compare with the other paths through :func:`~tracer.transfers.from_rpc.movement_diff`.
* **Success.** ``txlist`` rows take the receipt status (``txreceipt_status``; pre-Byzantium
  records leave it empty, and then only ``isError = "1"`` is conclusive). An internal row
  failed when its own ``isError`` is ``"1"``, when a record of an ancestor call in the same
  answer failed, or when its transaction is known to have failed (``failed_transactions``,
  see :func:`failed_transactions_from_records`). Token rows are always true: a reverted
  frame's logs never reach a receipt.
* **Calls that move no value of their own** (delegatecall, staticcall, callcode; as ``type``
  or Blockscout's ``callType``) are skipped by type, not by value, and rewards are ignored.
* **Token kinds follow the action**: ``tokentx`` is ERC-20, ``tokennfttx`` ERC-721 (one
  token, decimals 0), ``token1155tx`` ERC-1155. A token record without ``logIndex`` cannot be
  keyed (two transfers of one transaction would collapse into one), so it is skipped as
  incomplete. An ERC-1155 id listed twice in one batch arrives as two records with one key: they
  become one row holding the exact sum, as in ``from_rpc``.
* **Gas price.** ``txlistinternal`` carries none; pass ``gas_prices`` (see
  :func:`gas_prices_from_records`) to fill it from other records of the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from tracer.transfers.from_rpc import NATIVE_DECIMALS, Normalised
from tracer.transfers.schema import TransferKind, canonicalise, scaled_value, transfers_from_rows
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
    "BLOCKSCOUT_POSITION_PREFIX",
    "ExplorerAction",
    "failed_transactions_from_records",
    "gas_prices_from_records",
    "trace_address_from_trace_id",
    "transfers_from_explorer",
]

UINT256_MAX: Final = 2**256 - 1
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
# The last second Python's datetime can hold (9999-12-31T23:59:59Z).
_MAX_TIMESTAMP: Final = 253_402_300_799
_MAX_SYMBOL_LENGTH: Final = 64

# Explorers send every number as a decimal string. 78 digits hold any uint256.
_DECIMAL_RE: Final = re.compile(r"[0-9]{1,78}")
_TRACE_ID_RE: Final = re.compile(r"[0-9]{1,9}(?:_[0-9]{1,9})*")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")

BLOCKSCOUT_POSITION_PREFIX: Final = "blockscout:"

_VALUELESS_CALLS: Final = frozenset({"delegatecall", "staticcall", "callcode"})
_CREATES: Final = frozenset({"create", "create2"})
_SELFDESTRUCTS: Final = frozenset({"suicide", "selfdestruct"})


class ExplorerAction(StrEnum):
    """The ``module=account`` actions that list an address's transfers."""

    TXLIST = "txlist"  # the address's own transactions (native value)
    TXLISTINTERNAL = "txlistinternal"  # value moved by contract calls
    TOKENTX = "tokentx"  # ERC-20
    TOKENNFTTX = "tokennfttx"  # ERC-721
    TOKEN1155TX = "token1155tx"  # ERC-1155


_TOKEN_KINDS: Final = {
    ExplorerAction.TOKENTX: TransferKind.ERC20,
    ExplorerAction.TOKENNFTTX: TransferKind.ERC721,
    ExplorerAction.TOKEN1155TX: TransferKind.ERC1155,
}


def trace_address_from_trace_id(trace_id: str) -> str | None:
    """Etherscan's ``traceId`` as the transfer table's ``trace_address``.

    ``"0_1_1"`` becomes ``"0,1,1"``; the empty string names the top-level call and becomes
    None. Raises ValueError for anything else.
    """
    if trace_id == "":
        return None
    if not _TRACE_ID_RE.fullmatch(trace_id):
        raise ValueError(f"traceId is not a call path: {show(trace_id)}")
    return ",".join(str(int(part)) for part in trace_id.split("_"))


def gas_prices_from_records(records: Iterable[object]) -> dict[str, int]:
    """Tx hash -> ``gasPrice`` from any records that carry one (txlist, token actions)."""
    prices: dict[str, int] = {}
    for record in records:
        if not isinstance(record, Mapping):
            continue
        price = _optional_decimal(record.get("gasPrice"), _UINT64_MAX)
        tx_hash = _optional_tx_hash(record.get("hash"))
        if price is not None and tx_hash is not None:
            prices[tx_hash] = price
    return prices


def failed_transactions_from_records(txlist_records: Iterable[object]) -> set[str]:
    """Hashes of the transactions that ``txlist`` records show as failed."""
    failed: set[str] = set()
    for record in txlist_records:
        if not isinstance(record, Mapping):
            continue
        tx_hash = _optional_tx_hash(record.get("hash"))
        if tx_hash is not None and _transaction_status(record) is False:
            failed.add(tx_hash)
    return failed


def transfers_from_explorer(
    records: Sequence[object],
    *,
    action: ExplorerAction | str,
    chain_id: int,
    source: str,
    request_key: str | None = None,
    request_keys: Sequence[str | None] | None = None,
    gas_prices: Mapping[str, int] | None = None,
    failed_transactions: Collection[str] = (),
    native_symbol: str | None = None,
) -> Normalised:
    """Rows from the ``result`` records of one action (one page, or several concatenated).

    ``request_keys``, when given, holds the request key of each record (parallel to
    ``records``), for answers assembled from several pages; otherwise every row carries
    ``request_key``.
    """
    kind = ExplorerAction(action)
    if request_keys is not None and len(request_keys) != len(records):
        raise ValueError("request_keys must give one key per record")
    builder = _Builder(
        chain_id=chain_id,
        source=source,
        native_symbol=native_symbol,
        gas_prices=gas_prices or {},
        failed=frozenset(failed_transactions),
    )
    if kind is ExplorerAction.TXLISTINTERNAL:
        builder.errored_calls = _errored_calls(records)
    for position, raw in enumerate(records):
        key = request_keys[position] if request_keys is not None else request_key
        try:
            record = _object(raw)
            if kind is ExplorerAction.TXLIST:
                _transaction_row(builder, record, key)
            elif kind is ExplorerAction.TXLISTINTERNAL:
                _internal_row(builder, record, key)
            else:
                _token_row(builder, record, _TOKEN_KINDS[kind], key)
        except SkipError as skip:
            builder.skip(skip)
    return builder.result()


# --------------------------------------------------------------------------------------------
# Validation: each helper returns a clean value or raises SkipError.


def _object(raw: object) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    raise SkipError(SkipReason.MALFORMED, f"record is not a JSON object: {show(raw)}")


def _required(record: Mapping[str, Any], key: str) -> object:
    value = record.get(key)
    if value is None:
        raise SkipError(SkipReason.INCOMPLETE, f"record has no {key!r}: {show(record)}")
    return value


def _decimal(raw: object, what: str, maximum: int = UINT256_MAX) -> int:
    """A non-negative integer sent as a decimal string (or, leniently, a JSON integer)."""
    value: int | None = None
    if isinstance(raw, str) and _DECIMAL_RE.fullmatch(raw):
        value = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    if value is None or not 0 <= value <= maximum:
        raise SkipError(SkipReason.MALFORMED, f"{what} is not a decimal quantity: {show(raw)}")
    return value


def _optional_decimal(raw: object, maximum: int = UINT256_MAX) -> int | None:
    try:
        return None if raw is None or raw == "" else _decimal(raw, "", maximum)
    except SkipError:
        return None


def _optional_address(raw: object, what: str) -> str | None:
    """Explorers write an absent address (a creation's ``to``) as the empty string."""
    return None if raw is None or raw == "" else address_field(raw, what)


def _optional_tx_hash(raw: object) -> str | None:
    try:
        return tx_hash_field(raw)
    except SkipError:
        return None


def _flag(raw: object) -> bool | None:
    """``"1"`` / ``"0"`` (also as JSON integers); anything else is unknown."""
    if raw in ("1", 1) and not isinstance(raw, bool):
        return True
    if raw in ("0", 0) and not isinstance(raw, bool):
        return False
    return None


def _block_time(raw: object) -> datetime | None:
    seconds = _optional_decimal(raw, _MAX_TIMESTAMP)
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def _decimals(raw: object) -> int | None:
    """Token decimals; outside ERC-20's uint8 (a hostile token can claim anything): unknown."""
    return _optional_decimal(raw, 255)


def _symbol(raw: object) -> str | None:
    """A token's self-declared symbol: kept when it is short, printable text."""
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_SYMBOL_LENGTH:
        return None
    return None if _CONTROL_RE.search(raw) else raw


def _transaction_status(record: Mapping[str, Any]) -> bool | None:
    # Pre-Byzantium receipts hold no status (explorers send ""): then only a recorded
    # execution error is conclusive, and success stays unknown, as on the node path.
    status = _flag(record.get("txreceipt_status"))
    if status is not None:
        return status
    return False if _flag(record.get("isError")) is True else None


# --------------------------------------------------------------------------------------------
# The row collector.


@dataclass(slots=True)
class _Row:
    block_number: int
    block_time: datetime | None
    tx_hash: str
    kind: TransferKind
    log_index: int | None
    trace_address: str | None
    from_address: str
    to_address: str
    token_address: str
    token_id: int | None
    value: int
    decimals: int | None
    symbol: str | None
    succeeded: bool | None
    gas_price: int | None
    request_key: str | None


class _Builder:
    """Collects rows (the first of each unique key wins; ERC-1155 repeats add up)."""

    def __init__(
        self,
        *,
        chain_id: int,
        source: str,
        native_symbol: str | None,
        gas_prices: Mapping[str, int],
        failed: frozenset[str],
    ) -> None:
        self.chain_id = chain_id
        self.source = source
        self.native_symbol = native_symbol
        self.gas_prices = {tx.lower(): price for tx, price in gas_prices.items()}
        self.failed = frozenset(tx.lower() for tx in failed)
        self.errored_calls: frozenset[tuple[str, str | None]] = frozenset()
        self._rows: dict[tuple[object, ...], _Row] = {}
        self._tally = SkipTally()

    def skip(self, error: SkipError) -> None:
        self._tally.add(error)

    def gas_price(self, tx_hash: str, own: object = None) -> int | None:
        price = _optional_decimal(own, _UINT64_MAX)
        return price if price is not None else self.gas_prices.get(tx_hash)

    def add(self, row: _Row) -> None:
        token_id = str(row.token_id) if row.token_id is not None else None
        key = (row.tx_hash, row.kind, row.log_index, row.trace_address, token_id)
        existing = self._rows.get(key)
        if existing is None:
            self._rows[key] = row
            return
        if row.kind is TransferKind.ERC1155:
            total = existing.value + row.value
            if total > UINT256_MAX:
                self.skip(
                    SkipError(SkipReason.BAD_DATA, f"{row.tx_hash}: ERC-1155 amounts overflow")
                )
                return
            existing.value = total
            return
        where = row.log_index if row.log_index is not None else row.trace_address
        self.skip(SkipError(SkipReason.DUPLICATE, f"{row.kind} {row.tx_hash} at {where} twice"))

    def result(self) -> Normalised:
        rows = [
            {
                "chain_id": self.chain_id,
                "block_number": row.block_number,
                "block_time": row.block_time,
                "transaction_hash": row.tx_hash,
                "transfer_kind": row.kind.value,
                "log_index": row.log_index,
                "trace_address": row.trace_address,
                "from_address": row.from_address,
                "to_address": row.to_address,
                "token_address": row.token_address,
                "token_id": str(row.token_id) if row.token_id is not None else None,
                "value_raw": str(row.value),
                "value": scaled_value(row.value, row.decimals),
                "token_symbol": row.symbol,
                "token_decimals": row.decimals,
                "tx_succeeded": row.succeeded,
                "gas_price": row.gas_price,
                "source": self.source,
                "request_key": row.request_key,
            }
            for row in self._rows.values()
        ]
        return Normalised(
            canonicalise(transfers_from_rows(rows)), self._tally.skipped, self._tally.samples
        )


# --------------------------------------------------------------------------------------------
# txlist: the transaction's own value.


def _transaction_row(builder: _Builder, record: Mapping[str, Any], key: str | None) -> None:
    tx_hash = tx_hash_field(_required(record, "hash"))
    block_number = _decimal(_required(record, "blockNumber"), "blockNumber", _INT64_MAX)
    value = _decimal(_required(record, "value"), "value")
    if value == 0:
        return
    sender = address_field(_required(record, "from"), "from")
    recipient = _optional_address(record.get("to"), "to")
    if recipient is None:  # a contract creation: the value goes to the new contract
        recipient = _optional_address(record.get("contractAddress"), "contractAddress")
        if recipient is None:
            raise SkipError(
                SkipReason.UNKNOWN_RECIPIENT, f"creation {tx_hash}: contract address unknown"
            )
    builder.add(
        _Row(
            block_number=block_number,
            block_time=_block_time(record.get("timeStamp")),
            tx_hash=tx_hash,
            kind=TransferKind.NATIVE,
            log_index=None,
            trace_address=None,
            from_address=sender,
            to_address=recipient,
            token_address=NATIVE_TOKEN,
            token_id=None,
            value=value,
            decimals=NATIVE_DECIMALS,
            symbol=builder.native_symbol,
            succeeded=_transaction_status(record),
            gas_price=builder.gas_price(tx_hash, record.get("gasPrice")),
            request_key=key,
        )
    )


# --------------------------------------------------------------------------------------------
# txlistinternal: value moved by calls inside a transaction.


def _internal_hash(record: Mapping[str, Any]) -> str:
    # Etherscan names the transaction "hash", Blockscout "transactionHash".
    raw = record.get("hash")
    return tx_hash_field(raw if raw is not None else _required(record, "transactionHash"))


def _internal_position(record: Mapping[str, Any], tx_hash: str) -> str | None:
    """The row's trace address (None for the top-level call); see the module notes."""
    trace_id = record.get("traceId")
    if trace_id is not None:
        if not isinstance(trace_id, str):
            raise SkipError(SkipReason.MALFORMED, f"{tx_hash}: traceId {show(trace_id)}")
        try:
            return trace_address_from_trace_id(trace_id)
        except ValueError as exc:
            raise SkipError(SkipReason.MALFORMED, f"{tx_hash}: {exc}") from None
    index = record.get("index")
    if index is None:
        raise SkipError(SkipReason.INCOMPLETE, f"{tx_hash}: internal record without position")
    position = _decimal(index, "index", _INT64_MAX)
    return None if position == 0 else f"{BLOCKSCOUT_POSITION_PREFIX}{position}"


def _errored_calls(records: Iterable[object]) -> frozenset[tuple[str, str | None]]:
    """(tx hash, trace address) of every internal record marked as failed."""
    errored: set[tuple[str, str | None]] = set()
    for raw in records:
        if not isinstance(raw, Mapping) or _flag(raw.get("isError")) is not True:
            continue
        try:
            tx_hash = _internal_hash(raw)
            errored.add((tx_hash, _internal_position(raw, tx_hash)))
        except SkipError:
            continue  # counted when the record itself is read
    return frozenset(errored)


def _ancestors(trace_address: str | None) -> list[str | None]:
    """The trace addresses of the calls above this one, the top-level call (None) first."""
    if trace_address is None or trace_address.startswith(BLOCKSCOUT_POSITION_PREFIX):
        return [None]  # Blockscout's positions say nothing about nesting
    parts = trace_address.split(",")
    return [None, *(",".join(parts[:depth]) for depth in range(1, len(parts)))]


def _internal_row(builder: _Builder, record: Mapping[str, Any], key: str | None) -> None:
    tx_hash = _internal_hash(record)
    position = _internal_position(record, tx_hash)
    kind = record.get("type")
    call_type = record.get("callType")
    if not isinstance(kind, str):
        raise SkipError(SkipReason.MALFORMED, f"{tx_hash}: internal type {show(kind)}")
    kind = kind.lower()
    if kind in _VALUELESS_CALLS or (
        isinstance(call_type, str) and call_type.lower() in _VALUELESS_CALLS
    ):
        return
    if kind == "reward":
        return  # issuance, not a transfer between addresses
    if kind not in _CREATES and kind not in _SELFDESTRUCTS and kind != "call":
        raise SkipError(SkipReason.UNSUPPORTED, f"{tx_hash}: internal type {kind!r}")
    if kind in _SELFDESTRUCTS and position is None:
        raise SkipError(SkipReason.MALFORMED, f"{tx_hash}: selfdestruct at the top level")
    block_number = _decimal(_required(record, "blockNumber"), "blockNumber", _INT64_MAX)
    value = _decimal(_required(record, "value"), "value")
    if value == 0:
        return
    sender = address_field(_required(record, "from"), "from")
    if kind in _CREATES:
        recipient = _optional_address(record.get("contractAddress"), "contractAddress")
        recipient = recipient or _optional_address(record.get("to"), "to")
        if recipient is None:
            raise SkipError(
                SkipReason.UNKNOWN_RECIPIENT, f"{tx_hash}: created contract address unknown"
            )
    else:
        recipient = address_field(_required(record, "to"), "to")
    own = _flag(record.get("isError"))
    failed = (
        own is True
        or tx_hash in builder.failed
        or any((tx_hash, above) in builder.errored_calls for above in _ancestors(position))
    )
    builder.add(
        _Row(
            block_number=block_number,
            block_time=_block_time(record.get("timeStamp")),
            tx_hash=tx_hash,
            kind=TransferKind.NATIVE if position is None else TransferKind.INTERNAL,
            log_index=None,
            trace_address=position,
            from_address=sender,
            to_address=recipient,
            token_address=NATIVE_TOKEN,
            token_id=None,
            value=value,
            decimals=NATIVE_DECIMALS,
            symbol=builder.native_symbol,
            succeeded=False if failed else (None if own is None else True),
            gas_price=builder.gas_price(tx_hash),
            request_key=key,
        )
    )


# --------------------------------------------------------------------------------------------
# tokentx / tokennfttx / token1155tx.


def _token_row(
    builder: _Builder, record: Mapping[str, Any], kind: TransferKind, key: str | None
) -> None:
    tx_hash = tx_hash_field(_required(record, "hash"))
    block_number = _decimal(_required(record, "blockNumber"), "blockNumber", _INT64_MAX)
    if record.get("logIndex") in (None, ""):
        raise SkipError(
            SkipReason.INCOMPLETE,
            f"{kind} in {tx_hash} has no logIndex, so it cannot be told apart from others",
        )
    log_index = _decimal(record["logIndex"], "logIndex", _INT64_MAX)
    token = address_field(_required(record, "contractAddress"), "contractAddress")
    sender = address_field(_required(record, "from"), "from")
    recipient = address_field(_required(record, "to"), "to")
    token_id: int | None = None
    if kind is TransferKind.ERC20:
        value = _decimal(_required(record, "value"), "value")
        decimals = _decimals(record.get("tokenDecimal"))
    elif kind is TransferKind.ERC721:
        token_id = _decimal(_required(record, "tokenID"), "tokenID")
        value, decimals = 1, 0  # indivisible by definition
    else:
        token_id = _decimal(_required(record, "tokenID"), "tokenID")
        value = _decimal(_required(record, "tokenValue"), "tokenValue")
        decimals = _decimals(record.get("tokenDecimal"))
    builder.add(
        _Row(
            block_number=block_number,
            block_time=_block_time(record.get("timeStamp")),
            tx_hash=tx_hash,
            kind=kind,
            log_index=log_index,
            trace_address=None,
            from_address=sender,
            to_address=recipient,
            token_address=token,
            token_id=token_id,
            value=value,
            decimals=decimals,
            symbol=_symbol(record.get("tokenSymbol")),
            succeeded=True,
            gas_price=builder.gas_price(tx_hash, record.get("gasPrice")),
            request_key=key,
        )
    )
