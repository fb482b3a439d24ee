"""After the crawl: the symbols and decimals the transfer logs do not carry.

Every token contract with a row lacking its symbol (or, for ERC-20, its decimals) is asked
(:mod:`tracer.sources.token_metadata`), and the gaps of the table are filled
(:func:`tracer.transfers.token_metadata.fill_transfers`), so ``transfers.parquet``, the
off-ramps' whole-unit ``amount`` and the documents all have them. The facts are kept in the
case's checkpoint next to the crawl they belong to, so a re-run of a finished case sends no
request for them even when its last block was too recent for the answer cache.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

import polars as pl

from tracer.crawl.checkpoint import Checkpoint
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.token_metadata import read_token_metadata
from tracer.transfers.schema import TransferKind
from tracer.transfers.token_metadata import (
    MAX_SYMBOL_CHARS,
    METADATA_SCHEMA,
    MetadataIssue,
    TokenFacts,
    facts_frame,
    facts_of,
    fill_transfers,
    tokens_missing_metadata,
)

_TABLE: Final = "token_metadata"
_SHOWN: Final = 3  # token addresses named in a note

# How a note names each reason decimals are unknown.
_DECIMALS_REASONS: Final[dict[str, str]] = {
    MetadataIssue.NO_FUNCTION: "no decimals() function",
    MetadataIssue.NODE_ERROR: "the node failed the call (--restart asks again)",
    MetadataIssue.UNDECODABLE: "an unreadable answer",
    MetadataIssue.OVERSIZED: "an oversized answer",
    MetadataIssue.DECIMALS_NOT_UINT8: "a value above 255",
    MetadataIssue.DECIMALS_OUT_OF_RANGE: "a value above 77",
}

_CLEANED_SYMBOL: Final = frozenset(
    f"symbol:{issue}"
    for issue in (
        MetadataIssue.INVALID_UTF8,
        MetadataIssue.CONTROL_CHARACTERS,
        MetadataIssue.TRUNCATED,
    )
)


@dataclass(frozen=True)
class CaseTokens:
    """The facts of the tokens a case's table needed, as of ``block``."""

    facts: dict[str, TokenFacts]
    erc20: frozenset[str]  # the tokens with ERC-20 rows (the ones decimals matter for)
    block: int

    def filled(self, transfers: pl.DataFrame) -> pl.DataFrame:
        return fill_transfers(transfers, self.facts)

    @property
    def notes(self) -> list[str]:
        """What could not be read, for the person running the trace."""
        reasons: Counter[str] = Counter()
        unknown: list[str] = []
        repaired = 0
        for address, fact in sorted(self.facts.items()):
            for issue in fact.issues:
                function, _, reason = issue.partition(":")
                if function == "decimals" and address in self.erc20:
                    reasons[_DECIMALS_REASONS.get(reason, reason)] += 1
                    unknown.append(address)
            repaired += any(issue in _CLEANED_SYMBOL for issue in fact.issues)
        notes: list[str] = []
        if unknown:
            why = "; ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
            shown = ", ".join(unknown[:_SHOWN]) + (", ..." if len(unknown) > _SHOWN else "")
            notes.append(
                f"{len(unknown)} token(s) without readable decimals at block {self.block} "
                f"({why}): their amounts stay in raw units ({shown})"
            )
        if repaired:
            notes.append(
                f"{repaired} token symbol(s) held bytes that are not UTF-8, control characters "
                f"or more than {MAX_SYMBOL_CHARS} characters: they are kept cleaned"
            )
        return notes


async def load_or_read(
    checkpoint: Checkpoint, source: JsonRpcSource, transfers: pl.DataFrame, block: int
) -> CaseTokens:
    """The facts stored with this crawl, completed from the node (or its cache) as needed."""
    wanted = tokens_missing_metadata(transfers)
    stored = checkpoint.table(_TABLE, METADATA_SCHEMA)
    facts = facts_of(stored) if stored is not None else {}
    missing = [token for token in wanted if token not in facts]
    if missing:
        facts.update(await read_token_metadata(source, missing, block))
        checkpoint.put_table(_TABLE, facts_frame(facts))
        checkpoint.commit()
    erc20 = transfers.filter(pl.col("transfer_kind").cast(pl.String) == TransferKind.ERC20.value)
    return CaseTokens(
        {token: facts[token] for token in wanted},
        frozenset(erc20["token_address"].unique().to_list()),
        block,
    )
