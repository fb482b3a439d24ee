"""Linked addresses: the recipient later deals with the cluster, or with the cluster's
other withdrawal addresses.

Tutela's "linked address" heuristic: a withdrawal address and a deposit address that both
interact with the same third address belong to one user. Services (exchanges' hot wallets,
routers, bridges) interact with everybody and link nothing: an address is a *hub*, skipped as
a link, when the caller says so (labelled services) or when it has more than ``max_degree``
distinct counterparties.

Two outputs: :func:`linked_to_cluster` (the recipient exchanged value with a traced address,
directly or through one shared non-hub address, such as the same exchange deposit address),
and :func:`withdrawal_groups` (withdrawals whose recipients are the same address, paid each
other, or share a non-hub counterparty such as a consolidation wallet). A group is evidence
of common ownership only, not of the cluster: :mod:`.combine` lends a group's strongest
member's confidence to the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tracer.heuristics.base import HeuristicSpec, Parameter
from tracer.heuristics.mixers.model import (
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

ID = "mixer-linked-addresses"
HEURISTICS = (
    HeuristicSpec(
        id=ID,
        title="Mixer linked addresses",
        description=(
            "A withdrawal recipient that later exchanges value with a traced address (directly "
            "or through one shared non-service address), or with another withdrawal's "
            "recipient, is controlled by the same user."
        ),
        references=(TUTELA,),
        parameters=(
            Parameter(
                "direct_strength",
                float,
                0.85,
                "Score when the recipient exchanged value with a traced address.",
                0.0,
                1.0,
            ),
            Parameter(
                "shared_strength",
                float,
                0.7,
                "Score when the recipient and a traced address share a counterparty.",
                0.0,
                1.0,
            ),
            Parameter(
                "group_strength",
                float,
                0.85,
                "Share of a linked withdrawal's confidence lent to the others.",
                0.0,
                1.0,
            ),
            Parameter(
                "max_degree",
                int,
                25,
                "More distinct counterparties than this make an address a hub.",
                1,
                1_000_000,
            ),
        ),
        confidence="Strong for direct payments; a shared counterparty can be a small service.",
    ),
)


class _Graph:
    """Non-hub neighbours of each address, with one transaction per edge as evidence."""

    def __init__(self, view: MixerView, hubs: frozenset[Address], max_degree: int) -> None:
        self.view = view
        self.hubs = hubs
        self.max_degree = max_degree
        self._hub: dict[Address, bool] = {}  # asked once per neighbour of every withdrawal

    def is_hub(self, address: Address) -> bool:
        known = self._hub.get(address)
        if known is None:
            self.learn((address,))
            known = self._hub[address]
        return known

    def learn(self, addresses: Iterable[Address]) -> None:
        """Whether each of ``addresses`` is a hub, found for all of them at once (labelled
        hubs without counting their contacts)."""
        unknown = {a for a in addresses if a not in self._hub}
        counted = unknown - self.hubs
        busy = self.view.contacts.busier_than(counted, self.max_degree)
        for address in unknown:
            self._hub[address] = address not in counted or address in busy

    def neighbours(self, address: Address) -> dict[Address, str]:
        out: dict[Address, str] = {}
        for contact in self.view.contacts.get(address, ()):
            out.setdefault(contact.other, contact.tx)
        return {a: tx for a, tx in out.items() if not self.is_hub(a)}


def linked_to_cluster(
    view: MixerView,
    withdrawals: tuple[Withdrawal, ...],
    traced: Traced,
    overrides: Mapping[str, object] | None = None,
) -> dict[str, Evidence]:
    settings = settings_of(HEURISTICS[0], overrides)
    graph = _Graph(view, traced.hubs, as_int(settings, "max_degree"))
    graph.learn((*traced.addresses, *(w.recipient for w in withdrawals)))
    members = {a for a in traced.addresses if not graph.is_hub(a)}
    found: dict[str, Evidence] = {}
    for w in withdrawals:
        if w.recipient in members or graph.is_hub(w.recipient):
            continue  # address match's case, or a service: no personal link
        near = graph.neighbours(w.recipient)
        direct = sorted(a for a in near if a in members)
        if direct:
            found[w.tx] = Evidence(
                ID,
                as_float(settings, "direct_strength"),
                f"recipient {w.recipient} exchanged value with traced address {direct[0]}",
                (w.tx, near[direct[0]]),
            )
            continue
        for middle in sorted(near):
            shared = sorted(a for a in graph.neighbours(middle) if a in members)
            if shared:
                found[w.tx] = Evidence(
                    ID,
                    as_float(settings, "shared_strength"),
                    f"recipient {w.recipient} and traced address {shared[0]} both dealt "
                    f"with {middle}",
                    (w.tx, near[middle], graph.neighbours(middle)[shared[0]]),
                )
                break
    return found


def withdrawal_groups(
    view: MixerView,
    withdrawals: tuple[Withdrawal, ...],
    traced: Traced,
    overrides: Mapping[str, object] | None = None,
) -> list[tuple[tuple[str, ...], dict[str, str]]]:
    """Groups of withdrawals (tx hashes, sorted) whose recipients are linked, each with, per
    member, a sentence saying how it is linked; singletons left out."""
    settings = settings_of(HEURISTICS[0], overrides)
    graph = _Graph(view, traced.hubs, as_int(settings, "max_degree"))
    parent: dict[str, str] = {w.tx: w.tx for w in withdrawals}
    why: dict[str, str] = {}

    def find(tx: str) -> str:
        while parent[tx] != tx:
            parent[tx] = parent[parent[tx]]
            tx = parent[tx]
        return tx

    def union(a: str, b: str, reason: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
        why.setdefault(a, reason)
        why.setdefault(b, reason)

    # Each recipient and each of its non-hub counterparties is a key; withdrawals sharing a
    # key are linked.
    by_key: dict[Address, list[Withdrawal]] = {}
    for w in withdrawals:
        if graph.is_hub(w.recipient):
            continue
        for key in {w.recipient, *graph.neighbours(w.recipient)}:
            by_key.setdefault(key, []).append(w)
    for key in sorted(by_key):
        members = by_key[key]
        for other in members[1:]:
            first = members[0]
            reason = (
                f"same recipient {first.recipient}"
                if first.recipient == other.recipient
                else f"recipients {first.recipient} and {other.recipient} linked through {key}"
            )
            union(first.tx, other.tx, reason)
    groups: dict[str, list[str]] = {}
    for w in withdrawals:
        groups.setdefault(find(w.tx), []).append(w.tx)
    return [
        (tuple(sorted(txs)), {tx: why[tx] for tx in sorted(txs)})
        for txs in sorted(groups.values(), key=lambda txs: sorted(txs)[0])
        if len(txs) > 1
    ]
