"""Write the case documents (report.md, report.html, freeze packs) atomically into a directory.

A file that cannot be written is one :class:`~tracer.errors.InputError` naming it; files are
replaced whole (:mod:`tracer.atomic`), so a reader never sees half a report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from tracer.atomic import atomic_write_text
from tracer.errors import InputError, UnknownNameError
from tracer.reports.freeze import DEPOSITS_FILE, REQUEST_FILE, freeze_packs
from tracer.reports.html import markdown_to_html
from tracer.reports.markdown import render_markdown

MARKDOWN_FILE: Final = "report.md"
HTML_FILE: Final = "report.html"
FREEZE_DIR: Final = "freeze"


class Format(StrEnum):
    MD = "md"
    HTML = "html"

    @classmethod
    def parse_list(cls, text: str) -> list[Format]:
        """``md,html`` → [MD, HTML]; an unknown name is an error with a suggestion."""
        formats: list[Format] = []
        for name in (part.strip().lower() for part in text.split(",")):
            if name not in {f.value for f in cls}:
                raise UnknownNameError("report format", name, [f.value for f in cls])
            formats.append(cls(name))
        return list(dict.fromkeys(formats))


def write_markdown(report: Mapping[str, Any], out: Path) -> Path:
    path = out / MARKDOWN_FILE
    _write(path, render_markdown(report))
    return path


def write_documents(
    report: Mapping[str, Any], out: Path, formats: Iterable[Format]
) -> tuple[list[Path], list[Path]]:
    """(documents, freeze-pack directories) written into ``out``."""
    wanted = set(formats)
    markdown = render_markdown(report)
    written: list[Path] = []
    if Format.MD in wanted:
        written.append(out / MARKDOWN_FILE)
        _write(written[-1], markdown)
    if Format.HTML in wanted:
        title = "Case report: " + ", ".join(report.get("seeds", []))
        written.append(out / HTML_FILE)
        _write(written[-1], markdown_to_html(markdown, title))
    packs: list[Path] = []
    for pack in freeze_packs(report):
        directory = out / FREEZE_DIR / pack.slug
        _write(directory / DEPOSITS_FILE, pack.deposits_csv)
        _write(directory / REQUEST_FILE, pack.request_md)
        packs.append(directory)
    return written, packs


def _write(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise InputError(f"cannot write {path}: {reason}") from exc
