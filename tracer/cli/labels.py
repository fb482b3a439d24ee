"""``tracer labels``: import public label formats into packs, look addresses up, count."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tracer.atomic import atomic_write_text
from tracer.cli.options import JsonOutput, LabelFiles, NoDefaultLabels, label_store
from tracer.errors import InputError, UnknownNameError
from tracer.labels.importers import ImportResult
from tracer.labels.importers.etherscan import import_eth_labels, import_label_cloud
from tracer.labels.importers.graphsense import import_tagpack, load_actor_names
from tracer.labels.importers.ofac import import_ofac_address_csv, import_sdn_advanced_xml
from tracer.labels.model import Category, Label
from tracer.labels.packs import chain_text, dump_pack, label_fields
from tracer.labels.store import CATEGORY_PRECEDENCE, LabelStore
from tracer.screening.screen import ScreenResult, read_targets, screen

app = typer.Typer(
    help="Label packs: import public formats, look addresses up, show what is loaded.",
    no_args_is_help=True,
)


class Format(StrEnum):
    OFAC_SDN_XML = "ofac-sdn-xml"
    OFAC_CSV = "ofac-csv"
    GRAPHSENSE = "graphsense"
    ETHERSCAN = "etherscan"
    ETH_LABELS = "eth-labels"


@app.command(name="import", no_args_is_help=True)
def import_(
    format_: Annotated[
        Format,
        typer.Argument(
            metavar="FORMAT",
            help="ofac-sdn-xml (sdn_advanced.xml[.bz2]), ofac-csv (address,name[,date_added]), "
            "graphsense (a TagPack .yaml), etherscan (an accounts .csv or a combined .json "
            "dump), eth-labels (an accounts.json, or an <explorer>/<slug>/ data directory).",
        ),
    ],
    source_file: Annotated[Path, typer.Argument(metavar="SOURCE", help="The file to import.")],
    out: Annotated[Path, typer.Option("--out", help="The YAML pack to write.")],
    source: Annotated[
        str | None,
        typer.Option(
            help="Provenance written on every label: data set, URL or repository, commit. "
            "Default: the file name."
        ),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(help="ISO date the source asserted its labels (default: from the file)."),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(help="etherscan: the chain of a CSV dump (default: ethereum)."),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(help="etherscan, eth-labels: give every label this category."),
    ] = None,
    actors: Annotated[
        Path | None,
        typer.Option(help="graphsense: an ActorPack, to name entities by their actor label."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title of the written pack.")] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (exit 2) if any entry is rejected.")
    ] = False,
) -> None:
    """Import a public label or sanctions format into a tracer YAML pack.

    Every entry is validated; entries that fail (a broken EIP-55 checksum, an address of an
    unsupported network) are listed with file and line and left out.
    """
    forced = _category(category)
    if format_ is Format.OFAC_SDN_XML:
        result = import_sdn_advanced_xml(source_file, source=source)
    elif format_ is Format.OFAC_CSV:
        result = import_ofac_address_csv(
            source_file, source=source or f"OFAC list {source_file.name}", date=date
        )
    elif format_ is Format.GRAPHSENSE:
        names = load_actor_names(actors) if actors else None
        result = import_tagpack(source_file, actors=names, source=source)
    elif format_ is Format.ETHERSCAN:
        result = import_label_cloud(
            source_file, chain=chain, source=source, date=date, category=forced
        )
    else:
        result = import_eth_labels(source_file, source=source, date=date, category=forced)
    _report(result, source_file, out)
    if strict and result.rejected:
        raise InputError(f"{len(result.rejected)} entries rejected (--strict); nothing written")
    info = {
        "title": title or f"Imported from {source_file.name}",
        "creator": "tracer labels import",
    }
    text = dump_pack(
        result.labels,
        info=info,
        comment=f"Imported from {source_file.name} by `tracer labels import {format_.value}`.",
    )
    try:
        atomic_write_text(out, text)
        out.chmod(0o644)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from exc
    typer.echo(f"wrote {out}")


def _category(name: str | None) -> Category | None:
    if name is None:
        return None
    try:
        return Category(name.lower())
    except ValueError:
        raise UnknownNameError("category", name, [c.value for c in Category]) from None


def _report(result: ImportResult, source_file: Path, out: Path) -> None:
    typer.echo(
        f"{source_file.name}: {result.entries} entries -> {len(result.labels)} labels, "
        f"{len(result.rejected)} rejected, {result.duplicates} duplicates"
    )
    for rejection in result.rejected[:20]:
        typer.echo(f"  rejected {rejection.where}: {rejection.reason}", err=True)
    if len(result.rejected) > 20:
        typer.echo(f"  ... and {len(result.rejected) - 20} more rejected", err=True)
    if result.unmapped:
        unmapped = ", ".join(f"{name} ({n})" for name, n in result.unmapped.most_common(10))
        typer.echo(f"  unknown categories, imported as 'other': {unmapped}", err=True)


@app.command(no_args_is_help=True)
def lookup(
    addresses: Annotated[
        list[str],
        typer.Argument(
            metavar="ADDRESS...", help="Addresses of any supported network, or files of them."
        ),
    ],
    labels: LabelFiles = None,
    no_default_labels: NoDefaultLabels = False,
    json_output: JsonOutput = False,
) -> None:
    """Show every label of ADDRESS with its source, and the category used for tracing."""
    store = label_store(labels, no_default_labels)
    results = screen(read_targets(addresses), store, fail_on=())
    if json_output:
        typer.echo(json.dumps([result_json(r, store) for r in results], indent=2))
        return
    for result in results:
        print_result(result, store)


@app.command()
def stats(
    labels: LabelFiles = None,
    no_default_labels: NoDefaultLabels = False,
    json_output: JsonOutput = False,
) -> None:
    """Count the loaded labels per file, category and network."""
    store = label_store(labels, no_default_labels)
    numbers = store.stats()
    if json_output:
        typer.echo(json.dumps(numbers, indent=2))
        return
    typer.echo(f"{numbers['labels']} labels on {numbers['addresses']} addresses")
    for loaded in store.files:
        typer.echo(f"  {loaded.labels:6d}  {loaded.path}  ({loaded.seconds * 1000:.0f} ms)")
    for heading in ("by_category", "by_network"):
        counts = numbers[heading]
        assert isinstance(counts, dict)
        typer.echo(
            heading.replace("_", " ") + ": " + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
    typer.echo(f"sanctioned addresses (active): {numbers['sanctioned_addresses']}")
    typer.echo(f"addresses whose sources disagree: {numbers['addresses_with_conflicts']}")


def label_line(label: Label) -> str:
    parts = [f"{label.category.value:<16} {label.display_entity}"]
    if label.entity and label.name != label.entity:
        parts.append(f"- {label.name}")
    if label.designation:
        parts.append(f"- {label.designation}")
    if label.listed:
        parts.append(f"- listed {label.listed}")
    if label.delisted:
        parts.append(f"- delisted {label.delisted}")
    chain = chain_text(label)
    parts.append(f"[{chain}; confidence {label.confidence:g}; {label.date or 'undated'}]")
    return " ".join(parts) + f"\n{'':21}source: {label.source}"


def print_result(result: ScreenResult, store: LabelStore, *, status: str | None = None) -> None:
    head = f"{status:<5}" if status else ""
    typer.echo(f"{head}{result.address} ({result.network.value})")
    if not result.labels:
        typer.echo("    no labels")
        return
    for label in sorted(result.labels, key=_display_order):
        typer.echo(f"    {label_line(label)}")
    role = store.role(result.address)
    if result.conflicts:
        names = ", ".join(c.value for c in result.conflicts)
        typer.echo(
            f"    conflict: sources disagree ({names}); traced as {role.category.value}"
            if role
            else f"    conflict: sources disagree ({names})"
        )
    elif role is not None:
        typer.echo(f"    traced as: {role.category.value}")


def _display_order(label: Label) -> tuple[int, float]:
    return (CATEGORY_PRECEDENCE.index(label.category), -label.confidence)


def result_json(result: ScreenResult, store: LabelStore) -> dict[str, object]:
    role = store.role(result.address)
    return {
        "query": result.query,
        "address": result.address,
        "network": result.network.value,
        "hit": result.hit,
        "sanctioned": bool(result.sanctions),
        "traced_as": role.category.value if role else None,
        "conflicts": [c.value for c in result.conflicts],
        "labels": [label_fields(label) for label in result.labels],
    }
