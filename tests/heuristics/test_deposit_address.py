"""Exchange deposit addresses by behaviour: concrete cases with the full output asserted,
and the testbed's deposit addresses (thief's and innocents') checked against ground truth."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from tests.conftest import Testbed
from tracer.heuristics.exchanges.deposit_address import (
    HEURISTICS,
    AssetSweeps,
    DepositAddress,
    detect_deposit_addresses,
)
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.rpcclient import JsonRpcClient
from tracer.sources.transport import EndpointLimits, Transport
from tracer.transfers.schema import canonicalise, transfers_from_rows
from tracer.types import NATIVE_TOKEN

ETH = 10**18
GWEI = 10**9
HOUR = 3600
T0 = 1_714_521_600  # 2024-05-01 UTC
CHAIN = 1
TUSD = "0x" + "7" * 40


def addr(name: str) -> str:
    """A readable test address: the name's bytes in hex, left-padded with zeros."""
    return "0x" + name.encode().hex().rjust(40, "0")


HOT_A, HOT_A2, HOT_B = addr("hotA"), addr("hotA2"), addr("hotB")
USER, OTHER, BRIDGE = addr("user"), addr("other"), addr("bridge")
DEFAULTS = HEURISTICS[0].defaults()

_hashes = itertools.count(1)


def tx(n: int) -> str:
    return f"0x{n:064x}"


def move(
    block: int,
    hours: float,
    src: str,
    dst: str,
    value: int,
    *,
    tx_hash: str | None = None,
    kind: str = "native",
    token: str = NATIVE_TOKEN,
    trace: str | None = None,
    log: int | None = None,
) -> dict[str, Any]:
    """One transfer-table row; ``hours`` after T0; a fresh tx hash unless given."""
    return {
        "chain_id": CHAIN,
        "block_number": block,
        "block_time": T0 + int(hours * HOUR),
        "transaction_hash": tx_hash or tx(next(_hashes) + 10_000),
        "transfer_kind": kind,
        "log_index": log if log is not None else (0 if kind == "erc20" else None),
        "trace_address": trace if trace is not None else ("0" if kind == "internal" else None),
        "from_address": src,
        "to_address": dst,
        "token_address": token,
        "value_raw": str(value),
        "tx_succeeded": True,
    }


def token_move(
    block: int, hours: float, src: str, dst: str, value: int, **kw: Any
) -> dict[str, Any]:
    return move(block, hours, src, dst, value, kind="erc20", token=TUSD, **kw)


def labels() -> LabelStore:
    return LabelStore(
        [
            Label(HOT_A, "Exchange A: Hot Wallet", Category.EXCHANGE, "test"),
            Label(HOT_A2, "Exchange A: Hot Wallet 2", Category.EXCHANGE, "test"),
            Label(HOT_B, "Exchange B", Category.EXCHANGE, "test", confidence=0.9),
            Label(BRIDGE, "Bridge", Category.BRIDGE, "test"),
        ]
    )


