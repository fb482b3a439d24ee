"""Address → labels, keeping every label with its source."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from tracer.labels.model import SERVICE_CATEGORIES, Category, Label
from tracer.labels.packs import load_csv
from tracer.types import Address

# When sources disagree on what an address is, the category used for tracing is the first of
# these found among its labels: sanctions first (screening must never be masked), then the
# categories that end a trace, then the rest. Every label is still kept and shown.
CATEGORY_PRECEDENCE: tuple[Category, ...] = (
    Category.SANCTIONED,
    Category.MIXER,
    Category.BRIDGE,
    Category.EXCHANGE,
    Category.EXCHANGE_DEPOSIT,
    Category.OTC,
    Category.DEX,
    Category.WRAPPED_NATIVE,
    Category.THIEF,
    Category.VICTIM,
    Category.DEFI,
    Category.TOKEN,
    Category.OTHER,
)
_RANK = {category: rank for rank, category in enumerate(CATEGORY_PRECEDENCE)}


class LabelStore:
    def __init__(self, labels: Iterable[Label] = ()) -> None:
        self._by_address: dict[Address, list[Label]] = defaultdict(list)
        for label in labels:
            self.add(label)

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> LabelStore:
        store = cls()
        for path in paths:
            for label in load_csv(path):
                store.add(label)
        return store

    def add(self, label: Label) -> None:
        existing = self._by_address[label.address]
        if label not in existing:
            existing.append(label)

    def labels(self, address: Address) -> list[Label]:
        return list(self._by_address.get(address, ()))

    def primary(self, address: Address) -> Label | None:
        """The label whose category drives tracing decisions, by CATEGORY_PRECEDENCE."""
        labels = self._by_address.get(address)
        if not labels:
            return None
        return min(labels, key=lambda label: (_RANK[label.category], -label.confidence))

    def is_service(self, address: Address) -> bool:
        primary = self.primary(address)
        return primary is not None and primary.category in SERVICE_CATEGORIES

    def __len__(self) -> int:
        return len(self._by_address)

    def __contains__(self, address: object) -> bool:
        return address in self._by_address
