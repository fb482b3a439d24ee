"""The transport and the JSON-RPC client against a real anvil, through the fault proxy."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.sources.conftest import FAST_RETRY, SHORT_TIMEOUTS, UNLIMITED
from tests.sources.fault_proxy import Fault, FaultProxy
from tracer.errors import (
    EndpointUnreachableError,
    HttpStatusError,
    RangeTooLargeError,
    RateLimitedError,
    ResponseFormatError,
    RpcError,
    SourceError,
    SourceTimeoutError,
    TransientSourceError,
)
from tracer.sources.rpcclient import JsonRpcClient, RpcCall, classify_rpc_error
from tracer.sources.transport import (
    EndpointLimits,
    RateLimiter,
    RetryPolicy,
    Transport,
    parse_retry_after,
    redact_url,
    request_key,
)
from tracer.testbed.anvil import AnvilNode, free_loopback_port

INFURA_KEY = "0123456789abcdef0123456789abcdef"
ALCHEMY_KEY = "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7"


@pytest.fixture
async def proxy(anvil: AnvilNode) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(anvil.url) as running:
        yield running


# -- pure helpers ------------------------------------------------------------------------


def test_redact_url_hides_path_keys_query_values_and_userinfo() -> None:
    assert redact_url(f"https://mainnet.infura.io/v3/{INFURA_KEY}") == (
        "https://mainnet.infura.io/v3/***"
    )
    assert redact_url(f"https://eth-mainnet.g.alchemy.com/v2/{ALCHEMY_KEY}") == (
        "https://eth-mainnet.g.alchemy.com/v2/***"
    )
    assert redact_url("https://api.etherscan.io/v2/api?chainid=1&apikey=SECRETKEY") == (
        "https://api.etherscan.io/v2/api?chainid=***&apikey=***"
    )
    assert redact_url("http://user:hunter2@127.0.0.1:8545/") == "http://***@127.0.0.1:8545/"
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert redact_url("not a url") == "<relative URL>"
    # Keys made only of letters, or short mixed ones, are keys too; route words stay readable.
    assert redact_url("https://x.quiknode.pro/abcdefghijklmnopqrstuvwxyz/") == (
        "https://x.quiknode.pro/***/"
    )
    assert redact_url("https://rpc.example/api/k3y9ab/mainnet") == (
        "https://rpc.example/api/***/mainnet"
    )


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-3", now) == 0.0


def test_rate_limiter_spaces_slots_after_the_burst() -> None:
    clock = [100.0]
    limiter = RateLimiter(rate=10.0, burst=3, clock=lambda: clock[0])
    waits = [limiter.reserve() for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])
    limiter.defer(2.0)  # a Retry-After of 2 s pauses every later slot
    assert limiter.reserve() >= 2.0
    batch_limiter = RateLimiter(rate=10.0, clock=lambda: clock[0])
    assert batch_limiter.reserve(cost=20) == 0.0
    assert batch_limiter.reserve() == pytest.approx(2.0)  # a 20-call batch used 2 s of budget


def test_backoff_is_full_jitter_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    for attempt in range(1, 10):
        ceiling = min(8.0, 2 ** (attempt - 1))
        samples = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0.0 <= sample <= ceiling for sample in samples)
        assert max(samples) > 0.8 * ceiling  # spread over the whole interval, not a fixed delay


def test_request_key_is_stable_and_ignores_the_endpoint() -> None:
    params = [{"fromBlock": "0x1", "toBlock": "0x2", "topics": [None]}]
    key = request_key(1, "eth_getLogs", params)
    assert key == request_key(
        1, "eth_getLogs", [{"toBlock": "0x2", "fromBlock": "0x1", "topics": [None]}]
    )
    assert key != request_key(10, "eth_getLogs", params)
    assert len(key) == 32


async def test_rpc_errors_are_classified_by_code_and_data(transport: Transport) -> None:
    endpoint = transport.endpoint("http://127.0.0.1:1")
    infura_rate = {"current_rps": 13.3, "allowed_rps": 10.0, "backoff_seconds": 30.0}
    rate = classify_rpc_error(endpoint, "eth_getLogs", -32005, "rate", infura_rate)
    assert isinstance(rate, RateLimitedError) and rate.retry_after == 30.0
    assert isinstance(
        classify_rpc_error(endpoint, "eth_getBalance", -32005, "x", None), RateLimitedError
    )
    assert isinstance(classify_rpc_error(endpoint, "eth_call", 429, "cups", None), RateLimitedError)
    for code in (-32005, -32602, -32012):
        too_wide = classify_rpc_error(endpoint, "eth_getLogs", code, "x", {"from": "0x1"})
        assert isinstance(too_wide, RangeTooLargeError) and too_wide.code == code
    assert isinstance(
        classify_rpc_error(endpoint, "trace_filter", -32602, "300", None), RangeTooLargeError
    )
    plain = classify_rpc_error(endpoint, "eth_call", -32602, "bad", None)
    assert type(plain) is RpcError and not plain.retryable and plain.code == -32602


# -- against anvil -----------------------------------------------------------------------


async def test_call_and_counters(transport: Transport, anvil: AnvilNode) -> None:
    client = JsonRpcClient(transport, anvil.url, limits=UNLIMITED)
    assert await client.call("eth_chainId") == hex(31337)
    results = await client.batch([RpcCall("eth_blockNumber"), RpcCall("net_version")])
    assert results == ["0x0", "31337"]
    stats = transport.stats()[anvil.url]
    assert (stats.http_requests, stats.rpc_calls, stats.retries) == (2, 3, 0)


async def test_rate_limiter_holds_the_configured_rate(
    transport: Transport, proxy: FaultProxy
) -> None:
    rate = 25.0
    limits = EndpointLimits(requests_per_second=rate, max_concurrent=8, burst=1)
    client = JsonRpcClient(transport, proxy.url, limits=limits)
    await client.call("eth_blockNumber")  # open a connection before measuring
    proxy.records.clear()
    await asyncio.gather(*(client.call("eth_blockNumber") for _ in range(30)))
    arrivals = [record.at for record in proxy.records]
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert 0.9 * rate <= achieved <= 1.08 * rate
    # no one-second window ever holds more than rate (+1 for the window's edges)
    assert max(sum(1 for t in arrivals if s <= t < s + 1.0) for s in arrivals) <= rate + 1


async def test_a_batch_is_charged_per_call(transport: Transport, proxy: FaultProxy) -> None:
    client = JsonRpcClient(transport, proxy.url, limits=EndpointLimits(requests_per_second=20.0))
    await client.batch([RpcCall("eth_blockNumber")] * 10)
    await client.call("eth_blockNumber")
    first, second = proxy.records
    assert second.at - first.at >= 0.45  # 10 calls at 20/s: the next slot is 0.5 s later


async def test_concurrency_is_capped_per_endpoint(transport: Transport, proxy: FaultProxy) -> None:
    proxy.respond_delay = 0.05
    limits = EndpointLimits(requests_per_second=None, max_concurrent=3)
    client = JsonRpcClient(transport, proxy.url, limits=limits)
    await asyncio.gather(*(client.call("eth_blockNumber") for _ in range(12)))
    assert proxy.max_in_flight == 3


async def test_retry_after_seconds_is_honoured(transport: Transport, proxy: FaultProxy) -> None:
    proxy.schedule = [Fault.RATE_LIMIT, Fault.PASS]
    proxy.retry_after = "1"
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED)
    assert await client.call("eth_chainId") == hex(31337)
    refused, accepted = proxy.records
    assert accepted.at - refused.at >= 1.0
    assert transport.stats()[proxy.url].failures == {"RateLimitedError": 1}


async def test_retry_after_http_date_is_honoured(transport: Transport, proxy: FaultProxy) -> None:
    def two_seconds_from_now(_: int) -> str:
        return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)

    proxy.schedule = [Fault.RATE_LIMIT, Fault.PASS]
    proxy.retry_after = two_seconds_from_now
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED)
    await client.call("eth_chainId")
    refused, accepted = proxy.records
    # HTTP dates have whole seconds, so "2 s from now" means between 1 and 2 s.
    assert 0.95 <= accepted.at - refused.at <= 2.5


async def test_a_retry_after_beyond_the_cap_is_raised_at_once(
    transport: Transport, proxy: FaultProxy
) -> None:
    proxy.schedule = [Fault.RATE_LIMIT]
    proxy.retry_after = "3600"  # a daily quota: waiting it out inside one call is pointless
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED)
    with pytest.raises(RateLimitedError) as caught:
        await client.call("eth_chainId")
    assert caught.value.retry_after == 3600.0
    assert len(proxy.records) == 1


async def test_every_transient_fault_is_retried(transport: Transport, proxy: FaultProxy) -> None:
    proxy.schedule = [
        Fault.BAD_GATEWAY,
        Fault.TRUNCATE,
        Fault.DROP,
        Fault.LIMIT,
        Fault.STALL,
        Fault.PASS,
    ]
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED)
    started = time.monotonic()
    assert await client.call("eth_getBalance", ["0x" + "00" * 20, "0x0"]) == "0x0"
    assert time.monotonic() - started < 2.0  # the 5 s stall was cut off by the read timeout
    stats = transport.stats()[proxy.url]
    assert stats.retries == 5
    assert stats.failures == {
        "TransientSourceError": 2,  # the 502 and the dropped connection
        "ResponseFormatError": 1,  # the truncated body
        "RateLimitedError": 1,  # -32005
        "SourceTimeoutError": 1,  # the stall
    }


async def test_retries_run_out(transport: Transport, proxy: FaultProxy) -> None:
    proxy.schedule = [Fault.STALL]
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED)
    with pytest.raises(SourceTimeoutError) as caught:
        await client.call("eth_chainId")
    assert len(proxy.records) == FAST_RETRY.max_attempts
    assert "gave up after 6 attempts" in "".join(caught.value.__notes__)


async def test_non_idempotent_calls_are_sent_once(
    transport: Transport, proxy: FaultProxy, anvil: AnvilNode
) -> None:
    sender, receiver = anvil.request("eth_accounts", [])[:2]
    # The proxy forwards the transaction, then cuts the answer off: the transaction is on
    # chain although the client saw a failure. Retrying would send it twice.
    proxy.schedule = [Fault.DROP]
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED)
    tx = {"from": sender, "to": receiver, "value": hex(10**15)}
    with pytest.raises(TransientSourceError):
        await client.call("eth_sendTransaction", [tx])
    assert len(proxy.records) == 1
    # anvil mines asynchronously after accepting a transaction: wait for the block, then
    # check that exactly one transaction went through.
    deadline = time.monotonic() + 10
    while anvil.request("eth_getTransactionCount", [sender, "latest"]) == "0x0":
        assert time.monotonic() < deadline, "the forwarded transaction was never mined"
        await asyncio.sleep(0.02)
    assert anvil.request("eth_getTransactionCount", [sender, "latest"]) == "0x1"
    proxy.schedule = [Fault.LIMIT]
    with pytest.raises(RateLimitedError):
        await client.batch([RpcCall("eth_sendTransaction", [tx]), RpcCall("eth_chainId")])
    # Per item: the read in the same batch is retried, the transaction never again.
    later = [method for record in proxy.records[1:] for method in record.methods]
    assert later.count("eth_sendTransaction") == 1
    assert later.count("eth_chainId") == FAST_RETRY.max_attempts


async def test_batches_match_out_of_order_answers_and_retry_only_failed_items(
    transport: Transport, proxy: FaultProxy, anvil: AnvilNode
) -> None:
    anvil.request("anvil_mine", [hex(40)])
    proxy.reverse_batches = True
    proxy.item_limit_every = 4  # every 4th call gets -32005
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED, max_batch_size=40)
    calls = [RpcCall("eth_getBlockByNumber", [hex(n), False]) for n in range(40)]
    blocks = await client.batch(calls)
    assert [int(block["number"], 16) for block in blocks] == list(range(40))
    first, *retries = proxy.records
    assert len(first.methods) == 40
    assert len(retries[0].methods) == 10  # only the refused calls go again
    assert proxy.forwarded_calls == 40  # every call reached the node exactly once


async def test_per_item_errors_stay_in_place(transport: Transport, anvil: AnvilNode) -> None:
    client = JsonRpcClient(transport, anvil.url, limits=UNLIMITED)
    calls = [RpcCall("eth_chainId"), RpcCall("no_such_method"), RpcCall("net_version")]
    chain, missing, version = await client.batch_settled(calls)
    assert (chain, version) == (hex(31337), "31337")
    assert isinstance(missing, RpcError) and missing.code == -32601
    with pytest.raises(RpcError, match="no_such_method failed with JSON-RPC error -32601"):
        await client.batch(calls)
    assert transport.stats()[anvil.url].retries == 0  # a missing method is not retried


async def test_large_batches_are_split(transport: Transport, proxy: FaultProxy) -> None:
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED, max_batch_size=7)
    results = await client.batch([RpcCall("eth_chainId")] * 20)
    assert results == [hex(31337)] * 20
    assert sorted(len(record.methods) for record in proxy.records) == [6, 7, 7]


async def test_batching_can_be_turned_off(transport: Transport, proxy: FaultProxy) -> None:
    client = JsonRpcClient(transport, proxy.url, limits=UNLIMITED, batching=False)
    results = await client.batch([RpcCall("eth_chainId"), RpcCall("net_version")])
    assert results == [hex(31337), "31337"]
    assert sorted(record.methods for record in proxy.records) == [["eth_chainId"], ["net_version"]]


async def test_unreachable_endpoint_is_a_clear_error() -> None:
    port = free_loopback_port()
    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    async with Transport(timeouts=SHORT_TIMEOUTS, retry=policy) as transport:
        client = JsonRpcClient(transport, f"http://127.0.0.1:{port}")
        with pytest.raises(EndpointUnreachableError) as caught:
            await client.call("eth_chainId")
    assert str(caught.value) == f"cannot reach RPC at http://127.0.0.1:{port}: connection refused"


async def test_api_keys_never_reach_errors_or_logs(
    proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_url = f"{proxy.url}/v3/{INFURA_KEY}?apikey=SECRETKEY"
    proxy.schedule = [Fault.BAD_GATEWAY]
    errors: list[SourceError] = []
    async with Transport(timeouts=SHORT_TIMEOUTS, retry=FAST_RETRY) as transport:
        client = JsonRpcClient(
            transport, secret_url, limits=UNLIMITED, headers={"Authorization": "Bearer TOKEN"}
        )
        with pytest.raises(TransientSourceError) as caught:
            await client.call("eth_chainId")
        errors.append(caught.value)
        dead = JsonRpcClient(transport, f"http://127.0.0.1:{free_loopback_port()}/{ALCHEMY_KEY}")
        with pytest.raises(EndpointUnreachableError) as caught_dead:
            await dead.call("eth_chainId")
        errors.append(caught_dead.value)
        shown = [*transport.stats(), caplog.text]
    for error in errors:
        shown += [str(error), repr(error), *getattr(error, "__notes__", [])]
        assert error.__cause__ is None
    text = "\n".join(shown)
    for secret in (INFURA_KEY, ALCHEMY_KEY, "SECRETKEY", "TOKEN"):
        assert secret not in text
    assert f"RPC at {proxy.url}/v3/***?apikey=*** answered HTTP 502" in str(errors[0])


async def test_http_errors_that_retrying_cannot_fix_are_not_retried(
    transport: Transport, anvil: AnvilNode
) -> None:
    endpoint = transport.endpoint(anvil.url + "/", limits=UNLIMITED)

    async def attempt() -> Any:
        return await transport.send_once(endpoint, http_method="GET")

    with pytest.raises((HttpStatusError, ResponseFormatError)):
        await transport.with_retries(endpoint, attempt, idempotent=True, what="GET /")


async def test_interpret_hook_plugs_source_specific_rate_limits_into_the_retries(
    transport: Transport, proxy: FaultProxy
) -> None:
    # How the explorer source will use the transport: its own "status 0" answers become
    # typed errors, and rate limits among them are retried like an HTTP 429.
    answers: list[Any] = []

    def interpret(body: Any) -> str:
        answers.append(body)
        if len(answers) == 1:
            raise RateLimitedError("explorer: Max rate limit reached", retry_after=0.2)
        return str(body["result"])

    endpoint = transport.endpoint(proxy.url, limits=UNLIMITED)
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    started = time.monotonic()
    result = await transport.request_json(
        endpoint, http_method="POST", json_body=body, interpret=interpret
    )
    assert result == hex(31337)
    assert time.monotonic() - started >= 0.2
    assert len(proxy.records) == 2
