"""One case directory: what ``tracer trace`` runs, resumes and re-runs.

A case directory holds the crawl checkpoint (``checkpoint.sqlite``), by default the answer
cache (``cache.sqlite``), and the outputs the CLI writes (``transfers.parquet``,
``events.parquet``, ``transactions.parquet``, ``probes.parquet``, ``report.json``). After
the crawl, the protocol events and transaction facts of its transactions are collected
(:mod:`tracer.crawl.protocols`) and kept in the checkpoint too. The checkpoint also
records the *run facts* the first run learned from the node: chain id, head, block window,
trace path. That is how a re-run knows them without asking:

* **Same options** (the fingerprint of seeds, limits, window and labels matches): the crawl
  resumes from its last step; a finished crawl is simply loaded. No request is needed.
* **Other options**: the crawl starts over, but on the recorded chain snapshot (same chain,
  head, trace path, and the recorded last block unless ``--to-block``/``--until`` says
  otherwise), so with the cache it runs offline too.
* ``--restart``: everything recorded is forgotten and asked again.

**Extensions.** After the crawl, ``run_case`` may extend it (the ``expand`` callback, e.g.
:class:`tracer.analysis.MixerFollower`): roots to crawl on from and addresses to *probe*
(fetched as evidence only, kept in :attr:`ProtocolFacts.probed`). Each extension's record is
kept in the checkpoint's meta with its roots; the facts of the table after it are stored
apart. A resumed case finishes the recorded extensions, then asks the callback again from
the last record: being deterministic, it takes the steps an uninterrupted run takes. Each
step of an extension (the callback's analysis, the crawl from its roots, the probes) is
announced to ``on_phase``, so a progress display is not silent between crawls.

A new case directory with a shared warm cache (``--cache``) needs neither a head nor a chain
id query when given ``--chain`` and ``--to-block``: the cache remembers the trace path per
chain. Whatever was assumed (chain id, trace path) is checked against the node just before
the first request the cache cannot answer, so a wrong assumption fails loudly, never quietly.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, Final

from tracer.chains import Chain, chain_by_id
from tracer.crawl.checkpoint import Checkpoint
from tracer.crawl.crawler import Crawler, CrawlLimits, CrawlProgress, CrawlResult, Root
from tracer.crawl.protocols import Probe, ProtocolFacts, load_or_collect
from tracer.crawl.tokens import load_or_read as load_token_metadata
from tracer.crawl.window import blocks_for_window
from tracer.errors import ChainMismatchError, InputError
from tracer.labels.store import LabelStore
from tracer.sources.cache import CacheStats, ResponseCache
from tracer.sources.jsonrpc import JsonRpcSource, TracePath
from tracer.sources.transport import EndpointLimits, Transport
from tracer.types import Address

CHECKPOINT_FILE: Final = "checkpoint.sqlite"
CACHE_FILE: Final = "cache.sqlite"
CASE_FORMAT: Final = 1
_EXPANSIONS: Final = "expansions"  # checkpoint meta: the records of the extensions crawled


@dataclass(frozen=True)
class TraceOptions:
    seeds: tuple[Address, ...]
    rpc_url: str
    out: Path
    # from_block/to_block as the user gave them (to_block None: the head).
    limits: CrawlLimits = field(default_factory=CrawlLimits)
    chain: Chain | None = None
    since: datetime | None = None
    until: datetime | None = None
    cache_path: Path | None = None  # None: no cache
    confirmations: int = 12
    endpoint_limits: EndpointLimits = field(default_factory=EndpointLimits)
    trace_path: TracePath | None = None  # forced; None: recorded or probed
    restart: bool = False
    labels_digest: str = ""  # changes when the labels do (they decide where a crawl stops)
    # What decides the crawl's extensions (e.g. mixer threshold and taint policy): part of
    # the fingerprint, since it changes which addresses are fetched.
    expansion: Mapping[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Everything that decides what the crawl does, hashed."""
        document = {
            "case_format": CASE_FORMAT,
            "seeds": sorted(self.seeds),
            "limits": self.limits.fingerprint(),
            "chain": self.chain.chain_id if self.chain else None,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "trace_path": self.trace_path.value if self.trace_path else None,
            "labels": self.labels_digest,
        }
        if self.expansion:
            document["expansion"] = dict(self.expansion)
        encoded = json.dumps(document, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class RunStats:
    http_requests: int
    rpc_calls: int
    cache: CacheStats | None
    seconds: float

    @property
    def requests_per_second(self) -> float:
        return self.http_requests / self.seconds if self.seconds > 0 else 0.0


@dataclass
class TraceOutcome:
    crawl: CrawlResult
    chain: Chain
    trace_path: TracePath
    data_gap: str | None
    stats: RunStats
    notes: list[str]
    probed: bool = False  # the trace path was probed in this run (and any gap logged)
    seed_contracts: tuple[Address, ...] = ()  # seeds holding code at the window's last block
    protocol: ProtocolFacts = field(default_factory=ProtocolFacts.empty)
    # The records of the extensions the crawl went through, in order (see Expansion).
    expansions: list[Any] = field(default_factory=list)
    # As kept in the checkpoint: each record with the probes of its extension.
    recorded: list[dict[str, Any]] = field(default_factory=list)

    def rounds(self) -> list[tuple[Any, tuple[Probe, ...]]]:
        """Each extension's record with the probes it fetched, in order."""
        return [(step["record"], _recorded_probes(step)) for step in self.recorded]


ProgressCallback = Callable[[CrawlProgress, RunStats], None]


class Step(StrEnum):
    """What a case does between crawls, announced to a progress display."""

    READING = "reading"  # the protocol events and facts of the crawl's new transactions
    ANALYSING = "analysing"  # the expand callback decides the next extension
    FOLLOWING = "following"  # crawling on from the extension's roots
    PROBING = "probing"  # fetching its probes (and reading as READING does)


@dataclass(frozen=True, slots=True)
class Phase:
    step: Step
    round: int  # the extension it decides or runs, from 1 (0: the first crawl)
    count: int = 0  # FOLLOWING: roots; PROBING: probes


PhaseCallback = Callable[[Phase], None]


@dataclass(frozen=True)
class Expansion:
    """Roots to crawl on from, and ``record``: what decided them (JSON; e.g. the mixer links
    followed), kept in the checkpoint with the roots and handed back to the next call."""

    roots: tuple[Root, ...]
    record: Any
    probes: tuple[Probe, ...] = ()  # addresses to fetch as evidence only (ProtocolFacts.probed)


# Called after the crawl and after every extension with the table so far, its protocol
# facts and the last record (None before any extension); returns the next extension, or
# None when there is nothing more to follow. It must be deterministic: a resumed case calls
# it again on the same state and must get the same answer.
Expand = Callable[[CrawlResult, ProtocolFacts, Any], Expansion | None]


def labels_digest(paths: list[Path], extra: str = "") -> str:
    """A digest of the label files' contents (and ``extra``, e.g. "default packs on")."""
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(str(path).encode())  # unreadable: the loader reports it
    return digest.hexdigest()[:32]


@contextmanager
def _maybe_cache(path: Path | None) -> Iterator[ResponseCache | None]:
    if path is None:
        yield None
        return
    with ResponseCache(path) as cache:
        yield cache


def _stats(transport: Transport, cache: ResponseCache | None, started: float) -> RunStats:
    endpoints = transport.stats().values()
    return RunStats(
        http_requests=sum(stats.http_requests for stats in endpoints),
        rpc_calls=sum(stats.rpc_calls for stats in endpoints),
        cache=cache.stats if cache is not None else None,
        seconds=time.monotonic() - started,
    )


async def run_case(
    options: TraceOptions,
    labels: LabelStore,
    *,
    on_progress: ProgressCallback | None = None,
    transport: Transport | None = None,
    expand: Expand | None = None,
    max_expansions: int = 0,
    on_phase: PhaseCallback | None = None,
) -> TraceOutcome:
    """Crawl (or resume, or load) the case in ``options.out``; then, while ``expand`` finds
    something to follow, at most ``max_expansions`` times, crawl on from its roots.
    ``on_progress`` hears from the crawls, ``on_phase`` of the steps between them."""
    started = time.monotonic()
    try:
        options.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {options.out}: {exc.strerror}") from exc
    own_transport = transport is None
    active = transport or Transport()
    try:
        with (
            Checkpoint(options.out / CHECKPOINT_FILE) as checkpoint,
            _maybe_cache(options.cache_path) as cache,
        ):
            outcome, crawler, source = await _run(
                options, labels, checkpoint, cache, active, on_progress, started, on_phase
            )
            if expand is not None:
                await _expand(
                    outcome, (crawler, source, checkpoint), expand, max_expansions, on_phase
                )
            await _fill_token_metadata(outcome, source, checkpoint)
            outcome.stats = _stats(active, cache, started)
            return outcome
    except ChainMismatchError as exc:
        if options.chain is None:
            raise
        raise InputError(
            f"--chain {options.chain.name} expects chain id {exc.expected}, "
            f"but the RPC endpoint serves chain id {exc.actual}"
        ) from exc
    finally:
        if own_transport:
            await active.close()


async def _run(  # noqa: PLR0917 (the pieces run_case opened)
    options: TraceOptions,
    labels: LabelStore,
    checkpoint: Checkpoint,
    cache: ResponseCache | None,
    transport: Transport,
    on_progress: ProgressCallback | None,
    started: float,
    on_phase: PhaseCallback | None,
) -> tuple[TraceOutcome, Crawler, JsonRpcSource]:
    notes: list[str] = []
    fingerprint = options.fingerprint()
    meta = checkpoint.meta()
    resume = not options.restart and meta.get("fingerprint") == fingerprint
    recorded = meta if not options.restart and "chain_id" in meta else {}
    if meta.get("fingerprint") and not resume:
        notes.append(
            "the crawl starts over: --restart given"
            if options.restart
            else "the options differ from the ones this case was crawled with: the crawl "
            "starts over on the recorded chain snapshot (answers come from the cache)"
        )
    source = JsonRpcSource.connect(
        transport,
        options.rpc_url,
        limits=options.endpoint_limits,
        expected_chain_id=options.chain.chain_id if options.chain else None,
        trace_path=options.trace_path,
        cache=cache,
        confirmations=options.confirmations,
    )
    facts = await _run_facts(source, options, recorded if resume else _reusable(recorded), cache)
    probed = bool(facts.pop("probed"))
    if not resume:
        checkpoint.start_over({**facts, "fingerprint": fingerprint})
    limits = replace(
        options.limits, from_block=int(facts["from_block"]), to_block=int(facts["to_block"])
    )
    chain_id = int(facts["chain_id"])
    path = TracePath(facts["trace_path"])
    gap = facts.get("data_gap")

    def progress(crawl_progress: CrawlProgress) -> None:
        if on_progress is not None:
            on_progress(crawl_progress, _stats(transport, cache, started))

    crawler = Crawler(source, labels, limits, progress, checkpoint=checkpoint, data_gap=gap)
    result = await crawler.crawl(options.seeds)
    if resume and meta.get("crawl_done"):
        notes.append("loaded the finished crawl recorded in this case directory")
    elif result.resumed:
        notes.append("resumed the interrupted crawl recorded in this case directory")
    # Extensions recorded before a restart were crawled (or are finished) by crawl() above.
    extended = list(checkpoint.meta().get(_EXPANSIONS, [])) if resume else []
    # Only needed when a crash came before the last extension's facts were stored.
    probes = [probe for step in extended for probe in _recorded_probes(step)]
    protocol = await load_or_collect(
        checkpoint,
        source,
        result.transfers,
        result.from_block,
        result.head_block,
        expansion=len(extended),
        probes=probes,
        on_collect=partial(_tell, on_phase, _collecting(len(extended), len(probes))),
    )
    chain = options.chain or chain_by_id(chain_id) or unknown_chain(chain_id)
    stats = _stats(transport, cache, started)
    contracts = tuple(Address(a) for a in facts["seed_contracts"])
    outcome = TraceOutcome(
        result, chain, path, gap, stats, notes,
        probed=probed, protocol=protocol, seed_contracts=contracts,
    )  # fmt: skip
    outcome.expansions = [step["record"] for step in extended]
    outcome.recorded = extended
    return outcome, crawler, source


async def _expand(
    outcome: TraceOutcome,
    running: tuple[Crawler, JsonRpcSource, Checkpoint],
    expand: Expand,
    max_expansions: int,
    on_phase: PhaseCallback | None = None,
) -> None:
    """Crawl on from what ``expand`` finds, until it finds nothing new or the bound."""
    crawler, source, checkpoint = running
    while len(outcome.expansions) < max_expansions:
        number = len(outcome.expansions) + 1
        last = outcome.expansions[-1] if outcome.expansions else None
        _tell(on_phase, Phase(Step.ANALYSING, number))
        step = expand(outcome.crawl, outcome.protocol, last)
        if step is None:
            return
        previous = outcome.crawl
        outcome.expansions.append(step.record)
        outcome.recorded.append(
            {
                "record": step.record,
                "probes": [
                    [p.address, p.from_block, p.max_transfers, p.to_block] for p in step.probes
                ],
            }
        )
        if step.roots:
            _tell(on_phase, Phase(Step.FOLLOWING, number, len(step.roots)))
        outcome.crawl = await crawler.extend(step.roots, {_EXPANSIONS: outcome.recorded})
        outcome.protocol = await load_or_collect(
            checkpoint,
            source,
            outcome.crawl.transfers,
            outcome.crawl.from_block,
            outcome.crawl.head_block,
            expansion=len(outcome.expansions),
            known=outcome.protocol,
            known_hashes=set(previous.transfers["transaction_hash"].to_list()),
            probes=step.probes,
            on_collect=partial(_tell, on_phase, _collecting(number, len(step.probes))),
        )


def _tell(on_phase: PhaseCallback | None, phase: Phase) -> None:
    if on_phase is not None:
        on_phase(phase)


def _collecting(number: int, probes: int) -> Phase:
    """Collecting the facts after a crawl (``number``: its extension, 0 for the first):
    probing when it has probes, else reading the new transactions' events."""
    return Phase(Step.PROBING, number, probes) if probes else Phase(Step.READING, number)


async def _fill_token_metadata(
    outcome: TraceOutcome, source: JsonRpcSource, checkpoint: Checkpoint
) -> None:
    """Symbols and decimals the logs lack, read from the tokens (tracer/crawl/tokens.py) once
    the table is final: after every extension, so tokens met past a mixer get them too."""
    crawl = outcome.crawl
    tokens = await load_token_metadata(checkpoint, source, crawl.transfers, crawl.head_block)
    outcome.crawl = replace(crawl, transfers=tokens.filled(crawl.transfers))
    outcome.notes += tokens.notes


def _recorded_probes(step: Mapping[str, Any]) -> tuple[Probe, ...]:
    """The probes of one recorded extension (kept as [address, from, max, to] lists)."""
    return tuple(
        Probe(Address(a), int(b), int(n), None if e is None else int(e))
        for a, b, n, e in step["probes"]
    )


def _reusable(recorded: dict[str, Any]) -> dict[str, Any]:
    """Recorded facts a crawl with other options may still use: the chain snapshot."""
    keep = ("chain_id", "head", "to_block", "trace_path", "data_gap")
    return {name: recorded[name] for name in keep if name in recorded}


async def _run_facts(
    source: JsonRpcSource,
    options: TraceOptions,
    recorded: dict[str, Any],
    cache: ResponseCache | None,
) -> dict[str, Any]:
    """Chain id, head, block window and trace path: recorded, given, or asked."""
    # A recorded chain id or --chain is taken on trust (checked before the first request
    # that goes out); otherwise asked.
    if "chain_id" in recorded:
        source.assume(chain_id=int(recorded["chain_id"]))
    elif options.chain is not None:
        source.assume(chain_id=options.chain.chain_id)
    chain_id = await source.chain_id()
    if recorded.get("head") is not None:
        source.assume(head=int(recorded["head"]))
    if "from_block" in recorded and "to_block" in recorded:
        from_block, to_block = int(recorded["from_block"]), int(recorded["to_block"])
    else:
        from_block, to_block = await _block_window(source, options, recorded, cache)
    probes_before = source.probed
    path = await _trace_path(source, options, recorded, cache, chain_id)
    contracts = recorded.get("seed_contracts")
    if contracts is None:
        contracts = await source.contracts_among(list(options.seeds), to_block)
    gap: str | None = None
    if path is TracePath.BLOCKS:
        gap = recorded.get("data_gap") or "internal transfers missing: " + (
            "--trace-path blocks reads native value from whole blocks only"
            if options.trace_path is TracePath.BLOCKS
            else source.missing_data_warning()
        )
    return {
        "chain_id": chain_id,
        "head": source.known_head,
        "from_block": from_block,
        "to_block": to_block,
        "trace_path": path.value,
        "data_gap": gap,
        "seed_contracts": contracts,
        "probed": source.probed and not probes_before,
    }


async def _block_window(
    source: JsonRpcSource,
    options: TraceOptions,
    recorded: dict[str, Any],
    cache: ResponseCache | None,
) -> tuple[int, int]:
    """The first and last block to crawl. The head is only asked when needed: no last
    block given (or recorded), a date window, or no cache to spare the request for."""
    limits = options.limits
    last_given = limits.to_block
    if last_given is None and options.until is None and "to_block" in recorded:
        last_given = int(recorded["to_block"])  # the recorded chain snapshot
    head = source.known_head
    need_head = last_given is None or options.since or options.until or cache is None
    if need_head and head is None:
        head = await source.head_block()
    since_block: int | None = None
    until_block: int | None = None
    if head is not None and (options.since or options.until):
        since_block, until_block = await blocks_for_window(
            source, options.since, options.until, head
        )
    from_block = max(limits.from_block, since_block or 0)
    candidates = [block for block in (last_given, until_block) if block is not None]
    to_block = min(candidates) if candidates else head
    assert to_block is not None  # the head was asked when nothing else gave a last block
    if head is not None and to_block > head:
        raise InputError(f"--to-block {to_block} is beyond the chain head {head}")
    if to_block < from_block:
        raise InputError(f"the block window is empty: from block {from_block} to {to_block}")
    return from_block, to_block


async def _trace_path(
    source: JsonRpcSource,
    options: TraceOptions,
    recorded: dict[str, Any],
    cache: ResponseCache | None,
    chain_id: int,
) -> TracePath:
    """Forced, recorded in the case, remembered by the cache for this chain, or probed."""
    if options.trace_path is not None:
        return options.trace_path
    known = recorded.get("trace_path")
    if known is None and cache is not None:
        known = cache.meta(f"trace_path/{chain_id}")
    if known in {path.value for path in TracePath}:
        path = TracePath(known)
        source.assume(trace_path=path)
        return path
    return await source.trace_path()


def unknown_chain(chain_id: int) -> Chain:
    """An unregistered chain still works; only its native symbol and defaults are unknown."""
    return Chain(
        name=f"chain-{chain_id}",
        chain_id=chain_id,
        native_symbol="NATIVE",
        wrapped_native=None,
        explorer_chain_id=chain_id,
        rpc_rps=10.0,
        rpc_concurrency=8,
        explorer_rps=3.0,
        explorer_concurrency=2,
    )
