"""Small hand-built transfer tables for the taint and graph tests, with readable names.

Helpers only (shared with ``tests/graph``); the cases' tests are in ``test_taint.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from tracer.heuristics.taint import Asset, ConversionKind, TaintResult
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.transfers.schema import transfers_from_rows
from tracer.types import NATIVE_TOKEN

CHAIN = 31337
NAMES = {
    "victim": "0x" + "10" * 20,
    "seed": "0x" + "5e" * 20,
    "a": "0x" + "aa" * 20,
    "b": "0x" + "bb" * 20,
    "c": "0x" + "cc" * 20,
    "d": "0x" + "dd" * 20,
    "w": "0x" + "d0" * 20,
    "clean": "0x" + "c1" * 20,
    "router": "0x" + "40" * 20,
    "pair": "0x" + "50" * 20,
    "weth": "0x" + "e7" * 20,
    "tusd": "0x" + "75" * 20,
    "nft": "0x" + "4f" * 20,
    "fee": "0x" + "fe" * 20,
    "mixer": "0x" + "33" * 20,
    "exchange": "0x" + "ec" * 20,
    "relayer": "0x" + "7e" * 20,
}
ADDRESS_NAMES = {address: name for name, address in NAMES.items()}
ASSET_NAMES = {NATIVE_TOKEN: "ETH", NAMES["weth"]: "WETH", NAMES["tusd"]: "tUSD"}
ETH = Asset(NATIVE_TOKEN)


def tx(n: int) -> str:
    return f"0x{n:064x}"


def row(  # noqa: PLR0917 (a test row, field by field)
    n: int,
    block: int,
    src: str,
    dst: str,
    value: int,
    kind: str = "native",
    *,
    token: str | None = None,
    log: int | None = None,
    trace: str | None = None,
    token_id: str | None = None,
    ok: bool | None = True,
    decimals: int | None = 18,
) -> dict[str, Any]:
    return {
        "chain_id": CHAIN,
        "block_number": block,
        "block_time": 1_700_000_000 + 12 * block,
        "transaction_hash": tx(n),
        "transfer_kind": kind,
        "log_index": log,
        "trace_address": trace,
        "from_address": NAMES[src],
        "to_address": NAMES[dst],
        "token_address": NAMES[token] if token else NATIVE_TOKEN,
        "token_id": token_id,
        "value_raw": str(value),
        "token_decimals": decimals,
        "tx_succeeded": ok,
        "source": "test",
    }


def table(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    return transfers_from_rows(list(rows))


def labels(**categories: Category) -> LabelStore:
    return LabelStore(
        Label(NAMES[name], name, category, "test", CHAIN) for name, category in categories.items()
    )


def asset_name(asset: Asset) -> str:
    name = ASSET_NAMES.get(asset.token_address, ADDRESS_NAMES.get(asset.token_address, "?"))
    return f"{name}#{asset.token_id}" if asset.token_id is not None else name


def balances(result: TaintResult) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(address name, asset name) → (received, sent, held)."""
    return {
        (ADDRESS_NAMES[address], asset_name(asset)): (b.received, b.sent, b.held)
        for (address, asset), b in result.balances.items()
    }


def traced(result: TaintResult) -> list[tuple[int, str, str, str, int, int]]:
    """Per traced transfer: (tx number, from, to, asset, traced, converted), in order."""
    return [
        (
            int(r["transaction_hash"], 16),
            ADDRESS_NAMES[r["from_address"]],
            ADDRESS_NAMES[r["to_address"]],
            asset_name(Asset(r["token_address"], r["token_id"])),
            int(r["traced_raw"]),
            int(r["converted_raw"]),
        )
        for r in result.transfers.iter_rows(named=True)
    ]


def assert_conserved(result: TaintResult) -> None:
    """Haircut and FIFO: received == sent + held for every address and asset, and the
    per-transfer view agrees with the per-address one."""
    for key, b in result.balances.items():
        assert b.received == b.sent + b.held, key
        assert min(b.received, b.sent, b.held) >= 0, key
    carried: dict[tuple[str, Asset], int] = {}
    received: dict[tuple[str, Asset], int] = {}
    for r in result.transfers.iter_rows(named=True):
        asset = Asset(r["token_address"], r["token_id"])
        sender, recipient = (r["from_address"], asset), (r["to_address"], asset)
        carried[sender] = carried.get(sender, 0) + int(r["traced_raw"]) - int(r["converted_raw"])
        received[recipient] = received.get(recipient, 0) + int(r["traced_raw"])
    for c in result.conversions:
        if c.kind is ConversionKind.UNWRAP:  # WETH burnt without a row
            key = (c.address, c.asset_in)
            carried[key] = carried.get(key, 0) + c.traced_in
        if c.kind is ConversionKind.WRAP:  # WETH minted without a row
            key = (c.address, c.asset_out)
            received[key] = received.get(key, 0) + c.traced_out
    for key, b in result.balances.items():
        assert carried.get(key, 0) == b.sent, key
    for key, amount in received.items():
        if amount:
            assert result.balances[key].received >= amount, key
