"""THE transfer table: one row per movement of value, whatever source produced it.

Every source normalises into this schema and nothing else. Design choices, and why:

* ``value_raw`` is the exact uint256 amount as a decimal string. polars' Decimal is 128-bit
  and cannot hold every uint256 (ethereum-etl stores uint256 as strings for the same reason).
  Code that adds amounts up converts to Python ``int``; ``value`` (Float64 in token units) is
  for display and ranking only.
* Failed transfers are kept with ``tx_succeeded = False``: an investigator needs to see a
  reverted withdrawal attempt, and dropping rows silently would make coverage unverifiable.
* Addresses and hashes are lowercase hex (see :mod:`tracer.types`).
* ``log_index`` is set for rows decoded from logs, ``trace_address`` (comma-joined call path,
  e.g. ``"0,2"``) for rows from internal calls; the other is null. Together with
  ``transfer_kind`` and ``token_id`` they make each row unique within a transaction.
* ``source`` names the API that produced the row and ``request_key`` the cached request it
  came from, so any figure in a report can be traced back to the raw answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import polars as pl


class TransferKind(StrEnum):
    NATIVE = "native"  # the value of the transaction itself
    INTERNAL = "internal"  # value moved by a contract call inside a transaction
    ERC20 = "erc20"
    ERC721 = "erc721"
    ERC1155 = "erc1155"


TRANSFER_KINDS: Final[pl.DataType] = pl.Enum([kind.value for kind in TransferKind])

TRANSFER_SCHEMA: Final[pl.Schema] = pl.Schema(
    {
        "chain_id": pl.Int64(),
        "block_number": pl.Int64(),
        "block_time": pl.Datetime("us", "UTC"),
        "transaction_hash": pl.String(),
        "transfer_kind": TRANSFER_KINDS,
        "log_index": pl.Int64(),
        "trace_address": pl.String(),
        "from_address": pl.String(),
        "to_address": pl.String(),
        "token_address": pl.String(),
        "token_id": pl.String(),
        "value_raw": pl.String(),
        "value": pl.Float64(),
        "token_symbol": pl.String(),
        "token_decimals": pl.Int64(),
        "tx_succeeded": pl.Boolean(),
        "gas_price": pl.UInt64(),
        "source": pl.String(),
        "request_key": pl.String(),
    }
)

UNIQUE_KEY: Final[tuple[str, ...]] = (
    "chain_id",
    "transaction_hash",
    "transfer_kind",
    "log_index",
    "trace_address",
    "token_id",
)

# Canonical row order: chronological, then position within the transaction.
SORT_KEY: Final[tuple[str, ...]] = (
    "chain_id",
    "block_number",
    "transaction_hash",
    "transfer_kind",
    "log_index",
    "trace_address",
    "token_id",
)


def scaled_value(value_raw: int, decimals: int | None) -> float | None:
    """Token units for display; exact via Decimal before the final float conversion."""
    if decimals is None:
        return None
    return float(Decimal(value_raw).scaleb(-decimals))


def empty_transfers() -> pl.DataFrame:
    return pl.DataFrame(schema=TRANSFER_SCHEMA)


def transfers_from_rows(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Build a table from row mappings (missing optional columns become null).

    ``block_time`` may be given as a timezone-aware datetime or as integer Unix seconds.
    """
    materialised = [_normalise_row(row) for row in rows]
    if not materialised:
        return empty_transfers()
    return pl.DataFrame(materialised, schema=TRANSFER_SCHEMA, orient="row")


def _normalise_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    values: list[Any] = []
    for column in TRANSFER_SCHEMA.names():
        value = row.get(column)
        if column == "block_time" and isinstance(value, int):
            value = datetime.fromtimestamp(value, tz=UTC)
        values.append(value)
    return tuple(values)


def canonicalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast to the schema, drop exact duplicates by the unique key, and sort canonically.

    Sources may deliver the same transfer twice (overlapping pages, resumed crawls); the
    unique key makes that harmless. Null key parts compare equal here, as polars does.
    """
    frame = frame.select([pl.col(name).cast(dtype) for name, dtype in TRANSFER_SCHEMA.items()])
    return frame.unique(subset=list(UNIQUE_KEY), keep="first", maintain_order=True).sort(
        list(SORT_KEY), nulls_last=False
    )


def validate(frame: pl.DataFrame) -> None:
    """Raise ValueError if ``frame`` does not match the schema or breaks its invariants."""
    if frame.schema != TRANSFER_SCHEMA:
        expected = dict(TRANSFER_SCHEMA.items())
        actual = dict(frame.schema.items())
        diff = {
            name: (expected.get(name), actual.get(name))
            for name in set(expected) | set(actual)
            if expected.get(name) != actual.get(name)
        }
        raise ValueError(f"transfer table does not match the schema: {diff}")
    duplicates = frame.select(list(UNIQUE_KEY)).is_duplicated().sum()
    if duplicates:
        raise ValueError(f"transfer table has {duplicates} rows sharing a unique key")
    bad_values = frame.filter(~pl.col("value_raw").str.contains(r"^(0|[1-9][0-9]{0,77})$"))
    if bad_values.height:
        raise ValueError(
            f"value_raw must be a non-negative decimal integer; got {bad_values['value_raw'][0]!r}"
        )
