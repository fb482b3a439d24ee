"""Read and write label files. Every field is untrusted input: validated, with file and line.

Two formats:

* **CSV** for users' own lists: header ``address,name,category`` (extra columns allowed);
  optional columns ``entity``, ``chain``, ``chain_id``, ``source``, ``date``,
  ``confidence``, ``asset``, ``designation``, ``listed``, ``delisted``. Without ``source``
  the file itself is recorded as the source.
* **YAML packs** in the spirit of GraphSense TagPacks: header fields (any label field, plus
  free-text ``title``, ``description``, ``creator``, ``license``) are inherited by every entry
  of ``labels``, and an entry overrides them::

      title: OFAC SDN digital-currency addresses
      category: sanctioned
      source: OFAC SDN advanced XML issued 2025-11-19 (...)
      date: 2025-11-19
      labels:
      - {address: "0x098b...", entity: "Lazarus Group", asset: "ETH"}

Label fields: ``address`` (required), ``category`` (required), ``entity`` and/or ``name``
(at least one; ``name`` defaults to ``entity``), ``chain`` (``evm`` for every EVM chain, a
chain name from configs/chains.toml, or a non-EVM network such as ``bitcoin`` or ``tron``;
default: recognised from the address), ``chain_id`` (an EVM chain not in the registry),
``source``, ``date``/``listed``/``delisted`` (ISO dates), ``confidence`` (0..1), ``asset``,
``designation``.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import yaml

from tracer.chains import chain_by_id, registry
from tracer.errors import InputError, InputFileError, UnknownNameError
from tracer.labels.addresses import parse_any_address
from tracer.labels.model import Category, Label, Network
from tracer.labels.yamlnodes import line_of, mapping_items, read_document, scalar, sequence

REQUIRED_CSV_COLUMNS = ("address", "name", "category")
_MAX_FIELD = 500  # a label longer than this is not a label; refuse rather than carry it around
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ASSET = re.compile(r"^[A-Za-z0-9.\-]{1,20}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Fields a label may carry, in the order packs are written.
LABEL_FIELDS = (
    "address",
    "chain",
    "chain_id",
    "entity",
    "name",
    "category",
    "asset",
    "confidence",
    "date",
    "listed",
    "delisted",
    "designation",
    "source",
)
_INHERITABLE = frozenset(LABEL_FIELDS) - {"address"}
_PACK_INFO = ("title", "description", "creator", "license")
_PACK_KEYS = frozenset(_INHERITABLE) | set(_PACK_INFO) | {"labels"}


def load_file(path: Path) -> list[Label]:
    """Labels from a CSV file or a YAML pack, chosen by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return load_csv(path)
    if suffix in (".yaml", ".yml"):
        return load_yaml(path)
    if not path.is_file():
        raise InputFileError(path, "label file not found")
    raise InputFileError(path, f"unknown label file type {suffix!r}; expected .csv, .yaml or .yml")


def load_csv(path: Path) -> list[Label]:
    """Labels from a CSV with header ``address,name,category`` (extra columns allowed)."""
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
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                raise InputFileError(path, "more fields than the header has", line=line)
            fields = {key: row.get(key) for key in LABEL_FIELDS if key in row}
            if not (fields.get("name") or "").strip():
                raise InputFileError(path, "empty name", line=line)
            labels.append(label_from_fields(fields, path, line, default_source=f"file:{path.name}"))
    except csv.Error as exc:
        raise InputFileError(path, f"malformed CSV: {exc}", line=reader.line_num) from None
    return labels


def load_yaml(path: Path) -> list[Label]:
    """Labels from a YAML pack (header fields inherited by every entry of ``labels``)."""
    root = read_document(path)
    if root is None:
        raise InputFileError(path, "empty label pack; expected a mapping with a 'labels' list")
    header: dict[str, str | None] = {}
    entries: list[yaml.Node] | None = None
    for key, value in mapping_items(root, path, "label pack"):
        if key == "labels":
            entries = sequence(value, path, "labels")
        elif key in _PACK_KEYS:
            header[key] = scalar(value, path, key)
        else:
            error = UnknownNameError("pack field", key, _PACK_KEYS)
            raise InputFileError(path, str(error), line=line_of(value))
    if entries is None:
        raise InputFileError(path, "label pack has no 'labels' list", line=line_of(root))
    inherited = {key: value for key, value in header.items() if key in _INHERITABLE}
    labels: list[Label] = []
    for entry in entries:
        line = line_of(entry)
        fields = dict(inherited)
        for key, value in mapping_items(entry, path, "label"):
            if key not in LABEL_FIELDS:
                error = UnknownNameError("label field", key, LABEL_FIELDS)
                raise InputFileError(path, str(error), line=line_of(value))
            fields[key] = scalar(value, path, key)
        labels.append(label_from_fields(fields, path, line, default_source=f"file:{path.name}"))
    return labels


