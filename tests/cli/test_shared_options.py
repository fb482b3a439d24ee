"""Options several commands share are declared once (tracer/cli/options.py): every command
that has one shows it in its --help with the same text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

import pytest
import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import ArgumentInfo, OptionInfo
from typer.testing import CliRunner

from tracer.cli import options
from tracer.cli.main import app


def _help(alias: object) -> str:
    info = next(a for a in get_args(alias) if isinstance(a, OptionInfo | ArgumentInfo))
    assert info.help
    return info.help


# Shared parameter (as --help names it) -> its one help text and the commands that take it.
SHARED = {
    "--labels": (
        _help(options.LabelFiles),
        {"trace", "monitor", "screen", "labels lookup", "labels stats"},
    ),
    "--no-default-labels": (
        _help(options.NoDefaultLabels),
        {"trace", "monitor", "screen", "labels lookup", "labels stats"},
    ),
    "--json": (
        _help(options.JsonOutput),
        {"screen", "labels lookup", "labels stats", "heuristics list", "heuristics describe"},
    ),
    "case_dir": (_help(options.CaseDir), {"export", "report"}),
}


def _commands(group: TyperGroup, prefix: str = "") -> Iterator[tuple[str, TyperCommand]]:
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, TyperGroup):
            yield from _commands(command, path + " ")
        else:
            assert isinstance(command, TyperCommand), path
            yield path, command


def test_every_command_declares_a_shared_option_with_its_one_text() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    found: dict[str, set[str]] = {name: set() for name in SHARED}
    for path, command in _commands(root):
        for parameter in command.params:
            # An option's flags, or an argument's name (its only entry).
            for name in (flag for flag in parameter.opts if flag in SHARED):
                found[name].add(path)
                assert getattr(parameter, "help", None) == SHARED[name][0], (path, name)
    assert found == {name: commands for name, (_text, commands) in SHARED.items()}


@pytest.mark.parametrize(
    "command",
    sorted({command for _text, commands in SHARED.values() for command in commands}),
)
def test_help_shows_the_shared_text(command: str) -> None:
    # Wide enough that rich does not wrap a help text over several lines.
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.strip("│ ").split()) for line in result.output.splitlines()]
    for name, (text, commands) in SHARED.items():
        if command not in commands:
            continue
        [line] = [line for line in lines if line.lstrip("* ").split(" ")[0] == name]
        assert " ".join(text.split()) in line, (command, name, line)
