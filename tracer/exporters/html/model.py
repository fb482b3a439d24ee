"""What the case view shows, as plain data: nodes and edges with their evidence, the off-ramp
table and the legend. Every amount is an exact decimal string scaled by its token's decimals
(raw units when the decimals are unknown); nothing here is HTML: the page inserts it as text.

A detail list is ``[[key, value], ...]`` where ``value`` is a string or a list of strings, so
the page needs one small renderer for every panel.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import polars as pl

from tracer.amounts import AssetAmount
from tracer.cases import Case
from tracer.chains import chain_by_id
from tracer.exporters.legend import LEGEND, legend_entry
from tracer.graph.tables import token_info_of
from tracer.types import NATIVE_TOKEN

Detail = list[list[str | list[str]]]

# Per node, the transactions listed in its panel (the edges themselves are all clickable).
MAX_LISTED_TRANSFERS: Final = 25


@dataclass(frozen=True, slots=True)
class Assets:
    """Asset key (token address, ``#token_id`` for NFTs) → symbol and decimals."""

    native_symbol: str
    known: Mapping[str, tuple[str | None, int | None]]
    # Asset key → what :meth:`_describe` returns: a case view formats several amounts of every
    # transfer, so each asset is looked up and named once, not once per amount.
    _described: dict[str, tuple[str, str, str, int | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of_case(cls, case: Case) -> Assets:
        chain = chain_by_id(_int(case.report.get("chain_id")) or 0)
        known = token_info_of(case.edges)
        for offramp in _entries(case.report, "offramps"):
            token = str(offramp.get("token_address") or "")
            symbol, decimals = known.get(token, (None, None))
            known[token] = (
                symbol,
                decimals if decimals is not None else _int(offramp.get("decimals")),
            )
        return cls(chain.native_symbol if chain is not None else "native", known)

    def amount(self, asset: str, raw: int) -> AssetAmount:
        token, symbol, _name, decimals = self._describe(asset)
        return AssetAmount(token, symbol, decimals, raw)

    def text(self, asset: str, raw: int) -> str:
        """Exact amount with its symbol, e.g. ``12.5 ETH``."""
        return f"{self.amount(asset, raw).display()} {self._describe(asset)[2]}"

    def title(self, asset: str) -> str:
        token, symbol, _name, _decimals = self._describe(asset)
        return symbol if token == NATIVE_TOKEN else f"{symbol} ({token})"

    def _describe(self, asset: str) -> tuple[str, str, str, int | None]:
        """(token, symbol, name with the NFT's token id, decimals) of an asset key."""
        described = self._described.get(asset)
        if described is None:
            token, _, token_id = asset.partition("#")
            symbol, decimals = self.known.get(token, (None, None))
            amount = AssetAmount.of(token, 0, symbol, decimals, self.native_symbol)
            name = f"{amount.symbol} #{token_id}" if token_id else amount.symbol
            described = (token, amount.symbol, name, amount.decimals)
            self._described[asset] = described
        return described


def node_details(case: Case, assets: Assets, hops: Mapping[str, int | None]) -> dict[str, Detail]:
    """Evidence per node id: what the panel shows when the node is clicked."""
    offramps = _by_address(_entries(case.report, "offramps"), "address")
    sanctioned = _by_address(_sanctioned(case.report), "address")
    links = _mixer_links(case.report)
    transfers = _transfers_by_node(case.edges)
    details: dict[str, Detail] = {}
    for row in case.nodes.iter_rows(named=True):
        node_id = row["id"]
        detail: Detail = [
            ["Address", node_id],
            ["Role", legend_entry(row["role"]).title],
            ["Entity", row["entity"] or "—"],
            ["Labels", list(row["labels"] or []) or "none"],
            *_label_sources(row.get("label_details") or []),
            ["Hops from a seed", _hops_text(hops.get(node_id))],
            ["First seen", _time(row["first_seen"])],
            ["Last seen", _time(row["last_seen"])],
        ]
        if row["seed"]:
            detail.append(["Seed", "yes: the trace starts here"])
        if row["stop"]:
            detail.append(["Trace stops", "yes: a service; traced value is not followed past it"])
        for book in row["traced"] or []:
            asset = book["asset"]
            detail.append(
                [
                    f"Traced {assets.title(asset)}",
                    [
                        f"received {assets.text(asset, int(book['received_raw']))}",
                        f"sent {assets.text(asset, int(book['sent_raw']))}",
                        f"held {assets.text(asset, int(book['held_raw']))}",
                    ],
                ]
            )
        for offramp in offramps.get(node_id, []):
            detail.extend(_offramp_detail(offramp))
        for entry in sanctioned.get(node_id, []):
            for label in entry.get("labels") or []:
                if isinstance(label, dict):
                    detail.append(["Sanctions label", _label_text(label)])
        for link in links.get(node_id, []):
            detail.append(["Mixer link", _link_text(link)])
        incoming, outgoing = transfers.get(node_id, ([], []))
        detail.append(["Transfers in", _listed(incoming)])
        detail.append(["Transfers out", _listed(outgoing)])
        details[node_id] = detail
    return details


def _label_sources(details: Iterable[Mapping[str, Any]]) -> Detail:
    """Where each label comes from: a row only when the case recorded it (older cases lack it)."""
    lines = []
    for label in details:
        dated = f", dated {label['date']}" if label.get("date") else ""
        lines.append(f"{label['name']} ({label['category']}): {label['source']}{dated}")
    return [["Label sources", lines]] if lines else []


def edge_detail(row: Mapping[str, Any], assets: Assets, names: Mapping[str, str | None]) -> Detail:
    """Evidence for one edge (one transfer that carried traced value)."""
    asset = row["asset"]
    return [
        ["Transaction", row["transaction_hash"]],
        ["Block", str(row["block_number"])],
        ["Time", _time(row["block_time"])],
        ["From", _named(row["source"], names)],
        ["To", _named(row["target"], names)],
        ["Kind", row["transfer_kind"]],
        ["Asset", assets.title(asset)],
        ["Amount", assets.text(asset, int(row["amount_raw"]))],
        ["Traced", assets.text(asset, int(row["traced_raw"]))],
        ["Created by a swap or link", assets.text(asset, int(row["converted_raw"]))],
    ]


def offramp_rows(case: Case, assets: Assets) -> list[list[str | list[str]]]:
    """The off-ramp table: entity, address, category, asset, amount, confidence, evidence."""
    rows: list[list[str | list[str]]] = []
    for offramp in _entries(case.report, "offramps"):
        rows.append(
            [
                str(offramp.get("entity") or "—"),
                str(offramp.get("address") or ""),
                str(offramp.get("category") or ""),
                str(offramp.get("asset") or ""),
                _offramp_amount(offramp, assets),
                _confidence(offramp.get("confidence")),
                [str(tx) for tx in offramp.get("evidence") or []],
            ]
        )
    return rows


OFFRAMP_COLUMNS: Final = (
    "Entity",
    "Address",
    "Category",
    "Asset",
    "Amount",
    "Confidence",
    "Evidence",
)


def legend_rows(roles: Iterable[str]) -> list[dict[str, str | bool]]:
    """Every legend entry, those present in this case marked."""
    present = set(roles)
    return [
        {
            "role": str(entry.role),
            "title": entry.title,
            "colour": entry.colour,
            "shape": entry.shape,
            "present": str(entry.role) in present,
        }
        for entry in LEGEND.values()
    ]


def node_name(row: Mapping[str, Any]) -> str | None:
    """A node's entity, else its first label, else None."""
    labels = row["labels"] or []
    return row["entity"] or (labels[0] if labels else None)


def display_name(row: Mapping[str, Any]) -> str:
    """A node's short name: its name and shortened address, or the shortened address."""
    name = node_name(row)
    address = str(row["id"])
    short = f"{address[:8]}…{address[-4:]}" if len(address) > 14 else address
    return f"{name} ({short})" if name else short


def _hops_text(hops: int | None) -> str:
    return str(hops) if hops is not None else "none: no seed reaches it (it sent value in)"


def _offramp_detail(offramp: Mapping[str, Any]) -> Detail:
    arrivals = [
        f"block {arrival.get('block')}: {arrival.get('tx')}"
        for arrival in offramp.get("arrivals") or []
        if isinstance(arrival, dict)
    ]
    return [
        ["Off-ramp", f"{offramp.get('category')} ({offramp.get('entity') or 'unknown entity'})"],
        ["Off-ramp asset", str(offramp.get("asset") or "")],
        ["Off-ramp amount", str(offramp.get("amount") or f"{offramp.get('amount_raw')} (raw)")],
        ["Off-ramp confidence", _confidence(offramp.get("confidence"))],
        ["Identified by", str(offramp.get("identified_by") or "—")],
        ["Off-ramp evidence", [str(tx) for tx in offramp.get("evidence") or []]],
        ["Arrivals", arrivals or "none listed"],
    ]


def _offramp_amount(offramp: Mapping[str, Any], assets: Assets) -> str:
    raw = _int(offramp.get("amount_raw"))
    token = str(offramp.get("token_address") or "")
    if raw is not None and token:
        return assets.text(token, raw)
    return str(offramp.get("amount") or "—")


def _transfers_by_node(edges: pl.DataFrame) -> dict[str, tuple[list[str], list[str]]]:
    found: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for source, target, tx, time in edges.select(
        "source", "target", "transaction_hash", "block_time"
    ).iter_rows():
        line = f"{_time(time)} {tx}"
        found[target][0].append(line)
        found[source][1].append(line)
    return found


def _listed(lines: list[str]) -> str | list[str]:
    if not lines:
        return "none"
    if len(lines) <= MAX_LISTED_TRANSFERS:
        return lines
    more = len(lines) - MAX_LISTED_TRANSFERS
    return [*lines[:MAX_LISTED_TRANSFERS], f"… and {more} more (click the edges)"]


def _named(address: str, names: Mapping[str, str | None]) -> str:
    name = names.get(address)
    return f"{address} ({name})" if name else address


def _label_text(label: Mapping[str, Any]) -> str:
    parts = [
        str(label.get(key))
        for key in ("entity", "designation", "listed")
        if label.get(key) is not None
    ]
    return f"{'; '.join(parts)} (source: {label.get('source') or 'unknown'})"


def _link_text(link: Mapping[str, Any]) -> str:
    heuristics = ", ".join(str(name) for name in link.get("heuristics") or [])
    return (
        f"mixer {link.get('mixer')}: deposit {link.get('deposit_tx')} → withdrawal "
        f"{link.get('withdrawal_tx')} to {link.get('withdrawal_address')}, confidence "
        f"{_confidence(link.get('confidence'))} ({heuristics})"
    )


def _mixer_links(report: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for link in _entries(report, "mixer_links"):
        details = link.get("details") if isinstance(link.get("details"), dict) else {}
        for key in ("mixer", "withdrawal_address"):
            if link.get(key):
                found[str(link[key])].append(link)
        depositor = details.get("depositor") if details else None
        if depositor:
            found[str(depositor)].append(link)
    return found


def _sanctioned(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    exposure = report.get("sanctions_exposure")
    if not isinstance(exposure, dict):
        return []
    return [entry for entry in exposure.get("sanctioned") or [] if isinstance(entry, dict)]


def _entries(report: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = report.get(key)
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _by_address(
    entries: Iterable[Mapping[str, Any]], key: str
) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        found[str(entry.get(key))].append(entry)
    return found


def _confidence(value: object) -> str:
    return format(value, ".4g") if isinstance(value, int | float) else "—"


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"
