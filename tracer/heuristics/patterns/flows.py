"""Flow patterns as findings: peel chains, fan-out splits, fan-in consolidation, pass-through.

Each detector is a pure function of the transfer table that returns
:class:`~tracer.findings.Finding` objects. Shared rules:

* only successful, non-zero, fungible transfers count, and each asset is examined on its own
  (amounts of different tokens are never added up);
* ``exclude`` names addresses known to be services although unlabelled (detected exchange
  deposit addresses consolidate customers' deposits by design);
* ``subjects_from`` (optional) limits the addresses a pattern is *about* (the hop, the
  splitter, the collector) to, say, the traced addresses; labelled services (exchanges, DEXs,
  mixers, bridges, OTC desks) are never subjects: their hubs look like every pattern;
* native amounts may fall short by gas: a hop "forwards everything" when it sends at least
  ``min_forward_fraction`` of what it received;
* amounts in ``details`` are exact raw integers as decimal strings, with the token address.

Confidence rules are stated in each spec's ``confidence`` text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Final

import polars as pl

from tracer.findings import Finding
from tracer.heuristics.base import HeuristicSpec, Parameter, ParameterValue, Reference
from tracer.heuristics.exchanges.deposit_address import is_fungible_move, touches
from tracer.labels.store import LabelStore
from tracer.types import NATIVE_TOKEN

PEEL_CHAIN: Final = "peel-chain"
FAN_OUT: Final = "fan-out-split"
FAN_IN: Final = "fan-in-consolidation"
PASS_THROUGH: Final = "rapid-pass-through"  # noqa: S105 (a heuristic id)

MEIKLEJOHN_2013 = Reference(
    "Meiklejohn, S. et al. (2013). A Fistful of Bitcoins: Characterizing Payments Among Men "
    "with No Names. ACM IMC 2013 (peeling chains)",
    "https://doi.org/10.1145/2504730.2504747",
)
KAPPOS_2022 = Reference(
    "Kappos, G. et al. (2022). How to Peel a Million: Validating and Expanding Bitcoin "
    "Clusters. 31st USENIX Security Symposium, 2022",
    "https://www.usenix.org/conference/usenixsecurity22/presentation/kappos",
)
FATF_RED_FLAGS = Reference(
    "FATF (September 2020). Virtual Assets Red Flag Indicators of Money Laundering and "
    "Terrorist Financing (structuring, many addresses, funds moved on immediately)",
    "https://www.fatf-gafi.org/content/dam/fatf-gafi/reports/Virtual-Assets-Red-Flag-Indicators.pdf",
)
WEBER_2019 = Reference(
    "Weber, M. et al. (2019). Anti-Money Laundering in Bitcoin: Experimenting with Graph "
    "Convolutional Networks for Financial Forensics. KDD '19 Workshop on Anomaly Detection "
    "in Finance (Elliptic data set)",
    "https://arxiv.org/abs/1908.02591",
)
WANG_2023 = Reference(
    "Wang, Z. et al. (2023). On How Zero-Knowledge Proof Blockchain Mixers Improve, and "
    "Worsen User Privacy. Proceedings of the ACM Web Conference 2023 (WWW '23), pp. "
    "2022-2032 (linking mixer users through the addresses their withdrawals deal with)",
    "https://doi.org/10.1145/3543507.3583217",
)

_WINDOW = Parameter(
    "window_hours", int, 24, "How soon after receiving the address must act.", 1, 24 * 30
)
_FORWARD = Parameter(
    "min_forward_fraction", float, 0.98,
    "Share of what was received that counts as forwarding everything (gas aside).", 0.5, 1.0,
)  # fmt: skip

HEURISTICS: Final[tuple[HeuristicSpec, ...]] = (
    HeuristicSpec(
        id=PEEL_CHAIN,
        title="Peel chain",
        description=(
            "A sequence of hops, each sending a small part of what it received to a side "
            "address and the bulk to the next hop, which does the same: the classic way to "
            "pay out stolen funds in pieces while keeping one main trail."
        ),
        references=(MEIKLEJOHN_2013, KAPPOS_2022),
        parameters=(
            Parameter("min_hops", int, 3, "Fewest peeling hops that make a chain.", 2, 1000),
            Parameter(
                "max_peel_fraction",
                float,
                0.25,
                "Largest share of a hop's outflow the side payments may take.",
                0.01,
                0.5,
            ),
            _FORWARD,
            _WINDOW,
        ),
        confidence=(
            "0.6 at min_hops, +0.1 per further hop, at most 0.9: each extra hop repeating the "
            "same shape makes chance less likely."
        ),
    ),
    HeuristicSpec(
        id=FAN_OUT,
        title="Fan-out split",
        description=(
            "An address that, shortly after receiving, splits the funds among several fresh "
            "addresses (never seen before in the table): the usual first step before mixers "
            "or many deposit addresses."
        ),
        references=(FATF_RED_FLAGS, WEBER_2019),
        parameters=(
            Parameter("min_recipients", int, 3, "Fewest fresh recipients.", 2, 10_000),
            _FORWARD,
            _WINDOW,
        ),
        confidence=(
            "0.6 at min_recipients, +0.05 per further fresh recipient, at most 0.85; +0.05 "
            "when the address forwarded everything it received."
        ),
    ),
    HeuristicSpec(
        id=FAN_IN,
        title="Fan-in consolidation (collector)",
        description=(
            "An address receiving from several source addresses (the traced ones, when given) "
            "within a window and then sending the total on: a collector consolidating, for "
            "example, mixer withdrawal addresses before paying an OTC desk."
        ),
        references=(WANG_2023, FATF_RED_FLAGS),
        parameters=(
            Parameter("min_sources", int, 3, "Fewest distinct source addresses.", 2, 10_000),
            _FORWARD,
            Parameter(
                "window_hours",
                int,
                72,
                "Longest span from first inflow to the send-on.",
                1,
                24 * 90,
            ),
        ),
        confidence=(
            "0.6 at min_sources, +0.05 per further source, at most 0.85; +0.05 when every "
            "source is a traced address."
        ),
    ),
    HeuristicSpec(
        id=PASS_THROUGH,
        title="Rapid pass-through hop",
        description=(
            "An address that forwards (nearly) everything it received within a short time "
            "and keeps nothing: an intermediary wallet that only adds a hop."
        ),
        references=(FATF_RED_FLAGS, WEBER_2019),
        parameters=(
            _FORWARD,
            Parameter("window_hours", int, 6, "Longest hold from inflow to outflow.", 1, 24 * 7),
        ),
        confidence=(
            "0.8 when held under a quarter of the window, else 0.65; +0.1 when one inflow "
            "went on in one outflow (a pure relay)."
        ),
    ),
)
_SPECS: Final = {spec.id: spec for spec in HEURISTICS}


@dataclass(frozen=True, slots=True)
class _Flow:
    time: datetime
    block: int
    tx: str
    src: str
    dst: str
    value: int


# Float sums of raw amounts only pre-select candidates (the decision is made on exact
# integers afterwards); this slack keeps rounding from dropping a true candidate.
_SLACK: Final = 1e-6


class _Moves:
    """Per (address, token): inflows and outflows in chronological order.

    ``focus`` (optional) limits the books to those addresses: only the rows touching them are
    read. ``keep`` (optional) is a polars condition on each (address, token) pair's summary
    (:func:`_pair_summary`: counts, first/last times, float sums) that a pair must meet to get
    books at all; detectors pass a necessary condition of their exact test, so a table of
    millions of rows costs a few group-bys plus Python work for the real candidates only.
    Books of the pairs kept are exact: every row of theirs is read, in table order.
    """

    def __init__(
        self,
        transfers: pl.DataFrame,
        focus: Iterable[str] | None = None,
        keep: pl.Expr | None = None,
        traced: Iterable[str] = (),
        *,
        fresh: bool = False,
        labels: LabelStore | None = None,
        exclude: Iterable[str] = (),
        horizon_seconds: int | None = None,
    ) -> None:
        self.incoming: dict[tuple[str, str], list[_Flow]] = defaultdict(list)
        self.outgoing: dict[tuple[str, str], list[_Flow]] = defaultdict(list)
        self._sighting: dict[str, tuple[int, str, int]] = {}  # address -> (block, tx, chain)
        self._transfers = transfers
        self._complete = focus is None and keep is None
        moves = _fungible(transfers)
        if focus is not None:
            addresses = pl.Series(sorted(set(focus)), dtype=pl.String)
            moves = moves.filter(touches(addresses))
        pairs: set[tuple[str, str]] | None = None
        if keep is not None:
            sightings = None
            if fresh:  # first sightings of every recipient, to count the fresh ones
                paid = moves if focus is None else moves.filter(_sent_by(addresses))
                recipients = paid.select(pl.col("to_address").unique()).collect().to_series()
                sightings = self._remember(_first_sightings(transfers, recipients))
            summary = _pair_summary(
                moves, None if focus is None else addresses, set(traced), sightings
            )
            pairs = set(summary.filter(keep).select("address", "token").iter_rows())
            # Never subjects (see _subjects): dropped before any book is built.
            dropped = set(exclude)
            if labels is not None:
                chains = self.chains({address for address, _token in pairs} - dropped)
                dropped |= {a for a, chain in chains.items() if labels.is_service(a, chain)}
            pairs = {(address, token) for address, token in pairs if address not in dropped}
            wanted = pl.Series(sorted({address for address, _token in pairs}), dtype=pl.String)
            moves = moves.filter(touches(wanted))
            if horizon_seconds is not None:
                moves = _within_horizon(moves, summary, pairs, horizon_seconds)
        frame = moves.collect()
        columns: tuple[str, ...] = (
            "chain_id", "block_number", "block_time", "transaction_hash",
            "from_address", "to_address", "token_address", "value_raw",
        )  # fmt: skip
        horizons = "dst_until" in frame.columns
        if horizons:
            columns = (*columns, "src_until", "dst_until")
        ordered = frame.select(columns).sort(
            "block_number", "transaction_hash", maintain_order=True
        )
        for chain, block, time, tx, src, dst, token, raw, *until in ordered.iter_rows():
            flow = _Flow(time, block, tx, src, dst, int(raw))
            src_ok = not horizons or (until[0] is not None and time <= until[0])
            dst_ok = not horizons or (until[1] is not None and time <= until[1])
            if (pairs is None or (dst, token) in pairs) and dst_ok:
                self.incoming[(dst, token)].append(flow)
            if (pairs is None or (src, token) in pairs) and src_ok:
                self.outgoing[(src, token)].append(flow)
            if self._complete:
                self._sighting.setdefault(src, (block, tx, chain))
                self._sighting.setdefault(dst, (block, tx, chain))

    def first_seen(self, addresses: Iterable[str]) -> dict[str, tuple[int, str]]:
        """(block, tx) of each address's first transfer in the table."""
        found = self._sightings(addresses)
        return {address: (block, tx) for address, (block, tx, _chain) in found.items()}

    def chains(self, addresses: Iterable[str]) -> dict[str, int]:
        """The chain of each address's first transfer."""
        return {address: chain for address, (_b, _t, chain) in self._sightings(addresses).items()}

    def _sightings(self, addresses: Iterable[str]) -> dict[str, tuple[int, str, int]]:
        """First (block, tx, chain) of each address in the whole table; addresses not read
        when the books were built are looked up in one query."""
        wanted = set(addresses)
        missing = [] if self._complete else sorted(wanted - set(self._sighting))
        if missing:
            self._remember(_first_sightings(self._transfers, pl.Series(missing, dtype=pl.String)))
        return {address: self._sighting[address] for address in wanted}

    def _remember(self, sightings: pl.DataFrame) -> pl.DataFrame:
        for address, block, tx, chain in sightings.iter_rows():
            self._sighting[address] = (block, tx, chain)
        return sightings

    def active(self) -> list[tuple[str, str]]:
        """(address, token) pairs that both received and sent."""
        return sorted(set(self.incoming) & set(self.outgoing))


