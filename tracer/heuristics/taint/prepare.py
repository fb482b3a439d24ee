"""Whole-table work for the taint engine, vectorised in polars.

1. :func:`processing_order` keeps the rows that move value and puts them in processing order.
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


# The columns the engine reads, per chunk of rows (see :func:`engine_rows`); the rest stays in
# the caller's table and is gathered only for the traced rows of the result.
ENGINE_COLUMNS = (
    "block_number",
    "transaction_hash",
    "transfer_kind",
    "from_address",
    "to_address",
    "token_address",
    "token_id",
    "value_raw",
)


def asset_key_expr() -> pl.Expr:
    return (
        pl.when(pl.col("token_id").is_null())
        .then(pl.col("token_address"))
        .otherwise(pl.col("token_address") + ASSET_SEPARATOR + pl.col("token_id"))
    )


def moves_value() -> pl.Expr:
    """Rows that change balances: succeeded (or unknown), non-zero, between two addresses."""
    return (
        pl.col("tx_succeeded").fill_null(True)
        & (pl.col("value_raw") != "0")
        & pl.col("from_address").is_not_null()
        & pl.col("to_address").is_not_null()
        & (pl.col("from_address") != pl.col("to_address"))
    )


# Nulls sort last, as these: sorting by nullable keys with ``nulls_last`` takes polars' row
# encoding path, about 200 bytes a row at 1M rows, where non-null keys cost a few.
_LAST_NUMBER = 2**63 - 1
_LAST_TEXT = "~"  # after every digit, comma, letter and "0x" text a key holds


def processing_order(transfers: pl.DataFrame) -> pl.DataFrame:
    """The value-moving rows in processing order, as a skeleton: ``ord`` (the position),
    ``row`` (the row's index in ``transfers``), ``block_number``, and the sender and
    recipient as categoricals (``src``, ``dst``).

    Only the sort keys and these few narrow columns are materialised, never a sorted copy of
    the table's text columns: at 10M rows a sorted copy of the rows cost about 5 GiB, this
    skeleton about 200 MiB. The engine gathers the columns it reads a chunk at a time.
    """
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
    keys = (
        transfers.lazy()
        .with_row_index("row")
        .filter(moves_value())
        .select(
            "row",
            "block_number",
            pl.col("transaction_hash").fill_null(_LAST_TEXT),
            pl.col("log_index").fill_null(_LAST_NUMBER),
            kind_rank.alias("_kind"),
            trace_key.fill_null(_LAST_TEXT).alias("_trace"),
            pl.col("token_id").fill_null(_LAST_TEXT),
        )
        .collect()
    )
    keys = keys.with_columns(_first_log=_first_log_index(keys))
    order = keys.select(
        pl.arg_sort_by(
            ["block_number", "_first_log", "transaction_hash", "_kind", "_trace", "log_index",
             "token_id"],
            maintain_order=True,  # rows equal in every key (not unique) keep the table's order
        )
    ).to_series()  # fmt: skip
    ordered = keys.select("row", "block_number")[order]
    del keys, order
    # Categoricals share one global string->u32 mapping: the reachability joins compare
    # integers, and two columns of 4-byte codes replace two of text.
    ends = transfers.select(
        src=pl.col("from_address").cast(pl.Categorical),
        dst=pl.col("to_address").cast(pl.Categorical),
    )[ordered["row"]]
    return ordered.hstack(ends).with_row_index("ord")


def _first_log_index(keys: pl.DataFrame) -> pl.Series:
    """Each row's transaction's first ``log_index`` (``_LAST_NUMBER``: it has no logs).

    By sorting rather than a window over (block, transaction): polars' windows and group-bys
    over a text key materialise every group, about 300 bytes a row, where a sort of the keys
    costs a few bytes a row.
    """
    by_tx = keys.select(pl.arg_sort_by("block_number", "transaction_hash", "log_index")).to_series()
    grouped = keys.select("block_number", "transaction_hash", "log_index")[by_tx]
    starts = (
        (pl.col("block_number") != pl.col("block_number").shift(1))
        | (pl.col("transaction_hash") != pl.col("transaction_hash").shift(1))
    ).fill_null(value=True)
    # A transaction's first row holds its smallest log index, if it has any.
    marked = grouped.select(group=starts.cum_sum() - 1, first=pl.col("log_index"), start=starts)
    firsts = marked.filter("start")["first"]
    in_tx_order = firsts.gather(marked["group"])
    return in_tx_order.gather(by_tx.arg_sort())


def reachable(
    skeleton: pl.DataFrame,
    starts: dict[str, int],
    stops: Collection[str],
) -> dict[str, int]:
    """Address -> the earliest ``ord`` at which traced value can reach it.

    ``skeleton`` is :func:`processing_order`'s. ``starts`` gives the seeds (and link
    targets) with the ord they start from. An edge is followed when it comes after its sender
    was reached; stops receive but never pass on. Bellman-Ford over time: every round joins
    the whole edge list once against the addresses whose earliest time improved, so the
    number of rounds is the longest chain of first arrivals, not the table's size.
    """
    if skeleton.is_empty() or not starts:
        return dict(starts)
    excluded = pl.Series(sorted(set(stops) - set(starts)), dtype=pl.String).cast(pl.Categorical)
    edges = skeleton.filter(~pl.col("src").is_in(excluded.implode())).select("ord", "src", "dst")
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


def engine_rows(transfers: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """The engine's columns of ``transfers``' rows ``rows`` (in that order), with ``asset``."""
    return transfers.select(ENGINE_COLUMNS)[rows].with_columns(asset=asset_key_expr())


def swap_candidates(
    rows: pl.DataFrame,
) -> dict[str, dict[str, tuple[frozenset[str], frozenset[str]]]]:
    """transaction → address → (input assets, output assets) for every live address (reached,
    not a stop: the rows' ``_from_live`` and ``_to_live`` flags) that, in one transaction,
    sent an asset it did not receive there and received an asset it did not send there."""
    if rows.is_empty():
        return {}
    # A swap needs two rows in one transaction; rows of a transaction are adjacent (sorted).
    tx = pl.col("transaction_hash")
    rows = rows.filter((tx == tx.shift(1)) | (tx == tx.shift(-1)))
    if rows.is_empty():
        return {}
    sides = pl.concat(
        [
            rows.filter(pl.col("_from_live")).select(
                "transaction_hash", "asset", address="from_address", sent=pl.lit(True)
            ),
            rows.filter(pl.col("_to_live")).select(
                "transaction_hash", "asset", address="to_address", sent=pl.lit(False)
            ),
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
