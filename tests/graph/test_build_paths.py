"""The traced flow graph and seed → sink paths on the peel-chain and swap cases."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.heuristics.test_taint import PEEL, SWAP_LABELS, SWAPS
from tests.heuristics.test_taint_cases import NAMES, labels, table, tx
from tracer.graph.build import build_flow_graph
from tracer.graph.paths import SeedPath, seed_paths
from tracer.heuristics.taint import Policy, trace_taint
from tracer.labels.model import Category
from tracer.types import NATIVE_TOKEN

SEED = NAMES["seed"]


def _time(block: int) -> datetime:
    return datetime.fromtimestamp(1_700_000_000 + 12 * block, tz=UTC)


def test_peel_chain_graph_nodes_edges_and_paths() -> None:
    transfers = table(PEEL)
    store = labels(exchange=Category.EXCHANGE)
    graph = build_flow_graph(transfers, trace_taint(transfers, [SEED], "haircut", store), store)
    assert sorted(graph.nodes) == sorted(NAMES[n] for n in ("victim", "seed", "a", "b", "exchange"))
    assert graph.number_of_edges() == 6
    exchange = graph.nodes[NAMES["exchange"]]
    assert exchange == {
        "traced": {NATIVE_TOKEN: {"received": 1000, "sent": 0, "held": 1000}},
        "labels": ["exchange"],
        "label_details": [
            {"name": "exchange", "category": "exchange", "source": "test", "date": None}
        ],
        "category": "exchange",
        "entity": "exchange",
        "seed": False,
        "stop": True,
        "first_seen": _time(2),
        "last_seen": _time(5),
    }
    assert graph.nodes[SEED]["seed"] is True
    # Parallel transfers between one pair of addresses stay separate edges.
    edges = graph.get_edge_data(NAMES["a"], NAMES["exchange"])
    assert list(edges) == [f"{tx(4)}:native:::"]
    assert edges[f"{tx(4)}:native:::"] == {
        "tx_hash": tx(4),
        "block": 3,
        "time": _time(3),
        "kind": "native",
        "asset": NATIVE_TOKEN,
        "token_address": NATIVE_TOKEN,
        "token_id": None,
        "amount_raw": 100,
        "traced_raw": 100,
        "converted_raw": 0,
        "order": 3,
    }
    # Foremost path to the exchange: the seed's own first peel.
    assert seed_paths(graph, [SEED]) == {
        NAMES["exchange"]: SeedPath(
            SEED, NAMES["exchange"], (SEED, NAMES["exchange"]), (tx(2),), (f"{tx(2)}:native:::",)
        )
    }
    to_b = seed_paths(graph, [SEED], [NAMES["b"]])[NAMES["b"]]
    assert to_b.addresses == (SEED, NAMES["a"], NAMES["b"])
    assert to_b.tx_hashes == (tx(3), tx(5))


def test_paths_never_go_back_in_time_and_stop_at_services() -> None:
    transfers = table(SWAPS)
    store = labels(**SWAP_LABELS)
    graph = build_flow_graph(transfers, trace_taint(transfers, [SEED], Policy.FIFO, store), store)
    paths = seed_paths(graph, [SEED])
    # The router is reached by a's ETH in tx 4, the pair by a's tUSD in tx 5. Paths are over
    # addresses: the swap that turned a's ETH into tUSD (tx 4) is in result.conversions.
    assert {sink: path.tx_hashes for sink, path in paths.items()} == {
        NAMES["router"]: (tx(3), tx(4)),
        NAMES["pair"]: (tx(3), tx(5)),
    }
    # The tUSD held at a arrived converted in tx 4 (from the pair, a stop: not a path hop).
    assert graph.nodes[NAMES["a"]]["traced"][NAMES["tusd"]] == {
        "received": 200_000,
        "sent": 200_000,
        "held": 0,
    }
