"""`tracer report`, its options, report.md and the off-ramps' `paths` are in the README."""

from __future__ import annotations

from typer.core import TyperGroup
from typer.main import get_command

from tests.e2e.test_trace_docs import README
from tracer.cli.main import app


def test_every_report_option_is_in_the_readme() -> None:
    group = get_command(app)
    assert isinstance(group, TyperGroup)
    command = group.commands["report"]
    options = [o for param in command.params for o in param.opts if o.startswith("--")]
    assert options == ["--format", "--out"]
    readme = README.read_text()
    assert "tracer report CASE_DIR" in readme
    missing = [name for name in options if f"`{name}" not in readme]
    assert not missing, f"undocumented tracer report options: {missing}"


def test_report_documents_and_paths_are_in_the_readme() -> None:
    readme = README.read_text()
    for key in ("report.md", "report.html", "deposits.csv", "request.md", '"paths"',
                '"paths_omitted"', '"omitted_hops"'):  # fmt: skip
        assert key in readme, key
