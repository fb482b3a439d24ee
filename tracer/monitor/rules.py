"""Matching a window's transfers against the watch set: pure, no I/O.

Every seed is *tracked* at hop 0. Traced value moves forward: when a tracked address (hop h)
sends a non-zero amount to an address that is not a service (exchange, mixer, bridge, DEX,
OTC) nor sanctioned, that address becomes tracked for the same seed at hop h + 1, as long as
some ``reached`` or ``watch_discovered`` rule of the seed looks that far (h + 1 < within_hops).
The tracked set lives in the monitor's state, so each pass continues the trace from where the
last one stopped: the trace is incremental, over new blocks only.

Alerts, one per (transfer, seed, kind) whatever the number of rules that match:

* ``outflow`` / ``inflow``: a seed sent / received value (with ``watch_discovered``, the
  outflows of tracked addresses too);
* ``reached_<category>``: a tracked address at hop h sent value to an address labelled with a
  category the rule's ``reach`` names, and h + 1 <= within_hops. When the sender is not the
  seed itself it is the likely deposit address (or hop) in front of that service.

Exchange deposit addresses rarely carry labels, so each window is also searched for them by
behaviour (:mod:`tracer.heuristics.exchanges.deposit_address`, over the whole window's table)
among the recipients of traced value; those found are *learned* (kept beside the caller's
labels, and by the runner in its state) and count as ``exchange_deposit`` from then on.
The sweep that gives a deposit address away may come windows (passes) after the deposit, so
every unlabelled recipient of traced value that some rule would alert on as a deposit is kept
as a *candidate*: its transfers since (what the heuristic replays) and the traced deposits
into it, for as long as the heuristic allows a sweep to wait (``max_sweep_delay_hours``).
When a later window shows the sweep, the earlier deposits raise ``reached_exchange_deposit``.

Failed transfers and zero amounts (address-poisoning spam) never alert or propagate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tracer.heuristics.exchanges.deposit_address import HEURISTIC_ID as DEPOSIT_HEURISTIC
from tracer.heuristics.exchanges.deposit_address import HEURISTICS as DEPOSIT_HEURISTICS
from tracer.heuristics.exchanges.deposit_address import (
    detect_deposit_addresses,
    exchange_label,
    fungible_moves,
)
from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.monitor.alerts import Alert, Counterparty, alert_id, at_least, format_amount
from tracer.monitor.watchlist import REACH_KINDS, Rule, Seed, Trigger, Watchlist
from tracer.transfers.schema import UNIQUE_KEY, transfers_from_rows

# Alerts of one transfer are listed movement first, then what it reached.
_KIND_RANK = {"outflow": 0, "inflow": 1}


@dataclass(frozen=True)
class Tracking:
    """``address`` holds value traced from ``seed``, ``hop`` transfers away, since
    ``since_block`` (the block of the transfer that made it so; 0 for a seed)."""

    address: str
    seed: str
    hop: int
    since_block: int


@dataclass(frozen=True)
class CandidateRow:
    """A transfer of a candidate deposit address ``address``, kept until its sweep shows.
    ``row`` is a transfer-table row, JSON-ready (``block_time`` in Unix seconds). With
    ``seed`` set it is a traced deposit into the address, paid by a tracking of that seed at
    ``hop`` in the block ``block_hash``: it alerts once the address proves a deposit address."""

    address: str
    row: Mapping[str, Any]
    seed: str | None = None
    hop: int | None = None
    block_hash: str | None = None


@dataclass(frozen=True)
class Evaluation:
    alerts: tuple[Alert, ...]
    discovered: tuple[Tracking, ...]
    learned: tuple[Label, ...] = ()  # deposit addresses recognised by behaviour
    candidates: tuple[CandidateRow, ...] = ()  # to keep for later windows
    dropped: tuple[str, ...] = ()  # candidates to forget (their sweep can no longer come)


# How long a deposit may wait for its sweep: how long a candidate is kept.
MAX_SWEEP_DELAY_SECONDS = int(DEPOSIT_HEURISTICS[0].resolve(None)["max_sweep_delay_hours"]) * 3600


# The source of the labels the monitor learns from behaviour.
LEARNED_SOURCE = f"tracer monitor: heuristic {DEPOSIT_HEURISTIC}"


def learned_deposit_label(address: str, entity: str, confidence: float, chain_id: int) -> Label:
    return Label(
        address,
        f"{entity}: deposit address (by behaviour)",
        Category.EXCHANGE_DEPOSIT,
        LEARNED_SOURCE,
        chain_id=chain_id,
        confidence=confidence,
        entity=entity,
    )


def seed_trackings(watchlist: Watchlist) -> list[Tracking]:
    return [Tracking(seed.address, seed.address, 0, 0) for seed in watchlist.seeds]


def label_json(label: Label) -> dict[str, Any]:
    return {
        "name": label.name,
        "category": label.category.value,
        "entity": label.entity,
        "source": label.source,
    }


class Matcher:
    """Evaluates the watchlist's rules over transfer windows of one chain."""

    def __init__(
        self,
        watchlist: Watchlist,
        labels: LabelStore,
        chain_id: int,
        native_symbol: str,
        *,
        learned: Iterable[Label] = (),
    ) -> None:
        self.watchlist = watchlist
        self.labels = labels
        # Deposit addresses learned from behaviour, beside (not inside) the caller's store.
        self.learned: dict[str, Label] = {label.address: label for label in learned}
        self.chain_id = chain_id
        self.native_symbol = native_symbol
        self.seeds: dict[str, Seed] = {seed.address: seed for seed in watchlist.seeds}
        self._rules: dict[str, list[Rule]] = {
            seed.address: watchlist.rules_of(seed) for seed in watchlist.seeds
        }
        # How far to trace from each seed: past this hop nothing can alert any more.
        self.trace_depth: dict[str, int] = {
            seed: max(
                (
                    rule.within_hops
                    for rule in rules
                    if Trigger.REACHED in rule.triggers or rule.watch_discovered
                ),
                default=0,
            )
            for seed, rules in self._rules.items()
        }
        # The window being evaluated (set by evaluate; a Matcher is not re-entrant).
        self._hashes: Mapping[int, str] = {}
        self._alerts: dict[str, Alert] = {}

    def evaluate(
        self,
        transfers: pl.DataFrame,
        block_hashes: Mapping[int, str],
        tracked: Iterable[Tracking],
        candidates: Iterable[CandidateRow] = (),
        *,
        now: int | None = None,
    ) -> Evaluation:
        """Alerts raised by ``transfers`` (one window, any order) and the addresses that
        became tracked in it. ``tracked`` is every tracking known before the window,
        ``candidates`` every kept candidate row, ``now`` the window's last block time."""
        moving = transfers.filter(
            (pl.col("value_raw") != "0") & pl.col("tx_succeeded").fill_null(value=True)
        )
        self._hashes = block_hashes
        before = list(tracked)
        earlier: dict[str, list[CandidateRow]] = defaultdict(list)
        for candidate in candidates:
            earlier[candidate.address].append(candidate)
        alerts, discovered, by_address = self._match(moving, before)
        learned = self._learn_deposits(transfers, moving, by_address, earlier)
        if learned:  # match again: traced deposits into them alert in this very window
            alerts, discovered, by_address = self._match(moving, before)
            self._raise_earlier_deposits(earlier, learned)
        kept, dropped = self._candidates(transfers, moving, by_address, earlier, now)
        ordered = sorted(
            alerts.values(),
            key=lambda a: (
                a.block_number,
                a.transaction_hash,
                -1 if a.log_index is None else a.log_index,
                a.trace_address or "",
                a.seed,
                _KIND_RANK.get(a.kind, len(_KIND_RANK)),
                a.kind,
            ),
        )
        return Evaluation(
            tuple(ordered), tuple(discovered.values()), learned, tuple(kept), tuple(dropped)
        )

    def _match(
        self, moving: pl.DataFrame, tracked: Iterable[Tracking]
    ) -> tuple[dict[str, Alert], dict[tuple[str, str], Tracking], dict[str, dict[str, Tracking]]]:
        """Alerts, new trackings, and every tracking (before and new) of one window."""
        alerts: dict[str, Alert] = {}
        self._alerts = alerts
        by_address: dict[str, dict[str, Tracking]] = defaultdict(dict)
        for tracking in tracked:
            by_address[tracking.address][tracking.seed] = tracking
        discovered: dict[tuple[str, str], Tracking] = {}
        seeds = list(self.seeds)
        candidates = moving.filter(
            pl.col("from_address").is_in(list(by_address)) | pl.col("to_address").is_in(seeds)
        )
        while candidates.height:
            new: set[str] = set()
            for row in candidates.sort("block_number").iter_rows(named=True):
                for tracking in list(by_address.get(row["from_address"], {}).values()):
                    if tracking.since_block <= row["block_number"]:
                        found = self._outgoing(row, tracking)
                        if found is not None and self._adopt(found, by_address):
                            discovered[(found.address, found.seed)] = found
                            new.add(found.address)
                seed = self.seeds.get(row["to_address"])
                if seed is not None:
                    self._raise(row, seed, trigger=Trigger.INFLOW, kind="inflow", hops=0)
            # Value that moved on from an address that became tracked in this very window.
            candidates = moving.filter(pl.col("from_address").is_in(sorted(new))).filter(
                ~pl.col("to_address").is_in(seeds)
            )
        return alerts, discovered, by_address

    def _learn_deposits(
        self,
        transfers: pl.DataFrame,
        moving: pl.DataFrame,
        by_address: Mapping[str, Mapping[str, Tracking]],
        earlier: Mapping[str, list[CandidateRow]],
    ) -> tuple[Label, ...]:
        """Exchange deposit addresses among this window's recipients of traced value and the
        kept candidates, recognised by their sweeps to a labelled exchange (the window's table
        holds every transfer of its blocks and the kept rows every transfer of a candidate
        since its first traced deposit, as the heuristic requires). Each becomes an
        ``exchange_deposit`` label, so the traced deposits into it raise
        ``reached_exchange_deposit`` now, and later ones at once."""
        recipients = set(
            moving.filter(pl.col("from_address").is_in(list(by_address)))["to_address"].to_list()
        )
        unknown = {
            address for address in recipients - set(self.seeds) if not self.labels_of(address)
        }
        pending = {address for address in earlier if address not in self.learned}
        if not unknown and not pending:
            return ()
        table = transfers
        if pending:
            kept = _unique_rows(row.row for a in sorted(pending) for row in earlier[a])
            table = pl.concat([transfers_from_rows(kept), transfers], how="vertical_relaxed")
        found = detect_deposit_addresses(table, self.labels, candidates=sorted(unknown | pending))
        labels = tuple(
            learned_deposit_label(
                deposit.address, deposit.entity, deposit.confidence, self.chain_id
            )
            for deposit in found
        )
        self.learned.update((label.address, label) for label in labels)
        return labels

    def _raise_earlier_deposits(
        self, earlier: Mapping[str, list[CandidateRow]], learned: Iterable[Label]
    ) -> None:
        """``reached_exchange_deposit`` for the traced deposits of earlier windows into the
        deposit addresses just learned (at the deposit's own block)."""
        for label in learned:
            for kept in earlier.get(label.address, ()):
                if kept.seed is None or kept.hop is None or kept.seed not in self.seeds:
                    continue
                row = {**kept.row, "block_time": _datetime(kept.row.get("block_time"))}
                self._raise(
                    row,
                    self.seeds[kept.seed],
                    trigger=Trigger.REACHED,
                    kind=REACH_KINDS[Category.EXCHANGE_DEPOSIT],
                    hops=kept.hop + 1,
                    category=Category.EXCHANGE_DEPOSIT,
                    block_hash=kept.block_hash,
                )

    def _candidates(
        self,
        transfers: pl.DataFrame,
        moving: pl.DataFrame,
        by_address: Mapping[str, Mapping[str, Tracking]],
        earlier: Mapping[str, list[CandidateRow]],
        now: int | None,
    ) -> tuple[list[CandidateRow], list[str]]:
        """Rows to keep for candidate deposit addresses, and the candidates to forget:
        those whose first traced deposit waited longer than a sweep may, and those that paid
        anyone but an exchange (a deposit address pays only its exchange)."""
        traced: dict[str, list[CandidateRow]] = defaultdict(list)
        payers = moving.filter(
            pl.col("from_address").is_in(list(by_address))
            & ~pl.col("to_address").is_in(list(self.seeds))
        )
        for row in payers.iter_rows(named=True):
            recipient = row["to_address"]
            if recipient in self.learned or self.labels_of(recipient):
                continue
            block = int(row["block_number"])
            for tracking in by_address[row["from_address"]].values():
                if tracking.since_block <= block and self._alerts_as_deposit(tracking, row):
                    traced[recipient].append(
                        CandidateRow(
                            recipient,
                            _json_row(row),
                            tracking.seed,
                            tracking.hop,
                            self._hashes.get(block),
                        )
                    )
        watched = (set(earlier) | set(traced)) - set(self.learned)
        # Every transfer of the candidates in one scan of the window (not one per candidate).
        touching: dict[str, list[dict[str, Any]]] = defaultdict(list)
        rows = fungible_moves(transfers).filter(
            pl.col("from_address").is_in(sorted(watched))
            | pl.col("to_address").is_in(sorted(watched))
        )
        for row in rows.iter_rows(named=True):
            for address in {row["from_address"], row["to_address"]} & watched:
                touching[address].append(row)
        kept: list[CandidateRow] = []
        dropped: list[str] = []
        for address in sorted(set(earlier) | set(traced)):
            deposits = [r for r in (*earlier.get(address, ()), *traced[address]) if r.seed]
            times = [_seconds(r.row.get("block_time")) for r in deposits]
            since = min((t for t in times if t is not None), default=None)
            if since is None or (now is not None and now - since > MAX_SWEEP_DELAY_SECONDS):
                dropped.append(address)
                continue
            if address in self.learned:
                continue  # found: its rows stay until they expire, for a re-scan after a reorg
            own = touching[address]
            paid = [row["to_address"] for row in own if row["from_address"] == address]
            if any(exchange_label(self.labels, to, self.chain_id) is None for to in paid):
                dropped.append(address)
                continue
            kept += [CandidateRow(address, _json_row(row)) for row in own]
            kept += traced[address]
        return kept, [address for address in dropped if address in earlier]

    def _alerts_as_deposit(self, tracking: Tracking, row: Mapping[str, Any]) -> bool:
        """Whether some rule of the tracking's seed would alert on ``row`` as a traced
        deposit into an exchange deposit address."""
        hops = tracking.hop + 1
        return any(
            Trigger.REACHED in rule.triggers
            and Category.EXCHANGE_DEPOSIT in rule.reach
            and hops <= rule.within_hops
            and self._passes(rule, row)
            for rule in self._rules[tracking.seed]
        )

    def labels_of(self, address: str) -> list[Label]:
        """The address's labels on this chain, learned deposit addresses included."""
        found = self.labels.labels(address, self.chain_id)
        learned = self.learned.get(address)
        return [*found, learned] if learned is not None else found

    def _adopt(self, found: Tracking, by_address: dict[str, dict[str, Tracking]]) -> bool:
        known = by_address[found.address].get(found.seed)
        if known is not None and known.hop <= found.hop:
            return False
        by_address[found.address][found.seed] = found
        return True

    def _outgoing(self, row: dict[str, Any], tracking: Tracking) -> Tracking | None:
        """Alerts for value leaving a tracked address; the recipient's tracking, if any."""
        seed = self.seeds[tracking.seed]
        hop = tracking.hop
        self._raise(
            row, seed, trigger=Trigger.OUTFLOW, kind="outflow", hops=hop, discovered=hop > 0
        )
        recipient = row["to_address"]
        labels = self.labels_of(recipient)
        categories = {label.category for label in labels}
        if any(label.is_active_sanction for label in labels):
            categories.add(Category.SANCTIONED)
        for category in sorted(categories & set(REACH_KINDS)):
            kind = REACH_KINDS[category]
            self._raise(
                row, seed, trigger=Trigger.REACHED, kind=kind, hops=hop + 1, category=category
            )
        service = self.labels.is_service(recipient, self.chain_id)
        if (
            service
            or Category.SANCTIONED in categories
            or recipient in self.seeds
            or hop + 1 >= self.trace_depth[seed.address]
            or not any(self._passes(rule, row) for rule in self._rules[seed.address])
        ):
            return None
        return Tracking(recipient, seed.address, hop + 1, int(row["block_number"]))

    def _passes(self, rule: Rule, row: Mapping[str, Any]) -> bool:
        token = row["token_address"]
        if rule.assets and token not in rule.assets:
            return False
        raw = int(row["value_raw"])
        decimals = self.watchlist.decimals(token)
        if decimals is None:
            decimals = row["token_decimals"]
        return raw > 0 and at_least(raw, decimals, rule.min_amount)

    def _raise(
        self,
        row: Mapping[str, Any],
        seed: Seed,
        *,
        trigger: Trigger,
        kind: str,
        hops: int,
        category: Category | None = None,
        discovered: bool = False,
        block_hash: str | None = None,
    ) -> None:
        rules = [
            rule.name
            for rule in self._rules[seed.address]
            if trigger in rule.triggers
            and self._passes(rule, row)
            and (category is None or (category in rule.reach and hops <= rule.within_hops))
            and (not discovered or (rule.watch_discovered and hops < rule.within_hops))
        ]
        if not rules:
            return
        incoming = trigger is Trigger.INFLOW
        subject = row["to_address"] if incoming else row["from_address"]
        other = row["from_address"] if incoming else row["to_address"]
        identity = alert_id(
            chain_id=self.chain_id,
            transaction_hash=row["transaction_hash"],
            transfer_kind=str(row["transfer_kind"]),
            log_index=row["log_index"],
            trace_address=row["trace_address"],
            token_id=row["token_id"],
            seed=seed.address,
            kind=kind,
        )
        if identity in self._alerts:
            return
        token = row["token_address"]
        decimals = self.watchlist.decimals(token)
        if decimals is None:
            decimals = row["token_decimals"]
        symbol = self.watchlist.symbol(token, self.native_symbol) or row["token_symbol"]
        block_time: datetime | None = row["block_time"]
        self._alerts[identity] = Alert(
            id=identity,
            kind=kind,
            seed=seed.address,
            seed_label=seed.label,
            rules=tuple(rules),
            chain_id=self.chain_id,
            transaction_hash=row["transaction_hash"],
            block_number=int(row["block_number"]),
            block_hash=block_hash or self._hashes.get(int(row["block_number"]), ""),
            block_time=block_time.isoformat().replace("+00:00", "Z") if block_time else None,
            direction="in" if incoming else "out",
            subject=subject,
            hops=hops,
            counterparty=Counterparty(
                other,
                tuple(label_json(label) for label in self.labels_of(other)),
            ),
            asset=symbol or token,
            token_address=token,
            token_id=row["token_id"],
            amount=format_amount(int(row["value_raw"]), decimals),
            amount_raw=row["value_raw"],
            transfer_kind=str(row["transfer_kind"]),
            log_index=row["log_index"],
            trace_address=row["trace_address"],
        )


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A transfer-table row as JSON can hold it (``block_time`` in Unix seconds)."""
    return {name: _seconds(value) if name == "block_time" else value for name, value in row.items()}


def _seconds(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value if isinstance(value, int) else None


def _datetime(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int) else None


def _unique_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One of each transfer (a traced deposit is kept once per seed that paid it)."""
    unique: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        unique.setdefault(tuple(row.get(column) for column in UNIQUE_KEY), row)
    return list(unique.values())