def label_from_fields(
    fields: Mapping[str, str | None], path: Path | str, line: int | None, *, default_source: str
) -> Label:
    """Validate one label's fields (text as written) and build the Label."""

    def text(name: str) -> str | None:
        value = (fields.get(name) or "").strip()
        if not value:
            return None
        if len(value) > _MAX_FIELD:
            raise InputError(f"{name} longer than {_MAX_FIELD} characters")
        if _CONTROL.search(value):
            raise InputError(f"{name} contains control characters")
        return value

    try:
        address_text = text("address")
        if address_text is None:
            raise InputError("missing address")
        category_name = (text("category") or "").lower()
        if not category_name:
            raise InputError("missing category")
        try:
            category = Category(category_name)
        except ValueError:
            raise UnknownNameError("category", category_name, [c.value for c in Category]) from None
        entity, name = text("entity"), text("name")
        if name is None and entity is None:
            raise InputError("a label needs an entity or a name")
        asset = text("asset")
        if asset is not None and not _ASSET.match(asset):
            raise InputError(f"asset {asset!r} is not a ticker")
        network, chain_id = _chain(text("chain"), text("chain_id"))
        network, address = parse_any_address(address_text, network, asset=asset)
        if network is not Network.EVM and chain_id is not None:
            raise InputError(f"chain_id applies to EVM addresses only, not {network.value}")
        listed, delisted = (
            _iso_date(text("listed"), "listed"),
            _iso_date(text("delisted"), "delisted"),
        )
        if listed and delisted and delisted < listed:
            raise InputError(f"delisted {delisted} is before listed {listed}")
        return Label(
            address=address,
            name=name or entity or "",
            category=category,
            source=text("source") or default_source,
            chain_id=chain_id,
            confidence=_confidence(text("confidence")),
            date=_iso_date(text("date"), "date"),
            network=network,
            entity=entity,
            asset=asset.upper() if asset else None,
            designation=text("designation"),
            listed=listed,
            delisted=delisted,
        )
    except InputError as exc:
        raise InputFileError(path, str(exc), line=line) from None


def _chain(chain: str | None, chain_id_text: str | None) -> tuple[Network | None, int | None]:
    chain_id: int | None = None
    if chain_id_text is not None:
        if not re.fullmatch(r"[1-9][0-9]{0,11}", chain_id_text):
            raise InputError(f"chain_id {chain_id_text!r} is not a positive integer")
        chain_id = int(chain_id_text)
    if chain is None:
        return (Network.EVM if chain_id is not None else None), chain_id
    wanted = chain.lower()
    if wanted == Network.EVM.value:
        return Network.EVM, chain_id
    for known in registry():
        if wanted == known.name or wanted in known.aliases:
            if chain_id is not None and chain_id != known.chain_id:
                raise InputError(f"chain {chain} has chain id {known.chain_id}, not {chain_id}")
            return Network.EVM, known.chain_id
    try:
        network = Network(wanted)
    except ValueError:
        names = [c.name for c in registry()] + [n.value for n in Network]
        raise UnknownNameError("chain", chain, names) from None
    if chain_id is not None:
        raise InputError(f"chain_id applies to EVM chains only, not {network.value}")
    return network, None


def _iso_date(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        if not _ISO_DATE.match(value):
            raise ValueError(value)
        datetime.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} {value!r} is not an ISO date (YYYY-MM-DD)") from None
    return value


def _confidence(value: str | None) -> float:
    if value is None:
        return 1.0
    try:
        confidence = float(value)
    except ValueError:
        raise InputError(f"confidence {value!r} is not a number") from None
    if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
        raise InputError(f"confidence {value} is outside 0..1")
    return confidence


def chain_text(label: Label) -> str:
    """How a label's chain is written in packs and shown to users."""
    if label.network is not Network.EVM:
        return label.network.value
    if label.chain_id is None:
        return Network.EVM.value
    known = chain_by_id(label.chain_id)
    return known.name if known is not None else f"evm:{label.chain_id}"


def label_fields(label: Label) -> dict[str, str | float | int]:
    """A label as pack fields (None fields left out)."""
    chain = chain_text(label)
    fields: dict[str, str | float | int | None] = {
        "address": label.address,
        "chain": None if chain.startswith("evm:") else chain,
        "chain_id": label.chain_id if chain.startswith("evm:") else None,
        "entity": label.entity,
        "name": label.name if label.name != label.entity else None,
        "category": label.category.value,
        "asset": label.asset,
        "confidence": label.confidence,
        "date": label.date,
        "listed": label.listed,
        "delisted": label.delisted,
        "designation": label.designation,
        "source": label.source,
    }
    return {key: value for key, value in fields.items() if value is not None}


def dump_pack(
    labels: Sequence[Label],
    *,
    info: Mapping[str, str],
    inherit: Iterable[str] = ("category", "source", "date", "confidence", "chain"),
    comment: str = "",
) -> str:
    """A YAML pack: ``info`` fields, then header fields, then one flow mapping per label
    (compact, one line each, so diffs stay readable).

    A field in ``inherit`` that every label has goes to the header with its most common
    value; labels with another value state theirs. Strings are written JSON-quoted (valid
    YAML), so no value is re-typed when read back.
    """
    rows = [label_fields(label) for label in labels]
    header: dict[str, str | float | int] = {}
    for key in inherit:
        values = Counter(row.get(key) for row in rows)
        common = values.most_common(1)[0][0] if values else None
        if common is not None and None not in values:
            header[key] = common
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    for key in _PACK_INFO:
        if key in info:
            lines.append(f"{key}: {_quote(info[key])}")
    for key in LABEL_FIELDS:
        if key in header:
            lines.append(f"{key}: {_quote(header[key])}")
    lines.append("labels:")
    for row in rows:
        body = ", ".join(
            f"{key}: {_quote(row[key])}"
            for key in LABEL_FIELDS
            if key in row and not (key in header and header[key] == row[key])
        )
        lines.append(f"- {{{body}}}")
    return "\n".join(lines) + "\n"


def _quote(value: str | float | int) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans are not label values")
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)
