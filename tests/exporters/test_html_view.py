"""The HTML case view, on a real `tracer trace` of the testbed, in Debian's headless Chromium.

The case carries an extra label file whose names, entity and source are markup (a script
element and an image with an error handler) on a traced hop wallet and on an off-ramp: the
page must show that text as text and run none of it. Counts are read from what the page
drew (one tagged SVG point per node), never from a number Python wrote.
"""

from __future__ import annotations

import html
import io
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from graphlib import TopologicalSorter
from pathlib import Path

import polars as pl
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
from tracer.amounts import whole_units
from tracer.cases import Case, load_case
from tracer.errors import InputError
from tracer.exporters.html import case_view_data, layout_edges, write_case_view
from tracer.exporters.html.columns import exact_raw
from tracer.exporters.html.figures import sankey_figure
from tracer.exporters.html.layout import LayoutNode, Position, layered_layout
from tracer.exporters.html.model import Assets
from tracer.exporters.html.page import DATA_ELEMENT_ID, embed_json, render_page
from tracer.exporters.html.sankey import sankey_flows
from tracer.graph.tables import EDGE_SCHEMA, NODE_SCHEMA
from tracer.types import NATIVE_TOKEN


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
    loaded: LoadedPage, traced: HostileCase, case: Case
) -> None:
    page = loaded.page
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0
    click_centre(page, f'[data-node-id="{traced.hop}"]')
    entries = panel_entries(page)
    assert entries["Labels"] == [HOSTILE]
    assert entries["Entity"] == [HOSTILE]
    assert entries["Label sources"] == [f"{HOSTILE} (thief): {HOSTILE}"]  # its source file
    # Plotly's hover label (it renders some HTML) under the pointer shows the same text.
    assert HOSTILE in (page.locator("#graph .hoverlayer .hovertext").text_content() or "")
    # The arrows' hover text, written by the page: the hostile name escaped for Plotly.
    customdata, hovertext = page.evaluate(
        "() => { const arrows = document.getElementById('graph').data[1];"
        " return [arrows.customdata, arrows.hovertext]; }"
    )
    escaped = html.escape(HOSTILE, quote=False)
    touching = [
        text
        for index, text in zip(customdata, hovertext, strict=True)
        if traced.hop in (case.edges["source"][index], case.edges["target"][index])
    ]
    assert touching and all(escaped in text for text in touching)
    assert all("<" not in text.replace("<br>", "") for text in hovertext)
    assert len(hovertext) == case.edges.height  # every transfer is drawn in this case
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
    # An ETH off-ramp reached through the mixer: its confidence is the identification's times
    # the route's, and the route crossed mixer links.
    entry = next(
        o
        for o in case.report["offramps"]
        if o["token_address"].startswith("0xeeee") and o["route"]["mixer_links"]
    )
    click_centre(page, f'[data-node-id="{entry["address"]}"]')
    entries = panel_entries(page)
    assert entries["Address"] == [entry["address"]]
    # Every off-ramp entry at the address (the bridge also takes a token), each named by asset.
    at_address = [o for o in case.report["offramps"] if o["address"] == entry["address"]]
    assert {o["asset"] for o in at_address} == {"ETH", "tUSD"}
    for offramp in at_address:
        asset, route = f"({offramp['asset']})", offramp["route"]
        links = route["mixer_links"]
        crossed = f"{len(links)} mixer links on its routes" if links else "no mixer crossed"
        assert entries[f"Off-ramp confidence {asset}"] == [
            f"{format(offramp['confidence'], '.4g')} (identification times route)"
        ]
        assert entries[f"Route confidence {asset}"] == [
            f"{format(route['confidence'], '.4g')} ({crossed})"
        ]
        assert entries[f"Route mixer links {asset}"] == [
            f"deposit {link['deposit_tx']} → withdrawal {link['withdrawal_tx']}" for link in links
        ]
        assert entries[f"Off-ramp evidence {asset}"] == offramp["evidence"]
        assert entries[f"Off-ramp amount {asset}"] == [offramp["amount"]]
    # The links' transactions are the evidence that the funds crossed the mixer.
    assert len(entry["route"]["mixer_links"]) == 2
    assert {tx for link in entry["route"]["mixer_links"] for tx in link.values()} <= set(
        entry["evidence"]
    )


