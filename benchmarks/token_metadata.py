"""Token metadata: reading decimals(), symbol() and name() of many tokens, and filling a
large transfer table with them.

    .venv/bin/python -m benchmarks.token_metadata [--tokens 1000] [--rows 1000000]

A bulk anvil gets ``--tokens`` token contracts (TestUSD, with one in ten a bytes32-symbol
token and one in ten without decimals(), from OddTokens.sol). Timed: the cold read
(every answer asked: eth_chainId, eth_blockNumber, then three eth_calls per token in
batches of 100 calls, no rate limit), the warm read (a new source on a dead endpoint, every
answer from the cache), and :func:`~tracer.transfers.token_metadata.fill_transfers` on a
synthetic table of ``--rows`` ERC-20 rows spread over those tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from tracer.sources.cache import ResponseCache
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.token_metadata import read_token_metadata
from tracer.sources.transport import EndpointLimits, Transport
from tracer.testbed.anvil import AnvilNode, AnvilOptions, free_loopback_port
from tracer.testbed.chain import Chain
from tracer.transfers.schema import TRANSFER_SCHEMA
from tracer.transfers.token_metadata import TokenFacts, fill_transfers

LOCAL = EndpointLimits(requests_per_second=None, max_concurrent=8)


def deploy(chain: Chain, count: int) -> list[str]:
    deployer = chain.accounts()[0]
    tenth = count // 10
    plan = {"Bytes32SymbolToken": tenth, "NoDecimalsToken": tenth, "TestUSD": count - 2 * tenth}
    arguments = {"NoDecimalsToken": ("No Decimals", "NODEC")}
    return [
        contract.address
        for kind, instances in plan.items()
        for contract in chain.deploy_many(
            kind, [arguments.get(kind, ())] * instances, sender=deployer
        )
    ]


async def read(
    url: str, cache_path: Path, tokens: list[str], block: int, *, offline: bool
) -> tuple[dict[str, TokenFacts], float, int, int]:
    async with Transport() as transport:
        with ResponseCache(cache_path) as cache:
            source = JsonRpcSource.connect(
                transport, url, limits=LOCAL, cache=cache, confirmations=0
            )
            if offline:
                source.assume(chain_id=31337)
            started = time.perf_counter()
            facts = await read_token_metadata(source, tokens, block)
            seconds = time.perf_counter() - started
        stats = transport.stats().values()
        requests = sum(s.http_requests for s in stats)
        calls = sum(s.rpc_calls for s in stats)
    return facts, seconds, requests, calls


def synthetic(rows: int, tokens: list[str]) -> pl.DataFrame:
    """ERC-20 rows as the logs give them: raw amounts, no symbol, no decimals."""
    rng = random.Random(7)
    given = pl.DataFrame(
        {
            "chain_id": [1] * rows,
            "block_number": range(rows),
            "transaction_hash": [f"0x{i:064x}" for i in range(rows)],
            "transfer_kind": ["erc20"] * rows,
            "log_index": [0] * rows,
            "token_address": [tokens[i % len(tokens)] for i in range(rows)],
            "value_raw": [str(rng.randrange(10**27)) for _ in range(rows)],
        }
    )
    return given.select(
        (pl.col(name) if name in given.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in TRANSFER_SCHEMA.items()
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.token_metadata")
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work, AnvilNode(AnvilOptions.for_bulk()) as node:
        with Chain(node.url) as chain:
            tokens = deploy(chain, args.tokens)
            block = chain.block_number()
        cache = Path(work) / "cache.sqlite"
        cold, cold_s, cold_requests, cold_calls = asyncio.run(
            read(node.url, cache, tokens, block, offline=False)
        )
        dead = f"http://127.0.0.1:{free_loopback_port()}"
        warm, warm_s, warm_requests, _ = asyncio.run(read(dead, cache, tokens, block, offline=True))
    assert warm == cold
    no_decimals = sum(1 for fact in cold.values() if fact.decimals is None)
    print(f"tokens: {len(tokens)} ({no_decimals} without decimals)")
    print(f"cold read: {cold_s:.2f} s, {cold_requests} HTTP requests, {cold_calls} calls")
    print(f"warm read: {warm_s:.3f} s, {warm_requests} HTTP requests")
    table = synthetic(args.rows, tokens)
    started = time.perf_counter()
    filled = fill_transfers(table, cold)
    print(
        f"fill: {args.rows} rows in {time.perf_counter() - started:.2f} s "
        f"({filled['value'].null_count()} values left null)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