def _subjects(
    moves: _Moves,
    labels: LabelStore | None,
    subjects_from: Iterable[str] | None,
    exclude: Iterable[str] = (),
) -> list[tuple[str, str]]:
    wanted = None if subjects_from is None else set(subjects_from)
    excluded = set(exclude)
    pairs = [
        (address, token)
        for address, token in moves.active()
        if (wanted is None or address in wanted) and address not in excluded
    ]
    chain_of = moves.chains(address for address, _token in pairs) if labels is not None else {}
    return [
        (address, token)
        for address, token in pairs
        if labels is None or not labels.is_service(address, chain_of[address])
    ]


def _fungible(transfers: pl.DataFrame) -> pl.LazyFrame:
    """The moves the patterns read, lazily: only the columns they use, so no query below
    copies the table's other columns (at 10M rows each eager copy cost gigabytes)."""
    return (
        transfers.lazy()
        .filter(is_fungible_move())
        .select(
            "chain_id", "block_number", "block_time", "transaction_hash", "from_address",
            "to_address", pl.col("token_address").fill_null(NATIVE_TOKEN), "value_raw",
        )
    )  # fmt: skip


def _sent_by(addresses: pl.Series) -> pl.Expr:
    return pl.col("from_address").is_in(addresses.implode())


def _receivers_from(transfers: pl.DataFrame, senders: set[str]) -> set[str]:
    received = _fungible(transfers).filter(_sent_by(pl.Series(sorted(senders), dtype=pl.String)))
    return set(received.select(pl.col("to_address").unique()).collect().to_series().to_list())


