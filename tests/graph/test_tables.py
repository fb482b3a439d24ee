"""The flow graph as nodes/edges tables: a lossless round trip, roles from the legend."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import Testbed
from tests.e2e.test_offramps_e2e import run_trace
from tests.heuristics.test_taint import PEEL
from tests.heuristics.test_taint_cases import NAMES, labels, table
from tracer.cases import load_case
from tracer.errors import InputError
from tracer.graph.build import build_flow_graph
from tracer.graph.tables import graph_from_tables, graph_tables, token_info_of
from tracer.heuristics.taint import trace_taint
from tracer.labels.model import Category
from tracer.types import NATIVE_TOKEN

# The least report load_case accepts: what the renderers index, all empty.
EMPTY_REPORT = {"format_version": 1, "seeds": [], "offramps": [], "mixer_links": [], "findings": []}


def test_peel_chain_tables_round_trip_to_the_same_graph() -> None:
    transfers = table(PEEL)
    store = labels(exchange=Category.EXCHANGE)
    graph = build_flow_graph(
        transfers, trace_taint(transfers, [NAMES["seed"]], "haircut", store), store
    )
    nodes, edges = graph_tables(graph, token_info=token_info_of(transfers))
    assert nodes.height == graph.number_of_nodes() == 5
    assert edges.height == graph.number_of_edges() == 6
    roles = dict(zip(nodes["id"], nodes["role"], strict=True))
    assert roles[NAMES["seed"]] == "seed"
    assert roles[NAMES["exchange"]] == "exchange"
    assert roles[NAMES["a"]] == "unlabelled"
    exchange_books = nodes.filter(pl.col("id") == NAMES["exchange"])["traced"].to_list()[0]
    assert exchange_books == [
        {"asset": NATIVE_TOKEN, "received_raw": "1000", "sent_raw": "0", "held_raw": "1000"}
    ]
    assert edges["order"].to_list() == sorted(edges["order"].to_list())
    details = dict(zip(nodes["id"], nodes["label_details"].to_list(), strict=True))
    assert details[NAMES["exchange"]] == [
        {"name": "exchange", "category": "exchange", "source": "test", "date": None}
    ]
    assert details[NAMES["a"]] == []

    again = graph_from_tables(nodes, edges)
    assert sorted(again.nodes) == sorted(graph.nodes)
    for address in graph.nodes:
        assert again.nodes[address]["traced"] == graph.nodes[address]["traced"]
        assert again.nodes[address]["category"] == graph.nodes[address]["category"]
    original = {key: data for _s, _t, key, data in graph.edges(keys=True, data=True)}
    for _source, _target, key, data in again.edges(keys=True, data=True):
        for name in ("tx_hash", "amount_raw", "traced_raw", "converted_raw", "order", "asset"):
            assert data[name] == original[key][name], (key, name)


def test_trace_writes_tables_that_agree_with_the_report(
    testbed_small: Testbed, tmp_path: Path
) -> None:
    result = run_trace(testbed_small, tmp_path / "case")
    assert result.returncode == 0, result.stderr
    case = load_case(tmp_path / "case")
    truth = json.loads((testbed_small.out_dir / "ground_truth.json").read_text())
    assert set(case.nodes["id"]) >= set(truth["seeds"])
    assert case.edges["id"].n_unique() == case.edges.height
    # Every off-ramp's traced amount is the sum of the traced edges arriving there.
    arriving: dict[tuple[str, str], int] = defaultdict(int)
    for target, token, traced in case.edges.select(
        "target", "token_address", "traced_raw"
    ).iter_rows():
        arriving[(target, token)] += int(traced)
    assert case.report["offramps"]
    for offramp in case.report["offramps"]:
        key = (offramp["address"], offramp["token_address"])
        assert arriving[key] == int(offramp["amount_raw"]), key
        role = case.nodes.filter(pl.col("id") == offramp["address"])["role"].item()
        assert role in {"exchange", "exchange_deposit", "deposit_detected", "otc", "bridge"}
    graph = case.graph()
    assert graph.number_of_edges() == case.edges.height


def test_a_case_traced_before_label_details_loads_with_none(tmp_path: Path) -> None:
    transfers = table(PEEL)
    store = labels(exchange=Category.EXCHANGE)
    graph = build_flow_graph(
        transfers, trace_taint(transfers, [NAMES["seed"]], "haircut", store), store
    )
    nodes, edges = graph_tables(graph, token_info=token_info_of(transfers))
    nodes.drop("label_details").write_parquet(tmp_path / "nodes.parquet")
    edges.write_parquet(tmp_path / "edges.parquet")
    (tmp_path / "report.json").write_text(json.dumps(EMPTY_REPORT))
    loaded = load_case(tmp_path).nodes
    assert loaded["label_details"].to_list() == [[]] * nodes.height
    assert loaded.schema["label_details"] == nodes.schema["label_details"]


def test_load_case_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a case directory"):
        load_case(tmp_path / "missing")
    with pytest.raises(InputError, match=r"no report\.json here"):
        load_case(tmp_path)
    (tmp_path / "report.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a tracer report"):
        load_case(tmp_path)
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(InputError, match="no format_version"):
        load_case(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({**EMPTY_REPORT, "offramps": [{}]}))
    with pytest.raises(InputError, match=r"offramps\[0\]\.address: missing"):
        load_case(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps(EMPTY_REPORT))
    with pytest.raises(InputError, match=r"no nodes\.parquet"):
        load_case(tmp_path)
