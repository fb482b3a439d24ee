"""Whole-table work for the taint engine, vectorised in polars.

1. :func:`ordered_rows` keeps the rows that move value and puts them in processing order.
2. :func:`reachable` finds, by time-respecting forward search, every address traced value can
   reach; the engine's sequential loop then only visits rows touching those addresses.
3. :func:`swap_candidates` finds (transaction, address) pairs that sent one asset and received
   another in the same transaction.

**Which rows move value.** ``tx_succeeded`` false moves nothing and is dropped; null (success
unknown, e.g. Otterscan internal operations) is kept, as the crawler follows it: dropping it
would silently lose value, keeping it can only overstate. Zero amounts and self-transfers
change no balance and are dropped.

**In-block order.** The table has no transaction index, so transactions within a block are
ordered by their first ``log_index`` (log indices count through the whole block, so this is the
chain's order among transactions that emitted logs), then those without logs by hash (an
arbitrary but fixed order). Within a transaction: the transaction's own value (``native``)
first, then internal calls in call-tree order (``trace_address`` compared numerically, a parent
before its children), then token transfers by ``log_index``. Where a contract mixes internal
calls and logs the table cannot say which came first; swaps do not depend on it (see the engine).
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from tracer.transfers.schema import TransferKind

ASSET_SEPARATOR = "#"  # token_address#token_id for NFTs and ERC-1155 in the engine's asset key


# What the engine, its result frame and the graph use; the rest stays in the caller's table.
_ENGINE_COLUMNS = (
    "chain_id",
    "block_number",
    "block_time",
    "transaction_hash",
    "transfer_kind",
    "log_index",
    "trace_address",
    "from_address",
    "to_address",
    "token_address",
    "token_id",
    "value_raw",
    "tx_succeeded",
)


def asset_key_expr() -> pl.Expr:
    return (
        pl.when(pl.col("token_id").is_null())
        .then(pl.col("token_address"))
        .otherwise(pl.col("token_address") + ASSET_SEPARATOR + pl.col("token_id"))
    )


def ordered_rows(transfers: pl.DataFrame) -> pl.DataFrame:
    """Value-moving rows in processing order, with ``ord`` (their position) and ``asset``."""
    kind = pl.col("transfer_kind").cast(pl.String)
    kind_rank = (
        pl.when(kind == TransferKind.NATIVE.value)
        .then(0)
        .when(kind == TransferKind.INTERNAL.value)
        .then(1)
        .otherwise(2)
    )
    # "0,12" must sort after "0,2": pad every path component before comparing text.
    trace_key = (
        pl.col("trace_address").str.split(",").list.eval(pl.element().str.zfill(6)).list.join(",")
    )
    live = (
        transfers.lazy()
        .select(_ENGINE_COLUMNS)
        .filter(
            pl.col("tx_succeeded").fill_null(True)
            & (pl.col("value_raw") != "0")
            & pl.col("from_address").is_not_null()
            & pl.col("to_address").is_not_null()
            & (pl.col("from_address") != pl.col("to_address"))
        )
        .with_columns(asset=asset_key_expr())
        .collect()
    )
    # Sort the keys, then gather the rows once: a multi-key sort of the whole frame peaked at
    # about four times the table's size, this at about half.
    order = live.select(
        pl.arg_sort_by(
            [
                pl.col("block_number"),
                pl.col("log_index").min().over("block_number", "transaction_hash"),
                pl.col("transaction_hash"),
                kind_rank,
                trace_key,
                pl.col("log_index"),
                pl.col("token_id"),
            ],
            nulls_last=True,
        )
    ).to_series()
    return live[order].with_row_index("ord")


def reachable(
    rows: pl.DataFrame,
    starts: dict[str, int],
    stops: Collection[str],
) -> dict[str, int]:
    """Address → the earliest ``ord`` at which traced value can reach it.

    ``starts`` gives the seeds (and link targets) with the ord they start from. An edge is
    followed when it comes after its sender was reached; stops receive but never pass on.
    Bellman-Ford over time: every round joins the whole edge list once against the addresses
    whose earliest time improved, so the number of rounds is the longest chain of first
    arrivals, not the table's size.
    """
    if rows.is_empty() or not starts:
        return dict(starts)
    # Categoricals share one global string→u32 mapping, so these joins compare integers.
    excluded = sorted(set(stops) - set(starts))
    edges = rows.filter(~pl.col("from_address").is_in(excluded)).select(
        "ord",
        src=pl.col("from_address").cast(pl.Categorical),
        dst=pl.col("to_address").cast(pl.Categorical),
    )
    best = pl.DataFrame(
        {"addr": list(starts), "t": list(starts.values())},
        schema={"addr": pl.Categorical, "t": pl.UInt32},
    )
    frontier = best
    while frontier.height:
        candidates = (
            edges.join(frontier, left_on="src", right_on="addr", how="inner")
            .filter(pl.col("ord") > pl.col("t"))
            .group_by("dst")
            .agg(pl.col("ord").min().alias("t"))
            .rename({"dst": "addr"})
        )
        frontier = (
            candidates.join(best, on="addr", how="left", suffix="_best")
            .filter(pl.col("t_best").is_null() | (pl.col("t") < pl.col("t_best")))
            .select("addr", "t")
        )
        if frontier.height:
            best = pl.concat([best.join(frontier, on="addr", how="anti"), frontier])
    names = best["addr"].cast(pl.String).to_list()
    return dict(zip(names, best["t"].to_list(), strict=True))


def swap_candidates(
    rows: pl.DataFrame, addresses: Collection[str], stops: Collection[str]
) -> dict[str, dict[str, tuple[frozenset[str], frozenset[str]]]]:
    """transaction → address → (input assets, output assets) for every non-stop address in
    ``addresses`` that, in one transaction, sent an asset it did not receive there and received
    an asset it did not send there."""
    if rows.is_empty():
        return {}
    # A swap needs two rows in one transaction; rows of a transaction are adjacent (sorted).
    tx = pl.col("transaction_hash")
    rows = rows.filter((tx == tx.shift(1)) | (tx == tx.shift(-1)))
    if rows.is_empty():
        return {}
    live = list(set(addresses) - set(stops))
    sides = pl.concat(
        [
            rows.select(
                "transaction_hash", "asset", address="from_address", sent=pl.lit(True)
            ).filter(pl.col("address").is_in(live)),
            rows.select(
                "transaction_hash", "asset", address="to_address", sent=pl.lit(False)
            ).filter(pl.col("address").is_in(live)),
        ]
    )
    per_asset = sides.group_by("transaction_hash", "address", "asset").agg(
        out=pl.col("sent").any(), into=(~pl.col("sent")).any()
    )
    per_asset = per_asset.with_columns(
        is_input=pl.col("out") & ~pl.col("into"), is_output=pl.col("into") & ~pl.col("out")
    )
    swappers = (
        per_asset.group_by("transaction_hash", "address")
        .agg(
            inputs=pl.col("asset").filter(pl.col("is_input")),
            outputs=pl.col("asset").filter(pl.col("is_output")),
        )
        .filter((pl.col("inputs").list.len() > 0) & (pl.col("outputs").list.len() > 0))
    )
    found: dict[str, dict[str, tuple[frozenset[str], frozenset[str]]]] = {}
    for tx, address, inputs, outputs in swappers.iter_rows():
        found.setdefault(tx, {})[address] = (frozenset(inputs), frozenset(outputs))
    return found
