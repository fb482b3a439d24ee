"""Crawl state on disk, so a killed crawl resumes where it stopped.

One SQLite file in the case directory (WAL mode). The crawler changes its state in *steps*
(apply one fetched address, pick the next ones); each step is written as one transaction:
the address's transfers, its coverage, the frontier entries it added or changed, the traced
value it moved, and the addresses now in flight. After ``kill -9`` the file holds the state
after some whole step, never half of one, and the crawler continues from there taking the
same steps a crawl that was never interrupted takes (see :mod:`tracer.crawl.crawler`).

Tables::

    meta(name, value)                 run facts (chain, head, block window, trace path,
                                      options fingerprint, done) as JSON values
    claims(address, hop, from_block)  fetched or in-flight addresses and from where
    coverage(address, ...)            per-address coverage, as reported
    frontier(address, hop, from_block)
    traced(address, token, raw, decimals)   traced value per address and asset (raw: text,
                                            an exact uint256)
    inflight(seq, address, hop, from_block, range_end)
    chunks(seq, address, data)        the transfers of each applied fetch (Arrow IPC)
    tables(name, data)                other tables derived from the finished crawl
                                      (protocol events, transaction facts; Arrow IPC)
"""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from tracer.crawl.frontier import Pending
from tracer.errors import InputError
from tracer.transfers.schema import TRANSFER_SCHEMA
from tracer.types import Address

