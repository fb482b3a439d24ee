"""The JSON-RPC normalisers against real mainnet answers and ethereum-etl's independent output.

Case files are produced by ``fixtures/rpc/import_ethereum_etl.py``. ethereum-etl exports every
trace and transaction; tracer's conventions (documented in :mod:`tracer.transfers.from_rpc`)
keep only value movements, so the expected rows are filtered here by the same rules:

* traces: no ``reward`` traces, no delegatecall/staticcall/callcode, no value of 0, and rows
  whose value ethereum-etl does not know (old geth SELFDESTRUCT frames) must instead show up
  as ``incomplete`` skips;
* transactions: no value of 0;
* token transfers: all of them (zero-value token transfers are kept).

Every comparison asserts that it compared at least one row, so no test passes vacuously
(the two empty-block cases assert emptiness on both sides instead).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tracer.transfers.from_rpc import (
    Normalised,
    SkipReason,
    block_times_from_blocks,
    movement_diff,
    receipt_facts,
    receipt_logs,
    transfers_from_blocks,
    transfers_from_geth_block_trace,
    transfers_from_logs,
    transfers_from_parity_traces,
)
from tracer.transfers.schema import validate
from tracer.transfers.topics import (
    TRANSFER_BATCH_TOPIC,
    TRANSFER_SINGLE_TOPIC,
    TRANSFER_TOPIC,
    event_topic,
)

CASES = Path(__file__).resolve().parents[2] / "fixtures" / "rpc" / "ethereum_etl"
TRACE_CASES = (
    "block_with_subtraces",
    "block_with_error",
    "block_with_create",
    "block_with_suicide",
)
VALUELESS_CALL_TYPES = {"delegatecall", "staticcall", "callcode"}

Case = dict[str, Any]
Movement = tuple[str, str, str | None, str, str, str]


@cache
def load(name: str) -> Case:
    case: Case = json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))
    assert case["source"]["licence"] == "MIT"
    assert case["source"]["commit"] == "9e51c3b8d43bdbf775a71d802d39fbfd73566ba6"
    return case


def utc(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def rows(result: Normalised) -> list[dict[str, Any]]:
    validate(result.transfers)
    return result.transfers.to_dicts()


# --------------------------------------------------------------------------------------------
# Topic constants


def test_topic_constants_are_the_well_known_hashes() -> None:
    assert TRANSFER_TOPIC == "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    assert TRANSFER_SINGLE_TOPIC == (
        "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
    )
    assert TRANSFER_BATCH_TOPIC == (
        "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
    )
    assert event_topic("Approval(address,address,uint256)") == (
        "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
    )


def test_case_files_exist() -> None:
    names = sorted(path.stem for path in CASES.glob("*.json"))
    assert len(names) == 19, names


# --------------------------------------------------------------------------------------------
# Traces: Parity (trace_block) and geth (callTracer)


def expected_trace_movements(
    expected: list[dict[str, Any]], hashes: list[str] | None = None
) -> tuple[set[Movement], int]:
    """ethereum-etl's trace rows filtered by tracer's rules, and the count of unknown values."""
    movements: set[Movement] = set()
    unknown_values = 0
    for row in expected:
        if row["trace_type"] == "reward" or row["call_type"] in VALUELESS_CALL_TYPES:
            continue
        if row["value"] is None:
            unknown_values += 1
            continue
        if row["value"] == "0":
            continue
        tx_hash = row["transaction_hash"] or (hashes or [])[row["transaction_index"]]
        kind = "native" if row["trace_address"] == "" else "internal"
        trace_address = row["trace_address"] or None
        movements.add(
            (tx_hash, kind, trace_address, row["from_address"], row["to_address"], row["value"])
        )
    return movements, unknown_values


def movements_of(result: Normalised) -> set[Movement]:
    return {
        (
            row["transaction_hash"],
            row["transfer_kind"],
            row["trace_address"],
            row["from_address"],
            row["to_address"],
            row["value_raw"],
        )
        for row in rows(result)
    }


def parity_result(case: Case) -> Normalised:
    responses = case["responses"]
    return transfers_from_parity_traces(
        responses["trace_block"],
        chain_id=1,
        source="rpc:trace_block",
        request_key="trace_block:test",
        block_times=block_times_from_blocks(responses.get("eth_getBlockByNumber", [])),
    )


@pytest.mark.parametrize(
    ("name", "movements"),
    [
        ("export_traces__block_with_subtraces", 2),
        ("export_traces__block_with_error", 2),
        ("export_traces__block_with_create", 1),
        ("export_traces__block_with_suicide", 1),
        ("stream__blocks_508110_508110__traces", 1),
        # One zero-value contract creation and a block reward: nothing moves between addresses.
        ("stream__blocks_2112234_2112234__traces", 0),
    ],
)
def test_parity_traces_match_ethereum_etl(name: str, movements: int) -> None:
    case = load(name)
    expected = case["expected"]["traces"]
    result = parity_result(case)
    wanted, unknown = expected_trace_movements(expected)

    assert len(expected) > 0
    assert len(wanted) == movements
    assert unknown == 0
    assert movements_of(result) == wanted
    assert result.skipped == {}

    # Success flags agree with ethereum-etl's status (which applies the same ancestor rule).
    status = {
        (row["transaction_hash"], row["trace_address"] or None): row["status"] for row in expected
    }
    for row in rows(result):
        assert row["tx_succeeded"] is (status[row["transaction_hash"], row["trace_address"]] == 1)
        assert row["source"] == "rpc:trace_block"
        assert row["request_key"] == "trace_block:test"
        assert row["token_address"] == "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
        assert row["token_decimals"] == 18
        assert row["log_index"] is None


@pytest.mark.parametrize("name", [f"export_traces__{case}" for case in TRACE_CASES])
def test_parity_traces_without_block_times_have_null_block_time(name: str) -> None:
    assert all(row["block_time"] is None for row in rows(parity_result(load(name))))


def test_parity_trace_block_times_come_from_the_block() -> None:
    case = load("stream__blocks_508110_508110__traces")
    result = parity_result(case)
    timestamps = {row["block_timestamp"] for row in case["expected"]["traces"]}
    assert len(timestamps) == 1
    got = rows(result)
    assert got
    assert {row["block_time"] for row in got} == {utc(timestamps.pop())}


def test_parity_error_case_keeps_the_failed_transfer_flagged() -> None:
    result = parity_result(load("export_traces__block_with_error"))
    flags = {row["transaction_hash"][:10]: row["tx_succeeded"] for row in rows(result)}
    assert flags == {"0xa2f08948": False, "0xc7fec96b": True}


def test_parity_suicide_moves_the_balance_to_the_refund_address() -> None:
    (row,) = rows(parity_result(load("export_traces__block_with_suicide")))
    assert row["transfer_kind"] == "internal"
    assert row["trace_address"] == "0"
    assert row["from_address"] == "0x474faa5018639791952fae334e2911700ac7fe9b"
    assert row["to_address"] == "0x83973747eec131bf9a08ac64fb1a518e891bdf4b"
    assert row["value_raw"] == str(0xB1A2BC2EC50000)


def test_parity_callcode_with_value_is_not_a_transfer() -> None:
    # The recorded callcode carries 100 ETH from the contract to itself: no movement.
    case = load("export_traces__block_with_subtraces")
    callcode = [row for row in case["expected"]["traces"] if row["call_type"] == "callcode"]
    assert len(callcode) == 1
    assert callcode[0]["value"] == str(100 * 10**18)
    assert all(row["trace_address"] is None for row in rows(parity_result(case)))


def geth_result(case: Case) -> Normalised:
    return transfers_from_geth_block_trace(
        case["responses"]["debug_traceBlockByNumber"],
        block_number=case["inputs"]["block_number"],
        transaction_hashes=case["inputs"]["transaction_hashes"],
        chain_id=1,
        source="rpc:debug_traceBlockByNumber",
    )


@pytest.mark.parametrize("case_name", TRACE_CASES)
def test_geth_call_traces_match_ethereum_etl(case_name: str) -> None:
    case = load(f"extract_geth_traces__{case_name}")
    hashes = case["inputs"]["transaction_hashes"]
    result = geth_result(case)
    wanted, unknown = expected_trace_movements(case["expected"]["traces"], hashes)

    # The suicide block's only movement is the selfdestruct whose value geth did not report.
    assert len(wanted) + unknown > 0
    assert movements_of(result) == wanted
    # Old geth reports SELFDESTRUCT as a bare frame: counted, never given an invented value.
    assert result.skipped == ({SkipReason.INCOMPLETE: unknown} if unknown else {})
    assert (case_name == "block_with_suicide") == (unknown == 1)
    assert all(row["block_number"] == case["inputs"]["block_number"] for row in rows(result))


@pytest.mark.parametrize("case_name", TRACE_CASES)
def test_geth_and_parity_agree_on_the_same_blocks(case_name: str) -> None:
    parity = parity_result(load(f"export_traces__{case_name}")).transfers
    geth = geth_result(load(f"extract_geth_traces__{case_name}")).transfers
    if case_name == "block_with_suicide":
        # The only difference: the selfdestruct geth did not report a value for.
        diff = movement_diff(parity, geth)
        assert diff.only_right.height == 0
        assert diff.only_left["value_raw"].to_list() == [str(0xB1A2BC2EC50000)]
        return
    assert parity.height > 0
    # Same rows, same keys, same success flags: only the provenance differs.
    provenance = ["source", "request_key"]
    assert parity.drop(provenance).equals(geth.drop(provenance))


@pytest.mark.parametrize(
    "name",
    [
        "export_traces__block_without_transactions",
        "extract_geth_traces__block_without_transactions",
    ],
)
def test_empty_blocks_give_empty_tables(name: str) -> None:
    case = load(name)
    assert case["expected"]["traces"] == []
    result = parity_result(case) if name.startswith("export") else geth_result(case)
    assert result.transfers.height == 0
    assert result.skipped == {}
    validate(result.transfers)


# --------------------------------------------------------------------------------------------
# Token transfers from logs


def transfer_tuples(result: Normalised) -> set[tuple[str, int, str, str, str, str]]:
    """Our rows in ethereum-etl's shape: for ERC-721 its ``value`` column is the token id."""
    shaped = set()
    for row in rows(result):
        if row["transfer_kind"] == "erc721":
            assert row["value_raw"] == "1"
            assert row["token_decimals"] == 0
            value = row["token_id"]
        else:
            assert row["transfer_kind"] == "erc20"
            assert row["token_id"] is None
            assert row["token_decimals"] is None  # unknown without token metadata
            assert row["value"] is None
            value = row["value_raw"]
        assert row["tx_succeeded"] is True
        assert row["trace_address"] is None
        shaped.add(
            (
                row["transaction_hash"],
                row["log_index"],
                row["token_address"],
                row["from_address"],
                row["to_address"],
                value,
            )
        )
    return shaped


