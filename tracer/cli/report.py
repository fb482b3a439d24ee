"""``tracer report``: re-render a case's documents from its report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tracer.cli.options import CaseDir
from tracer.reports.documents import Format, write_documents
from tracer.reports.load import load_report


def report_command(
    case_dir: CaseDir,
    formats: Annotated[
        str,
        typer.Option(
            "--format",
            help="Documents to write, comma-separated: md (report.md), html (report.html, "
            "self-contained). Freeze-request packs are always written.",
        ),
    ] = "md,html",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Directory for report.md, report.html and freeze/<entity>/ (default: CASE_DIR).",
        ),
    ] = None,
) -> None:
    """Render CASE_DIR/report.json as Markdown and HTML, plus a freeze-request pack per
    exchange or OTC desk that traced funds reached (freeze/<entity>/deposits.csv and
    request.md)."""
    chosen = Format.parse_list(formats)
    report = load_report(case_dir)
    target = out or case_dir
    documents, packs = write_documents(report, target, chosen)
    console = Console()
    for path in documents:
        console.print(f"wrote {escape(str(path))}")
    for directory in packs:
        console.print(f"wrote freeze-request pack {escape(str(directory))}")
    if not packs:
        console.print("no freeze-request pack: no exchange or OTC desk attribution in the report")
