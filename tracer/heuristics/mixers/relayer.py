"""Relayer use: the withdrawal uses the relayer (or no relayer) the cluster habitually uses.

A user sticks to one relayer, or to withdrawing without one, as Tutela observes of TORN
mining and relayer habits. It is weak evidence, and none when the relayer is popular: the
score is ``strength`` times the share of the pool's withdrawals that did *not* make the
same choice. The cluster's habit is learnt from withdrawals already linked by stronger
signals (see :mod:`.combine`), never from this signal itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from tracer.heuristics.base import HeuristicSpec, Parameter
from tracer.heuristics.mixers.model import (
    Evidence,
    MixerView,
    Withdrawal,
    as_float,
    settings_of,
)
from tracer.heuristics.mixers.references import TUTELA
from tracer.types import Address

ID = "mixer-relayer"
HEURISTICS = (
    HeuristicSpec(
        id=ID,
        title="Mixer relayer habit",
        description=(
            "A withdrawal through the relayer the cluster's linked withdrawals used (or none, "
            "when it withdraws itself) is weakly linked, less so the more popular the choice."
        ),
        references=(TUTELA,),
        parameters=(
            Parameter(
                "strength",
                float,
                0.2,
                "Score of a habit match on a choice nobody else makes.",
                0.0,
                1.0,
            ),
        ),
        confidence="Weak: a tie-breaker, never enough alone.",
    ),
)


def relayer_habit(
    view: MixerView,
    withdrawals: tuple[Withdrawal, ...],
    habit: Mapping[Address | None, int],
    overrides: Mapping[str, object] | None = None,
) -> dict[str, Evidence]:
    """``habit``: how often the cluster's linked withdrawals used each relayer (None: none)."""
    settings = settings_of(HEURISTICS[0], overrides)
    found: dict[str, Evidence] = {}
    for w in withdrawals:
        if not habit.get(w.relayer):
            continue
        in_pool = [o for o in view.withdrawals if o.pool == w.pool]
        choices = Counter(o.relayer for o in in_pool)
        share = choices[w.relayer] / len(in_pool)
        which = "no relayer" if w.relayer is None else f"relayer {w.relayer}"
        found[w.tx] = Evidence(
            ID,
            as_float(settings, "strength") * (1 - share),
            f"{which}, as {habit[w.relayer]} linked withdrawals of the cluster; "
            f"{choices[w.relayer]} of {len(in_pool)} pool withdrawals chose the same",
            (w.tx,),
        )
    return found