def test_finding_an_address_shows_its_evidence(loaded: LoadedPage, traced: HostileCase) -> None:
    page = loaded.page
    page.fill("#find", traced.hop.upper().replace("0X", "0x"))
    page.press("#find", "Enter")
    assert panel_entries(page)["Address"] == [traced.hop]
    page.fill("#find", "0x" + "0" * 40)
    page.press("#find", "Enter")
    assert page.locator("#panel-title").text_content() == "Not in this case"
    assert loaded.errors == []


def test_clicking_an_edge_shows_the_transfer_with_exact_amounts(
    loaded: LoadedPage, case: Case
) -> None:
    page = loaded.page
    # The native transfer whose arrow lies farthest from any node: a click there is unambiguous.
    kinds = case.edges["transfer_kind"].to_list()
    native = {index for index, kind in enumerate(kinds) if kind == "native"}
    separation = page.evaluate(
        """() => {
          const centre = e => { const b = e.getBoundingClientRect();
                                return [b.x + b.width / 2, b.y + b.height / 2]; };
          const nodes = [...document.querySelectorAll('[data-node-id]')].map(centre);
          return [...document.querySelectorAll('[data-edge-index]')].map(e => {
            const [x, y] = centre(e);
            return [Number(e.dataset.edgeIndex),
                    Math.min(...nodes.map(([a, b]) => Math.hypot(a - x, b - y)))];
          });
        }"""
    )
    index = max((gap, index) for index, gap in separation if index in native)[1]
    edge = case.edges.row(index, named=True)
    click_centre(page, f'[data-edge-index="{index}"]')
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
    # A token's diagram is titled "<symbol> (<token address>)"; the native asset's is "ETH".
    # (A locator, not wait_for_function: polling a function needs eval, which the CSP forbids.)
    page.locator("#sankey .gtitle", has_text="(0x").wait_for()
    assert page.locator("#sankey .sankey-node").count() > 2
    assert loaded.errors == []


def test_screenshot_is_a_picture(loaded: LoadedPage) -> None:
    shot = loaded.page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.width >= 1000 and image.height >= 1000
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # a drawing, not one flat colour


def test_large_graph_is_capped_with_a_note(browser: Browser, case: Case, tmp_path: Path) -> None:
    seeds_and_offramps = {
        row["id"] for row in case.nodes.iter_rows(named=True) if row["seed"] or row["offramp"]
    }
    # Room for every seed and off-ramp (ten since the mixer's links are followed) and two of
    # the other addresses, the nearest to the seeds.
    cap = len(seeds_and_offramps) + 2
    assert cap < case.nodes.height
    data = case_view_data(case, max_drawn_nodes=cap)
    path = tmp_path / "capped.html"
    path.write_text(render_page(data), encoding="utf-8")
    opened = open_view(browser, path)
    try:
        page = opened.page
        assert page.locator("#graph").get_attribute("data-rendered-nodes") == str(cap)
        drawn = set(
            page.eval_on_selector_all("[data-node-id]", "p => p.map(x => x.dataset.nodeId)")
        )
        assert seeds_and_offramps <= drawn
        # The others drawn are the nearest to the seeds: no address left out is nearer.
        layers = {node_id: position.layer for node_id, position in layout_of(case).items()}
        left_out = set(case.nodes["id"]) - drawn
        assert max(layers[node] for node in drawn - seeds_and_offramps) <= min(
            layers[node] for node in left_out
        )
        assert (
            page.locator("#cap-note")
            .text_content()
            .startswith(  # type: ignore[union-attr]
                f"The graph draws {cap} of {case.nodes.height} addresses"
            )
        )
        assert opened.errors == []
    finally:
        opened.page.close()


