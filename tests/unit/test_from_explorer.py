"""The explorer normalisers' conventions and robustness, on hand-built Etherscan records.

Field names and formats follow Etherscan's documented answers (every number a decimal
string, ``""`` for an absent address) and Blockscout's variants (``transactionHash`` and
``index`` for internal transactions, EIP-55 addresses). Agreement with the node path on a
real chain is the conformance suite's job (``tests/sources/test_conformance.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tracer.errors import ApiKeyError, ExplorerError, RateLimitedError, ResultWindowError
from tracer.sources.explorer import StatusZero, classify_status_zero
from tracer.transfers.from_explorer import (
    ExplorerAction,
    failed_transactions_from_records,
    gas_prices_from_records,
    trace_address_from_trace_id,
    transfers_from_explorer,
)
from tracer.transfers.from_rpc import Normalised
from tracer.transfers.schema import validate
from tracer.transfers.untrusted import SkipReason
from tracer.types import NATIVE_TOKEN, to_checksum_address

TOKEN = "0x" + "70" * 20
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
CAROL = "0x" + "c0" * 20
NEW = "0x" + "ee" * 19 + "01"
TX = "0x" + "11" * 32
TX2 = "0x" + "22" * 32
ETH = 10**18

Obj = dict[str, Any]


def tx(**fields: object) -> Obj:
    record: Obj = {
        "blockNumber": "100",
        "timeStamp": "1700000000",
        "hash": TX,
        "from": ALICE,
        "to": BOB,
        "value": str(ETH),
        "isError": "0",
        "txreceipt_status": "1",
        "gasPrice": "30000000000",
        "contractAddress": "",
    }
    record.update(fields)
    return record


def internal(trace_id: str | None = "0", **fields: object) -> Obj:
    record: Obj = {
        "blockNumber": "100",
        "timeStamp": "1700000000",
        "hash": TX,
        "from": BOB,
        "to": CAROL,
        "value": str(ETH),
        "contractAddress": "",
        "type": "call",
        "isError": "0",
        "errCode": "",
    }
    if trace_id is not None:
        record["traceId"] = trace_id
    record.update(fields)
    return record


def token(**fields: object) -> Obj:
    record: Obj = {
        "blockNumber": "100",
        "timeStamp": "1700000000",
        "hash": TX,
        "from": ALICE,
        "to": BOB,
        "contractAddress": TOKEN,
        "value": "1250000",
        "tokenName": "Test USD",
        "tokenSymbol": "tUSD",
        "tokenDecimal": "6",
        "gasPrice": "30000000000",
        "logIndex": "3",
    }
    record.update(fields)
    return record


def run(action: ExplorerAction, *records: object, **options: Any) -> Normalised:
    result = transfers_from_explorer(
        list(records),
        action=action,
        chain_id=1,
        source=f"explorer:{action.value}",
        native_symbol="ETH",
        **options,
    )
    validate(result.transfers)
    return result


def rows(result: Normalised, *columns: str) -> list[tuple[Any, ...]]:
    return result.transfers.select(columns).rows()


# -- traceId -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trace_id", "expected"),
    [("0", "0"), ("3", "3"), ("0_1_1", "0,1,1"), ("12_0", "12,0"), ("", None)],
)
def test_trace_id_is_the_parity_trace_address_joined_by_underscores(
    trace_id: str, expected: str | None
) -> None:
    assert trace_address_from_trace_id(trace_id) == expected


@pytest.mark.parametrize("trace_id", ["0__1", "_0", "0_", "a", "0,1", "-1", "0_-1", " 0"])
def test_a_malformed_trace_id_is_refused(trace_id: str) -> None:
    with pytest.raises(ValueError, match="traceId"):
        trace_address_from_trace_id(trace_id)


# -- txlist --------------------------------------------------------------------------------


def test_a_transaction_becomes_a_native_row_with_its_context() -> None:
    result = run(ExplorerAction.TXLIST, tx(), request_key="k1")
    assert result.transfers.row(0, named=True) == {
        "chain_id": 1,
        "block_number": 100,
        "block_time": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        "transaction_hash": TX,
        "transfer_kind": "native",
        "log_index": None,
        "trace_address": None,
        "from_address": ALICE,
        "to_address": BOB,
        "token_address": NATIVE_TOKEN,
        "token_id": None,
        "value_raw": str(ETH),
        "value": 1.0,
        "token_symbol": "ETH",
        "token_decimals": 18,
        "tx_succeeded": True,
        "gas_price": 30_000_000_000,
        "source": "explorer:txlist",
        "request_key": "k1",
    }
    assert result.skipped == {}


def test_zero_value_transactions_are_ignored_without_counting() -> None:
    result = run(ExplorerAction.TXLIST, tx(value="0"))
    assert result.transfers.height == 0
    assert result.skipped == {}


@pytest.mark.parametrize(
    ("status", "is_error", "expected"),
    [("1", "0", True), ("0", "1", False), ("", "1", False), ("", "0", None), ("", "", None)],
)
def test_success_follows_the_receipt_status_and_pre_byzantium_stays_unknown(
    status: str, is_error: str, expected: bool | None
) -> None:
    result = run(ExplorerAction.TXLIST, tx(txreceipt_status=status, isError=is_error))
    assert rows(result, "tx_succeeded") == [(expected,)]


def test_a_creation_pays_the_new_contract_and_without_it_is_counted() -> None:
    created = run(ExplorerAction.TXLIST, tx(to="", contractAddress=NEW))
    assert rows(created, "to_address") == [(NEW,)]
    unknown = run(ExplorerAction.TXLIST, tx(to="", contractAddress=""))
    assert unknown.transfers.height == 0
    assert unknown.skipped == {SkipReason.UNKNOWN_RECIPIENT: 1}


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        ("value", "1e18", SkipReason.MALFORMED),
        ("value", "-1", SkipReason.MALFORMED),
        ("value", " 1", SkipReason.MALFORMED),
        ("value", str(2**256), SkipReason.MALFORMED),
        ("value", 1.5, SkipReason.MALFORMED),
        ("value", True, SkipReason.MALFORMED),
        ("value", None, SkipReason.INCOMPLETE),
        ("blockNumber", str(2**63), SkipReason.MALFORMED),
        ("blockNumber", "0x10", SkipReason.MALFORMED),
        ("hash", "0x1234", SkipReason.MALFORMED),
        ("hash", None, SkipReason.INCOMPLETE),
        ("from", "0x" + "A1" * 19 + "a1", SkipReason.MALFORMED),  # mixed case, bad checksum
        ("to", "not an address", SkipReason.MALFORMED),
    ],
)
def test_unreadable_fields_skip_the_record_and_are_counted(
    field: str, raw: object, reason: SkipReason
) -> None:
    result = run(ExplorerAction.TXLIST, tx(**{field: raw}), tx(hash=TX2))
    assert rows(result, "transaction_hash") == [(TX2,)]
    assert result.skipped == {reason: 1}
    assert len(result.samples[reason]) == 1


def test_records_that_are_not_objects_are_counted() -> None:
    result = run(ExplorerAction.TXLIST, "a string", None, [tx()])
    assert result.skipped == {SkipReason.MALFORMED: 3}


def test_carried_fields_become_null_when_unreadable() -> None:
    result = run(
        ExplorerAction.TXLIST,
        tx(timeStamp="yesterday", gasPrice=str(2**64)),
        tx(hash=TX2, timeStamp=str(10**13), gasPrice=""),
    )
    assert rows(result, "block_time", "gas_price") == [(None, None), (None, None)]
    assert result.skipped == {}


def test_checksummed_addresses_are_lowercased() -> None:
    result = run(
        ExplorerAction.TXLIST,
        tx(**{"from": to_checksum_address(ALICE), "to": to_checksum_address(BOB)}),
    )
    assert rows(result, "from_address", "to_address") == [(ALICE, BOB)]


def test_a_repeated_record_is_kept_once_and_counted() -> None:
    result = run(ExplorerAction.TXLIST, tx(), tx())
    assert result.transfers.height == 1
    assert result.skipped == {SkipReason.DUPLICATE: 1}


def test_each_row_carries_the_request_key_of_its_page() -> None:
    result = run(ExplorerAction.TXLIST, tx(), tx(hash=TX2), request_keys=["page1", "page2"])
    assert rows(result, "transaction_hash", "request_key") == [(TX, "page1"), (TX2, "page2")]
    with pytest.raises(ValueError, match="one key per record"):
        run(ExplorerAction.TXLIST, tx(), request_keys=["only one", "too many"])


# -- txlistinternal ------------------------------------------------------------------------


def test_internal_rows_take_the_trace_address_from_trace_id() -> None:
    result = run(
        ExplorerAction.TXLISTINTERNAL,
        internal("1"),
        internal("0_1_1", value="5"),
        gas_prices={TX: 7},
    )
    assert rows(result, "transfer_kind", "trace_address", "value_raw", "gas_price") == [
        ("internal", "0,1,1", "5", 7),
        ("internal", "1", str(ETH), 7),
    ]
    assert set(result.transfers["tx_succeeded"]) == {True}


def test_the_top_level_call_is_the_native_row() -> None:
    etherscan = run(ExplorerAction.TXLISTINTERNAL, internal(""))
    blockscout_record = internal(None, index="0", transactionHash=TX)
    del blockscout_record["hash"]
    blockscout = run(ExplorerAction.TXLISTINTERNAL, blockscout_record)
    for result in (etherscan, blockscout):
        assert rows(result, "transfer_kind", "trace_address") == [("native", None)]


def test_blockscout_positions_are_prefixed_and_hashes_come_from_transaction_hash() -> None:
    record = internal(None, index="4", transactionHash=TX, callType="call")
    del record["hash"]
    result = run(ExplorerAction.TXLISTINTERNAL, record)
    assert rows(result, "transaction_hash", "transfer_kind", "trace_address") == [
        (TX, "internal", "blockscout:4")
    ]


def test_an_internal_record_without_a_position_is_incomplete() -> None:
    result = run(ExplorerAction.TXLISTINTERNAL, internal(None))
    assert result.skipped == {SkipReason.INCOMPLETE: 1}


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "delegatecall"},
        {"type": "staticcall"},
        {"type": "CALLCODE"},
        {"type": "call", "callType": "delegatecall"},  # Blockscout's way of saying it
        {"type": "reward"},
        {"value": "0"},
    ],
)
def test_calls_that_move_no_value_of_their_own_are_ignored(fields: Obj) -> None:
    result = run(ExplorerAction.TXLISTINTERNAL, internal("0", **fields))
    assert result.transfers.height == 0
    assert result.skipped == {}


def test_creations_pay_the_new_contract_and_selfdestructs_the_beneficiary() -> None:
    result = run(
        ExplorerAction.TXLISTINTERNAL,
        internal("0", type="create", to="", contractAddress=NEW),
        internal("1", type="create2", to="", contractAddress=""),
        internal("2", type="suicide", **{"from": NEW, "to": ALICE}),
        internal("", type="suicide"),
        internal("3", type="staticcallx"),
    )
    assert rows(result, "trace_address", "from_address", "to_address") == [
        ("0", BOB, NEW),
        ("2", NEW, ALICE),
    ]
    assert result.skipped == {
        SkipReason.UNKNOWN_RECIPIENT: 1,
        SkipReason.MALFORMED: 1,
        SkipReason.UNSUPPORTED: 1,
    }


def test_a_failed_call_fails_its_descendants_but_not_its_siblings() -> None:
    result = run(
        ExplorerAction.TXLISTINTERNAL,
        internal("0", isError="1", value="1"),
        internal("0_0", value="2"),
        internal("0_0_4", value="3"),
        internal("1", value="4"),
        internal("2", isError="", value="5"),
    )
    assert rows(result, "trace_address", "tx_succeeded") == [
        ("0", False),
        ("0,0", False),
        ("0,0,4", False),
        ("1", True),
        ("2", None),
    ]


def test_every_movement_of_a_failed_transaction_failed() -> None:
    failed = failed_transactions_from_records([tx(txreceipt_status="0", isError="1"), tx(hash=TX2)])
    assert failed == {TX}
    result = run(
        ExplorerAction.TXLISTINTERNAL,
        internal("0"),
        internal("0", hash=TX2),
        failed_transactions=failed,
    )
    assert rows(result, "transaction_hash", "tx_succeeded") == [(TX, False), (TX2, True)]


def test_gas_prices_come_from_any_record_of_the_transaction() -> None:
    prices = gas_prices_from_records(
        [tx(gasPrice="5"), token(hash=TX2, gasPrice="9"), token(hash="bad", gasPrice="1"), 7]
    )
    assert prices == {TX: 5, TX2: 9}


# -- token actions -------------------------------------------------------------------------


def test_erc20_rows_carry_symbol_decimals_and_the_scaled_value() -> None:
    result = run(ExplorerAction.TOKENTX, token())
    assert rows(
        result,
        "transfer_kind",
        "log_index",
        "token_address",
        "value_raw",
        "value",
        "token_symbol",
        "token_decimals",
        "tx_succeeded",
        "gas_price",
    ) == [("erc20", 3, TOKEN, "1250000", 1.25, "tUSD", 6, True, 30_000_000_000)]


@pytest.mark.parametrize("decimals", ["", "256", "-1", "six", None])
def test_unusable_decimals_leave_the_value_unscaled(decimals: str | None) -> None:
    result = run(ExplorerAction.TOKENTX, token(tokenDecimal=decimals))
    assert rows(result, "value_raw", "value", "token_decimals") == [("1250000", None, None)]


@pytest.mark.parametrize("symbol", ["", "x" * 65, "tU\nSD", None, 42])
def test_unusable_symbols_are_dropped(symbol: object) -> None:
    assert rows(run(ExplorerAction.TOKENTX, token(tokenSymbol=symbol)), "token_symbol") == [(None,)]


def test_zero_token_transfers_are_kept_as_evidence() -> None:
    assert rows(run(ExplorerAction.TOKENTX, token(value="0")), "value_raw") == [("0",)]


def test_a_token_record_without_log_index_cannot_be_keyed() -> None:
    result = run(ExplorerAction.TOKENTX, token(logIndex=""), token(logIndex=None))
    assert result.transfers.height == 0
    assert result.skipped == {SkipReason.INCOMPLETE: 2}


def test_erc721_is_one_indivisible_token() -> None:
    record = token(tokenID="7", tokenDecimal="0")
    del record["value"]
    result = run(ExplorerAction.TOKENNFTTX, record)
    assert rows(result, "transfer_kind", "token_id", "value_raw", "value", "token_decimals") == [
        ("erc721", "7", "1", 1.0, 0)
    ]


def test_erc1155_ids_listed_twice_in_one_batch_add_up() -> None:
    def item(token_id: str, amount: str) -> Obj:
        record = token(tokenID=token_id, tokenValue=amount)
        del record["value"], record["tokenDecimal"]
        return record

    result = run(
        ExplorerAction.TOKEN1155TX,
        item("1", "5"),
        item("2", "6"),
        item("1", "7"),
        item("9", str(2**256 - 1)),
        item("9", "1"),
    )
    assert rows(result, "transfer_kind", "token_id", "value_raw", "token_decimals") == [
        ("erc1155", "1", "12", None),
        ("erc1155", "2", "6", None),
        ("erc1155", "9", str(2**256 - 1), None),
    ]
    assert result.skipped == {SkipReason.BAD_DATA: 1}


def test_an_erc1155_record_without_amount_is_incomplete() -> None:
    result = run(ExplorerAction.TOKEN1155TX, token(tokenID="1"))
    assert result.skipped == {SkipReason.INCOMPLETE: 1}


def test_unknown_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="getminedblocks"):
        transfers_from_explorer([], action="getminedblocks", chain_id=1, source="explorer:x")


# --------------------------------------------------------------------------------------------
# The explorer source's one text classifier (pure, so tested here).


@pytest.mark.parametrize(
    ("message", "result", "outcome"),
    [
        ("No transactions found", [], StatusZero.EMPTY),
        ("No records found", [], StatusZero.EMPTY),
        ("No token transfers found", [], StatusZero.EMPTY),
        ("No internal transactions found", [], StatusZero.EMPTY),
        ("NOTOK", "No transactions found", StatusZero.EMPTY),
        ("No transactions found", [{"hash": "0x"}], StatusZero.OTHER),
        ("NOTOK", "Max rate limit reached", StatusZero.RATE_LIMITED),
        (
            "NOTOK",
            "Max rate limit reached, please use API Key for higher rate limit",
            StatusZero.RATE_LIMITED,
        ),
        ("NOTOK", "Max calls per sec rate limit reached (5/sec)", StatusZero.RATE_LIMITED),
        ("NOTOK", "Invalid API Key", StatusZero.INVALID_KEY),
        ("NOTOK", "Missing/Invalid API Key", StatusZero.INVALID_KEY),
        (
            "NOTOK",
            "Too many invalid api key attempts, please try again later",
            StatusZero.INVALID_KEY,
        ),
        (
            "NOTOK",
            "Result window is too large, PageNo x Offset size must be less than or equal to 10000",
            StatusZero.RESULT_WINDOW,
        ),
        ("NOTOK", "Error! Invalid address format", StatusZero.OTHER),
        ("NOTOK", None, StatusZero.OTHER),
        (None, {"weird": True}, StatusZero.OTHER),
    ],
)
def test_status_zero_texts_map_to_typed_outcomes(
    message: object, result: object, outcome: StatusZero
) -> None:
    assert classify_status_zero(message, result) is outcome


def test_typed_errors_are_retried_only_when_that_can_help() -> None:
    assert RateLimitedError("x").retryable
    assert not ApiKeyError("x").retryable
    assert not ResultWindowError("x").retryable
    assert not ExplorerError("x").retryable
