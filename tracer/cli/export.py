"""``tracer export``: write a traced case to graph tools (Gephi, Cytoscape, Neo4j, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracer.cases import load_case
from tracer.cli.options import CaseDir
from tracer.exporters.registry import EXPORT_DIR, FORMATS, export_case, parse_formats
from tracer.exporters.view import Scope

_FORMAT_HELP = "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values())


def export(
    case_dir: CaseDir,
    formats: Annotated[
        list[str],
        typer.Option(
            "--format",
            "-f",
            help=f"Format(s), comma-separated or repeated. {_FORMAT_HELP}.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With one format: the file (or directory, for neo4j, maltego, csv, "
            "parquet) to write. With several: the directory for all, each under its "
            f"default name. Default: CASE_DIR/{EXPORT_DIR}/.",
        ),
    ] = None,
    aggregate: Annotated[
        bool,
        typer.Option(
            "--aggregate/--per-transfer",
            help="One edge per (from, to, asset) with exact summed amounts, count, first and "
            "last time and the transaction hashes; or one edge per transfer (default).",
        ),
    ] = False,
    scope: Annotated[
        str,
        typer.Option(
            help="traced: every transfer that carried traced value; offramp-paths: only the "
            "earliest path from a seed to each off-ramp in the report.",
        ),
    ] = Scope.TRACED.value,
) -> None:
    """Export a traced case's flow graph to GraphML, GEXF, Cytoscape.js, DOT, Neo4j, Maltego,
    CSV or Parquet (the same node and edge ids, attributes and legend in every format), or
    as the interactive HTML case view."""
    chosen = parse_formats(formats)
    chosen_scope = Scope.parse(scope)
    case = load_case(case_dir)
    for path in export_case(case, chosen, out, scope=chosen_scope, aggregate=aggregate):
        typer.echo(str(path))