def test_sankey_sums_are_exact_and_match_the_reported_offramps(case: Case) -> None:
    # Every wallet in one band, then the view's own hop distances: a peel chain's last
    # deposit into an off-ramp it first reached at fewer hops still runs into the off-ramp.
    ones = {row["id"]: 1 for row in case.nodes.iter_rows(named=True)}
    data = case_view_data(case)
    real = dict(zip(data["nodes"]["id"], data["nodes"]["hops"], strict=True))
    assert case.report["offramps"]
    for hops in (ones, real):
        flows = {flow["asset"]: flow for flow in sankey_flows(
            case.nodes, case.edges, Assets.of_case(case), hops
        )}  # fmt: skip
        for offramp in case.report["offramps"]:
            flow = flows[offramp["token_address"]]
            target = flow["keys"].index(f"node:{offramp['address']}")
            into = [int(raw) for t, raw in zip(flow["target"], flow["raw"], strict=True)
                    if t == target]  # fmt: skip
            assert sum(into) == int(offramp["amount_raw"]), offramp["address"]
        for flow in flows.values():  # no loop: a topological order exists
            graph: dict[int, set[int]] = defaultdict(set)
            for source, target in zip(flow["source"], flow["target"], strict=True):
                graph[target].add(source)
            tuple(TopologicalSorter(graph).static_order())


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
    assert len(sources) == 3 and all(source.startswith("'sha256-") for source in sources)
    assert "connect-src" not in directives  # falls back to 'none'
    # The label text exists in the file only in escaped JSON.
    data = page.split(f'id="{DATA_ELEMENT_ID}">', 1)[1].split("</script>", 1)[0]
    assert HOSTILE not in page
    nodes = json.loads(data)["nodes"]
    hostile = [row["id"] for row in case.nodes.iter_rows(named=True) if HOSTILE in row["labels"]]
    assert len(hostile) == 2
    for node_id in hostile:
        assert nodes["labels"][nodes["id"].index(node_id)] == [HOSTILE]


def layout_nodes(case: Case) -> list[LayoutNode]:
    return [
        LayoutNode(
            row["id"], row["seed"], row["offramp"] is not None, row["first_seen"], row["stop"]
        )
        for row in case.nodes.iter_rows(named=True)
    ]


def layout_of(case: Case) -> dict[str, Position]:
    return layered_layout(layout_nodes(case), layout_edges(case.edges))


def test_layout_runs_from_seeds_to_offramps_and_is_deterministic(case: Case) -> None:
    nodes = layout_nodes(case)
    edges = layout_edges(case.edges)
    positions = layered_layout(nodes, edges)
    assert positions == layered_layout(list(reversed(nodes)), list(reversed(edges)))
    far = max(position.layer for position in positions.values())
    for node in nodes:
        if node.seed:
            assert positions[node.id].layer == 0
        elif node.offramp:
            assert positions[node.id].layer == far
    for source, target, _carried in edges:
        if positions[target].layer != far:
            assert positions[target].layer <= positions[source].layer + 1
    assert len({(p.x, p.y) for p in positions.values()}) == len(positions)
    # Off-ramps behind the mixer are reached through it, by the hops of a route from a seed.
    seed = case.report["seeds"][0]
    for offramp in case.report["offramps"]:
        if offramp["route"]["mixer_links"]:
            path = offramp["paths"][0]["hops"]
            assert path[0]["from"] == seed
            hops = positions[offramp["address"]].hops
            assert hops is not None and hops <= len(path)  # the nearest route may be shorter
    # The seeds' column holds the seeds and the wallets that paid them, no service: a swap
    # pool paying out behind the mixer sits one layer before the wallets it paid.
    column = [node for node in nodes if positions[node.id].layer == 0]
    assert all(node.seed or not node.stop for node in column)
    pools = {s for s, _t, carried in edges if carried and positions[s].hops is None} - {
        s for s, t, _c in edges if t == seed
    }
    assert pools  # the DEX pool of the swaps behind the mixer
    for pool in pools:
        paid = [positions[t].layer for s, t, _c in edges if s == pool]
        assert positions[pool].layer == min(paid) - 1 > 0


# A hand-made case, every output pinned: the victim V pays the seed S; S pays the hop wallet A
# and swaps at the DEX D, which pays A in a 6-decimal token; A pays B (ETH) and the deposit
# address X (the token); B pays X (ETH).
S, A, D, B, X, V = (f"0x{digit * 40}" for digit in "123456")
TOK = f"0x{'a' * 40}"
NFT = f"0x{'b' * 40}#7"


