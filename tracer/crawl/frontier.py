"""The crawl frontier: addresses waiting to be fetched, in the order a policy gives.

Two policies (``tracer trace --frontier``):

``bfs``
    Breadth first: fewest hops from a seed first, then the earliest arrival block, then the
    address. Every address within *n* hops is fetched before any at *n + 1*.
``taint``
    Taint priority: the addresses that received the most traced value first, so a limited
    address budget is spent where the money went rather than on dust. The *traced value* of
    an address is a deliberately simple, exact estimate: per asset, the sum of the raw
    amounts that crawled (expanded) addresses sent it after traced value had reached them
    (:class:`TracedValue`). Assets are not comparable without prices, so the ranking is by
    the native asset first (exact integers), then by the largest token amount in whole
    units (a float, used for ranking only), then as ``bfs``.

Both orders are total and depend only on the crawl state, never on timing, so a crawl and
its resumption after a crash take the same steps (see :mod:`tracer.crawl.crawler`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tracer.types import NATIVE_TOKEN, Address


class FrontierPolicy(StrEnum):
    BFS = "bfs"
    TAINT = "taint"


@dataclass(frozen=True, slots=True)
class Pending:
    """An address to fetch from ``from_block`` on, ``hop`` hops from the nearest seed."""

    address: Address
    hop: int
    from_block: int


class TracedValue:
    """Per address and asset: raw amounts received from crawled addresses (exact ints)."""

    def __init__(self) -> None:
        self._raw: dict[Address, dict[str, int]] = {}
        self._decimals: dict[str, int | None] = {}

    def add(self, address: Address, token: str, raw: int, decimals: int | None) -> int:
        """Add ``raw`` and return the new total of that asset at that address."""
        per_token = self._raw.setdefault(address, {})
        per_token[token] = per_token.get(token, 0) + raw
        if decimals is not None or token not in self._decimals:
            self._decimals[token] = decimals
        return per_token[token]

    def set(self, address: Address, token: str, raw: int, decimals: int | None) -> None:
        self._raw.setdefault(address, {})[token] = raw
        self._decimals[token] = decimals

    def of(self, address: Address) -> dict[str, int]:
        return dict(self._raw.get(address, {}))

    def decimals(self, token: str) -> int | None:
        return self._decimals.get(token)

    def native(self, address: Address) -> int:
        return self._raw.get(address, {}).get(NATIVE_TOKEN, 0)

    def largest_token_units(self, address: Address) -> float:
        """The largest token amount held in whole units; for ranking only."""
        best = 0.0
        for token, raw in self._raw.get(address, {}).items():
            decimals = self._decimals.get(token)
            if token == NATIVE_TOKEN or decimals is None:
                continue
            best = max(best, float(Decimal(raw).scaleb(-decimals)))
        return best

    def items(self) -> Iterator[tuple[Address, str, int]]:
        for address, per_token in self._raw.items():
            for token, raw in per_token.items():
                yield address, token, raw


_Key = tuple[int | float | str, ...]


class Frontier:
    """A priority queue of :class:`Pending` addresses, one entry per address.

    Pushing an address already waiting merges the entries (fewest hops, earliest block);
    :meth:`touch` re-ranks one whose traced value changed. The heap holds stale entries,
    skipped on pop, so both stay O(log n).
    """

    def __init__(self, policy: FrontierPolicy, traced: TracedValue) -> None:
        self.policy = policy
        self._traced = traced
        self._entries: dict[Address, Pending] = {}
        self._versions: dict[Address, int] = {}
        self._heap: list[tuple[_Key, int, Address]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, address: object) -> bool:
        return address in self._entries

    def get(self, address: Address) -> Pending | None:
        return self._entries.get(address)

    def entries(self) -> list[Pending]:
        return sorted(self._entries.values(), key=lambda entry: entry.address)

    def push(self, entry: Pending) -> Pending:
        """Add or merge ``entry``; return what is now waiting for that address."""
        existing = self._entries.get(entry.address)
        if existing is not None:
            entry = Pending(
                entry.address,
                min(entry.hop, existing.hop),
                min(entry.from_block, existing.from_block),
            )
            if entry == existing:
                self.touch(entry.address)  # the traced value may have changed
                return entry
        self._entries[entry.address] = entry
        self.touch(entry.address)
        return entry

    def touch(self, address: Address) -> None:
        entry = self._entries.get(address)
        if entry is None:
            return
        version = self._versions.get(address, 0) + 1
        self._versions[address] = version
        heapq.heappush(self._heap, (self._key(entry), version, address))

    def pop(self) -> Pending | None:
        while self._heap:
            _key, version, address = heapq.heappop(self._heap)
            if self._versions.get(address) != version or address not in self._entries:
                continue  # superseded by a later push or touch
            return self._entries.pop(address)
        return None

    def _key(self, entry: Pending) -> _Key:
        bfs: _Key = (entry.hop, entry.from_block, entry.address)
        if self.policy is FrontierPolicy.BFS:
            return bfs
        address = entry.address
        return (-self._traced.native(address), -self._traced.largest_token_units(address), *bfs)