def expected_transfer_tuples(case: Case) -> set[tuple[str, int, str, str, str, str]]:
    return {
        (
            row["transaction_hash"],
            row["log_index"],
            row["token_address"],
            row["from_address"],
            row["to_address"],
            row["value"],
        )
        for row in case["expected"]["token_transfers"]
    }


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("export_token_transfers__block_with_transfers", "eth_getFilterLogs"),
        ("extract_token_transfers__logs", "eth_getLogs"),
        ("stream__blocks_17173049_17173050__subset", "eth_getLogs"),
    ],
)
def test_token_transfers_from_logs_match_ethereum_etl(name: str, method: str) -> None:
    case = load(name)
    blocks = case["responses"].get("eth_getBlockByNumber", [])
    result = transfers_from_logs(
        case["responses"][method],
        chain_id=1,
        source=f"rpc:{method}",
        block_times=block_times_from_blocks(blocks),
    )
    wanted = expected_transfer_tuples(case)
    assert len(wanted) > 0
    assert transfer_tuples(result) == wanted
    assert result.skipped == {}
    if blocks:
        times = {
            (row["transaction_hash"], row["log_index"]): utc(row["block_timestamp"])
            for row in case["expected"]["token_transfers"]
        }
        for row in rows(result):
            assert row["block_time"] == times[row["transaction_hash"], row["log_index"]]


