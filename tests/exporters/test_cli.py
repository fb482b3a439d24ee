"""`tracer export` and `tracer trace --export`: what they write, and one-line errors."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import get_args, get_type_hints

from typer.models import OptionInfo

from tests.cli.test_cli_errors import SEED, assert_one_line_error, tracer_cli
from tracer.cases import Case
from tracer.cli import export
from tracer.exporters.registry import FORMATS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_trace_export_wrote_every_format_into_the_case(traced_case: Case) -> None:
    exported = traced_case.directory / "export"
    for export_format in FORMATS.values():
        target = exported / export_format.default_name
        assert target.is_dir() if export_format.directory else target.is_file(), target
        if export_format.directory:
            assert any(target.iterdir())
        else:
            assert target.stat().st_size > 0


def test_export_command_matches_trace_export(traced_case: Case, tmp_path: Path) -> None:
    out = tmp_path / "one.graphml"
    result = tracer_cli(
        "export", str(traced_case.directory), "--format", "graphml", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(out)]
    assert out.read_bytes() == (traced_case.directory / "export" / "graph.graphml").read_bytes()


def test_export_several_formats_into_a_directory(traced_case: Case, tmp_path: Path) -> None:
    result = tracer_cli(
        "export", str(traced_case.directory), "-f", "dot,neo4j", "-f", "csv",
        "--out", str(tmp_path / "x"), "--aggregate", "--scope", "offramp-paths",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = [Path(line) for line in result.stdout.splitlines()]
    assert tmp_path / "x" / "graph.dot" in written
    assert tmp_path / "x" / "neo4j" / "load.cypher" in written
    assert tmp_path / "x" / "csv" / "edges.csv" in written
    assert all(path.is_file() for path in written)


def test_unknown_format_suggests(traced_case: Case) -> None:
    result = tracer_cli("export", str(traced_case.directory), "--format", "grafml")
    assert_one_line_error(result, 2, "unknown export format 'grafml'; did you mean 'graphml'?")


def test_trace_rejects_an_unknown_export_format_before_crawling() -> None:
    result = tracer_cli("trace", SEED, "--rpc-url", "http://127.0.0.1:9", "--export", "gexf,neo4")
    assert_one_line_error(result, 2, "unknown export format 'neo4'; did you mean 'neo4j'?")


def test_case_directory_without_report(tmp_path: Path) -> None:
    result = tracer_cli("export", str(tmp_path), "--format", "dot")
    assert_one_line_error(result, 2, "no report.json here")


def test_unwritable_output_path(traced_case: Case, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = tracer_cli(
        "export", str(traced_case.directory), "-f", "dot", "--out", str(blocker / "g.dot")
    )
    assert_one_line_error(result, 2, f"cannot write dot export to {blocker / 'g.dot'}")
    assert "is a file, not a directory" in result.stderr
    bundle = tracer_cli("export", str(traced_case.directory), "-f", "neo4j", "--out", str(blocker))
    assert_one_line_error(bundle, 2, f"cannot write neo4j export to {blocker}: not a directory")


def test_export_is_documented_in_the_readme() -> None:
    readme = README.read_text()
    assert "tracer export CASE_DIR" in readme
    hints = get_type_hints(export.export, include_extras=True)
    for parameter in inspect.signature(export.export).parameters:
        info = next((a for a in get_args(hints[parameter]) if isinstance(a, OptionInfo)), None)
        for declared in (info.param_decls or ()) if info else ():
            for name in declared.split("/"):
                if name.startswith("--"):
                    assert f"`{name}" in readme or f" {name}" in readme, name
    for name in FORMATS:
        assert f"`{name}`" in readme, name
