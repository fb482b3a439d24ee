"""Address match: the note is withdrawn to, or by, an address of the traced cluster.

Tutela's first heuristic: a deposit and a withdrawal with the same address link the two.
Here "the same address" is any cluster address (the depositor, or an address the trace
already holds), as the recipient or as the sender of a withdrawal that paid its own gas:
withdrawing without a relayer from a funded cluster wallet is the classic slip. A relayed
withdrawal's sender is the relayer and says nothing about the user.
"""

from __future__ import annotations

from collections.abc import Mapping

from tracer.heuristics.base import HeuristicSpec, Parameter
from tracer.heuristics.mixers.model import (
    Evidence,
    Traced,
    Withdrawal,
    as_float,
    settings_of,
)
from tracer.heuristics.mixers.references import TUTELA

ID = "mixer-address-match"
HEURISTICS = (
    HeuristicSpec(
        id=ID,
        title="Mixer address match",
        description=(
            "A withdrawal whose recipient is a traced address, or that a traced address sent "
            "itself (no relayer: it paid the gas), belongs to the traced cluster."
        ),
        references=(TUTELA,),
        parameters=(
            Parameter(
                "recipient_strength",
                float,
                0.95,
                "Score when the recipient is a traced address.",
                0.0,
                1.0,
            ),
            Parameter(
                "sender_strength",
                float,
                0.95,
                "Score when a traced address sent the withdrawal itself.",
                0.0,
                1.0,
            ),
        ),
        confidence="Near-certain unless a cluster address is shared (a service): pass hubs.",
    ),
)


def address_match(
    withdrawals: tuple[Withdrawal, ...],
    traced: Traced,
    overrides: Mapping[str, object] | None = None,
) -> dict[str, Evidence]:
    """Evidence by withdrawal transaction hash."""
    settings = settings_of(HEURISTICS[0], overrides)
    members = traced.addresses - traced.hubs
    found: dict[str, Evidence] = {}
    for w in withdrawals:
        if w.recipient in members:
            found[w.tx] = Evidence(
                ID,
                as_float(settings, "recipient_strength"),
                f"withdrawn to traced address {w.recipient}",
                (w.tx,),
            )
        elif w.relayer is None and w.sender is not None and w.sender in members:
            found[w.tx] = Evidence(
                ID,
                as_float(settings, "sender_strength"),
                f"sent without a relayer by traced address {w.sender}, which paid its gas",
                (w.tx,),
            )
    return found
