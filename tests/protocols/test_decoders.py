"""The pure decoders on hand-built logs, transactions and receipts: full rows asserted,
malformed input skipped and counted, never guessed at."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
from eth_abi.abi import encode

from tracer.protocols.events import (
    EVENT_SCHEMA,
    TRANSACTION_SCHEMA,
    events_from_logs,
    merge,
    topics_of,
    transactions_from_rpc,
    with_block_times,
    with_tx_senders,
)
from tracer.protocols.specs import (
    PROTOCOL_EVENTS,
    TESTBED_BRIDGE_DEPOSIT,
    TORNADO_DEPOSIT,
    TORNADO_WITHDRAWAL,
    UNISWAP_V2_SWAP,
    UNISWAP_V3_SWAP,
    WETH_DEPOSIT,
    WETH_WITHDRAWAL,
    Column,
    EventKind,
    EventSpec,
)
from tracer.transfers.untrusted import SkipReason
from tracer.types import Address

POOL = "0x" + "a1" * 20
PAIR = "0x" + "b2" * 20
WETH = "0x" + "c3" * 20
BRIDGE = "0x" + "d4" * 20
ALICE = "0x" + "11" * 20
BOB = "0x" + "22" * 20
RELAYER = "0x" + "33" * 20
COMMITMENT = "0x" + "ab" * 32
NULLIFIER = "0x" + "cd" * 32
TX = "0x" + "0f" * 32
TX2 = "0x" + "1e" * 32
NOW = 1_714_521_660
ETH = 10**18
BIG = 2**256 - 1  # amounts are exact, whatever their size


def topic(abi_type: str, value: object) -> str:
    return "0x" + encode([abi_type], [value]).hex()


def log(
    spec: EventSpec,
    values: list[object],
    *,
    address: str,
    log_index: int,
    tx: str = TX,
    block: int = 7,
) -> dict[str, Any]:
    """A log as eth_getLogs returns it, encoding ``values`` by the spec's ABI."""
    indexed = [topic(a.abi_type, v) for a, v in zip(spec.args, values, strict=True) if a.indexed]
    plain = [(a.abi_type, v) for a, v in zip(spec.args, values, strict=True) if not a.indexed]
    data = encode([t for t, _ in plain], [v for _, v in plain])
    return {
        "address": address,
        "topics": [spec.topic0, *indexed],
        "data": "0x" + data.hex(),
        "blockNumber": hex(block),
        "blockHash": "0x" + "99" * 32,
        "transactionHash": tx,
        "transactionIndex": "0x2",
        "logIndex": hex(log_index),
        "removed": False,
    }


def decode(logs: list[Any]) -> tuple[list[dict[str, Any]], dict[SkipReason, int]]:
    result = events_from_logs(
        logs, chain_id=1, source="test", request_key="k", block_times={7: NOW}
    )
    assert result.table.schema == EVENT_SCHEMA
    return result.table.to_dicts(), dict(result.skipped)


def row(
    event: EventKind, protocol: str, contract: str, log_index: int, **values: object
) -> dict[str, Any]:
    """The expected events row: every column, nulls where the event fills nothing."""
    base: dict[str, Any] = dict.fromkeys(EVENT_SCHEMA.names())
    base.update(
        chain_id=1,
        block_number=7,
        block_time=datetime.fromtimestamp(NOW, tz=UTC),
        transaction_hash=TX,
        transaction_index=2,
        log_index=log_index,
        contract_address=contract,
        event=event.value,
        protocol=protocol,
        source="test",
        request_key="k",
    )
    base.update(values)
    return base


