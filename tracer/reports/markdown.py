"""``report.md``: the case report as a Markdown document, rendered from ``report.json`` alone.

Written for a reader who acts on it (an investigator, a compliance officer): what was traced,
where the funds arrived (deposit addresses with the transactions, exact amounts and times),
how they got there, what the mixer and pattern heuristics found, and what the trace could not
see. Every piece of text from a label file or the chain goes through :func:`md_text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from tracer.amounts import AssetAmount
from tracer.reports.mdtext import md_code, md_text, md_time
from tracer.reports.view import (
    ATTRIBUTION,
    CONFIDENCE_NOTE,
    EntityGroup,
    amount_text,
    arrival_times,
    asset_of,
    asset_totals,
    chain_text,
    findings_by_heuristic,
    group_by_entity,
    mixer_counts,
    window_text,
)

MAX_MIXER_LINKS: Final = 25  # the most confident links listed; all are in report.json
MAX_FINDINGS: Final = 50
MAX_PROBES: Final = 25  # the most confident probes listed
MAX_PROBE_TXS: Final = 3  # withdrawals listed per probe
_PROBE_COLUMNS: Final = (
    "address", "round", "blocks", "withdrawals", "confidence", "transfers", "crawled later"
)  # fmt: skip


def render_markdown(report: Mapping[str, Any]) -> str:
    seeds = report.get("seeds", [])
    sections = [
        f"# Case report: {', '.join(md_code(seed) for seed in seeds)}",
        f"Written by tracer {md_text(report.get('tracer_version', '?'))} from report.json "
        f"(format {md_text(report.get('format_version', '?'))}). Amounts are exact; "
        "times are UTC.",
        *_summary(report),
        *_offramps(report.get("offramps", [])),
        *_mixer_links(report.get("mixer_links", [])),
        *_probes(report.get("probes", [])),
        *_findings(report.get("findings", [])),
        *_coverage(report),
        "## How to read confidence",
        CONFIDENCE_NOTE,  # our own text
    ]
    return "\n\n".join(sections) + "\n"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GFM table; cells must already be escaped (see :mod:`tracer.reports.mdtext`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _summary(report: Mapping[str, Any]) -> list[str]:
    offramps = report.get("offramps", [])
    attributed = [o for o in offramps if float(o["confidence"]) >= ATTRIBUTION]
    entities = {o.get("entity") for o in offramps}
    facts = [
        ("Seeds", ", ".join(md_code(seed) for seed in report.get("seeds", []))),
        ("Chain", md_text(chain_text(report))),
        ("Window", md_text(window_text(report))),
        ("Taint policy", md_text(report.get("policy", "unknown"))),
        (
            "Off-ramps",
            f"{len(offramps)} at {len(entities)} entities ({len(attributed)} attributions, "
            f"{len(offramps) - len(attributed)} candidates)",
        ),
    ]
    out = ["## Summary", table(("", ""), ((f"**{name}**", value) for name, value in facts))]
    totals = asset_totals(attributed)
    if totals:
        out.append("Traced funds that reached off-ramps (attributions only), per asset:")
        out.append(
            table(
                ("asset", "token", "total traced amount", "raw units"),
                (
                    (md_text(t.symbol), md_code(t.token_address), _amount(t), md_code(t.raw))
                    for t in totals
                ),
            )
        )
    return out


def _offramps(offramps: Sequence[Mapping[str, Any]]) -> list[str]:
    out = ["## Off-ramps by entity"]
    if not offramps:
        return [*out, "No traced funds reached a known off-ramp."]
    for group in group_by_entity(offramps):
        out += _entity(group)
    return out


def _entity(group: EntityGroup) -> list[str]:
    totals = ", ".join(_amount(total) for total in group.totals)
    out = [
        f"### {md_text(group.entity)}",
        f"Categories: {md_text(', '.join(group.categories))}. Traced total: {totals}.",
        table(
            (
                "address",
                "category",
                "traced amount",
                "raw units",
                "confidence",
                "identified by",
                "first arrival",
                "last arrival",
            ),
            (
                (
                    md_code(o["address"]),
                    md_text(o["category"]),
                    _amount(asset_of(o)),
                    md_code(o["amount_raw"]),
                    f"{float(o['confidence']):.2f}",
                    md_text(o.get("identified_by", "")),
                    *map(md_time, arrival_times(o)),
                )
                for o in group.offramps
            ),
        ),
    ]
    for offramp in group.offramps:
        out += _arrivals(offramp)
        out += _paths(offramp)
    return out


def _codes(entry: Mapping[str, Any], *keys: str) -> list[str]:
    """Identifier fields of one entry (addresses, hashes, blocks) as code spans."""
    return [md_code(entry[key]) for key in keys]


def _amount(amount: AssetAmount) -> str:
    return amount_text(amount, md_text)


def _arrivals(offramp: Mapping[str, Any]) -> list[str]:
    arrivals = offramp.get("arrivals", [])
    if not arrivals:
        evidence = ", ".join(md_code(tx) for tx in offramp.get("evidence", []))
        return [f"Evidence for {md_code(offramp['address'])}: {evidence or 'none listed'}."]
    bridge = any("destination_chain_id" in a for a in arrivals)
    header = ["transaction", "block", "time", "traced amount"]
    if bridge:
        header += ["destination chain", "recipient there"]
    rows = []
    for arrival in arrivals:
        amount = asset_of({**offramp, "amount_raw": arrival["amount_raw"]})
        row = [md_code(arrival["tx"]), md_code(arrival["block"]), md_time(arrival.get("time")),
               _amount(amount)]  # fmt: skip
        if bridge:
            row += [
                md_code(arrival.get("destination_chain_id") or "unknown"),
                md_code(arrival.get("recipient") or "unknown"),
            ]
        rows.append(row)
    title = (
        f"Transfers of traced {md_text(asset_of(offramp).symbol)} into "
        f"{md_code(offramp['address'])}:"
    )
    return [title, table(header, rows)]


def _paths(offramp: Mapping[str, Any]) -> list[str]:
    paths = offramp.get("paths") or []
    out = []
    for number, path in enumerate(paths, start=1):
        seed = md_code(path["seed"]) if path.get("seed") else "value created by a link"
        hidden = path.get("omitted_hops", 0)
        note = f" ({hidden} earlier hops not shown)" if hidden else ""
        out.append(f"Path {number} from seed {seed}{note}:")
        out.append(
            table(
                ("from", "to", "transaction", "block", "time", "traced amount"),
                (
                    (
                        *_codes(hop, "from", "to", "tx", "block"),
                        md_time(hop.get("time")),
                        _amount(asset_of(hop)),
                    )
                    for hop in path["hops"]
                ),
            )
        )
    omitted = int(offramp.get("paths_omitted", 0))
    if omitted:
        out.append(f"{omitted} more arrivals have no path listed (smallest traced amounts).")
    return out


def _mixer_links(links: Sequence[Mapping[str, Any]]) -> list[str]:
    followed, candidates = mixer_counts(links)
    out = [
        "## Mixer links",
        f"{followed} followed, {candidates} candidates to review (a withdrawal the demixing "
        "heuristics tie to a traced deposit, with the probability that they are the same funds).",
    ]
    if not links:
        return out
    ranked = sorted(links, key=lambda link: -float(link["confidence"]))
    out.append(
        table(
            ("mixer", "deposit", "withdrawal", "withdrawn to", "confidence", "heuristics"),
            (
                (
                    *_codes(link, "mixer", "deposit_tx", "withdrawal_tx", "withdrawal_address"),
                    f"{float(link['confidence']):.2f}",
                    md_text(", ".join(link.get("heuristics", []))),
                )
                for link in ranked[:MAX_MIXER_LINKS]
            ),
        )
    )
    if len(ranked) > MAX_MIXER_LINKS:
        out.append(f"{len(ranked) - MAX_MIXER_LINKS} less confident links are in report.json.")
    return out


def _probes(probes: Sequence[Mapping[str, Any]]) -> list[str]:
    if not probes:
        return []  # none, or a report from before probes were listed
    crawled = sum(1 for probe in probes if probe.get("crawled") is True)
    out = [
        "## Probed addresses",
        f"{len(probes)} recipients of mixer withdrawals tied to traced deposits, but not "
        "confidently enough to follow, were probed: their transfers from the withdrawal to "
        "a day later were read as evidence for demixing only, not traced. "
        f"Crawled later, when a round followed a link to them: {crawled}.",
    ]
    ranked = sorted(probes, key=lambda p: (-float(p.get("confidence") or 0), p["address"]))
    out.append(
        table(
            _PROBE_COLUMNS,
            (
                (
                    md_code(p["address"]),
                    md_code(p["round"]),
                    f"{md_code(p['from_block'])} to {md_code(p['to_block'])}",
                    _listed(p["withdrawal_txs"], MAX_PROBE_TXS),
                    "unknown" if p.get("confidence") is None else f"{float(p['confidence']):.2f}",
                    md_code(p["transfers"]),
                    "yes" if p.get("crawled") is True else "no",
                )
                for p in ranked[:MAX_PROBES]
            ),
        )
    )
    if len(ranked) > MAX_PROBES:
        out.append(f"{len(ranked) - MAX_PROBES} less confident probes are in report.json.")
    return out


def _listed(values: Sequence[object], limit: int) -> str:
    shown = ", ".join(md_code(value) for value in values[:limit])
    more = len(values) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def _findings(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    counts = findings_by_heuristic(findings)
    out = ["## Findings", f"{len(findings)} findings."]
    if not findings:
        return out
    out.append(table(("heuristic", "findings"), ((md_text(h), str(n)) for h, n in counts.items())))
    ranked = sorted(findings, key=lambda f: (-float(f["confidence"]), f["heuristic"], f["id"]))
    out.append(
        table(
            ("id", "heuristic", "confidence", "subjects", "evidence"),
            (
                (
                    md_code(f["id"]),
                    md_text(f["heuristic"]),
                    f"{float(f['confidence']):.2f}",
                    ", ".join(md_code(s) for s in f.get("subjects", [])),
                    f"{len(f.get('evidence', []))} transactions",
                )
                for f in ranked[:MAX_FINDINGS]
            ),
        )
    )
    if len(ranked) > MAX_FINDINGS:
        out.append(f"{len(ranked) - MAX_FINDINGS} less confident findings are in report.json.")
    return out


def _coverage(report: Mapping[str, Any]) -> list[str]:
    coverage = report.get("coverage", {})
    transfers = report.get("transfers", {})
    out = [
        "## Coverage and gaps",
        f"{md_text(transfers.get('rows', 0))} transfers from "
        f"{md_text(coverage.get('addresses', 0))} addresses: "
        f"{md_text(coverage.get('complete', 0))} complete, "
        f"{md_text(coverage.get('truncated', 0))} truncated, "
        f"{md_text(coverage.get('failed', 0))} failed. Native and internal value read with "
        f"{md_text(coverage.get('trace_path', 'unknown'))}.",
    ]
    gaps = [*coverage.get("gaps", [])]
    out += [f"- Gap: {md_text(gap)}" for gap in gaps]
    incomplete = [e for e in coverage.get("entries", []) if e.get("status") != "complete"]
    if incomplete:
        out.append("Addresses not crawled completely (what lies beyond them was not seen):")
        out.append(
            table(
                ("address", "hop", "status", "reason"),
                (
                    (
                        md_code(e["address"]),
                        md_code(e.get("hop", "")),
                        md_text(e["status"]),
                        md_text(e.get("reason") or ""),
                    )
                    for e in incomplete
                ),
            )
        )
    elif not gaps:
        out.append("Every crawled address was read completely.")
    return out