def small_case(tmp_path: Path) -> Case:
    def node(address: str, role: str, minute: int, **extra: object) -> dict[str, object]:
        return {
            "id": address, "role": role, "category": extra.get("category"),
            "entity": extra.get("entity"), "labels": extra.get("labels", []),
            "seed": role == "seed", "stop": bool(extra.get("stop", False)),
            "offramp": extra.get("offramp"),
            "first_seen": datetime(2024, 5, 1, 0, minute, tzinfo=UTC), "last_seen": None,
            "traced": [], "label_details": [],
        }  # fmt: skip

    def edge(order: int, source: str, target: str, token: str, raw: int) -> dict[str, object]:
        native = token == NATIVE_TOKEN
        return {
            "id": f"0x{order:064x}:{'native' if native else 'erc20'}:::", "source": source,
            "target": target, "transaction_hash": f"0x{order:064x}", "block_number": order,
            "block_time": datetime(2024, 5, 1, 1, order, tzinfo=UTC),
            "transfer_kind": "native" if native else "erc20", "asset": token,
            "token_address": token, "token_id": None,
            "token_symbol": "ETH" if native else "TOK", "token_decimals": 18 if native else 6,
            "amount_raw": str(raw), "traced_raw": str(raw),
            "converted_raw": str(raw) if source in (V, D) else "0", "order": order,
        }  # fmt: skip

    nodes = [
        node(V, "victim", 0, category="victim"),
        node(S, "seed", 1),
        node(D, "dex", 2, category="dex", entity="Swap <b>Pool</b>", stop=True),
        node(A, "unlabelled", 3),
        node(B, "unlabelled", 4),
        node(X, "deposit_detected", 5, entity="Exchange A", offramp="exchange_deposit"),
    ]
    edges = [
        edge(1, V, S, NATIVE_TOKEN, 10 * 10**18),
        edge(2, S, A, NATIVE_TOKEN, 6 * 10**18),
        edge(3, S, D, NATIVE_TOKEN, 4 * 10**18),
        edge(4, D, A, TOK, 400),
        edge(5, A, B, NATIVE_TOKEN, 6 * 10**18),
        edge(6, A, X, TOK, 400),
        edge(7, B, X, NATIVE_TOKEN, 5 * 10**18 + 1),
    ]
    report = {"chain_id": 1, "seeds": [S], "offramps": [], "mixer_links": [], "findings": []}
    return Case(
        tmp_path,
        report,
        pl.DataFrame(nodes, schema=NODE_SCHEMA),
        pl.DataFrame(edges, schema=EDGE_SCHEMA),
    )


def test_layout_of_a_small_case_is_pinned(tmp_path: Path) -> None:
    positions = layout_of(small_case(tmp_path))
    assert positions == {
        V: Position(layer=0, x=0.0, y=0.5, hops=None),  # no seed reaches it: its own walk
        S: Position(layer=0, x=0.0, y=-0.5, hops=0),
        D: Position(layer=1, x=1.0, y=0.5, hops=1),  # both follow S; D was seen first
        A: Position(layer=1, x=1.0, y=-0.5, hops=1),
        B: Position(layer=2, x=2.0, y=0.0, hops=2),
        X: Position(layer=3, x=3.0, y=0.0, hops=2),  # off-ramps: the column past the deepest
    }


