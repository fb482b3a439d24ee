"""The analysis of one crawled case: taint, off-ramps, mixer candidates and flow patterns.

Pure: it reads the case's tables (transfers, protocol events, transaction facts) and labels
and returns what ``report.json`` lists. Order of work, and why:

1. taint under the chosen policy from the seeds (stops at labelled services), with the mixer
   links followed so far injected (:mod:`tracer.heuristics.mixers.follow`);
2. exchange deposit addresses detected by behaviour over the whole table (an unlabelled
   deposit address is where an exchange can freeze funds);
3. off-ramps: where the traced amounts ended, per address and asset, exact; the confidence of
   one reached through a followed link is the identification's times the route's;
4. mixer candidates: every withdrawal linked to the traced deposits, with per-signal evidence;
   those at or above the threshold with a note of their own are ``next_links``;
5. flow patterns among the addresses that held traced value.

Following links is a fixed point the caller drives (it needs a crawl in between): analyse
with the links followed so far; if ``next_links`` names other (deposit, withdrawal) pairs,
crawl their recipients and analyse again with them (until :attr:`CaseAnalysis.settled`).
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import polars as pl

from tracer.crawl.case import Expansion
from tracer.crawl.crawler import CrawlResult, Root
from tracer.crawl.protocols import Probe, ProtocolFacts
from tracer.findings import Finding, canonical_order
from tracer.heuristics.exchanges.deposit_address import DepositAddress, detect_deposit_addresses
from tracer.heuristics.exchanges.offramps import TRACED_COLUMNS, Offramp, find_offramps
from tracer.heuristics.mixers.combine import MixerLink, demix
from tracer.heuristics.mixers.follow import (
    Route,
    links_from_json,
    links_to_json,
    offramp_routes,
    pairs,
    taint_links,
    through_links,
    trace_routes,
)
from tracer.heuristics.mixers.model import MixerView, Traced, build_view
from tracer.heuristics.patterns.flows import (
    fan_in_consolidations,
    fan_out_splits,
    peel_chains,
    rapid_pass_through,
)
from tracer.heuristics.taint.engine import trace_taint
from tracer.heuristics.taint.model import Link, Policy, TaintResult
from tracer.labels.model import Category
from tracer.labels.store import LabelStore
from tracer.transfers.schema import TRANSFER_KINDS
from tracer.types import Address

# What a probe fetches of a candidate recipient: its transfers in the day after the
# withdrawal (the gas-price signal reads its first few transactions; a node without an
# address index replays every block of the window, so the window is kept short), and how
# many recipients are probed per round, the most likely candidates first.
PROBE_MAX_TRANSFERS = 100
PROBE_SECONDS = 86_400
PROBES_PER_ROUND = 100


@dataclass(frozen=True, slots=True)
class CaseAnalysis:
    taint: TaintResult
    offramps: tuple[Offramp, ...]
    mixer_links: tuple[MixerLink, ...]  # ``followed`` set on the injected ones
    findings: tuple[Finding, ...]
    links: tuple[Link, ...] = ()  # injected into the taint
    next_links: tuple[Link, ...] = ()  # what this analysis would follow
    routes: Mapping[tuple[str, str], Route] = field(default_factory=dict)  # per off-ramp

    @property
    def settled(self) -> bool:
        """Following the links found here changes nothing: the fixed point."""
        return pairs(self.next_links) == pairs(self.links)


def analyse_case(
    transfers: pl.DataFrame,
    events: pl.DataFrame,
    transactions: pl.DataFrame,
    seeds: Iterable[Address],
    labels: LabelStore,
    *,
    policy: Policy | str = Policy.HAIRCUT,
    links: Sequence[Link] = (),
    threshold: float | None = None,
    probed: pl.DataFrame | None = None,
) -> CaseAnalysis:
    """``links``: mixer links to follow (from an earlier analysis' ``next_links``);
    ``threshold``: the confidence from which links are followed (default: ``mixer-demix``'s);
    ``probed``: transfers of addresses fetched only as evidence for demixing (not traced)."""
    seed_list = list(seeds)
    taint = trace_taint(transfers, seed_list, policy, labels, links=links)
    # A seed that cashes out in one move looks like a deposit address by behaviour, but the
    # seed is the thief's own wallet: where it paid is the off-ramp, not the seed itself.
    deposit_addresses = tuple(
        deposit
        for deposit in detect_deposit_addresses(transfers, labels)
        if deposit.address not in seed_list
    )
    offramps = find_offramps(
        transfers,
        labels,
        # The engine keeps transfer_kind as text; the table's key uses the enum.
        taint.transfers.select(TRACED_COLUMNS).with_columns(
            pl.col("transfer_kind").cast(TRANSFER_KINDS)
        ),
        deposit_addresses=deposit_addresses,
        events=events,
    )
    holders = {address for address, _asset in taint.balances} - set(taint.stops)
    view = build_view(
        events,
        transactions,
        transfers if probed is None or probed.is_empty() else pl.concat([transfers, probed]),
        labelled_mixers=_labelled(transfers, labels, Category.MIXER),
    )
    cluster = _cluster(view, taint, links, offramps, deposit_addresses, transfers, labels)
    candidates = demix(view, cluster)
    injected = {link.to_tx for link in links}
    candidates = tuple(
        replace(candidate, followed=candidate.withdrawal_tx in injected) for candidate in candidates
    )
    confidences = {candidate.withdrawal_tx: candidate.confidence for candidate in candidates}
    routes = offramp_routes(offramps, trace_routes(taint, links, confidences).transfers)
    offramps = tuple(
        through_links(offramp, routes[(offramp.address, offramp.asset.token_address)])
        for offramp in offramps
    )
    deposit_set = {deposit.address for deposit in deposit_addresses}
    patterns = [
        *peel_chains(transfers, labels=labels, subjects_from=holders, exclude=deposit_set),
        *fan_out_splits(transfers, labels=labels, subjects_from=holders, exclude=deposit_set),
        *fan_in_consolidations(transfers, labels=labels, sources_from=holders, exclude=deposit_set),
        *rapid_pass_through(transfers, labels=labels, subjects_from=holders, exclude=deposit_set),
    ]
    reached = {offramp.address for offramp in offramps}
    findings = canonical_order(
        [
            *patterns,
            *(d.to_finding() for d in deposit_addresses if d.address in reached),
            *(link.to_finding() for link in candidates),
        ]
    )
    return CaseAnalysis(
        taint,
        offramps,
        candidates,
        tuple(findings),
        links=tuple(links),
        next_links=taint_links(candidates, threshold),
        routes=routes,
    )


def _cluster(  # noqa: PLR0917 (what the cluster is cut from)
    view: MixerView,
    taint: TaintResult,
    links: Sequence[Link],
    offramps: Sequence[Offramp],
    deposit_addresses: Sequence[DepositAddress],
    transfers: pl.DataFrame,
    labels: LabelStore,
) -> Traced:
    """The traced cluster to demix: the thief's addresses as far as we believe them.

    Off-ramps (exchange deposit addresses included) held traced value but belong to the
    exchange: their sweeps' gas price is not the thief's habit. Addresses reached only
    through followed links deposit traced notes (their deposits are demixed: a recipient who
    mixes again), but are not members: "withdrawn to a traced address" must not hold up the
    very link that made the address traced.
    """
    held = trace_routes(taint, links).held
    outside = {o.address for o in offramps} | {d.address for d in deposit_addresses}
    outside |= taint.stops
    reached = {Address(a) for a in held if a not in outside}
    members = frozenset(a for a in reached if held[a].direct)
    deposits = tuple(d for d in view.deposits if d.depositor in reached)
    return Traced(members, deposits, frozenset(_service_addresses(transfers, labels)))


def _service_addresses(transfers: pl.DataFrame, labels: LabelStore) -> set[Address]:
    seen = pl.concat([transfers["from_address"], transfers["to_address"]]).drop_nulls().unique()
    return {Address(a) for a in seen.to_list() if labels.is_service(Address(a))}


def _labelled(
    transfers: pl.DataFrame, labels: LabelStore, category: Category
) -> list[tuple[int, Address]]:
    if transfers.height == 0:
        return []
    chain_id = int(transfers["chain_id"][0])
    found = []
    for address in transfers["to_address"].drop_nulls().unique().to_list():
        primary = labels.primary(Address(address))
        if primary is not None and primary.category is category:
            found.append((chain_id, Address(address)))
    return found


class MixerFollower:
    """Drives the fixed point for :func:`tracer.crawl.case.run_case` (its ``expand``).

    After each crawl, analyse with the links followed so far. Then, unless nothing changes:

    * the recipients of links to follow that were not followed yet become crawl roots, one
      hop past their depositor;
    * the recipients of the other candidates are *probed*: their first transfers after the
      withdrawal are fetched as evidence only (a relayed withdrawal shows the relayer's gas
      price; what the recipient sends next shows its own), never traced.

    The record kept in the checkpoint holds the links to inject next, who was probed, and
    why (see :func:`probes_to_json`).
    """

    def __init__(
        self,
        seeds: Sequence[Address],
        labels: LabelStore,
        *,
        policy: Policy | str = Policy.HAIRCUT,
        threshold: float | None = None,
    ) -> None:
        self.seeds = tuple(seeds)
        self.labels = labels
        self.policy = Policy.parse(policy)
        self.threshold = threshold
        self._last: tuple[CrawlResult, ProtocolFacts, str, CaseAnalysis] | None = None

    def analyse(self, crawl: CrawlResult, facts: ProtocolFacts, record: Any) -> CaseAnalysis:
        """The analysis of this crawl with the links ``record`` holds (the last one is kept:
        the report's analysis is usually the one that found nothing more to follow)."""
        key = json.dumps(record, sort_keys=True)
        last = self._last
        if last is not None and last[0] is crawl and last[1] is facts and last[2] == key:
            return last[3]
        analysis = analyse_case(
            crawl.transfers,
            facts.events,
            facts.transactions,
            self.seeds,
            self.labels,
            policy=self.policy,
            links=links_from_json((record or {}).get("links", [])),
            threshold=self.threshold,
            probed=facts.probed,
        )
        self._last = (crawl, facts, key, analysis)
        return analysis

    def __call__(self, crawl: CrawlResult, facts: ProtocolFacts, record: Any) -> Expansion | None:
        analysis = self.analyse(crawl, facts, record)
        probed = set((record or {}).get("probed", []))
        if analysis.settled and (record or {}).get("probes_last_round"):
            return None  # the last probes changed nothing: the next-ranked would fare worse
        chosen = self._probes(analysis, crawl, facts, probed)
        if analysis.settled and not chosen:
            return None
        known = {link.to_tx for link in analysis.links}
        roots = []
        for link in analysis.next_links:
            if link.to_tx in known:
                continue
            depositor = crawl.coverage.get(Address(link.from_address or ""))
            roots.append(
                Root(
                    Address(link.to_address),
                    (depositor.hop if depositor is not None else 0) + 1,
                    link.block,
                    ((link.asset.token_address, link.amount_raw, None),),
                )
            )
        return Expansion(
            tuple(roots),
            {
                "links": links_to_json(analysis.next_links),
                "probed": sorted(probed | {c.probe.address for c in chosen}),
                "probes_last_round": len(chosen),
                # Why each was probed, for the report (the checkpoint keeps it with the rest).
                _PROBE_REASONS: {
                    c.probe.address: {
                        "withdrawal_txs": list(c.withdrawal_txs),
                        "confidence": round(c.confidence, 4),
                    }
                    for c in chosen
                },
            },
            tuple(c.probe for c in chosen),
        )

    def _probes(
        self, analysis: CaseAnalysis, crawl: CrawlResult, facts: ProtocolFacts, probed: set[str]
    ) -> tuple[_Chosen, ...]:
        following = {link.to_address for link in analysis.next_links}
        # Per recipient: its best confidence and its withdrawals (it acts after the last
        # one: the window runs from the first to a day after the last).
        best: dict[Address, float] = {}
        withdrawals: dict[Address, list[tuple[int, str]]] = defaultdict(list)
        for candidate in analysis.mixer_links:
            address = candidate.withdrawal_address
            if (
                address in following
                or address in crawl.coverage
                or address in probed
                or self.labels.is_service(address)
            ):
                continue
            best[address] = max(best.get(address, 0.0), candidate.confidence)
            withdrawals[address].append((candidate.withdrawal_block, candidate.withdrawal_tx))
        ranked = sorted(best, key=lambda a: (-best[a], min(withdrawals[a])[0], a))
        ends = _window_ends(crawl, facts)
        chosen = []
        for address in sorted(ranked[:PROBES_PER_ROUND]):
            made = sorted(set(withdrawals[address]))
            first, last = made[0][0], made[-1][0]
            probe = Probe(address, first, PROBE_MAX_TRANSFERS, ends(last))
            chosen.append(_Chosen(probe, tuple(tx for _block, tx in made), best[address]))
        return tuple(chosen)


_PROBE_REASONS: Final = "probe_reasons"  # in MixerFollower's record


@dataclass(frozen=True, slots=True)
class _Chosen:
    """A probe and why: the candidate withdrawals to the address, their best confidence."""

    probe: Probe
    withdrawal_txs: tuple[str, ...]  # by block
    confidence: float


def probes_to_json(
    rounds: Sequence[tuple[Any, Sequence[Probe]]], probed: pl.DataFrame, crawl: CrawlResult
) -> list[dict[str, Any]]:
    """``report.json``'s ``probes``: each address fetched as evidence (``rounds``: each
    extension's record and probes, see :meth:`TraceOutcome.rounds`), with the round that
    chose it, the blocks read, the withdrawals that made it a candidate and their best
    confidence then, the transfers of the evidence table (``probed``) it takes part in, and
    whether a later round followed a link to it (then it was crawled too). By address."""
    counts = _transfers_per_address(probed)
    entries = []
    for number, (record, probes) in enumerate(rounds, start=1):
        reasons = (record or {}).get(_PROBE_REASONS, {})
        for probe in probes:
            # A record written before reasons were kept says only what was fetched.
            reason = reasons.get(probe.address, {"withdrawal_txs": [], "confidence": None})
            last = crawl.head_block
            to_block = last if probe.to_block is None else min(probe.to_block, last)
            entries.append(
                {
                    "address": probe.address,
                    "round": number,
                    "from_block": probe.from_block,
                    "to_block": to_block,
                    "withdrawal_txs": list(reason["withdrawal_txs"]),
                    "confidence": reason["confidence"],
                    "transfers": counts.get(probe.address, 0),
                    "crawled": probe.address in crawl.coverage,
                }
            )
    return sorted(entries, key=lambda entry: (entry["address"], entry["round"]))


def _transfers_per_address(transfers: pl.DataFrame) -> dict[str, int]:
    """Rows per address that sent or received them (a self-transfer counts once)."""
    rows = transfers.select("from_address", "to_address").with_row_index("row")
    ends = pl.concat(
        [rows.select("row", address=pl.col(column)) for column in ("from_address", "to_address")]
    )
    counted = ends.drop_nulls().unique().group_by("address").len()
    return dict(zip(counted["address"].to_list(), counted["len"].to_list(), strict=True))


def _window_ends(crawl: CrawlResult, facts: ProtocolFacts) -> Callable[[int], int | None]:
    """Block → the last block known to be within PROBE_SECONDS after it (None: no time
    known for it), from the block times the case has seen."""
    known = (
        pl.concat(
            [
                crawl.transfers.select("block_number", "block_time"),
                facts.transactions.select("block_number", "block_time"),
            ]
        )
        .drop_nulls()
        .unique("block_number")
        .sort("block_number")
    )
    blocks: list[int] = known["block_number"].to_list()
    times: list[int] = [int(when.timestamp()) for when in known["block_time"].to_list()]
    at = dict(zip(blocks, times, strict=True))

    def end(block: int) -> int | None:
        start = at.get(block)
        if start is None:
            return None
        # Block times only grow: the last known block at or before start + the window.
        index = bisect.bisect_right(times, start + PROBE_SECONDS) - 1
        return max(block, blocks[index])

    return end
