"""The HTML case view, on a real `tracer trace` of the testbed, in Debian's headless Chromium.

The case carries an extra label file whose names, entity and source are markup (a script
element and an image with an error handler) on a traced hop wallet and on an off-ramp: the
page must show that text as text and run none of it. Counts are read from what the page
drew (one tagged SVG point per node), never from a number Python wrote.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page

from tests.conftest import Testbed
from tests.exporters.html_case import (
    HOSTILE,
    HostileCase,
    LoadedPage,
    chromium,
    click_centre,
    open_view,
    trace_hostile_case,
)
from tracer.cases import Case, load_case
from tracer.exporters.html import case_view_data, write_case_view
from tracer.exporters.html.layout import LayoutNode, layered_layout
from tracer.exporters.html.model import Assets
from tracer.exporters.html.page import DATA_ELEMENT_ID, embed_json, render_page
from tracer.exporters.html.sankey import sankey_flows


@pytest.fixture(scope="module")
def traced(testbed_small: Testbed, tmp_path_factory: pytest.TempPathFactory) -> HostileCase:
    return trace_hostile_case(testbed_small, tmp_path_factory.mktemp("html") / "case")


@pytest.fixture(scope="module")
def case(traced: HostileCase) -> Case:
    return load_case(traced.directory)


@pytest.fixture(scope="module")
def view(case: Case, traced: HostileCase) -> Path:
    return write_case_view(case, traced.directory / "view.html")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def loaded(browser: Browser, view: Path) -> Iterator[LoadedPage]:
    opened = open_view(browser, view)
    yield opened
    opened.page.close()


def panel_entries(page: Page) -> dict[str, list[str]]:
    """The evidence panel as key → its values (a list value gives several)."""
    pairs = page.eval_on_selector_all(
        "#panel-body dt",
        "dts => dts.map(dt => [dt.textContent,"
        " [...dt.nextElementSibling.querySelectorAll('li')].map(li => li.textContent).concat("
        " dt.nextElementSibling.querySelector('li') ? [] : [dt.nextElementSibling.textContent])])",
    )
    found: dict[str, list[str]] = defaultdict(list)
    for key, values in pairs:
        found[key].extend(values)
    return found


def test_loads_offline_without_errors_and_draws_every_node_and_edge(
    loaded: LoadedPage, case: Case
) -> None:
    page = loaded.page
    assert loaded.errors == []
    # The file itself, and nothing else: no CDN, no font, no beacon.
    assert [url for url in loaded.requests if not url.startswith("file://")] == []
    graph = page.locator("#graph")
    assert graph.get_attribute("data-rendered-nodes") == str(case.nodes.height)
    assert graph.get_attribute("data-rendered-edges") == str(case.edges.height)
    drawn = page.eval_on_selector_all(
        "[data-node-id]", "points => points.map(p => p.getAttribute('data-node-id'))"
    )
    assert sorted(drawn) == sorted(case.nodes["id"].to_list())
    assert page.locator("#cap-note").is_hidden()


def test_markup_in_labels_is_shown_as_text_and_never_runs(
    loaded: LoadedPage, traced: HostileCase
) -> None:
    page = loaded.page
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0
    click_centre(page, f'[data-node-id="{traced.hop}"]')
    entries = panel_entries(page)
    assert entries["Labels"] == [HOSTILE]
    assert entries["Entity"] == [HOSTILE]
    # Plotly's hover label (it renders some HTML) under the pointer shows the same text.
    assert HOSTILE in (page.locator("#graph .hoverlayer .hovertext").text_content() or "")
    # The off-ramp with a hostile entity: in the table, on the graph and in the Sankey.
    rows = page.eval_on_selector_all(
        "#offramps tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert {row[0] for row in rows if row[1] == traced.deposit} == {HOSTILE}
    graph_text = page.locator("#graph .textpoint").all_text_contents()
    assert any(text.startswith(HOSTILE) for text in graph_text)
    sankey_text = page.locator("#sankey .node-label").all_text_contents()
    assert any(HOSTILE in text for text in sankey_text)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0
    assert page.locator("main a, main b").count() == 0  # Plotly drew no tag from a label
    assert loaded.errors == []


def test_clicking_an_offramp_shows_the_reports_confidence_and_evidence(
    loaded: LoadedPage, case: Case
) -> None:
    page = loaded.page
    entry = next(o for o in case.report["offramps"] if o["token_address"].startswith("0xeeee"))
    click_centre(page, f'[data-node-id="{entry["address"]}"]')
    entries = panel_entries(page)
    assert entries["Address"] == [entry["address"]]
    assert entries["Off-ramp confidence"] == [format(entry["confidence"], ".4g")]
    assert entries["Off-ramp evidence"] == entry["evidence"]
    assert entries["Off-ramp amount"] == [entry["amount"]]


def test_clicking_an_edge_shows_the_transfer_with_exact_amounts(
    loaded: LoadedPage, case: Case
) -> None:
    page = loaded.page
    # The native transfer whose arrow lies farthest from any node: a click there is unambiguous.
    native = set(case.edges.filter(case.edges["transfer_kind"] == "native")["id"].to_list())
    separation = page.evaluate(
        """() => {
          const centre = e => { const b = e.getBoundingClientRect();
                                return [b.x + b.width / 2, b.y + b.height / 2]; };
          const nodes = [...document.querySelectorAll('[data-node-id]')].map(centre);
          return [...document.querySelectorAll('[data-edge-id]')].map(e => {
            const [x, y] = centre(e);
            return [e.dataset.edgeId, Math.min(...nodes.map(([a, b]) => Math.hypot(a - x, b - y)))];
          });
        }"""
    )
    edge_id = max((gap, edge_id) for edge_id, gap in separation if edge_id in native)[1]
    edge = case.edges.filter(case.edges["id"] == edge_id).row(0, named=True)
    click_centre(page, f'[data-edge-id="{edge_id}"]')
    entries = panel_entries(page)
    assert page.locator("#panel-title").text_content() == "Transfer"
    assert entries["Transaction"] == [edge["transaction_hash"]]
    assert entries["Block"] == [str(edge["block_number"])]
    traced = Decimal(edge["traced_raw"]).scaleb(-18)
    assert Decimal(entries["Traced"][0].removesuffix(" ETH")) == traced  # exact, not a float


def test_sankey_has_one_diagram_per_asset_and_switches(loaded: LoadedPage, case: Case) -> None:
    page = loaded.page
    options = page.locator("#asset option").all_text_contents()
    assets = {row["asset"] for row in case.edges.iter_rows(named=True) if int(row["traced_raw"])}
    assert len(options) == len(assets) == 2
    assert options[0] == "ETH"
    page.select_option("#asset", index=1)
    page.wait_for_function(
        "document.querySelector('#sankey .gtitle').textContent.includes('token')"
    )
    assert page.locator("#sankey .sankey-node").count() > 2
    assert loaded.errors == []


def test_screenshot_is_a_picture(loaded: LoadedPage) -> None:
    shot = loaded.page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.width >= 1000 and image.height >= 1000
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # a drawing, not one flat colour


def test_large_graph_is_capped_with_a_note(browser: Browser, case: Case, tmp_path: Path) -> None:
    data = case_view_data(case, max_drawn_nodes=8)
    seeds_and_offramps = {
        row["id"] for row in case.nodes.iter_rows(named=True) if row["seed"] or row["offramp"]
    }
    path = tmp_path / "capped.html"
    path.write_text(render_page(data), encoding="utf-8")
    opened = open_view(browser, path)
    try:
        page = opened.page
        assert page.locator("#graph").get_attribute("data-rendered-nodes") == "8"
        drawn = set(
            page.eval_on_selector_all("[data-node-id]", "p => p.map(x => x.dataset.nodeId)")
        )
        assert seeds_and_offramps <= drawn
        assert (
            page.locator("#cap-note")
            .text_content()
            .startswith(  # type: ignore[union-attr]
                f"The graph draws 8 of {case.nodes.height} addresses"
            )
        )
        assert opened.errors == []
    finally:
        opened.page.close()


def test_sankey_sums_are_exact_and_match_the_reported_offramps(case: Case) -> None:
    layers = {row["id"]: 1 for row in case.nodes.iter_rows(named=True)}
    flows = {flow["asset"]: flow for flow in sankey_flows(
        case.nodes, case.edges, Assets.of_case(case), layers
    )}  # fmt: skip
    assert case.report["offramps"]
    for offramp in case.report["offramps"]:
        flow = flows[offramp["token_address"]]
        target = flow["keys"].index(f"node:{offramp['address']}")
        into = [int(raw) for t, raw in zip(flow["target"], flow["raw"], strict=True) if t == target]
        assert sum(into) == int(offramp["amount_raw"]), offramp["address"]


def test_embedded_json_cannot_end_the_script_element() -> None:
    hostile = {"a": "</script><script>alert(1)</script>", "b": "x\u2028y\u2029&<>"}
    embedded = embed_json(hostile)
    assert not re.search("[<>&\u2028\u2029]", embedded)
    assert json.loads(embedded) == hostile


def test_page_policy_forbids_network_and_unlisted_scripts(case: Case) -> None:
    page = render_page(case_view_data(case))
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    directives = dict(part.strip().split(" ", 1) for part in policy.group(1).split(";"))
    assert directives["default-src"] == "'none'"
    sources = directives["script-src"].split()
    assert len(sources) == 2 and all(source.startswith("'sha256-") for source in sources)
    assert "connect-src" not in directives  # falls back to 'none'
    # The label text exists in the file only in escaped JSON.
    data = page.split(f'id="{DATA_ELEMENT_ID}">', 1)[1].split("</script>", 1)[0]
    assert HOSTILE not in page
    details = json.loads(data)["nodes"]
    hostile = [row["id"] for row in case.nodes.iter_rows(named=True) if HOSTILE in row["labels"]]
    assert len(hostile) == 2
    for node_id in hostile:
        assert ["Labels", [HOSTILE]] in details[node_id]


def test_layout_runs_from_seeds_to_offramps_and_is_deterministic(case: Case) -> None:
    nodes = [
        LayoutNode(row["id"], row["seed"], row["offramp"] is not None, row["first_seen"])
        for row in case.nodes.iter_rows(named=True)
    ]
    edges = list(case.edges.select("source", "target").iter_rows())
    positions = layered_layout(nodes, edges)
    assert positions == layered_layout(list(reversed(nodes)), list(reversed(edges)))
    far = max(position.layer for position in positions.values())
    for node in nodes:
        if node.seed:
            assert positions[node.id].layer == 0
        elif node.offramp:
            assert positions[node.id].layer == far
    for source, target in edges:
        if positions[target].layer != far:
            assert positions[target].layer <= positions[source].layer + 1
    assert len({(p.x, p.y) for p in positions.values()}) == len(positions)