def test_sankey_of_a_small_case_is_pinned_per_asset(tmp_path: Path) -> None:
    case = small_case(tmp_path)
    hops = {V: None, S: 0, D: 1, A: 1, B: 2, X: 2}
    eth, tok = sankey_flows(case.nodes, case.edges, Assets.of_case(case), hops)
    assert eth == {
        "asset": NATIVE_TOKEN,
        "title": "ETH",
        "keys": ["hop:1", "hop:2", f"node:{X}", "hop:in", f"seed:{S}", f"node:{D}"],
        "labels": [
            "Hop wallets, 1 hop from a seed",
            "Hop wallets, 2 hops from a seed",
            "Off-ramp (exchange_deposit) Exchange A (0x555555…5555)",
            "Wallets sending into the trace",
            "Seed 0x111111…1111",
            "DEX / swap: Swap <b>Pool</b> (0x333333…3333)",
        ],
        "colours": ["#8a8a8a", "#8a8a8a", "#7fd1b0", "#8a8a8a", "#d55e00", "#f0e442"],
        "source": [0, 1, 3, 4, 4],
        "target": [1, 2, 4, 0, 5],
        "value": [6.0, 5.0, 10.0, 6.0, 4.0],  # display floats: the exact sums are below
        "amount": ["6 ETH", "5.000000000000000001 ETH", "10 ETH", "6 ETH", "4 ETH"],
        "raw": [str(n) for n in (6 * 10**18, 5 * 10**18 + 1, 10**19, 6 * 10**18, 4 * 10**18)],
        "back": {"flows": 0, "raw": "0", "amount": "0 ETH"},  # every flow runs forward
    }  # fmt: skip
    assert tok == {
        "asset": TOK,
        "title": f"TOK ({TOK})",
        "keys": ["hop:1", f"node:{X}", f"node:{D}"],
        "labels": [
            "Hop wallets, 1 hop from a seed",
            "Off-ramp (exchange_deposit) Exchange A (0x555555…5555)",
            "DEX / swap: Swap <b>Pool</b> (0x333333…3333)",
        ],
        "colours": ["#8a8a8a", "#7fd1b0", "#f0e442"],
        "source": [0, 2],
        "target": [1, 0],
        "value": [0.0004, 0.0004],
        "amount": ["0.0004 TOK", "0.0004 TOK"],
        "raw": ["400", "400"],
        "back": {"flows": 0, "raw": "0", "amount": "0 TOK"},
    }
    # What Plotly gets is escaped; the exact amount rides along as the link's hover text.
    figure = sankey_figure(tok)["data"][0]
    assert figure["node"]["label"][2] == "DEX / swap: Swap &lt;b&gt;Pool&lt;/b&gt; (0x333333…3333)"
    assert figure["link"]["customdata"] == ["0.0004 TOK", "0.0004 TOK"]


def with_eth_transfers(case: Case, transfers: list[tuple[int, str, str, int]]) -> Case:
    """``case`` plus native transfers (order, source, target, raw), all traced."""
    template = case.edges.row(0, named=True)
    extra = pl.DataFrame(
        [
            template | {"id": f"extra-{order}", "source": source, "target": target,
                        "transaction_hash": f"0x{order:064x}", "block_number": order,
                        "amount_raw": str(raw), "traced_raw": str(raw), "converted_raw": "0",
                        "order": order}
            for order, source, target, raw in transfers
        ],
        schema=EDGE_SCHEMA,
    )  # fmt: skip
    return Case(case.directory, case.report, case.nodes, pl.concat([case.edges, extra]))


def test_sankey_breaks_a_loop_between_groups_at_one_hop_distance(tmp_path: Path) -> None:
    # A (hop 1) pays the DEX D (hop 1) 9 wei and D pays A 5 wei back: a loop at one distance.
    # The larger link is drawn, the other named; D's token payout to A (a swap's output at
    # the same distance) is still drawn.
    case = with_eth_transfers(small_case(tmp_path), [(8, A, D, 9), (9, D, A, 5)])
    hops = {V: None, S: 0, D: 1, A: 1, B: 2, X: 2}
    eth, tok = sankey_flows(case.nodes, case.edges, Assets.of_case(case), hops)
    keys = eth["keys"]
    links = {
        (keys[source], keys[target]): raw
        for source, target, raw in zip(eth["source"], eth["target"], eth["raw"], strict=True)
    }
    assert links[("hop:1", f"node:{D}")] == "9"
    assert (f"node:{D}", "hop:1") not in links
    assert eth["back"] == {"flows": 1, "raw": "5", "amount": "0.000000000000000005 ETH"}
    assert (tok["keys"][tok["source"][1]], tok["keys"][tok["target"][1]]) == (f"node:{D}", "hop:1")
    assert tok["back"]["flows"] == 0


