"""Seed → off-ramp paths for ``report.json``: every hop with its transaction, time and amount.

:func:`tracer.graph.paths.seed_paths` gives one path per sink, the one that arrives first. An
investigator wants more: for each traced arrival at an off-ramp (one transfer into it, listed
in the off-ramp's ``arrivals``), the route the funds took from a seed. This module adds to
every off-ramp entry of the report:

* ``paths``: up to :data:`MAX_PATHS` routes, one per arrival, the arrivals that carried the
  most traced value first (ties: the earlier one). Each route is found backwards from the
  arrival: at every address, among the inflows that came before the outflow being explained,
  the one carrying the most traced value, preferring in turn the deposit a mixer link ties
  to the withdrawal (at a mixer pool), the same asset sent by a non-service, the asset
  swapped away at that address (after a swap), and the same asset created at a service.
  Only inflows that are themselves reachable forward in time from a seed are considered, so
  the walk ends at a seed, unless the traced value was created where no transfer shows it
  (a link without a withdrawal row): then the route starts there and ``seed`` is null. At
  most :data:`MAX_HOPS` hops are kept, those nearest the off-ramp; ``omitted_hops`` counts
  the ones left out between the seed and the first kept hop.
* ``paths_omitted``: how many arrivals have no route listed because of :data:`MAX_PATHS`.
* a ``time`` (UTC, ISO 8601) on every arrival, so documents can give deposit dates.

Amounts are the traced amounts of each hop as exact integers (decimal strings in the report).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set

from tracer.amounts import AssetAmount
from tracer.heuristics.taint import Conversion, asset_key

MAX_PATHS: Final = 5  # routes listed per off-ramp and asset
MAX_HOPS: Final = 12  # hops kept per route (nearest the off-ramp)

TokenInfo = Mapping[str, tuple[str | None, int | None]]  # token → (symbol, decimals)


@dataclass(frozen=True, slots=True)
class _Edge:
    source: str
    target: str
    tx_hash: str
    block: int
    time: datetime | None
    asset: str  # asset key: token address, "#token_id" for NFTs
    token_address: str
    traced_raw: int
    order: int


def add_offramp_paths(
    report: dict[str, Any],
    graph: nx.MultiDiGraph,
    *,
    token_info: TokenInfo,
    native_symbol: str,
    conversions: Iterable[Conversion] = (),
) -> None:
    """Add ``paths``, ``paths_omitted`` and arrival times to ``report["offramps"]`` in place.

    ``graph`` is the traced flow graph (:func:`tracer.graph.build.build_flow_graph`);
    ``report["mixer_links"]`` (deposit_tx → withdrawal_tx) guides routes through mixers.
    """
    walker = _Walker(graph, conversions, report.get("mixer_links", []))
    for offramp in report["offramps"]:
        arrivals = walker.arrivals(offramp["address"], offramp["token_address"])
        times = {edge.tx_hash: edge.time for edge in arrivals}
        for arrival in offramp.get("arrivals", []):
            arrival["time"] = _iso(times.get(arrival["tx"]))
        ranked = sorted(arrivals, key=lambda edge: (-edge.traced_raw, edge.order))
        offramp["paths"] = [
            _path_json(walker.route(edge), walker.seeds, token_info, native_symbol)
            for edge in ranked[:MAX_PATHS]
        ]
        offramp["paths_omitted"] = max(0, len(ranked) - MAX_PATHS)


class _Walker:
    """The traced graph indexed for backward walks over edges reachable from the seeds."""

    def __init__(
        self,
        graph: nx.MultiDiGraph,
        conversions: Iterable[Conversion],
        mixer_links: Iterable[Mapping[str, Any]],
    ) -> None:
        self.seeds = {node for node, seed in graph.nodes(data="seed") if seed}
        self.stops = {node for node, stop in graph.nodes(data="stop") if stop}
        # Swaps: (address, asset out) → assets swapped in, so a route follows what was sold.
        self.sold: dict[tuple[str, str], set[str]] = defaultdict(set)
        for conversion in conversions:
            self.sold[(conversion.address, asset_key(conversion.asset_out))].add(
                asset_key(conversion.asset_in)
            )
        self.deposit_of = {
            link["withdrawal_tx"]: link["deposit_tx"]
            for link in mixer_links
            if link.get("withdrawal_tx") and link.get("deposit_tx")
        }
        self.inflows: dict[str, list[_Edge]] = defaultdict(list)  # reachable from a seed
        self.into: dict[str, list[_Edge]] = defaultdict(list)  # every traced transfer
        self._index(graph)

    def _index(self, graph: nx.MultiDiGraph) -> None:
        """Keep the edges reachable forward in time from a seed (the walk's invariant)."""
        arrival: dict[str, int] = dict.fromkeys(self.seeds, -1)
        edges = sorted(graph.edges(data=True), key=lambda edge: edge[2]["order"])
        for source, target, data in edges:
            edge = _Edge(
                source, target, data["tx_hash"], data["block"], data["time"], data["asset"],
                data["token_address"], data["traced_raw"], data["order"],
            )  # fmt: skip
            self.into[target].append(edge)
            if source not in arrival or arrival[source] >= data["order"]:
                continue
            # A service passes nothing on, except value created there by a swap or link.
            if source in self.stops and source not in self.seeds and not data["converted_raw"]:
                continue
            arrival.setdefault(target, data["order"])
            self.inflows[target].append(edge)

    def arrivals(self, address: str, token_address: str) -> list[_Edge]:
        """Traced transfers of the token into ``address`` that do not come from a service."""
        return [
            edge
            for edge in self.into.get(address, [])
            if edge.token_address == token_address and edge.source not in self.stops
        ]

    def route(self, last: _Edge) -> list[_Edge]:
        """Hops from a seed to ``last``, found backwards (orders strictly fall: it ends)."""
        hops = [last]
        while hops[-1].source not in self.seeds:
            previous = self._previous(hops[-1])
            if previous is None:
                break  # traced value created without a transfer row: no seed to name
            hops.append(previous)
        hops.reverse()
        return hops

    def _previous(self, edge: _Edge) -> _Edge | None:
        """The inflow that best explains ``edge`` leaving its sender (see the module doc)."""
        earlier = [e for e in self.inflows.get(edge.source, []) if e.order < edge.order]
        if not earlier:
            return None
        linked = self.deposit_of.get(edge.tx_hash)
        sold = self.sold.get((edge.source, edge.asset), set())
        preferences: tuple[Callable[[_Edge], bool], ...] = (
            lambda e: e.tx_hash == linked,  # into a mixer: the deposit the link names
            lambda e: e.asset == edge.asset and e.source not in self.stops,  # carried on
            lambda e: e.asset in sold and e.source not in self.stops,  # swapped here
            lambda e: e.asset == edge.asset,  # created by a swap or link at a service
        )
        for preferred in preferences:
            chosen = [e for e in earlier if preferred(e)]
            if chosen:
                return max(chosen, key=lambda e: (e.traced_raw, e.order))
        # Amounts of different assets cannot be compared: the latest inflow explains it.
        return max(earlier, key=lambda e: e.order)


def _path_json(
    hops: list[_Edge], seeds: set[str], token_info: TokenInfo, native_symbol: str
) -> dict[str, Any]:
    kept = hops[-MAX_HOPS:]
    return {
        "seed": hops[0].source if hops[0].source in seeds else None,
        "omitted_hops": len(hops) - len(kept),
        "hops": [_hop_json(edge, token_info, native_symbol) for edge in kept],
    }


def _hop_json(edge: _Edge, token_info: TokenInfo, native_symbol: str) -> dict[str, Any]:
    symbol, decimals = token_info.get(edge.token_address, (None, None))
    amount = AssetAmount.of(edge.token_address, edge.traced_raw, symbol, decimals, native_symbol)
    return {
        "from": edge.source,
        "to": edge.target,
        "tx": edge.tx_hash,
        "block": edge.block,
        "time": _iso(edge.time),
        "asset": amount.symbol,
        "token_address": edge.token_address,
        "decimals": amount.decimals,
        "amount": None if amount.decimals is None else amount.display(),
        "amount_raw": str(edge.traced_raw),
    }


def _iso(moment: datetime | None) -> str | None:
    """UTC as ``2024-05-01T12:00:00Z`` (the table's block times are UTC)."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
