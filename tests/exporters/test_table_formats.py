"""Neo4j, Maltego, CSV and Parquet: headers by the importers' rules, values read back exactly."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from tests.exporters.conftest import BIG, HOP, HOSTILE, SECOND_LABEL
from tracer.cases import Case
from tracer.exporters.maltego import (
    CRYPTO_ADDRESS,
    ENTITY_COLUMNS,
    ETH_ADDRESS,
    LINK_COLUMNS,
    write_maltego,
)
from tracer.exporters.neo4j import ARRAY_DELIMITER, write_neo4j
from tracer.exporters.tables import view_transfers, write_csv_tables, write_parquet_tables
from tracer.exporters.view import build_view, flat_edges, flat_nodes, flatten
from tracer.graph.tables import NODE_SCHEMA
from tracer.transfers.schema import TRANSFER_SCHEMA

# neo4j-admin database import header rules (Operations Manual, "CSV header format"): a field
# is `name:type`, `name` (a string property) or a special field `:ID`, `:LABEL`, `:START_ID`,
# `:END_ID`, `:TYPE`, `:IGNORE`; ID fields may name an ID space in parentheses; a property
# type may end in `[]` for an array.
FIELD = re.compile(
    r"^(?P<name>[^:]*)"
    r"(?::(?P<kind>[A-Za-z_]+)(?:\((?P<group>[^()]+)\))?(?P<array>\[\])?)?$"
)
PROPERTY_TYPES = {
    "int", "long", "float", "double", "boolean", "byte", "short", "char", "string", "point",
    "date", "localtime", "time", "localdatetime", "datetime", "duration",
}  # fmt: skip
SPECIAL = {"ID", "LABEL", "START_ID", "END_ID", "TYPE", "IGNORE"}


def parse_header(header: list[str]) -> list[tuple[str, str | None, str | None, bool]]:
    fields = []
    for field in header:
        match = FIELD.match(field)
        assert match, f"not a neo4j-admin header field: {field!r}"
        name, kind, group, array = (
            match["name"],
            match["kind"],
            match["group"],
            bool(match["array"]),
        )
        if kind in SPECIAL:
            assert not array, field
            assert group is None or kind in {"ID", "START_ID", "END_ID"}, field
            assert name == "" or kind == "ID", f"{field}: only :ID keeps a property name"
        else:
            assert kind is None or kind in PROPERTY_TYPES, f"{field}: unknown type {kind}"
            assert group is None and name, field
        fields.append((name, kind, group, array))
    names = [name for name, kind, _g, _a in fields if name]
    assert len(names) == len(set(names)), "duplicate property names"
    return fields


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(params=["traced_case", "hand_case"])
def case(request: pytest.FixtureRequest) -> Case:
    found: Case = request.getfixturevalue(request.param)
    return found


@pytest.mark.parametrize("aggregate", [False, True], ids=["per-transfer", "aggregated"])
def test_neo4j_headers_follow_neo4j_admin_and_values_read_back(
    case: Case, aggregate: bool, tmp_path: Path
) -> None:
    view = build_view(case, aggregate=aggregate)
    written = write_neo4j(view, tmp_path)
    assert {p.name for p in written} == {"nodes.csv", "transfers.csv", "load.cypher", "style.grass"}
    node_header, nodes = read_csv(tmp_path / "nodes.csv")
    edge_header, edges = read_csv(tmp_path / "transfers.csv")
    node_fields, edge_fields = parse_header(node_header), parse_header(edge_header)
    kinds = [kind for _n, kind, _g, _a in node_fields]
    assert kinds.count("ID") == 1 and kinds.count("LABEL") == 1
    assert not {"START_ID", "END_ID", "TYPE"} & set(kinds)
    id_group = next(g for _n, k, g, _a in node_fields if k == "ID")
    edge_kinds = {kind: group for _n, kind, group, _a in edge_fields}
    assert [k for _n, k, _g, _a in edge_fields].count("START_ID") == 1
    assert edge_kinds["START_ID"] == edge_kinds["END_ID"] == id_group
    assert "TYPE" in edge_kinds and "ID" not in edge_kinds
    # Values in each typed column parse as that type.
    for header, fields, rows in (
        (node_header, node_fields, nodes),
        (edge_header, edge_fields, edges),
    ):
        for column, (_name, kind, _group, array) in zip(header, fields, strict=True):
            values = [row[column] for row in rows if row[column] != "" and not array]
            if kind == "boolean":
                assert set(values) <= {"true", "false"}, column
            elif kind == "long":
                assert all(re.fullmatch(r"-?[0-9]+", value) for value in values), column
            elif kind == "datetime":
                assert all(datetime.fromisoformat(value).tzinfo for value in values), column
    assert [row[node_header[0]] for row in nodes] == view.nodes["id"].to_list()
    assert [row["id"] for row in edges] == view.edges["id"].to_list()
    ids = {row[node_header[0]] for row in nodes}
    assert all(row[":START_ID(Address)"] in ids and row[":END_ID(Address)"] in ids for row in edges)
    for row, want in zip(nodes, view.nodes.iter_rows(named=True), strict=True):
        labels = row["labels:string[]"].split(ARRAY_DELIMITER) if row["labels:string[]"] else []
        assert labels == want["labels"]
        assert json.loads(row["label_details"]) == want["label_details"]
        assert row[":LABEL"].split(ARRAY_DELIMITER)[0] == "Address"
    for row, want in zip(edges, view.edges.iter_rows(named=True), strict=True):
        assert row["traced_raw"] == want["traced_raw"]
        assert row["tx_hashes:string[]"].split(ARRAY_DELIMITER) == want["tx_hashes"]
    cypher = (tmp_path / "load.cypher").read_text()
    for column, (_name, kind, _group, _array) in zip(
        node_header + edge_header, node_fields + edge_fields, strict=True
    ):
        if kind not in SPECIAL:
            assert f"`{column}`" in cypher or f"row.{column}" in cypher, column
    assert "neo4j-admin database import full" in cypher and "LOAD CSV WITH HEADERS" in cypher
    for entry in view.legend:
        assert entry.colour in (tmp_path / "style.grass").read_text()


def test_maltego_tables(case: Case, tmp_path: Path) -> None:
    view = build_view(case, aggregate=True)
    write_maltego(view, tmp_path)
    entity_header, entities = read_csv(tmp_path / "entities.csv")
    link_header, links = read_csv(tmp_path / "links.csv")
    assert tuple(entity_header) == ENTITY_COLUMNS
    assert tuple(link_header) == LINK_COLUMNS
    kind = ETH_ADDRESS if view.chain_id == 1 else CRYPTO_ADDRESS
    assert {row["entity_type"] for row in entities} == {kind}
    assert [row["address"] for row in entities] == view.nodes["id"].to_list()
    assert [json.loads(row["label_details"]) for row in entities] == view.nodes[
        "label_details"
    ].to_list()
    addresses = {row["address"] for row in entities}
    assert all(row["from_address"] in addresses and row["to_address"] in addresses for row in links)
    assert [row["edge_id"] for row in links] == view.edges["id"].to_list()
    assert [row["link_label"] for row in links] == view.edges["label"].to_list()
    assert [row["traced_raw"] for row in links] == view.edges["traced_raw"].to_list()
    _header, legend = read_csv(tmp_path / "legend.csv")
    assert legend == view.legend_json()


def test_parquet_tables_equal_the_case(traced_case: Case, tmp_path: Path) -> None:
    view = build_view(traced_case)
    write_parquet_tables(view, tmp_path)
    nodes = pl.read_parquet(tmp_path / "nodes.parquet")
    assert nodes.select(NODE_SCHEMA.names()).equals(traced_case.nodes.sort("id"))
    edges = pl.read_parquet(tmp_path / "edges.parquet")
    case_edges = traced_case.edges.sort("order")
    assert edges["id"].to_list() == case_edges["id"].to_list()
    for view_column, case_column in (
        ("source", "source"), ("target", "target"), ("amount_raw", "amount_raw"),
        ("traced_raw", "traced_raw"), ("first_time", "block_time"), ("last_block", "block_number"),
    ):  # fmt: skip
        assert edges[view_column].to_list() == case_edges[case_column].to_list(), view_column
    assert edges["tx_hashes"].to_list() == [[h] for h in case_edges["transaction_hash"]]
    transfers = pl.read_parquet(tmp_path / "transfers.parquet")
    assert transfers.schema == TRANSFER_SCHEMA
    assert transfers.height == case_edges.height  # one transfer behind each edge
    assert set(transfers["transaction_hash"]) == set(case_edges["transaction_hash"])


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.cast(pl.String())


@pytest.mark.parametrize("aggregate", [False, True], ids=["per-transfer", "aggregated"])
def test_csv_tables_read_back_as_the_flat_view(case: Case, aggregate: bool, tmp_path: Path) -> None:
    view = build_view(case, aggregate=aggregate)
    write_csv_tables(view, tmp_path)
    nodes = pl.read_csv(tmp_path / "nodes.csv", infer_schema=False)
    edges = pl.read_csv(tmp_path / "edges.csv", infer_schema=False)
    assert nodes.equals(_as_text(flat_nodes(view)))
    assert edges.equals(_as_text(flat_edges(view)))
    transfers = pl.read_csv(tmp_path / "transfers.csv", infer_schema=False)
    assert transfers.columns == TRANSFER_SCHEMA.names()
    assert transfers.equals(_as_text(flatten(view_transfers(view))))
    assert transfers.height == view.edges["transfers"].sum()


def test_hostile_label_survives_every_table_format(hand_case: Case, tmp_path: Path) -> None:
    view = build_view(hand_case)
    write_neo4j(view, tmp_path / "neo4j")
    write_maltego(view, tmp_path / "maltego")
    write_csv_tables(view, tmp_path / "csv")
    _h, neo = read_csv(tmp_path / "neo4j" / "nodes.csv")
    hop = next(row for row in neo if row["address:ID(Address)"] == HOP)
    assert hop["entity"] == HOSTILE
    assert hop["labels:string[]"].split(ARRAY_DELIMITER) == [HOSTILE, SECOND_LABEL]
    assert json.loads(hop["label_details"])[0] == {
        "name": HOSTILE,
        "category": "other",
        "source": HOSTILE,
        "date": "2024-04-30",
    }
    assert hop["traced_received_raw:string[]"] == str(2 * BIG + 3)
    _h, maltego = read_csv(tmp_path / "maltego" / "entities.csv")
    assert next(row for row in maltego if row["address"] == HOP)["label"] == HOSTILE
    _h, table = read_csv(tmp_path / "csv" / "nodes.csv")
    assert next(row for row in table if row["id"] == HOP)["entity"] == HOSTILE