def table(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    return canonicalise(transfers_from_rows(rows))


# --------------------------------------------------------------------------- concrete cases

DEP_ETH, DEP_TOKEN, FWD = addr("depEth"), addr("depTok"), addr("fwd")
KEEPS, LATE, ELSEWHERE, TWO_EX, WITHDRAWS = (
    addr(n) for n in ("keeps", "late", "elsewhere", "twoEx", "withdraws")
)
FEE = 21_000 * 10 * GWEI  # a plain transfer at 10 gwei


def case_rows() -> list[dict[str, Any]]:
    return [
        # An ETH deposit EOA: two deposits, two sweeps of everything but the gas.
        move(1, 0, USER, DEP_ETH, 10 * ETH, tx_hash=tx(1)),
        move(2, 2, DEP_ETH, HOT_A, 10 * ETH - FEE, tx_hash=tx(2)),
        move(3, 5, OTHER, DEP_ETH, 3 * ETH, tx_hash=tx(3)),
        move(4, 6, DEP_ETH, HOT_A2, 3 * ETH - FEE, tx_hash=tx(4)),  # another Exchange A wallet
        # A token deposit EOA: the exchange tops up its gas, then it sweeps every token.
        token_move(1, 0, USER, DEP_TOKEN, 500_000_000, tx_hash=tx(5)),
        move(2, 1, HOT_B, DEP_TOKEN, 3 * 10**15, tx_hash=tx(6)),
        token_move(3, 1.5, DEP_TOKEN, HOT_B, 500_000_000, tx_hash=tx(7)),
        # A forwarder contract: ETH passed on by internal call in the same transaction,
        # tokens swept later by the exchange.
        move(1, 0, USER, FWD, 2 * ETH, tx_hash=tx(8)),
        move(1, 0, FWD, HOT_A, 2 * ETH, tx_hash=tx(8), kind="internal"),
        token_move(2, 3, OTHER, FWD, 70_000_000, tx_hash=tx(9)),
        token_move(3, 9, FWD, HOT_A, 70_000_000, tx_hash=tx(10)),
        # Not deposit addresses:
        move(1, 0, USER, KEEPS, 10 * ETH),  # a user who keeps 1 ETH
        move(2, 1, KEEPS, HOT_A, 9 * ETH),
        move(1, 0, USER, LATE, 10 * ETH),  # swept 30 hours later
        move(5, 30, LATE, HOT_A, 10 * ETH - FEE),
        move(1, 0, USER, ELSEWHERE, 10 * ETH),  # pays a non-exchange
        move(2, 1, ELSEWHERE, OTHER, 10 * ETH - FEE),
        move(1, 0, USER, TWO_EX, 10 * ETH),  # splits between two exchanges
        move(2, 1, TWO_EX, HOT_A, 5 * ETH),
        move(3, 2, TWO_EX, HOT_B, 5 * ETH - 2 * FEE),
        move(1, 0, HOT_A, WITHDRAWS, 5 * ETH),  # an exchange withdrawal, then a re-deposit
        move(2, 1, WITHDRAWS, HOT_A, 5 * ETH - FEE),
    ]


EXPECTED_ETH = DepositAddress(
    chain_id=CHAIN,
    address=DEP_ETH,
    kind="eoa",
    entity="Exchange A",
    hot_wallets=tuple(sorted((HOT_A, HOT_A2))),
    confidence=0.89,
    assets=(
        AssetSweeps(
            token_address=NATIVE_TOKEN,
            received_raw=13 * ETH,
            top_up_raw=0,
            swept_raw=13 * ETH - 2 * FEE,
            deposits=(tx(1), tx(3)),
            sweeps=(tx(2), tx(4)),
            max_delay_seconds=2 * HOUR,
        ),
    ),
    signals=("sweeps", "repeated-sweeps"),
    top_ups=(),
    parameters=DEFAULTS,
)
EXPECTED_TOKEN = DepositAddress(
    chain_id=CHAIN,
    address=DEP_TOKEN,
    kind="eoa",
    entity="Exchange B",
    hot_wallets=(HOT_B,),
    confidence=0.81,  # (85 + 5 for the top-up) x the hot wallet label's 0.9
    assets=(
        AssetSweeps(
            token_address=TUSD,
            received_raw=500_000_000,
            top_up_raw=0,
            swept_raw=500_000_000,
            deposits=(tx(5),),
            sweeps=(tx(7),),
            max_delay_seconds=int(1.5 * HOUR),
        ),
        AssetSweeps(
            token_address=NATIVE_TOKEN,
            received_raw=0,
            top_up_raw=3 * 10**15,
            swept_raw=0,
            deposits=(),
            sweeps=(),
            max_delay_seconds=0,
        ),
    ),
    signals=("sweeps", "gas-top-up"),
    top_ups=(tx(6),),
    parameters=DEFAULTS,
)
EXPECTED_FORWARDER = DepositAddress(
    chain_id=CHAIN,
    address=FWD,
    kind="forwarder",
    entity="Exchange A",
    hot_wallets=(HOT_A,),
    confidence=0.99,  # 95 + 4 for repeated sweeps
    assets=(
        AssetSweeps(
            token_address=TUSD,
            received_raw=70_000_000,
            top_up_raw=0,
            swept_raw=70_000_000,
            deposits=(tx(9),),
            sweeps=(tx(10),),
            max_delay_seconds=6 * HOUR,
        ),
        AssetSweeps(
            token_address=NATIVE_TOKEN,
            received_raw=2 * ETH,
            top_up_raw=0,
            swept_raw=2 * ETH,
            deposits=(tx(8),),
            sweeps=(tx(8),),
            max_delay_seconds=0,
        ),
    ),
    signals=("same-tx-forward", "repeated-sweeps"),
    parameters=DEFAULTS,
)


def test_detects_eoa_token_and_forwarder_deposit_addresses_and_nothing_else() -> None:
    found = detect_deposit_addresses(table(case_rows()), labels())
    assert found == tuple(
        sorted((EXPECTED_ETH, EXPECTED_TOKEN, EXPECTED_FORWARDER), key=lambda d: d.address)
    )


def test_a_late_sweep_is_accepted_with_a_longer_window_but_marked_slow() -> None:
    found = detect_deposit_addresses(
        table(case_rows()), labels(), candidates=[LATE], parameters={"max_sweep_delay_hours": 48}
    )
    assert [(d.address, d.confidence, d.signals, d.assets[0].max_delay_seconds) for d in found] == [
        (LATE, 0.75, ("sweeps", "slow-sweep"), 30 * HOUR)
    ]


def test_parameters_bound_what_counts_as_a_fee_and_as_dust() -> None:
    rows = case_rows()
    assert detect_deposit_addresses(
        table(rows), labels(), candidates=[KEEPS], parameters={"native_fee_max_wei": ETH}
    )  # 1 ETH kept is "a fee" only if the bound says so
    strict = detect_deposit_addresses(
        table(rows), labels(), candidates=[DEP_ETH], parameters={"native_fee_max_wei": FEE - 1}
    )
    assert strict == ()
    partial_token = [
        token_move(1, 0, USER, DEP_TOKEN, 1_000_000),
        token_move(2, 1, DEP_TOKEN, HOT_B, 999_000),
    ]
    assert detect_deposit_addresses(table(partial_token), labels()) == ()
    tolerant = detect_deposit_addresses(
        table(partial_token), labels(), parameters={"token_dust_fraction": 0.001}
    )
    assert [(d.address, d.assets[0].unswept_raw) for d in tolerant] == [(DEP_TOKEN, 1_000)]


def test_failed_zero_and_nft_transfers_do_not_count() -> None:
    rows = case_rows()
    failed = move(9, 3, DEP_ETH, OTHER, 5 * ETH)
    failed["tx_succeeded"] = False
    nft = move(9, 3, DEP_ETH, OTHER, 1, kind="erc721", token=TUSD, log=1)
    nft["token_id"] = "7"
    zero = move(9, 3, DEP_ETH, OTHER, 0)
    found = detect_deposit_addresses(table([*rows, failed, nft, zero]), labels())
    assert EXPECTED_ETH in found


def test_finding_json() -> None:
    finding = EXPECTED_TOKEN.to_finding()
    assert finding.to_json() == {
        "id": finding.id,
        "heuristic": "exchange-deposit-address",
        "confidence": 0.81,
        "subjects": [DEP_TOKEN, HOT_B],
        "evidence": [tx(5), tx(7), tx(6)],
        "details": {
            "chain_id": CHAIN,
            "kind": "eoa",
            "entity": "Exchange B",
            "hot_wallets": [HOT_B],
            "assets": [
                {
                    "token_address": TUSD,
                    "received_raw": "500000000",
                    "top_up_raw": "0",
                    "swept_raw": "500000000",
                    "unswept_raw": "0",
                    "deposits": [tx(5)],
                    "sweeps": [tx(7)],
                    "max_delay_seconds": 5400,
                },
                {
                    "token_address": NATIVE_TOKEN,
                    "received_raw": "0",
                    "top_up_raw": "3000000000000000",
                    "swept_raw": "0",
                    "unswept_raw": "3000000000000000",
                    "deposits": [],
                    "sweeps": [],
                    "max_delay_seconds": 0,
                },
            ],
            "signals": ["sweeps", "gas-top-up"],
            "parameters": DEFAULTS,
        },
    }


# --------------------------------------------------------------------------- the testbed

UNLIMITED = EndpointLimits(requests_per_second=None, max_concurrent=16)


async def _fetch(url: str, addresses: Iterable[str], head: int) -> pl.DataFrame:
    async with Transport() as transport:
        source = JsonRpcSource(JsonRpcClient(transport, url, limits=UNLIMITED), confirmations=0)
        frames = await asyncio.gather(
            *(source.transfers_for_address(a, 0, head) for a in sorted(set(addresses)))
        )
    return canonicalise(pl.concat(frames))


async def read_testbed_table(testbed: Testbed) -> pl.DataFrame:
    """Every transfer of the hot wallets, of everyone who paid them, of the thief's wallets
    and of the OTC desk and bridge, read from the node."""
    gt = testbed.built.ground_truth
    head = gt["scenario"]["last_block"]
    hot_wallets = [exchange["hot_wallet"] for exchange in gt["exchanges"]]
    hot = await _fetch(testbed.url, hot_wallets, head)
    senders = set(hot.filter(pl.col("to_address").is_in(hot_wallets))["from_address"].to_list())
    others = [
        *senders,
        *gt["thief"]["wallets"],
        gt["otc_desk"]["address"],
        gt["contracts"]["bridge"],
    ]
    rest = await _fetch(testbed.url, set(others) - set(hot_wallets), head)
    return canonicalise(pl.concat([hot, rest]))


def deposit_expectations(gt: Mapping[str, Any]) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """(used deposit address -> (exchange, kind), never-used deposit addresses)."""
    used: dict[str, tuple[str, str]] = {}
    unused: set[str] = set()
    for exchange in gt["exchanges"]:
        accounts = exchange["thief_deposit_addresses"] + exchange["innocent_deposit_addresses"]
        for account in accounts:
            if len(gt["accounts"][account["address"]]) > 2:  # role, entity and some asset
                used[account["address"]] = (exchange["name"], account["kind"])
            else:
                unused.add(account["address"])
    return used, unused


async def test_testbed_every_used_deposit_address_is_found_with_its_exchange(
    testbed_small: Testbed,
) -> None:
    gt = testbed_small.built.ground_truth
    transfers = await read_testbed_table(testbed_small)
    store = LabelStore.from_files([testbed_small.out_dir / "labels.csv"])
    found = detect_deposit_addresses(transfers, store)
    used, unused = deposit_expectations(gt)
    assert {d.address: (d.entity, d.kind) for d in found} == used  # nothing missed, nothing else
    thief_deposits = {o["address"] for o in gt["offramps"] if o["category"] == "exchange_deposit"}
    assert thief_deposits <= set(used)
    decoys = {d["address"] for d in gt["decoys"]}
    assert decoys & {d.address for d in found} == decoys - unused  # decoys are found too
    assert all(0.8 <= d.confidence <= 0.99 for d in found)
