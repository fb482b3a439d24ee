"""The taint engine: follow traced value forward in time through the transfer table.

See :mod:`tracer.heuristics.taint` for the policies and what each one guarantees. This module
is the sequential part: after :mod:`~tracer.heuristics.taint.prepare` has ordered the rows and
cut the table down to the rows touching addresses traced value can reach, one Python loop
applies every row to the books of its sender and recipient, in order.

Per row: the sender's book (if the sender is reachable and not a stop) gives up ``amount`` and
says how much of it was traced (*carried*); the recipient's book takes the amount with that
traced part. Some rows also *convert* (create traced value in another asset or at a new
address), recorded as a :class:`~tracer.heuristics.taint.model.Conversion`:

* **Seeds.** Every inflow of a seed at or after ``start_block`` is traced in full (the
  investigator named the wallet; the testbed's victim pays the thief's seed). Value a seed held
  before (opening balances, earlier rows, history the table lacks) is clean.
* **Swaps.** A non-stop address S that in one transaction sends assets it does not receive
  there (inputs X) and receives assets it does not send there (outputs Y), and holds traced
  value of an input when the transaction starts, swapped: each output row into S arrives with
  ``floor(amount * traced_X / sent_X)`` traced, where ``sent_X``/``traced_X`` are S's outflows
  of X in that transaction and what they carried (the largest share when S sent several input
  assets). S's output rows are applied after the transaction's other rows, so the order of
  internal calls against logs inside the transaction does not matter. The value S sent goes to
  the pool or router, usually a DEX-labelled stop where it is *reached*; an unlabelled pool is
  followed like any address (label pools to avoid that).
* **Wrap / unwrap.** WETH9 emits Deposit/Withdrawal, not Transfer, so the table shows only the
  native leg: native coin sent to the wrapped-native contract with no WETH row back to the
  sender is a wrap (the sender's WETH is credited with what the coin carried); native coin paid
  by that contract with no WETH row from the recipient is an unwrap (the recipient's WETH is
  debited by its policy and the coin arrives with that traced part). When a source does emit
  mint/burn rows, the generic swap rule covers them instead.
* **Links** (:class:`~tracer.heuristics.taint.model.Link`) are applied at the end of the
  withdrawal transaction (rows present) or at the end of the link's block (synthetic).

Converted inflows queue their traced part ahead of the clean part under FIFO.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from tracer.chains import chain_by_id
from tracer.errors import InputError
from tracer.heuristics.taint.ledgers import FifoLedger, HaircutLedger, Key, Ledger, PoisonLedger
from tracer.heuristics.taint.model import (
    TRACED_TRANSFER_SCHEMA,
    Asset,
    Conversion,
    ConversionKind,
    Link,
    Policy,
    TaintBalance,
    TaintResult,
)
from tracer.heuristics.taint.prepare import (
    ASSET_SEPARATOR,
    asset_key_expr,
    engine_rows,
    moves_value,
    processing_order,
    reachable,
    swap_candidates,
)
from tracer.labels.model import Category
from tracer.labels.store import LabelStore
from tracer.transfers.schema import TransferKind

_VALUE_KINDS = (TransferKind.NATIVE.value, TransferKind.INTERNAL.value)
CHUNK_ROWS = 100_000  # rows held as Python lists at a time (see _Run.loop)


def asset_key(asset: Asset) -> str:
    if asset.token_id is None:
        return asset.token_address
    return f"{asset.token_address}{ASSET_SEPARATOR}{asset.token_id}"


def asset_of(key: str) -> Asset:
    token, _, token_id = key.partition(ASSET_SEPARATOR)
    return Asset(token, token_id or None)


def stop_addresses(labels: LabelStore | None, chain_id: int | None) -> set[str]:
    """Labelled services (exchange, OTC, bridge, DEX, mixer) on this chain."""
    if labels is None:
        return set()
    addresses = {label.address for label in labels.all_labels()}
    return {address for address in addresses if labels.is_service(address, chain_id)}


def wrapped_native_addresses(labels: LabelStore | None, chain_id: int | None) -> set[str]:
    """The chain's wrapped-native token (chain registry) and addresses labelled as one."""
    found: set[str] = set()
    chain = chain_by_id(chain_id) if chain_id is not None else None
    if chain is not None and chain.wrapped_native is not None:
        found.add(chain.wrapped_native)
    if labels is not None:
        found.update(
            label.address
            for label in labels.all_labels()
            if label.category is Category.WRAPPED_NATIVE and label.chain_id in (None, chain_id)
        )
    return found


