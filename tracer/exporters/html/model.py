"""What the case view shows, as plain data: asset names, node names, the evidence the report
adds to a node, the off-ramp table and the legend (:mod:`.columns` has the nodes and edges).
Every amount is an exact decimal string scaled by its token's decimals (raw units when the
decimals are unknown); nothing here is HTML: the page inserts it as text.

A detail list is ``[[key, value], ...]`` where ``value`` is a string or a list of strings, so
the page needs one small renderer for every panel.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tracer.amounts import AssetAmount
from tracer.cases import Case
from tracer.chains import chain_by_id
from tracer.exporters.legend import LEGEND
from tracer.graph.tables import token_info_of
from tracer.types import NATIVE_TOKEN

Detail = list[list[str | list[str]]]


@dataclass(frozen=True, slots=True)
class Assets:
    """Asset key (token address, ``#token_id`` for NFTs) → symbol and decimals."""

    native_symbol: str
    known: Mapping[str, tuple[str | None, int | None]]
    # Asset key → what :meth:`describe` returns: a case view formats several amounts of every
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
        token, symbol, _name, decimals = self.describe(asset)
        return AssetAmount(token, symbol, decimals, raw)

    def text(self, asset: str, raw: int) -> str:
        """Exact amount with its symbol, e.g. ``12.5 ETH``."""
        return f"{self.amount(asset, raw).display()} {self.describe(asset)[2]}"

    def title(self, asset: str) -> str:
        token, symbol, _name, _decimals = self.describe(asset)
        return symbol if token == NATIVE_TOKEN else f"{symbol} ({token})"

    def describe(self, asset: str) -> tuple[str, str, str, int | None]:
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


def node_extras(report: Mapping[str, Any]) -> dict[str, Detail]:
    """Per node id, the evidence the report adds: off-ramp, sanctions labels, mixer links."""
    extras: dict[str, Detail] = defaultdict(list)
    for offramp in _entries(report, "offramps"):
        extras[str(offramp.get("address"))].extend(_offramp_detail(offramp))
    for entry in _sanctioned(report):
        for label in entry.get("labels") or []:
            if isinstance(label, dict):
                extras[str(entry.get("address"))].append(["Sanctions label", _label_text(label)])
    for node_id, links in _mixer_links(report).items():
        extras[node_id].extend(["Mixer link", _link_text(link)] for link in links)
    return dict(extras)


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


def _offramp_detail(offramp: Mapping[str, Any]) -> Detail:
    """One off-ramp entry of the report. An address can be the off-ramp of several assets,
    each with its own amount and confidence, so every key names the asset."""
    arrivals = [
        f"block {arrival.get('block')}: {arrival.get('tx')}"
        for arrival in offramp.get("arrivals") or []
        if isinstance(arrival, dict)
    ]
    asset = f"({offramp.get('asset') or offramp.get('token_address') or 'unknown asset'})"
    amount = offramp.get("amount") or f"{offramp.get('amount_raw')} (raw)"
    confidence = _confidence(offramp.get("confidence"))
    entity = offramp.get("entity") or "unknown entity"
    detail: Detail = [
        [f"Off-ramp {asset}", f"{offramp.get('category')} ({entity})"],
        [f"Off-ramp amount {asset}", str(amount)],
    ]
    route = offramp.get("route")
    if isinstance(route, dict):
        # The report's confidence is the identification's times the route's (through a mixer
        # link the attribution is only as sure as the link), so both are shown, each named.
        links = [link for link in route.get("mixer_links") or [] if isinstance(link, dict)]
        crossed = (
            f"{len(links)} mixer link{'' if len(links) == 1 else 's'} on its routes"
            if links
            else "no mixer crossed"
        )
        detail.append(
            [f"Off-ramp confidence {asset}", f"{confidence} (identification times route)"]
        )
        detail.append(
            [
                f"Route confidence {asset}",
                f"{_confidence(route.get('confidence'))} ({crossed})",
            ]
        )
        if links:
            pairs = [
                f"deposit {link.get('deposit_tx')} → withdrawal {link.get('withdrawal_tx')}"
                for link in links
            ]
            detail.append([f"Route mixer links {asset}", pairs])
    else:  # a report from before mixer links were followed has no route
        detail.append([f"Off-ramp confidence {asset}", confidence])
    detail.append([f"Identified by {asset}", str(offramp.get("identified_by") or "—")])
    detail.append([f"Off-ramp evidence {asset}", [str(tx) for tx in offramp.get("evidence") or []]])
    detail.append([f"Arrivals {asset}", arrivals or "none listed"])
    return detail


def _offramp_amount(offramp: Mapping[str, Any], assets: Assets) -> str:
    raw = _int(offramp.get("amount_raw"))
    token = str(offramp.get("token_address") or "")
    if raw is not None and token:
        return assets.text(token, raw)
    return str(offramp.get("amount") or "—")


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
