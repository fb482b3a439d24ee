"""The monitor's state: one SQLite file (WAL), one transaction per committed step.

Tables:

``cursor``      per chain, the last block whose transfers were matched and committed;
``blocks``      hashes of recently scanned blocks, to notice a reorg below the cursor;
``tracked``     addresses holding traced value (seed, hop, since which block);
``learned``     exchange deposit addresses recognised by behaviour (entity, confidence);
``alerts``      every alert raised, by its stable id (``state`` live, orphaned or retracted);
``deliveries``  pending deliveries, one row per alert and sink, deleted once delivered.

A window's alerts, its deliveries, its tracked addresses, its block hashes and the cursor
move together in one transaction, so a crash leaves either all of a window or none of it.
A lock file next to the state keeps two passes (an overlapping cron run) from interleaving.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from tracer.errors import InputError
from tracer.labels.model import Label
from tracer.monitor.alerts import Alert
from tracer.monitor.blocks import Header
from tracer.monitor.rules import Tracking

SCHEMA_VERSION: Final = 1
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
    state TEXT NOT NULL, raised_at REAL NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_block ON alerts (chain_id, block_number);
CREATE TABLE IF NOT EXISTS learned (
    chain_id INTEGER NOT NULL, address TEXT NOT NULL, entity TEXT NOT NULL,
    confidence REAL NOT NULL, block INTEGER NOT NULL,
    PRIMARY KEY (chain_id, address));
CREATE TABLE IF NOT EXISTS deliveries (
    alert_seq INTEGER NOT NULL REFERENCES alerts (seq), sink TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    PRIMARY KEY (sink, alert_seq));
"""

LIVE: Final = "live"
ORPHANED: Final = "orphaned"  # its block left the chain; re-raised or retracted next
RETRACTED: Final = "retracted"


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
            self._db.executescript(_SCHEMA)  # CREATE ... IF NOT EXISTS: idempotent
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
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
    ) -> list[Alert]:
        """Record one scanned window; returns the alerts that are new (not raised before)."""
        raised: list[Alert] = []
        last = headers[-1].number
        with self.transaction():
            for alert in alerts:
                payload = json.dumps(alert.to_json(), separators=(",", ":"), sort_keys=True)
                row = self._db.execute(
                    "SELECT seq, state FROM alerts WHERE id = ?", (alert.id,)
                ).fetchone()
                if row is not None:
                    if row[1] == ORPHANED:  # mined again after a reorg: still the same event
                        self._db.execute(
                            "UPDATE alerts SET state = ?, block_number = ? WHERE seq = ?",
                            (LIVE, alert.block_number, row[0]),
                        )
                    continue
                seq = self._insert(
                    alert.id, chain_id, alert.block_number, alert.transaction_hash, payload
                )
                self._db.executemany(
                    "INSERT INTO deliveries (alert_seq, sink) VALUES (?, ?)",
                    [(seq, sink) for sink in sinks],
                )
                raised.append(alert)
            for tracking in discovered:
                self._db.execute(
                    "INSERT INTO tracked VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (chain_id, address, seed) DO UPDATE SET hop = excluded.hop, "
                    "since_block = excluded.since_block WHERE excluded.hop < tracked.hop",
                    (chain_id, tracking.address, tracking.seed, tracking.hop, tracking.since_block),
                )
            self._db.executemany(
                "INSERT OR IGNORE INTO learned VALUES (?, ?, ?, ?, ?)",
                [
                    (chain_id, label.address, label.entity or label.name, label.confidence, last)
                    for label in learned
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

    def _insert(
        self, identity: str, chain_id: int, block: int, transaction_hash: str, payload: str
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO alerts (id, chain_id, block_number, transaction_hash, state, "
            "raised_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (identity, chain_id, block, transaction_hash, LIVE, time.time(), payload),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def rewind(self, chain_id: int, ancestor: int) -> int:
        """A reorg replaced the blocks after ``ancestor``: forget them, orphan their alerts
        (each is re-raised by the re-scan or retracted), and scan again from there.
        Returns how many alerts were orphaned."""
        with self.transaction():
            self._db.execute(
                "DELETE FROM blocks WHERE chain_id = ? AND number > ?", (chain_id, ancestor)
            )
            for table, column in (("tracked", "since_block"), ("learned", "block")):
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

    def retract(
        self, chain_id: int, orphan: Orphan, retraction: dict[str, Any], sinks: Sequence[str]
    ) -> None:
        """The orphan's transaction is in no block any more: tell the sinks so."""
        payload = json.dumps(retraction, separators=(",", ":"), sort_keys=True)
        identity = str(retraction["id"])
        with self.transaction():
            self._db.execute("UPDATE alerts SET state = ? WHERE id = ?", (RETRACTED, orphan.id))
            exists = self._db.execute("SELECT 1 FROM alerts WHERE id = ?", (identity,)).fetchone()
            if exists is None:
                seq = self._insert(
                    identity, chain_id, orphan.block_number, orphan.transaction_hash, payload
                )
                self._db.executemany(
                    "INSERT INTO deliveries (alert_seq, sink) VALUES (?, ?)",
                    [(seq, sink) for sink in sinks],
                )

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
