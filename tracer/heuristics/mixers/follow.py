"""Following mixer links: from demixing candidates to taint links, and what a link is worth.

A candidate (:class:`~tracer.heuristics.mixers.combine.MixerLink`) is *followed* when its
confidence is at or above the threshold and it holds a traced note of its own (``assigned``):
a withdrawal left without a note would spend a note another withdrawal already took, and
tracing both would create traced value out of nothing. A followed link becomes a taint
:class:`~tracer.heuristics.taint.model.Link`: the traced share of what the depositor put into
the pool in the deposit transaction flows to the withdrawal's recipient on the withdrawal's
own payout row (the denomination less any relayer fee), exact integers.

**Route confidence.** A taint policy says how much value reached an address, not how sure we
are that it did. Through a followed link that certainty is the link's confidence, so every
address gets the confidence of its most likely route from a seed: 1 along plain transfers,
multiplied by the link's confidence at each mixer crossed (a recipient who deposits again
multiplies again). The *most likely single route* is taken (the maximum over routes of the
product), not a noisy-OR over routes: routes into one off-ramp share links and wallets, so
treating them as independent evidence would overstate the certainty; the maximum never
claims more than one route supports. An off-ramp's reported confidence is then the
identification's confidence (label or deposit-address detector) times its route confidence,
and its evidence gains the deposit and withdrawal transactions of every link on its routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tracer.heuristics.exchanges.offramps import Offramp
from tracer.heuristics.mixers.combine import ID as DEMIX_ID
from tracer.heuristics.mixers.combine import MixerLink, links_to_follow
from tracer.heuristics.taint.model import Asset, Link, TaintResult
from tracer.types import NATIVE_TOKEN

LinkPair = tuple[str, str]  # (deposit tx, withdrawal tx)


def taint_links(links: Iterable[MixerLink], threshold: float | None = None) -> tuple[Link, ...]:
    """The candidates to follow, as taint links, in withdrawal order (``threshold`` None:
    the ``mixer-demix`` parameter)."""
    followed = []
    for link in links_to_follow(links, threshold):
        if not link.assigned:
            continue
        amount = link.received_raw if link.received_raw is not None else link.denomination_raw
        if amount is None:
            continue  # a pool of unknown denomination: nothing exact to carry
        followed.append(
            Link(
                from_tx=link.deposit_tx,
                to_address=link.withdrawal_address,
                asset=Asset(NATIVE_TOKEN),
                amount_raw=amount,
                block=link.withdrawal_block,
                from_address=link.depositor,
                to_tx=link.withdrawal_tx,
                confidence=link.confidence,
                heuristic=DEMIX_ID,
            )
        )
    return tuple(sorted(followed, key=lambda link: (link.block, link.to_tx or "", link.from_tx)))


def pairs(links: Iterable[Link]) -> frozenset[LinkPair]:
    return frozenset((link.from_tx, link.to_tx or "") for link in links)


def links_to_json(links: Iterable[Link]) -> list[dict[str, Any]]:
    """Links as JSON (kept in the case checkpoint); amounts as decimal strings."""
    return [
        {
            "from_tx": link.from_tx,
            "to_address": link.to_address,
            "token_address": link.asset.token_address,
            "token_id": link.asset.token_id,
            "amount_raw": str(link.amount_raw),
            "block": link.block,
            "from_address": link.from_address,
            "to_tx": link.to_tx,
            "confidence": link.confidence,
            "heuristic": link.heuristic,
        }
        for link in links
    ]


def links_from_json(document: Sequence[Mapping[str, Any]]) -> tuple[Link, ...]:
    return tuple(
        Link(
            from_tx=str(item["from_tx"]),
            to_address=str(item["to_address"]),
            asset=Asset(str(item["token_address"]), item["token_id"]),
            amount_raw=int(item["amount_raw"]),
            block=int(item["block"]),
            from_address=item["from_address"],
            to_tx=item["to_tx"],
            confidence=float(item["confidence"]),
            heuristic=str(item["heuristic"]),
        )
        for item in document
    )


@dataclass(frozen=True, slots=True)
class Route:
    """How sure we are that traced value reached a transfer's recipient (or an address),
    which mixer links (deposit tx, withdrawal tx) lie on its routes, and whether one route
    crosses no link at all (``direct``)."""

    confidence: float
    links: frozenset[LinkPair] = frozenset()
    direct: bool = False


_SEED_ROUTE = Route(1.0, direct=True)


@dataclass(frozen=True, slots=True)
class Routes:
    transfers: Mapping[tuple[str, str], Route]  # (tx, recipient) of every traced transfer
    held: Mapping[str, Route]  # every address that received traced value, services aside


def trace_routes(
    taint: TaintResult, links: Iterable[Link], confidences: Mapping[str, float] | None = None
) -> Routes:
    """Per traced transfer (tx, recipient) the route of what its sender passed on, and per
    address the best route that reached it.

    One pass over the traced transfers in the engine's processing order, so a sender's route
    only counts what reached it before. ``confidences`` (withdrawal tx → confidence)
    overrides the links' own (the latest demixing's figures)."""
    by_row = {(link.to_tx, link.to_address): link for link in links if link.to_tx}
    override = dict(confidences or {})
    held: dict[str, Route] = dict.fromkeys(taint.seeds, _SEED_ROUTE)
    deposited: dict[str, Route] = {}  # deposit tx -> route of what went into the pool
    out: dict[tuple[str, str], Route] = {}
    rows = taint.transfers.select("transaction_hash", "from_address", "to_address")
    for tx, sender, recipient in rows.iter_rows():
        link = by_row.get((tx, recipient))
        if link is not None:
            source = deposited.get(link.from_tx)
            if source is None:
                continue
            weight = override.get(tx, link.confidence)
            route = Route(source.confidence * weight, source.links | {(link.from_tx, tx)})
        else:
            found = held.get(sender)
            if found is None:
                continue  # created here (a swap's output, a seed's inflow): the holder's route
            route = found
        out[(tx, recipient)] = _better(out.get((tx, recipient)), route)
        if recipient in taint.stops:
            # A service passes nothing on (a pool's payouts are the links themselves), so
            # what went in is remembered per transaction, for a link from it.
            deposited[tx] = _better(deposited.get(tx), route)
        else:
            held[recipient] = _better(held.get(recipient), route)
    return Routes(out, held)


def _better(old: Route | None, new: Route) -> Route:
    if old is None:
        return new
    return Route(
        max(old.confidence, new.confidence), old.links | new.links, old.direct or new.direct
    )


def offramp_routes(
    offramps: Iterable[Offramp], routes: Mapping[tuple[str, str], Route]
) -> dict[tuple[str, str], Route]:
    """(off-ramp address, token) → the best route over its arrivals."""
    found: dict[tuple[str, str], Route] = {}
    for offramp in offramps:
        best: Route | None = None
        for arrival in offramp.arrivals:
            route = routes.get((arrival.transaction_hash, offramp.address))
            if route is not None:
                best = _better(best, route)
        found[(offramp.address, offramp.asset.token_address)] = best or _SEED_ROUTE
    return found


def through_links(offramp: Offramp, route: Route) -> Offramp:
    """The off-ramp with the route's confidence applied and its links as evidence."""
    if not route.links and route.confidence == 1.0:
        return offramp
    link_txs = [tx for pair in sorted(route.links) for tx in pair]
    return replace(
        offramp,
        confidence=offramp.confidence * route.confidence,
        evidence=tuple(dict.fromkeys([*offramp.evidence, *link_txs])),
    )
