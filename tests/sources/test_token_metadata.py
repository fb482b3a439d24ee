"""Token metadata: the pure decoders on recorded answers, the fill step, and the reads on a
real anvil (one batch, the answer cache, reverts, a node that refuses ``eth_call``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sources.conftest import UNLIMITED
from tests.sources.fault_proxy import FaultProxy
from tracer.errors import RpcError
from tracer.sources.cache import ResponseCache
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.token_metadata import outcome_of, read_token_metadata
from tracer.sources.transport import Transport
from tracer.testbed.anvil import AnvilNode, AnvilOptions, free_loopback_port
from tracer.testbed.chain import Chain, NodeRequestError
from tracer.transfers.schema import TRANSFER_SCHEMA, transfers_from_rows
from tracer.transfers.token_metadata import (
    MAX_NAME_CHARS,
    MAX_SYMBOL_CHARS,
    MetadataIssue,
    TokenFacts,
    decode_decimals,
    decode_text,
    decode_token,
    facts_frame,
    facts_of,
    fill_transfers,
    tokens_missing_metadata,
)
from tracer.types import NATIVE_TOKEN

FIXTURE = (
    Path(__file__).parents[2] / "fixtures" / "rpc" / "token_metadata" / "eth_call_answers.json"
)
RECORDED: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["tokens"]


def outcome(response: Mapping[str, Any]) -> Mapping[str, Any]:
    """A recorded JSON-RPC response as the batch client hands it over (result or RpcError)."""
    if "error" in response:
        error = response["error"]
        return outcome_of(RpcError("eth_call", error["code"], error["message"], error.get("data")))
    return outcome_of(response["result"])


def expected_facts(token: Mapping[str, Any]) -> TokenFacts:
    want = token["expected"]
    issues = tuple(want["issues"])
    return TokenFacts(token["token"], want["symbol"], want["name"], want["decimals"], issues)


# -- the decoders, on recorded real answers ----------------------------------------------


@pytest.mark.parametrize("token", RECORDED, ids=[t["about"][:40] for t in RECORDED])
def test_recorded_answers_decode_to_the_known_facts(token: dict[str, Any]) -> None:
    outcomes = {name: outcome(response) for name, response in token["answers"].items()}
    assert decode_token(token["token"], outcomes) == expected_facts(token)


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"result": word(6)}, (6, None)),  # USDT
        ({"result": word(0)}, (0, None)),
        ({"result": word(77)}, (77, None)),  # the largest scale a uint256 amount can fill
        ({"result": word(78)}, (None, MetadataIssue.DECIMALS_OUT_OF_RANGE)),
        ({"result": word(255)}, (None, MetadataIssue.DECIMALS_OUT_OF_RANGE)),
        ({"result": word(256)}, (None, MetadataIssue.DECIMALS_NOT_UINT8)),
        ({"result": word(2**255)}, (None, MetadataIssue.DECIMALS_NOT_UINT8)),
        ({"result": word(18) + "00" * 32}, (18, None)),  # extra words are ignored, as by solc
        ({"result": "0x12"}, (None, MetadataIssue.UNDECODABLE)),  # short of a word
        ({"result": "0x"}, (None, MetadataIssue.NO_FUNCTION)),
        ({"result": "0xzz"}, (None, MetadataIssue.UNDECODABLE)),
        ({"result": None}, (None, MetadataIssue.UNDECODABLE)),
        ({"revert": 3}, (None, MetadataIssue.NO_FUNCTION)),
        ({"error": -32000}, (None, MetadataIssue.NODE_ERROR)),
        ({}, (None, MetadataIssue.UNDECODABLE)),
    ],
)
def test_decimals(
    answer: dict[str, Any], expected: tuple[int | None, MetadataIssue | None]
) -> None:
    assert decode_decimals(answer) == expected


def abi_string(raw: bytes) -> str:
    padded = raw + b"\0" * (-len(raw) % 32)
    return word(32) + word(len(raw))[2:] + padded.hex()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"result": abi_string(b"USDT")}, ("USDT", ())),
        ({"result": "0x" + b"MKR".ljust(32, b"\0").hex()}, ("MKR", ())),
        # bytes32 with garbage after the first NUL (padding is not always clean)
        ({"result": "0x" + (b"SAI\0junk").ljust(32, b"\0").hex()}, ("SAI", ())),
        ({"result": "0x" + "00" * 32}, (None, ())),
        ({"result": abi_string(b"")}, (None, ())),
        ({"result": abi_string(" \u00e9t\u00e9 ".encode())}, ("\u00e9t\u00e9", ())),
        ({"result": abi_string("\U0001f680".encode())}, ("\U0001f680", ())),
        # bidi override (U+202E) reorders what a reader sees: removed
        (
            {"result": abi_string("USD\u202eTDSU".encode())},
            ("USDTDSU", (MetadataIssue.CONTROL_CHARACTERS,)),
        ),
        ({"result": abi_string(b"\xc3\x28")}, ("\ufffd(", (MetadataIssue.INVALID_UTF8,))),
        (
            {"result": abi_string(b"A" * 40)},
            ("A" * MAX_SYMBOL_CHARS, (MetadataIssue.TRUNCATED,)),
        ),
        # an offset pointing past the end, and a length longer than the data
        ({"result": word(4096) + word(3)[2:]}, (None, (MetadataIssue.UNDECODABLE,))),
        ({"result": word(32) + word(999)[2:] + "41" * 32}, (None, (MetadataIssue.UNDECODABLE,))),
        ({"result": "0x4142"}, (None, (MetadataIssue.UNDECODABLE,))),
        ({"result": "0x"}, (None, (MetadataIssue.NO_FUNCTION,))),
        ({"revert": 3}, (None, (MetadataIssue.NO_FUNCTION,))),
        ({"error": -32601}, (None, (MetadataIssue.NODE_ERROR,))),
    ],
)
def test_text(
    answer: dict[str, Any], expected: tuple[str | None, tuple[MetadataIssue, ...]]
) -> None:
    assert decode_text(answer, MAX_SYMBOL_CHARS) == expected


def test_oversized_answers_are_not_kept() -> None:
    huge = abi_string(b"A" * 5000)
    assert outcome_of(huge) == {"oversized": 5088}  # offset, length, 5,000 bytes padded to 5,024
    assert decode_text(outcome_of(huge), MAX_SYMBOL_CHARS) == (None, (MetadataIssue.OVERSIZED,))
    fits = abi_string(b"A" * 4000)
    assert outcome_of(fits) == {"result": fits}


def test_names_are_capped_longer_than_symbols() -> None:
    name = "N" * (MAX_NAME_CHARS + 5)
    assert decode_text({"result": abi_string(name.encode())}, MAX_NAME_CHARS) == (
        "N" * MAX_NAME_CHARS,
        (MetadataIssue.TRUNCATED,),
    )


def test_facts_round_trip_through_a_table() -> None:
    facts = {t["token"]: expected_facts(t) for t in RECORDED}
    assert facts_of(facts_frame(facts)) == facts


# -- the fill step -------------------------------------------------------------------------

USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
MKR = "0x9f8f72aa9304c8b593d555f12ef6589cc3a579a2"
NODEC = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
NFT = "0x06012c8cf97bead5deae237070f9587f8e7a266d"


def row(index: int, kind: str, token: str, value_raw: str, **given: Any) -> dict[str, Any]:
    return {
        "chain_id": 1,
        "block_number": 100 + index,
        "transaction_hash": "0x" + f"{index:064x}",
        "transfer_kind": kind,
        "log_index": index if kind not in {"native", "internal"} else None,
        "from_address": "0x" + "11" * 20,
        "to_address": "0x" + "22" * 20,
        "token_address": token,
        "token_id": "7" if kind in {"erc721", "erc1155"} else None,
        "value_raw": value_raw,
        "tx_succeeded": True,
        "source": "test",
        **given,
    }


def test_fill_completes_only_what_is_missing() -> None:
    table = transfers_from_rows(
        [
            row(
                0,
                "native",
                NATIVE_TOKEN,
                "1500000000000000000",
                token_symbol="ETH",
                token_decimals=18,
                value=1.5,
            ),
            row(1, "erc20", USDT, "12500500000"),  # from the logs: nothing but the raw amount
            # from an explorer: its symbol and decimals stay, even where the token disagrees
            row(2, "erc20", USDT, "1000000", token_symbol="USD\u20ae", token_decimals=6, value=1.0),
            row(3, "erc20", MKR, "2500000000000000000"),
            row(4, "erc20", NODEC, "42"),
            row(5, "erc721", NFT, "1", token_decimals=0, value=1.0),
            row(6, "erc1155", NFT, "3"),
            row(7, "erc20", "0x" + "99" * 20, "5"),  # a token nobody asked about
        ]
    )
    facts = {
        USDT: TokenFacts(USDT, "USDT", "Tether USD", 6),
        MKR: TokenFacts(MKR, "MKR", "Maker", 18),
        NODEC: TokenFacts(NODEC, "NODEC", "No Decimals", None, ("decimals:no_function",)),
        NFT: TokenFacts(NFT, "CK", "CryptoKitties", 0),
    }
    assert tokens_missing_metadata(table) == sorted([USDT, MKR, NODEC, NFT, "0x" + "99" * 20])
    filled = fill_transfers(table, facts)
    assert filled.schema == TRANSFER_SCHEMA
    columns = ["token_symbol", "token_decimals", "value", "value_raw"]
    assert filled.select(columns).rows() == [
        ("ETH", 18, 1.5, "1500000000000000000"),
        ("USDT", 6, 12500.5, "12500500000"),
        ("USD\u20ae", 6, 1.0, "1000000"),
        ("MKR", 18, 2.5, "2500000000000000000"),
        ("NODEC", None, None, "42"),
        ("CK", 0, 1.0, "1"),
        ("CK", None, None, "3"),  # ERC-1155 ids have no decimals
        (None, None, None, "5"),
    ]
    # Everything else is the table as it was, row for row.
    others = [name for name in TRANSFER_SCHEMA.names() if name not in columns]
    assert filled.select(others).equals(table.select(others))
    assert tokens_missing_metadata(filled) == sorted([NODEC, "0x" + "99" * 20])


def test_fill_leaves_a_table_alone_without_facts() -> None:
    table = transfers_from_rows([row(1, "erc20", USDT, "5")])
    assert fill_transfers(table, {}).equals(table)
    assert fill_transfers(table.clear(), {USDT: TokenFacts(USDT, "USDT")}).is_empty()
    assert tokens_missing_metadata(table.clear()) == []


# -- reading from a real node ----------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    node: AnvilNode
    head: int
    by_name: dict[str, str]  # contract name -> address


@pytest.fixture(scope="module")
def tokens() -> Iterator[Tokens]:
    """The recorded anvil tokens, deployed in the order that gave them their addresses."""
    with AnvilNode(AnvilOptions()) as node, Chain(node.url) as chain:
        deployer = chain.accounts()[0]
        names = ("NoDecimalsToken", "Bytes32SymbolToken", "HostileMetadataToken", "TestUSD")
        arguments = {"NoDecimalsToken": ("No Decimals", "NODEC")}
        by_name = {
            name: chain.deploy(name, *arguments.get(name, ()), sender=deployer).address
            for name in names
        }
        by_name["account"] = deployer.lower()
        yield Tokens(node, chain.block_number(), by_name)


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport() as shared:
        yield shared


def recorded_facts() -> dict[str, TokenFacts]:
    return {t["token"]: expected_facts(t) for t in RECORDED if t["source"] == "anvil"}


def test_the_testbed_still_sends_the_recorded_answers_byte_for_byte(tokens: Tokens) -> None:
    """The anvil answers of the fixture came from these contracts: a change to a contract
    that alters what it answers must fail here, not leave the fixture describing another."""
    selectors = {"decimals": "0x313ce567", "symbol": "0x95d89b41", "name": "0x06fdde03"}
    recorded = [t for t in RECORDED if t["source"] == "anvil"]
    assert sorted(t["token"] for t in recorded) == sorted(tokens.by_name.values())
    with Chain(tokens.node.url) as chain:
        for token in recorded:
            at = {"to": token["token"]}
            outcomes = chain.batch_outcomes(
                [
                    ("eth_call", [{**at, "data": data}, hex(tokens.head)])
                    for data in selectors.values()
                ]
            )
            for name, got in zip(selectors, outcomes, strict=True):
                answer = token["answers"][name]
                if isinstance(got, NodeRequestError):
                    sent = {"code": got.code, "message": got.rpc_message, "data": got.data}
                    assert sent == answer["error"], (token["about"], name)
                else:
                    assert got == answer["result"], (token["about"], name)


async def test_one_batch_then_the_cache_alone(
    tokens: Tokens, transport: Transport, tmp_path: Path
) -> None:
    wanted = list(tokens.by_name.values())
    assert sorted(wanted) == sorted(recorded_facts())  # the fixture was recorded from these
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        source = JsonRpcSource.connect(
            transport, tokens.node.url, limits=UNLIMITED, cache=cache, confirmations=0
        )
        facts = await read_token_metadata(source, wanted, tokens.head)
        assert facts == recorded_facts()
        stats = transport.stats()[source.client.endpoint.display]
        # eth_chainId, eth_blockNumber, then 5 tokens x 3 functions in one batch.
        assert (stats.http_requests, stats.rpc_calls) == (3, 17)
        assert len(cache) == 5

    # Another run with the same cache: not one request (the endpoint is dead).
    dead = f"http://127.0.0.1:{free_loopback_port()}"
    async with Transport() as offline:
        with ResponseCache(tmp_path / "cache.sqlite") as cache:
            source = JsonRpcSource.connect(offline, dead, cache=cache)
            source.assume(chain_id=31337)
            assert await read_token_metadata(source, wanted, tokens.head) == facts
            assert cache.stats.hits == 5
        assert sum(s.http_requests for s in offline.stats().values()) == 0


async def test_answers_near_the_head_are_not_cached(
    tokens: Tokens, transport: Transport, tmp_path: Path
) -> None:
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        source = JsonRpcSource.connect(
            transport, tokens.node.url, limits=UNLIMITED, cache=cache, confirmations=12
        )
        usd = tokens.by_name["TestUSD"]
        facts = await read_token_metadata(source, [usd], tokens.head)
        assert facts == {usd: TokenFacts(usd, "tUSD", "Test USD", 6)}
        assert len(cache) == 0  # the block may still be reorganised away


async def test_a_node_refusing_eth_call_leaves_everything_unknown_and_uncached(
    tokens: Tokens, transport: Transport, tmp_path: Path
) -> None:
    usd, odd = tokens.by_name["TestUSD"], tokens.by_name["NoDecimalsToken"]
    async with FaultProxy(tokens.node.url, disabled_methods=frozenset({"eth_call"})) as proxy:
        with ResponseCache(tmp_path / "cache.sqlite") as cache:
            source = JsonRpcSource.connect(
                transport, proxy.url, limits=UNLIMITED, cache=cache, confirmations=0
            )
            facts = await read_token_metadata(source, [usd, odd], tokens.head)
            assert len(cache) == 0  # the node's failure is not the token's answer
    unknown = ("decimals:node_error", "symbol:node_error", "name:node_error")
    assert facts == {
        usd: TokenFacts(usd, None, None, None, unknown),
        odd: TokenFacts(odd, None, None, None, unknown),
    }


async def test_batch_answers_in_any_order_reach_their_token(
    tokens: Tokens, transport: Transport
) -> None:
    async with FaultProxy(tokens.node.url, reverse_batches=True) as proxy:
        source = JsonRpcSource.connect(transport, proxy.url, limits=UNLIMITED)
        facts = await read_token_metadata(source, list(tokens.by_name.values()), tokens.head)
    assert facts == recorded_facts()
