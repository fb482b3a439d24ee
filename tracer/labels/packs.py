"""Read label files. Every field is untrusted input: validated, with file and line in errors."""

from __future__ import annotations

import csv
from pathlib import Path

from tracer.errors import InputError, InputFileError, UnknownNameError
from tracer.labels.model import Category, Label
from tracer.types import parse_address

REQUIRED_CSV_COLUMNS = ("address", "name", "category")
_MAX_FIELD = 500  # a label longer than this is not a label; refuse rather than carry it around


def load_csv(path: Path) -> list[Label]:
    """Labels from a CSV with header ``address,name,category`` (extra columns allowed).

    Optional columns ``source``, ``date``, ``confidence`` and ``chain_id`` are used when
    present; otherwise the file itself is recorded as the source.
    """
    if not path.is_file():
        raise InputFileError(path, "label file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read label file: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED_CSV_COLUMNS if column not in header]
    if missing:
        raise InputFileError(path, f"missing column(s) {', '.join(missing)} in header", line=1)
    reader.fieldnames = header
    labels: list[Label] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InputFileError(path, "more fields than the header has", line=line)
        labels.append(_label_from_row(row, path, line))
    return labels


def _label_from_row(row: dict[str, str], path: Path, line: int) -> Label:
    def field(name: str) -> str:
        value = (row.get(name) or "").strip()
        if len(value) > _MAX_FIELD:
            raise InputFileError(path, f"{name} longer than {_MAX_FIELD} characters", line=line)
        return value

    try:
        address = parse_address(field("address"))
        category_name = field("category").lower()
        try:
            category = Category(category_name)
        except ValueError:
            raise UnknownNameError("category", category_name, [c.value for c in Category]) from None
        confidence = float(field("confidence") or 1.0)
        if not 0.0 <= confidence <= 1.0:
            raise InputError(f"confidence {confidence} is outside 0..1")
        chain_text = field("chain_id")
        chain_id = int(chain_text) if chain_text else None
    except (InputError, ValueError) as exc:
        raise InputFileError(path, str(exc), line=line) from None
    name = field("name")
    if not name:
        raise InputFileError(path, "empty name", line=line)
    return Label(
        address=address,
        name=name,
        category=category,
        source=field("source") or f"file:{path.name}",
        chain_id=chain_id,
        confidence=confidence,
        date=field("date") or None,
    )
