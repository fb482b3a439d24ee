"""What every human-readable document shows, computed once from the ``report.json`` dict.

The terminal summary, ``report.md``/``report.html`` and the freeze-request packs render the
same groups and totals; they are computed here from the report alone (never from the case's
tables), so ``tracer report`` can re-render any report a ``tracer trace`` wrote. Totals are
exact integer sums of ``amount_raw`` per token; amounts of different tokens are never added.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tracer.amounts import AssetAmount
from tracer.chains import chain_by_id

ATTRIBUTION: Final = 0.5  # confidence from which an off-ramp is an attribution, not a candidate
# Categories of custodial services that can freeze funds and hold customer records.
FREEZABLE: Final = frozenset({"exchange", "exchange_deposit", "otc"})

CONFIDENCE_NOTE: Final = (
    "Confidence is the estimated probability that traced funds really reached the off-ramp "
    "(how sure the identification of the address is: a label's confidence, or the "
    "deposit-address detector's). From 0.5 up an off-ramp is an attribution; below 0.5 it is "
    "a candidate to review before acting on it. The amount is a separate question, answered "
    "by the taint policy: the part of each transfer counted as traced funds."
)


@dataclass(frozen=True, slots=True)
class EntityGroup:
    """The off-ramps of one entity (an exchange, an OTC desk, a bridge)."""

    entity: str
    categories: tuple[str, ...]
    offramps: tuple[Mapping[str, Any], ...]

    @property
    def freezable(self) -> bool:
        return any(category in FREEZABLE for category in self.categories)

    @property
    def totals(self) -> list[AssetAmount]:
        return asset_totals(self.offramps)


def group_by_entity(offramps: Iterable[Mapping[str, Any]]) -> list[EntityGroup]:
    """Off-ramps per entity, entities by name; within one, by address then asset."""
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for offramp in offramps:
        grouped[str(offramp.get("entity") or "unknown entity")].append(offramp)
    return [
        EntityGroup(
            entity,
            tuple(sorted({str(o["category"]) for o in entries})),
            tuple(sorted(entries, key=lambda o: (o["address"], o.get("token_address") or ""))),
        )
        for entity, entries in sorted(grouped.items())
    ]


def asset_of(entry: Mapping[str, Any]) -> AssetAmount:
    """The exact traced amount of an off-ramp or a path hop, with its asset."""
    decimals = entry.get("decimals")
    return AssetAmount(
        str(entry.get("token_address") or ""),
        str(entry.get("asset") or "unknown asset"),
        decimals if isinstance(decimals, int) else None,
        int(entry["amount_raw"]),
    )


def asset_totals(entries: Iterable[Mapping[str, Any]]) -> list[AssetAmount]:
    """Exact sums per token (by token address), in order of first appearance."""
    totals: dict[str, AssetAmount] = {}
    for entry in entries:
        amount = asset_of(entry)
        seen = totals.get(amount.token_address)
        raw = amount.raw + (seen.raw if seen is not None else 0)
        totals[amount.token_address] = AssetAmount(
            amount.token_address, amount.symbol, amount.decimals, raw
        )
    return list(totals.values())


def amount_text(amount: AssetAmount, escape: Callable[[str], str] = str) -> str:
    """``23.56 ETH``, or the raw units and the token when its decimals are unknown.

    ``escape`` is applied to the symbol, which comes from the chain (untrusted)."""
    if amount.decimals is None:
        return f"{amount.raw} raw units of {escape(amount.symbol)}"
    return f"{amount.display()} {escape(amount.symbol)}"


def short(value: str, keep: int = 6) -> str:
    """``0x1234…cdef``: an address or transaction hash shortened for a table."""
    if len(value) <= 2 + 2 * keep:
        return value
    return f"{value[: 2 + keep]}…{value[-keep:]}"


def chain_text(report: Mapping[str, Any]) -> str:
    chain_id = report.get("chain_id")
    chain = chain_by_id(int(chain_id)) if isinstance(chain_id, int) else None
    return f"{chain.name} (chain id {chain_id})" if chain else f"chain id {chain_id}"


def window_text(report: Mapping[str, Any]) -> str:
    window = report.get("window") or {}
    start = window.get("from_block", 0)
    end = window.get("to_block", report.get("head_block"))
    return f"blocks {start} to {end}"


def arrival_times(offramp: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """First and last arrival time (UTC, ISO 8601), when the report has them."""
    times = sorted(a["time"] for a in offramp.get("arrivals", []) if a.get("time"))
    return (times[0], times[-1]) if times else (None, None)


def arrival_txs(offramp: Mapping[str, Any]) -> list[str]:
    """The transactions that moved traced funds into the off-ramp (else its evidence)."""
    txs = [a["tx"] for a in offramp.get("arrivals", [])]
    return txs or list(offramp.get("evidence", []))


def mixer_counts(links: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(followed, candidates): links the trace went through, and the others."""
    followed = sum(1 for link in links if link.get("followed") is True)
    return followed, len(links) - followed


def findings_by_heuristic(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for finding in findings:
        counts[str(finding["heuristic"])] += 1
    return dict(sorted(counts.items()))
