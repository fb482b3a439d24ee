"""Sankey flows of traced value, one diagram per asset (different tokens are never added).

Seeds, services (mixers, swaps, bridges, exchanges...) and off-ramps are nodes of their own;
unlabelled hop wallets are grouped by their hop distance from the seeds, so a peel chain of a
hundred wallets reads as a few bands. Link values are exact integer sums of the edges' traced
amounts; the float the diagram draws with is for display only, and each link's label carries
the exact amount. Value moving between wallets of the same group stays inside the band.

The diagram is kept free of loops: Plotly lays out a Sankey with cycles with
d3-sankey-circular, which hangs or crashes the renderer on dense ones (plotly.js#3813). Every
group has a distance (its hop distance; the seeds 0; wallets no seed reaches, which sent value
in, -1). Links to a farther group are drawn (they cannot form a loop); then each other link,
the larger first, is drawn unless it would close a loop (a peel chain's last deposit into an
off-ramp first reached at fewer hops does not; value paid back to a wallet that fed its payer
does). Value left out is summed exactly per asset and named in a note under the diagram.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from tracer.exporters.html.model import Assets, display_name
from tracer.exporters.legend import UNLABELLED, legend_entry
from tracer.transfers.schema import scaled_value
from tracer.types import NATIVE_TOKEN

# Roles whose nodes are grouped into hop bands rather than drawn one by one.
_HOP_ROLES: Final = frozenset({UNLABELLED, "thief", "victim", "other"})


def sankey_flows(
    nodes: pl.DataFrame,
    edges: pl.DataFrame,
    assets: Assets,
    hops: Mapping[str, int | None],
) -> list[dict[str, Any]]:
    """Per fungible asset: ``keys`` (``node:ADDRESS``, ``seed:ADDRESS``, ``hop:N``, ``hop:in``),
    ``labels``, ``colours``, and links as ``source``, ``target``,
    ``value`` (display float), ``amount`` (exact text) and ``raw`` (exact decimal string);
    ``back``: the links between groups not drawn as they would close a loop, running back to
    a group before them (``flows``: how many, their exact ``raw`` sum and ``amount`` text)."""
    groups: dict[str, tuple[str, str, str]] = {}
    distance: dict[str, int] = {}  # group key → its distance (the same for all its nodes)
    for row in nodes.iter_rows(named=True):
        node_hops = hops.get(row["id"])
        group = groups[row["id"]] = _group(row, node_hops)
        # A seed is at 0; a node no seed reaches sent value in, so it comes first.
        distance[group[0]] = 0 if row["seed"] else -1 if node_hops is None else node_hops
    totals: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for source, target, asset, traced in edges.select(
        "source", "target", "asset", "traced_raw"
    ).iter_rows():
        raw = int(traced)
        if raw <= 0 or "#" in asset:  # an NFT is one item, not a flow of value
            continue
        source_group, target_group = groups[source], groups[target]
        if source_group[0] != target_group[0]:
            totals[asset][(source_group[0], target_group[0])] += raw
    info = {key: (label, colour) for key, label, colour in groups.values()}
    flows = []
    for asset in sorted(totals, key=lambda key: (key != NATIVE_TOKEN, assets.title(key))):
        names: dict[str, int] = {}
        keys: list[str] = []
        labels: list[str] = []
        colours: list[str] = []
        links: dict[str, list[Any]] = {
            "source": [],
            "target": [],
            "value": [],
            "amount": [],
            "raw": [],
        }
        drawn, omitted = _without_loops(totals[asset], distance)
        for (source, target), raw in sorted(drawn.items()):
            for key in (source, target):
                if key not in names:
                    names[key] = len(labels)
                    keys.append(key)
                    labels.append(info[key][0])
                    colours.append(info[key][1])
            amount = assets.amount(asset, raw)
            links["source"].append(names[source])
            links["target"].append(names[target])
            scaled = scaled_value(raw, amount.decimals)  # raw units when decimals are unknown
            links["value"].append(float(raw) if scaled is None else scaled)
            links["amount"].append(assets.text(asset, raw))
            links["raw"].append(str(raw))
        omitted_raw = sum(omitted.values())
        flows.append(
            {
                "asset": asset,
                "title": assets.title(asset),
                "keys": keys,
                "labels": labels,
                "colours": colours,
            }
            | links
            | {
                "back": {
                    "flows": len(omitted),
                    "raw": str(omitted_raw),
                    "amount": assets.text(asset, omitted_raw),
                }
            }
        )
    return flows


def back_flow_note(flow: Mapping[str, Any]) -> str | None:
    """The note under a diagram naming the flows it leaves out, or None when there are none."""
    count = flow["back"]["flows"]
    if not count:
        return None
    flows = "1 flow" if count == 1 else f"{count} flows"
    return f"{flows} back to earlier hops ({flow['back']['amount']}) are not drawn"


def _without_loops(
    links: Mapping[tuple[str, str], int], distance: Mapping[str, int]
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(links drawn, links left out): see the module. The other links are taken larger first,
    then by key, so the same case always gives the same diagram."""
    drawn: dict[tuple[str, str], int] = {}
    omitted: dict[tuple[str, str], int] = {}
    kept: dict[str, list[str]] = defaultdict(list)
    rest = []
    for (source, target), raw in links.items():
        if distance[target] > distance[source]:
            drawn[(source, target)] = raw
            kept[source].append(target)
        else:
            rest.append(((source, target), raw))
    for (source, target), raw in sorted(rest, key=lambda item: (-item[1], item[0])):
        if _reaches(kept, target, source):
            omitted[(source, target)] = raw
        else:
            drawn[(source, target)] = raw
            kept[source].append(target)
    return drawn, omitted


def _reaches(links: Mapping[str, list[str]], start: str, goal: str) -> bool:
    seen = {start}
    stack = [start]
    while stack:
        for successor in links.get(stack.pop(), ()):
            if successor == goal:
                return True
            if successor not in seen:
                seen.add(successor)
                stack.append(successor)
    return False


def _group(row: Mapping[str, Any], hops: int | None) -> tuple[str, str, str]:
    """(group key, label, colour) of a node."""
    role = row["role"]
    entry = legend_entry(role)
    if row["seed"]:
        return f"seed:{row['id']}", f"Seed {display_name(row)}", entry.colour
    if row["offramp"]:
        label = f"Off-ramp ({row['offramp']}) {display_name(row)}"
        return f"node:{row['id']}", label, entry.colour
    if role in _HOP_ROLES and not row["stop"]:
        if hops is None:  # no seed reaches it: it sent value into the traced flow
            return "hop:in", "Wallets sending into the trace", legend_entry(UNLABELLED).colour
        band = f"Hop wallets, {hops} hop{'' if hops == 1 else 's'} from a seed"
        return f"hop:{hops}", band, legend_entry(UNLABELLED).colour
    return f"node:{row['id']}", f"{entry.title.split(' (')[0]}: {display_name(row)}", entry.colour
