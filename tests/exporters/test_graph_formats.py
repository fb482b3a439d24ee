"""GraphML, GEXF, Cytoscape.js and DOT: read back by networkx, jsonschema and Graphviz itself.

Each test runs on the real traced testbed case and on the hand-made one (hostile label text,
a uint256 above 2**64), per transfer and aggregated: the file must give back exactly the view's
node ids, edge ids and attribute values with their types.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import networkx as nx  # type: ignore[import-untyped]  # no stubs in the pinned set
import polars as pl
import pytest

from tests.exporters.conftest import BIG, HOP, HOSTILE, OTHER, SECOND_LABEL
from tracer.cases import Case
from tracer.exporters.cytoscape import write_cytoscape
from tracer.exporters.dot import write_dot
from tracer.exporters.gexf import write_gexf
from tracer.exporters.graphml import write_graphml
from tracer.exporters.legend import LEGEND
from tracer.exporters.text import xml_safe
from tracer.exporters.view import (
    ExportView,
    Scope,
    attribute_rows,
    build_view,
    flat_edges,
    flat_nodes,
)

SCHEMA = json.loads((Path(__file__).parent / "cytoscape.schema.json").read_text())


@pytest.fixture(params=["traced_case", "hand_case"])
def case(request: pytest.FixtureRequest) -> Case:
    found: Case = request.getfixturevalue(request.param)
    return found


@pytest.fixture(params=[False, True], ids=["per-transfer", "aggregated"])
def view(case: Case, request: pytest.FixtureRequest) -> ExportView:
    return build_view(case, Scope.TRACED, aggregate=request.param)


def expected(view: ExportView) -> tuple[dict[str, Any], dict[str, Any]]:
    """(node id → attributes, edge id → attributes) as every flat format must carry them."""
    nodes = {row.pop("id"): row for row in attribute_rows(xml_safe(flat_nodes(view)))}
    edges = {row["id"]: row for row in attribute_rows(xml_safe(flat_edges(view)))}
    return nodes, edges


def test_graphml_round_trip(view: ExportView, tmp_path: Path) -> None:
    path = tmp_path / "g.graphml"
    assert write_graphml(view, path) == [path]
    graph = nx.read_graphml(path, force_multigraph=True)
    nodes, edges = expected(view)
    assert dict(graph.nodes(data=True)) == nodes  # ids, values and types (int, bool, str)
    read = {key: (u, v, data) for u, v, key, data in graph.edges(keys=True, data=True)}
    assert set(read) == set(edges)
    for key, (source, target, data) in read.items():
        want = dict(edges[key])
        assert (source, target) == (want.pop("source"), want.pop("target"))
        want.pop("id")
        assert data == want
    assert json.loads(graph.graph["legend"]) == view.legend_json()
    assert graph.graph["scope"] == "traced"


def test_gexf_round_trip_with_time_and_legend(view: ExportView, tmp_path: Path) -> None:
    path = tmp_path / "g.gexf"
    write_gexf(view, path)
    graph = nx.read_gexf(path)
    nodes, edges = expected(view)
    assert graph.graph["mode"] == "dynamic"  # Gephi's timeline
    assert set(graph.nodes) == set(nodes)
    for node, data in graph.nodes(data=True):
        want = nodes[node]
        viz = data.pop("viz")
        colour = LEGEND[want["role"]].colour
        assert viz["color"] == {
            "r": int(colour[1:3], 16), "g": int(colour[3:5], 16), "b": int(colour[5:7], 16),
            "a": 1.0,
        }  # fmt: skip
        assert data.pop("start") == want["first_traced"]
        assert data == want
    # GEXF keeps the edge id as the edge's id (networkx reads a simple graph without parallel
    # edges as a DiGraph, so the id is taken from the data, where it is in both cases).
    read = {data["id"]: (u, v, data) for u, v, data in graph.edges(data=True)}
    assert len(read) == graph.number_of_edges()
    assert set(read) == set(edges)
    for key, (source, target, data) in read.items():
        want = dict(edges[key])
        assert (source, target) == (want.pop("source"), want.pop("target"))
        assert data.pop("start") == want["first_time"]
        assert data == want
    meta = ElementTree.parse(path).getroot()[0]  # noqa: S314  # our own file
    description = meta.find("{http://www.gexf.net/1.2draft}description")
    assert description is not None and description.text is not None
    assert json.dumps(view.legend_json()) in description.text


def test_cytoscape_validates_and_keeps_native_types(view: ExportView, tmp_path: Path) -> None:
    path = tmp_path / "g.cyjs"
    write_cytoscape(view, path)
    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(document, SCHEMA)
    nodes = {n["data"]["id"]: n["data"] for n in document["elements"]["nodes"]}
    edges = {e["data"]["id"]: e["data"] for e in document["elements"]["edges"]}
    assert list(nodes) == view.nodes["id"].to_list()
    assert list(edges) == view.edges["id"].to_list()
    assert all(e["source"] in nodes and e["target"] in nodes for e in edges.values())
    for row in view.nodes.iter_rows(named=True):
        data = nodes[row["id"]]
        assert data["labels"] == row["labels"]  # a list stays a list
        assert data["traced"] == row["traced"]  # exact strings per asset
        assert data["seed"] is row["seed"]
    for row in view.edges.iter_rows(named=True):
        assert edges[row["id"]]["traced_raw"] == row["traced_raw"]
        assert edges[row["id"]]["tx_hashes"] == row["tx_hashes"]
    styled = {s["selector"]: s["style"] for s in document["style"]}
    for entry in view.legend:
        style = styled[f'node[role = "{entry.role}"]']
        assert style["background-color"] == entry.colour
    assert document["data"]["legend"] == view.legend_json()


def _render(path: Path) -> ElementTree.Element:
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz `dot` is not installed (make test installs Debian's graphviz)")
    svg = subprocess.run([dot, "-Tsvg", str(path)], capture_output=True, check=True, timeout=60)
    assert svg.stdout.strip()
    return ElementTree.fromstring(svg.stdout)  # noqa: S314  # Graphviz's output for our file


SVG = "{http://www.w3.org/2000/svg}"


def test_dot_renders_with_every_node_and_edge(view: ExportView, tmp_path: Path) -> None:
    path = tmp_path / "g.dot"
    write_dot(view, path)
    root = _render(path)
    groups = list(root.iter(f"{SVG}g"))
    node_ids = [g.get("id", "") for g in groups if g.get("class") == "node"]
    edge_ids = [g.get("id", "") for g in groups if g.get("class") == "edge"]
    assert sorted(node_ids) == sorted(view.nodes["id"].to_list())
    assert sorted(edge_ids) == sorted(view.edges["id"].to_list())
    fills = {
        g.get("id"): next(
            p.get("fill") for p in g.iter() if p.tag in {f"{SVG}polygon", f"{SVG}ellipse"}
        )
        for g in groups
        if g.get("class") == "node"
    }
    for row in view.nodes.iter_rows(named=True):
        assert fills[row["id"]] == row["colour"]


def test_hostile_label_survives_every_graph_format_as_text(hand_case: Case, tmp_path: Path) -> None:
    view = build_view(hand_case)
    write_graphml(view, tmp_path / "g.graphml")
    write_gexf(view, tmp_path / "g.gexf")
    write_cytoscape(view, tmp_path / "g.cyjs")
    write_dot(view, tmp_path / "g.dot")
    graphml = nx.read_graphml(tmp_path / "g.graphml")
    assert graphml.nodes[HOP]["entity"] == HOSTILE
    assert json.loads(graphml.nodes[HOP]["labels"]) == [HOSTILE, SECOND_LABEL]  # JSON escapes
    details = json.loads(graphml.nodes[HOP]["label_details"])
    assert [(d["name"], d["source"]) for d in details] == [
        (HOSTILE, HOSTILE),
        (SECOND_LABEL, "list"),
    ]
    # XML 1.0 cannot carry U+0007 at all: it becomes U+FFFD instead of breaking the file.
    assert graphml.nodes[OTHER]["entity"] == "Desk \ufffd 7"
    assert nx.read_gexf(tmp_path / "g.gexf").nodes[OTHER]["label"] == "Desk \ufffd 7"
    assert nx.read_gexf(tmp_path / "g.gexf").nodes[HOP]["label"] == HOSTILE
    cytoscape = json.loads((tmp_path / "g.cyjs").read_text(encoding="utf-8"))
    hop = next(n["data"] for n in cytoscape["elements"]["nodes"] if n["data"]["id"] == HOP)
    assert hop["labels"] == [HOSTILE, SECOND_LABEL]
    # Graphviz draws the label as text, line by line, exactly as written; no markup survives.
    root = _render(tmp_path / "g.dot")
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    hop_group = next(g for g in root.iter(f"{SVG}g") if g.get("id") == HOP)
    lines = [t.text for t in hop_group.iter(f"{SVG}text")]
    assert lines == [*HOSTILE.split("\n"), HOP]


def test_big_amounts_stay_exact_strings(hand_case: Case, tmp_path: Path) -> None:
    view = build_view(hand_case, aggregate=True)
    write_graphml(view, tmp_path / "g.graphml")
    write_gexf(view, tmp_path / "g.gexf")
    total = str(2 * BIG + 3)
    for graph in (nx.read_graphml(tmp_path / "g.graphml"), nx.read_gexf(tmp_path / "g.gexf")):
        amounts = {data["amount_raw"] for _u, _v, data in graph.edges(data=True)}
        assert total in amounts


WHITESPACE = "tab\there\r\nline\rend ]]> &amp; \"q\" 'a' <x/>  "


def test_whitespace_and_markup_survive_the_streamed_xml(hand_case: Case, tmp_path: Path) -> None:
    # XML parsers turn a raw \r into \n and, inside attribute values, tabs and line breaks into
    # spaces: the writers must keep them as character references (GEXF puts labels and values
    # in attributes, GraphML in element text).
    nodes = hand_case.nodes.with_columns(
        entity=pl.when(pl.col("id") == HOP).then(pl.lit(WHITESPACE)).otherwise("entity")
    )
    view = build_view(Case(hand_case.directory, hand_case.report, nodes, hand_case.edges))
    write_graphml(view, tmp_path / "g.graphml")
    write_gexf(view, tmp_path / "g.gexf")
    assert nx.read_graphml(tmp_path / "g.graphml").nodes[HOP]["entity"] == WHITESPACE
    gexf = nx.read_gexf(tmp_path / "g.gexf").nodes[HOP]
    assert gexf["entity"] == WHITESPACE
    assert gexf["label"] == WHITESPACE  # the view's label is the entity
