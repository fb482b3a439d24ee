"""The crawl loop: from seeds, follow value forward in time, address by address.

Only this package and ``tracer.sources`` await anything. For every address the crawler asks
a source for the transfers touching it from the block where traced value first reached it,
then queues the recipients of its later outflows. It records for every address whether its
history is complete, truncated (and why) or failed (and why), so a report never passes a
partial crawl off as a complete one.

**Forward in time.** An outflow is followed when it happened at or after the block where
traced value arrived, moved a non-zero amount at or above the minimum for its asset, and is
not *known* to have failed: ``tx_succeeded`` false is not followed, but null (success unknown,
as for Otterscan's internal operations) is, because dropping it would silently lose value.

**Where it stops.** Labelled services (exchanges, OTC desks, DEXes, bridges, mixers) are not
fetched or expanded: the transfers into them are in their senders' histories, and their own
would pull in thousands of unrelated customers. Addresses with more distinct counterparties
than ``hub_degree`` are fetched but not expanded (unlabelled services). Seeds are always
fetched and expanded: the investigator chose them. Limits: hops from a seed, addresses
fetched, transfers kept per address, minimum value per asset, block window.

**Deterministic, so resumable.** Up to ``in_flight`` addresses are fetched concurrently, but
results are *applied* strictly in the order the addresses were picked, and the next address
is picked right after each application from the state it left. Every decision (budgets, hub
stops, the frontier order of :mod:`tracer.crawl.frontier`) therefore depends only on the
state, never on which answer came back first. Each application plus the picks that follow
it is one step, written to the :class:`~tracer.crawl.checkpoint.Checkpoint` as one
transaction, together with the addresses in flight. A crawl killed at any point and run
again continues from the last step with the same in-flight addresses and takes exactly the
steps the uninterrupted crawl takes: same rows, same coverage.

**Extensions.** :meth:`Crawler.extend` goes on from new roots in the same state (claims,
budgets, checkpoint): the recipients of followed mixer withdrawals, which the crawl cannot
reach by itself (a pool is a labelled service, never expanded). A root carries its hop
count (one past its depositor) and the block traced value reached it; the extension's
record is committed with the roots' discovery, so a resumed crawl finishes it.

**Failures.** An address whose queries fail (a JSON-RPC error, a malformed answer) is marked
failed with the reason and the crawl goes on. A failing *endpoint* (unreachable, rate limits
outlasting the retries, wrong chain, refused credentials) stops the crawl with that error:
every further address would fail alike, and a re-run resumes from the checkpoint instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final, Protocol, runtime_checkable

import polars as pl

from tracer.crawl.checkpoint import Checkpoint, CoverageRow, NoCheckpoint, SavedState, Task
from tracer.crawl.frontier import Frontier, FrontierPolicy, Pending, TracedValue
from tracer.errors import (
    ChainMismatchError,
    EndpointUnreachableError,
    HttpStatusError,
    SourceError,
    TransientSourceError,
)
from tracer.labels.store import LabelStore
from tracer.transfers.schema import canonicalise, empty_transfers
from tracer.transfers.untrusted import SkipReason
from tracer.types import Address


class TransferSource(Protocol):
    """What the crawler needs from a source (JSON-RPC node, explorer API, replay)."""

    async def head_block(self) -> int: ...

    async def transfers_for_address(
        self, address: Address, from_block: int, to_block: int
    ) -> pl.DataFrame: ...


@runtime_checkable
class SkipReportingSource(Protocol):
    """A source that also says what it could not read in its answers for one query."""

    async def transfers_with_skips(
        self, address: Address, from_block: int, to_block: int
    ) -> tuple[pl.DataFrame, Mapping[SkipReason, int]]: ...


# Skipped items that may have been real transfers: an address whose answers had any is not
# complete. (Removed and pending logs, duplicates and non-standard events are not losses.)
GAP_REASONS: Final = frozenset(
    {
        SkipReason.MALFORMED,
        SkipReason.INCOMPLETE,
        SkipReason.UNKNOWN_RECIPIENT,
        SkipReason.UNSUPPORTED,
    }
)


class CoverageStatus(StrEnum):
    COMPLETE = "complete"
    TRUNCATED = "truncated"
    FAILED = "failed"


_SEVERITY = {CoverageStatus.COMPLETE: 0, CoverageStatus.TRUNCATED: 1, CoverageStatus.FAILED: 2}


@dataclass(frozen=True, slots=True)
class Coverage:
    address: Address
    hop: int
    from_block: int
    to_block: int
    status: CoverageStatus
    reason: str | None = None
    transfers: int = 0


# Hops from a seed before the crawl stops expanding. Measured: the testbed's deepest
# off-ramp is 7 hops out at small scale (a 6-hop peel chain) and 13 at large (12 hops), and
# raising the limit to 64 fetched no more addresses there (services end every branch).
# Real peel chains run 10 to 30 hops, and a mixer crossing and a few hops to an exchange
# come after: 40 covers that; the address budget, not the depth, bounds the cost.
DEFAULT_MAX_HOPS: Final = 40


@dataclass(frozen=True)
class CrawlLimits:
    max_hops: int = DEFAULT_MAX_HOPS
    max_addresses: int = 500
    max_transfers_per_address: int = 10_000
    # An address with more distinct counterparties than this is a hub (a service we have no
    # label for): its transfers are kept but it is not expanded.
    hub_degree: int = 200
    from_block: int = 0
    to_block: int | None = None
    # Outflows below these raw amounts are kept but not followed; keyed by token address
    # (NATIVE_TOKEN for the native asset). Assets not listed have no minimum.
    min_value: Mapping[str, int] = field(default_factory=dict)
    policy: FrontierPolicy = FrontierPolicy.BFS
    # Addresses fetched at once. Part of the crawl's definition (it decides when the next
    # address is picked), so a resumed crawl must use the same value.
    in_flight: int = 8

    def __post_init__(self) -> None:
        if self.max_addresses < 1 or self.in_flight < 1 or self.max_transfers_per_address < 1:
            raise ValueError("max_addresses, in_flight and max_transfers_per_address must be >= 1")
        if any(value < 0 for value in self.min_value.values()):
            raise ValueError("minimum values must not be negative")

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes what a crawl does, as JSON (to match a checkpoint)."""
        return {
            "max_hops": self.max_hops,
            "max_addresses": self.max_addresses,
            "max_transfers_per_address": self.max_transfers_per_address,
            "hub_degree": self.hub_degree,
            "from_block": self.from_block,
            "to_block": self.to_block,
            "min_value": {token: str(raw) for token, raw in sorted(self.min_value.items())},
            "policy": self.policy.value,
            "in_flight": self.in_flight,
        }


