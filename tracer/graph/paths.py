"""Seed → sink paths through the traced flow graph, with the transaction hashes on the way.

A path must go forward in time: each transfer comes after the one before it in the engine's
processing order (edge attribute ``order``). :func:`seed_paths` returns, for every sink, the
*foremost* path: the one that reaches it earliest, found in one pass over the edges in time
order (the classic earliest-arrival scan on temporal graphs). Ties go to the edge processed
first, so the answer is deterministic.

Paths are over addresses, not assets: a hop that left an address in another asset than it
arrived in (a swap at that address) does not show the swap's transaction; the taint result's
``conversions`` name it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set


@dataclass(frozen=True, slots=True)
class SeedPath:
    seed: str
    sink: str
    addresses: tuple[str, ...]  # seed first, sink last
    tx_hashes: tuple[str, ...]  # one per hop (a transaction may repeat: multi-hop in one tx)
    edge_keys: tuple[str, ...]


def seed_paths(
    graph: nx.MultiDiGraph,
    seeds: Iterable[str],
    sinks: Iterable[str] | None = None,
) -> dict[str, SeedPath]:
    """Sink → the foremost path from a seed; sinks no traced path reaches are left out.

    ``sinks`` defaults to the stop nodes (services) of the graph.
    """
    seed_set = {seed for seed in seeds if seed in graph}
    wanted = (
        {node for node, stop in graph.nodes(data="stop") if stop} if sinks is None else set(sinks)
    )
    arrival: dict[str, int] = dict.fromkeys(seed_set, -1)
    previous: dict[str, tuple[str, str, str]] = {}  # node → (from, key, tx hash)
    edges = sorted(graph.edges(keys=True, data=True), key=lambda edge: edge[3]["order"])
    for source, target, key, data in edges:
        if target in arrival or source not in arrival or arrival[source] >= data["order"]:
            continue
        if graph.nodes[source].get("stop") and source not in seed_set and not data["converted_raw"]:
            # Services end the trace, unless traced value was carried on from them: a
            # followed mixer link pays the withdrawal's recipient out of the pool.
            continue
        arrival[target] = data["order"]
        previous[target] = (source, key, data["tx_hash"])
    found: dict[str, SeedPath] = {}
    for sink in sorted(wanted):
        if sink not in previous:
            continue
        addresses, keys, hashes = [sink], [], []
        node = sink
        while node in previous:
            source, key, tx_hash = previous[node]
            addresses.append(source)
            keys.append(key)
            hashes.append(tx_hash)
            node = source
        found[sink] = SeedPath(
            node, sink, tuple(reversed(addresses)), tuple(reversed(hashes)), tuple(reversed(keys))
        )
    return found
