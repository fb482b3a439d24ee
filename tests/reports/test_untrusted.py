"""Label and chain text is untrusted: it renders as inert text and makes only safe slugs."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from tests.reports import case
from tracer.errors import InputError, InputFileError
from tracer.reports.documents import Format, write_documents
from tracer.reports.freeze import entity_slug, freeze_packs, unique_slugs
from tracer.reports.html import markdown_to_html
from tracer.reports.load import load_report
from tracer.reports.markdown import render_markdown
from tracer.reports.mdtext import md_text
from tracer.reports.terminal import print_summary

HOSTILE = "<script>alert(1)</script> [click](https://evil.example) ../../etc/passwd"
SYMBOL = '=HYPERLINK("https://evil.example")'


def hostile_report() -> dict[str, Any]:
    report = case.report()
    for offramp in report["offramps"]:
        offramp["entity"] = HOSTILE
        offramp["asset"] = SYMBOL
    report["coverage"]["gaps"] = ["![img](https://evil.example/x.png) www.evil.example"]
    report["probes"][0]["withdrawal_txs"] = [HOSTILE]  # unchecked when rendered directly
    return report


def test_markdown_escapes_every_metacharacter() -> None:
    assert md_text("a *b* [c](d) <e> & `f` #g\nh|i") == (
        r"a \*b\* \[c\]\(d\) \<e\> \& \`f\` \#g h\|i"
    )


def test_hostile_labels_render_as_text_in_markdown_and_html() -> None:
    markdown = render_markdown(hostile_report())
    html = markdown_to_html(markdown, HOSTILE)
    # Rendered by a second CommonMark engine configuration that allows raw HTML and links:
    # even then nothing active comes out, because the Markdown itself is escaped.
    permissive = MarkdownIt("commonmark", {"html": True, "linkify": True}).render(markdown)
    for rendered in (html, permissive):
        assert "<script" not in rendered
        assert "<a " not in rendered
        assert "<img" not in rendered
        assert "&lt;script&gt;alert(1)&lt;/script&gt; [click](https://evil.example)" in rendered
    assert "<title>&lt;script&gt;" in html


def test_hostile_labels_print_as_text_in_the_terminal() -> None:
    report = hostile_report()
    for offramp in report["offramps"]:
        offramp["entity"] = "[red]Exchange[/red] [link=https://evil.example]x[/link]"
    buffer = io.StringIO()
    print_summary(report, Console(file=buffer, width=300, color_system=None))
    assert "[red]Exchange[/red] [link=https://evil.example]x[/link]" in buffer.getvalue()


def test_escape_sequences_in_labels_never_reach_the_terminal() -> None:
    # rich passes ESC through: a label could clear the screen, set the window title or
    # plant a hyperlink (OSC 8) in the investigator's terminal.
    report = hostile_report()
    for offramp in report["offramps"]:
        offramp["entity"] = "Desk\x1b[2J\x1b]0;owned\x07\x9b1m"
    report["coverage"]["gaps"] = ["gap \x1b]8;;https://evil.example\x1b\\link"]
    buffer = io.StringIO()
    print_summary(report, Console(file=buffer, width=300, force_terminal=True))
    printed = buffer.getvalue()
    assert "Desk\ufffd[2J\ufffd]0;owned\ufffd\ufffd1m" in printed
    assert "\x07" not in printed and "\x9b" not in printed and "\x1b]" not in printed
    # The only escape sequences left are rich's own colours: ESC [ digits and ; then m.
    assert re.sub("\x1b\\[[0-9;]*m", "", printed).count("\x1b") == 0


def test_hostile_labels_make_a_safe_pack(tmp_path: Path) -> None:
    [pack] = freeze_packs(hostile_report())
    assert pack.slug == "script-alert-1-script-click-https-evil-example-e"  # 48 characters
    # A spreadsheet must not run the symbol as a formula.
    assert ',"\'=HYPERLINK(""https://evil.example"")",' in pack.deposits_csv
    # Nor a hand-edited field the report check does not look into (an arrival time).
    report = hostile_report()
    for offramp in report["offramps"]:
        for arrival in offramp["arrivals"]:
            arrival["time"] = "=1+1"
    [edited] = freeze_packs(report)
    assert ",'=1+1,'=1+1\n" in edited.deposits_csv
    assert "<script>" not in pack.request_md
    _documents, packs = write_documents(hostile_report(), tmp_path / "out", [Format.MD])
    assert [p.parent for p in packs] == [tmp_path / "out" / "freeze"]


def digest(name: str) -> str:
    """What tells names apart when their slugs cannot: the first 8 hex digits of SHA-256."""
    return hashlib.sha256(name.encode()).hexdigest()[:8]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Exchange A", "exchange-a"),
        ("Bítstamp Ltd.", "bitstamp-ltd"),
        ("../../etc", "etc"),
        ("..", f"entity-{digest('..')}"),
        ("", f"entity-{digest('')}"),
        ("交易所", f"entity-{digest('交易所')}"),
        ("CON", f"entity-{digest('CON')}"),  # a device name on Windows
        ("a" * 80, "a" * 48),
    ],
)
def test_entity_slug(name: str, slug: str) -> None:
    assert entity_slug(name) == slug


def test_colliding_slugs_stay_apart() -> None:
    assert unique_slugs(["Exchange A", "exchange-a", "Exchange B"]) == {
        "Exchange A": f"exchange-a-{digest('Exchange A')}",
        "exchange-a": f"exchange-a-{digest('exchange-a')}",
        "Exchange B": "exchange-b",
    }


def write_report(directory: Path, report: object) -> Path:
    directory.mkdir()
    (directory / "report.json").write_text(json.dumps(report))
    return directory


def test_load_report_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a case directory"):
        load_report(tmp_path / "missing")
    with pytest.raises(InputError, match=r"no report\.json here"):
        load_report(tmp_path)
    newer = write_report(tmp_path / "newer", {**case.report(), "format_version": 99})
    with pytest.raises(InputFileError, match="report format 99 is newer than this tracer reads"):
        load_report(newer)
    bad = case.report()
    bad["offramps"][1]["amount_raw"] = "1.5"
    broken = write_report(tmp_path / "broken", bad)
    with pytest.raises(
        InputFileError, match=r"offramps\[1\]\.amount_raw: expected a decimal integer string"
    ):
        load_report(broken)
    assert load_report(write_report(tmp_path / "good", case.report())) == case.report()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"seeds": "0x5e"}, "seeds: expected a list of str values"),
        ({"coverage": []}, "coverage: expected an object"),
    ],
)
def test_load_report_names_the_bad_field(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    directory = write_report(tmp_path / "case", {**case.report(), **change})
    with pytest.raises(InputFileError) as error:
        load_report(directory)
    assert str(error.value) == f"{directory / 'report.json'}: {problem}"


def test_nested_fields_are_checked(tmp_path: Path) -> None:
    report = case.report()
    report["offramps"][0]["paths"] = "none"
    report["mixer_links"][1]["deposit_tx"] = "<b>"
    with pytest.raises(InputFileError, match=r"offramps\[0\]\.paths: expected a list of objects"):
        load_report(write_report(tmp_path / "paths", report))
    report["offramps"][0]["paths"] = []
    with pytest.raises(InputFileError, match=r"mixer_links\[1\]\.deposit_tx: expected lowercase"):
        load_report(write_report(tmp_path / "links", report))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda probes: "none", "probes: expected a list of dict values"),
        (lambda probes: [*probes, "0xd0"], "probes: expected a list of dict values"),
        (
            lambda probes: [{**probes[0], "address": "<b>x</b>"}],
            "probes[0].address: expected lowercase 0x-hex",
        ),
        (
            lambda probes: [probes[0], {**probes[1], "withdrawal_txs": ["0xABC"]}],
            "probes[1].withdrawal_txs: expected a list of lowercase 0x-hex",
        ),
        (
            lambda probes: [{**probes[0], "withdrawal_txs": "0xab"}],
            "probes[0].withdrawal_txs: expected a list of lowercase 0x-hex",
        ),
        (
            lambda probes: [{**probes[0], "transfers": "4"}],
            "probes[0].transfers: missing or of the wrong type",
        ),
        (
            lambda probes: [{k: v for k, v in probes[0].items() if k != "round"}],
            "probes[0].round: missing or of the wrong type",
        ),
        (
            lambda probes: [{**probes[0], "to_block": True}],
            "probes[0].to_block: missing or of the wrong type",
        ),
        (
            lambda probes: [{**probes[0], "confidence": "high"}],
            "probes[0].confidence: missing or of the wrong type",
        ),
        (
            lambda probes: [{**probes[0], "crawled": "yes"}],
            "probes[0].crawled: expected true or false",
        ),
    ],
)
def test_malformed_probes_are_named(
    tmp_path: Path, change: Callable[[list[dict[str, Any]]], object], problem: str
) -> None:
    report = case.report()
    directory = write_report(tmp_path / "case", {**report, "probes": change(report["probes"])})
    with pytest.raises(InputFileError) as error:
        load_report(directory)
    assert str(error.value) == f"{directory / 'report.json'}: {problem}"


def test_probes_are_optional_and_may_lack_a_confidence(tmp_path: Path) -> None:
    """Reports from before the field, and probes whose reasons an older crawl did not keep."""
    older = {k: v for k, v in case.report().items() if k != "probes"}
    assert load_report(write_report(tmp_path / "older", older)) == older
    assert "Probed addresses" not in render_markdown(older)
    report = case.report()
    report["probes"][1].update(confidence=None, withdrawal_txs=[])
    del report["probes"][1]["crawled"]
    assert load_report(write_report(tmp_path / "unknown", report)) == report
    row = next(line for line in render_markdown(report).splitlines() if "19000090" in line)
    address = "0x" + "d2" * 20
    assert row == f"| `{address}` | `1` | `19000022` to `19000090` |  | unknown | `0` | no |"
