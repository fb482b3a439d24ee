"""One confidence per candidate withdrawal, from every signal, and the links to follow.

The combination rule, in order:

1. every signal scores each candidate withdrawal (a withdrawal of a pool the cluster
   deposited into, after such a deposit); a signal's score is already weighed by its own
   anonymity set (timing by the withdrawals competing in the window, gas price by who else
   used the price, multi-denomination by who else could cover the combination);
2. within a signal the strongest evidence counts; across signals they are treated as
   independent and combined by noisy-OR: ``1 - prod(1 - score)``;
3. groups of withdrawals whose recipients are linked (:func:`.withdrawal_groups`): a member
   at or above the threshold lends ``group_strength`` x its confidence to the others;
4. the cluster's relayer habit is learnt from the withdrawals now above the threshold and
   scored (:mod:`.relayer`), then step 2 again;
5. one-to-one assignment: a note is spent once, so per pool the withdrawals, most confident
   first, each take one of the cluster's deposits made before them (the depositor that
   sent or received the withdrawal if there is one, else the latest). A withdrawal left
   without a note (the cluster had fewer notes in the pool than candidates) keeps its
   best deposit but its confidence is multiplied by ``overflow_penalty``.

Every candidate with any evidence is reported (``mixer_links``); :func:`links_to_follow`
keeps those at or above the threshold.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tracer.findings import Finding
from tracer.heuristics.base import HeuristicSpec, Parameter
from tracer.heuristics.mixers import (
    address_match,
    gas_price,
    linked_addresses,
    multi_denomination,
    relayer,
    timing,
)
from tracer.heuristics.mixers.model import (
    Deposit,
    Evidence,
    MixerView,
    Traced,
    Withdrawal,
    as_float,
    candidate_withdrawals,
    settings_of,
)
from tracer.heuristics.mixers.references import TREASURY_TORNADO, TUTELA
from tracer.types import Address

ID = "mixer-demix"
HEURISTICS = (
    HeuristicSpec(
        id=ID,
        title="Mixer demixing (combined)",
        description=(
            "Combines the mixer signals by noisy-OR per withdrawal, propagates through linked "
            "withdrawal groups and assigns each withdrawal to one traced deposit note; links "
            "at or above the threshold are followed."
        ),
        references=(TUTELA, TREASURY_TORNADO),
        parameters=(
            Parameter(
                "threshold", float, 0.5, "Follow links at or above this confidence.", 0.0, 1.0
            ),
            Parameter(
                "overflow_penalty",
                float,
                0.5,
                "Confidence factor of a withdrawal left without a traced note.",
                0.0,
                1.0,
            ),
        ),
        confidence=(
            "Estimated probability that the withdrawal spends a traced note; 0.5 and above "
            "are followed, lower ones are candidates to review."
        ),
    ),
)

Overrides = Mapping[str, Mapping[str, object]]  # heuristic id -> parameter -> value


@dataclass(frozen=True, slots=True)
class MixerLink:
    """A candidate link from a traced deposit note to a withdrawal (report.json's
    ``mixer_links`` entry)."""

    mixer: Address
    deposit_tx: str
    withdrawal_tx: str
    withdrawal_address: Address
    confidence: float
    evidence: tuple[Evidence, ...]
    depositor: Address | None
    relayer: Address | None
    denomination_raw: int | None
    received_raw: int | None  # what reached the withdrawal address (less the relayer fee)
    withdrawal_block: int
    assigned: bool  # False: no traced note was left for it in the pool
    followed: bool = False  # the trace went on through it (see mixers.follow)

    @property
    def heuristics(self) -> tuple[str, ...]:
        return tuple(sorted({e.signal for e in self.evidence if e.score > 0}))

    def to_json(self) -> dict[str, Any]:
        return {
            "mixer": self.mixer,
            "deposit_tx": self.deposit_tx,
            "withdrawal_tx": self.withdrawal_tx,
            "withdrawal_address": self.withdrawal_address,
            "confidence": round(self.confidence, 4),
            "heuristics": list(self.heuristics),
            "followed": self.followed,
            "details": {
                "depositor": self.depositor,
                "relayer": self.relayer,
                "denomination_raw": _text(self.denomination_raw),
                "received_raw": _text(self.received_raw),
                "withdrawal_block": self.withdrawal_block,
                "assigned": self.assigned,
                "evidence": [e.to_json() for e in self.evidence],
            },
        }

    def to_finding(self) -> Finding:
        return Finding(
            ID,
            round(self.confidence, 4),
            (self.withdrawal_address,),
            (self.deposit_tx, self.withdrawal_tx),
            self.to_json()["details"] | {"mixer": self.mixer, "heuristics": self.heuristics},
        )


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def noisy_or(evidence: Iterable[Evidence]) -> float:
    """Strongest evidence per signal, then ``1 - prod(1 - score)`` across signals."""
    best: dict[str, float] = {}
    for item in evidence:
        best[item.signal] = max(best.get(item.signal, 0.0), item.score)
    remaining = 1.0
    for score in best.values():
        remaining *= 1.0 - score
    return 1.0 - remaining


def demix(
    view: MixerView, traced: Traced, overrides: Overrides | None = None
) -> tuple[MixerLink, ...]:
    """Every candidate withdrawal with evidence, as a link to one traced deposit, in pool and
    block order."""
    options = dict(overrides or {})
    settings = settings_of(HEURISTICS[0], options.get(ID))
    threshold = as_float(settings, "threshold")
    timing_settings = settings_of(timing.HEURISTICS[0], options.get(timing.ID))
    max_delay = int(as_float(timing_settings, "max_delay_hours") * timing.HOUR)
    candidates = candidate_withdrawals(view, traced, max_delay)
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    for found in (
        address_match.address_match(candidates, traced, options.get(address_match.ID)),
        linked_addresses.linked_to_cluster(
            view, candidates, traced, options.get(linked_addresses.ID)
        ),
        timing.timing(view, candidates, traced, options.get(timing.ID)),
        gas_price.gas_fingerprint(view, candidates, traced, options.get(gas_price.ID)),
        multi_denomination.multi_denomination(
            view, candidates, traced, options.get(multi_denomination.ID)
        ),
    ):
        for tx, item in found.items():
            evidence[tx].append(item)
    _propagate(view, candidates, traced, evidence, threshold, options)
    confident = [w for w in candidates if noisy_or(evidence[w.tx]) >= threshold]
    habit = Counter(w.relayer for w in confident)
    for tx, item in relayer.relayer_habit(view, candidates, habit, options.get(relayer.ID)).items():
        evidence[tx].append(item)
    scored = [(w, noisy_or(evidence[w.tx])) for w in candidates if evidence[w.tx]]
    return _assign(scored, traced, evidence, as_float(settings, "overflow_penalty"))


def _propagate(  # noqa: PLR0917 (demix's working state, passed through)
    view: MixerView,
    candidates: tuple[Withdrawal, ...],
    traced: Traced,
    evidence: dict[str, list[Evidence]],
    threshold: float,
    options: Mapping[str, Mapping[str, object]],
) -> None:
    group_settings = settings_of(linked_addresses.HEURISTICS[0], options.get(linked_addresses.ID))
    strength = as_float(group_settings, "group_strength")
    own = {w.tx: noisy_or(evidence[w.tx]) for w in candidates}
    for members, reasons in linked_addresses.withdrawal_groups(
        view, candidates, traced, options.get(linked_addresses.ID)
    ):
        anchors = [tx for tx in members if own[tx] >= threshold]
        for tx in members:
            lenders = [a for a in anchors if a != tx]
            if not lenders:
                continue
            lender = max(lenders, key=lambda a: (own[a], a))
            evidence[tx].append(
                Evidence(
                    linked_addresses.ID,
                    strength * own[lender],
                    f"{reasons[tx]}; grouped with withdrawal {lender} "
                    f"(confidence {own[lender]:.2f})",
                    (tx, lender),
                )
            )


def _assign(
    scored: list[tuple[Withdrawal, float]],
    traced: Traced,
    evidence: Mapping[str, list[Evidence]],
    overflow_penalty: float,
) -> tuple[MixerLink, ...]:
    free: dict[Address, list[Deposit]] = defaultdict(list)
    for deposit in traced.deposits:
        free[deposit.pool.address].append(deposit)
    links: list[MixerLink] = []
    for w, score in sorted(scored, key=lambda item: (-item[1], item[0].block, item[0].tx)):
        earlier = [d for d in free[w.pool.address] if d.block < w.block]
        own = [d for d in earlier if d.depositor in (w.sender, w.recipient)]
        chosen = max(own or earlier, key=lambda d: (d.block, d.log_index), default=None)
        assigned = chosen is not None
        confidence = score
        if chosen is not None:
            free[w.pool.address].remove(chosen)
        else:
            confidence *= overflow_penalty
            chosen = max(
                (d for d in traced.deposits if d.pool == w.pool and d.block < w.block),
                key=lambda d: (d.block, d.log_index),
            )
        links.append(
            MixerLink(
                mixer=w.pool.address,
                deposit_tx=chosen.tx,
                withdrawal_tx=w.tx,
                withdrawal_address=w.recipient,
                confidence=confidence,
                evidence=tuple(sorted(evidence[w.tx], key=lambda e: (e.signal, -e.score))),
                depositor=chosen.depositor,
                relayer=w.relayer,
                denomination_raw=w.pool.denomination_raw,
                received_raw=w.received_raw,
                withdrawal_block=w.block,
                assigned=assigned,
            )
        )
    return tuple(
        sorted(links, key=lambda link: (link.mixer, link.withdrawal_block, link.withdrawal_tx))
    )


def links_to_follow(
    links: Iterable[MixerLink], threshold: float | None = None
) -> tuple[MixerLink, ...]:
    """The links at or above ``threshold`` (default: the ``mixer-demix`` parameter)."""
    if threshold is None:
        threshold = as_float(HEURISTICS[0].defaults(), "threshold")
    return tuple(link for link in links if link.confidence >= threshold)