def trace_taint(
    transfers: pl.DataFrame,
    seeds: Iterable[str],
    policy: Policy | str = Policy.HAIRCUT,
    labels: LabelStore | None = None,
    *,
    start_block: int | None = None,
    opening_balances: Mapping[tuple[str, Asset], int] | None = None,
    swap_detection: bool = True,
    links: Sequence[Link] = (),
    wrapped_native: Collection[str] | None = None,
    extra_stops: Collection[str] = (),
) -> TaintResult:
    """Trace value from ``seeds`` through ``transfers`` (one chain) under ``policy``.

    ``labels`` decide where the trace stops (services; seeds are never stops).
    ``opening_balances`` gives (address, asset) → raw balance before the table's first row
    (clean); without it every address starts at zero, which for haircut overstates the traced
    share of an address that held clean value the table does not show. ``wrapped_native``
    overrides the wrapped-native contracts (default: chain registry and labels).
    """
    chosen = Policy.parse(policy)
    seed_set = frozenset(seeds)
    chains = transfers["chain_id"].unique().drop_nulls().to_list()
    if len(chains) > 1:
        raise InputError(
            f"the transfer table holds {len(chains)} chains ({sorted(chains)}); "
            "trace taint one chain at a time"
        )
    chain_id = chains[0] if chains else None
    wrappers = (
        set(wrapped_native)
        if wrapped_native is not None
        else wrapped_native_addresses(labels, chain_id)
    )
    stops = frozenset((stop_addresses(labels, chain_id) | wrappers | set(extra_stops)) - seed_set)

    skeleton = processing_order(transfers)
    blocks = skeleton["block_number"]
    start_ord = (
        0 if start_block is None else int((blocks < start_block).sum())
    )  # rows are sorted by block, so this is the first row at or after start_block
    starts = dict.fromkeys(seed_set, start_ord)
    for link in links:
        at = int((blocks < link.block).sum())
        starts[link.to_address] = min(starts.get(link.to_address, at), at)
    reach = reachable(skeleton, starts, stops)
    relevant = _flagged(skeleton, reach, stops, seed_set, start_ord)
    del skeleton, blocks
    chunks = _Chunks(transfers, wrappers, stops, swap_detection)

    ledger: Ledger
    opening = {(a, asset_key(asset)): raw for (a, asset), raw in (opening_balances or {}).items()}
    if chosen is Policy.HAIRCUT:
        ledger = HaircutLedger(opening)
    elif chosen is Policy.FIFO:
        ledger = FifoLedger(opening)
    else:
        ledger = PoisonLedger(opening)

    run = _Run(chunks, relevant, ledger, seed_set, links)
    run.loop()

    balances: dict[tuple[str, Asset], TaintBalance] = {}
    for key, received in run.received.items():
        address, asset = key
        held = received if address in stops else ledger.traced(key)
        balances[(address, asset_of(asset))] = TaintBalance(received, run.sent.get(key, 0), held)
    traced_rows = (
        transfers[pl.Series(run.out_index, dtype=pl.UInt32)]
        .with_columns(
            transfer_kind=pl.col("transfer_kind").cast(pl.String),
            traced_raw=pl.Series(run.out_traced, dtype=pl.String),
            converted_raw=pl.Series(run.out_converted, dtype=pl.String),
        )
        .select(TRACED_TRANSFER_SCHEMA.names())
        .cast(dict(TRACED_TRANSFER_SCHEMA.items()))
    )
    return TaintResult(
        policy=chosen,
        seeds=seed_set,
        balances=balances,
        transfers=traced_rows,
        conversions=run.conversions,
        stops=stops,
        rows_processed=relevant.height,
    )


