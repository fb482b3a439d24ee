"""The analysis of one crawled case: taint, off-ramps, mixer candidates and flow patterns.

Pure: it reads the case's tables (transfers, protocol events, transaction facts) and labels
and returns what ``report.json`` lists. Order of work, and why:

1. taint under the chosen policy from the seeds (stops at labelled services);
2. exchange deposit addresses detected by behaviour over the whole table (an unlabelled
   deposit address is where an exchange can freeze funds);
3. off-ramps: where the traced amounts ended, per address and asset, exact;
4. mixer candidates: every withdrawal linked to the traced deposits, with per-signal evidence.
   They are reported, not yet followed: following needs a second crawl of the withdrawal
   recipients, which the crawler does not do yet;
5. flow patterns among the addresses that held traced value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from tracer.findings import Finding, canonical_order
from tracer.heuristics.exchanges.deposit_address import detect_deposit_addresses
from tracer.heuristics.exchanges.offramps import TRACED_COLUMNS, Offramp, find_offramps
from tracer.heuristics.mixers.combine import MixerLink, demix
from tracer.heuristics.mixers.model import build_view, traced_cluster
from tracer.heuristics.patterns.flows import (
    fan_in_consolidations,
    fan_out_splits,
    peel_chains,
    rapid_pass_through,
)
from tracer.heuristics.taint.engine import trace_taint
from tracer.heuristics.taint.model import Policy, TaintResult
from tracer.labels.model import Category
from tracer.labels.store import LabelStore
from tracer.transfers.schema import TRANSFER_KINDS
from tracer.types import Address


@dataclass(frozen=True, slots=True)
class CaseAnalysis:
    taint: TaintResult
    offramps: tuple[Offramp, ...]
    mixer_links: tuple[MixerLink, ...]
    findings: tuple[Finding, ...]


def analyse_case(
    transfers: pl.DataFrame,
    events: pl.DataFrame,
    transactions: pl.DataFrame,
    seeds: Iterable[Address],
    labels: LabelStore,
    *,
    policy: Policy | str = Policy.HAIRCUT,
) -> CaseAnalysis:
    taint = trace_taint(transfers, list(seeds), policy, labels)
    deposit_addresses = detect_deposit_addresses(transfers, labels)
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
        transfers,
        labelled_mixers=_labelled(transfers, labels, Category.MIXER),
    )
    links = demix(
        view,
        traced_cluster(
            view, [Address(a) for a in holders], hubs=_service_addresses(transfers, labels)
        ),
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
            *(link.to_finding() for link in links),
        ]
    )
    return CaseAnalysis(taint, offramps, links, tuple(findings))


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
