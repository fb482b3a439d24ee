"""The ``tracer`` command: registers each sub-command module on one typer app."""

from __future__ import annotations

import typer

from tracer import __version__

app = typer.Typer(
    name="tracer",
    help="Trace laundered crypto from seed addresses to the off-ramps where it can be frozen.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tracer {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """Trace laundered crypto from seed addresses to the off-ramps where it can be frozen."""
