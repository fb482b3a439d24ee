"""After the crawl: the protocol events and transaction facts the tracing heuristics read.

For every transaction of the transfer table: its facts (sender, nonce, gas prices, ...) and
the protocol events it emitted (:mod:`tracer.protocols`). Every contract that emitted a
mixer deposit or withdrawal there is a pool, whatever its labels say; demixing needs the
pool's *other* deposits and withdrawals too (the anonymity set), so the pool's whole
history over the case's block window is read, with the facts of those transactions (the
depositor is the deposit transaction's sender).

Everything here goes through the source's cache, and :func:`load_or_collect` keeps the
result in the case's checkpoint, so a re-run of a finished case sends no request for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from tracer.crawl.checkpoint import Checkpoint
from tracer.protocols import events as protocol_events
from tracer.protocols.events import EVENT_SCHEMA, TRANSACTION_SCHEMA
from tracer.protocols.specs import MIXER_POOL_EVENTS
from tracer.sources.jsonrpc import JsonRpcSource

_EVENTS: Final = "events"
_TRANSACTIONS: Final = "transactions"
_POOL_KINDS = sorted({spec.kind.value for spec in MIXER_POOL_EVENTS})


@dataclass(frozen=True)
class ProtocolFacts:
    events: pl.DataFrame  # EVENT_SCHEMA
    transactions: pl.DataFrame  # TRANSACTION_SCHEMA

    @classmethod
    def empty(cls) -> ProtocolFacts:
        return cls(protocol_events.empty_events(), protocol_events.empty_transactions())


async def collect(
    source: JsonRpcSource, transfers: pl.DataFrame, from_block: int, to_block: int
) -> ProtocolFacts:
    """Facts and events of the table's transactions, plus the histories of the mixer pools
    they touched over ``from_block..to_block``."""
    hashes = transfers["transaction_hash"].unique().sort().to_list()
    transactions, events = await source.transactions_and_events(hashes)
    pools = (
        events.filter(pl.col("event").cast(pl.String).is_in(_POOL_KINDS))["contract_address"]
        .unique()
        .sort()
        .to_list()
    )
    if pools:
        history = await source.events_for_contracts(
            pools,
            protocol_events.topics_of(MIXER_POOL_EVENTS),
            from_block,
            to_block,
            specs=MIXER_POOL_EVENTS,
        )
        known = set(hashes)
        others = sorted(set(history["transaction_hash"].to_list()) - known)
        # Only the facts: other events of strangers' transactions are not the case's.
        more = await source.transaction_facts(others)
        transactions = protocol_events.merge(
            [protocol_events.Decoded(transactions), protocol_events.Decoded(more)],
            TRANSACTION_SCHEMA,
        ).table
        events = protocol_events.merge(
            [protocol_events.Decoded(events), protocol_events.Decoded(history)], EVENT_SCHEMA
        ).table
        events = protocol_events.with_tx_senders(events, transactions)
    return ProtocolFacts(events, transactions)


async def load_or_collect(
    checkpoint: Checkpoint,
    source: JsonRpcSource,
    transfers: pl.DataFrame,
    from_block: int,
    to_block: int,
) -> ProtocolFacts:
    """The facts stored with this finished crawl, or collected now and stored (the
    checkpoint forgets them whenever the crawl starts over)."""
    events = checkpoint.table(_EVENTS, EVENT_SCHEMA)
    transactions = checkpoint.table(_TRANSACTIONS, TRANSACTION_SCHEMA)
    if events is not None and transactions is not None:
        return ProtocolFacts(events, transactions)
    facts = await collect(source, transfers, from_block, to_block)
    checkpoint.put_table(_EVENTS, facts.events)
    checkpoint.put_table(_TRANSACTIONS, facts.transactions)
    checkpoint.commit()
    return facts
