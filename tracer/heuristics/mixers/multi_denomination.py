"""Multi-denomination: one recipient collects notes from several pools, matching the
cluster's split.

Tutela's multi-denomination heuristic: a user who splits 12.3 ETH into 10 + 1 + 1 + 0.1 + ...
notes and withdraws them all to one address is linked by the combination, which few
depositors share. Here: the recipients with withdrawals from at least ``min_pools`` pools;
if the traced cluster deposited at least as many notes in each of those pools, the score is
``strength / (1 + r)``, ``r`` being the number of other depositors whose notes (made before
the withdrawals) could also cover the combination (the combination's anonymity set).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping

from tracer.heuristics.base import HeuristicSpec, Parameter
from tracer.heuristics.mixers.model import (
    Deposit,
    Evidence,
    MixerView,
    Traced,
    Withdrawal,
    as_float,
    as_int,
    settings_of,
)
from tracer.heuristics.mixers.references import TUTELA
from tracer.types import Address

ID = "mixer-multi-denomination"
HEURISTICS = (
    HeuristicSpec(
        id=ID,
        title="Mixer multi-denomination",
        description=(
            "An address withdrawing notes from several pools in a combination that the "
            "traced cluster deposited, and few others could have, recombines the cluster's "
            "split."
        ),
        references=(TUTELA,),
        parameters=(
            Parameter(
                "strength",
                float,
                0.6,
                "Score when no other depositor could cover the combination.",
                0.0,
                1.0,
            ),
            Parameter(
                "min_pools", int, 2, "Distinct pools one recipient must withdraw from.", 2, 100
            ),
        ),
        confidence="Moderate; divided by the number of other depositors that fit.",
    ),
)


def _covers(deposits: list[Deposit], wanted: Counter[Address], before: int) -> bool:
    have = Counter(d.pool.address for d in deposits if d.block < before)
    return all(have[pool] >= count for pool, count in wanted.items())


def multi_denomination(
    view: MixerView,
    withdrawals: tuple[Withdrawal, ...],
    traced: Traced,
    overrides: Mapping[str, object] | None = None,
) -> dict[str, Evidence]:
    settings = settings_of(HEURISTICS[0], overrides)
    by_recipient: dict[Address, list[Withdrawal]] = defaultdict(list)
    for w in withdrawals:
        by_recipient[w.recipient].append(w)
    by_depositor: dict[Address, list[Deposit]] = defaultdict(list)
    for d in view.deposits:
        if d.depositor is not None and d.depositor not in traced.addresses:
            by_depositor[d.depositor].append(d)
    found: dict[str, Evidence] = {}
    for recipient, group in sorted(by_recipient.items()):
        wanted = Counter(w.pool.address for w in group)
        if len(wanted) < as_int(settings, "min_pools"):
            continue
        first = min(w.block for w in group)
        if not _covers(list(traced.deposits), wanted, first):
            continue
        rivals = sum(_covers(ds, wanted, first) for ds in by_depositor.values())
        combination = " + ".join(
            f"{count} x {_amount(group, pool)}" for pool, count in sorted(wanted.items())
        )
        score = as_float(settings, "strength") / (1 + rivals)
        for w in group:
            found[w.tx] = Evidence(
                ID,
                score,
                f"recipient {recipient} withdrew {combination} wei from {len(wanted)} pools, "
                f"a combination the cluster deposited ({rivals} other depositors could)",
                tuple(sorted(x.tx for x in group)),
            )
    return found


def _amount(group: list[Withdrawal], pool: Address) -> str:
    denomination = next(w.pool.denomination_raw for w in group if w.pool.address == pool)
    return "?" if denomination is None else str(denomination)
