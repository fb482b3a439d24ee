"""The terminal summary of a case, rendered with rich from the ``report.json`` dict alone.

Everything that comes from a label file or the chain (entity names, token symbols, reasons)
goes through :func:`inert`: a label such as ``[red]`` or ``[link=...]`` must print as text,
not style the terminal, and one holding an escape sequence (``ESC [2J``, an OSC hyperlink or
window title) must not reach the terminal, which rich would pass through as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tracer.reports.view import (
    ATTRIBUTION,
    EntityGroup,
    amount_text,
    asset_of,
    chain_text,
    findings_by_heuristic,
    group_by_entity,
    mixer_counts,
    short,
    window_text,
)

# C0 controls, DEL and C1 controls (0x9b is a one-byte CSI to some terminals).
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")


def plain(value: object) -> str:
    """Untrusted text without control characters, for rich's plain (not markup) text."""
    return _CONTROL.sub("\ufffd", str(value))


def inert(value: object) -> str:
    """Untrusted text as rich markup that prints exactly as text, without control characters."""
    return escape(plain(value))


def print_summary(report: Mapping[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(summary(report))


def summary(report: Mapping[str, Any]) -> RenderableType:
    """Header, off-ramps by entity, paths, mixer links, findings, coverage and gaps."""
    parts: list[RenderableType] = [_header(report)]
    offramps = report.get("offramps", [])
    if offramps:
        groups = group_by_entity(offramps)
        parts.append(_offramps_table(groups))
        routed = [o for group in groups for o in group.offramps if o.get("paths")]
        if routed:  # reports written before paths existed have none
            parts.append(_paths_table(routed))
    else:
        parts.append(Text("No traced funds reached a known off-ramp."))
    parts.append(_mixers_and_findings(report))
    parts += _coverage(report)
    return Group(*parts)


def _header(report: Mapping[str, Any]) -> Text:
    seeds = ", ".join(report.get("seeds", []))
    text = Text.from_markup(f"[bold]Trace of {inert(seeds)}[/bold]\n")
    text.append(
        f"{chain_text(report)}, {window_text(report)}, "
        f"taint policy {plain(report.get('policy', 'unknown'))}"
    )
    return text


def _offramps_table(groups: list[EntityGroup]) -> Table:
    # Three columns so that an 80-column terminal shows every address whole (it is copied into
    # other tools) and every amount whole (folded, never cut with an ellipsis).
    table = Table(title="Off-ramps reached by traced funds, by entity", title_justify="left")
    table.add_column("off-ramp", no_wrap=True, min_width=42)
    table.add_column("traced amount", overflow="fold", min_width=14)
    table.add_column("conf.", justify="right", no_wrap=True)
    for group in groups:
        for index, offramp in enumerate(group.offramps):
            confidence = float(offramp["confidence"])
            arrivals = len(offramp.get("arrivals", []))
            facts = [str(offramp["category"]), f"{arrivals} arrival{'s' if arrivals != 1 else ''}"]
            if confidence < ATTRIBUTION:
                facts.append("candidate")
            described = Text()
            if index == 0:
                described.append(plain(group.entity), style="bold")
                described.append("\n")
            described.append(plain(", ".join(facts)) + "\n" + plain(str(offramp["address"])))
            table.add_row(
                described,
                inert(amount_text(asset_of(offramp))),
                f"{confidence:.2f}",
                style="" if confidence >= ATTRIBUTION else "dim",
            )
        if len(group.totals) and len(group.offramps) > 1:
            totals = ", ".join(amount_text(total) for total in group.totals)
            table.add_row("[italic]total[/italic]", inert(totals), "")
        table.add_section()
    return table


def _paths_table(offramps: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(
        title="Paths from a seed (largest traced arrival per off-ramp)", title_justify="left"
    )
    table.add_column("off-ramp", overflow="fold")
    table.add_column("hops: address -(tx, traced amount)->", overflow="fold")
    for offramp in offramps:
        paths = offramp["paths"]
        path = paths[0]
        more = len(paths) - 1 + int(offramp.get("paths_omitted", 0))
        lines = [inert(short(str(path["seed"] or path["hops"][0]["from"])))]
        if path["omitted_hops"]:
            first = inert(short(str(path["hops"][0]["from"])))
            lines.append(f"  -(… {path['omitted_hops']} hops not shown …)-> {first}")
        for hop in path["hops"]:
            amount = amount_text(asset_of(hop))
            lines.append(f"  -({inert(short(str(hop['tx'])))}, {inert(amount)})-> ")
            lines[-1] += inert(short(str(hop["to"])))
        if more:
            lines.append(f"[dim]+{more} more path(s) in report.json[/dim]")
        table.add_row(
            f"{inert(str(offramp['entity']))}\n{inert(short(str(offramp['address'])))}",
            "\n".join(lines),
        )
    return table


def _mixers_and_findings(report: Mapping[str, Any]) -> RenderableType:
    followed, candidates = mixer_counts(report.get("mixer_links", []))
    probes = len(report.get("probes", []))
    probed = f"; {probes} recipients probed as evidence" if probes else ""
    text = Text(f"Mixer links: {followed} followed, {candidates} candidates to review{probed}")
    counts = findings_by_heuristic(report.get("findings", []))
    if not counts:
        return Group(text, Text("Findings: none"))
    table = Table(title=f"Findings: {sum(counts.values())}", title_justify="left")
    table.add_column("heuristic", overflow="fold")
    table.add_column("findings", justify="right")
    for heuristic, count in counts.items():
        table.add_row(inert(heuristic), str(count))
    return Group(text, table)


def _coverage(report: Mapping[str, Any]) -> list[RenderableType]:
    coverage = report.get("coverage", {})
    transfers = report.get("transfers", {})
    kinds = ", ".join(f"{kind} {count}" for kind, count in transfers.get("by_kind", {}).items())
    lines: list[RenderableType] = [
        Text(
            f"{transfers.get('rows', 0)} transfers ({kinds or 'none'}) from "
            f"{coverage.get('addresses', 0)} addresses: {coverage.get('complete', 0)} complete, "
            f"{coverage.get('truncated', 0)} truncated, {coverage.get('failed', 0)} failed"
        )
    ]
    for entry in coverage.get("entries", []):
        if entry.get("status") == "failed":
            lines.append(
                Text.from_markup(
                    f"[red]failed[/red] {inert(str(entry['address']))}: "
                    f"{inert(str(entry.get('reason')))}"
                )
            )
    for gap in coverage.get("gaps", []):
        lines.append(Text.from_markup(f"[yellow]gap[/yellow]: {inert(str(gap))}"))
    return lines
