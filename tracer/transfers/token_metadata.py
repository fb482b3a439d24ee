"""Token metadata: decode what ``decimals()``, ``symbol()`` and ``name()`` answered, and fill
the transfer table's gaps with it. Pure: the calls are made by
:mod:`tracer.sources.token_metadata`.

Token contracts are untrusted code, and their answers vary in shape:

* **decimals** is a uint8 in ERC-20, but older tokens return a uint256 (MKR). It is read as
  one 32-byte word. Above 77 it is refused: no uint256 amount has more than 78 digits, so
  such a value is not a real scale (a hostile or broken token); above 255 it is not even a
  uint8. Either way it stays null, with the reason counted.
* **symbol** and **name** are an ABI ``string`` in ERC-20, but DSToken-era tokens (MKR, SAI,
  EOS) return ``bytes32``: the text left-aligned and padded with zero bytes. A 32-byte answer
  is read as ``bytes32``, a longer one as an ABI string. Bytes that are not UTF-8 become
  U+FFFD; control and format characters (terminal escapes, bidi overrides, NUL) are removed;
  the text is capped. It stays *data*: every renderer escapes it for its own syntax.
* **No such function**: an empty answer (an address without code, or a fallback that returns
  nothing) or a revert. The value is null, never guessed: a token without ``decimals()`` has
  no whole-unit amount.

Each problem is recorded as ``"<function>:<issue>"`` so a case can say what it could not read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import polars as pl

from tracer.transfers.schema import TransferKind, scaled_value

# The functions asked, by name, with their selectors (first 4 bytes of keccak256 of the
# signature: decimals() 0x313ce567, symbol() 0x95d89b41, name() 0x06fdde03).
FUNCTIONS: Final[Mapping[str, str]] = {
    "decimals": "0x313ce567",
    "symbol": "0x95d89b41",
    "name": "0x06fdde03",
}
# 10**77 < 2**256 < 10**78: a uint256 amount has at most 78 digits.
MAX_DECIMALS: Final = 77
MAX_SYMBOL_CHARS: Final = 32
MAX_NAME_CHARS: Final = 64
# No real symbol or name needs more; a hostile token must not fill the cache with its answer.
MAX_ANSWER_BYTES: Final = 4096
_WORD: Final = 32
_DATA_RE: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
# Unicode categories removed from token text: controls (Cc: NUL, ESC, newlines), format
# characters (Cf: bidi overrides that reorder what a reader sees, zero-width joiners), line
# and paragraph separators, and lone surrogates.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

# Token kinds whose rows carry a contract's metadata; native rows have the chain's own.
TOKEN_KINDS: Final = (
    TransferKind.ERC20.value,
    TransferKind.ERC721.value,
    TransferKind.ERC1155.value,
)

METADATA_SCHEMA: Final = pl.Schema(
    {
        "token_address": pl.String(),
        "symbol": pl.String(),
        "name": pl.String(),
        "decimals": pl.Int64(),
        "issues": pl.List(pl.String()),
    }
)


class MetadataIssue(StrEnum):
    """Why a metadata value is null or was repaired."""

    NO_FUNCTION = "no_function"  # empty answer or a revert: the token does not have it
    OVERSIZED = "oversized"  # an answer longer than MAX_ANSWER_BYTES: not kept
    NODE_ERROR = "node_error"  # the node failed the call (not a revert): unknown this time
    UNDECODABLE = "undecodable"  # an answer that is no word, ABI string or bytes32
    DECIMALS_NOT_UINT8 = "decimals_not_uint8"  # above 255
    DECIMALS_OUT_OF_RANGE = "decimals_out_of_range"  # 78..255: more digits than any amount
    INVALID_UTF8 = "invalid_utf8"  # bytes that are not UTF-8 (replaced by U+FFFD)
    CONTROL_CHARACTERS = "control_characters"  # removed
    TRUNCATED = "truncated"  # longer than the cap


# One eth_call's outcome as stored in the cache and passed to the decoders:
# {"result": "0x..."} (the node's answer), {"revert": code} (the call reverted: final),
# {"error": code} (any other error: unknown, not final), {"oversized": n} (an answer of n
# bytes, more than MAX_ANSWER_BYTES, not kept).
Outcome = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What one token contract says about itself; None where it says nothing usable."""

    address: str
    symbol: str | None = None
    name: str | None = None
    decimals: int | None = None
    issues: tuple[str, ...] = ()


