"""Etherscan label-cloud dumps, in the two layouts they circulate in, and eth-labels.

* **Accounts CSV** (brianleect/etherscan-labels ``data/etherscan/accounts/<label>.csv``): one
  file per Etherscan label, header ``,Address,Name Tag,Balance,Txn Count``; the label slug is
  the file name.
* **Combined JSON** (brianleect ``<explorer>_combinedAllLabels.json``): ``{"0xaddr": {"name":
  "...", "labels": ["slug", ...]}}`` for one explorer (etherscan, bscscan, polygonscan, ...).
* **eth-labels** (dawsbot/eth-labels ``data/<explorer>/<slug>/accounts.json``): a JSON array
  of ``{"address", "nameTag"}``; the slug is the directory name.

Slugs map to categories by ``SLUG_CATEGORIES``; other slugs (one per project or exchange,
e.g. ``binance``, ``uniswap``) become ``other`` unless the caller forces a category, and are
counted in ``unmapped``. An address carrying slugs of two categories gets one label for each.
Etherscan assigns these tags itself (they are not user-submitted), so they get
``ETHERSCAN_CONFIDENCE``; they go stale when a service retires a wallet, hence not higher.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from tracer.errors import InputFileError
from tracer.labels.importers import ImportResult
from tracer.labels.model import Category

ETHERSCAN_CONFIDENCE = 0.8

SLUG_CATEGORIES: dict[str, Category] = {
    "exchange": Category.EXCHANGE,
    "hot-wallet": Category.EXCHANGE,
    "bridge": Category.BRIDGE,
    "dex": Category.DEX,
    "dex-ag": Category.DEX,
    "tornado-cash": Category.MIXER,
    "ethereum-mixer": Category.MIXER,
    "typhoon-cash": Category.MIXER,
    "otc": Category.OTC,
    "ofac-sanctions-lists": Category.SANCTIONED,
    "heist": Category.THIEF,
    "exploit": Category.THIEF,
    "phish-hack": Category.THIEF,
    "upbit-hack": Category.THIEF,
    "cryptopia-hack": Category.THIEF,
    "bitpoint-hack": Category.THIEF,
    "lendf-me-hack": Category.THIEF,
    "bzx-exploit": Category.THIEF,
    "plus-token-scam": Category.THIEF,
    "token-contract": Category.TOKEN,
}

# Explorer names as the dumps use them -> chain name (configs/chains.toml) or chain id.
EXPLORER_CHAINS: dict[str, str | int] = {
    "etherscan": "ethereum",
    "bscscan": "bsc",
    "polygonscan": "polygon",
    "arbiscan": "arbitrum",
    "optimism": "optimism",
    "avalanche": "avalanche",
    "snowtrace": "avalanche",
    "basescan": "base",
    "ftmscan": 250,
    "gnosis": 100,
    "gnosisscan": 100,
    "celo": 42220,
    "celoscan": 42220,
}


def import_label_cloud(
    path: Path,
    *,
    chain: str | int | None = None,
    source: str | None = None,
    date: str | None = None,
    category: Category | None = None,
) -> ImportResult:
    """An Etherscan label-cloud dump in either layout (chosen by the file's suffix)."""
    if path.suffix.lower() == ".json":
        return _combined_json(path, chain, source, date, category)
    if path.suffix.lower() == ".csv":
        return _accounts_csv(path, chain, source, date, category)
    raise InputFileError(path, "expected an Etherscan accounts .csv or a combined .json dump")


def import_eth_labels(
    path: Path,
    *,
    source: str | None = None,
    date: str | None = None,
    category: Category | None = None,
) -> ImportResult:
    """eth-labels ``accounts.json`` files: one file, every ``<slug>/`` of an explorer
    directory, or every ``<explorer>/<slug>/`` of a data directory."""
    if path.is_dir():
        files = sorted(path.glob("*/*/accounts.json")) or sorted(path.glob("*/accounts.json"))
    else:
        files = [path]
    if not files:
        raise InputFileError(path, "no <explorer>/<slug>/accounts.json files found")
    result = ImportResult(date=date)
    for file in files:
        slug, explorer = file.parent.name, file.parent.parent.name
        chain = EXPLORER_CHAINS.get(explorer)
        if chain is None:
            raise InputFileError(file, f"unknown explorer directory {explorer!r}")
        data = _read_json(file)
        if not isinstance(data, list):
            raise InputFileError(file, "expected a JSON array of {address, nameTag}")
        for index, item in enumerate(data):
            result.entries += 1
            where = f"{file.parent.parent.name}/{slug}/{file.name}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("address"), str):
                result.reject(where, repr(item)[:80], "entry is not {address, nameTag}")
                continue
            name = item.get("nameTag")
            _add(
                result,
                file,
                where=where,
                address=item["address"],
                name=name if isinstance(name, str) else None,
                slugs=[slug],
                chain=chain,
                source=source or f"eth-labels {explorer}/{slug}",
                date=date,
                forced=category,
            )
    return result


def _accounts_csv(
    path: Path,
    chain: str | int | None,
    source: str | None,
    date: str | None,
    category: Category | None,
) -> ImportResult:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(path, "label-cloud file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read label-cloud file: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    if not {"Address", "Name Tag"} <= set(reader.fieldnames or ()):
        raise InputFileError(path, "expected the header ',Address,Name Tag,Balance,Txn Count'", 1)
    result = ImportResult(date=date)
    slug = path.stem
    try:
        for row in reader:
            result.entries += 1
            line = reader.line_num
            if None in row:
                result.reject(f"{path.name}:{line}", str(row.get("Address")), "extra fields")
                continue
            _add(
                result,
                path,
                where=f"{path.name}:{line}",
                address=row.get("Address") or "",
                name=row.get("Name Tag"),
                slugs=[slug],
                chain=chain if chain is not None else "ethereum",
                source=source or f"Etherscan label cloud '{slug}' ({path.name})",
                date=date,
                forced=category,
                line=line,
            )
    except csv.Error as exc:
        raise InputFileError(path, f"malformed CSV: {exc}", line=reader.line_num) from None
    return result


def _combined_json(
    path: Path,
    chain: str | int | None,
    source: str | None,
    date: str | None,
    category: Category | None,
) -> ImportResult:
    explorer = path.name.split("_", 1)[0]
    if chain is None:
        chain = EXPLORER_CHAINS.get(explorer)
        if chain is None:
            raise InputFileError(path, f"cannot tell the chain of explorer {explorer!r}; give one")
    data = _read_json(path)
    if not isinstance(data, dict):
        raise InputFileError(path, 'expected a JSON object {"0xaddr": {"name", "labels"}}')
    result = ImportResult(date=date)
    for address, entry in data.items():
        result.entries += 1
        where = f"{path.name}[{address[:50]}]"
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("labels"), list)
            or not all(isinstance(slug, str) for slug in entry["labels"])
        ):
            result.reject(where, address, "entry is not {name, labels: [...]}")
            continue
        name = entry.get("name")
        _add(
            result,
            path,
            where=where,
            address=address,
            name=name if isinstance(name, str) else None,
            slugs=entry["labels"],
            chain=chain,
            source=source or f"Etherscan label cloud ({path.name})",
            date=date,
            forced=category,
        )
    return result


