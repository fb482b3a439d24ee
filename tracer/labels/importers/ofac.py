"""OFAC sanctions lists: the SDN advanced XML, and CSV address lists derived from it.

The SDN advanced XML (``sdn_advanced.xml``, ~120 MB, often bzip2-compressed) is read in one
streaming pass with :func:`xml.etree.ElementTree.iterparse`, clearing each party once read,
so memory stays flat. Its layout, as OFAC publishes it:

* ``ReferenceValueSets`` maps ids to names: ``FeatureType`` ("Digital Currency Address -
  XBT", one per asset), ``Reliability``, ``List``, ``LegalBasis``, ``SanctionsType``,
  ``DocNameStatus``.
* ``DistinctParties/DistinctParty/Profile`` holds a party's names (the primary ``Alias``)
  and its ``Feature`` elements; a digital-currency feature's ``VersionDetail`` is the address.
* ``SanctionsEntries/SanctionsEntry`` (keyed by ``ProfileID``) holds the list, the date the
  entry was created (``EntryEvent``) and the programmes (``SanctionsMeasure`` of type
  "Program", e.g. ``DPRK3``, ``CYBER2``) with the legal basis.

The XML is untrusted: a document type declaration (the vehicle of entity-expansion attacks)
is refused before parsing, expat never fetches external resources, and every field is
validated (addresses per network, dates, identifiers).
"""

from __future__ import annotations

import bz2
import csv
import datetime
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol
from xml.etree.ElementTree import Element, ParseError, iterparse

from tracer.errors import InputFileError
from tracer.labels.importers import ImportResult

_DIGITAL_CURRENCY = "Digital Currency Address - "
_PROLOG_BYTES = 65_536
_YMD = ("Year", "Month", "Day")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class _Party:
    fixed_ref: str
    name: str
    addresses: list[tuple[str, str, str]] = field(default_factory=list)  # asset, address, rel.


@dataclass(frozen=True, slots=True)
class _Entry:
    list_name: str
    listed: str | None
    programs: tuple[str, ...]
    legal_basis: str | None


@contextmanager
def _open(path: Path) -> Iterator[IO[bytes]]:
    if not path.is_file():
        raise InputFileError(path, "OFAC SDN file not found")
    try:
        with bz2.open(path, "rb") if path.suffix == ".bz2" else path.open("rb") as handle:
            yield handle
    except (OSError, EOFError) as exc:  # bz2 raises OSError on corrupt data, EOFError if cut
        raise InputFileError(path, f"cannot read OFAC SDN file: {exc}") from exc


