"""Options and arguments several commands share: declared once, so the flag, its help text
and what it does are the same in trace, monitor, screen, labels, export, report and
heuristics.

Options that share a name but not a meaning stay in their command: ``--rpc-url`` (trace
needs an archive node's trace API, monitor whole-block traces), ``--cache`` (a case's own
cache by default vs none), ``--confirmations`` (what is cached vs what alerts), ``--rps``,
``--quiet`` and ``--out`` say different things per command.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from tracer.labels.store import LabelStore, default_pack_paths

LabelFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--labels",
        help="Label file naming exchanges, mixers, bridges, sanctioned addresses: CSV "
        "(address,name,category[,entity,chain,source,date,confidence,...]) or a YAML pack. "
        "Repeat for several; read after the shipped packs.",
    ),
]
NoDefaultLabels = Annotated[
    bool,
    typer.Option(
        "--no-default-labels",
        help="Do not load the curated label packs shipped in configs/labels/ (loaded by default).",
    ),
]
JsonOutput = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout instead of text (for scripts).")
]
CaseDir = Annotated[
    Path, typer.Argument(help="Case directory written by `tracer trace --out DIR`.")
]


def label_paths(
    files: Sequence[Path] | None, no_default_labels: bool, *, extra: Sequence[Path] = ()
) -> list[Path]:
    """The label files in reading order: the shipped packs (unless --no-default-labels),
    then ``extra`` (a watchlist's own files), then the --labels files."""
    return [*([] if no_default_labels else default_pack_paths()), *extra, *(files or [])]


def label_store(
    files: Sequence[Path] | None, no_default_labels: bool, *, extra: Sequence[Path] = ()
) -> LabelStore:
    """The labels of --labels and --no-default-labels (see :func:`label_paths`)."""
    return LabelStore.from_files(label_paths(files, no_default_labels, extra=extra))