def _returned(outcome: Outcome) -> bytes | MetadataIssue:
    """The answer's bytes, or the issue that leaves the value unknown."""
    if "revert" in outcome:
        return MetadataIssue.NO_FUNCTION
    if "oversized" in outcome:
        return MetadataIssue.OVERSIZED
    result = outcome.get("result")
    if not isinstance(result, str) or not _DATA_RE.fullmatch(result):
        return MetadataIssue.NODE_ERROR if "error" in outcome else MetadataIssue.UNDECODABLE
    data = bytes.fromhex(result[2:])
    return data if data else MetadataIssue.NO_FUNCTION


def decode_decimals(outcome: Outcome) -> tuple[int | None, MetadataIssue | None]:
    """``decimals()``: the first 32-byte word as an integer, kept when 0..77."""
    data = _returned(outcome)
    if isinstance(data, MetadataIssue):
        return None, data
    if len(data) < _WORD:
        return None, MetadataIssue.UNDECODABLE
    value = int.from_bytes(data[:_WORD], "big")
    if value > 255:
        return None, MetadataIssue.DECIMALS_NOT_UINT8
    if value > MAX_DECIMALS:
        return None, MetadataIssue.DECIMALS_OUT_OF_RANGE
    return value, None


def decode_text(outcome: Outcome, max_chars: int) -> tuple[str | None, tuple[MetadataIssue, ...]]:
    """``symbol()`` or ``name()``: a bytes32 (exactly one word) or an ABI string, made safe
    to keep (see the module docstring). Empty text is None."""
    data = _returned(outcome)
    if isinstance(data, MetadataIssue):
        return None, (data,)
    if len(data) == _WORD:
        raw = data.split(b"\0", 1)[0]  # bytes32: text, then zero padding
    else:
        text = _abi_bytes(data)
        if text is None:
            return None, (MetadataIssue.UNDECODABLE,)
        # Trailing zero bytes: a bytes32 copied into a string whole (ethereum-etl records
        # one such mainnet token, "ETH\0\0\0"); padding, not text.
        raw = text.rstrip(b"\0")
    return safe_text(raw, max_chars)


def _abi_bytes(data: bytes) -> bytes | None:
    """The payload of an ABI-encoded ``string`` (or ``bytes``) return value: a word with the
    offset of a length word, followed by that many bytes. Padding is not checked (solc does
    not either); an offset or length reaching past the data is refused, never cut short."""
    offset = int.from_bytes(data[:_WORD], "big")
    if offset + _WORD > len(data):
        return None
    length = int.from_bytes(data[offset : offset + _WORD], "big")
    start = offset + _WORD
    return data[start : start + length] if start + length <= len(data) else None


def safe_text(raw: bytes, max_chars: int) -> tuple[str | None, tuple[MetadataIssue, ...]]:
    """Untrusted bytes as text that cannot carry control or format characters."""
    issues: list[MetadataIssue] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        issues.append(MetadataIssue.INVALID_UTF8)
    kept = "".join(c for c in text if unicodedata.category(c) not in _UNSAFE_CATEGORIES)
    if kept != text:
        issues.append(MetadataIssue.CONTROL_CHARACTERS)
    kept = kept.strip()
    if len(kept) > max_chars:
        kept = kept[:max_chars].rstrip()
        issues.append(MetadataIssue.TRUNCATED)
    return kept or None, tuple(issues)


