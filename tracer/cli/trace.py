"""``tracer trace``: crawl from seed addresses and write the case directory."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tracer.analysis import MixerFollower, probes_to_json
from tracer.atomic import atomic_write, atomic_write_text
from tracer.cases import EDGES_FILE, NODES_FILE, PROBES_FILE
from tracer.chains import Chain, chain_by_id, chain_by_name
from tracer.cli.options import LabelFiles, NoDefaultLabels, label_paths
from tracer.cli.progress import progress_line
from tracer.crawl.case import (
    CACHE_FILE,
    RunStats,
    TraceOptions,
    TraceOutcome,
    labels_digest,
    run_case,
    unknown_chain,
)
from tracer.crawl.crawler import DEFAULT_MAX_HOPS, CrawlLimits
from tracer.crawl.frontier import FrontierPolicy
from tracer.crawl.probe import ChainActivity, configured_chains, env_name, probe_address
from tracer.crawl.window import parse_when
from tracer.errors import InputError, SourceError
from tracer.exporters.registry import check_formats, export_case_dir
from tracer.graph.build import build_flow_graph
from tracer.graph.tables import graph_tables, token_info_of
from tracer.heuristics.mixers.combine import HEURISTICS as DEMIX_HEURISTICS
from tracer.heuristics.mixers.follow import Route
from tracer.heuristics.mixers.model import as_float
from tracer.heuristics.taint.model import Policy
from tracer.labels.store import LabelStore
from tracer.reports.documents import MARKDOWN_FILE, write_markdown
from tracer.reports.json_report import build_report
from tracer.reports.paths import add_offramp_paths
from tracer.reports.terminal import print_summary
from tracer.sources.jsonrpc import TracePath
from tracer.sources.rpcclient import JsonRpcClient
from tracer.sources.transport import EndpointLimits, RetryPolicy, Transport
from tracer.types import NATIVE_TOKEN, Address, parse_address

_stderr = Console(stderr=True)
GraphTables = tuple[pl.DataFrame, pl.DataFrame]  # nodes, edges
NATIVE_DECIMALS = 18  # every chain in configs/chains.toml
# The mixer-demix heuristic's own threshold: links it calls attributions are followed.
DEFAULT_MIXER_THRESHOLD = as_float(DEMIX_HEURISTICS[0].defaults(), "threshold")
# Crawl extensions through mixers at most: each follows a further layer of withdrawals (a
# recipient who deposits again, or links found once more of the cluster is known).
MAX_MIXER_ROUNDS = 8


def trace(
    seeds: Annotated[
        list[str],
        typer.Argument(
            help="Seed addresses (0x + 40 hex digits; mixed case must be EIP-55 checksummed)."
        ),
    ],
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc-url",
            envvar="TRACER_RPC_URL",
            help="JSON-RPC endpoint of an archive node with trace_filter, ots_* or debug_trace*.",
        ),
    ] = None,
    labels: LabelFiles = None,
    no_default_labels: NoDefaultLabels = False,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Case directory: report.json, transfers.parquet, the crawl checkpoint and "
            "(by default) the answer cache. Running again with the same directory resumes.",
        ),
    ] = Path("out"),
    chain: Annotated[
        str | None,
        typer.Option(help="Chain name (ethereum, bsc, ...). Default: from the node's eth_chainId."),
    ] = None,
    all_chains: Annotated[
        bool,
        typer.Option(
            "--all-chains",
            help="Probe the seeds on every chain with TRACER_RPC_URL_<NAME> set (and --rpc-url), "
            "then trace each chain where they are active into DIR/<chain>/.",
        ),
    ] = False,
    frontier: Annotated[
        FrontierPolicy,
        typer.Option(
            help="Crawl order: bfs (fewest hops first) or taint (addresses that received the "
            "most traced value first)."
        ),
    ] = FrontierPolicy.BFS,
    max_hops: Annotated[
        int,
        typer.Option(
            min=0,
            help="Stop expanding this many hops from a seed (a mixer crossing counts as one).",
        ),
    ] = DEFAULT_MAX_HOPS,
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
    min_value: Annotated[
        str | None,
        typer.Option(
            help="Do not follow native-asset outflows below this amount in whole units "
            "(e.g. 0.01); they stay in the table."
        ),
    ] = None,
    min_token_value: Annotated[
        list[str] | None,
        typer.Option(
            help="TOKEN=RAW: do not follow outflows of token TOKEN below RAW (integer base "
            "units). Repeat for several tokens."
        ),
    ] = None,
    from_block: Annotated[int, typer.Option(min=0, help="First block of the window.")] = 0,
    to_block: Annotated[
        int | None, typer.Option(min=0, help="Last block (default: the chain head).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Start at the first block at or after this UTC date or date-time."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="End at the last block before this UTC date or date-time."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            envvar="TRACER_CACHE",
            help=f"Answer cache (SQLite). Default: DIR/{CACHE_FILE}. Share one between cases "
            "to reuse answers.",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the answer cache.")
    ] = False,
    confirmations: Annotated[
        int,
        typer.Option(
            min=0, help="Cache only answers at least this many blocks below the head (reorgs)."
        ),
    ] = 12,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="Forget the crawl recorded in DIR and start again from the seeds."
        ),
    ] = False,
    trace_path: Annotated[
        TracePath | None,
        typer.Option(
            help="Force how native and internal value is read (default: the best the node "
            "offers, probed once)."
        ),
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
    policy: Annotated[
        str,
        typer.Option(
            help="Taint policy: haircut (proportional), fifo (first in, first out) or poison "
            "(every outflow of a tainted address counts in full)."
        ),
    ] = "haircut",
    mixer_threshold: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Follow a mixer withdrawal when its link to a traced deposit has at least "
            "this confidence: its recipient is crawled and traced funds flow on from it. "
            "1 follows only certain links.",
        ),
    ] = DEFAULT_MIXER_THRESHOLD,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display or summary.")
    ] = False,
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            callback=check_formats,
            help="Also export the case after the report, into DIR/export/ (with "
            "--all-chains: each traced chain's DIR/<chain>/export/): formats, "
            "comma-separated (graphml, gexf, cytoscape, dot, neo4j, maltego, csv, parquet; "
            "see `tracer export`).",
        ),
    ] = None,
) -> None:
    """Crawl from SEED addresses, following value forward in time, and write the case.

    Mixer withdrawals linked to traced deposits with at least --mixer-threshold confidence
    are followed: their recipients are crawled too, until no new link is found. Recipients
    of less likely withdrawals are probed: a day of their transfers is read as evidence.

    Writes DIR/transfers.parquet (the transfer table), DIR/events.parquet and
    DIR/transactions.parquet (protocol events and facts of the traced transactions),
    DIR/probes.parquet (the probed transfers) and DIR/report.json (seeds, off-ramps, mixer
    links, probes, coverage per address, value that reached labelled services), then prints
    a summary. The crawl is
    checkpointed in DIR: after an interruption the same command resumes it, and a re-run of
    a finished case answers from DIR's cache without a single request.
    """
    parsed_seeds = tuple(dict.fromkeys(parse_address(seed) for seed in seeds))
    chosen_policy = Policy.parse(policy)
    paths = label_paths(labels, no_default_labels)
    label_store = LabelStore.from_files(paths)
    selected_chain = chain_by_name(chain) if chain else None
    if to_block is not None and to_block < from_block:
        raise InputError(f"--to-block {to_block} is before --from-block {from_block}")
    limits = CrawlLimits(
        max_hops=max_hops,
        max_addresses=max_addresses,
        max_transfers_per_address=max_transfers_per_address,
        hub_degree=hub_degree,
        from_block=from_block,
        to_block=to_block,
        min_value=_min_values(min_value, min_token_value or []),
        policy=frontier,
    )
    base = TraceOptions(
        seeds=parsed_seeds,
        rpc_url=rpc_url or "",
        out=out,
        limits=limits,
        chain=selected_chain,
        since=parse_when(since, "--since") if since else None,
        until=parse_when(until, "--until") if until else None,
        cache_path=None if no_cache else cache,
        confirmations=confirmations,
        trace_path=trace_path,
        restart=restart,
        labels_digest=labels_digest(paths),
        # Policy and threshold decide which mixer withdrawals are followed, so what is crawled.
        expansion={"mixer_threshold": mixer_threshold, "policy": chosen_policy.value},
    )
    follower = MixerFollower(
        parsed_seeds, label_store, policy=chosen_policy, threshold=mixer_threshold
    )
    if all_chains:
        _trace_all_chains(
            base, label_store, rps, concurrency, quiet=quiet, no_cache=no_cache,
            follower=follower, export=export,
        )  # fmt: skip
        return
    if not rpc_url:
        raise InputError("no RPC endpoint: give --rpc-url URL or set TRACER_RPC_URL")
    options = _case_options(base, rpc_url, selected_chain, out, rps, concurrency, no_cache)
    _trace_case(options, label_store, follower, quiet=quiet, export=export)


def _trace_case(
    options: TraceOptions,
    labels: LabelStore,
    follower: MixerFollower,
    *,
    quiet: bool,
    export: str | None,
) -> None:
    """Crawl one chain's case, write it into options.out, export it, print what was found.
    The progress line (tracer/cli/progress.py) says what runs until the files are written."""
    with progress_line(_stderr, quiet=quiet) as line:
        # Crawl, then follow mixer links (crawl their recipients, analyse again) until
        # nothing new is found.
        outcome = asyncio.run(
            run_case(
                options,
                labels,
                on_progress=line.crawl,
                on_phase=line.phase,
                expand=follower,
                max_expansions=MAX_MIXER_ROUNDS,
            )
        )
        line.say("building the report")
        report, tables = _case_report(outcome, list(options.seeds), follower)
        _write_case(options.out, outcome, report, tables)
        if export:
            line.say("exporting the case")
            export_case_dir(options.out, export)
    _print_notes(outcome)
    if not quiet:
        _print_summary(report, options.out, outcome.stats)


def _case_options(
    base: TraceOptions,
    rpc_url: str,
    chain: Chain | None,
    out: Path,
    rps: float | None,
    concurrency: int,
    no_cache: bool,
) -> TraceOptions:
    cache_path = None if no_cache else (base.cache_path or out / CACHE_FILE)
    return TraceOptions(
        seeds=base.seeds,
        rpc_url=rpc_url,
        out=out,
        limits=base.limits,
        chain=chain,
        since=base.since,
        until=base.until,
        cache_path=cache_path,
        confirmations=base.confirmations,
        endpoint_limits=EndpointLimits(
            requests_per_second=_default_rps(rpc_url, chain) if rps is None else rps,
            max_concurrent=concurrency,
        ),
        trace_path=base.trace_path,
        restart=base.restart,
        labels_digest=base.labels_digest,
        expansion=base.expansion,
    )


def _min_values(native: str | None, tokens: list[str]) -> dict[str, int]:
    minimums: dict[str, int] = {}
    if native is not None:
        minimums[NATIVE_TOKEN] = _whole_units_to_raw(native, "--min-value")
    for spec in tokens:
        token, sep, raw = spec.partition("=")
        if not sep or not raw.strip().isdigit():
            raise InputError(
                f"--min-token-value {spec!r}: expected TOKEN=RAW, e.g. 0xdac1...=1000000"
            )
        minimums[parse_address(token)] = int(raw)
    return minimums


def _whole_units_to_raw(text: str, option: str) -> int:
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"{option} {text!r}: expected an amount such as 0.5") from None
    # scaleb rounds to the context's precision (28 digits by default): give it enough for
    # any uint256, so a large amount is taken exactly or refused, never rounded.
    with localcontext(prec=100):
        raw = amount.scaleb(NATIVE_DECIMALS)
    if not amount.is_finite() or amount < 0 or raw != raw.to_integral_value():
        raise InputError(
            f"{option} {text!r}: expected a non-negative amount with at most 18 decimals"
        )
    return int(raw)


def _default_rps(rpc_url: str, chain: Chain | None) -> float | None:
    if chain is not None:
        return chain.rpc_rps
    host = urlsplit(rpc_url).hostname or ""
    if host in {"localhost", "::1"} or host.startswith("127."):
        return None  # our own node: no one to be polite to
    return 10.0


# -- all chains --------------------------------------------------------------------------


def _trace_all_chains(
    base: TraceOptions,
    labels: LabelStore,
    rps: float | None,
    concurrency: int,
    *,
    quiet: bool,
    no_cache: bool,
    follower: MixerFollower,
    export: str | None,
) -> None:
    targets = asyncio.run(_all_chain_targets(base.rpc_url))
    if not targets:
        raise InputError(
            "--all-chains found no endpoints: set TRACER_RPC_URL_<CHAIN> for each chain "
            f"(e.g. {env_name(chain_by_name('ethereum'))}) or give --rpc-url"
        )
    activity = asyncio.run(_probe_all(targets, base.seeds))
    summary = [
        {"seed": seed, **probe.to_json()} for seed, probes in activity.items() for probe in probes
    ]
    base.out.mkdir(parents=True, exist_ok=True)
    traced: list[str] = []
    failures = [probe for probes in activity.values() for probe in probes if probe.error]
    for chain, url in targets:
        if not any(p.active for probes in activity.values() for p in probes if p.chain == chain):
            continue
        out = base.out / chain.name
        options = _case_options(base, url, chain, out, rps, concurrency, no_cache)
        _trace_case(options, labels, follower, quiet=quiet, export=export)
        traced.append(chain.name)
    document = {"seeds": list(base.seeds), "chains": summary, "traced": traced}
    atomic_write_text(base.out / "chains.json", json.dumps(document, indent=2) + "\n")
    if not quiet:
        _print_activity(activity)
    if failures:
        raise SourceError(
            f"{len(failures)} chain probe(s) failed (see {base.out / 'chains.json'}): "
            + "; ".join(f"{p.chain.name}: {p.error}" for p in failures)
        )


async def _all_chain_targets(rpc_url: str) -> list[tuple[Chain, str]]:
    targets = configured_chains()
    if rpc_url:
        async with Transport() as transport:
            client = JsonRpcClient(transport, rpc_url)
            answer = await client.call("eth_chainId")
        chain_id = int(answer, 16) if isinstance(answer, str) else -1
        if all(chain.chain_id != chain_id for chain, _url in targets):
            targets.append((chain_by_id(chain_id) or unknown_chain(chain_id), rpc_url))
    return targets


# A probe is a quick question: a dead endpoint is reported in seconds, not waited out.
_PROBE_RETRIES = RetryPolicy(max_attempts=3)


async def _probe_all(
    targets: list[tuple[Chain, str]], seeds: tuple[Address, ...]
) -> dict[Address, list[ChainActivity]]:
    async with Transport(retry=_PROBE_RETRIES) as transport:
        clients = [(chain, JsonRpcClient(transport, url)) for chain, url in targets]
        results: dict[Address, list[ChainActivity]] = {}
        for seed in seeds:
            results[seed] = list(
                await asyncio.gather(
                    *(probe_address(client, chain, seed) for chain, client in clients)
                )
            )
        return results


def _print_activity(activity: dict[Address, list[ChainActivity]]) -> None:
    table = Table(title="Seed activity per chain")
    for column in ("seed", "chain", "chain id", "nonce", "balance (raw)", "contract", "status"):
        table.add_column(column)
    for seed, probes in activity.items():
        for probe in probes:
            status = (
                f"[red]error: {escape(probe.error)}[/red]"
                if probe.error
                else ("active: traced" if probe.active else "no native activity")
            )
            table.add_row(
                seed,
                probe.chain.name,
                str(probe.chain.chain_id),
                "" if probe.nonce is None else str(probe.nonce),
                "" if probe.balance_raw is None else str(probe.balance_raw),
                "" if probe.has_code is None else ("yes" if probe.has_code else "no"),
                status,
            )
    Console().print(table)


# -- outputs -----------------------------------------------------------------------------


def _case_report(
    outcome: TraceOutcome, seeds: list[Address], follower: MixerFollower
) -> tuple[dict[str, Any], GraphTables]:
    """The report and the traced flow graph's tables (nodes, edges)."""
    crawl = outcome.crawl
    labels = follower.labels
    report = build_report(
        chain_id=outcome.chain.chain_id,
        native_symbol=outcome.chain.native_symbol,
        seeds=seeds,
        crawl=crawl,
        labels=labels,
    )
    # Data the source could not deliver for any address: said here and in every entry.
    report["coverage"]["trace_path"] = outcome.trace_path.value
    report["coverage"]["gaps"] = [outcome.data_gap] if outcome.data_gap else []
    report["window"] = {"from_block": crawl.from_block, "to_block": crawl.head_block}
    last = outcome.expansions[-1] if outcome.expansions else None
    analysis = follower.analyse(crawl, outcome.protocol, last)
    report["policy"] = follower.policy.value
    report["mixer_threshold"] = follower.threshold
    report["mixer_rounds"] = len(outcome.expansions)
    report["offramps"] = [
        _with_route(
            offramp.to_json(), analysis.routes[(offramp.address, offramp.asset.token_address)]
        )
        for offramp in analysis.offramps
    ]
    report["mixer_links"] = [link.to_json() for link in analysis.mixer_links]
    report["probes"] = probes_to_json(outcome.rounds(), outcome.protocol.probed, crawl)
    report["findings"] = [finding.to_json() for finding in analysis.findings]
    graph = build_flow_graph(crawl.transfers, analysis.taint, labels)
    token_info = token_info_of(crawl.transfers)
    add_offramp_paths(
        report, graph, token_info=token_info,
        native_symbol=outcome.chain.native_symbol, conversions=analysis.taint.conversions,
    )  # fmt: skip
    return report, graph_tables(graph, analysis.offramps, token_info)


