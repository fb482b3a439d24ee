"""After the crawl: the protocol events and transaction facts the tracing heuristics read.

For every transaction of the transfer table: its facts (sender, nonce, gas prices, ...) and
the protocol events it emitted (:mod:`tracer.protocols`). Every contract that emitted a
mixer deposit or withdrawal there is a pool, whatever its labels say; demixing needs the
pool's *other* deposits and withdrawals too (the anonymity set), so the pool's whole
history over the case's block window is read, with the facts of those transactions (the
depositor is the deposit transaction's sender).

Everything here goes through the source's cache, and :func:`load_or_collect` keeps the
result in the case's checkpoint, so a re-run of a finished case sends no request for it.
After an extension of the crawl only the new transactions and pools are asked for, and the
transfers of *probed* addresses (evidence for demixing, never traced) are added.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Final

import polars as pl

from tracer.crawl.checkpoint import Checkpoint
from tracer.crawl.crawler import FATAL_ERRORS
from tracer.errors import SourceError
from tracer.protocols import events as protocol_events
from tracer.protocols.events import EVENT_SCHEMA, TRANSACTION_SCHEMA
from tracer.protocols.specs import MIXER_POOL_EVENTS
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.transfers.schema import TRANSFER_SCHEMA, UNIQUE_KEY, canonicalise, empty_transfers
from tracer.types import Address

_EVENTS: Final = "events"
_TRANSACTIONS: Final = "transactions"
_PROBED: Final = "probed"
_POOL_KINDS = sorted({spec.kind.value for spec in MIXER_POOL_EVENTS})


@dataclass(frozen=True)
class ProtocolFacts:
    events: pl.DataFrame  # EVENT_SCHEMA
    transactions: pl.DataFrame  # TRANSACTION_SCHEMA
    # Transfers of *probed* addresses (TRANSFER_SCHEMA): fetched to judge them (e.g. a mixer
    # withdrawal's recipient, whose later gas price may match the cluster's), not traced.
    probed: pl.DataFrame = field(default_factory=empty_transfers)

    @classmethod
    def empty(cls) -> ProtocolFacts:
        return cls(protocol_events.empty_events(), protocol_events.empty_transactions())


@dataclass(frozen=True, slots=True)
class Probe:
    """Fetch ``address``'s transfers in ``from_block..to_block`` (None: the case's last
    block), at most ``max_transfers``."""

    address: Address
    from_block: int
    max_transfers: int
    to_block: int | None = None


async def collect(
    source: JsonRpcSource,
    transfers: pl.DataFrame,
    from_block: int,
    to_block: int,
    *,
    known: ProtocolFacts | None = None,
    known_hashes: Collection[str] = (),
    probes: Sequence[Probe] = (),
) -> ProtocolFacts:
    """Facts and events of the table's transactions, plus the histories of the mixer pools
    they touched over ``from_block..to_block``, and the transfers of ``probes``.

    ``known`` are facts collected earlier for the transactions ``known_hashes`` (a crawl
    extended from new roots): only the other transactions and the pools not seen before
    are asked for, and the result holds both."""
    probed = await _probe(source, probes, to_block)
    if known is not None and known.probed.height:
        probed = canonicalise(pl.concat([known.probed, probed])).unique(
            subset=list(UNIQUE_KEY), keep="first", maintain_order=True
        )
    already = set(known_hashes)
    hashes = [
        h for h in transfers["transaction_hash"].unique().sort().to_list() if h not in already
    ]
    transactions, events = await source.transactions_and_events(hashes)
    pools = set(_pools(events))
    if known is not None:
        pools -= set(_pools(known.events))
        transactions = _merged(transactions, known.transactions, TRANSACTION_SCHEMA)
        events = _merged(events, known.events, EVENT_SCHEMA)
    if pools:
        history = await source.events_for_contracts(
            sorted(pools),
            protocol_events.topics_of(MIXER_POOL_EVENTS),
            from_block,
            to_block,
            specs=MIXER_POOL_EVENTS,
        )
        have = set(transactions["transaction_hash"].to_list())
        others = sorted(set(history["transaction_hash"].to_list()) - have)
        # Only the facts: other events of strangers' transactions are not the case's.
        more = await source.transaction_facts(others)
        transactions = _merged(transactions, more, TRANSACTION_SCHEMA)
        events = _merged(events, history, EVENT_SCHEMA)
    if pools or known is not None:
        events = protocol_events.with_tx_senders(events, transactions)
    return ProtocolFacts(events, transactions, probed)


async def _probe(source: JsonRpcSource, probes: Sequence[Probe], to_block: int) -> pl.DataFrame:
    """The probes' transfers; an address whose queries fail is left out (it is only
    evidence), a failing endpoint stops the case as it stops the crawl."""

    async def one(probe: Probe) -> pl.DataFrame:
        try:
            last = to_block if probe.to_block is None else min(probe.to_block, to_block)
            frame = await source.transfers_for_address(probe.address, probe.from_block, last)
        except SourceError as exc:
            if isinstance(exc, FATAL_ERRORS):
                raise
            return empty_transfers()
        return canonicalise(frame).head(probe.max_transfers)

    frames = [f for f in await asyncio.gather(*(one(p) for p in probes)) if f.height]
    if not frames:
        return empty_transfers()
    return canonicalise(pl.concat(frames)).unique(
        subset=list(UNIQUE_KEY), keep="first", maintain_order=True
    )


def _pools(events: pl.DataFrame) -> list[str]:
    mixer = events.filter(pl.col("event").cast(pl.String).is_in(_POOL_KINDS))
    return list(mixer["contract_address"].unique().sort().to_list())


def _merged(first: pl.DataFrame, second: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    decoded = [protocol_events.Decoded(first), protocol_events.Decoded(second)]
    return protocol_events.merge(decoded, schema).table


def _table_name(base: str, expansion: int) -> str:
    # The first crawl keeps the plain names (cases written before expansions existed).
    return base if expansion == 0 else f"{base}/{expansion}"


async def load_or_collect(
    checkpoint: Checkpoint,
    source: JsonRpcSource,
    transfers: pl.DataFrame,
    from_block: int,
    to_block: int,
    *,
    expansion: int = 0,
    known: ProtocolFacts | None = None,
    known_hashes: Collection[str] = (),
    probes: Sequence[Probe] = (),
    on_collect: Callable[[], None] | None = None,
) -> ProtocolFacts:
    """The facts stored with this finished crawl (after its ``expansion``-th extension), or
    collected now and stored (the checkpoint forgets them whenever the crawl starts over);
    ``on_collect`` is told before they are collected (it takes requests, and time)."""
    events = checkpoint.table(_table_name(_EVENTS, expansion), EVENT_SCHEMA)
    transactions = checkpoint.table(_table_name(_TRANSACTIONS, expansion), TRANSACTION_SCHEMA)
    probed = checkpoint.table(_table_name(_PROBED, expansion), TRANSFER_SCHEMA)
    if events is not None and transactions is not None:
        return ProtocolFacts(events, transactions, empty_transfers() if probed is None else probed)
    if on_collect is not None:
        on_collect()
    facts = await collect(
        source,
        transfers,
        from_block,
        to_block,
        known=known,
        known_hashes=known_hashes,
        probes=probes,
    )
    checkpoint.put_table(_table_name(_EVENTS, expansion), facts.events)
    checkpoint.put_table(_table_name(_TRANSACTIONS, expansion), facts.transactions)
    checkpoint.put_table(_table_name(_PROBED, expansion), facts.probed)
    checkpoint.commit()
    return facts
