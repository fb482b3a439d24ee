"""``tracer trace``: crawl from seed addresses and write the case directory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tracer.atomic import atomic_write, atomic_write_text
from tracer.chains import Chain, chain_by_id, chain_by_name
from tracer.crawl.crawler import Crawler, CrawlLimits, CrawlResult
from tracer.errors import InputError
from tracer.labels.store import LabelStore
from tracer.reports.json_report import build_report
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.transport import EndpointLimits, Transport
from tracer.types import Address, parse_address

_stderr = Console(stderr=True)


def trace(
    seeds: Annotated[
        list[str],
        typer.Argument(
            help="Seed addresses (0x + 40 hex digits; mixed case must be EIP-55 checksummed)."
        ),
    ],
    rpc_url: Annotated[
        str,
        typer.Option(
            "--rpc-url",
            envvar="TRACER_RPC_URL",
            help="JSON-RPC endpoint of an archive node with trace_filter, ots_* or debug_trace*.",
        ),
    ],
    labels: Annotated[
        list[Path] | None,
        typer.Option(
            "--labels",
            help="Label file (CSV: address,name,category[,source,date,confidence,chain_id]). "
            "Repeat for several.",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Case directory for report.json and transfers.parquet.")
    ] = Path("out"),
    chain: Annotated[
        str | None,
        typer.Option(help="Chain name (ethereum, bsc, ...). Default: from the node's eth_chainId."),
    ] = None,
    max_hops: Annotated[
        int, typer.Option(min=0, help="Stop expanding this many hops from a seed.")
    ] = 6,
    max_addresses: Annotated[
        int, typer.Option(min=1, help="Fetch at most this many addresses.")
    ] = 500,
    max_transfers_per_address: Annotated[
        int,
        typer.Option(
            min=1, help="Keep at most this many transfers per address (marked truncated)."
        ),
    ] = 10_000,
    hub_degree: Annotated[
        int,
        typer.Option(min=1, help="Do not expand addresses with more distinct counterparties."),
    ] = 200,
    from_block: Annotated[int, typer.Option(min=0, help="First block of the window.")] = 0,
    to_block: Annotated[
        int | None, typer.Option(min=0, help="Last block (default: the chain head).")
    ] = None,
    rps: Annotated[
        float | None,
        typer.Option(
            "--rps",
            min=0.1,
            help="Requests per second to the RPC endpoint. Default: the chain's registry "
            "value with --chain, unlimited for a loopback URL, else 10.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Requests in flight at once to the RPC endpoint.")
    ] = 8,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display or summary.")
    ] = False,
) -> None:
    """Crawl from SEED addresses, following value forward in time, and write the case.

    Writes DIR/transfers.parquet (the transfer table) and DIR/report.json (seeds, coverage
    per address, value that reached labelled services), then prints a summary.
    """
    parsed_seeds = list(dict.fromkeys(parse_address(seed) for seed in seeds))
    label_store = LabelStore.from_files(labels or [])
    selected_chain = chain_by_name(chain) if chain else None
    limits = CrawlLimits(
        max_hops=max_hops,
        max_addresses=max_addresses,
        max_transfers_per_address=max_transfers_per_address,
        hub_degree=hub_degree,
        from_block=from_block,
        to_block=to_block,
    )
    if to_block is not None and to_block < from_block:
        raise InputError(f"--to-block {to_block} is before --from-block {from_block}")
    endpoint_limits = EndpointLimits(
        requests_per_second=_default_rps(rpc_url, selected_chain) if rps is None else rps,
        max_concurrent=concurrency,
    )
    crawl, chain_info = asyncio.run(
        _crawl(
            rpc_url,
            endpoint_limits,
            selected_chain,
            parsed_seeds,
            label_store,
            limits,
            show_progress=not quiet,
        )
    )
    report = build_report(
        chain_id=chain_info.chain_id,
        native_symbol=chain_info.native_symbol,
        seeds=parsed_seeds,
        crawl=crawl,
        labels=label_store,
    )
    _write_case(out, crawl.transfers, report)
    if not quiet:
        _print_summary(report, out)


def _default_rps(rpc_url: str, chain: Chain | None) -> float | None:
    if chain is not None:
        return chain.rpc_rps
    host = urlsplit(rpc_url).hostname or ""
    if host in {"localhost", "::1"} or host.startswith("127."):
        return None  # our own node: no one to be polite to
    return 10.0


async def _crawl(
    rpc_url: str,
    endpoint_limits: EndpointLimits,
    chain: Chain | None,
    seeds: list[Address],
    labels: LabelStore,
    limits: CrawlLimits,
    *,
    show_progress: bool,
) -> tuple[CrawlResult, Chain]:
    async with Transport() as transport:
        source = JsonRpcSource.connect(transport, rpc_url, limits=endpoint_limits)
        chain_id = await source.chain_id()
        if chain is not None and chain.chain_id != chain_id:
            raise InputError(
                f"--chain {chain.name} expects chain id {chain.chain_id}, "
                f"but the RPC endpoint serves chain id {chain_id}"
            )
        chain_info = chain or chain_by_id(chain_id) or _unknown_chain(chain_id)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=_stderr,
            transient=True,
            disable=not show_progress,
        ) as progress:
            task = progress.add_task("crawling", total=None)

            def on_progress(done: int, queued: int, transfers: int) -> None:
                progress.update(
                    task,
                    description=f"crawling: {done} addresses done, {queued} queued, "
                    f"{transfers} transfers",
                )

            crawler = Crawler(source, labels, limits, on_progress)
            result = await crawler.crawl(seeds)
        return result, chain_info


def _unknown_chain(chain_id: int) -> Chain:
    # An unregistered chain still works; we only lack its native symbol and defaults.
    return Chain(
        name=f"chain-{chain_id}",
        chain_id=chain_id,
        native_symbol="NATIVE",
        wrapped_native=None,
        explorer_chain_id=chain_id,
        rpc_rps=10.0,
        rpc_concurrency=8,
        explorer_rps=3.0,
        explorer_concurrency=2,
    )


def _write_case(out: Path, transfers: pl.DataFrame, report: dict[str, Any]) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {out}: {exc.strerror}") from exc
    atomic_write(out / "transfers.parquet", transfers.write_parquet)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")


def _print_summary(report: dict[str, Any], out: Path) -> None:
    console = Console()
    coverage = report["coverage"]
    console.print(
        f"[bold]Trace of {', '.join(report['seeds'])}[/bold] on chain {report['chain_id']} "
        f"up to block {report['head_block']}"
    )
    console.print(
        f"{report['transfers']['rows']} transfers from {coverage['addresses']} addresses "
        f"({coverage['complete']} complete, {coverage['truncated']} truncated, "
        f"{coverage['failed']} failed); by kind: {report['transfers']['by_kind']}"
    )
    flows = report["labelled_flows"]
    if flows:
        table = Table(title="Value sent by traced addresses into labelled services")
        for column in ("entity", "category", "address", "amounts", "transactions"):
            table.add_column(column)
        for flow in flows:
            amounts = ", ".join(f"{a['amount']} {a['asset']}" for a in flow["amounts"])
            # Label text comes from files we do not control: never let it act as markup.
            table.add_row(
                escape(flow["entity"]),
                flow["category"],
                flow["address"],
                escape(amounts),
                str(len(flow["transactions"])),
            )
        console.print(table)
    failed = [e for e in coverage["entries"] if e["status"] == "failed"]
    for entry in failed:
        console.print(f"[red]failed[/red] {entry['address']}: {escape(str(entry['reason']))}")
    console.print(f"Wrote {out / 'report.json'} and {out / 'transfers.parquet'}")
