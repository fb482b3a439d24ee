"""Gas-price fingerprint: the cluster's distinctive gas price reappears after the pool.

Wallet software and scripts reuse one gas price (or EIP-1559 tip); a price nobody else in
the pool uses is an identifier (Tutela's "unique gas price", Béres et al.'s gas-price
profile). *Distinctive* is measured where it matters: among the pool's own transactions
(deposits and withdrawals) sent by addresses outside the cluster, at most
``max_foreign_senders`` used it. A round price that others use too is no evidence. Not
foreign: whoever made a traced deposit, and the recipient whose withdrawal is weighed (its
own later deposits would otherwise hide the habit it shares with the cluster).

A relayed withdrawal carries the relayer's price, so the price is also looked for on what
the recipient sends after the withdrawal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from tracer.heuristics.base import HeuristicSpec, Parameter
from tracer.heuristics.mixers.model import (
    Evidence,
    Fingerprint,
    MixerView,
    Traced,
    Withdrawal,
    as_float,
    as_int,
    settings_of,
)
from tracer.heuristics.mixers.references import BERES, TUTELA
from tracer.types import Address

ID = "mixer-gas-fingerprint"
HEURISTICS = (
    HeuristicSpec(
        id=ID,
        title="Mixer gas-price fingerprint",
        description=(
            "A gas price or priority fee that the traced cluster used and (almost) nobody "
            "else used on the pool's transactions, seen on the withdrawal or on what its "
            "recipient sends afterwards, ties the withdrawal to the cluster."
        ),
        references=(TUTELA, BERES),
        parameters=(
            Parameter("strength", float, 0.85, "Score of a distinctive price match.", 0.0, 1.0),
            Parameter(
                "max_foreign_senders",
                int,
                0,
                "Pool senders outside the cluster allowed to share a distinctive price.",
                0,
                1000,
            ),
            Parameter(
                "later_txs",
                int,
                5,
                "How many of the recipient's first transactions after it to inspect.",
                0,
                1000,
            ),
        ),
        confidence="High for a price unique in the pool; none for round, shared prices.",
    ),
)


def _label(fingerprint: Fingerprint) -> str:
    kind, wei = fingerprint
    return f"{kind.replace('_', ' ')} {wei} wei"


def distinctive_fingerprints(
    view: MixerView, traced: Traced, max_foreign_senders: int, recipient: Address | None = None
) -> dict[Fingerprint, str]:
    """The cluster's fingerprints that are rare on the pool's transactions, each with one
    cluster transaction that used it (the evidence). ``recipient`` (the withdrawal's, whose
    link is weighed) is not counted as foreign: it is the address in question, and its own
    later pool transactions (mixing again) would otherwise hide the very habit it shares."""
    ours, foreign = _cluster_and_foreign(view, traced)
    return _distinctive(ours, foreign, max_foreign_senders, recipient)


def _cluster_and_foreign(
    view: MixerView, traced: Traced
) -> tuple[dict[Fingerprint, str], dict[Fingerprint, set[Address]]]:
    """The cluster's fingerprints (with one transaction each), and per fingerprint the pool's
    senders outside the cluster that used it. The same for every withdrawal weighed: computed
    once per call of :func:`gas_fingerprint`, not once per withdrawal."""
    ours: dict[Fingerprint, str] = {}
    for sender_txs in (view.sent.get(a, ()) for a in sorted(traced.addresses)):
        for sent in sender_txs:
            ours.setdefault(sent.fingerprint, sent.tx)
    # Whoever made a traced deposit is the cluster's too (an address reached only through a
    # followed link deposits traced notes without being a member).
    depositors = {d.depositor for d in traced.deposits}
    foreign: dict[Fingerprint, set[Address]] = defaultdict(set)
    for tx in sorted(view.pool_txs()):
        if tx in view.fingerprints:
            sender, fingerprint = view.fingerprints[tx]
            if sender not in traced.addresses and sender not in depositors:
                foreign[fingerprint].add(sender)
    return ours, foreign


def _distinctive(
    ours: Mapping[Fingerprint, str],
    foreign: Mapping[Fingerprint, set[Address]],
    max_foreign_senders: int,
    recipient: Address | None,
) -> dict[Fingerprint, str]:
    distinctive = {}
    for fingerprint, tx in ours.items():
        senders = foreign.get(fingerprint, set())
        outsiders = len(senders) - (recipient in senders)
        if outsiders <= max_foreign_senders:
            distinctive[fingerprint] = tx
    return distinctive


def gas_fingerprint(
    view: MixerView,
    withdrawals: tuple[Withdrawal, ...],
    traced: Traced,
    overrides: Mapping[str, object] | None = None,
) -> dict[str, Evidence]:
    settings = settings_of(HEURISTICS[0], overrides)
    strength = as_float(settings, "strength")
    max_foreign = as_int(settings, "max_foreign_senders")
    found: dict[str, Evidence] = {}
    ours, foreign = _cluster_and_foreign(view, traced)
    for w in withdrawals:
        distinctive = _distinctive(ours, foreign, max_foreign, w.recipient)
        own = view.fingerprints.get(w.tx)
        if w.relayer is None and own is not None and own[1] in distinctive:
            found[w.tx] = Evidence(
                ID,
                strength,
                f"withdrawal paid {_label(own[1])}, the cluster's distinctive price",
                (w.tx, distinctive[own[1]]),
            )
            continue
        later = [s for s in view.sent.get(w.recipient, ()) if s.block >= w.block and s.tx != w.tx]
        for sent in later[: as_int(settings, "later_txs")]:
            if sent.fingerprint in distinctive:
                found[w.tx] = Evidence(
                    ID,
                    strength,
                    f"recipient {w.recipient} later paid {_label(sent.fingerprint)}, "
                    "the cluster's distinctive price",
                    (w.tx, sent.tx, distinctive[sent.fingerprint]),
                )
                break
    return found
