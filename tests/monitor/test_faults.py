"""The monitor through the fault-injecting proxy: providers that cap block ranges, nodes
without trace_filter, and a node that dies in the middle of a pass."""

from __future__ import annotations

from typing import Any

import pytest

from tests.monitor.conftest import ETH, Live
from tests.sources.fault_proxy import Fault, FaultProxy
from tracer.errors import SourceError
from tracer.monitor.runner import run_pass


def history(live: Live) -> int:
    """Four alerts over at least three blocks; the first block."""
    live.watchlist()
    first = live.confirm(live.send(live.seed, live.stranger, ETH), 0)
    live.confirm(live.send(live.seed, live.hop, 2 * ETH), 0)
    live.confirm(live.send(live.hop, live.exchange, ETH), 2)
    return first


def ids(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["kind"], a["transaction_hash"]) for a in alerts]


@pytest.mark.parametrize(
    "proxy_options",
    [
        {"range_caps": dict([FaultProxy.cap("trace_filter", 2), FaultProxy.cap("eth_getLogs", 3)])},
        {"disabled_methods": frozenset({"trace_filter"})},  # geth: callTracer per block
        {
            "disabled_methods": frozenset(
                {"trace_filter", "debug_traceBlockByNumber", "ots_getApiLevel"}
            )
        },
    ],
    ids=["range-caps", "callTracer", "blocks"],
)
async def test_every_read_path_raises_the_same_alerts(
    live: Live, proxy_options: dict[str, Any]
) -> None:
    first = history(live)
    direct = await run_pass(live.watchlist(), live.options(from_block=first, window_blocks=10))
    assert [kind for kind, _ in ids(direct.alerts)] == ["outflow", "outflow", "reached_exchange"]
    async with FaultProxy(live.node.url, **proxy_options) as proxy:
        proxied = await run_pass(
            live.watchlist(),
            live.options(
                rpc_url=proxy.url,
                from_block=first,
                window_blocks=10,
                state_path=live.tmp / "proxied.sqlite",
                alerts_path=live.tmp / "proxied.jsonl",
            ),
        )
    assert [a["id"] for a in proxied.alerts] == [a["id"] for a in direct.alerts]
    if "range_caps" in proxy_options:
        assert proxy.range_refusals > 0


async def test_a_node_dying_mid_pass_keeps_what_was_committed(live: Live) -> None:
    first = history(live)
    clean = await run_pass(live.watchlist(), live.options(from_block=first, window_blocks=1))
    options = live.options(
        from_block=first,
        window_blocks=1,
        state_path=live.tmp / "dying.sqlite",
        alerts_path=live.tmp / "dying.jsonl",
    )
    # Enough good requests for the probe and the first windows, then only 502s.
    schedule = [Fault.PASS] * 12 + [Fault.BAD_GATEWAY] * 10_000
    async with FaultProxy(live.node.url, schedule=schedule) as proxy:
        with pytest.raises(SourceError, match="502"):
            await run_pass(live.watchlist(), live.replace_url(options, proxy.url))
    partial = live.lines(options.alerts_path)
    assert 0 < len(partial) < len(clean.alerts)
    resumed = await run_pass(live.watchlist(), options)
    assert partial + resumed.alerts == clean.alerts
    assert live.lines(options.alerts_path) == clean.alerts
