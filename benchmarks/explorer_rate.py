"""How close does the explorer source get to an explorer's rate limit, and does it lose anything?

Run: ``.venv/bin/python -m benchmarks.explorer_rate`` (about three minutes; ``--quick``: one
minute). A bulk anvil chain gets three senders with 1,500 ETH transfers each (to three
receivers, round robin) and 600 ERC-20 transfers from the first sender. The
explorer-compatible test server (``tests/sources/explorer_server.py``) serves them with pages
of at most 100 records in a 1,000-record window, so that every address takes dozens of pages,
window restarts included, and limits requests to 5 per second. The six addresses are crawled
concurrently by one :class:`~tracer.sources.explorer.ExplorerSource`.

Four runs, the source always configured at the limit except in the last:

``bucket``    server: a token bucket of 5 calls/s holding 5 (one second's worth).
``second``    server: at most 5 calls in each wall-clock second (a fixed window).
``strict``    server: a bucket holding 1, i.e. every request at least 200 ms after the previous
              one *as it arrives*: network and scheduling jitter alone get requests refused.
``overdrive`` server as ``bucket``; source misconfigured at 6 requests/s: refusals are
              certain and must all be retried.

Reported per run: requests sent, rate-limit answers, retries, the achieved rate of answered
requests (between the first and the last answered request, as the server saw them) as a share
of the limit, the crawl's wall time, and whether every address's table holds exactly the
transfers that were sent (nothing lost, nothing twice).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from tests.sources.explorer_server import ExplorerServer, ServerConfig
from tracer.sources.explorer import API_KEY_ENV, ExplorerSource
from tracer.sources.transport import EndpointLimits, RetryPolicy, Transport, redact_url
from tracer.testbed.anvil import AnvilNode, AnvilOptions
from tracer.testbed.chain import ETH_TRANSFER_GAS, Chain, Tx
from tracer.transfers.schema import validate

LIMIT: Final = 5.0  # requests per second, the server's and (paced, strict) the source's
PAGE: Final = 100
WINDOW: Final = 1_000
KEY: Final = "benchmark-key"
CHAIN_ID: Final = 31337

# What must be in each address's table: (tx hash, kind, from, to, value) per transfer.
Expected = dict[str, set[tuple[str, str, str, str, str]]]


@dataclass(frozen=True)
class Run:
    name: str
    server: str  # how the server enforces the limit, for the report
    limit_style: str
    server_burst: int
    source_rate: float


RUNS: Final = (
    Run("bucket", "bucket of 5", "bucket", server_burst=5, source_rate=LIMIT),
    Run("second", "5 per clock second", "second", server_burst=5, source_rate=LIMIT),
    Run("strict", "bucket of 1", "bucket", server_burst=1, source_rate=LIMIT),
    Run("overdrive", "bucket of 5", "bucket", server_burst=5, source_rate=6.0),
)


@dataclass(frozen=True)
class Outcome:
    run: Run
    sent: int
    answered: int
    refused: int
    retries: int
    seconds: float  # the crawl's wall time
    span: float  # from the first to the last answered request, at the server
    complete: bool
    rows: int

    @property
    def rate(self) -> float:
        """Answered requests per second: n requests span n - 1 intervals."""
        return (self.answered - 1) / self.span

    @property
    def share(self) -> float:
        return self.rate / LIMIT


def build_chain(node: AnvilNode, transfers_per_sender: int, token_transfers: int) -> Expected:
    with Chain.of(node) as chain:
        accounts = chain.accounts()
        deployer, senders, receivers = accounts[0], accounts[1:4], accounts[4:7]
        expected: Expected = {address: set() for address in (*senders, *receivers)}

        def record(tx_hash: str, kind: str, sender: str, recipient: str, value: int) -> None:
            row = (tx_hash, kind, sender, recipient, str(value))
            for party in (sender, recipient):
                if party in expected:  # the six crawled addresses
                    expected[party].add(row)

        txs = [
            Tx(
                sender,
                receivers[i % 3],
                10**9 + i,
                gas=ETH_TRANSFER_GAS,
                gas_price=10**9,
            )
            for i in range(transfers_per_sender)
            for sender in senders
        ]
        for mined, tx in zip(chain.send_in_blocks(txs, per_block=500), txs, strict=True):
            assert tx.to is not None
            record(mined.transaction_hash, "native", tx.sender, tx.to, tx.value)
        token = chain.deploy("TestUSD", sender=deployer)
        mint = token.transact("mint", senders[0], 10**15, sender=deployer)
        record(mint.transaction_hash, "erc20", "0x" + "00" * 20, senders[0], 10**15)
        token_txs = [
            token.tx("transfer", receivers[i % 3], 1 + i, sender=senders[0], gas=80_000)
            for i in range(token_transfers)
        ]
        mined_tokens = chain.send_in_blocks(token_txs, per_block=500)
        for i, mined in enumerate(mined_tokens):
            record(mined.transaction_hash, "erc20", senders[0], receivers[i % 3], 1 + i)
    return expected


def _rows(table: pl.DataFrame) -> set[tuple[str, str, str, str, str]]:
    columns = ("transaction_hash", "transfer_kind", "from_address", "to_address", "value_raw")
    return {tuple(row) for row in table.select(columns).iter_rows()}


async def crawl(node: AnvilNode, expected: Expected, run: Run) -> Outcome:
    config = ServerConfig(
        api_key=KEY,
        calls_per_second=LIMIT,
        burst=run.server_burst,
        limit_style=run.limit_style,
        record_cap=PAGE,
        result_window=WINDOW,
    )
    # Patient retries: a refusal costs one more request, never the crawl.
    retry = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=5.0)
    async with (
        ExplorerServer(node.url, config) as server,
        Transport(retry=retry, rng=random.Random(11)) as transport,
    ):
        head = await asyncio.to_thread(lambda: int(node.request("eth_blockNumber", []), 16))
        source = ExplorerSource(
            transport,
            chain_id=CHAIN_ID,
            url=server.url,
            limits=EndpointLimits(requests_per_second=run.source_rate, max_concurrent=4),
            page_size=PAGE,
            result_window=WINDOW,
            environ={API_KEY_ENV: KEY},
        )
        server.reconfigure(config)  # count only the crawl's requests
        started = time.monotonic()
        addresses = sorted(expected)
        tables = await asyncio.gather(
            *(source.transfers_for_address(address, 0, head) for address in addresses)
        )
        seconds = time.monotonic() - started
        stats = transport.stats()[redact_url(server.url)]
    served_at = server.stats.served_at
    complete = True
    for address, table in zip(addresses, tables, strict=True):
        validate(table)
        complete &= _rows(table) == expected[address] and table.height == len(expected[address])
    return Outcome(
        run=run,
        sent=stats.http_requests,
        answered=server.stats.served,
        refused=server.stats.rate_limited,
        retries=stats.retries,
        seconds=seconds,
        span=served_at[-1] - served_at[0],
        complete=complete,
        rows=sum(table.height for table in tables),
    )


def report(outcomes: Sequence[Outcome]) -> str:
    lines = [
        "| run | server limit | source rate | requests sent | rate-limit answers | retries "
        "| achieved rate | share of 5/s | wall time | rows | table complete |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.run.name} | {o.run.server} | {o.run.source_rate:g}/s | {o.sent} "
            f"| {o.refused} | {o.retries} | {o.rate:.3f}/s | {o.share:.1%} "
            f"| {o.seconds:.1f} s | {o.rows} | {'yes' if o.complete else 'NO'} |"
        )
    return "\n".join(lines)


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller chain (about 40 s)")
    args = parser.parse_args(argv)
    per_sender, tokens = (600, 300) if args.quick else (1_500, 600)
    with AnvilNode(AnvilOptions.for_bulk()) as node:
        expected = await asyncio.to_thread(build_chain, node, per_sender, tokens)
        outcomes = [await crawl(node, expected, run) for run in RUNS]
    print(report(outcomes))
    ok = all(o.complete and o.sent == o.answered + o.refused for o in outcomes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
