"""The normalisers' conventions and their robustness, on hand-built JSON-RPC answers.

Recorded mainnet data is covered in ``test_from_rpc.py``; these cases cover what it lacks:
ERC-1155 (built with eth_abi), malformed answers from an untrusted node, partial trace sets,
geth nesting, and ``ots_getInternalOperations`` (no recorded answer yet; the format follows
the Otterscan API as served by anvil, reth and Erigon).
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from eth_abi.abi import encode as abi_encode

from tracer.transfers.from_rpc import (
    Normalised,
    ReceiptFacts,
    SkipReason,
    TokenMetadata,
    merge,
    movement_diff,
    receipt_facts,
    transfers_from_blocks,
    transfers_from_geth_block_trace,
    transfers_from_geth_call_trace,
    transfers_from_logs,
    transfers_from_ots_internal_operations,
    transfers_from_parity_traces,
    transfers_from_transactions,
)
from tracer.transfers.schema import validate
from tracer.transfers.topics import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC

TOKEN = "0x" + "70" * 20
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
CAROL = "0x" + "c0" * 20
DAVE = "0x" + "d0" * 20
OPERATOR = "0x" + "0e" * 20
NEW = "0x" + "ee" * 19 + "01"
TX = "0x" + "11" * 32
TX2 = "0x" + "22" * 32
ETH = 10**18

Obj = dict[str, Any]


def topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def log(topics: list[str], data: str = "0x", *, index: int = 0, **extra: object) -> Obj:
    entry: Obj = {
        "address": TOKEN,
        "topics": topics,
        "data": data,
        "blockNumber": "0x10",
        "transactionHash": TX,
        "logIndex": hex(index),
        "removed": False,
    }
    entry.update(extra)
    return entry


def erc20(value: int, *, index: int = 0, **extra: object) -> Obj:
    return log([TRANSFER_TOPIC, topic(ALICE), topic(BOB)], word(value), index=index, **extra)


def decode(logs: list[object], **kwargs: Any) -> Normalised:
    result = transfers_from_logs(logs, chain_id=1, source="test", **kwargs)
    validate(result.transfers)
    return result


def only(result: Normalised) -> dict[str, Any]:
    (row,) = result.transfers.to_dicts()
    return row


# --------------------------------------------------------------------------------------------
# Logs: ERC-20 / ERC-721 details


def test_erc20_with_metadata_gets_symbol_and_display_value() -> None:
    value = 2**256 - 1
    row = only(decode([erc20(value)], token_metadata={TOKEN: TokenMetadata("TUSD", 6)}))
    assert row["value_raw"] == str(value)  # exact, 78 digits
    assert row["token_symbol"] == "TUSD"
    assert row["token_decimals"] == 6
    assert row["value"] == pytest.approx(value / 10**6)


def test_metadata_keys_in_any_case_and_absurd_decimals_ignored() -> None:
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    row = only(
        decode(
            [erc20(5, address=checksummed.lower())],
            token_metadata={checksummed: TokenMetadata("X", 10**6)},
        )
    )
    assert row["token_symbol"] == "X"
    assert row["token_decimals"] is None
    assert row["value"] is None


def test_zero_value_token_transfers_are_kept() -> None:
    row = only(decode([erc20(0)]))
    assert row["value_raw"] == "0"
    assert row["transfer_kind"] == "erc20"


def test_erc721_token_id_from_topic_3() -> None:
    token_id = 2**200 + 7
    row = only(decode([log([TRANSFER_TOPIC, topic(ALICE), topic(BOB), word(token_id)])]))
    assert row["transfer_kind"] == "erc721"
    assert row["token_id"] == str(token_id)
    assert row["value_raw"] == "1"
    assert row["value"] == 1.0


def test_mixed_case_input_is_canonicalised() -> None:
    upper = erc20(5)
    upper["transactionHash"] = TX.upper().replace("0X", "0x")
    upper["topics"] = [t.upper().replace("0X", "0x") for t in upper["topics"]]
    row = only(decode([upper]))
    assert row["transaction_hash"] == TX
    assert (row["from_address"], row["to_address"]) == (ALICE, BOB)


def test_logs_use_receipt_gas_price_and_are_successful() -> None:
    receipts = {TX: ReceiptFacts(succeeded=True, effective_gas_price=7)}
    row = only(decode([erc20(1)], receipts=receipts, block_times={16: 1_700_000_000}))
    assert row["gas_price"] == 7
    assert row["tx_succeeded"] is True
    assert row["block_time"].timestamp() == 1_700_000_000


def test_gas_price_that_does_not_fit_uint64_becomes_null() -> None:
    row = only(decode([erc20(1)], gas_prices={TX: 2**64}))
    assert row["gas_price"] is None


# --------------------------------------------------------------------------------------------
# Logs: ERC-1155, encoded with eth_abi


def test_erc1155_transfer_single() -> None:
    data = "0x" + abi_encode(["uint256", "uint256"], [42, 10**30]).hex()
    row = only(
        decode([log([TRANSFER_SINGLE_TOPIC, topic(OPERATOR), topic(ALICE), topic(BOB)], data)])
    )
    assert row["transfer_kind"] == "erc1155"
    assert (row["from_address"], row["to_address"]) == (ALICE, BOB)  # not the operator
    assert (row["token_id"], row["value_raw"]) == ("42", str(10**30))
    assert row["token_decimals"] is None
    assert row["value"] is None


def test_erc1155_transfer_batch_one_row_per_id_and_repeats_summed() -> None:
    data = "0x" + abi_encode(["uint256[]", "uint256[]"], [[1, 2, 1, 3], [10, 20, 5, 0]]).hex()
    result = decode([log([TRANSFER_BATCH_TOPIC, topic(OPERATOR), topic(ALICE), topic(BOB)], data)])
    got = {row["token_id"]: row["value_raw"] for row in result.transfers.to_dicts()}
    assert got == {"1": "15", "2": "20", "3": "0"}
    assert result.transfers["log_index"].to_list() == [0, 0, 0]
    assert result.skipped == {}


def test_erc1155_batch_with_metadata_decimals() -> None:
    data = "0x" + abi_encode(["uint256[]", "uint256[]"], [[9], [1500]]).hex()
    row = only(
        decode(
            [log([TRANSFER_BATCH_TOPIC, topic(OPERATOR), topic(ALICE), topic(BOB)], data)],
            token_metadata={TOKEN: TokenMetadata(None, 3)},
        )
    )
    assert row["value"] == 1.5


@pytest.mark.parametrize(
    "data",
    [
        "0x" + abi_encode(["uint256[]", "uint256[]"], [[1, 2], [10]]).hex(),  # lengths differ
        "0x" + abi_encode(["uint256[]", "uint256[]"], [[1, 2], [10, 20]]).hex()[:-64],  # cut
        "0x" + "ff" * 64,  # offsets pointing nowhere
        "0x",
    ],
)
def test_erc1155_batch_garbage_is_bad_data(data: str) -> None:
    result = decode([log([TRANSFER_BATCH_TOPIC, topic(OPERATOR), topic(ALICE), topic(BOB)], data)])
    assert result.transfers.height == 0
    assert result.skipped == {SkipReason.BAD_DATA: 1}


# --------------------------------------------------------------------------------------------
# Logs from an untrusted node: skipped and counted, never invented, never a crash


MALFORMED_LOGS: list[tuple[str, object, SkipReason]] = [
    ("short ERC-20 data", erc20(1) | {"data": "0x" + "00" * 31}, SkipReason.BAD_DATA),
    ("long ERC-20 data", erc20(1) | {"data": word(1) + "00" * 32}, SkipReason.BAD_DATA),
    (
        "ERC-721 with data",
        log([TRANSFER_TOPIC, topic(ALICE), topic(BOB), word(1)], word(1)),
        SkipReason.BAD_DATA,
    ),
    (
        "Transfer with 1 topic (unindexed, CryptoKitties style)",
        log([TRANSFER_TOPIC], word(1) * 1 + "00" * 64),
        SkipReason.WRONG_TOPIC_COUNT,
    ),
    (
        "Transfer with 2 topics",
        log([TRANSFER_TOPIC, topic(ALICE)], word(1)),
        SkipReason.WRONG_TOPIC_COUNT,
    ),
    (
        "Transfer with 5 topics",
        log([TRANSFER_TOPIC, topic(ALICE), topic(BOB), word(1), word(2)]),
        SkipReason.WRONG_TOPIC_COUNT,
    ),
    (
        "TransferSingle with 3 topics",
        log([TRANSFER_SINGLE_TOPIC, topic(ALICE), topic(BOB)], word(1) + "00" * 32),
        SkipReason.WRONG_TOPIC_COUNT,
    ),
    (
        "TransferSingle short data",
        log([TRANSFER_SINGLE_TOPIC, topic(OPERATOR), topic(ALICE), topic(BOB)], word(1)),
        SkipReason.BAD_DATA,
    ),
    (
        "address topic with dirty padding",
        log([TRANSFER_TOPIC, "0x" + "ff" * 12 + ALICE[2:], topic(BOB)], word(1)),
        SkipReason.BAD_DATA,
    ),
    (
        "topic of 31 bytes",
        log([TRANSFER_TOPIC, topic(ALICE)[:-2], topic(BOB)], word(1)),
        SkipReason.MALFORMED,
    ),
    ("decimal logIndex", erc20(1) | {"logIndex": "12"}, SkipReason.MALFORMED),
    ("non-hex blockNumber", erc20(1) | {"blockNumber": "0xzz"}, SkipReason.MALFORMED),
    ("negative blockNumber", erc20(1) | {"blockNumber": -1}, SkipReason.MALFORMED),
    ("boolean logIndex", erc20(1) | {"logIndex": True}, SkipReason.MALFORMED),
    ("quantity beyond uint256", erc20(1) | {"logIndex": "0x1" + "0" * 64}, SkipReason.MALFORMED),
    ("odd-length data", erc20(1) | {"data": "0x123"}, SkipReason.MALFORMED),
    ("data not a string", erc20(1) | {"data": 5}, SkipReason.MALFORMED),
    ("bad transaction hash", erc20(1) | {"transactionHash": "0x1234"}, SkipReason.MALFORMED),
    ("bad token address", erc20(1) | {"address": "0xnothex"}, SkipReason.MALFORMED),
    (
        "wrong EIP-55 checksum",
        erc20(1) | {"address": "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},
        SkipReason.MALFORMED,
    ),
    ("topics not a list", erc20(1) | {"topics": "0xddf2"}, SkipReason.MALFORMED),
    ("not an object", ["0xddf2"], SkipReason.MALFORMED),
    ("removed by a reorg", erc20(1) | {"removed": True}, SkipReason.REMOVED),
    ("pending", erc20(1) | {"blockNumber": None}, SkipReason.PENDING),
]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [(bad, reason) for _, bad, reason in MALFORMED_LOGS],
    ids=[name for name, _, _ in MALFORMED_LOGS],
)
def test_malformed_log_is_skipped_and_counted(bad: object, reason: SkipReason) -> None:
    result = decode([erc20(1, index=0), bad, erc20(2, index=9)])
    assert result.skipped == {reason: 1}
    assert result.samples[reason]  # a readable example for coverage reports
    # The good neighbours still come through, unchanged.
    assert result.transfers["value_raw"].to_list() == ["1", "2"]


def test_other_events_are_ignored_without_counting() -> None:
    approval = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
    not_a_topic = log([]) | {"topics": [5]}
    result = decode([log([approval, topic(ALICE), topic(BOB)], word(5)), log([]), not_a_topic])
    assert result.transfers.height == 0
    assert result.skipped == {}


def test_duplicate_log_is_kept_once_and_counted() -> None:
    result = decode([erc20(1), erc20(1), erc20(3)])
    assert result.transfers["value_raw"].to_list() == ["1"]
    assert result.skipped == {SkipReason.DUPLICATE: 2}


# --------------------------------------------------------------------------------------------
# Native value from transactions


def tx(value: int, *, to: str | None = BOB, tx_hash: str = TX, **extra: object) -> Obj:
    entry: Obj = {
        "hash": tx_hash,
        "blockNumber": "0x10",
        "from": ALICE,
        "to": to,
        "value": hex(value),
        "gasPrice": "0x3b9aca00",
    }
    entry.update(extra)
    return entry


def natives(txs: list[object], **kwargs: Any) -> Normalised:
    result = transfers_from_transactions(txs, chain_id=1, source="test", **kwargs)
    validate(result.transfers)
    return result


def test_zero_value_transactions_are_not_transfers() -> None:
    result = natives([tx(0)])
    assert result.transfers.height == 0
    assert result.skipped == {}


def test_failed_transaction_is_kept_and_flagged() -> None:
    row = only(natives([tx(ETH)], receipts={TX: ReceiptFacts(succeeded=False)}))
    assert row["tx_succeeded"] is False
    assert row["value"] == 1.0
    assert row["gas_price"] == 10**9


def test_status_unknown_without_receipt() -> None:
    assert only(natives([tx(ETH)]))["tx_succeeded"] is None


def test_contract_creation_goes_to_the_new_contract() -> None:
    receipts = {TX: ReceiptFacts(succeeded=True, contract_address=NEW, effective_gas_price=5)}
    row = only(natives([tx(ETH, to=None)], receipts=receipts))
    assert row["to_address"] == NEW
    assert row["gas_price"] == 5  # the receipt's effective price wins


def test_contract_creation_falls_back_to_the_creates_field() -> None:
    assert only(natives([tx(ETH, to=None, creates=NEW)]))["to_address"] == NEW


def test_contract_creation_with_unknown_address_is_counted() -> None:
    result = natives([tx(ETH, to=None), tx(0, to=None, tx_hash=TX2)])
    assert result.transfers.height == 0
    assert result.skipped == {SkipReason.UNKNOWN_RECIPIENT: 1}  # the zero-value one moves nothing


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (tx(1) | {"blockNumber": None}, SkipReason.PENDING),
        (tx(1) | {"value": "1000"}, SkipReason.MALFORMED),
        (tx(1) | {"value": 1.5}, SkipReason.MALFORMED),
        (tx(1) | {"from": None}, SkipReason.MALFORMED),
        (tx(1) | {"to": "0x1234"}, SkipReason.MALFORMED),
        (tx(1) | {"hash": None}, SkipReason.MALFORMED),
        ("0x" + "33" * 32, SkipReason.MALFORMED),
    ],
)
def test_malformed_transactions_are_counted(bad: object, reason: SkipReason) -> None:
    result = natives([bad, tx(7, tx_hash=TX2)])
    assert result.skipped == {reason: 1}
    assert result.transfers["value_raw"].to_list() == ["7"]


def test_unreadable_gas_price_is_null_not_a_skip() -> None:
    assert only(natives([tx(1, gasPrice="cheap")]))["gas_price"] is None


def test_blocks_without_full_transactions_are_counted() -> None:
    block = {"number": "0x10", "timestamp": "0x5", "transactions": [TX, tx(3, tx_hash=TX2)]}
    result = transfers_from_blocks([block, "junk"], chain_id=1, source="test")
    assert result.skipped == {SkipReason.INCOMPLETE: 1, SkipReason.MALFORMED: 1}
    assert only(result)["block_time"].timestamp() == 5


def test_receipt_facts_reads_status_and_tolerates_junk() -> None:
    facts = receipt_facts(
        [
            {"transactionHash": TX, "status": "0x1", "contractAddress": None},
            {"transactionHash": TX2, "status": "0x0", "effectiveGasPrice": "0x2"},
            {"transactionHash": "0xbad", "status": "0x1"},
            {"transactionHash": "0x" + "44" * 32, "status": "0x7", "root": "0x00"},
            "junk",
        ]
    )
    assert facts[TX] == ReceiptFacts(True, None, None)
    assert facts[TX2] == ReceiptFacts(False, None, 2)
    assert facts["0x" + "44" * 32].succeeded is None  # not a status we know: unknown
    assert len(facts) == 3


# --------------------------------------------------------------------------------------------
# Parity traces


def trace(
    path: list[int],
    value: int,
    *,
    kind: str = "call",
    call_type: str = "call",
    sender: str = CAROL,
    to: str = DAVE,
    tx_hash: str = TX,
    **extra: object,
) -> Obj:
    action: Obj = {"from": sender, "to": to, "value": hex(value), "callType": call_type}
    entry: Obj = {
        "action": action,
        "blockNumber": 16,
        "result": {"gasUsed": "0x0", "output": "0x"},
        "subtraces": 0,
        "traceAddress": path,
        "transactionHash": tx_hash,
        "transactionPosition": 0,
        "type": kind,
    }
    entry.update(extra)
    return entry


def parity(traces: list[object], **kwargs: Any) -> Normalised:
    result = transfers_from_parity_traces(traces, chain_id=1, source="test", **kwargs)
    validate(result.transfers)
    return result


def flags(result: Normalised) -> dict[str | None, bool | None]:
    return dict(
        zip(result.transfers["trace_address"], result.transfers["tx_succeeded"], strict=True)
    )


def test_a_revert_fails_every_descendant_but_not_siblings() -> None:
    traces: list[object] = [
        trace([], ETH, sender=ALICE, to=CAROL),
        trace([0], 2, error="Reverted"),
        trace([0, 0], 3),
        trace([0, 0, 4], 4),
        trace([1], 5),
        trace([10], 6),  # "1" is not a prefix of "10"
    ]
    assert flags(parity(traces)) == {
        None: True,
        "0": False,
        "0,0": False,
        "0,0,4": False,
        "1": True,
        "10": True,
    }


def test_a_failed_top_level_call_fails_everything() -> None:
    traces: list[object] = [trace([], ETH, error="Out of gas"), trace([0], 2)]
    assert set(flags(parity(traces)).values()) == {False}


def test_partial_trace_sets_leave_success_unknown() -> None:
    # trace_filter by address returns only matching traces: the ancestors may be missing.
    lone: list[object] = [trace([2, 1], 5)]
    assert flags(parity(lone)) == {"2,1": None}
    assert flags(parity(lone, receipts={TX: ReceiptFacts(succeeded=False)})) == {"2,1": False}
    assert flags(parity(lone, receipts={TX: ReceiptFacts(succeeded=True)})) == {"2,1": None}


def test_calls_that_move_no_value_of_their_own_are_skipped() -> None:
    traces: list[object] = [
        trace([0], ETH, call_type="delegatecall"),
        trace([1], ETH, call_type="staticcall"),
        trace([2], ETH, call_type="callcode"),
    ]
    result = parity(traces)
    assert result.transfers.height == 0
    assert result.skipped == {}


def test_reward_traces_are_not_transfers() -> None:
    reward = {
        "action": {"author": CAROL, "rewardType": "block", "value": "0x4563918244f40000"},
        "blockNumber": 16,
        "result": None,
        "traceAddress": [],
        "transactionHash": None,
        "type": "reward",
    }
    result = parity([reward])
    assert result.transfers.height == 0
    assert result.skipped == {}


def test_create_traces_take_the_address_from_result_or_receipt() -> None:
    created = trace([0], 5, kind="create", result={"address": NEW, "gasUsed": "0x0"})
    failed_top = trace([], 7, kind="create", result=None, error="Out of gas", tx_hash=TX2)
    failed_inner = trace([1], 9, kind="create", result=None, error="Reverted")
    result = parity(
        [created, failed_top, failed_inner],
        receipts={TX2: ReceiptFacts(succeeded=False, contract_address=NEW)},
    )
    got = {
        (row["transaction_hash"], row["trace_address"]): row for row in result.transfers.to_dicts()
    }
    assert got[TX, "0"]["to_address"] == NEW
    assert got[TX2, None]["to_address"] == NEW
    assert got[TX2, None]["tx_succeeded"] is False
    assert result.skipped == {SkipReason.UNKNOWN_RECIPIENT: 1}


def test_unknown_trace_and_call_types_are_counted() -> None:
    result = parity([trace([0], 1, kind="vmtrace"), trace([1], 1, call_type="superCall")])
    assert result.skipped == {SkipReason.UNSUPPORTED: 2}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (trace([0], 1) | {"traceAddress": "0"}, SkipReason.MALFORMED),
        (trace([0], 1) | {"traceAddress": [-1]}, SkipReason.MALFORMED),
        (trace([0], 1) | {"action": None}, SkipReason.MALFORMED),
        (trace([0], 1) | {"blockNumber": "sixteen"}, SkipReason.MALFORMED),
        (trace([0], 1) | {"transactionHash": None}, SkipReason.MALFORMED),
        (
            {"type": "suicide", "traceAddress": [], "transactionHash": TX, "action": {}},
            SkipReason.MALFORMED,
        ),
        (42, SkipReason.MALFORMED),
    ],
)
def test_malformed_traces_are_counted(bad: object, reason: SkipReason) -> None:
    result = parity([trace([5], 1), bad])
    assert result.skipped == {reason: 1}
    assert result.transfers.height == 1


def test_traces_and_transactions_give_the_same_native_row() -> None:
    receipts = {TX: ReceiptFacts(succeeded=True, effective_gas_price=10**9)}
    from_tx = natives([tx(ETH)], receipts=receipts)
    from_trace = parity([trace([], ETH, sender=ALICE, to=BOB)], receipts=receipts)
    assert from_tx.transfers.drop("source").equals(from_trace.transfers.drop("source"))
    # ... so merging them keeps one row.
    assert merge([from_tx, from_trace]).transfers.height == 1


# --------------------------------------------------------------------------------------------
# geth callTracer


def frame(
    kind: str,
    value: int | None,
    *,
    sender: str = CAROL,
    to: str | None = DAVE,
    calls: list[object] | None = None,
    **extra: object,
) -> Obj:
    entry: Obj = {"type": kind, "from": sender, "gas": "0x0", "gasUsed": "0x0", "input": "0x"}
    if to is not None:
        entry["to"] = to
    if value is not None:
        entry["value"] = hex(value)
    if calls is not None:
        entry["calls"] = calls
    entry.update(extra)
    return entry


def geth(root: object, **kwargs: Any) -> Normalised:
    result = transfers_from_geth_call_trace(
        root, transaction_hash=TX, block_number=16, chain_id=1, source="test", **kwargs
    )
    validate(result.transfers)
    return result


NESTED = frame(
    "CALL",
    ETH,
    sender=ALICE,
    to=CAROL,
    calls=[
        frame("STATICCALL", None, to=DAVE),
        frame(
            "CALL",
            3,
            to=DAVE,
            calls=[
                frame("DELEGATECALL", 3, sender=DAVE, to=BOB),  # inherited msg.value
                frame(
                    "CALL",
                    4,
                    sender=DAVE,
                    to=BOB,
                    error="execution reverted",
                    calls=[frame("CALL", 5, sender=BOB, to=ALICE)],
                ),
                frame("SELFDESTRUCT", 6, sender=DAVE, to=ALICE),
            ],
        ),
        frame("CREATE2", 7, to=NEW),
        frame("CALL", 0, to=DAVE),
        frame("CALLCODE", 8, to=BOB),
    ],
)

NESTED_AS_PARITY: list[object] = [
    trace([], ETH, sender=ALICE, to=CAROL),
    trace([0], 0, call_type="staticcall"),
    trace([1], 3),
    trace([1, 0], 3, call_type="delegatecall", sender=DAVE, to=BOB),
    trace([1, 1], 4, sender=DAVE, to=BOB, error="Reverted"),
    trace([1, 1, 0], 5, sender=BOB, to=ALICE),
    {
        "action": {"address": DAVE, "refundAddress": ALICE, "balance": hex(6)},
        "blockNumber": 16,
        "traceAddress": [1, 2],
        "transactionHash": TX,
        "type": "suicide",
    },
    trace([2], 7, kind="create", result={"address": NEW}),
    trace([3], 0),
    trace([4], 8, call_type="callcode", to=BOB),
]


def test_geth_paths_value_rules_and_error_propagation() -> None:
    result = geth(NESTED)
    assert result.skipped == {}
    got = {
        row["trace_address"]: (row["transfer_kind"], row["value_raw"], row["tx_succeeded"])
        for row in result.transfers.to_dicts()
    }
    assert got == {
        None: ("native", str(ETH), True),
        "1": ("internal", "3", True),
        "1,1": ("internal", "4", False),
        "1,1,0": ("internal", "5", False),
        "1,2": ("internal", "6", True),
        "2": ("internal", "7", True),
    }


def test_geth_and_parity_agree_on_the_same_call_tree() -> None:
    from_geth = geth(NESTED).transfers
    from_parity = parity(NESTED_AS_PARITY).transfers
    assert from_geth.height == 6
    assert from_geth.drop("source").equals(from_parity.drop("source"))


def test_geth_incomplete_and_malformed_frames_are_counted() -> None:
    root = frame(
        "CALL",
        1,
        calls=[
            {"type": "SELFDESTRUCT"},  # old geth: no value known
            frame("CALL", 2, to=None),  # no recipient
            frame("CALL", None),  # no value
            frame("CREATE", 3, to=None),  # failed creation: no address
            frame("EXTCALL", 4),  # not a frame type we know
            frame("CALL", 5) | {"calls": "nope"},  # children unreadable, the frame is fine
            "junk",
        ],
    )
    result = geth(root)
    assert result.skipped == {
        SkipReason.INCOMPLETE: 3,
        SkipReason.UNKNOWN_RECIPIENT: 1,
        SkipReason.UNSUPPORTED: 1,
        SkipReason.MALFORMED: 2,
    }
    assert sorted(result.transfers["value_raw"].to_list()) == ["1", "5"]


def test_geth_failed_transaction_from_receipt() -> None:
    result = geth(NESTED, receipts={TX: ReceiptFacts(succeeded=False)})
    assert set(result.transfers["tx_succeeded"].to_list()) == {False}


def test_geth_block_trace_with_and_without_tx_hashes() -> None:
    entries: list[object] = [
        {"txHash": TX, "result": frame("CALL", 1)},
        {"txHash": TX2, "error": "execution timeout"},
    ]
    result = transfers_from_geth_block_trace(entries, block_number=16, chain_id=1, source="t")
    assert result.transfers["transaction_hash"].to_list() == [TX]
    assert result.skipped == {SkipReason.INCOMPLETE: 1}

    old_style: list[object] = [{"result": frame("CALL", 1)}, {"result": frame("CALL", 2)}]
    aligned = transfers_from_geth_block_trace(
        old_style, block_number=16, transaction_hashes=[TX, TX2], chain_id=1, source="t"
    )
    assert aligned.transfers["transaction_hash"].to_list() == sorted([TX, TX2])
    unaligned = transfers_from_geth_block_trace(
        old_style, block_number=16, transaction_hashes=[TX], chain_id=1, source="t"
    )
    assert unaligned.transfers.height == 0
    assert unaligned.skipped == {SkipReason.INCOMPLETE: 2}

    contradicting = transfers_from_geth_block_trace(
        [{"txHash": TX2, "result": frame("CALL", 1)}],
        block_number=16,
        transaction_hashes=[TX],
        chain_id=1,
        source="t",
    )
    assert contradicting.skipped == {SkipReason.MALFORMED: 1}


# --------------------------------------------------------------------------------------------
# ots_getInternalOperations


def op(kind: int, sender: str, to: str | None, value: int) -> Obj:
    return {"type": kind, "from": sender, "to": to, "value": hex(value)}


def ots(ops: list[object], transaction: Obj, **kwargs: Any) -> Normalised:
    result = transfers_from_ots_internal_operations(
        ops, transaction=transaction, chain_id=1, source="rpc:ots_getInternalOperations", **kwargs
    )
    validate(result.transfers)
    return result


def test_ots_plain_transfer_is_the_transactions_own_value() -> None:
    # anvil answers a plain transfer with one op: the transaction's own value.
    receipts = {TX: ReceiptFacts(succeeded=True)}
    result = ots([op(0, ALICE, BOB, ETH)], tx(ETH), receipts=receipts)
    expected = natives([tx(ETH)], receipts=receipts)
    assert result.transfers.drop("source").equals(expected.transfers.drop("source"))


def test_ots_internal_ops_get_ordinals_and_match_traces_by_movement() -> None:
    ops: list[object] = [
        op(0, ALICE, CAROL, ETH),  # the transaction itself
        op(0, CAROL, DAVE, 3),
        op(2, CAROL, NEW, 0),  # zero-value creation: not a transfer
        op(3, DAVE, NEW, 7),
        op(1, DAVE, ALICE, 6),
    ]
    transaction = tx(ETH, to=CAROL)
    result = ots(ops, transaction, receipts={TX: ReceiptFacts(succeeded=True)})
    got = {
        row["trace_address"]: (row["transfer_kind"], row["value_raw"], row["tx_succeeded"])
        for row in result.transfers.to_dicts()
    }
    assert got == {
        None: ("native", str(ETH), True),
        "ots:1": ("internal", "3", None),  # the op may sit in a reverted frame: unknown
        "ots:3": ("internal", "7", None),
        "ots:4": ("internal", "6", None),
    }

    traces: list[object] = [
        trace([], ETH, sender=ALICE, to=CAROL),
        trace([0], 3),
        trace([0, 0], 7, kind="create", sender=DAVE, result={"address": NEW}),
        {
            "action": {"address": DAVE, "refundAddress": ALICE, "balance": hex(6)},
            "blockNumber": 16,
            "traceAddress": [0, 1],
            "transactionHash": TX,
            "type": "suicide",
        },
    ]
    from_traces = parity(traces).transfers
    assert movement_diff(result.transfers, from_traces).equal
    # Keys differ on purpose: ordinals are not call paths, so nothing de-duplicates by accident.
    merged = merge([result, parity(traces)]).transfers
    assert merged.height == 1 + 3 + 3


def test_ots_without_the_top_level_op_has_no_native_row() -> None:
    result = ots([op(0, CAROL, DAVE, 3)], tx(ETH, to=CAROL))
    assert only(result)["trace_address"] == "ots:0"
    assert only(result)["transfer_kind"] == "internal"


def test_ots_contract_creation_and_failure() -> None:
    transaction = tx(5, to=None)
    result = ots(
        [op(2, ALICE, NEW, 5), op(0, NEW, BOB, 1)],
        transaction,
        receipts={TX: ReceiptFacts(succeeded=False)},
    )
    got = {row["trace_address"]: row for row in result.transfers.to_dicts()}
    assert got[None]["to_address"] == NEW
    assert {row["tx_succeeded"] for row in got.values()} == {False}


def test_ots_checksummed_addresses_are_lowercased() -> None:
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    row = only(ots([op(0, CAROL, checksummed, 2)], tx(0, to=CAROL)))
    assert row["to_address"] == checksummed.lower()


def test_ots_malformed_operations_are_counted() -> None:
    ops: list[object] = [
        op(9, CAROL, DAVE, 1),
        {"type": 0, "from": CAROL, "to": DAVE, "value": "lots"},
        op(1, CAROL, None, 4),
        "junk",
        op(0, CAROL, DAVE, 2),
    ]
    result = ots(ops, tx(0, to=CAROL))
    assert result.skipped == {
        SkipReason.UNSUPPORTED: 1,
        SkipReason.MALFORMED: 2,
        SkipReason.INCOMPLETE: 1,
    }
    assert only(result)["trace_address"] == "ots:4"


def test_ots_with_an_unusable_transaction_counts_every_op() -> None:
    result = ots([op(0, CAROL, DAVE, 1), op(0, CAROL, DAVE, 2)], tx(1) | {"hash": "0x12"})
    assert result.transfers.height == 0
    assert result.skipped == {SkipReason.MALFORMED: 2}


# --------------------------------------------------------------------------------------------
# movement_diff and merge


def test_movement_diff_counts_repeated_movements() -> None:
    twice = parity([trace([0], 3), trace([1], 3)]).transfers
    once = parity([trace([5], 3)]).transfers
    diff = movement_diff(twice, once)
    assert not diff.equal
    assert diff.only_left.height == 1
    assert diff.only_right.height == 0
    assert movement_diff(twice, twice.reverse()).equal


def test_merge_adds_up_skips_and_keeps_the_schema() -> None:
    bad = decode([erc20(1) | {"data": "0x"}])
    good = natives([tx(2)])
    merged = merge([bad, good, merge([])])
    validate(merged.transfers)
    assert merged.transfers.height == 1
    assert merged.skipped == {SkipReason.BAD_DATA: 1}
    assert merged.skipped_total == 1
    assert merge([]).transfers.schema == good.transfers.schema
    assert isinstance(merged.transfers, pl.DataFrame)