def _flagged(
    skeleton: pl.DataFrame,
    reach: Collection[str],
    stops: Collection[str],
    seeds: Collection[str],
    start_ord: int,
) -> pl.DataFrame:
    """The rows the loop visits (those touching an address traced value can reach), with
    what it needs to know of each beyond its columns, compared as categorical codes:
    ``_from_live`` (the sender's book gives up value: reached, not a stop), ``_to_live``,
    ``_to_stop``, ``_to_tracked`` (reached) and ``_seed_in``."""

    def among(addresses: Iterable[str]) -> pl.Series:
        return pl.Series(sorted(addresses), dtype=pl.String).cast(pl.Categorical).implode()

    reached, live = among(reach), among(set(reach) - set(stops))
    return (
        skeleton.select(
            "ord",
            "row",
            "block_number",
            _from_reached=pl.col("src").is_in(reached),
            _from_live=pl.col("src").is_in(live),
            _to_live=pl.col("dst").is_in(live),
            _to_stop=pl.col("dst").is_in(among(stops)),
            _to_tracked=pl.col("dst").is_in(reached),
            _seed_in=pl.col("dst").is_in(among(seeds)) & (pl.col("ord") >= start_ord),
        )
        .filter(pl.col("_from_reached") | pl.col("_to_tracked"))
        .drop("_from_reached")
    )


@dataclass(frozen=True, slots=True)
class _Chunks:
    """Reads the engine's rows a chunk at a time (a transaction never straddles a chunk, so
    its swaps and wraps are found within one)."""

    transfers: pl.DataFrame
    wrappers: Collection[str]
    stops: frozenset[str]
    swap_detection: bool

    def load(
        self, rows: pl.DataFrame
    ) -> tuple[pl.DataFrame, dict[str, dict[str, tuple[frozenset[str], frozenset[str]]]]]:
        """The engine's columns of ``rows`` (a slice of the flagged skeleton) with its flags,
        and the chunk's swap candidates."""
        frame = engine_rows(self.transfers, rows["row"]).hstack(
            rows.select(pl.selectors.starts_with("_"))
        )
        frame = _mark_wraps(frame, self.wrappers, self.stops, enabled=self.swap_detection)
        swaps = swap_candidates(frame) if self.swap_detection else {}
        return frame, swaps


def _mark_wraps(
    rows: pl.DataFrame, wrappers: Collection[str], stops: Collection[str], *, enabled: bool
) -> pl.DataFrame:
    """``_wrap``/``_unwrap``: native legs of WETH deposits and withdrawals without a WETH row."""
    if not enabled or not wrappers or rows.is_empty():
        return rows.with_columns(_wrap=pl.lit(False), _unwrap=pl.lit(False))
    wrap_series = sorted(wrappers)
    other_stops = sorted(set(stops) - set(wrappers))
    weth_rows = rows.filter(pl.col("token_address").is_in(wrap_series)).select(
        "transaction_hash", "token_address", "from_address", "to_address"
    )
    minted = weth_rows.select(
        "transaction_hash", _w="token_address", _a="to_address", _minted=pl.lit(True)
    ).unique()
    burnt = weth_rows.select(
        "transaction_hash", _w="token_address", _a="from_address", _burnt=pl.lit(True)
    ).unique()
    value_leg = pl.col("transfer_kind").cast(pl.String).is_in(_VALUE_KINDS)
    return (
        rows.join(
            minted,
            left_on=["transaction_hash", "to_address", "from_address"],
            right_on=["transaction_hash", "_w", "_a"],
            how="left",
            maintain_order="left",
        )
        .join(
            burnt,
            left_on=["transaction_hash", "from_address", "to_address"],
            right_on=["transaction_hash", "_w", "_a"],
            how="left",
            maintain_order="left",
        )
        .with_columns(
            _wrap=value_leg
            & pl.col("to_address").is_in(wrap_series)
            & ~pl.col("from_address").is_in(other_stops)
            & pl.col("_from_live")
            & pl.col("_minted").is_null(),
            _unwrap=value_leg
            & pl.col("from_address").is_in(wrap_series)
            & ~pl.col("to_address").is_in(other_stops)
            & pl.col("_to_tracked")
            & pl.col("_burnt").is_null(),
        )
        .drop("_minted", "_burnt")
    )


