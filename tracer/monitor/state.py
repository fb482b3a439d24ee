"""The monitor's state: one SQLite file (WAL), one transaction per committed step.

Tables:

``cursor``      per chain, the last block whose transfers were matched and committed;
``blocks``      hashes of recently scanned blocks, to notice a reorg below the cursor;
``tracked``     addresses holding traced value (seed, hop, since which block);
``learned``     exchange deposit addresses recognised by behaviour (entity, confidence);
``candidates``  transfers of unlabelled recipients of traced value whose sweep may still come;
``alerts``      every alert raised, by its stable id (``state`` live, orphaned or retracted),
                and the notices that withdraw or reinstate one (``state`` notice);
``deliveries``  pending deliveries, one row per alert and sink, deleted once delivered.

A window's alerts, its deliveries, its tracked addresses, its block hashes and the cursor
move together in one transaction, so a crash leaves either all of a window or none of it.
A lock file next to the state keeps two passes (an overlapping cron run) from interleaving.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from tracer.errors import InputError
from tracer.labels.model import Category, Label
from tracer.monitor.alerts import ID_PREFIX, Alert
from tracer.monitor.blocks import Header
from tracer.monitor.rules import LEARNED_SOURCE, CandidateRow, Tracking
from tracer.monitor.watchlist import REACH_KINDS

SCHEMA_VERSION: Final = 2
# Block hashes kept below the cursor: a reorg deeper than this is reported, not repaired.
KEEP_BLOCKS: Final = 512

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursor (chain_id INTEGER PRIMARY KEY, block INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    chain_id INTEGER NOT NULL, number INTEGER NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (chain_id, number));
CREATE TABLE IF NOT EXISTS tracked (
    chain_id INTEGER NOT NULL, address TEXT NOT NULL, seed TEXT NOT NULL,
    hop INTEGER NOT NULL, since_block INTEGER NOT NULL,
    PRIMARY KEY (chain_id, address, seed));
CREATE TABLE IF NOT EXISTS alerts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    chain_id INTEGER NOT NULL, block_number INTEGER NOT NULL, transaction_hash TEXT NOT NULL,
    state TEXT NOT NULL, raised_at REAL NOT NULL, payload TEXT NOT NULL,
    retractions INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS alerts_block ON alerts (chain_id, block_number);
CREATE TABLE IF NOT EXISTS learned (
    chain_id INTEGER NOT NULL, address TEXT NOT NULL, entity TEXT NOT NULL,
    confidence REAL NOT NULL, block INTEGER NOT NULL,
    PRIMARY KEY (chain_id, address));
CREATE TABLE IF NOT EXISTS candidates (
    chain_id INTEGER NOT NULL, address TEXT NOT NULL, block_number INTEGER NOT NULL,
    seed TEXT, hop INTEGER, block_hash TEXT, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS candidates_address ON candidates (chain_id, address);
CREATE TABLE IF NOT EXISTS deliveries (
    alert_seq INTEGER NOT NULL REFERENCES alerts (seq), sink TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    PRIMARY KEY (sink, alert_seq));
"""

LIVE: Final = "live"
ORPHANED: Final = "orphaned"  # its block left the chain; re-raised or retracted next
RETRACTED: Final = "retracted"
DEPOSIT_KIND: Final = REACH_KINDS[Category.EXCHANGE_DEPOSIT]
# A retraction or a reinstatement: delivered like an alert, never orphaned or re-raised.
NOTICE: Final = "notice"


@dataclass(frozen=True)
class Pending:
    """An alert still to be delivered to one sink."""

    seq: int
    id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Orphan:
    id: str
    transaction_hash: str
    block_number: int
    payload: dict[str, Any]


def notice_id(alert: str, what: str, count: int) -> str:
    """The id of the ``count``-th retraction (or of the reinstatement after it) of
    ``alert``: stable across re-runs, distinct across repeated reorgs."""
    suffix = "" if count == 1 else f"|{count}"
    digest = hashlib.sha256(f"{alert}|{what}{suffix}".encode()).hexdigest()[:32]
    return ID_PREFIX + digest