@dataclass
class CrawlResult:
    transfers: pl.DataFrame
    coverage: dict[Address, Coverage] = field(default_factory=dict)
    head_block: int = 0  # the last block of the crawled window
    from_block: int = 0
    resumed: bool = False  # continued from a checkpoint


@dataclass(frozen=True, slots=True)
class CrawlProgress:
    done: int  # addresses with coverage (fetched, failed, or stopped at)
    queued: int  # waiting in the frontier
    in_flight: int
    transfers: int  # rows fetched so far (before de-duplication across addresses)
    failed: int


ProgressCallback = Callable[[CrawlProgress], None]
_Fetched = tuple[pl.DataFrame, dict[SkipReason, int]]

# Failures of the endpoint rather than of one address's queries: they stop the crawl.
FATAL_ERRORS: tuple[type[SourceError], ...] = (
    EndpointUnreachableError,
    TransientSourceError,
    ChainMismatchError,
    HttpStatusError,
)


@dataclass(frozen=True, slots=True)
class Outflow:
    """Traced value leaving an address for ``recipient``: first block and raw sums."""

    recipient: Address
    first_block: int
    amounts: tuple[tuple[str, int, int | None], ...]  # (token, raw sum, decimals)


@dataclass(frozen=True, slots=True)
class Root:
    """Where a crawl goes on from (:meth:`Crawler.extend`): traced value reached ``address``
    at ``from_block``, ``hop`` hops from a seed, with ``amounts`` (token, raw, decimals)
    for the taint frontier's ranking."""

    address: Address
    hop: int
    from_block: int
    amounts: tuple[tuple[str, int, int | None], ...] = ()