@dataclass(slots=True)
class _SwapState:
    inputs: frozenset[str]
    outputs: frozenset[str]


class _Run:
    """The sequential pass; state lives here so the loop body stays flat."""

    def __init__(
        self,
        chunks: _Chunks,
        relevant: pl.DataFrame,
        ledger: Ledger,
        seeds: frozenset[str],
        links: Sequence[Link],
    ) -> None:
        self.ledger = ledger
        self.stops = chunks.stops
        self.seeds = seeds
        self.chunks = chunks
        self.relevant = relevant  # the flagged skeleton of the rows to visit, in order
        self.swaps: dict[str, dict[str, tuple[frozenset[str], frozenset[str]]]] = {}
        self._load(relevant.clear())
        self.received: dict[Key, int] = defaultdict(int)
        self.sent: dict[Key, int] = defaultdict(int)
        self.out_index: list[int] = []  # rows of ``transfers`` that carried traced value
        self.out_traced: list[str] = []
        self.out_converted: list[str] = []
        self.conversions: list[Conversion] = []
        # Links: what their source transactions moved into stops, (from, asset) -> [in, traced].
        self.link_sources = {link.from_tx for link in links}
        self.link_in: dict[str, dict[Key, list[int]]] = defaultdict(lambda: defaultdict(_pair))
        present = self._link_rows_present(chunks.transfers, links)
        self.row_links: dict[str, dict[Key, Link]] = defaultdict(dict)
        synthetic: list[Link] = []
        for link in links:
            key = (link.to_address, asset_key(link.asset))
            if link.to_tx is not None and (link.to_tx, *key) in present:
                self.row_links[link.to_tx][key] = link
            else:
                synthetic.append(link)
        self.pending = sorted(synthetic, key=lambda link: link.block)
        # Per transaction: active swappers, their inputs so far, rows held back to the end.
        self.active: dict[str, _SwapState] = {}
        self.swap_in: dict[Key, list[int]] = defaultdict(_pair)
        self.deferred: list[tuple[int, Link | None]] = []

    @staticmethod
    def _link_rows_present(
        transfers: pl.DataFrame, links: Sequence[Link]
    ) -> set[tuple[str, str, str]]:
        to_txs = [link.to_tx for link in links if link.to_tx is not None]
        if not to_txs:
            return set()
        hits = transfers.filter(moves_value() & pl.col("transaction_hash").is_in(to_txs))
        return set(hits.select("transaction_hash", "to_address", asset_key_expr()).iter_rows())

    def _load(self, rows: pl.DataFrame) -> None:
        """One chunk of the relevant rows: their columns and flags as Python lists (what the
        loop indexes), and the chunk's swap candidates."""
        chunk, self.swaps = self.chunks.load(rows)
        self.rows: list[int] = rows["row"].to_list()
        self.blocks: list[int] = chunk["block_number"].to_list()
        self.txs: list[str] = chunk["transaction_hash"].to_list()
        self.froms: list[str] = chunk["from_address"].to_list()
        self.tos: list[str] = chunk["to_address"].to_list()
        self.assets: list[str] = chunk["asset"].to_list()
        self.values: list[str] = chunk["value_raw"].to_list()
        self.from_live: list[bool] = chunk["_from_live"].to_list()
        self.to_stop: list[bool] = chunk["_to_stop"].to_list()
        self.to_tracked: list[bool] = chunk["_to_tracked"].to_list()
        self.seed_in: list[bool] = chunk["_seed_in"].to_list()
        self.wrap: list[bool] = chunk["_wrap"].to_list()
        self.unwrap: list[bool] = chunk["_unwrap"].to_list()

    def loop(self) -> None:
        """Chunks of about CHUNK_ROWS rows, cut at block ends: Python lists of the whole
        table would cost ~0.5 KiB per row, and no transaction (nor a synthetic link, applied
        at a block's end) straddles a cut."""
        blocks = self.relevant["block_number"]
        total = self.relevant.height
        start = 0
        while start < total:
            end = min(start + CHUNK_ROWS, total)
            if end < total:
                end = int(blocks.search_sorted(blocks[end - 1], side="right"))
            self._load(self.relevant.slice(start, end - start))
            self._loop_chunk()
            start = end
        self._load(self.relevant.clear())
        while self.pending:
            self._apply_synthetic(self.pending.pop(0))

    def _loop_chunk(self) -> None:
        txs, blocks = self.txs, self.blocks
        current = None
        special = False  # the current transaction has swap candidates or link rows
        for i in range(len(txs)):
            tx = txs[i]
            if tx != current:
                self._flush()
                while self.pending and self.pending[0].block < blocks[i]:
                    self._apply_synthetic(self.pending.pop(0))
                current = tx
                special = tx in self.swaps or tx in self.row_links
                if special:
                    self._begin(tx)
            if special or self.wrap[i] or self.unwrap[i]:
                self._special(i)
            else:
                self.process(i)
        self._flush()

    def process(self, i: int, num: int = 0, den: int = 0) -> tuple[int, int]:
        """Apply row ``i``; ``num/den`` is a conversion share. Returns (carried, converted)."""
        amount = int(self.values[i])
        asset = self.assets[i]
        carried = 0
        lots = None
        if self.from_live[i]:
            sender = (self.froms[i], asset)
            carried, lots = self.ledger.debit(sender, amount)
            if carried:
                self.sent[sender] += carried
        converted = 0
        if self.seed_in[i]:
            converted = amount - carried
        elif den:
            converted = min(amount * num // den, amount - carried)
        traced = carried + converted
        if converted:
            lots = None
        recipient = (self.tos[i], asset)
        if self.to_stop[i]:
            if traced:
                self.received[recipient] += traced
            if self.txs[i] in self.link_sources:
                entry = self.link_in[self.txs[i]][(self.froms[i], asset)]
                entry[0] += amount
                entry[1] += carried
        elif self.to_tracked[i] or traced:
            self.ledger.credit(recipient, amount, traced, lots)
            if traced:
                self.received[recipient] += traced
        if traced:
            self.out_index.append(self.rows[i])
            self.out_traced.append(str(traced))
            self.out_converted.append(str(converted))
        return carried, converted

    def _begin(self, tx: str) -> None:
        for address, (inputs, outputs) in self.swaps.get(tx, {}).items():
            if address in self.seeds:
                continue  # a seed's inflows are traced in full anyway
            if any(self.ledger.traced((address, asset)) for asset in inputs):
                self.active[address] = _SwapState(inputs, outputs)

    def _special(self, i: int) -> None:
        to, asset = self.tos[i], self.assets[i]
        state = self.active.get(to)
        if state is not None and asset in state.outputs:
            self.deferred.append((i, None))
            return
        link = self.row_links.get(self.txs[i], {}).get((to, asset))
        if link is not None:
            self.deferred.append((i, link))
            return
        if self.unwrap[i]:
            weth = (to, self.froms[i])
            amount = int(self.values[i])
            burnt, _ = self.ledger.debit(weth, amount)
            if burnt:
                self.sent[weth] += burnt
            _, converted = self.process(i, burnt, amount)
            self._convert(ConversionKind.UNWRAP, i, weth[1], amount, burnt, asset, converted)
            return
        carried, _ = self.process(i)
        sender = self.froms[i]
        swap = self.active.get(sender)
        if swap is not None and asset in swap.inputs:
            entry = self.swap_in[(sender, asset)]
            entry[0] += int(self.values[i])
            entry[1] += carried
        if self.wrap[i]:
            weth = (sender, to)
            amount = int(self.values[i])
            self.ledger.credit(weth, amount, carried, None)
            if carried:
                self.received[weth] += carried
            self._convert(ConversionKind.WRAP, i, asset, amount, carried, to, carried, sender)

    def _flush(self) -> None:
        deferred, self.deferred = self.deferred, []
        swapped: dict[Key, list[int]] = defaultdict(_pair)
        rates: dict[str, tuple[str, int, int]] = {}
        for i, link in deferred:
            to, asset = self.tos[i], self.assets[i]
            if link is not None:
                source, num, den = self._link_share(link)
                _, converted = self.process(i, num, den)
                self._convert(ConversionKind.LINK, i, source, den, num, asset, converted, to, link)
                continue
            if to not in rates:
                rates[to] = self._swap_rate(to)
            _, num, den = rates[to]
            _, converted = self.process(i, num, den)
            entry = swapped[(to, asset)]
            entry[0] += int(self.values[i])
            entry[1] += converted
        if swapped:
            tx = self.txs[deferred[0][0]]
            for (address, asset), (amount, converted) in swapped.items():
                source, num, den = rates[address]
                self.conversions.append(
                    Conversion(
                        ConversionKind.SWAP, tx, address, asset_of(source), den, num,
                        asset_of(asset), amount, converted,
                    )
                )  # fmt: skip
        self.active.clear()
        self.swap_in.clear()

    def _swap_rate(self, address: str) -> tuple[str, int, int]:
        """The input asset with the largest traced share: (asset, traced, sent)."""
        best = ("", 0, 0)
        for asset in sorted(self.active[address].inputs):
            amount, traced = self.swap_in.get((address, asset), (0, 0))
            if amount and (not best[2] or traced * best[2] > best[1] * amount):
                best = (asset, traced, amount)
        return best

    def _link_share(self, link: Link) -> tuple[str, int, int]:
        best = ("", 0, 0)
        moved = self.link_in.get(link.from_tx, {})
        for (sender, asset), (amount, traced) in sorted(moved.items()):
            if link.from_address is not None and sender != link.from_address:
                continue
            if amount and (not best[2] or traced * best[2] > best[1] * amount):
                best = (asset, traced, amount)
        return best

    def _apply_synthetic(self, link: Link) -> None:
        source, num, den = self._link_share(link)
        key = (link.to_address, asset_key(link.asset))
        traced = link.amount_raw * num // den if den else 0
        traced = min(traced, link.amount_raw)
        if link.to_address in self.stops:
            if traced:
                self.received[key] += traced
        else:
            self.ledger.credit(key, link.amount_raw, traced, None)
            if traced:
                self.received[key] += traced
        if traced:
            self.conversions.append(
                Conversion(
                    ConversionKind.LINK, link.to_tx or "", link.to_address, asset_of(source),
                    den, num, link.asset, link.amount_raw, traced, link.confidence,
                )
            )  # fmt: skip

    def _convert(  # noqa: PLR0917 (one record, field by field)
        self,
        kind: ConversionKind,
        i: int,
        asset_in: str,
        rate_in: int,
        traced_in: int,
        asset_out: str,
        traced_out: int,
        address: str | None = None,
        link: Link | None = None,
    ) -> None:
        if not traced_out:
            return
        self.conversions.append(
            Conversion(
                kind, self.txs[i], address or self.tos[i], asset_of(asset_in), rate_in,
                traced_in, asset_of(asset_out), int(self.values[i]), traced_out,
                link.confidence if link is not None else 1.0,
            )
        )  # fmt: skip


def _pair() -> list[int]:
    return [0, 0]
