"""The export view: exact aggregation and the off-ramp path scope."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set
import polars as pl
import pytest

from tests.exporters.conftest import BELL, BIG, DEPOSIT, HOP, HOSTILE, OTHER, SEED, TOKEN
from tracer.cases import Case
from tracer.errors import UnknownNameError
from tracer.exporters.registry import FORMATS, export_case
from tracer.exporters.view import Scope, build_view
from tracer.graph.paths import seed_paths
from tracer.types import NATIVE_TOKEN


def test_aggregation_sums_uint256_exactly(hand_case: Case) -> None:
    view = build_view(hand_case, aggregate=True)
    rows = {row["id"]: row for row in view.edges.iter_rows(named=True)}
    assert set(rows) == {
        f"{SEED}>{HOP}>{NATIVE_TOKEN}",
        f"{HOP}>{DEPOSIT}>{NATIVE_TOKEN}",
        f"{HOP}>{OTHER}>{TOKEN}",
    }
    pair = rows[f"{SEED}>{HOP}>{NATIVE_TOKEN}"]
    assert pair["amount_raw"] == pair["traced_raw"] == str(2 * BIG + 3)  # 2361183241434822606851
    assert pair["traced_amount"] == "2361.183241434822606851"
    assert pair["label"] == "2361.183241434822606851 ETH"
    assert pair["transfers"] == 2
    assert pair["transfer_kind"] == "native"
    assert pair["first_time"] == datetime(2024, 5, 1, 12, 1, tzinfo=UTC)
    assert pair["last_time"] == datetime(2024, 5, 1, 12, 2, tzinfo=UTC)
    assert (pair["first_block"], pair["last_block"]) == (101, 102)
    assert pair["tx_hashes"] == ["0x" + f"{1:064x}", "0x" + f"{2:064x}"]
    token = rows[f"{HOP}>{OTHER}>{TOKEN}"]
    assert (token["traced_amount"], token["label"], token["transfers"]) == ("5", "5 TKN", 1)
    assert view.transfer_ids == frozenset(hand_case.edges["id"])


def test_per_transfer_keeps_every_transfer(hand_case: Case) -> None:
    view = build_view(hand_case)
    assert view.edges["id"].to_list() == hand_case.edges.sort("order")["id"].to_list()
    assert view.edges["transfers"].to_list() == [1, 1, 1, 1]
    assert view.edges["amount_raw"].to_list() == [str(BIG + 1), str(BIG + 2), str(BIG), "5000000"]


def test_offramp_paths_keep_only_the_path_to_the_offramp(hand_case: Case) -> None:
    view = build_view(hand_case, Scope.OFFRAMP_PATHS)
    first, _second, to_deposit, _to_other = hand_case.edges.sort("order")["id"].to_list()
    # The foremost path: the first seed → hop transfer, then hop → deposit; not hop → other.
    assert view.edges["id"].to_list() == [first, to_deposit]
    assert view.nodes["id"].to_list() == sorted([SEED, HOP, DEPOSIT])
    assert view.transfer_ids == {first, to_deposit}


def test_offramp_paths_on_the_traced_case(traced_case: Case) -> None:
    view = build_view(traced_case, Scope.OFFRAMP_PATHS)
    offramps = {entry["address"] for entry in traced_case.report["offramps"]}
    assert offramps, "the testbed's trace reaches off-ramps"
    paths = seed_paths(traced_case.graph(), traced_case.report["seeds"], offramps)
    on_paths = {key for path in paths.values() for key in path.edge_keys}
    assert set(view.edges["id"]) == on_paths
    assert offramps <= set(view.nodes["id"])
    assert view.edges.height < build_view(traced_case).edges.height
    assert set(view.edges["source"]) | set(view.edges["target"]) == set(view.nodes["id"])


def test_node_display_columns_come_from_the_legend(hand_case: Case) -> None:
    nodes = {row["id"]: row for row in build_view(hand_case).nodes.iter_rows(named=True)}
    assert (nodes[SEED]["role"], nodes[SEED]["colour"], nodes[SEED]["shape"]) == (
        "seed", "#d55e00", "star",
    )  # fmt: skip
    assert nodes[DEPOSIT]["label"] == "Exchange A"
    assert nodes[OTHER]["label"] == BELL  # the entity when there is one
    assert nodes[HOP]["label"] == HOSTILE
    assert nodes[HOP]["first_traced"] == datetime(2024, 5, 1, 12, 1, tzinfo=UTC)


def test_unknown_scope_suggests() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'offramp-paths'"):
        Scope.parse("offramp-path")


def test_a_case_without_offramps_exports_empty_files(hand_case: Case, tmp_path: Path) -> None:
    report = {**hand_case.report, "offramps": []}
    case = Case(hand_case.directory, report, hand_case.nodes, hand_case.edges)
    view = build_view(case, Scope.OFFRAMP_PATHS, aggregate=True)
    assert view.nodes.is_empty() and view.edges.is_empty() and view.legend == []
    written = export_case(case, list(FORMATS.values()), tmp_path, scope=Scope.OFFRAMP_PATHS)
    assert all(path.is_file() for path in written)
    graph = nx.read_graphml(tmp_path / "graph.graphml")
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (0, 0)
    assert pl.read_parquet(tmp_path / "parquet" / "edges.parquet").is_empty()