def test_every_event_decodes_to_its_full_row() -> None:
    logs = [
        log(TORNADO_DEPOSIT, [bytes.fromhex("ab" * 32), 5, NOW], address=POOL, log_index=0),
        log(
            TORNADO_WITHDRAWAL,
            [BOB, bytes.fromhex("cd" * 32), RELAYER, ETH // 25],
            address=POOL.upper().replace("0X", "0x"),  # mixed case from a node: canonicalised
            log_index=1,
        ),
        log(UNISWAP_V2_SWAP, [ALICE, BIG, 0, 0, 12_345, BOB], address=PAIR, log_index=2),
        log(
            UNISWAP_V3_SWAP,
            [ALICE, BOB, -(10**30), 2 * ETH, 2**159 + 1, 2**127, -887_272],
            address=PAIR,
            log_index=3,
        ),
        log(WETH_DEPOSIT, [ALICE, 3 * ETH], address=WETH, log_index=4),
        log(WETH_WITHDRAWAL, [ALICE, ETH], address=WETH, log_index=5),
        log(
            TESTBED_BRIDGE_DEPOSIT,
            [ALICE, BOB, 137, "0x" + "ee" * 20, 19 * ETH, 3],
            address=BRIDGE,
            log_index=6,
        ),
    ]
    rows, skipped = decode(logs)
    assert skipped == {}
    assert rows == [
        row(
            EventKind.MIXER_DEPOSIT,
            "tornado",
            POOL,
            0,
            commitment_or_nullifier=COMMITMENT,
            leaf_index=5,
            event_timestamp=NOW,
        ),
        row(
            EventKind.MIXER_WITHDRAWAL,
            "tornado",
            POOL,
            1,
            account=BOB,
            counterparty=RELAYER,
            commitment_or_nullifier=NULLIFIER,
            fee_raw=str(ETH // 25),
        ),
        row(
            EventKind.SWAP_V2,
            "uniswap_v2",
            PAIR,
            2,
            account=ALICE,
            counterparty=BOB,
            amount0_in=str(BIG),
            amount1_in="0",
            amount0_out="0",
            amount1_out="12345",
        ),
        row(
            EventKind.SWAP_V3,
            "uniswap_v3",
            PAIR,
            3,
            account=ALICE,
            counterparty=BOB,
            amount0="-" + "1" + "0" * 30,
            amount1=str(2 * ETH),
            sqrt_price_x96=str(2**159 + 1),
            liquidity=str(2**127),
            tick=-887_272,
        ),
        row(EventKind.WRAP, "weth", WETH, 4, account=ALICE, amount_raw=str(3 * ETH)),
        row(EventKind.UNWRAP, "weth", WETH, 5, account=ALICE, amount_raw=str(ETH)),
        row(
            EventKind.BRIDGE_DEPOSIT,
            "bridge:testbed",
            BRIDGE,
            6,
            account=ALICE,
            counterparty=BOB,
            destination_chain_id=137,
            token_address="0x" + "ee" * 20,
            amount_raw=str(19 * ETH),
            nonce_raw="3",
        ),
    ]


def test_malformed_logs_are_skipped_and_counted() -> None:
    good = log(WETH_DEPOSIT, [ALICE, ETH], address=WETH, log_index=0)
    bad_padding = {**good, "logIndex": "0x1", "topics": [good["topics"][0], "0x" + "ff" * 32]}
    short_data = {**good, "logIndex": "0x2", "data": "0x" + "00" * 31}
    long_data = {**good, "logIndex": "0x3", "data": good["data"] + "00" * 32}
    # WETH's Deposit signature with nothing indexed (some vaults): not this spec.
    wrong_topics = {**good, "logIndex": "0x4", "topics": [good["topics"][0]]}
    removed = {**good, "logIndex": "0x5", "removed": True}
    pending = {**good, "logIndex": "0x6", "blockNumber": None}
    bad_hash = {**good, "logIndex": "0x7", "transactionHash": "0x12"}
    bad_index = {**good, "logIndex": "seven"}
    not_hex = {**good, "logIndex": "0x8", "data": "0xzz"}
    huge_chain = log(
        TESTBED_BRIDGE_DEPOSIT,
        [ALICE, BOB, 2**64, "0x" + "ee" * 20, 1, 1],
        address=BRIDGE,
        log_index=9,
    )
    other_event = {**good, "logIndex": "0xa", "topics": ["0x" + "01" * 32]}
    anonymous = {**good, "logIndex": "0xb", "topics": []}
    duplicate = dict(good)
    rows, skipped = decode(
        [
            good,
            bad_padding,
            short_data,
            long_data,
            wrong_topics,
            removed,
            pending,
            bad_hash,
            bad_index,
            not_hex,
            huge_chain,
            other_event,
            anonymous,
            duplicate,
            "not a log",
        ]
    )
    assert [(r["log_index"], r["account"], r["amount_raw"]) for r in rows] == [(0, ALICE, str(ETH))]
    assert skipped == {
        SkipReason.BAD_DATA: 4,  # padding, short, long, chain id beyond int64
        SkipReason.WRONG_TOPIC_COUNT: 1,
        SkipReason.REMOVED: 1,
        SkipReason.PENDING: 1,
        SkipReason.MALFORMED: 4,  # hash, log index, data, not an object
        SkipReason.DUPLICATE: 1,
    }


def test_restricted_specs_ignore_other_contracts_and_constants_fill_columns() -> None:
    """A real bridge added as data: only its own contract, a fixed destination chain."""
    bridge = EventSpec(
        kind=EventKind.BRIDGE_DEPOSIT,
        protocol="bridge:example",
        name="Deposited",
        args=(
            TESTBED_BRIDGE_DEPOSIT.args[0],
            TESTBED_BRIDGE_DEPOSIT.args[4],
        ),
        contracts=frozenset({Address(BRIDGE)}),
        constants=((Column.DESTINATION_CHAIN_ID, 10), (Column.TOKEN_ADDRESS, "0x" + "ee" * 20)),
    )
    ours = log(bridge, [ALICE, 5], address=BRIDGE, log_index=0)
    elsewhere = log(bridge, [ALICE, 5], address=PAIR, log_index=1)
    result = events_from_logs([ours, elsewhere], chain_id=1, source="t", specs=[bridge])
    assert result.skipped == {}
    [decoded] = result.table.to_dicts()
    assert decoded["contract_address"] == BRIDGE
    assert (decoded["account"], decoded["amount_raw"]) == (ALICE, "5")
    assert (decoded["destination_chain_id"], decoded["token_address"]) == (10, "0x" + "ee" * 20)
    assert decoded["block_time"] is None  # no block times given: unknown, not invented


def test_depositors_come_from_the_transaction_sender() -> None:
    deposit = log(TORNADO_DEPOSIT, [bytes(32), 0, NOW], address=POOL, log_index=0)
    unknown_tx = log(TORNADO_DEPOSIT, [bytes(32), 1, NOW], address=POOL, log_index=1, tx=TX2)
    swap = log(UNISWAP_V2_SWAP, [ALICE, 1, 0, 0, 1, BOB], address=PAIR, log_index=2)
    events = events_from_logs([deposit, unknown_tx, swap], chain_id=1, source="t").table
    transactions = transactions_from_rpc(
        [{"hash": TX, "blockNumber": "0x7", "from": RELAYER, "to": POOL}],
        chain_id=1,
        source="t",
    ).table
    filled = with_tx_senders(events, transactions)
    assert filled.schema == EVENT_SCHEMA
    assert filled["account"].to_list() == [RELAYER, None, ALICE]


def test_transaction_facts() -> None:
    eip1559 = {
        "hash": TX,
        "blockNumber": "0x7",
        "transactionIndex": "0x2",
        "from": ALICE.upper().replace("0X", "0x"),
        "to": POOL,
        "nonce": "0x1f",
        "value": hex(10 * ETH),
        "gasPrice": "0x3b9aca07",
        "maxPriorityFeePerGas": "0x7",
        "maxFeePerGas": "0x77359400",
        "gas": "0x1d4c0",
        "type": "0x2",
        "input": "0xB214FAA5" + "00" * 32,
    }
    creation = {
        "hash": TX2,
        "blockNumber": "0x8",
        "transactionIndex": "0x0",
        "from": BOB,
        "to": None,
        "nonce": "0x0",
        "value": "0x0",
        "gasPrice": "0x1",
        "gas": "0x5208",
        "type": "0x0",
        "input": "0x",
    }
    receipts = [
        {
            "transactionHash": TX,
            "blockNumber": "0x7",
            "status": "0x1",
            "effectiveGasPrice": "0x3b9aca07",
            "gasUsed": "0x1a000",
            "contractAddress": None,
        },
        {
            "transactionHash": TX2,
            "blockNumber": "0x8",
            "status": "0x0",
            "effectiveGasPrice": "0x1",
            "gasUsed": "0x5208",
            "contractAddress": PAIR,
        },
    ]
    pending = {**eip1559, "hash": "0x" + "44" * 32, "blockNumber": None}
    no_sender = {**eip1559, "hash": "0x" + "55" * 32, "from": "nobody"}
    junk_fields = {
        **eip1559,
        "hash": "0x" + "66" * 32,
        "nonce": "0xzz",
        "gasPrice": hex(2**64),
        "input": 5,
    }
    result = transactions_from_rpc(
        [creation, eip1559, pending, no_sender, junk_fields, eip1559],
        receipts,
        chain_id=1,
        source="rpc:test",
        block_times={7: NOW},
    )
    assert result.table.schema == TRANSACTION_SCHEMA
    assert dict(result.skipped) == {
        SkipReason.PENDING: 1,
        SkipReason.MALFORMED: 1,
        SkipReason.DUPLICATE: 1,
    }
    assert result.table.to_dicts() == [
        {
            "chain_id": 1,
            "transaction_hash": TX,
            "block_number": 7,
            "block_time": datetime.fromtimestamp(NOW, tz=UTC),
            "transaction_index": 2,
            "from_address": ALICE,
            "to_address": POOL,
            "contract_address": None,
            "nonce": 31,
            "value_raw": str(10 * ETH),
            "gas_price": 1_000_000_007,
            "max_priority_fee_per_gas": 7,
            "max_fee_per_gas": 2_000_000_000,
            "effective_gas_price": 1_000_000_007,
            "gas_limit": 120_000,
            "gas_used": 0x1A000,
            "tx_type": 2,
            "status": True,
            "method_id": "0xb214faa5",
            "source": "rpc:test",
        },
        {
            "chain_id": 1,
            "transaction_hash": "0x" + "66" * 32,
            "block_number": 7,
            "block_time": datetime.fromtimestamp(NOW, tz=UTC),
            "transaction_index": 2,
            "from_address": ALICE,
            "to_address": POOL,
            "contract_address": None,
            "nonce": None,  # unreadable carried-along fields are null, the row stays
            "value_raw": str(10 * ETH),
            "gas_price": None,
            "max_priority_fee_per_gas": 7,
            "max_fee_per_gas": 2_000_000_000,
            "effective_gas_price": None,  # no receipt
            "gas_limit": 120_000,
            "gas_used": None,
            "tx_type": 2,
            "status": None,
            "method_id": None,
            "source": "rpc:test",
        },
        {
            "chain_id": 1,
            "transaction_hash": TX2,
            "block_number": 8,
            "block_time": None,
            "transaction_index": 0,
            "from_address": BOB,
            "to_address": None,
            "contract_address": PAIR,
            "nonce": 0,
            "value_raw": "0",
            "gas_price": 1,
            "max_priority_fee_per_gas": None,
            "max_fee_per_gas": None,
            "effective_gas_price": 1,
            "gas_limit": 21_000,
            "gas_used": 21_000,
            "tx_type": 0,
            "status": False,
            "method_id": None,
            "source": "rpc:test",
        },
    ]


def test_merge_keeps_one_row_per_log_and_adds_skips() -> None:
    first = events_from_logs(
        [log(WETH_DEPOSIT, [ALICE, 1], address=WETH, log_index=0), "junk"],
        chain_id=1,
        source="a",
    )
    second = events_from_logs(
        [log(WETH_DEPOSIT, [ALICE, 1], address=WETH, log_index=0)], chain_id=1, source="b"
    )
    merged = merge([first, second], EVENT_SCHEMA)
    assert merged.table.height == 1
    assert merged.table["source"].to_list() == ["a"]
    assert merged.skipped == {SkipReason.MALFORMED: 1}
    assert merge([], EVENT_SCHEMA).table.equals(pl.DataFrame(schema=EVENT_SCHEMA))


def test_topic_filter_lists_each_topic_once() -> None:
    assert topics_of(PROTOCOL_EVENTS) == sorted(spec.topic0 for spec in PROTOCOL_EVENTS)
    assert topics_of([WETH_DEPOSIT, WETH_DEPOSIT]) == [WETH_DEPOSIT.topic0]


def test_block_times_are_filled_where_missing() -> None:
    later = {**log(WETH_DEPOSIT, [ALICE, 1], address=WETH, log_index=0), "blockNumber": "0x9"}
    events = events_from_logs(
        [log(WETH_DEPOSIT, [ALICE, 1], address=WETH, log_index=1), later],
        chain_id=1,
        source="t",
        block_times={7: NOW},
    ).table
    filled = with_block_times(events, {7: 1, 9: NOW + 12})
    assert filled.schema == EVENT_SCHEMA
    assert filled["block_time"].to_list() == [
        datetime.fromtimestamp(NOW, tz=UTC),  # already known: kept
        datetime.fromtimestamp(NOW + 12, tz=UTC),
    ]