def test_sankey_draws_no_flow_back_to_earlier_hops_and_names_it(
    browser: Browser, tmp_path: Path
) -> None:
    # The small case plus value running back: B (2 hops) pays A (1 hop) twice, A pays the
    # seed S, and the exchange deposit X (2 hops) pays the seed too. A loop in a Sankey is
    # what crashes Plotly's layout, so none of these is drawn; the note sums them exactly.
    back = [(8, B, A, 10**18 + 1), (9, B, A, 2), (10, A, S, 3 * 10**18), (11, X, S, 7)]
    case = with_eth_transfers(small_case(tmp_path), back)
    data = case_view_data(case)
    hops = dict(zip(data["nodes"]["id"], data["nodes"]["hops"], strict=True))
    assert hops == {V: None, S: 0, D: 1, A: 1, B: 2, X: 2}  # the flows back add no hop
    eth = sankey_flows(case.nodes, case.edges, Assets.of_case(case), hops)[0]
    omitted = 10**18 + 1 + 2 + 3 * 10**18 + 7
    # Three links between groups: hop 2 → hop 1, hop 1 → the seed, the off-ramp → the seed.
    assert eth["back"] == {"flows": 3, "raw": str(omitted), "amount": "4.00000000000000001 ETH"}
    assert data["sankeys"][0]["note"] == (
        "3 flows back to earlier hops (4.00000000000000001 ETH) are not drawn"
    )
    assert data["sankeys"][1]["note"] is None  # the token's flows all run forward
    # What is drawn is the small case's diagram, unchanged.
    assert eth["source"] == [0, 1, 3, 4, 4] and eth["target"] == [1, 2, 4, 0, 5]
    distance = {"hop:in": -1, "hop:1": 1, "hop:2": 2, f"seed:{S}": 0, f"node:{D}": 1,
                f"node:{X}": 2}  # fmt: skip
    opened = open_view(browser, write_case_view(case, tmp_path / "back.html"))
    try:
        page = opened.page
        note = page.locator("#sankey-note")
        assert note.is_visible()
        assert note.text_content() == data["sankeys"][0]["note"]
        # The diagram Plotly drew: no link from a farther band to a nearer one.
        drawn = page.evaluate(
            "() => { const d = document.getElementById('sankey').data[0];"
            " return [d.link.source, d.link.target]; }"
        )
        keys = eth["keys"]
        assert drawn == [eth["source"], eth["target"]]
        assert all(
            distance[keys[target]] >= distance[keys[source]]
            for source, target in zip(*drawn, strict=True)
        )
        page.select_option("#asset", index=1)
        page.locator("#sankey .gtitle", has_text="(0x").wait_for()
        assert note.is_hidden()
        assert opened.errors == []
    finally:
        opened.page.close()


def show_node(page: Page, address: str) -> dict[str, list[str]]:
    """A node's panel, found by address as a person would (the finder box)."""
    page.fill("#find", address)
    page.press("#find", "Enter")
    return panel_entries(page)


def show_edge(page: Page, index: int) -> dict[str, list[str]]:
    """An edge's panel: the click Plotly reports for arrow ``index`` (row ``index`` of the
    edges), sent through Plotly's own event, so no pixel has to be hit."""
    page.evaluate(
        "index => document.getElementById('graph').emit('plotly_click',"
        " {points: [{curveNumber: 1, customdata: index}]})",
        index,
    )
    assert page.locator("#panel-title").text_content() == "Transfer"
    return panel_entries(page)