def _add(
    result: ImportResult,
    path: Path,
    *,
    where: str,
    address: str,
    name: str | None,
    slugs: list[str],
    chain: str | int,
    source: str,
    date: str | None,
    forced: Category | None,
    line: int | None = None,
) -> None:
    if forced is not None:
        categories = [forced]
    else:
        mapped = {SLUG_CATEGORIES[slug] for slug in slugs if slug in SLUG_CATEGORIES}
        categories = sorted(mapped) if mapped else [Category.OTHER]
        if not mapped:
            result.unmapped.update(slugs or ["(none)"])
    shown = (name or "").strip() or f"unnamed ({', '.join(slugs)})"
    for category in categories:
        result.add(
            {
                "address": address,
                "chain": chain if isinstance(chain, str) else None,
                "chain_id": str(chain) if isinstance(chain, int) else None,
                "name": shown,
                "category": category.value,
                "confidence": str(ETHERSCAN_CONFIDENCE),
                "date": date,
                "source": source,
            },
            path,
            line,
            default_source=source,
            where=where,
        )


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(path, "label file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read label file: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"malformed JSON: {exc.msg}", line=exc.lineno) from None


def unmapped_summary(unmapped: Counter[str], limit: int = 10) -> str:
    return ", ".join(f"{name} ({count})" for name, count in unmapped.most_common(limit))
