"""``tracer heuristics``: read the heuristic registry (ids, descriptions, sources, parameters)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tracer.cli.options import JsonOutput
from tracer.heuristics.base import get, registry

app = typer.Typer(
    help="The heuristics tracer applies: what each concludes, its sources and parameters.",
    no_args_is_help=True,
)


@app.command(name="list")
def list_heuristics(
    as_json: JsonOutput = False,
) -> None:
    """List every registered heuristic with its id and title."""
    specs = registry()
    if as_json:
        typer.echo(json.dumps([spec.to_json() for spec in specs], indent=2))
        return
    if not specs:
        typer.echo("no heuristics registered")
        return
    table = Table(show_header=True)
    table.add_column("id")
    table.add_column("title")
    table.add_column("parameters", justify="right")
    for spec in specs:
        table.add_row(spec.id, escape(spec.title), str(len(spec.parameters)))
    Console().print(table)


@app.command()
def describe(
    heuristic_id: Annotated[str, typer.Argument(metavar="ID", help="A heuristic id.")],
    as_json: JsonOutput = False,
) -> None:
    """Everything about one heuristic: description, confidence, references, parameters."""
    spec = get(heuristic_id)
    if as_json:
        typer.echo(json.dumps(spec.to_json(), indent=2))
        return
    console = Console()
    console.print(f"[bold]{spec.id}[/bold]: {escape(spec.title)}\n")
    console.print(escape(spec.description))
    if spec.confidence:
        console.print(f"\n[bold]Confidence[/bold]: {escape(spec.confidence)}")
    console.print("\n[bold]References[/bold]")
    for reference in spec.references:
        console.print(f"  - {escape(reference.title)}: {escape(reference.url)}")
    if spec.parameters:
        table = Table("parameter", "type", "default", "range", "meaning", title="Parameters")
        for p in spec.parameters:
            low = "" if p.minimum is None else str(p.minimum)
            high = "" if p.maximum is None else str(p.maximum)
            bounds = f"{low}..{high}"
            table.add_row(p.name, p.kind.__name__, str(p.default), bounds, escape(p.description))
        console.print(table)
