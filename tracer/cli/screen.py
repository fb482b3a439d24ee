"""``tracer screen``: labels and sanctions hits for addresses; exit code 1 on a hit."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tracer.cli.labels import print_result, result_json
from tracer.cli.options import JsonOutput, LabelFiles, NoDefaultLabels, label_store
from tracer.errors import UnknownNameError
from tracer.labels.model import Category
from tracer.screening.screen import DEFAULT_FAIL_ON, read_targets, screen


def screen_command(
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="ADDRESS|FILE...",
            help="Addresses of any supported network (EVM, Bitcoin, Tron, ...), or files of "
            "them: one per line, or a CSV with an 'address' column.",
        ),
    ],
    labels: LabelFiles = None,
    no_default_labels: NoDefaultLabels = False,
    fail_on: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-on",
            help="Categories that count as a hit (default: sanctioned, active designations "
            "only). Repeat for several, e.g. --fail-on sanctioned --fail-on mixer.",
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Screen addresses: every label with its source, and sanctions hits.

    Exit code 0: no hit; 1: at least one hit; 2: bad input (an invalid address, with its
    file and line). A delisted designation is shown but is not a hit.
    """
    categories = _categories(fail_on) if fail_on else DEFAULT_FAIL_ON
    store = label_store(labels, no_default_labels)
    results = screen(read_targets(targets), store, fail_on=categories)
    hits = sum(result.hit for result in results)
    if json_output:
        document = {
            "fail_on": sorted(c.value for c in categories),
            "screened": len(results),
            "hits": hits,
            "results": [result_json(result, store) for result in results],
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        for result in results:
            print_result(result, store, status="HIT" if result.hit else "ok")
        names = ", ".join(sorted(c.value for c in categories))
        typer.echo(f"{hits} of {len(results)} addresses hit ({names})")
    if hits:
        raise typer.Exit(code=1)


def _categories(names: list[str]) -> frozenset[Category]:
    found = set()
    for name in names:
        try:
            found.add(Category(name.strip().lower()))
        except ValueError:
            raise UnknownNameError("category", name, [c.value for c in Category]) from None
    return frozenset(found)
