"""The ``tracer`` command: one typer app, each sub-command in its own module.

Library code raises :class:`tracer.errors.TracerError`; this is the one place that turns it
into a one-line message on stderr and an exit code (see tracer/errors.py for the codes).
"""

from __future__ import annotations

import sys

import typer

from tracer import __version__
from tracer.cli import export, heuristics, labels, monitor, report, screen, trace
from tracer.errors import TracerError

app = typer.Typer(
    name="tracer",
    help="Trace laundered crypto from seed addresses to the off-ramps where it can be frozen.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="trace", no_args_is_help=True)(trace.trace)
app.command(name="screen", no_args_is_help=True)(screen.screen_command)
app.command(name="report", no_args_is_help=True)(report.report_command)
app.command(name="export", no_args_is_help=True)(export.export)
app.command(name="monitor", no_args_is_help=True)(monitor.monitor)
app.add_typer(labels.app, name="labels")
app.add_typer(heuristics.app, name="heuristics")


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
    """Trace laundered crypto from seed addresses to the off-ramps where it can be frozen.

    Start with `tracer trace SEED --rpc-url URL --labels FILE`. Every command has --help.
    """


def run() -> None:
    """Console-script entry point: user-facing errors become one line and an exit code."""
    try:
        app()
    except TracerError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
