"""The heuristic registry: discovery, validation when loaded, parameters, and the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracer.errors import InputError, UnknownNameError
from tracer.heuristics.base import (
    HeuristicSpec,
    HeuristicSpecError,
    Parameter,
    Reference,
    discover,
    registry,
)

PAPER = Reference("Demixing Tornado Cash", "https://example.org/paper")
GOOD = HeuristicSpec(
    id="address-match",
    title="Depositor withdraws to itself",
    description="A withdrawal to the address that made the deposit links the two.",
    references=(PAPER,),
    parameters=(
        Parameter("window_hours", int, 72, "How long after the deposit to look.", 1, 10_000),
        Parameter("weight", float, 0.9, "Confidence of a match.", 0.0, 1.0),
        Parameter("relayed_only", bool, False, "Only withdrawals sent by a relayer."),
    ),
    confidence="0.9: an address match is strong but can be a decoy.",
)


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real package on sys.path whose modules declare HEURISTICS, as tracer's own do."""
    package = tmp_path / "plugins_under_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [m for m in sys.modules if m.startswith("plugins_under_test")]:
        del sys.modules[name]


def write_module(package: Path, name: str, body: str) -> None:
    header = "from tracer.heuristics.base import HeuristicSpec, Parameter, Reference\n"
    (package / f"{name}.py").write_text(header + textwrap.dedent(body))


def test_discover_collects_validated_specs_with_their_module(plugin_package: Path) -> None:
    write_module(
        plugin_package,
        "mixers",
        """
        REF = Reference("Paper", "https://example.org/a")
        HEURISTICS = (
            HeuristicSpec("timing", "Timing", "Withdrawals soon after deposits.", (REF,)),
            HeuristicSpec("gas-price", "Gas price", "A distinctive gas price.", (REF,)),
        )
        """,
    )
    specs = discover("plugins_under_test")
    assert [(s.id, s.module) for s in specs] == [
        ("gas-price", "plugins_under_test.mixers"),
        ("timing", "plugins_under_test.mixers"),
    ]


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        ('HeuristicSpec("Bad_Id", "T", "D", (REF,))', "kebab-case"),
        ('HeuristicSpec("no-refs", "T", "D", ())', "at least one reference"),
        ('HeuristicSpec("no-url", "T", "D", (Reference("x", "ftp://x"),))', "has no URL"),
        ('HeuristicSpec("blank", "T", "  ", (REF,))', "description are required"),
        (
            'HeuristicSpec("bounds", "T", "D", (REF,), (Parameter("k", int, 5, "k", 0, 3),))',
            "default out of bounds",
        ),
        (
            'HeuristicSpec("kind", "T", "D", (REF,), (Parameter("k", int, "5", "k"),))',
            "default '5' is not a int",
        ),
    ],
)
def test_invalid_specs_fail_when_loaded(
    plugin_package: Path, declaration: str, problem: str
) -> None:
    write_module(
        plugin_package,
        "broken",
        f"""
        REF = Reference("Paper", "https://example.org/a")
        HEURISTICS = ({declaration},)
        """,
    )
    with pytest.raises(HeuristicSpecError, match=problem):
        discover("plugins_under_test")


def test_duplicate_ids_across_modules_are_refused(plugin_package: Path) -> None:
    for name in ("one", "two"):
        write_module(
            plugin_package,
            name,
            """
            HEURISTICS = (HeuristicSpec("same", "T", "D", (Reference("P", "https://p"),)),)
            """,
        )
    with pytest.raises(HeuristicSpecError, match=re.escape("declared by plugins_under_test.one")):
        discover("plugins_under_test")


def test_parameters_resolve_from_cli_text_with_types_and_bounds() -> None:
    assert GOOD.resolve() == {"window_hours": 72, "weight": 0.9, "relayed_only": False}
    assert GOOD.resolve({"window_hours": "24", "relayed_only": "yes", "weight": "0.5"}) == {
        "window_hours": 24,
        "weight": 0.5,
        "relayed_only": True,
    }
    with pytest.raises(InputError, match=re.escape("window_hours: '2.5' is not a valid int")):
        GOOD.resolve({"window_hours": "2.5"})
    with pytest.raises(InputError, match=re.escape("weight: 1.5 is above 1.0")):
        GOOD.resolve({"weight": 1.5})
    with pytest.raises(InputError, match="not a finite number"):
        GOOD.resolve({"weight": "nan"})
    with pytest.raises(InputError, match="relayed_only: 'maybe' is not a valid bool"):
        GOOD.resolve({"relayed_only": "maybe"})
    with pytest.raises(UnknownNameError, match="did you mean 'weight'"):
        GOOD.resolve({"wieght": 1})


def test_to_json_lists_everything_describe_shows() -> None:
    assert GOOD.to_json() == {
        "id": "address-match",
        "title": "Depositor withdraws to itself",
        "description": "A withdrawal to the address that made the deposit links the two.",
        "confidence": "0.9: an address match is strong but can be a decoy.",
        "references": [{"title": "Demixing Tornado Cash", "url": "https://example.org/paper"}],
        "parameters": [
            {"name": "window_hours", "type": "int", "default": 72, "minimum": 1,
             "maximum": 10_000, "description": "How long after the deposit to look."},
            {"name": "weight", "type": "float", "default": 0.9, "minimum": 0.0, "maximum": 1.0,
             "description": "Confidence of a match."},
            {"name": "relayed_only", "type": "bool", "default": False, "minimum": None,
             "maximum": None, "description": "Only withdrawals sent by a relayer."},
        ],
    }  # fmt: skip


def test_tracers_own_registry_loads() -> None:
    # Every shipped heuristic module passes validation (a broken spec fails here, not in a
    # user's trace).
    specs = registry()
    assert len({spec.id for spec in specs}) == len(specs)


def test_cli_describe_unknown_id_is_a_one_line_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracer", "heuristics", "describe", "no-such-heuristic"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown heuristic 'no-such-heuristic'")
    assert len(result.stderr.strip().splitlines()) == 1