def test_evidence_of_a_small_case_is_pinned(browser: Browser, tmp_path: Path) -> None:
    case = small_case(tmp_path)
    data = case_view_data(case)
    assert data["summary"] == {
        "seeds": [S], "policy": "—", "chain_id": "1", "nodes": 6, "edges": 7, "drawn_nodes": 6,
    }  # fmt: skip
    opened = open_view(browser, write_case_view(case, tmp_path / "small.html"))
    page = opened.page
    try:
        at = "2024-05-01 {} UTC".format
        assert show_node(page, A) == {
            "Address": [A],
            "Role": ["Unlabelled address (hop wallet)"],
            "Entity": ["—"],
            "Labels": ["none"],
            "Hops from a seed": ["1"],
            "First seen": [at("00:03:00")],
            "Last seen": ["—"],
            "Transfers in": [f"{at('01:02:00')} 0x{2:064x}", f"{at('01:04:00')} 0x{4:064x}"],
            "Transfers out": [f"{at('01:05:00')} 0x{5:064x}", f"{at('01:06:00')} 0x{6:064x}"],
        }
        assert list(show_node(page, A)) == [
            "Address", "Role", "Entity", "Labels", "Hops from a seed", "First seen", "Last seen",
            "Transfers in", "Transfers out",
        ]  # fmt: skip
        assert page.locator("#panel-title").text_content() == "0x222222…2222"
        assert show_node(page, V)["Hops from a seed"] == [
            "none: no seed reaches it (it sent value in)"
        ]
        dex = show_node(page, D)
        assert dex["Trace stops"] == ["yes: a service; traced value is not followed past it"]
        assert page.locator("#panel-title").text_content() == "Swap <b>Pool</b> (0x333333…3333)"
        assert show_node(page, S)["Seed"] == ["yes: the trace starts here"]
        assert show_edge(page, 3) == {
            "Transaction": [f"0x{4:064x}"],
            "Block": ["4"],
            "Time": [at("01:04:00")],
            "From": [f"{D} (Swap <b>Pool</b>)"],  # inserted as text by the page
            "To": [A],
            "Kind": ["erc20"],
            "Asset": [f"TOK ({TOK})"],
            "Amount": ["0.0004 TOK"],
            "Traced": ["0.0004 TOK"],
            "Created by a swap or link": ["0.0004 TOK"],
        }
        last = show_edge(page, 6)  # B pays X 5 ETH and one wei
        assert last["Amount"] == last["Traced"] == ["5.000000000000000001 ETH"]
        assert last["Created by a swap or link"] == ["0 ETH"]
        assert page.locator("#panel-body b").count() == 0
        assert opened.errors == []
    finally:
        page.close()


def test_traced_books_and_long_transfer_lists(browser: Browser, tmp_path: Path) -> None:
    case = small_case(tmp_path)
    books = [
        {"asset": NATIVE_TOKEN, "received_raw": str(2**256 - 1), "sent_raw": "0",
         "held_raw": str(2**256 - 1)},
        {"asset": NFT, "received_raw": "1", "sent_raw": "1", "held_raw": "0"},
    ]  # fmt: skip
    nodes = case.nodes.with_columns(
        traced=pl.when(pl.col("id") == A)
        .then(pl.lit(books, NODE_SCHEMA["traced"]))
        .otherwise("traced")
    )
    # A pays B thirty more times: its panel lists 25 and says how many more there are.
    extra = pl.concat(
        [case.edges]
        + [
            case.edges.filter(pl.col("source") == A, pl.col("target") == B).with_columns(
                id=pl.lit(f"extra-{n}"), transaction_hash=pl.lit(f"0x{100 + n:064x}")
            )
            for n in range(30)
        ]
    )
    view = write_case_view(Case(tmp_path, case.report, nodes, extra), tmp_path / "books.html")
    opened = open_view(browser, view)
    try:
        entries = show_node(opened.page, A)
        wei = str(2**256 - 1)
        whole = f"{wei[:-18]}.{wei[-18:]}"
        assert entries["Traced ETH"] == [f"received {whole} ETH", "sent 0 ETH", f"held {whole} ETH"]
        # A token no transfer names: decimals unknown, so raw units, as Python writes them.
        text, title = Assets.of_case(case).text, Assets.of_case(case).title
        assert entries[f"Traced {title(NFT)}"] == [
            f"received {text(NFT, 1)}", f"sent {text(NFT, 1)}", f"held {text(NFT, 0)}",
        ]  # fmt: skip
        assert text(NFT, 1) == "1 (raw units) token 0xbbbbbbbb… #7"
        outgoing = entries["Transfers out"]
        assert len(outgoing) == 26 and outgoing[-1] == "… and 7 more (click the edges)"
        assert opened.errors == []
    finally:
        opened.page.close()