def _first_sightings(transfers: pl.DataFrame, addresses: pl.Series) -> pl.DataFrame:
    """(address, block_number, transaction_hash, chain_id) of each address's first transfer
    (the table's order: block, then transaction hash)."""
    wanted = addresses.implode()
    touching = _fungible(transfers).filter(touches(addresses))
    sightings = pl.concat(
        [
            touching.filter(pl.col(side).is_in(wanted)).select(
                _code(side).alias("address"), "block_number", "transaction_hash", "chain_id"
            )
            for side in ("from_address", "to_address")
        ]
    )
    # The smallest (block, tx) per address, by two group-bys rather than a sort of every
    # sighting (much cheaper when the addresses are busy).
    first_block = sightings.group_by("address").agg(pl.col("block_number").min())
    return (
        sightings.join(first_block, on=["address", "block_number"])
        .group_by("address")
        .agg(
            pl.col("block_number").first(),
            pl.col("transaction_hash").min(),
            pl.col("chain_id").sort_by("transaction_hash").first(),
        )
        .select(pl.col("address").cast(pl.String), "block_number", "transaction_hash", "chain_id")
        .collect()
    )


def _within_horizon(
    frame: pl.LazyFrame,
    summary: pl.DataFrame,
    pairs: set[tuple[str, str]],
    seconds: int,
) -> pl.LazyFrame:
    """The rows a kept pair's books need when a detector looks no later than ``seconds``
    after the pair's first inflow, each with the horizon of its sender's and recipient's
    pair (null: that side's book is not kept)."""
    kept = pl.DataFrame(
        sorted(pairs), schema={"address": pl.String, "token": pl.String}, orient="row"
    )
    until = (
        summary.lazy()
        .join(kept.lazy(), on=["address", "token"], how="semi")
        .select(
            "address",
            "token",
            (pl.col("first_in_time") + pl.duration(seconds=seconds)).alias("until"),
        )
    )
    for side, name in (("from_address", "src_until"), ("to_address", "dst_until")):
        frame = frame.join(
            until.rename({"address": side, "token": "token_address", "until": name}),
            on=[side, "token_address"],
            how="left",
        )
    return frame.filter(
        (pl.col("block_time") <= pl.col("src_until"))
        | (pl.col("block_time") <= pl.col("dst_until"))
    )


