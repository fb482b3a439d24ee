"""Screen addresses against the label store: every label, active sanctions, a hit or not."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from tracer.errors import InputError, InputFileError
from tracer.labels.addresses import parse_any_address
from tracer.labels.model import Category, Label, Network
from tracer.labels.store import LabelStore

DEFAULT_FAIL_ON = frozenset({Category.SANCTIONED})
_MAX_TARGETS = 1_000_000


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    where: str  # "argument" or "file:line", for error messages


@dataclass(frozen=True, slots=True)
class ScreenResult:
    query: str
    network: Network
    address: str
    labels: tuple[Label, ...]
    sanctions: tuple[Label, ...]  # active designations
    history: tuple[Label, ...]  # designations since lifted (listed/delisted dates)
    conflicts: tuple[Category, ...]
    hits: tuple[Label, ...]  # the labels that make this a hit

    @property
    def hit(self) -> bool:
        return bool(self.hits)


def read_targets(arguments: Iterable[str]) -> list[Target]:
    """Each argument is an address, or a file of addresses: one per line (blank lines and
    ``#`` comments skipped), or a CSV whose header has an ``address`` column."""
    targets: list[Target] = []
    for argument in arguments:
        path = Path(argument)
        if not path.is_file():
            if "/" in argument or argument.endswith((".txt", ".csv")):
                raise InputFileError(path, "address file not found")
            targets.append(Target(argument, "argument"))
            continue
        targets.extend(_file_targets(path))
        if len(targets) > _MAX_TARGETS:
            raise InputError(f"more than {_MAX_TARGETS} addresses to screen; split the input")
    return targets


def _file_targets(path: Path) -> list[Target]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read address file: {exc}") from exc
    first = next((line for line in lines if line.strip()), "")
    if "," in first and "address" in [c.strip().lower() for c in first.split(",")]:
        reader = csv.DictReader(lines)
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
        return [
            Target((row.get("address") or "").strip(), f"{path}:{reader.line_num}")
            for row in reader
        ]
    return [
        Target(line.strip(), f"{path}:{number}")
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def screen(
    targets: Iterable[Target],
    store: LabelStore,
    *,
    fail_on: Collection[Category] = DEFAULT_FAIL_ON,
) -> list[ScreenResult]:
    """Look every target up. A *hit* is an active sanction (when ``sanctioned`` is in
    ``fail_on``) or any label of another category in ``fail_on``."""
    results = []
    for target in targets:
        try:
            network, address = parse_any_address(target.text)
        except InputError as exc:
            if target.where == "argument":
                raise
            path, _, line = target.where.rpartition(":")
            raise InputFileError(path, str(exc), line=int(line)) from None
        labels = tuple(store.labels(address))
        hits = tuple(
            label
            for label in labels
            if label.category in fail_on
            and (label.category is not Category.SANCTIONED or label.is_active_sanction)
        )
        results.append(
            ScreenResult(
                query=target.text,
                network=network,
                address=address,
                labels=labels,
                sanctions=tuple(label for label in labels if label.is_active_sanction),
                history=tuple(
                    label for label in labels if label.delisted is not None and label.listed
                ),
                conflicts=tuple(store.conflicts(address)),
                hits=hits,
            )
        )
    return results