class Crawler:
    """One crawl. ``checkpoint`` makes it resumable; ``data_gap`` names data the source
    cannot deliver for any address (e.g. internal transfers without a trace API): every
    address is then reported truncated with that reason, never complete."""

    def __init__(
        self,
        source: TransferSource,
        labels: LabelStore,
        limits: CrawlLimits | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        checkpoint: Checkpoint | None = None,
        data_gap: str | None = None,
    ) -> None:
        self._source = source
        self._labels = labels
        self._limits = limits or CrawlLimits()
        self._on_progress = on_progress
        self._checkpoint = checkpoint
        # Where every state change is staged; committed once per step.
        self._state: Checkpoint | NoCheckpoint = checkpoint or NoCheckpoint()
        self._data_gap = data_gap
        self._traced = TracedValue()
        self._frontier = Frontier(self._limits.policy, self._traced)
        # Fetched or in-flight addresses: (hop, lowest from_block asked for).
        self._claims: dict[Address, tuple[int, int]] = {}
        self._coverage: dict[Address, Coverage] = {}
        self._inflight: list[Task] = []
        self._frames: list[tuple[int, pl.DataFrame]] = []
        self._next_seq = 0
        self._transfer_rows = 0
        self._to_block = 0

    async def crawl(self, seeds: Iterable[Address]) -> CrawlResult:
        limits = self._limits
        if limits.to_block is not None:
            self._to_block = limits.to_block
        else:
            self._to_block = await self._source.head_block()
        saved = self._checkpoint.load() if self._checkpoint is not None else None
        resumed = saved is not None and _has_state(saved)
        if saved is not None and resumed:
            self._restore(saved)
        else:
            for seed in dict.fromkeys(seeds):
                self._discover(seed, 0, limits.from_block, seed=True)
            self._select()
            self._commit()
        result = await self._drain()
        result.resumed = resumed
        return result

    async def extend(self, roots: Iterable[Root], meta: Mapping[str, Any]) -> CrawlResult:
        """Crawl on from new roots (e.g. the recipients of followed mixer withdrawals), in
        the same state: budgets, claims and the checkpoint carry over. ``meta`` (what decided
        the roots) is committed in the same step as their discovery, so after a crash the
        caller knows they were queued and :meth:`crawl` finishes them."""
        for root in roots:
            for token, raw, decimals in root.amounts:
                total = self._traced.add(root.address, token, raw, decimals)
                self._state.put_traced(root.address, token, total, decimals)
            self._discover(root.address, root.hop, root.from_block)
        self._state.put_meta({**meta, "crawl_done": False})
        self._select()
        self._commit()
        return await self._drain()

    async def _drain(self) -> CrawlResult:
        """Fetch until the frontier is empty; the table of everything fetched."""
        limits = self._limits
        running: dict[int, asyncio.Task[_Fetched | SourceError]] = {}
        try:
            for task in self._inflight:
                running[task.seq] = asyncio.create_task(self._fetch(task))
            self._report_progress()
            while self._inflight:
                task = self._inflight[0]
                outcome = await running.pop(task.seq)
                self._apply(task, outcome)
                self._inflight.pop(0)
                self._state.drop_inflight(task.seq)
                picked = self._select()
                self._commit()
                for new in picked:
                    running[new.seq] = asyncio.create_task(self._fetch(new))
                self._report_progress()
        finally:
            for pending in running.values():
                pending.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)
        self._state.put_meta({"crawl_done": True})
        self._commit()
        frames = [frame for _seq, frame in sorted(self._frames, key=lambda item: item[0])]
        frames = [frame for frame in frames if frame.height]
        table = canonicalise(pl.concat(frames)) if frames else empty_transfers()
        return CrawlResult(
            transfers=table,
            coverage=dict(sorted(self._coverage.items())),
            head_block=self._to_block,
            from_block=limits.from_block,
        )

    # -- one address ---------------------------------------------------------------------

    async def _fetch(self, task: Task) -> _Fetched | SourceError:
        source = self._source
        try:
            if isinstance(source, SkipReportingSource):
                frame, skipped = await source.transfers_with_skips(
                    task.address, task.from_block, task.range_end
                )
                return frame, dict(skipped)
            frame = await source.transfers_for_address(
                task.address, task.from_block, task.range_end
            )
            return frame, {}
        except SourceError as exc:
            if isinstance(exc, FATAL_ERRORS):
                raise
            return exc

    def _apply(self, task: Task, outcome: _Fetched | SourceError) -> None:
        """Record what one fetch found and queue the recipients of traced value."""
        address, limits = task.address, self._limits
        if isinstance(outcome, SourceError):
            self._merge_coverage(
                address, task.hop, task.from_block, CoverageStatus.FAILED, str(outcome), 0
            )
            return
        frame, skipped = outcome
        status, reasons = CoverageStatus.COMPLETE, []
        lost = {reason: n for reason, n in sorted(skipped.items()) if reason in GAP_REASONS}
        if lost:
            status = CoverageStatus.TRUNCATED
            shown = ", ".join(f"{n} {reason.value}" for reason, n in lost.items())
            reasons.append(
                f"the node's answers had unreadable entries ({shown}): transfers may be missing"
            )
        if frame.height > limits.max_transfers_per_address:
            status = CoverageStatus.TRUNCATED
            reasons.append(
                f"more than {limits.max_transfers_per_address} transfers; kept the earliest"
            )
            frame = canonicalise(frame).head(limits.max_transfers_per_address)
        self._frames.append((task.seq, frame))
        self._transfer_rows += frame.height
        self._state.put_chunk(task.seq, address, frame)

        degree = len(_counterparties(frame, address))
        outflows = outflows_after(frame, address, task.from_block, limits.min_value)
        seed = task.hop == 0  # chosen by the investigator: always expanded
        if not seed and self._labels.is_service(address):
            status = CoverageStatus.TRUNCATED
            reasons.append(self._service_reason(address))
        elif not seed and degree > limits.hub_degree:
            status = CoverageStatus.TRUNCATED
            reasons.append(f"hub with {degree} counterparties: not expanded")
        elif task.hop >= limits.max_hops and outflows:
            status = CoverageStatus.TRUNCATED
            reasons.append(f"hop limit {limits.max_hops} reached: outflows not followed")
        else:
            for outflow in outflows:
                for token, raw, decimals in outflow.amounts:
                    total = self._traced.add(outflow.recipient, token, raw, decimals)
                    self._state.put_traced(outflow.recipient, token, total, decimals)
                self._discover(outflow.recipient, task.hop + 1, outflow.first_block)
        if self._data_gap is not None:
            status = max(status, CoverageStatus.TRUNCATED, key=_SEVERITY.__getitem__)
            reasons.append(self._data_gap)
        self._merge_coverage(
            address,
            task.hop,
            task.from_block,
            status,
            "; ".join(reasons) or None,
            frame.height,
        )

    def _discover(self, address: Address, hop: int, from_block: int, *, seed: bool = False) -> None:
        """Traced value reached ``address`` at ``from_block``: queue what is not fetched."""
        if not seed and self._labels.is_service(address):
            self._merge_coverage(
                address, hop, from_block, CoverageStatus.TRUNCATED, self._service_reason(address), 0
            )
            return
        claim = self._claims.get(address)
        if claim is not None and claim[1] <= from_block:
            return  # fetched (or being fetched) from this block or earlier already
        if claim is None and address in self._coverage:
            return  # left out when the address budget ran out
        entry = self._frontier.push(Pending(address, hop, from_block))
        self._state.put_frontier(entry)

    def _select(self) -> list[Task]:
        """Pick addresses from the frontier until ``in_flight`` are being fetched."""
        limits = self._limits
        picked: list[Task] = []
        while len(self._inflight) < limits.in_flight:
            entry = self._frontier.pop()
            if entry is None:
                break
            address = entry.address
            self._state.drop_frontier(address)
            claim = self._claims.get(address)
            if claim is None:
                if len(self._claims) >= limits.max_addresses:
                    self._merge_coverage(
                        address,
                        entry.hop,
                        entry.from_block,
                        CoverageStatus.TRUNCATED,
                        f"address budget of {limits.max_addresses} reached: not fetched",
                        0,
                    )
                    continue
                hop, range_end = entry.hop, self._to_block
            else:
                if entry.from_block >= claim[1]:
                    continue
                # Only the earlier part is missing: traced value arrived before we thought.
                hop, range_end = min(entry.hop, claim[0]), claim[1] - 1
            self._claims[address] = (hop, entry.from_block)
            task = Task(self._next_seq, address, hop, entry.from_block, range_end)
            self._next_seq += 1
            self._inflight.append(task)
            picked.append(task)
            self._state.put_claim(address, hop, entry.from_block)
            self._state.put_inflight(task)
        return picked

    # -- bookkeeping ---------------------------------------------------------------------

    def _service_reason(self, address: Address) -> str:
        label = self._labels.primary(address)
        what = f"{label.category.value} {label.name!r}" if label is not None else "service"
        return f"labelled {what}: not expanded (transfers into it are kept)"

    def _merge_coverage(  # noqa: PLR0917 (one coverage record, field by field)
        self,
        address: Address,
        hop: int,
        from_block: int,
        status: CoverageStatus,
        reason: str | None,
        transfers: int,
    ) -> None:
        old = self._coverage.get(address)
        if old is None:
            new = Coverage(address, hop, from_block, self._to_block, status, reason, transfers)
        else:
            reasons = [text for text in (old.reason, reason) if text]
            new = replace(
                old,
                hop=min(old.hop, hop),
                from_block=min(old.from_block, from_block),
                status=max(old.status, status, key=_SEVERITY.__getitem__),
                reason="; ".join(dict.fromkeys(reasons)) or None,
                transfers=old.transfers + transfers,
            )
        self._coverage[address] = new
        row = CoverageRow(
            new.address,
            new.hop,
            new.from_block,
            new.to_block,
            new.status.value,
            new.reason,
            new.transfers,
        )
        self._state.put_coverage(row)

    def _commit(self) -> None:
        self._state.put_meta({"next_seq": self._next_seq})
        self._state.commit()

    def _restore(self, saved: SavedState) -> None:
        for address, token, raw, decimals in saved.traced:
            self._traced.set(address, token, raw, decimals)
        for entry in saved.frontier:
            self._frontier.push(entry)
        self._claims = dict(saved.claims)
        for row in saved.coverage:
            self._coverage[row.address] = Coverage(
                row.address,
                row.hop,
                row.from_block,
                row.to_block,
                CoverageStatus(row.status),
                row.reason,
                row.transfers,
            )
        self._inflight = list(saved.inflight)
        self._frames = list(saved.chunks)
        self._transfer_rows = sum(frame.height for _seq, frame in saved.chunks)
        assert self._checkpoint is not None
        seqs = [task.seq for task in saved.inflight] + [seq for seq, _ in saved.chunks]
        recorded = self._checkpoint.meta().get("next_seq", 0)
        self._next_seq = max([int(recorded), *(seq + 1 for seq in seqs)])

    def _report_progress(self) -> None:
        if self._on_progress is not None:
            failed = sum(1 for c in self._coverage.values() if c.status is CoverageStatus.FAILED)
            self._on_progress(
                CrawlProgress(
                    done=len(self._coverage),
                    queued=len(self._frontier),
                    in_flight=len(self._inflight),
                    transfers=self._transfer_rows,
                    failed=failed,
                )
            )