def _pair_summary(
    moves: pl.LazyFrame,
    addresses: pl.Series | None,
    traced: set[str],
    sightings: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per (address, token): inflow and outflow counts, first inflow time and block,
    last outflow time, first outflow block, float sums received and sent, distinct
    recipients (and those fresh: paid in their first transfer, per ``sightings``), distinct
    senders and distinct senders among ``traced``.

    Each side is aggregated on its own and the two joined: concatenating both sides first
    would hold two rows per transfer.
    """
    amount = pl.col("value_raw").cast(pl.Float64)
    into, out = moves, moves
    if addresses is not None:
        wanted = addresses.implode()
        into = moves.filter(pl.col("to_address").is_in(wanted))
        out = moves.filter(pl.col("from_address").is_in(wanted))
    traced_series = pl.Series(sorted(traced), dtype=pl.String).implode()
    inflows = into.group_by(
        pl.col("to_address").alias("address"), pl.col("token_address").alias("token")
    ).agg(
        n_in=pl.len(),
        first_in_time=pl.col("block_time").min(),
        first_in_block=pl.col("block_number").min(),
        received=amount.sum(),
        senders=_code("from_address").n_unique(),
        traced_senders=_code("from_address")
        .filter(pl.col("from_address").is_in(traced_series))
        .n_unique(),
    )
    fresh = pl.lit(value=False)
    if sightings is not None:
        first = sightings.lazy().select(
            pl.col("address").alias("to_address"),
            "block_number",
            "transaction_hash",
            first=pl.lit(value=True),
        )
        out = out.join(first, on=["to_address", "block_number", "transaction_hash"], how="left")
        fresh = pl.col("first").fill_null(value=False)
    outflows = out.group_by(
        pl.col("from_address").alias("address"), pl.col("token_address").alias("token")
    ).agg(
        n_out=pl.len(),
        last_out_time=pl.col("block_time").max(),
        first_out_block=pl.col("block_number").min(),
        sent=amount.sum(),
        recipients=_code("to_address").n_unique(),
        fresh_recipients=_code("to_address").filter(fresh).n_unique(),
    )
    counts = ("n_in", "n_out", "received", "sent", "senders", "traced_senders", "recipients")
    return (
        inflows.join(outflows, on=["address", "token"], how="full", coalesce=True)
        .with_columns(pl.col(*counts, "fresh_recipients").fill_null(0))
        .collect()
    )


def _code(column: str) -> pl.Expr:
    """An address column as categorical codes, to count distinct values or group by: on text
    polars hashes and copies every row's text, on codes it compares integers (``n_unique``
    took about half the memory at 1M rows)."""
    return pl.col(column).cast(pl.Categorical)


def _active() -> pl.Expr:
    return (pl.col("n_in") > 0) & (pl.col("n_out") > 0)


def _held_within(seconds: int) -> pl.Expr:
    """First inflow to last outflow within ``seconds`` (one second of slack for rounding)."""
    held = (pl.col("last_out_time") - pl.col("first_in_time")).dt.total_seconds()
    return held <= seconds + 1


def _forwards(fraction: float) -> pl.Expr:
    """Sent between ``fraction`` of what was received and all of it (with float slack)."""
    received, sent = pl.col("received"), pl.col("sent")
    return (sent <= received * (1 + _SLACK)) & (sent >= received * fraction * (1 - _SLACK))


def _within(flows: Sequence[_Flow], start: datetime, seconds: int) -> list[_Flow]:
    return [f for f in flows if 0 <= (f.time - start).total_seconds() <= seconds]


def _hashes(*groups: Iterable[_Flow]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.tx for group in groups for f in group))


def _totals(flows: Iterable[_Flow], party: Callable[[_Flow], str]) -> dict[str, str]:
    """Exact raw totals per counterparty, as decimal strings in address order."""
    totals: dict[str, int] = defaultdict(int)
    for flow in flows:
        totals[party(flow)] += flow.value
    return {address: str(value) for address, value in sorted(totals.items())}


@dataclass(frozen=True, slots=True)
class _Run:
    """One detector call: the resolved parameters, the two limits every detector reads, and
    the frame every finding shares (rounded confidence; details open with the asset and
    close with the parameters used)."""

    heuristic: str
    params: Mapping[str, ParameterValue]
    window: int  # window_hours, in seconds
    fraction: float  # min_forward_fraction

    @classmethod
    def of(cls, heuristic: str, parameters: Mapping[str, object] | None) -> _Run:
        params = _SPECS[heuristic].resolve(parameters)
        window = int(params["window_hours"]) * 3600
        return cls(heuristic, params, window, float(params["min_forward_fraction"]))

    def finding(
        self,
        confidence: float,
        subjects: tuple[str, ...],
        evidence: tuple[str, ...],
        token: str,
        details: Mapping[str, Any],
    ) -> Finding:
        return Finding(
            heuristic=self.heuristic,
            confidence=round(confidence, 4),
            subjects=subjects,
            evidence=evidence,
            details={"token_address": token, **details, "parameters": dict(self.params)},
        )


def _books(
    transfers: pl.DataFrame,
    keep: pl.Expr,
    labels: LabelStore | None,
    subjects_from: Iterable[str] | None,
    exclude: Iterable[str],
    *,
    fresh: bool = False,
) -> tuple[_Moves, list[tuple[str, str]]]:
    """The books of the candidate pairs that may be subjects, and those subjects."""
    wanted = None if subjects_from is None else set(subjects_from)  # read twice
    moves = _Moves(transfers, wanted, keep, fresh=fresh, labels=labels, exclude=exclude)
    return moves, _subjects(moves, labels, wanted, exclude)


# --------------------------------------------------------------------------- pass-through


def rapid_pass_through(
    transfers: pl.DataFrame,
    *,
    labels: LabelStore | None = None,
    subjects_from: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    parameters: Mapping[str, object] | None = None,
) -> list[Finding]:
    """Addresses that sent on at least ``min_forward_fraction`` of everything they received
    of an asset, every outflow within ``window_hours`` of the first inflow, keeping nothing."""
    run = _Run.of(PASS_THROUGH, parameters)
    window, fraction = run.window, run.fraction
    keep = (
        _active()
        & (pl.col("first_out_block") >= pl.col("first_in_block"))
        & _held_within(window)
        & _forwards(fraction)
    )
    moves, subjects = _books(transfers, keep, labels, subjects_from, exclude)
    findings = []
    for address, token in subjects:
        inflows, outflows = moves.incoming[(address, token)], moves.outgoing[(address, token)]
        received, sent = sum(f.value for f in inflows), sum(f.value for f in outflows)
        first_in, last_out = inflows[0], outflows[-1]
        hold = int((last_out.time - first_in.time).total_seconds())
        if not (
            fraction * received <= sent <= received
            and outflows[0].block >= first_in.block
            and hold <= window
        ):
            continue
        relay = len(inflows) == 1 and len(outflows) == 1
        confidence = (0.8 if hold * 4 <= window else 0.65) + (0.1 if relay else 0.0)
        details = {
            "received_raw": str(received),
            "forwarded_raw": str(sent),
            "hold_seconds": hold,
            "from": sorted({f.src for f in inflows}),
            "to": sorted({f.dst for f in outflows}),
        }
        evidence = _hashes(inflows, outflows)
        findings.append(run.finding(confidence, (address,), evidence, token, details))
    return findings


# --------------------------------------------------------------------------- fan-out


def fan_out_splits(
    transfers: pl.DataFrame,
    *,
    labels: LabelStore | None = None,
    subjects_from: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    parameters: Mapping[str, object] | None = None,
) -> list[Finding]:
    """Addresses that, within ``window_hours`` of their first inflow of an asset, paid at
    least ``min_recipients`` fresh addresses (whose first transfer in the table is this one)."""
    run = _Run.of(FAN_OUT, parameters)
    needed = int(run.params["min_recipients"])
    keep = (pl.col("n_in") > 0) & (pl.col("fresh_recipients") >= needed)
    moves, subjects = _books(transfers, keep, labels, subjects_from, exclude, fresh=True)
    in_window = {
        (address, token): _within(
            moves.outgoing[(address, token)], moves.incoming[(address, token)][0].time, run.window
        )
        for address, token in subjects
    }
    first_seen = moves.first_seen(f.dst for flows in in_window.values() for f in flows)
    findings = []
    for (address, token), outflows in in_window.items():
        inflows = moves.incoming[(address, token)]
        fresh = [f for f in outflows if first_seen[f.dst] == (f.block, f.tx)]
        recipients = sorted({f.dst for f in fresh})
        if len(recipients) < needed:
            continue
        received = sum(f.value for f in inflows if f.time <= outflows[-1].time)
        sent = sum(f.value for f in outflows)
        emptied = sent >= run.fraction * received
        extra = min(len(recipients) - needed, 5)
        confidence = 0.6 + 0.05 * extra + (0.05 if emptied else 0.0)
        details = {
            "received_raw": str(received),
            "sent_raw": str(sent),
            "fresh_recipients": _totals(fresh, attrgetter("dst")),
            "emptied": emptied,
        }
        evidence = _hashes(inflows[:1], fresh)
        findings.append(run.finding(confidence, (address, *recipients), evidence, token, details))
    return findings


# --------------------------------------------------------------------------- fan-in


def fan_in_consolidations(
    transfers: pl.DataFrame,
    *,
    labels: LabelStore | None = None,
    sources_from: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    parameters: Mapping[str, object] | None = None,
) -> list[Finding]:
    """Collectors: addresses that received an asset from at least ``min_sources`` distinct
    senders (only those in ``sources_from``, when given) within ``window_hours`` and then
    sent on at least ``min_forward_fraction`` of what they had received."""
    run = _Run.of(FAN_IN, parameters)
    window, fraction = run.window, run.fraction
    needed = int(run.params["min_sources"])
    traced = None if sources_from is None else set(sources_from)
    # With traced sources, only an address that received from one can be a collector.
    senders = pl.col("senders" if traced is None else "traced_senders")
    moves = _Moves(
        transfers,
        None if traced is None else _receivers_from(transfers, traced),
        _active() & (senders >= needed),
        traced or (),
        labels=labels,
        exclude=exclude,
        # Only inflows before the last send-on within the window of the first count.
        horizon_seconds=window,
    )
    findings = []
    for address, token in _subjects(moves, labels, None, exclude):
        inflows = moves.incoming[(address, token)]
        outflows = _within(moves.outgoing[(address, token)], inflows[0].time, window)
        if not outflows:
            continue
        before = [f for f in inflows if f.time <= outflows[-1].time]
        counted = [f for f in before if traced is None or f.src in traced]
        sources = sorted({f.src for f in counted})
        received = sum(f.value for f in before)
        sent = sum(f.value for f in outflows)
        if len(sources) < needed or sent < fraction * received:
            continue
        all_traced = traced is not None and len(counted) == len(before)
        confidence = 0.6 + 0.05 * min(len(sources) - needed, 5) + (0.05 if all_traced else 0.0)
        details = {
            "sources": _totals(counted, attrgetter("src")),
            "received_raw": str(received),
            "sent_raw": str(sent),
            "to": sorted({f.dst for f in outflows}),
        }
        evidence = _hashes(counted, outflows)
        findings.append(run.finding(confidence, (address, *sources), evidence, token, details))
    return findings


# --------------------------------------------------------------------------- peel chains


@dataclass(frozen=True, slots=True)
class _Peel:
    address: str
    received: int
    onward: _Flow
    peels: tuple[_Flow, ...]


def peel_chains(
    transfers: pl.DataFrame,
    *,
    labels: LabelStore | None = None,
    subjects_from: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    parameters: Mapping[str, object] | None = None,
) -> list[Finding]:
    """Chains of at least ``min_hops`` peeling hops of one asset. A hop sends on at least
    ``min_forward_fraction`` of what it received within ``window_hours``: the largest
    payment is the onward one, the others (together at most ``max_peel_fraction`` of the
    outflow) are peels, and the next hop is the onward payment's recipient."""
    run = _Run.of(PEEL_CHAIN, parameters)
    window, fraction = run.window, run.fraction
    max_peel = float(run.params["max_peel_fraction"])
    min_hops = int(run.params["min_hops"])
    keep = (
        (pl.col("n_in") > 0) & (pl.col("n_out") >= 2) & _held_within(window) & _forwards(fraction)
    )
    moves, subjects = _books(transfers, keep, labels, subjects_from, exclude)
    hops: dict[tuple[str, str], _Peel] = {}
    for address, token in subjects:
        inflows = moves.incoming[(address, token)]
        outflows = moves.outgoing[(address, token)]
        received = sum(f.value for f in inflows)
        sent = sum(f.value for f in outflows)
        if len(outflows) < 2 or not fraction * received <= sent <= received:
            continue
        if (outflows[-1].time - inflows[0].time).total_seconds() > window:
            continue
        onward = max(outflows, key=lambda f: (f.value, f.block, f.tx))
        peels = tuple(f for f in outflows if f is not onward)
        if sum(f.value for f in peels) > max_peel * sent:
            continue
        hops[(address, token)] = _Peel(address, received, onward, peels)
    successors = {key: (hop.onward.dst, key[1]) for key, hop in hops.items()}
    heads = sorted(set(hops) - {s for s in successors.values() if s in hops})
    findings = []
    for head in heads:
        chain = [hops[head]]
        key = successors[head]
        while key in hops and len(chain) <= len(hops):  # the bound guards against cycles
            chain.append(hops[key])
            key = successors[key]
        if len(chain) < min_hops:
            continue
        confidence = min(0.9, 0.6 + 0.1 * (len(chain) - min_hops))
        findings.append(_peel_finding(run, chain, head[1], key[0], confidence))
    return findings


def _peel_finding(
    run: _Run, chain: Sequence[_Peel], token: str, end: str, confidence: float
) -> Finding:
    details_hops: list[dict[str, Any]] = [
        {
            "address": hop.address,
            "received_raw": str(hop.received),
            "onward_to": hop.onward.dst,
            "onward_raw": str(hop.onward.value),
            "onward_tx": hop.onward.tx,
            "peels": [{"to": f.dst, "amount_raw": str(f.value), "tx": f.tx} for f in hop.peels],
        }
        for hop in chain
    ]
    peel_total = sum(f.value for hop in chain for f in hop.peels)
    details = {"hops": details_hops, "peeled_raw": str(peel_total), "end": end}
    evidence = _hashes(
        *(sorted((*hop.peels, hop.onward), key=lambda f: (f.block, f.tx)) for hop in chain)
    )
    return run.finding(confidence, tuple(hop.address for hop in chain), evidence, token, details)