def test_label_sources_are_listed_after_the_labels(browser: Browser, tmp_path: Path) -> None:
    case = small_case(tmp_path)
    details = [
        {"name": "Desk <b>7</b>", "category": "exchange", "source": "list <i>a</i>",
         "date": "2024-04-30"},
        {"name": "Desk <b>7</b>", "category": "exchange", "source": "list b", "date": None},
    ]  # fmt: skip
    nodes = case.nodes.with_columns(
        labels=pl.when(pl.col("id") == A).then(pl.lit(["Desk <b>7</b>"])).otherwise("labels"),
        label_details=pl.when(pl.col("id") == A)
        .then(pl.lit(details, NODE_SCHEMA["label_details"]))
        .otherwise("label_details"),
    )
    view = write_case_view(
        Case(case.directory, case.report, nodes, case.edges), tmp_path / "l.html"
    )
    opened = open_view(browser, view)
    try:
        entries = show_node(opened.page, A)
        assert list(entries)[3:5] == ["Labels", "Label sources"]
        assert entries["Labels"] == ["Desk <b>7</b>"]
        assert entries["Label sources"] == [
            "Desk <b>7</b> (exchange): list <i>a</i>, dated 2024-04-30",
            "Desk <b>7</b> (exchange): list b",
        ]
        assert "Label sources" not in show_node(opened.page, B)
        # The edge from A names it by its label.
        assert show_edge(opened.page, 4)["From"] == [f"{A} (Desk <b>7</b>)"]
        assert opened.errors == []
    finally:
        opened.page.close()


def test_page_amounts_match_the_python_formatter_on_uint256_values(loaded: LoadedPage) -> None:
    rng = random.Random(20261125)
    cases = [(0, 18), (1, 18), (10**18, 18), (5 * 10**17, 18), (2**256 - 1, 0), (2**256 - 1, 77),
             (2**256 - 1, 78), (123, 0), (123, 5), (10**77, 77)]  # fmt: skip
    cases += [(rng.getrandbits(rng.randrange(1, 257)), rng.randrange(0, 80)) for _ in range(500)]
    shown = loaded.page.evaluate(
        "cases => cases.map(([raw, decimals]) => tracerAmounts.wholeUnits(raw, decimals))",
        [[str(raw), decimals] for raw, decimals in cases],
    )
    assert shown == [whole_units(raw, decimals) for raw, decimals in cases]
    # Leading zeros and a sign, as int() reads them; unknown decimals show raw units.
    assert loaded.page.evaluate(
        "() => [tracerAmounts.wholeUnits('000120', 1), tracerAmounts.wholeUnits('-1500', 3),"
        " tracerAmounts.wholeUnits('-0', 2), tracerAmounts.display('0042', null)]"
    ) == [whole_units(120, 1), whole_units(-1500, 3), "0", "42 (raw units)"]


def test_raw_amounts_reach_the_page_as_plain_digits() -> None:
    assert exact_raw(pl.Series(["12", "007", str(2**256 - 1)])) == ["12", "007", str(2**256 - 1)]
    assert exact_raw(pl.Series(["12", " 5", "1_000", "+3"])) == ["12", "5", "1000", "3"]
    with pytest.raises(ValueError):
        exact_raw(pl.Series(["1", "1.5"]))


def test_an_edge_to_an_address_not_among_the_nodes_is_an_input_error(tmp_path: Path) -> None:
    case = small_case(tmp_path)
    edges = case.edges.with_columns(
        target=pl.when(pl.col("order") == 7).then(pl.lit("0x" + "9" * 40)).otherwise("target")
    )
    with pytest.raises(InputError, match="not among the case's nodes"):
        case_view_data(Case(tmp_path, case.report, case.nodes, edges))


def test_layout_passes_a_service_only_where_value_was_carried_on() -> None:
    # S pays the mixer M and the exchange E; M's payout to W carried traced value on (a
    # followed link), E's payment to Z did not; P, a pool no seed reaches, pays W.
    s, m, e, w, z, p = (f"0x{digit * 40}" for digit in "123456")
    seen = datetime(2024, 5, 1, tzinfo=UTC)
    nodes = [
        LayoutNode(s, True, False, seen),
        LayoutNode(m, False, False, seen, stop=True),
        LayoutNode(e, False, False, seen, stop=True),
        LayoutNode(w, False, False, seen),
        LayoutNode(z, False, False, seen),
        LayoutNode(p, False, False, seen, stop=True),
    ]
    edges = [(s, m, False), (s, e, False), (m, w, True), (e, z, False), (p, w, True)]
    positions = layered_layout(nodes, edges)
    assert {node: (at.layer, at.hops) for node, at in positions.items()} == {
        s: (0, 0),
        m: (1, 1),
        e: (1, 1),
        w: (2, 2),  # through the mixer
        p: (1, None),  # one layer before the wallet it paid
        z: (2, None),  # the exchange ends the trace (no hops), drawn after it
    }