def _with_route(entry: dict[str, Any], route: Route) -> dict[str, Any]:
    """An off-ramp entry with how it was reached: the route's confidence (``confidence`` is
    the identification's times this) and the mixer links on its routes."""
    entry["route"] = {
        "confidence": round(route.confidence, 4),
        "mixer_links": [
            {"deposit_tx": deposit, "withdrawal_tx": withdrawal}
            for deposit, withdrawal in sorted(route.links)
        ],
    }
    return entry


def _write_case(
    out: Path, outcome: TraceOutcome, report: dict[str, Any], tables: GraphTables
) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {out}: {exc.strerror}") from exc
    atomic_write(out / "transfers.parquet", outcome.crawl.transfers.write_parquet)
    atomic_write(out / "events.parquet", outcome.protocol.events.write_parquet)
    atomic_write(out / "transactions.parquet", outcome.protocol.transactions.write_parquet)
    atomic_write(out / PROBES_FILE, outcome.protocol.probed.write_parquet)
    nodes, edges = tables
    atomic_write(out / NODES_FILE, nodes.write_parquet)
    atomic_write(out / EDGES_FILE, edges.write_parquet)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_markdown(report, out)


def _print_notes(outcome: TraceOutcome) -> None:
    for note in outcome.notes:
        _stderr.print(f"note: {escape(note)}")
    crawl = outcome.crawl
    for seed in outcome.seed_contracts:
        _stderr.print(
            f"warning: seed {seed} is a contract (it has code at block {crawl.head_block}): "
            "tracing a contract follows the funds of everyone who uses it, not one owner's",
            soft_wrap=True,  # one line, whatever the terminal width
        )
    if crawl.transfers.height == 0:
        _stderr.print(
            f"note: no activity: the seeds have no transfers in blocks {crawl.from_block}.."
            f"{crawl.head_block}; the report is empty",
            soft_wrap=True,
        )
    if outcome.data_gap and not outcome.probed:  # a probe has logged it already
        _stderr.print(f"warning: {escape(outcome.data_gap)}")


def _print_summary(report: dict[str, Any], out: Path, stats: RunStats) -> None:
    console = Console()
    print_summary(report, console)
    cache = stats.cache
    cached = (
        f"; cache: {cache.hits} hits, {cache.misses} misses, {cache.stored} stored"
        if cache is not None
        else ""
    )
    console.print(
        f"{stats.http_requests} HTTP requests ({stats.rpc_calls} JSON-RPC calls) "
        f"in {stats.seconds:.1f} s{cached}"
    )
    files = ", ".join(f"{out / name}" for name in ("report.json", MARKDOWN_FILE))
    console.print(f"Wrote {escape(files)} and the case tables")