CHECKPOINT_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
    address TEXT PRIMARY KEY, hop INTEGER NOT NULL, from_block INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coverage (
    address TEXT PRIMARY KEY, hop INTEGER NOT NULL, from_block INTEGER NOT NULL,
    to_block INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT, transfers INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS frontier (
    address TEXT PRIMARY KEY, hop INTEGER NOT NULL, from_block INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS traced (
    address TEXT NOT NULL, token TEXT NOT NULL, raw TEXT NOT NULL, decimals INTEGER,
    PRIMARY KEY (address, token)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inflight (
    seq INTEGER PRIMARY KEY, address TEXT NOT NULL, hop INTEGER NOT NULL,
    from_block INTEGER NOT NULL, range_end INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    seq INTEGER PRIMARY KEY, address TEXT NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tables (name TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
"""
_STATE_TABLES: Final = (
    "claims",
    "coverage",
    "frontier",
    "traced",
    "inflight",
    "chunks",
    "tables",
)


@dataclass(frozen=True, slots=True)
class Task:
    """An address being fetched: blocks ``from_block..range_end``; ``seq`` orders steps."""

    seq: int
    address: Address
    hop: int
    from_block: int
    range_end: int


@dataclass(frozen=True, slots=True)
class CoverageRow:
    address: Address
    hop: int
    from_block: int
    to_block: int
    status: str
    reason: str | None
    transfers: int


@dataclass
class SavedState:
    claims: dict[Address, tuple[int, int]] = field(default_factory=dict)
    coverage: list[CoverageRow] = field(default_factory=list)
    frontier: list[Pending] = field(default_factory=list)
    traced: list[tuple[Address, str, int, int | None]] = field(default_factory=list)
    inflight: list[Task] = field(default_factory=list)
    chunks: list[tuple[int, pl.DataFrame]] = field(default_factory=list)


class Checkpoint:
    """The crawl state of one case. Stage changes with the ``put_*``/``drop_*`` methods,
    then :meth:`commit` writes them in one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise InputError(f"{path}: cannot open the crawl checkpoint: {exc}") from exc
        version = self.meta().get("checkpoint_version")
        if version is not None and version != CHECKPOINT_VERSION:
            raise InputError(
                f"{path}: checkpoint format {version}, expected {CHECKPOINT_VERSION}; "
                "start a new case or pass --restart"
            )
        self._staged: list[tuple[str, tuple[Any, ...]]] = []

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- run facts ---------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        rows = self._db.execute("SELECT name, value FROM meta").fetchall()
        return {name: json.loads(value) for name, value in rows}

    def put_meta(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            self._stage("INSERT OR REPLACE INTO meta VALUES (?, ?)", name, json.dumps(value))

    def start_over(self, meta: dict[str, Any]) -> None:
        """Forget any earlier crawl state and run facts; record ``meta`` (one transaction)."""
        self._staged = [(f"DELETE FROM {table}", ()) for table in (*_STATE_TABLES, "meta")]  # noqa: S608 (fixed names)
        self.put_meta({"checkpoint_version": CHECKPOINT_VERSION, **meta})
        self.commit()

    # -- state -------------------------------------------------------------------------

    def put_claim(self, address: Address, hop: int, from_block: int) -> None:
        self._stage("INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", address, hop, from_block)

    def put_coverage(self, row: CoverageRow) -> None:
        self._stage(
            "INSERT OR REPLACE INTO coverage VALUES (?, ?, ?, ?, ?, ?, ?)",
            row.address,
            row.hop,
            row.from_block,
            row.to_block,
            row.status,
            row.reason,
            row.transfers,
        )

    def put_frontier(self, entry: Pending) -> None:
        self._stage(
            "INSERT OR REPLACE INTO frontier VALUES (?, ?, ?)",
            entry.address,
            entry.hop,
            entry.from_block,
        )

    def drop_frontier(self, address: Address) -> None:
        self._stage("DELETE FROM frontier WHERE address = ?", address)

    def put_traced(self, address: Address, token: str, raw: int, decimals: int | None) -> None:
        self._stage(
            "INSERT OR REPLACE INTO traced VALUES (?, ?, ?, ?)", address, token, str(raw), decimals
        )

    def put_inflight(self, task: Task) -> None:
        self._stage(
            "INSERT OR REPLACE INTO inflight VALUES (?, ?, ?, ?, ?)",
            task.seq,
            task.address,
            task.hop,
            task.from_block,
            task.range_end,
        )

    def drop_inflight(self, seq: int) -> None:
        self._stage("DELETE FROM inflight WHERE seq = ?", seq)

    def put_chunk(self, seq: int, address: Address, frame: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        frame.write_ipc(buffer, compression="zstd")
        self._stage(
            "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?)", seq, address, buffer.getvalue()
        )

    def put_table(self, name: str, frame: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        frame.write_ipc(buffer, compression="zstd")
        self._stage("INSERT OR REPLACE INTO tables VALUES (?, ?)", name, buffer.getvalue())

    def table(self, name: str, schema: pl.Schema) -> pl.DataFrame | None:
        """A committed table stored by :meth:`put_table`, cast to ``schema``; None if absent."""
        row = self._db.execute("SELECT data FROM tables WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        frame = pl.read_ipc(io.BytesIO(row[0]))
        return frame.select([pl.col(column).cast(dtype) for column, dtype in schema.items()])

    def commit(self) -> None:
        """Write everything staged since the last commit, all or nothing."""
        staged, self._staged = self._staged, []
        if not staged:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in staged:
                self._db.execute(sql, params)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def load(self) -> SavedState:
        """The state after the last committed step (empty for a new case)."""
        db = self._db
        state = SavedState()
        for address, hop, from_block in db.execute("SELECT * FROM claims"):
            state.claims[Address(address)] = (hop, from_block)
        state.coverage = [
            CoverageRow(Address(row[0]), *row[1:]) for row in db.execute("SELECT * FROM coverage")
        ]
        state.frontier = [
            Pending(Address(address), hop, from_block)
            for address, hop, from_block in db.execute("SELECT * FROM frontier ORDER BY address")
        ]
        state.traced = [
            (Address(address), token, int(raw), decimals)
            for address, token, raw, decimals in db.execute(
                "SELECT * FROM traced ORDER BY address, token"
            )
        ]
        state.inflight = [
            Task(seq, Address(address), hop, from_block, range_end)
            for seq, address, hop, from_block, range_end in db.execute(
                "SELECT * FROM inflight ORDER BY seq"
            )
        ]
        state.chunks = [
            (seq, _read_chunk(data))
            for seq, data in db.execute("SELECT seq, data FROM chunks ORDER BY seq")
        ]
        return state

    def _stage(self, sql: str, *params: Any) -> None:
        self._staged.append((sql, params))


def _read_chunk(data: bytes) -> pl.DataFrame:
    frame = pl.read_ipc(io.BytesIO(data))
    return frame.select([pl.col(name).cast(dtype) for name, dtype in TRANSFER_SCHEMA.items()])


class NoCheckpoint:
    """Stands in for a :class:`Checkpoint` when the crawl need not survive a crash."""

    def put_meta(self, values: dict[str, Any]) -> None:
        pass

    def put_claim(self, address: Address, hop: int, from_block: int) -> None:
        pass

    def put_coverage(self, row: CoverageRow) -> None:
        pass

    def put_frontier(self, entry: Pending) -> None:
        pass

    def drop_frontier(self, address: Address) -> None:
        pass

    def put_traced(self, address: Address, token: str, raw: int, decimals: int | None) -> None:
        pass

    def put_inflight(self, task: Task) -> None:
        pass

    def drop_inflight(self, seq: int) -> None:
        pass

    def put_chunk(self, seq: int, address: Address, frame: pl.DataFrame) -> None:
        pass

    def commit(self) -> None:
        pass