def test_stream_subset_covers_erc20_erc721_and_other_events() -> None:
    case = load("stream__blocks_17173049_17173050__subset")
    logs = case["responses"]["eth_getLogs"]
    result = transfers_from_logs(logs, chain_id=1, source="rpc:eth_getLogs")
    kinds = result.transfers["transfer_kind"].value_counts().to_dicts()
    counts = {entry["transfer_kind"]: entry["count"] for entry in kinds}
    assert counts["erc20"] > 0
    assert counts["erc721"] == 9  # every ERC-721 transfer of the two blocks is in the subset
    assert any(log["topics"][0] != TRANSFER_TOPIC for log in logs)  # ignored, not counted
    assert result.skipped == {}


@pytest.mark.parametrize(
    "name", ["export_blocks_and_receipts__block_483920", "stream__blocks_1755634_1755635"]
)
def test_token_transfers_from_receipt_logs_match_ethereum_etl(name: str) -> None:
    case = load(name)
    receipts = case["responses"]["eth_getTransactionReceipt"]
    result = transfers_from_logs(
        receipt_logs(receipts),
        chain_id=1,
        source="rpc:eth_getTransactionReceipt",
        receipts=receipt_facts(receipts),
    )
    wanted = expected_transfer_tuples(case)
    assert len(wanted) > 0
    assert transfer_tuples(result) == wanted
    # Gas prices come from the receipts' effectiveGasPrice.
    prices = {
        row["hash"]: row["receipt_effective_gas_price"] for row in case["expected"]["transactions"]
    }
    for row in rows(result):
        assert str(row["gas_price"]) == prices[row["transaction_hash"]]


