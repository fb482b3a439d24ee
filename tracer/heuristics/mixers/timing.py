"""Timing and batch matching: the cluster's notes come out while few others' do.

Béres et al. link a deposit and a withdrawal made close in time; the Ronin launderers
deposited in bursts and withdrew in bursts. Both say the same thing when weighed honestly:
if the cluster holds ``k`` unspent notes in a pool (deposited between ``min_delay_hours``
and ``max_delay_hours`` before) and ``n`` withdrawals of that pool fall within
``window_hours`` of this one, a withdrawal picked from that window is the cluster's with
probability about ``min(k, n) / n``. The score is ``strength`` times that: a withdrawal in a
busy window where many innocents also withdrew is weak evidence, one of a lone burst
matching the cluster's burst is strong. Timing alone stays below the follow threshold by
design (``strength`` < 0.5): it ranks, other signals confirm.
"""

from __future__ import annotations

from collections.abc import Mapping

from tracer.heuristics.base import HeuristicSpec, Parameter
from tracer.heuristics.mixers.model import (
    Evidence,
    MixerView,
    Traced,
    Withdrawal,
    as_float,
    settings_of,
)
from tracer.heuristics.mixers.references import BERES, ELLIPTIC_RONIN

ID = "mixer-timing"
HOUR = 3600
HEURISTICS = (
    HeuristicSpec(
        id=ID,
        title="Mixer timing and batch matching",
        description=(
            "A withdrawal made while the traced cluster held unspent notes in the pool is "
            "weighed by its anonymity set: k cluster notes against n withdrawals in the "
            "window gives about k/n."
        ),
        references=(BERES, ELLIPTIC_RONIN),
        parameters=(
            Parameter(
                "strength",
                float,
                0.3,
                "Score when every withdrawal in the window could be the cluster's.",
                0.0,
                1.0,
            ),
            Parameter(
                "min_delay_hours",
                float,
                0.0,
                "Notes younger than this are not counted as unspent.",
                0.0,
                1e6,
            ),
            Parameter(
                "max_delay_hours",
                float,
                24.0 * 30,
                "Notes older than this are not counted as unspent.",
                0.0,
                1e6,
            ),
            Parameter(
                "window_hours",
                float,
                6.0,
                "Half-width of the window of competing withdrawals.",
                0.0,
                1e6,
            ),
        ),
        confidence="A prior, never enough alone: at most `strength`.",
    ),
)


def timing(
    view: MixerView,
    withdrawals: tuple[Withdrawal, ...],
    traced: Traced,
    overrides: Mapping[str, object] | None = None,
) -> dict[str, Evidence]:
    settings = settings_of(HEURISTICS[0], overrides)
    strength = as_float(settings, "strength")
    low = as_float(settings, "min_delay_hours") * HOUR
    high = as_float(settings, "max_delay_hours") * HOUR
    window = as_float(settings, "window_hours") * HOUR
    found: dict[str, Evidence] = {}
    for w in withdrawals:
        if w.time is None:
            continue
        when = w.time
        notes = [
            d
            for d in traced.deposits
            if d.pool == w.pool and d.time is not None and low <= when - d.time <= high
        ]
        rivals = [
            other
            for other in view.withdrawals
            if other.pool == w.pool and other.time is not None and abs(other.time - when) <= window
        ]
        if not notes or not rivals:
            continue
        k, n = min(len(notes), len(rivals)), len(rivals)
        found[w.tx] = Evidence(
            ID,
            strength * k / n,
            f"{len(notes)} traced notes unspent in the pool; {n} withdrawals within "
            f"{settings['window_hours']} h (anonymity set {n}, share {k}/{n})",
            (w.tx, *sorted(d.tx for d in notes)[:3]),
        )
    return found
