"""The case's nodes and edges as the page embeds them: one array per column, row ``i`` of
every array describing the same node (or edge).

The page's script (``view.js``) builds a node's or an edge's evidence text when it is clicked,
so writing a view costs a few vectorised passes over the tables rather than Python strings per
edge. Repeated text (assets, transfer kinds, roles) is stored once and referred to by index;
edge endpoints are node indices. Amounts stay exact decimal strings of raw units: the page
scales them by string arithmetic (``amounts.js``), never through a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import polars as pl

from tracer.cases import Case
from tracer.errors import InputError
from tracer.exporters.html.model import Assets, display_name, node_extras
from tracer.exporters.legend import legend_entry

# As the reports print times; a null time is sent as null and shown as "—".
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S UTC"


def asset_columns(assets: Assets, keys: list[str]) -> dict[str, list[Any]]:
    """Per asset key, in ``keys`` order: title, unit (symbol, with an NFT's id), decimals."""
    described = [assets.describe(key) for key in keys]
    return {
        "title": [assets.title(key) for key in keys],
        "unit": [unit for _token, _symbol, unit, _decimals in described],
        "decimals": [decimals for _token, _symbol, _unit, decimals in described],
    }


def asset_keys(case: Case) -> list[str]:
    """Every asset an edge carries or a node's traced books hold, sorted."""
    books = case.nodes.select(pl.col("traced").explode().struct.field("asset").drop_nulls())
    return sorted(set(case.edges["asset"].unique().to_list()) | set(books.to_series().to_list()))


def node_columns(
    case: Case, hops: Mapping[str, int | None], asset_index: Mapping[str, int]
) -> dict[str, Any]:
    nodes = case.nodes
    ids: list[str] = nodes["id"].to_list()
    roles = sorted(set(nodes["role"].to_list()))
    extras = node_extras(case.report)
    return {
        "id": ids,
        "title": [display_name(row) for row in nodes.select("id", "entity", "labels").to_dicts()],
        "roles": [legend_entry(role).title for role in roles],
        "role": _codes(nodes["role"], roles),
        "entity": nodes["entity"].to_list(),
        "labels": nodes["labels"].to_list(),
        "sources": [_label_sources(details) for details in nodes["label_details"].to_list()],
        "hops": [hops.get(node_id) for node_id in ids],
        "first_seen": _times(nodes["first_seen"]),
        "last_seen": _times(nodes["last_seen"]),
        "seed": nodes["seed"].fill_null(False).to_list(),
        "stop": nodes["stop"].fill_null(False).to_list(),
        "traced": [_books(books, asset_index) for books in nodes["traced"].to_list()],
        "extra": [extras.get(node_id) for node_id in ids],
    }


def edge_columns(
    edges: pl.DataFrame, node_ids: list[str], asset_index: Mapping[str, int]
) -> dict[str, Any]:
    kinds = sorted(set(edges["transfer_kind"].drop_nulls().to_list()))
    return {
        "source": _node_codes(edges["source"], node_ids),
        "target": _node_codes(edges["target"], node_ids),
        "tx": edges["transaction_hash"].to_list(),
        "block": edges["block_number"].to_list(),
        "time": _times(edges["block_time"]),
        "kinds": kinds,
        "kind": _codes(edges["transfer_kind"], kinds),
        "asset": _codes(edges["asset"], list(asset_index)),
        "amount": exact_raw(edges["amount_raw"]),
        "traced": exact_raw(edges["traced_raw"]),
        "converted": exact_raw(edges["converted_raw"]),
    }


def exact_raw(column: pl.Series) -> list[str]:
    """Raw amounts as plain decimal digit strings. The tables hold them so; any other spelling
    ``int`` accepts is normalised, and anything else fails as ``int`` does."""
    plain = column.str.contains(r"^[0-9]+$").fill_null(False)
    values: list[str] = column.to_list()
    if plain.all():
        return values
    return [value if ok else str(int(value)) for value, ok in zip(values, plain, strict=True)]


def _codes(column: pl.Series, values: list[str]) -> list[int | None]:
    """Each entry's index in ``values`` (which holds every non-null entry)."""
    codes: list[int | None] = column.cast(pl.Enum(values)).to_physical().to_list()
    return codes


def _node_codes(column: pl.Series, node_ids: list[str]) -> list[int]:
    try:
        codes: list[int] = column.replace_strict(
            node_ids, range(len(node_ids)), return_dtype=pl.Int64
        ).to_list()
    except pl.exceptions.PolarsError as exc:
        raise InputError("an edge names an address that is not among the case's nodes") from exc
    return codes


def _times(column: pl.Series) -> list[str | None]:
    times: list[str | None] = column.dt.strftime(_TIME_FORMAT).to_list()
    return times


def _books(
    books: Iterable[Mapping[str, Any]] | None, asset_index: Mapping[str, int]
) -> list[list[int | str]]:
    """Traced books as ``[asset index, received, sent, held]`` raw decimal strings."""
    return [
        [
            asset_index[book["asset"]],
            str(int(book["received_raw"])),
            str(int(book["sent_raw"])),
            str(int(book["held_raw"])),
        ]
        for book in books or []
    ]


def _label_sources(details: Iterable[Mapping[str, Any]] | None) -> list[str] | None:
    """Where each label comes from, when the case recorded it (older cases lack it)."""
    lines = []
    for label in details or []:
        dated = f", dated {label['date']}" if label.get("date") else ""
        lines.append(f"{label['name']} ({label['category']}): {label['source']}{dated}")
    return lines or None
