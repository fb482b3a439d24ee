"""Read a case's ``report.json`` back for rendering, checking what the renderers rely on.

The file is input like any other (it may come from another machine, an older or newer
tracer, or a hand edit): a missing file, a newer format or a field of the wrong shape is a
one-line :class:`~tracer.errors.InputError` naming the file and the field, never a traceback
from deep inside a renderer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from tracer.errors import InputError, InputFileError
from tracer.reports.json_report import REPORT_FORMAT_VERSION

REPORT_FILE: Final = "report.json"
_HEX: Final = re.compile(r"0x[0-9a-f]+")
_DIGITS: Final = re.compile(r"[0-9]+")


def load_report(case_dir: Path) -> dict[str, Any]:
    if not case_dir.is_dir():
        raise InputError(f"{case_dir}: not a case directory (run `tracer trace --out DIR` first)")
    path = case_dir / REPORT_FILE
    if not path.is_file():
        raise InputError(f"{case_dir}: no {REPORT_FILE} here; is it a `tracer trace` output?")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"unreadable report ({exc})") from exc
    if not isinstance(report, dict):
        raise InputFileError(path, "not a tracer report (expected a JSON object)")
    version = report.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputFileError(path, "not a tracer report (no format_version)")
    if version > REPORT_FORMAT_VERSION:
        raise InputFileError(
            path,
            f"report format {version} is newer than this tracer reads "
            f"({REPORT_FORMAT_VERSION}); upgrade tracer",
        )
    check_report(report, path)
    return report


def check_report(report: Mapping[str, Any], path: Path) -> None:
    """The fields the renderers index, with the types they assume."""
    _list_of(report, "seeds", str, path)
    for name in ("offramps", "mixer_links", "findings"):
        _list_of(report, name, dict, path)
    for index, offramp in enumerate(report["offramps"]):
        _check_offramp(offramp, path, f"offramps[{index}]")
    for index, link in enumerate(report["mixer_links"]):
        for key in ("mixer", "deposit_tx", "withdrawal_tx", "withdrawal_address"):
            _matches(link, key, _HEX, path, f"mixer_links[{index}]")
        _typed(link, "confidence", (int, float), path, f"mixer_links[{index}]")
    for index, finding in enumerate(report["findings"]):
        for key in ("id", "heuristic"):
            _typed(finding, key, str, path, f"findings[{index}]")
        _typed(finding, "confidence", (int, float), path, f"findings[{index}]")
    if "probes" in report:  # reports older than the field have none
        _list_of(report, "probes", dict, path)
        for index, probe in enumerate(report["probes"]):
            _check_probe(probe, path, f"probes[{index}]")
    coverage = report.get("coverage", {})
    if not isinstance(coverage, dict):
        raise InputFileError(path, "coverage: expected an object")
    for index, entry in enumerate(_entries(coverage, "entries", path, "coverage")):
        for key in ("address", "status"):
            _typed(entry, key, str, path, f"coverage.entries[{index}]")


def _check_offramp(offramp: Mapping[str, Any], path: Path, where: str) -> None:
    for key in ("address", "category", "asset"):
        _typed(offramp, key, str, path, where)
    _matches(offramp, "address", _HEX, path, where)
    _matches(offramp, "amount_raw", _DIGITS, path, where)
    _typed(offramp, "confidence", (int, float), path, where)
    for number, arrival in enumerate(_entries(offramp, "arrivals", path, where)):
        _matches(arrival, "tx", _HEX, path, f"{where}.arrivals[{number}]")
        _matches(arrival, "amount_raw", _DIGITS, path, f"{where}.arrivals[{number}]")
    for number, route in enumerate(_entries(offramp, "paths", path, where)):
        route_where = f"{where}.paths[{number}]"
        _typed(route, "omitted_hops", int, path, route_where)
        for hop_number, hop in enumerate(_entries(route, "hops", path, route_where)):
            hop_where = f"{route_where}.hops[{hop_number}]"
            for key in ("from", "to", "tx"):
                _matches(hop, key, _HEX, path, hop_where)
            _matches(hop, "amount_raw", _DIGITS, path, hop_where)


def _check_probe(probe: Mapping[str, Any], path: Path, where: str) -> None:
    _matches(probe, "address", _HEX, path, where)
    for key in ("round", "from_block", "to_block", "transfers"):
        _typed(probe, key, int, path, where)
    txs = probe.get("withdrawal_txs")
    if not isinstance(txs, list) or not all(isinstance(t, str) and _HEX.fullmatch(t) for t in txs):
        raise InputFileError(path, f"{where}.withdrawal_txs: expected a list of lowercase 0x-hex")
    if probe.get("confidence") is not None:  # null: a case crawled before reasons were kept
        _typed(probe, "confidence", (int, float), path, where)
    if not isinstance(probe.get("crawled", False), bool):
        raise InputFileError(path, f"{where}.crawled: expected true or false")


def _entries(entry: Mapping[str, Any], key: str, path: Path, where: str) -> list[Mapping[str, Any]]:
    """An optional list of objects (absent in reports older than the field)."""
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InputFileError(path, f"{where}.{key}: expected a list of objects")
    return value


def _list_of(report: Mapping[str, Any], key: str, kind: type, path: Path) -> None:
    value = report.get(key)
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        raise InputFileError(path, f"{key}: expected a list of {kind.__name__} values")


def _typed(
    entry: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path, where: str
) -> None:
    value = entry.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputFileError(path, f"{where}.{key}: missing or of the wrong type")


def _matches(
    entry: Mapping[str, Any], key: str, pattern: re.Pattern[str], path: Path, where: str
) -> None:
    value = entry.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InputFileError(path, f"{where}.{key}: expected {_EXPECTED[pattern.pattern]}")


_EXPECTED: Final = {_HEX.pattern: "lowercase 0x-hex", _DIGITS.pattern: "a decimal integer string"}