# --------------------------------------------------------------------------------------------
# Native value from blocks and receipts


@pytest.mark.parametrize(
    "name",
    [
        "export_blocks__blocks_with_transactions",
        "export_blocks_and_receipts__block_483920",
        "stream__blocks_1755634_1755635",
        "stream__blocks_17173049_17173050__subset",
    ],
)
def test_native_transfers_match_ethereum_etl(name: str) -> None:
    case = load(name)
    responses = case["responses"]
    receipts = responses.get("eth_getTransactionReceipt")
    facts = receipt_facts(receipts) if receipts is not None else None
    result = transfers_from_blocks(
        responses["eth_getBlockByNumber"],
        chain_id=1,
        source="rpc:eth_getBlockByNumber",
        receipts=facts,
        native_symbol="ETH",
    )
    expected = [row for row in case["expected"]["transactions"] if row["value"] != "0"]
    assert len(expected) > 0

    got = {row["transaction_hash"]: row for row in rows(result)}
    assert set(got) == {row["hash"] for row in expected}
    for want in expected:
        row = got[want["hash"]]
        assert row["transfer_kind"] == "native"
        assert row["trace_address"] is None
        assert row["from_address"] == want["from_address"]
        assert row["to_address"] == (want["to_address"] or want["receipt_contract_address"])
        assert row["value_raw"] == want["value"]
        assert row["block_number"] == want["block_number"]
        assert row["block_time"] == utc(want["block_timestamp"])
        assert row["token_symbol"] == "ETH"
        status = want["receipt_status"]
        assert row["tx_succeeded"] is (None if status is None else status == 1)
        price = want["receipt_effective_gas_price"] if facts is not None else None
        assert str(row["gas_price"]) == (price or want["gas_price"])
    assert result.skipped == {}


def test_stream_subset_keeps_failed_transactions_flagged() -> None:
    case = load("stream__blocks_17173049_17173050__subset")
    responses = case["responses"]
    result = transfers_from_blocks(
        responses["eth_getBlockByNumber"],
        chain_id=1,
        source="rpc:eth_getBlockByNumber",
        receipts=receipt_facts(responses["eth_getTransactionReceipt"]),
    )
    failed = [
        row["hash"]
        for row in case["expected"]["transactions"]
        if row["receipt_status"] == 0 and row["value"] != "0"
    ]
    assert len(failed) == 8
    flags = dict(
        zip(result.transfers["transaction_hash"], result.transfers["tx_succeeded"], strict=True)
    )
    assert all(flags[tx_hash] is False for tx_hash in failed)
    assert sum(flag is True for flag in flags.values()) > 0


def test_genesis_block_has_no_transfers() -> None:
    case = load("export_blocks__block_without_transactions")
    result = transfers_from_blocks(
        case["responses"]["eth_getBlockByNumber"], chain_id=1, source="rpc:eth_getBlockByNumber"
    )
    assert case["expected"]["transactions"] == []
    assert result.transfers.height == 0
    assert result.skipped == {}


def test_pre_byzantium_receipts_leave_status_unknown() -> None:
    case = load("export_blocks_and_receipts__block_483920")
    facts = receipt_facts(case["responses"]["eth_getTransactionReceipt"])
    assert len(facts) == 4
    assert {fact.succeeded for fact in facts.values()} == {None}
    assert {fact.effective_gas_price for fact in facts.values()} == {50_000_000_000}


def test_amounts_are_exact_to_the_wei() -> None:
    # 8140416390630760000 wei needs 57 significant bits: a float would round it.
    case = load("export_blocks__blocks_with_transactions")
    result = transfers_from_blocks(
        case["responses"]["eth_getBlockByNumber"], chain_id=1, source="rpc:eth_getBlockByNumber"
    )
    assert result.transfers.schema["value_raw"] == pl.String()
    raw = result.transfers.filter(pl.col("transaction_hash").str.starts_with("0x95844e6c"))
    assert raw["value_raw"].to_list() == ["8140416390630760000"]
    assert int(float("8140416390630760000")) != 8140416390630760000
