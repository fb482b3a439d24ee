"""Sanctions exposure over a transfer table: who received value that came from a sanctioned
address (forward), and who sent value that went on to one (backward), in how many hops and
how much of each asset.

A pure function of the transfer table and the label store. The rules, chosen to be simple
enough to explain to a court and conservative enough for screening:

* **Sanctioned** means an active sanctions label (a delisted entry is history, not a source).
* **Forward**: a transfer ``u → v`` carries exposure when ``u`` is sanctioned, or when ``u``
  was already exposed: the transfer is in or after the block where exposed value first
  reached ``u``. ``hops`` is the length of the shortest such time-respecting path from a
  sanctioned address; ``first_block`` is the earliest block exposed value reached ``v``.
* **Backward** mirrors it: ``u → v`` makes ``u`` exposed when ``v`` is sanctioned, or when
  ``v`` later (at or after this block) sent value on along such a path; ``last_block`` is the
  latest block at which ``u`` sent value that could still reach a sanctioned address.
* **Amounts** are the exact sums (Python integers over the table's ``value_raw``) of the
  exposed transfers *directly into* the address (forward) or *directly out of* it (backward),
  per asset: per token contract, and per token id for NFTs. Different tokens are never
  added together. They are an upper bound of the exposure, not a taint share: an address
  that received 1 ETH from a sanctioned wallet and 99 ETH from elsewhere has 1 ETH exposed;
  one that received 1 ETH from an exposed hop has that hop's 1 ETH, whatever share of it
  was sanctioned.
* Exposure stops at labelled services (exchanges, mixers, bridges, DEXes, OTC desks): the
  service itself is flagged, but its other customers are not tainted through it. A
  sanctioned service (a sanctioned exchange) is a source like any sanctioned address.
* Failed transfers, zero-value transfers and self-transfers carry nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from tracer.amounts import AssetAmount
from tracer.labels.model import SERVICE_CATEGORIES, Category, Label
from tracer.labels.store import LabelStore

_EDGE_COLUMNS = (
    "from_address",
    "to_address",
    "block_number",
    "transaction_hash",
    "token_address",
    "token_id",
    "value_raw",
    "token_symbol",
    "token_decimals",
)
_NEVER = -1  # a sanctioned address is exposed "since before block 0"


class Direction(StrEnum):
    FORWARD = "forward"  # received value originating from a sanctioned address
    BACKWARD = "backward"  # sent value that reached a sanctioned address


@dataclass(frozen=True, slots=True)
class ExposedAmount:
    amount: AssetAmount
    token_id: str | None  # set for NFTs (ERC-721/1155): each id is its own asset


@dataclass(frozen=True, slots=True)
class Exposure:
    address: str
    direction: Direction
    hops: int
    block: int  # forward: first block exposed value arrived; backward: last block it left
    sources: tuple[str, ...]  # the sanctioned addresses its exposed value came from (went to)
    counterparties: tuple[str, ...]  # exposed addresses it dealt with directly
    amounts: tuple[ExposedAmount, ...]
    transactions: tuple[str, ...]
    label: Label | None  # its own primary label, if any (an exchange that took the funds)


@dataclass(frozen=True, slots=True)
class SanctionsExposure:
    sanctioned: tuple[tuple[str, tuple[Label, ...]], ...]  # sanctioned addresses in the table
    forward: tuple[Exposure, ...]
    backward: tuple[Exposure, ...]
    stops_at: tuple[Category, ...]


def sanctions_exposure(
    transfers: pl.DataFrame,
    labels: LabelStore,
    *,
    native_symbol: str = "ETH",
    max_hops: int | None = None,
    stop_at: Collection[Category] = SERVICE_CATEGORIES,
) -> SanctionsExposure:
    """Every address of ``transfers`` with direct or indirect exposure to a sanctioned one."""
    edges = _edges(transfers)
    present = set(edges["from_address"].to_list()) | set(edges["to_address"].to_list())
    sanctioned = {address for address in present if labels.is_sanctioned(address)}
    stops = {
        address
        for address in present
        if (role := labels.role(address)) is not None and role.category in stop_at
    }
    forward = _propagate(edges, sanctioned, stops, max_hops, Direction.FORWARD)
    backward = _propagate(edges, sanctioned, stops, max_hops, Direction.BACKWARD)
    # Only addresses that were allowed to pass exposure on carry it into amounts.
    limit = max_hops if max_hops is not None else 1 << 30
    return SanctionsExposure(
        sanctioned=tuple(
            (address, tuple(labels.sanctions(address))) for address in sorted(sanctioned)
        ),
        forward=_entries(
            edges,
            forward,
            sanctioned=sanctioned,
            stops=stops,
            limit=limit,
            labels=labels,
            native_symbol=native_symbol,
        ),
        backward=_entries(
            edges,
            backward,
            sanctioned=sanctioned,
            stops=stops,
            limit=limit,
            labels=labels,
            native_symbol=native_symbol,
        ),
        stops_at=tuple(sorted(stop_at)),
    )


def _edges(transfers: pl.DataFrame) -> pl.DataFrame:
    return transfers.filter(
        pl.col("tx_succeeded")
        & (pl.col("value_raw") != "0")
        & pl.col("from_address").is_not_null()
        & pl.col("to_address").is_not_null()
        & (pl.col("from_address") != pl.col("to_address"))
    ).select(_EDGE_COLUMNS)


@dataclass
class _Reach:
    direction: Direction
    hops: dict[str, int]
    block: dict[str, int]  # forward: earliest arrival; backward: latest departure


def _propagate(
    edges: pl.DataFrame,
    sanctioned: set[str],
    stops: set[str],
    max_hops: int | None,
    direction: Direction,
) -> _Reach:
    """Level-by-level search: the level an address is first reached at is its hop count;
    an address re-enters the frontier whenever its exposure block improves (earlier arrival
    forward, later departure backward), so blocks converge to the best time-respecting path.
    """
    forward = direction is Direction.FORWARD
    near, far = ("from_address", "to_address") if forward else ("to_address", "from_address")
    never = _NEVER if forward else 1 << 62
    hops: dict[str, int] = {}
    block: dict[str, int] = {}
    frontier = dict.fromkeys(sanctioned, never)
    level = 0
    while frontier and (max_hops is None or level < max_hops):
        level += 1
        reached_from = pl.DataFrame(
            {near: list(frontier), "_since": list(frontier.values())},
            schema={near: pl.String, "_since": pl.Int64},
        )
        valid = edges.join(reached_from, on=near)
        if forward:
            found = valid.filter(pl.col("block_number") >= pl.col("_since"))
            best = found.group_by(far).agg(pl.col("block_number").min())
        else:
            found = valid.filter(pl.col("block_number") <= pl.col("_since"))
            best = found.group_by(far).agg(pl.col("block_number").max())
        frontier = {}
        for address, at in best.iter_rows():
            if address in sanctioned:
                continue
            known = block.get(address)
            if known is None or (at < known if forward else at > known):
                block[address] = at
                hops.setdefault(address, level)
                if address not in stops:  # a service is flagged but does not pass it on
                    frontier[address] = at
    return _Reach(direction, hops, block)


def _entries(
    edges: pl.DataFrame,
    reach: _Reach,
    *,
    sanctioned: set[str],
    stops: set[str],
    limit: int,
    labels: LabelStore,
    native_symbol: str,
) -> tuple[Exposure, ...]:
    forward = reach.direction is Direction.FORWARD
    near, far = ("from_address", "to_address") if forward else ("to_address", "from_address")
    never = _NEVER if forward else 1 << 62
    carriers = {address: never for address in sanctioned}
    carriers |= {a: b for a, b in reach.block.items() if a not in stops and reach.hops[a] < limit}
    carrier_frame = pl.DataFrame(
        {near: list(carriers), "_since": list(carriers.values())},
        schema={near: pl.String, "_since": pl.Int64},
    )
    timely = (
        pl.col("block_number") >= pl.col("_since")
        if forward
        else pl.col("block_number") <= pl.col("_since")
    )
    exposed = (
        edges.filter(pl.col(far).is_in(list(reach.hops)))
        .join(carrier_frame, on=near)
        .filter(timely)
        .sort("block_number", "transaction_hash")
    )
    totals: dict[str, dict[tuple[str, str | None], int]] = defaultdict(lambda: defaultdict(int))
    meta: dict[str, tuple[str | None, int | None]] = {}
    counterparties: dict[str, set[str]] = defaultdict(set)
    transactions: dict[str, dict[str, None]] = defaultdict(dict)
    parents: dict[str, set[str]] = defaultdict(set)
    columns = (far, near, "token_address", "token_id", "value_raw", "transaction_hash")
    for target, other, token, token_id, raw, tx_hash, symbol, decimals in exposed.select(
        *columns, "token_symbol", "token_decimals"
    ).iter_rows():
        totals[target][(token, token_id)] += int(raw)  # exact: value_raw is a uint256 string
        meta.setdefault(token, (symbol, decimals))
        counterparties[target].add(other)
        transactions[target][tx_hash] = None
        parents[target].add(other)
    sources = _sources(reach.hops, parents, sanctioned)
    entries = []
    for address, hops in reach.hops.items():
        amounts = tuple(
            ExposedAmount(AssetAmount.of(token, raw, *meta[token], native_symbol), token_id)
            for (token, token_id), raw in sorted(
                totals[address].items(), key=lambda item: (item[0][0], item[0][1] or "")
            )
        )
        entries.append(
            Exposure(
                address=address,
                direction=reach.direction,
                hops=hops,
                block=reach.block[address],
                sources=tuple(sorted(sources[address])),
                counterparties=tuple(sorted(counterparties[address])),
                amounts=amounts,
                transactions=tuple(transactions[address]),
                label=labels.primary(address),
            )
        )
    return tuple(sorted(entries, key=lambda e: (e.hops, e.address)))


def _sources(
    hops: dict[str, int], parents: dict[str, set[str]], sanctioned: set[str]
) -> dict[str, set[str]]:
    """The sanctioned addresses exposed value reached each address from: a fixpoint over
    the timely transfers between exposed addresses (cycles included)."""
    sources: dict[str, set[str]] = {address: {address} for address in sanctioned}
    sources |= {address: set() for address in hops}
    changed = True
    while changed:
        changed = False
        for address in sorted(hops, key=hops.__getitem__):
            merged = sources[address].union(*(sources[p] for p in parents[address]))
            if merged != sources[address]:
                sources[address] = merged
                changed = True
    return sources


def exposure_json(exposure: SanctionsExposure) -> dict[str, object]:
    """The ``sanctions_exposure`` section of report.json (documented in the README)."""
    return {
        "stops_at": [category.value for category in exposure.stops_at],
        "sanctioned": [
            {
                "address": address,
                "labels": [
                    {
                        "entity": label.display_entity,
                        "designation": label.designation,
                        "listed": label.listed,
                        "source": label.source,
                    }
                    for label in found
                ],
            }
            for address, found in exposure.sanctioned
        ],
        "forward": [_entry_json(entry) for entry in exposure.forward],
        "backward": [_entry_json(entry) for entry in exposure.backward],
    }


def _entry_json(entry: Exposure) -> dict[str, object]:
    block_key = "first_block" if entry.direction is Direction.FORWARD else "last_block"
    return {
        "address": entry.address,
        "hops": entry.hops,
        block_key: entry.block,
        "entity": entry.label.display_entity if entry.label else None,
        "category": entry.label.category.value if entry.label else None,
        "sources": list(entry.sources),
        "counterparties": list(entry.counterparties),
        "amounts": [
            {
                "asset": item.amount.symbol,
                "token_address": item.amount.token_address,
                **({"token_id": item.token_id} if item.token_id is not None else {}),
                "amount": item.amount.display(),
                "amount_raw": str(item.amount.raw),
            }
            for item in entry.amounts
        ],
        "transactions": list(entry.transactions),
    }