class _Hashing:
    """A read-only stream that hashes what passes through (the XML's published SHA-256)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.digest.update(data)
        return data


def import_sdn_advanced_xml(
    path: Path, *, source: str | None = None, expect_sha256: str | None = None
) -> ImportResult:
    """Every digital-currency address of the SDN advanced XML, with party and designation.

    ``expect_sha256`` is the published checksum of the uncompressed XML; a mismatch is an
    error (a truncated or altered list must not screen anything as clean).
    """
    with _open(path) as handle:
        prolog = handle.read(_PROLOG_BYTES)
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise InputFileError(path, "refusing an XML document type declaration", line=1)
    result = ImportResult()
    try:
        with _open(path) as handle:
            hashing = _Hashing(handle)
            parties, entries, issued = _scan(hashing, path)
            while hashing.read(1 << 20):  # hash any bytes after the root element
                pass
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        problem = re.sub(r": line \d+, column \d+$", "", str(exc))
        raise InputFileError(path, f"malformed XML: {problem}", line=line) from None
    if issued is None:
        raise InputFileError(path, "no DateOfIssue: not an OFAC SDN advanced XML file")
    result.sha256 = hashing.digest.hexdigest()
    if expect_sha256 is not None and result.sha256 != expect_sha256.lower():
        raise InputFileError(
            path, f"SHA-256 {result.sha256} does not match the published {expect_sha256}"
        )
    result.date = issued
    default_source = source or f"OFAC SDN advanced XML issued {issued} ({path.name})"
    for profile_id, party in parties.items():
        entry = entries.get(profile_id)
        for asset, address, reliability in party.addresses:
            result.entries += 1
            where = f"{path.name}: DistinctParty {party.fixed_ref}"
            if reliability == "False":
                result.reject(where, address, "OFAC marks this identifier as false")
                continue
            if entry is None:
                result.reject(where, address, "party has no sanctions entry")
                continue
            designation = "; ".join(
                part
                for part in (
                    entry.list_name,
                    f"programs {', '.join(entry.programs)}" if entry.programs else None,
                    entry.legal_basis,
                    f"FixedRef {party.fixed_ref}",
                )
                if part
            )
            fields = {
                "address": address,
                "chain": "evm" if address.lower().startswith("0x") else None,
                "entity": party.name,
                "category": "sanctioned",
                "asset": asset,
                "date": issued,
                "listed": entry.listed,
                "designation": designation,
                "source": default_source,
            }
            result.add(fields, path, None, default_source=default_source, where=where)
    return result


@dataclass
class _Refs:
    """Reference values read so far (they precede the parties in the file)."""

    namespace: str = ""
    assets: dict[str, str] = field(default_factory=dict)  # feature type id -> asset ticker
    reliabilities: dict[str, str] = field(default_factory=dict)
    lists: dict[str, str] = field(default_factory=dict)
    legal_bases: dict[str, str] = field(default_factory=dict)
    program_type: str | None = None
    primary_latin: str | None = None

    def tag(self, local: str) -> str:
        return f"{self.namespace}{local}"

    def read(self, local: str, element: Element, path: Path) -> None:
        text = (element.text or "").strip()
        if local == "FeatureType" and text.startswith(_DIGITAL_CURRENCY):
            self.assets[_id(element, path)] = text[len(_DIGITAL_CURRENCY) :].strip()
        elif local == "Reliability":
            self.reliabilities[_id(element, path)] = text
        elif local == "List":
            self.lists[_id(element, path)] = text
        elif local == "LegalBasis":
            self.legal_bases[_id(element, path)] = element.get("LegalBasisShortRef", "").strip()
        elif local == "SanctionsType" and text == "Program":
            self.program_type = _id(element, path)
        elif local == "DocNameStatus" and text == "Primary Latin":
            self.primary_latin = _id(element, path)


_REFERENCES = frozenset(
    {"FeatureType", "Reliability", "List", "LegalBasis", "SanctionsType", "DocNameStatus"}
)
_UNUSED_SECTIONS = frozenset({"Location", "IDRegDocument", "ProfileRelationship"})


def _scan(handle: _Readable, path: Path) -> tuple[dict[str, _Party], dict[str, _Entry], str | None]:
    refs = _Refs()
    parties: dict[str, _Party] = {}
    entries: dict[str, _Entry] = {}
    issued: str | None = None
    # The XML comes from a public download: iterparse uses expat, which never fetches
    # external entities and (expat >= 2.4) bounds entity expansion; documents with a DTD
    # are refused before this point anyway.
    for event, element in iterparse(handle, events=("start", "end")):  # noqa: S314
        if event == "start":
            if not refs.namespace:
                if not element.tag.endswith("Sanctions"):
                    raise InputFileError(path, f"root element {element.tag!r} is not <Sanctions>")
                refs.namespace = element.tag[: -len("Sanctions")]
            continue
        local = element.tag[len(refs.namespace) :]
        if local in _REFERENCES:
            refs.read(local, element, path)
        elif local == "DateOfIssue" and issued is None:
            issued = _date(element, refs, path)
        elif local == "DistinctParty":
            party = _party(element, refs, path)
            if party is not None:
                profile = element.find(refs.tag("Profile"))
                parties[_id(profile, path) if profile is not None else party.fixed_ref] = party
            element.clear()
        elif local == "SanctionsEntry":
            profile_id = element.get("ProfileID", "")
            if profile_id in parties:
                entries[profile_id] = _entry(element, refs, path)
            element.clear()
        elif local in _UNUSED_SECTIONS:
            element.clear()  # large sections we do not use: keep memory flat
    return parties, entries, issued


def _party(element: Element, refs: _Refs, path: Path) -> _Party | None:
    found: list[tuple[str, str, str]] = []
    for feature in element.iter(refs.tag("Feature")):
        asset = refs.assets.get(feature.get("FeatureTypeID", ""))
        if asset is None:
            continue
        version = feature.find(refs.tag("FeatureVersion"))
        detail = version.find(refs.tag("VersionDetail")) if version is not None else None
        if version is None or detail is None:
            raise InputFileError(path, f"feature {feature.get('ID')} has no VersionDetail")
        reliability = refs.reliabilities.get(version.get("ReliabilityID", ""), "Unknown")
        found.append((asset, (detail.text or "").strip(), reliability))
    if not found:
        return None
    fixed_ref = element.get("FixedRef", "")
    if not re.fullmatch(r"[0-9]{1,10}", fixed_ref):
        raise InputFileError(path, f"DistinctParty FixedRef {fixed_ref!r} is not a number")
    return _Party(fixed_ref, _primary_name(element, refs, path, fixed_ref), found)


def _primary_name(element: Element, refs: _Refs, path: Path, fixed_ref: str) -> str:
    tag = refs.tag
    for identity in element.iter(tag("Identity")):
        if identity.get("Primary") != "true":
            continue
        for alias in identity.findall(tag("Alias")):
            if alias.get("Primary") != "true":
                continue
            names = alias.findall(tag("DocumentedName"))
            # The Latin-script form when there are several scripts (Arabic, Cyrillic, ...).
            names.sort(key=lambda name: name.get("DocNameStatusID") != refs.primary_latin)
            for name in names:
                parts = [(part.text or "").strip() for part in name.iter(tag("NamePartValue"))]
                text = " ".join(part for part in parts if part)
                if text:
                    return text
    raise InputFileError(path, f"DistinctParty {fixed_ref} has no primary name")


def _entry(element: Element, refs: _Refs, path: Path) -> _Entry:
    tag = refs.tag
    event = element.find(tag("EntryEvent"))
    listed = None
    legal_basis = None
    if event is not None:
        date_element = event.find(tag("Date"))
        listed = _date(date_element, refs, path) if date_element is not None else None
        legal_basis = refs.legal_bases.get(event.get("LegalBasisID", "")) or None
    programs = tuple(
        (measure.findtext(tag("Comment")) or "").strip()
        for measure in element.iter(tag("SanctionsMeasure"))
        if measure.get("SanctionsTypeID") == refs.program_type
        and (measure.findtext(tag("Comment")) or "").strip()
    )
    list_name = refs.lists.get(element.get("ListID", ""), "OFAC list")
    return _Entry(list_name, listed, programs, legal_basis)


def _id(element: Element, path: Path) -> str:
    value = element.get("ID", "")
    if not re.fullmatch(r"[0-9]{1,10}", value):
        raise InputFileError(path, f"<{element.tag}> has a non-numeric ID {value!r}")
    return value


def _date(element: Element, refs: _Refs, path: Path) -> str:
    try:
        year, month, day = (int(element.findtext(refs.tag(part)) or "") for part in _YMD)
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        raise InputFileError(path, f"<{element.tag}> is not a valid date") from None


def import_ofac_address_csv(path: Path, *, source: str, date: str | None) -> ImportResult:
    """A CSV list of OFAC-sanctioned EVM addresses: ``address,name`` or
    ``date_added,address,name`` (ultrasoundmoney/ofac-ethereum-addresses)."""
    result = ImportResult(date=date)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(path, "OFAC address list not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read OFAC address list: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    if not {"address", "name"} <= set(reader.fieldnames or ()):
        raise InputFileError(path, "expected columns address,name", line=1)
    for row in reader:
        result.entries += 1
        fields = {
            "address": row.get("address"),
            "chain": "evm",
            "entity": row.get("name"),
            "category": "sanctioned",
            "date": date,
            "listed": row.get("date_added"),
            "designation": "SDN List",
            "source": source,
        }
        result.add(fields, path, reader.line_num, default_source=source)
    return result
