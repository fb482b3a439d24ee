"""The export formats by name, and the one function that writes a case in any of them.

A format is a writer ``(view, path) -> written files`` with a default file (or directory)
name and a one-line description. Adding one is one :func:`register` call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tracer.cases import Case, load_case
from tracer.errors import InputError, UnknownNameError
from tracer.exporters.cytoscape import write_cytoscape
from tracer.exporters.dot import write_dot
from tracer.exporters.gexf import write_gexf
from tracer.exporters.graphml import write_graphml
from tracer.exporters.html import write_case_view
from tracer.exporters.maltego import write_maltego
from tracer.exporters.neo4j import write_neo4j
from tracer.exporters.tables import write_csv_tables, write_parquet_tables
from tracer.exporters.view import ExportView, Scope, build_view

Writer = Callable[[ExportView, Path], list[Path]]
EXPORT_DIR: Final = "export"  # default place inside the case directory


@dataclass(frozen=True, slots=True)
class ExportFormat:
    name: str
    write: Writer
    default_name: str  # file name, or directory name when ``directory``
    description: str
    directory: bool = False  # writes several files into a directory


FORMATS: dict[str, ExportFormat] = {}


def register(export_format: ExportFormat) -> None:
    FORMATS[export_format.name] = export_format


register(ExportFormat("graphml", write_graphml, "graph.graphml", "GraphML (yEd, Gephi, networkx)"))
register(ExportFormat("gexf", write_gexf, "graph.gexf", "GEXF 1.2 with time (Gephi timeline)"))
register(ExportFormat("cytoscape", write_cytoscape, "graph.cyjs", "Cytoscape.js JSON with style"))
register(ExportFormat("dot", write_dot, "graph.dot", "Graphviz DOT with the legend"))
register(
    ExportFormat("neo4j", write_neo4j, "neo4j", "neo4j-admin CSV + load.cypher", directory=True)
)
register(ExportFormat("maltego", write_maltego, "maltego", "Maltego tables", directory=True))
register(ExportFormat("csv", write_csv_tables, "csv", "nodes/edges/transfers CSV", directory=True))
register(
    ExportFormat("parquet", write_parquet_tables, "parquet", "tables as Parquet", directory=True)
)


def _write_html_view(view: ExportView, path: Path) -> list[Path]:
    # The view is interactive: it always carries the whole traced case, whatever the scope.
    return [write_case_view(view.case, path)]


register(
    ExportFormat("html", _write_html_view, "view.html", "interactive offline case view (HTML)")
)


def export_format(name: str) -> ExportFormat:
    found = FORMATS.get(name.strip().lower())
    if found is None:
        raise UnknownNameError("export format", name, FORMATS)
    return found


def parse_formats(text: str | Iterable[str]) -> list[ExportFormat]:
    """``"graphml,gexf"`` (or a list of such) → formats, each once, in the order given."""
    parts = [text] if isinstance(text, str) else list(text)
    names = [name for part in parts for name in part.split(",") if name.strip()]
    if not names:
        raise InputError(f"no export format given; known: {', '.join(sorted(FORMATS))}")
    chosen = [export_format(name) for name in names]
    return list({f.name: f for f in chosen}.values())


def export_case(
    case: Case,
    formats: Sequence[ExportFormat],
    out: Path | None = None,
    *,
    scope: Scope = Scope.TRACED,
    aggregate: bool = False,
) -> list[Path]:
    """Write ``case`` in each format; returns every file written.

    ``out`` is the file (or directory) for a single format, and the directory that holds
    each format under its default name for several; default: ``CASE_DIR/export/``.
    """
    view = build_view(case, scope, aggregate)
    written: list[Path] = []
    for export in formats:
        if out is not None and len(formats) == 1:
            target = out
        else:
            target = (out or case.directory / EXPORT_DIR) / export.default_name
        written += _write(export, view, target)
    return written


def _write(export: ExportFormat, view: ExportView, target: Path) -> list[Path]:
    if export.directory and target.exists() and not target.is_dir():
        raise InputError(f"cannot write {export.name} export to {target}: not a directory")
    if not export.directory and target.is_dir():
        raise InputError(f"cannot write {export.name} export to {target}: it is a directory")
    try:
        (target if export.directory else target.parent).mkdir(parents=True, exist_ok=True)
        return export.write(view, target)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InputError(
            f"cannot write {export.name} export to {target}: {exc.filename} is a file, "
            "not a directory"
        ) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot write {export.name} export to {target}: {reason}") from exc


def check_formats(text: str | None) -> str | None:
    """Validate a comma-separated format list early (a CLI option callback)."""
    if text is not None:
        parse_formats(text)
    return text


def export_case_dir(directory: Path, formats: str) -> list[Path]:
    """Export the case in ``directory`` into ``directory/export/`` (``tracer trace --export``)."""
    return export_case(load_case(directory), parse_formats(formats))
