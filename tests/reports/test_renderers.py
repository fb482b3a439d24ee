"""Every renderer on one concrete report, whole output compared with reviewed snapshots."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from tests.reports import case
from tests.reports.snapshot import assert_snapshot
from tracer.reports.documents import Format, write_documents
from tracer.reports.freeze import freeze_packs
from tracer.reports.html import markdown_to_html
from tracer.reports.markdown import render_markdown
from tracer.reports.terminal import print_summary


def terminal_text(report: dict[str, object], width: int = 140) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    print_summary(report, console)
    return buffer.getvalue()


def test_markdown_report() -> None:
    assert_snapshot("report.md", render_markdown(case.report()))


def test_html_report_is_the_markdown_self_contained() -> None:
    html = markdown_to_html(render_markdown(case.report()), "Case report: " + case.SEED)
    assert_snapshot("report.html", html)
    # Nothing is fetched: no script, stylesheet link, image or frame; the CSP forbids them.
    for tag in ("<script", "<link", "<img", "<iframe", "src=", "href="):
        assert tag not in html
    assert "default-src 'none'" in html


def test_terminal_summary() -> None:
    assert_snapshot("summary.txt", terminal_text(case.report()))


def test_freeze_packs_only_attributed_custodial_services() -> None:
    packs = freeze_packs(case.report())
    # The bridge is not custodial; the OTC desk is a candidate (0.3): neither gets a letter.
    assert [(pack.entity, pack.slug) for pack in packs] == [("Exchange A", "exchange-a")]
    assert_snapshot("freeze/exchange-a/deposits.csv", packs[0].deposits_csv)
    assert_snapshot("freeze/exchange-a/request.md", packs[0].request_md)


def test_write_documents_writes_each_file_once(tmp_path: Path) -> None:
    documents, packs = write_documents(case.report(), tmp_path, [Format.MD, Format.HTML])
    assert documents == [tmp_path / "report.md", tmp_path / "report.html"]
    assert packs == [tmp_path / "freeze" / "exchange-a"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "freeze",
        "freeze/exchange-a",
        "freeze/exchange-a/deposits.csv",
        "freeze/exchange-a/request.md",
        "report.html",
        "report.md",
    ]
    assert (tmp_path / "report.md").read_text() == render_markdown(case.report())


def test_a_report_from_before_paths_still_renders() -> None:
    """Reports written before ``paths`` and arrival times existed: the rest is unchanged."""
    report = case.report()
    for offramp in report["offramps"]:
        del offramp["paths"], offramp["paths_omitted"]
        for arrival in offramp["arrivals"]:
            del arrival["time"]
    markdown = render_markdown(report)
    assert "Path 1" not in markdown
    assert (
        "| `0x0000000000000000000000000000000000000000000000000000000000000003` | `19000003` "
        "| unknown | 1 ETH |"
    ) in markdown
    assert (
        markdown.split("## Mixer links")[1]
        == render_markdown(case.report()).split("## Mixer links")[1]
    )
    text = terminal_text(report)
    assert "Paths from a seed" not in text
    assert "Off-ramps reached by traced funds" in text
    [pack] = freeze_packs(report)
    assert pack.deposits_csv.splitlines()[1].endswith(
        ",0x0000000000000000000000000000000000000000000000000000000000000006,,"
    )


def test_a_narrow_terminal_shows_every_offramp_address_and_amount_whole() -> None:
    report = case.report()
    table = terminal_text(report, width=80).split("Paths from a seed")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    cells = "".join(table.replace("│", " ").split())
    for offramp in report["offramps"]:
        assert offramp["address"] in table, offramp
        if offramp["amount"] is not None:  # folded across lines at worst, never cut
            assert f"{offramp['amount']}{offramp['asset']}" in cells, offramp
