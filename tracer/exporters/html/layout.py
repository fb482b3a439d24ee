"""The case view's node positions: layers from the seeds (left) to the off-ramps (right).

A node's layer is its hop distance from the nearest seed along the flow (breadth first over
directed edges). As in :func:`tracer.graph.paths.seed_paths`, the walk passes through a
service (a stop node that is not a seed) only over an edge that carried traced value on from it
(``converted_raw`` non-zero: a followed mixer link's payout, a swap's output). A node no seed
reaches sent value into the trace: it sits one layer before the nearest node it pays (at
least layer 0), so a swap pool's payout is drawn beside the mixer or router, not among the
seeds; then a node paid only by nodes laid out so far sits one layer after the nearest of
them; nodes connected to nothing laid out start their own walk, earliest first.
Off-ramps all sit in one column past the deepest layer, so every path reads left to right and
ends where the money can be frozen. Within a layer nodes are ordered by the mean position of
their predecessors (fewer crossings), then by when they were first seen, then by id, so the
same case always gives the same picture. O((nodes + edges) log nodes).
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LayoutNode:
    id: str
    seed: bool
    offramp: bool
    first_seen: datetime | None
    stop: bool = False  # a service: the walk goes on past it only where value was carried on


@dataclass(frozen=True, slots=True)
class Position:
    layer: int  # hop distance from the seeds; off-ramps get the column past the deepest
    x: float
    y: float
    hops: int | None  # hop distance from the nearest seed; None when no seed reaches it


def layered_layout(
    nodes: Sequence[LayoutNode], edges: Sequence[tuple[str, str, bool]]
) -> dict[str, Position]:
    """Positions for every node in ``nodes``. Edges are (source, target, carried on), the
    last true when the edge's ``converted_raw`` is non-zero; edges naming unknown nodes are
    ignored."""
    known = {node.id: node for node in nodes}
    successors: dict[str, list[str]] = defaultdict(list)  # the edges a walk may follow
    receivers: dict[str, list[str]] = defaultdict(list)  # every edge, forward
    predecessors: dict[str, list[str]] = defaultdict(list)
    for source, target, carried in edges:
        if source in known and target in known and source != target:
            receivers[source].append(target)
            predecessors[target].append(source)
            node = known[source]
            if carried or node.seed or not node.stop:
                successors[source].append(target)
    layers, hops = _hop_layers(nodes, successors, receivers, predecessors)
    far = max((layer for node_id, layer in layers.items() if not known[node_id].offramp), default=0)
    for node in nodes:
        if node.offramp and not node.seed:
            layers[node.id] = far + 1
    return _place(nodes, layers, hops, predecessors)


def _hop_layers(
    nodes: Sequence[LayoutNode],
    successors: Mapping[str, list[str]],
    receivers: Mapping[str, list[str]],
    predecessors: Mapping[str, list[str]],
) -> tuple[dict[str, int], dict[str, int]]:
    """(layer of every node, hop distance of the nodes a seed reaches)."""
    ordered = sorted(nodes, key=_time_key)
    layers = _walk([node.id for node in ordered if node.seed], successors, {})
    hops = dict(layers)
    rank = {node.id: index for index, node in enumerate(ordered)}  # time order, then id
    _extend(rank, predecessors, layers, -1)  # the senders into the trace
    _extend(rank, receivers, layers, 1)  # then whom only they (or a service) paid
    for node in ordered:  # connected to nothing laid out: a walk of its own, earliest first
        if node.id not in layers:
            _walk([node.id], successors, layers)
    return layers, hops


def _walk(
    starts: list[str], successors: Mapping[str, list[str]], layers: dict[str, int]
) -> dict[str, int]:
    """Breadth first from ``starts`` (layer 0) over nodes not yet in ``layers``."""
    queue: deque[str] = deque()
    for node_id in starts:
        layers[node_id] = 0
        queue.append(node_id)
    while queue:
        current = queue.popleft()
        for successor in successors.get(current, ()):
            if successor not in layers:
                layers[successor] = layers[current] + 1
                queue.append(successor)
    return layers


def _extend(
    rank: Mapping[str, int], links: Mapping[str, list[str]], layers: dict[str, int], step: int
) -> None:
    """Lay out the nodes ``links`` reach from laid-out ones, ``step`` layers from the nearest
    (at least layer 0). Nodes are taken nearest first, then by time and id, so a place
    depends on the layers only, never on the edges' order."""
    heap = [(layer, rank[node_id], node_id) for node_id, layer in layers.items()]
    heapq.heapify(heap)
    while heap:
        layer, _, current = heapq.heappop(heap)
        for other in links.get(current, ()):
            if other not in layers:
                layers[other] = max(0, layer + step)
                heapq.heappush(heap, (layers[other], rank[other], other))


def _place(
    nodes: Sequence[LayoutNode],
    layers: Mapping[str, int],
    hops: Mapping[str, int],
    predecessors: Mapping[str, list[str]],
) -> dict[str, Position]:
    by_layer: dict[int, list[LayoutNode]] = defaultdict(list)
    for node in nodes:
        by_layer[layers[node.id]].append(node)
    positions: dict[str, Position] = {}
    for layer in sorted(by_layer):

        def order(node: LayoutNode, layer: int = layer) -> tuple[float, tuple[datetime, str]]:
            placed = [
                positions[p].y
                for p in predecessors.get(node.id, ())
                if p in positions and positions[p].layer < layer
            ]
            # Placed predecessors pull a node towards them; the others go below, by time.
            centre = -sum(placed) / len(placed) if placed else float("inf")
            return centre, _time_key(node)

        members = sorted(by_layer[layer], key=order)
        top = (len(members) - 1) / 2
        for index, node in enumerate(members):
            positions[node.id] = Position(layer, float(layer), top - index, hops.get(node.id))
    return positions


_NEVER = datetime.max


def _time_key(node: LayoutNode) -> tuple[datetime, str]:
    seen = node.first_seen.replace(tzinfo=None) if node.first_seen is not None else _NEVER
    return seen, node.id
