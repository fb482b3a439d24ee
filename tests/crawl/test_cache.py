"""The answer cache: which answers are final, the SQLite store, and a source that answers a
re-run from it with zero requests, on every trace path of a real anvil."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.crawl.activity import Tree
from tests.crawl.conftest import UNLIMITED
from tracer.errors import ChainMismatchError, InputError
from tracer.sources.cache import FOREVER, MISS, CacheEntry, ResponseCache, final_through
from tracer.sources.jsonrpc import JsonRpcSource, TracePath
from tracer.sources.transport import Transport
from tracer.testbed.anvil import AnvilNode

TX = "0x" + "ab" * 32


def ots_page(blocks: list[int], *, first_page: bool) -> dict[str, Any]:
    txs = [{"hash": f"0x{i:064x}", "blockNumber": hex(b)} for i, b in enumerate(blocks)]
    return {"txs": txs, "firstPage": first_page, "lastPage": False}


@pytest.mark.parametrize(
    ("method", "params", "result", "block", "expected"),
    [
        ("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x64"}], [], None, FOREVER),
        ("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x65"}], [], None, None),  # > safe
        ("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "latest"}], [], None, None),
        ("eth_getLogs", [{"blockHash": "0x" + "00" * 32}], [], None, None),
        ("trace_filter", [{"fromBlock": "0x1", "toBlock": "0x10"}], [], None, FOREVER),
        ("eth_getBlockByNumber", ["0x64", False], {"number": "0x64"}, None, FOREVER),
        ("eth_getBlockByNumber", ["0x65", False], None, None, None),  # not there (yet)
        ("eth_getBlockByNumber", ["latest", False], {"number": "0x1"}, None, None),
        ("debug_traceBlockByNumber", ["0x2", {"tracer": "callTracer"}], [], None, FOREVER),
        ("eth_getTransactionReceipt", [TX], {"blockNumber": "0x64"}, None, FOREVER),
        ("eth_getTransactionReceipt", [TX], {"blockNumber": "0x65"}, None, None),
        ("eth_getTransactionReceipt", [TX], None, None, None),  # pending or unknown
        ("trace_transaction", [TX], [{"blockNumber": 100}], None, FOREVER),
        ("trace_transaction", [TX], [], None, None),
        ("ots_getInternalOperations", [TX], [], 100, FOREVER),
        ("ots_getInternalOperations", [TX], [], None, None),  # block unknown
        ("eth_blockNumber", [], "0x64", None, None),
        ("eth_chainId", [], "0x1", None, None),
        ("eth_getBalance", ["0x" + "00" * 20, "0x1"], "0x0", None, None),  # no rule: never
        ("eth_getCode", ["0x" + "00" * 20, "0x64"], "0x6080", None, FOREVER),  # a final block
        ("eth_getCode", ["0x" + "00" * 20, "0x65"], "0x", None, None),  # above the safe head
        ("eth_getCode", ["0x" + "00" * 20, "latest"], "0x", None, None),
    ],
)
def test_final_through_rules(
    method: str, params: list[Any], result: Any, block: int | None, expected: int | None
) -> None:
    assert final_through(method, params, result, safe_head=100, block=block) == expected


def test_ots_pages_are_final_only_below_the_safe_head_or_up_to_it() -> None:
    def through(page: dict[str, Any]) -> int | None:
        return final_through(
            "ots_searchTransactionsAfter", ["0x00", 0, 3], page, safe_head=100, page_size=3
        )

    assert through(ots_page([90, 80, 70], first_page=False)) == FOREVER  # more pages follow
    assert through(ots_page([90, 80], first_page=True)) == 100  # the newest: up to the head
    assert through(ots_page([120, 80, 70], first_page=False)) == 100  # reaches past it
    assert through(ots_page([], first_page=True)) == 100
    assert through({"txs": [{"hash": TX}]}) is None  # malformed: never cached


def test_store_round_trip_through_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with ResponseCache(path) as cache:
        cache.put_many(
            [
                CacheEntry("a", 1, "eth_getLogs", FOREVER, [{"x": "0x1"}]),
                CacheEntry("b", 1, "ots_searchTransactionsAfter", 50, {"txs": []}),
                CacheEntry("c", 1, "eth_getTransactionReceipt", FOREVER, None),
            ]
        )
        cache.set_meta("trace_path/1", "ots")
    with ResponseCache(path) as cache:
        assert cache.get_many(["a", "b", "c", "d"]) == [[{"x": "0x1"}], {"txs": []}, None, MISS]
        # "b" was final up to block 50 when stored: no use to a caller needing block 60.
        assert cache.get_many(["b"], through=60) == [MISS]
        assert cache.get_many(["a", "d"], count=False) == [[{"x": "0x1"}], MISS]
        assert (cache.stats.hits, cache.stats.misses) == (3, 2)
        assert cache.meta("trace_path/1") == "ots"
        assert len(cache) == 3
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # Keys are request digests: nothing in the file names an endpoint.
        assert db.execute("SELECT count(*) FROM answers WHERE key LIKE '%http%'").fetchone()[0] == 0


def test_a_cache_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with ResponseCache(path) as cache:
        cache.set_meta("schema_version", "999")
    with pytest.raises(InputError, match="cache schema version 999"):
        ResponseCache(path)
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="cannot open the cache"):
        ResponseCache(tmp_path / "junk.sqlite")


async def fetch(
    url: str, cache: ResponseCache, path: TracePath, tree: Tree, *, warm: bool, confirmations: int
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The seed's and a level-1 address's transfers through a fresh transport; HTTP count."""
    async with Transport() as transport:
        source = JsonRpcSource.connect(
            transport,
            url,
            limits=UNLIMITED,
            cache=cache,
            confirmations=confirmations,
            trace_path=path,  # every path against one node
        )
        if warm:  # what a re-run of a case knows without asking
            source.assume(chain_id=31337, head=tree.head)
        else:
            await source.head_block()
        child = tree.levels[1][3]
        seed_rows = await source.transfers_for_address(tree.seed, 0, tree.head)
        child_rows = await source.transfers_for_address(child, tree.theft_block, tree.head)
        requests = transport.stats()[source.client.endpoint.display].http_requests
    return seed_rows, child_rows, requests


