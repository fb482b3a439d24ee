"""Cases to export: one real `tracer trace` of the small testbed (with every format exported
by `--export`), and a small hand-made case for the edge cases (hostile label text, a uint256
above 2**64, parallel transfers to aggregate, a branch that is not on an off-ramp path)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import Testbed
from tests.e2e.test_offramps_e2e import run_trace
from tracer.atomic import atomic_write_text
from tracer.cases import Case, load_case
from tracer.exporters.registry import FORMATS
from tracer.graph.build import edge_key
from tracer.graph.tables import NODE_SCHEMA
from tracer.transfers.schema import TRANSFER_SCHEMA
from tracer.types import NATIVE_TOKEN

HOSTILE = 'He said "hi" \\ back\nline2 <script>alert(1)</script> & ;semi\\n'
SECOND_LABEL = "second; label \x07bell"  # a control character XML cannot carry
BELL = "Desk \x07 7"
BIG = 2**70  # above 2**64: no 64-bit integer column can hold it
SEED = "0x" + "11" * 20
HOP = "0x" + "22" * 20
DEPOSIT = "0x" + "33" * 20
OTHER = "0x" + "44" * 20
TOKEN = "0x" + "55" * 20


@pytest.fixture(scope="package")
def traced_case(testbed_small: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Case:
    """The small testbed traced by the real CLI, exporting every format on the way."""
    out = tmp_path_factory.mktemp("export-case") / "case"
    result = run_trace(testbed_small, out, "--export", ",".join(FORMATS))
    assert result.returncode == 0, result.stderr
    return load_case(out)


def _transfer(
    tx: int, source: str, target: str, raw: int, *, token: str = NATIVE_TOKEN, minute: int = 0
) -> dict[str, Any]:
    native = token == NATIVE_TOKEN
    return {
        "chain_id": 1,
        "block_number": 100 + tx,
        "block_time": datetime(2024, 5, 1, 12, minute, tzinfo=UTC),
        "transaction_hash": "0x" + f"{tx:064x}",
        "transfer_kind": "native" if native else "erc20",
        "log_index": None if native else 0,
        "trace_address": "" if native else None,
        "from_address": source,
        "to_address": target,
        "token_address": token,
        "token_id": None,
        "value_raw": str(raw),
        "value": None,
        "token_symbol": "ETH" if native else "TKN",
        "token_decimals": 18 if native else 6,
        "tx_succeeded": True,
        "gas_price": 1,
        "source": "test",
        "request_key": None,
    }


@pytest.fixture
def hand_case(tmp_path: Path) -> Case:
    """seed → hop twice (BIG+1, BIG+2 wei), hop → deposit (the off-ramp), hop → other (a token)."""
    rows = [
        _transfer(1, SEED, HOP, BIG + 1, minute=1),
        _transfer(2, SEED, HOP, BIG + 2, minute=2),
        _transfer(3, HOP, DEPOSIT, BIG, minute=3),
        _transfer(4, HOP, OTHER, 5_000_000, token=TOKEN, minute=4),
    ]
    transfers = pl.DataFrame(rows, schema=TRANSFER_SCHEMA)
    # Every transfer carried traced value in full; ids are the transfers' keys.
    edges = transfers.select(
        pl.Series("id", [edge_key(row) for row in rows]),
        pl.col("from_address").alias("source"),
        pl.col("to_address").alias("target"),
        "transaction_hash", "block_number", "block_time",
        pl.col("transfer_kind").cast(pl.String()),
        pl.col("token_address").alias("asset"),
        "token_address", "token_id", "token_symbol", "token_decimals",
        pl.col("value_raw").alias("amount_raw"),
        pl.col("value_raw").alias("traced_raw"),
        pl.lit("0").alias("converted_raw"),
        pl.int_range(pl.len(), dtype=pl.Int64()).alias("order"),
    )  # fmt: skip
    node = dict.fromkeys(NODE_SCHEMA.names())
    nodes = pl.DataFrame(
        [
            {**node, "id": SEED, "role": "seed", "category": "thief", "entity": "Thief",
             "labels": ["Theft wallet"], "seed": True},
            {**node, "id": HOP, "role": "unlabelled", "entity": HOSTILE,
             "labels": [HOSTILE, SECOND_LABEL],
             "label_details": [
                 {"name": HOSTILE, "category": "other", "source": HOSTILE, "date": "2024-04-30"},
                 {"name": SECOND_LABEL, "category": "other", "source": "list", "date": None}],
             "traced": [{"asset": NATIVE_TOKEN, "received_raw": str(2 * BIG + 3),
                         "sent_raw": str(BIG), "held_raw": "3"}]},
            {**node, "id": DEPOSIT, "role": "exchange_deposit", "category": "exchange_deposit",
             "entity": "Exchange A", "labels": ["Ex A"], "stop": True,
             "offramp": "exchange_deposit"},
            {**node, "id": OTHER, "role": "unlabelled", "entity": BELL},
        ],
        schema=NODE_SCHEMA,
    ).with_columns(
        pl.col("labels").fill_null([]),
        pl.col("traced").fill_null([]),
        pl.col("label_details").fill_null([]),
        pl.col("seed").fill_null(False),
        pl.col("stop").fill_null(False),
        first_seen=pl.lit(datetime(2024, 5, 1, tzinfo=UTC)),
        last_seen=pl.lit(datetime(2024, 5, 2, tzinfo=UTC)),
    )  # fmt: skip
    directory = tmp_path / "hand"
    directory.mkdir()
    nodes.write_parquet(directory / "nodes.parquet")
    edges.write_parquet(directory / "edges.parquet")
    transfers.write_parquet(directory / "transfers.parquet")
    deposit = {
        "address": DEPOSIT, "category": "exchange_deposit", "entity": "Exchange A",
        "asset": "ETH", "amount_raw": str(BIG), "confidence": 0.9,
        "arrivals": [{"tx": "0x" + f"{3:064x}", "amount_raw": str(BIG)}],
    }  # fmt: skip
    report = {
        "format_version": 1, "chain_id": 1, "seeds": [SEED], "offramps": [deposit],
        "mixer_links": [], "findings": [],
    }  # fmt: skip
    atomic_write_text(directory / "report.json", json.dumps(report))
    return load_case(directory)
