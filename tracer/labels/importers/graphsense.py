"""GraphSense TagPacks (github.com/graphsense/graphsense-tagpacks) and their ActorPack.

A TagPack is a YAML mapping of header fields (``title``, ``creator``, ``source``,
``lastmod``, ``category``, ``abuse``, ``confidence``, ``currency``, ``label``, ``actor``,
...) and a ``tags`` list; a tag inherits the header and may override any field. The mapping
into tracer's labels:

* ``label`` → name; ``actor`` → entity (its display name from the ActorPack when given).
* ``abuse`` decides the category when it names one (``sanction`` → sanctioned; hacks,
  scams, phishing, ransomware → thief), otherwise GraphSense's ``category`` does (see
  ``CATEGORIES``); anything else becomes ``other`` and is counted in ``unmapped``.
* ``confidence`` → GraphSense's own level for that id / 100 (their confidence table:
  ownership 100, authority_data 60, service_data 50, forensic 50, web_crawl 20, ...). A pack
  without one gets their ``unknown`` level (0.05); an id not in the table is rejected.
* ``currency`` → network and chain: ``ETH`` → Ethereum, ``BSC``/``BEP20`` → BNB Smart Chain,
  ``BTC`` → Bitcoin, ``TRX`` → Tron, ...; stablecoin tickers (``USDT``, ``USDC``) follow the
  address form. Currencies tracer cannot validate (ADA, EOS, ...) are rejected by name.
* ``lastmod`` → date; ``source`` (tag, else header) and the pack title → source.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml

from tracer.errors import InputFileError
from tracer.labels.addresses import ASSET_NETWORKS
from tracer.labels.importers import ImportResult
from tracer.labels.model import Category
from tracer.labels.yamlnodes import line_of, mapping_items, read_document, scalar, sequence

# GraphSense confidence ids and levels (graphsense-tagpack-tool, src/tagpack/db/confidence.csv).
CONFIDENCE_LEVELS: dict[str, int] = {
    "override": 100,
    "ownership": 100,
    "ledger_immanent": 100,
    "manual_transaction": 90,
    "service_api": 70,
    "forensic_investigation": 70,
    "authority_data": 60,
    "trusted_provider": 50,
    "service_data": 50,
    "forensic": 50,
    "untrusted_transaction": 40,
    "web_crawl": 20,
    "heuristic": 10,
    "unknown": 5,
}

ABUSES: dict[str, Category] = {
    "sanction": Category.SANCTIONED,
    "service_hack": Category.THIEF,
    "hack": Category.THIEF,
    "phishing": Category.THIEF,
    "scam": Category.THIEF,
    "ransomware": Category.THIEF,
    "sextortion": Category.THIEF,
    "ponzi_scheme": Category.THIEF,
    "pyramid_scheme": Category.THIEF,
    "investment_fraud": Category.THIEF,
    "macro_malware": Category.THIEF,
}

CATEGORIES: dict[str, Category] = {
    "exchange": Category.EXCHANGE,
    "mixing_service": Category.MIXER,
    "coinjoin": Category.MIXER,
    "defi_dex": Category.DEX,
    "dex": Category.DEX,
    "defi_bridge": Category.BRIDGE,
    "bridge": Category.BRIDGE,
    "otc_broker": Category.OTC,
    "defi": Category.DEFI,
    "defi_lending": Category.DEFI,
    "defi_lending_protocol": Category.DEFI,
    "token": Category.TOKEN,
    "smart_contract": Category.OTHER,
}

# Currencies of EVM chains, as GraphSense packs write them, and the chain they mean.
_EVM_CURRENCIES: dict[str, str | int] = {
    "ETH": "ethereum",
    "BSC": "bsc",
    "BEP20": "bsc",
    "MATIC": "polygon",
    "POL": "polygon",
    "AVAX": "avalanche",
    "ARB": "arbitrum",
    "OP": "optimism",
    "BASE": "base",
    "FTM": 250,
    "ETC": 61,
}
_TOKEN_CURRENCIES = frozenset({"USDT", "USDC"})  # issued on several chains: the address decides
_FIELDS = ("address", "label", "actor", "category", "abuse", "confidence", "currency")
_TEXT_FIELDS = (*_FIELDS, "source", "lastmod", "title", "creator")


def load_actor_names(path: Path) -> dict[str, str]:
    """Actor id → display name from a GraphSense ActorPack (``actors: [{id, label}, ...]``)."""
    root = read_document(path, what="GraphSense ActorPack")
    if root is None:
        raise InputFileError(path, "empty ActorPack")
    names: dict[str, str] = {}
    for key, value in mapping_items(root, path, "ActorPack"):
        if key != "actors":
            continue
        for actor in sequence(value, path, "actors"):
            fields = dict(mapping_items(actor, path, "actor"))
            actor_id = scalar(fields["id"], path, "id") if "id" in fields else None
            label = scalar(fields["label"], path, "label") if "label" in fields else None
            if not actor_id or not label:
                raise InputFileError(path, "actor without id or label", line=line_of(actor))
            names[actor_id] = label
    return names


def import_tagpack(
    path: Path, *, actors: dict[str, str] | None = None, source: str | None = None
) -> ImportResult:
    """Labels from one GraphSense TagPack. ``source`` names the pack (repository, commit)."""
    root = read_document(path, what="GraphSense TagPack")
    if root is None:
        raise InputFileError(path, "empty TagPack")
    header: dict[str, str | None] = {}
    tags: list[yaml.Node] | None = None
    for key, value in mapping_items(root, path, "TagPack"):
        if key == "tags":
            tags = sequence(value, path, "tags")
        elif key in _TEXT_FIELDS:
            header[key] = scalar(value, path, key)
    if tags is None:
        raise InputFileError(path, "TagPack has no 'tags' list", line=line_of(root))
    result = ImportResult(date=_date(header.get("lastmod")))
    unmapped: Counter[str] = Counter()
    pack_name = source or path.name
    for tag in tags:
        result.entries += 1
        line = line_of(tag)
        fields = dict(header)
        for key, value in mapping_items(tag, path, "tag"):
            if key in _TEXT_FIELDS:
                fields[key] = scalar(value, path, key)
        where = f"{path.name}:{line}"
        address = (fields.get("address") or "").strip()
        category = _category(fields, unmapped)
        level = CONFIDENCE_LEVELS.get(fields.get("confidence") or "unknown")
        if level is None:
            result.reject(where, address, f"unknown GraphSense confidence {fields['confidence']!r}")
            continue
        chain = _chain(fields.get("currency"), address)
        if isinstance(chain, Exception):
            result.reject(where, address, str(chain))
            continue
        actor = fields.get("actor")
        title = fields.get("title")
        upstream = fields.get("source")
        result.add(
            {
                "address": address,
                "chain": chain if isinstance(chain, str) else None,
                "chain_id": str(chain) if isinstance(chain, int) else None,
                "entity": (actors or {}).get(actor, actor) if actor else None,
                "name": fields.get("label") or title,
                "category": category.value,
                "asset": (fields.get("currency") or "").upper() or None,
                "confidence": str(level / 100),
                "date": _date(fields.get("lastmod")),
                "source": "; ".join(
                    part for part in (f"GraphSense TagPack {pack_name}", title, upstream) if part
                ),
            },
            path,
            line,
            default_source=pack_name,
        )
    result.unmapped = unmapped
    return result


def _category(fields: dict[str, str | None], unmapped: Counter[str]) -> Category:
    abuse = (fields.get("abuse") or "").strip().lower()
    if abuse in ABUSES:
        return ABUSES[abuse]
    category = (fields.get("category") or "").strip().lower()
    if category in CATEGORIES:
        return CATEGORIES[category]
    unmapped[category or abuse or "(none)"] += 1
    return Category.OTHER


def _chain(currency: str | None, address: str) -> str | int | ValueError:
    """The chain a tag's currency means, or why it cannot be taken."""
    ticker = (currency or "").strip().upper()
    evm_form = address.lower().startswith("0x")
    if ticker in _EVM_CURRENCIES:
        if not evm_form:
            return ValueError(f"currency {ticker} needs a 0x address")
        return _EVM_CURRENCIES[ticker]
    if ticker in _TOKEN_CURRENCIES:
        return "evm" if evm_form else "tron" if address.startswith("T") else "bitcoin"
    network = ASSET_NETWORKS.get(ticker)
    if network is None:
        return ValueError(f"unsupported currency {currency!r}")
    return network.value


def _date(value: str | None) -> str | None:
    """GraphSense ``lastmod`` is a date, sometimes with a time: keep the date."""
    if value is None:
        return None
    match = re.match(r"^(\d{4}-\d{2}-\d{2})", value.strip())
    return match.group(1) if match else value
