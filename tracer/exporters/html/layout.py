"""The case view's node positions: layers from the seeds (left) to the off-ramps (right).

A node's layer is its hop distance from the nearest seed along the flow (breadth first over
directed edges); nodes no seed reaches start their own breadth-first walk, earliest first.
Off-ramps all sit in one column past the deepest layer, so every path reads left to right and
ends where the money can be frozen. Within a layer nodes are ordered by the mean position of
their predecessors (fewer crossings), then by when they were first seen, then by id, so the
same case always gives the same picture. Linear in nodes plus edges.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Position:
    layer: int  # hop distance from the seeds; off-ramps get the column past the deepest
    x: float
    y: float
    hops: int | None  # hop distance from the nearest seed; None when no seed reaches it


def layered_layout(
    nodes: Sequence[LayoutNode], edges: Sequence[tuple[str, str]]
) -> dict[str, Position]:
    """Positions for every node in ``nodes``; edges naming unknown nodes are ignored."""
    known = {node.id: node for node in nodes}
    successors: dict[str, list[str]] = defaultdict(list)
    predecessors: dict[str, list[str]] = defaultdict(list)
    for source, target in edges:
        if source in known and target in known and source != target:
            successors[source].append(target)
            predecessors[target].append(source)
    layers, hops = _hop_layers(nodes, successors)
    far = max((layer for node_id, layer in layers.items() if not known[node_id].offramp), default=0)
    for node in nodes:
        if node.offramp and not node.seed:
            layers[node.id] = far + 1
    return _place(nodes, layers, hops, predecessors)


def _hop_layers(
    nodes: Sequence[LayoutNode], successors: Mapping[str, list[str]]
) -> tuple[dict[str, int], dict[str, int]]:
    """(layer of every node, hop distance of the nodes a seed reaches)."""
    ordered = sorted(nodes, key=_time_key)
    layers = _walk([node.id for node in ordered if node.seed], successors, {})
    hops = dict(layers)
    for node in ordered:  # not reached from a seed: a walk of its own, earliest first
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
