"""Importers from public label and sanctions formats into :class:`tracer.labels.model.Label`.

Each importer reads one upstream format as untrusted input and returns an
:class:`ImportResult`: the labels it could validate and, for every entry it could not, a
:class:`Rejection` naming the file, the line (or element) and the reason. A bad entry in a
30,000-row third-party dump (an address with a broken EIP-55 checksum, a transaction hash
where an address belongs) is reported and skipped; a file that cannot be parsed at all is an
error. Labels pass through the same validation as label packs
(:func:`tracer.labels.packs.label_from_fields`), so an import can always be written as a pack
and read back unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tracer.errors import InputFileError
from tracer.labels.model import Label
from tracer.labels.packs import label_from_fields


@dataclass(frozen=True, slots=True)
class Rejection:
    where: str  # "file:line" (or file and element id)
    value: str  # the offending value as written (truncated)
    reason: str


@dataclass
class ImportResult:
    """What an importer produced.

    ``entries`` counts upstream records read; each became a label, a rejection, or (when
    the source repeats itself exactly) a duplicate.
    """

    labels: list[Label] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    entries: int = 0
    duplicates: int = 0
    date: str | None = None  # the date the source states for itself (list issue, lastmod)
    sha256: str | None = None  # checksum of the source, where one is published
    # Upstream categories with no tracer equivalent, imported as "other" (name -> count).
    unmapped: Counter[str] = field(default_factory=Counter)
    _seen: set[Label] = field(default_factory=set, repr=False)

    def add(
        self,
        fields: Mapping[str, str | None],
        path: Path,
        line: int | None,
        *,
        default_source: str,
        where: str | None = None,
    ) -> Label | None:
        """Validate ``fields`` into a label, or record why not."""
        try:
            label = label_from_fields(fields, path, line, default_source=default_source)
        except InputFileError as exc:
            prefix = f"{path}:{line}: " if line is not None else f"{path}: "
            reason = str(exc).removeprefix(prefix)
            location = where or (f"{path.name}:{line}" if line is not None else path.name)
            self.rejected.append(Rejection(location, (fields.get("address") or "")[:80], reason))
            return None
        if label in self._seen:  # the source states the same claim twice
            self.duplicates += 1
            return None
        self._seen.add(label)
        self.labels.append(label)
        return label

    def reject(self, where: str, value: str, reason: str) -> None:
        self.rejected.append(Rejection(where, value[:80], reason))

    def extend(self, other: ImportResult) -> None:
        for label in other.labels:
            if label in self._seen:
                self.duplicates += 1
            else:
                self._seen.add(label)
                self.labels.append(label)
        self.rejected.extend(other.rejected)
        self.entries += other.entries
        self.duplicates += other.duplicates
        self.unmapped.update(other.unmapped)