class MonitorState:
    """Open (creating if needed) and lock the state file; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: IO[bytes] | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = Path(f"{path}.lock").open("ab")  # noqa: SIM115 (held until close)
            try:
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(
                    f"{path} is in use by another tracer monitor; wait for it to finish"
                ) from None
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed alert record must survive a power loss too, or a sink could
            # see the alert again after a reboot.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            fresh = not self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'meta'"
            ).fetchone()
            self._db.executescript(_SCHEMA)  # CREATE ... IF NOT EXISTS: idempotent
            if fresh:
                self._db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            version = self.meta("schema_version")
            if version == "1":
                self._migrate_from_1()
                version = self.meta("schema_version")
            if version != str(SCHEMA_VERSION):
                raise InputError(
                    f"{path}: monitor state schema version {version}, expected "
                    f"{SCHEMA_VERSION}; use another --state"
                )
        except sqlite3.DatabaseError as exc:
            self.close()
            raise InputError(f"{path}: cannot open the monitor state: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _migrate_from_1(self) -> None:
        """Version 1 kept no retraction count and stored retractions as live alerts (so a
        later reorg could orphan a retraction itself)."""
        with self.transaction():
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(alerts)")}
            if "retractions" not in columns:
                self._db.execute(
                    "ALTER TABLE alerts ADD COLUMN retractions INTEGER NOT NULL DEFAULT 0"
                )
            self._db.execute(
                "UPDATE alerts SET state = ? WHERE json_extract(payload, '$.kind') = 'retracted'",
                (NOTICE,),
            )
            self._db.execute("UPDATE alerts SET retractions = 1 WHERE state = ?", (RETRACTED,))
            self._db.execute(
                "UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        with contextlib.suppress(AttributeError, sqlite3.Error):
            self._db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> MonitorState:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------

    def meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def cursor(self, chain_id: int) -> int | None:
        row = self._db.execute(
            "SELECT block FROM cursor WHERE chain_id = ?", (chain_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def recent_blocks(self, chain_id: int, limit: int) -> list[tuple[int, str]]:
        """The newest stored block hashes, newest first."""
        rows = self._db.execute(
            "SELECT number, hash FROM blocks WHERE chain_id = ? ORDER BY number DESC LIMIT ?",
            (chain_id, limit),
        ).fetchall()
        return [(int(number), str(block_hash)) for number, block_hash in rows]

    def tracked(self, chain_id: int) -> list[Tracking]:
        rows = self._db.execute(
            "SELECT address, seed, hop, since_block FROM tracked WHERE chain_id = ?", (chain_id,)
        ).fetchall()
        return [Tracking(str(a), str(s), int(h), int(b)) for a, s, h, b in rows]

    def learned(self, chain_id: int) -> list[tuple[str, str, float]]:
        """Deposit addresses learned on earlier passes: (address, entity, confidence)."""
        rows = self._db.execute(
            "SELECT address, entity, confidence FROM learned WHERE chain_id = ?", (chain_id,)
        ).fetchall()
        return [(str(a), str(e), float(c)) for a, e, c in rows]

    def candidates(self, chain_id: int) -> list[CandidateRow]:
        rows = self._db.execute(
            "SELECT address, seed, hop, block_hash, row FROM candidates WHERE chain_id = ? "
            "ORDER BY rowid",
            (chain_id,),
        ).fetchall()
        return [
            CandidateRow(str(a), json.loads(r), s, None if h is None else int(h), b)
            for a, s, h, b, r in rows
        ]

    def alert_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM alerts").fetchone()[0])

    def pending(self, sink: str) -> list[Pending]:
        rows = self._db.execute(
            "SELECT a.seq, a.id, a.payload FROM deliveries d JOIN alerts a ON a.seq = d.alert_seq "
            "WHERE d.sink = ? ORDER BY a.seq",
            (sink,),
        ).fetchall()
        return [Pending(int(seq), str(i), json.loads(payload)) for seq, i, payload in rows]

    def orphans(self, chain_id: int) -> list[Orphan]:
        rows = self._db.execute(
            "SELECT id, transaction_hash, block_number, payload FROM alerts "
            "WHERE chain_id = ? AND state = ? ORDER BY seq",
            (chain_id, ORPHANED),
        ).fetchall()
        return [Orphan(str(i), str(t), int(b), json.loads(p)) for i, t, b, p in rows]

    # -- committed steps -------------------------------------------------------------------

    def start(self, chain_id: int, header: Header) -> None:
        """First pass on this chain: begin after ``header`` (nothing before it alerts)."""
        with self.transaction():
            self._db.execute("INSERT INTO cursor VALUES (?, ?)", (chain_id, header.number))
            self._db.execute(
                "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?)",
                (chain_id, header.number, header.hash),
            )

    def commit_window(
        self,
        chain_id: int,
        headers: Sequence[Header],
        alerts: Iterable[Alert],
        discovered: Iterable[Tracking],
        *,
        sinks: Sequence[str],
        learned: Iterable[Label] = (),
        candidates: Iterable[CandidateRow] = (),
        dropped: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        """Record one scanned window; returns what it raised, as the sinks get it: the
        alerts not raised before, and reinstatements of retracted ones mined again."""
        raised: list[dict[str, Any]] = []
        last = headers[-1].number
        with self.transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO learned VALUES (?, ?, ?, ?, ?)",
                [
                    (chain_id, label.address, label.entity or label.name, label.confidence, last)
                    for label in learned
                ],
            )
            for alert in alerts:
                record = alert.to_json()
                block = self._evidence_block(chain_id, alert)
                row = self._db.execute(
                    "SELECT seq, state, retractions FROM alerts WHERE id = ?", (alert.id,)
                ).fetchone()
                if row is not None:
                    seq, state, retractions = int(row[0]), str(row[1]), int(row[2])
                    if state in (ORPHANED, RETRACTED):  # mined again after a reorg
                        self._db.execute(
                            "UPDATE alerts SET state = ?, block_number = ? WHERE seq = ?",
                            (LIVE, block, seq),
                        )
                    if state != RETRACTED:
                        continue  # an orphan was never withdrawn: the alert sent stands
                    # The sinks were told it was withdrawn: tell them again, under an id of
                    # its own (a receiver de-duplicating on ids would drop the old one).
                    record = {
                        **record,
                        "id": notice_id(alert.id, "reinstated", retractions),
                        "reinstates": alert.id,
                    }
                    self._notice(record, chain_id, block, sinks)
                else:
                    self._record(record, chain_id, block, LIVE, sinks)
                raised.append(record)
            for tracking in discovered:
                self._db.execute(
                    "INSERT INTO tracked VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (chain_id, address, seed) DO UPDATE SET hop = excluded.hop, "
                    "since_block = excluded.since_block WHERE excluded.hop < tracked.hop",
                    (chain_id, tracking.address, tracking.seed, tracking.hop, tracking.since_block),
                )
            self._db.executemany(
                "DELETE FROM candidates WHERE chain_id = ? AND address = ?",
                [(chain_id, address) for address in dropped],
            )
            self._db.executemany(
                "INSERT INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        chain_id,
                        kept.address,
                        int(kept.row["block_number"]),
                        kept.seed,
                        kept.hop,
                        kept.block_hash,
                        json.dumps(kept.row, separators=(",", ":")),
                    )
                    for kept in candidates
                ],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?)",
                [(chain_id, header.number, header.hash) for header in headers],
            )
            self._db.execute("UPDATE cursor SET block = ? WHERE chain_id = ?", (last, chain_id))
            self._db.execute(
                "DELETE FROM blocks WHERE chain_id = ? AND number < ?",
                (chain_id, last - KEEP_BLOCKS),
            )
        return raised

    def _evidence_block(self, chain_id: int, alert: Alert) -> int:
        """The newest block the alert rests on: its own, or, when its counterparty is a
        deposit address learned from behaviour, the block it was learned in (the sweep). A
        reorg replacing that block orphans the alert, so it is retracted unless the re-scan
        raises it again."""
        learned = any(label.get("source") == LEARNED_SOURCE for label in alert.counterparty.labels)
        if alert.kind != DEPOSIT_KIND or not learned:
            return alert.block_number  # an outflow stands whatever its counterparty proves
        row = self._db.execute(
            "SELECT block FROM learned WHERE chain_id = ? AND address = ?",
            (chain_id, alert.counterparty.address),
        ).fetchone()
        return alert.block_number if row is None else max(alert.block_number, int(row[0]))

    def _record(
        self,
        record: dict[str, Any],
        chain_id: int,
        block: int,
        state: str,
        sinks: Sequence[str],
    ) -> None:
        """Insert ``record`` (the sinks' JSON), orphaned by a reorg past ``block``, and a
        pending delivery per sink."""
        payload = json.dumps(record, separators=(",", ":"), sort_keys=True)
        cursor = self._db.execute(
            "INSERT INTO alerts (id, chain_id, block_number, transaction_hash, state, "
            "raised_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record["id"],
                chain_id,
                block,
                record["transaction_hash"],
                state,
                time.time(),
                payload,
            ),
        )
        assert cursor.lastrowid is not None
        self._db.executemany(
            "INSERT INTO deliveries (alert_seq, sink) VALUES (?, ?)",
            [(cursor.lastrowid, sink) for sink in sinks],
        )

    def _notice(
        self, record: dict[str, Any], chain_id: int, block: int, sinks: Sequence[str]
    ) -> None:
        """A retraction or reinstatement, once: its id is fixed by the alert and the count."""
        exists = self._db.execute("SELECT 1 FROM alerts WHERE id = ?", (record["id"],))
        if exists.fetchone() is None:
            self._record(record, chain_id, block, NOTICE, sinks)

    def rewind(self, chain_id: int, ancestor: int) -> int:
        """A reorg replaced the blocks after ``ancestor``: forget them, orphan their alerts
        (each is re-raised by the re-scan or retracted), and scan again from there.
        Returns how many alerts were orphaned."""
        with self.transaction():
            self._db.execute(
                "DELETE FROM blocks WHERE chain_id = ? AND number > ?", (chain_id, ancestor)
            )
            for table, column in (
                ("tracked", "since_block"),
                ("learned", "block"),
                ("candidates", "block_number"),
            ):
                self._db.execute(
                    f"DELETE FROM {table} WHERE chain_id = ? AND {column} > ?",  # noqa: S608
                    (chain_id, ancestor),
                )
            orphaned = self._db.execute(
                "UPDATE alerts SET state = ? WHERE chain_id = ? AND block_number > ? AND state = ?",
                (ORPHANED, chain_id, ancestor, LIVE),
            ).rowcount
            self._db.execute("UPDATE cursor SET block = ? WHERE chain_id = ?", (ancestor, chain_id))
        return int(orphaned)

    def retract(self, chain_id: int, orphan: Orphan, sinks: Sequence[str]) -> dict[str, Any]:
        """The re-scan after a reorg did not raise the orphan again (its transaction, or
        the sweep it rested on, is gone): tell the sinks so, with a ``retracted`` notice
        naming it (``retracts``); returns the notice."""
        with self.transaction():
            row = self._db.execute(
                "SELECT retractions FROM alerts WHERE id = ?", (orphan.id,)
            ).fetchone()
            retractions = int(row[0]) + 1
            self._db.execute(
                "UPDATE alerts SET state = ?, retractions = ? WHERE id = ?",
                (RETRACTED, retractions, orphan.id),
            )
            notice = {
                **orphan.payload,
                "id": notice_id(orphan.id, "retracted", retractions),
                "kind": "retracted",
                "retracts": orphan.id,
            }
            self._notice(notice, chain_id, orphan.block_number, sinks)
        return notice

    def delivered(self, sink: str, seqs: Iterable[int]) -> None:
        with self.transaction():
            self._db.executemany(
                "DELETE FROM deliveries WHERE sink = ? AND alert_seq = ?",
                [(sink, seq) for seq in seqs],
            )

    def failed(self, sink: str, seq: int, error: str) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ? "
                "WHERE sink = ? AND alert_seq = ?",
                (error[:500], sink, seq),
            )

    def pending_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT sink, count(*) FROM deliveries GROUP BY sink")
        return {str(sink): int(count) for sink, count in rows.fetchall()}