def decode_token(address: str, outcomes: Mapping[str, Outcome]) -> TokenFacts:
    """A token's facts from the outcomes of its three calls (keyed as :data:`FUNCTIONS`)."""
    decimals, decimals_issue = decode_decimals(outcomes.get("decimals", {}))
    symbol, symbol_issues = decode_text(outcomes.get("symbol", {}), MAX_SYMBOL_CHARS)
    name, name_issues = decode_text(outcomes.get("name", {}), MAX_NAME_CHARS)
    issues = [f"decimals:{decimals_issue}"] if decimals_issue else []
    issues += [f"symbol:{issue}" for issue in symbol_issues]
    issues += [f"name:{issue}" for issue in name_issues]
    return TokenFacts(address, symbol, name, decimals, tuple(issues))


def facts_frame(facts: Mapping[str, TokenFacts]) -> pl.DataFrame:
    """The facts as a table (:data:`METADATA_SCHEMA`), one row per token, sorted."""
    rows = [
        (fact.address, fact.symbol, fact.name, fact.decimals, list(fact.issues))
        for _address, fact in sorted(facts.items())
    ]
    return pl.DataFrame(rows, schema=METADATA_SCHEMA, orient="row")


def facts_of(frame: pl.DataFrame) -> dict[str, TokenFacts]:
    """The inverse of :func:`facts_frame`."""
    return {
        address: TokenFacts(address, symbol, name, decimals, tuple(issues or ()))
        for address, symbol, name, decimals, issues in frame.select(METADATA_SCHEMA.names()).rows()
    }


def tokens_missing_metadata(transfers: pl.DataFrame) -> list[str]:
    """Token contracts with a row that lacks its symbol, or (ERC-20) its decimals."""
    missing = transfers.filter(
        pl.col("transfer_kind").cast(pl.String).is_in(TOKEN_KINDS)
        & (
            pl.col("token_symbol").is_null()
            | (
                (pl.col("transfer_kind").cast(pl.String) == TransferKind.ERC20.value)
                & pl.col("token_decimals").is_null()
            )
        )
    )
    return sorted(missing["token_address"].unique().to_list())


def fill_transfers(transfers: pl.DataFrame, facts: Mapping[str, TokenFacts]) -> pl.DataFrame:
    """``transfers`` with ``token_symbol``, ``token_decimals`` and ``value`` filled from
    ``facts`` where they are null; what a source gave is never overwritten, ``value_raw`` is
    untouched, and row order is kept. Decimals go to ERC-20 rows only: NFTs have none
    (ERC-721 rows already carry 0, one token being one unit)."""
    if transfers.is_empty() or not facts:
        return transfers
    known = facts_frame(facts).select(
        pl.col("token_address"),
        pl.col("symbol").alias("_symbol"),
        pl.col("decimals").alias("_decimals"),
    )
    kind = pl.col("transfer_kind").cast(pl.String)
    is_token = kind.is_in(TOKEN_KINDS)
    joined = transfers.join(known, on="token_address", how="left", maintain_order="left")
    decimals = (
        pl.when(pl.col("token_decimals").is_null() & (kind == TransferKind.ERC20.value))
        .then(pl.col("_decimals"))
        .otherwise(pl.col("token_decimals"))
    )
    filled = joined.with_columns(
        token_symbol=pl.when(pl.col("token_symbol").is_null() & is_token)
        .then(pl.col("_symbol"))
        .otherwise(pl.col("token_symbol")),
        token_decimals=decimals,
    )
    scaled = filled.select(
        pl.struct("value_raw", "token_decimals").map_elements(
            _display_value, return_dtype=pl.Float64()
        )
    ).to_series()
    return filled.with_columns(
        value=pl.when(pl.col("value").is_null()).then(scaled).otherwise(pl.col("value"))
    ).select(transfers.columns)


def _display_value(row: Mapping[str, Any]) -> float | None:
    raw, decimals = row["value_raw"], row["token_decimals"]
    if raw is None or decimals is None:
        return None
    return scaled_value(int(raw), decimals)