@pytest.mark.parametrize("path", list(TracePath))
async def test_a_warm_source_sends_no_request_on_any_trace_path(
    tree_node: AnvilNode, tree: Tree, tmp_path: Path, path: TracePath
) -> None:
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        cold = await fetch(tree_node.url, cache, path, tree, warm=False, confirmations=0)
        assert cold[2] > 0
        assert cold[0].height == 6  # the theft and five payments
        warm = await fetch(tree_node.url, cache, path, tree, warm=True, confirmations=0)
    assert warm[2] == 0
    assert warm[0].equals(cold[0]) and warm[1].equals(cold[1])


async def test_unconfirmed_answers_are_asked_again_and_only_those(
    tree_node: AnvilNode, tree: Tree, tmp_path: Path
) -> None:
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        await fetch(tree_node.url, cache, TracePath.TRACE_FILTER, tree, warm=False, confirmations=3)
        stored = len(cache)
        _seed, _child, requests = await fetch(
            tree_node.url, cache, TracePath.TRACE_FILTER, tree, warm=True, confirmations=3
        )
    # The last 3 blocks hold the payments: their windows, receipts and headers go again,
    # while the 400 quiet blocks before (split off at the safe head) come from the cache.
    assert 0 < requests <= 10
    assert stored > 0


async def test_an_assumed_chain_is_checked_before_the_first_real_request(
    tree_node: AnvilNode, tree: Tree, tmp_path: Path
) -> None:
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        async with Transport() as transport:
            source = JsonRpcSource.connect(transport, tree_node.url, limits=UNLIMITED, cache=cache)
            source.assume(chain_id=1, head=tree.head, trace_path=TracePath.TRACE_FILTER)
            with pytest.raises(ChainMismatchError, match="serves chain id 31337"):
                await source.transfers_for_address(tree.seed, 0, tree.head)