def _has_state(saved: SavedState) -> bool:
    return bool(saved.claims or saved.coverage or saved.frontier or saved.inflight)


def _counterparties(frame: pl.DataFrame, address: Address) -> set[str]:
    sent_to = frame.filter(pl.col("from_address") == address)["to_address"]
    received_from = frame.filter(pl.col("to_address") == address)["from_address"]
    return set(sent_to.drop_nulls().to_list()) | set(received_from.drop_nulls().to_list())


def outflows_after(
    frame: pl.DataFrame, address: Address, from_block: int, min_value: Mapping[str, int]
) -> list[Outflow]:
    """Value leaving ``address`` at or after ``from_block``, per recipient (see the module
    docstring for what is followed), ordered by first block, then recipient."""
    rows = frame.filter(
        (pl.col("from_address") == address)
        & (pl.col("to_address") != address)
        & pl.col("to_address").is_not_null()
        # Unknown success (null) is followed; only known failures are not.
        & pl.col("tx_succeeded").ne_missing(False)
        & (pl.col("value_raw") != "0")
        & (pl.col("block_number") >= from_block)
    ).select("to_address", "block_number", "token_address", "value_raw", "token_decimals")
    first: dict[Address, int] = {}
    sums: dict[Address, dict[str, int]] = {}
    decimals_of: dict[str, int | None] = {}
    for to_address, block, token, value_raw, decimals in rows.iter_rows():
        raw = int(value_raw)
        if raw < min_value.get(token, 0):
            continue  # dust: kept in the table, not followed
        recipient = Address(to_address)
        first[recipient] = min(first.get(recipient, block), block)
        per_token = sums.setdefault(recipient, {})
        per_token[token] = per_token.get(token, 0) + raw
        if decimals is not None or token not in decimals_of:
            decimals_of[token] = decimals
    return [
        Outflow(
            recipient,
            first[recipient],
            tuple(
                (token, raw, decimals_of[token]) for token, raw in sorted(sums[recipient].items())
            ),
        )
        for recipient in sorted(first, key=lambda r: (first[r], r))
    ]
