"""The on-disk answer cache: final JSON-RPC answers, so a re-run costs zero requests.

* **Keyed by request**: :func:`tracer.sources.transport.request_key` of (chain id, method,
  params). Never the URL or a header: keys stay out of the file, and two providers of one
  chain share their final answers.
* **Only final answers**: an answer is stored when every block it depends on is at or below
  the *safe head* (chain head minus a confirmation margin), so a reorg cannot make the cache
  lie. Head queries (``eth_blockNumber``, ``eth_chainId``, the capability probe) are never
  stored. Which block an answer depends on is protocol knowledge, kept in
  :func:`final_through` below, one rule per method.
* **Open-ended answers**: Otterscan's ``ots_searchTransactionsAfter`` returns "the address's
  transactions after block n up to the newest", so its last page depends on the head at the
  time it was asked. It is stored with ``through`` = the safe head of that moment and only
  reused by callers that need no later block (:meth:`ResponseCache.get_many`'s ``through``).
* **SQLite in WAL mode**: readers never block the writer, a crash (even ``kill -9``) loses at
  most the answers of the transaction in progress, and every write is one transaction.
  Bodies are zlib-compressed JSON (answers are repetitive hex: about 4x smaller).
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tracer.errors import InputError

# ``through`` of an answer that is fully determined by its request (a closed block range, a
# block by number, a mined transaction): valid for any caller. Fits SQLite's int64.
FOREVER: Final = 2**62
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    chain_id INTEGER NOT NULL,
    method TEXT NOT NULL,
    through INTEGER NOT NULL,
    body BLOB NOT NULL,
    stored_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""


class _Miss:
    """Marks a key the cache does not hold (``None`` is a valid JSON-RPC result)."""

    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    stored: int = 0


@dataclass(frozen=True, slots=True)
class CacheEntry:
    key: str
    chain_id: int
    method: str
    through: int
    result: Any


class ResponseCache:
    """Final answers by request key, in one SQLite file. Not thread-safe; one per run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed transaction survives a process crash; only a
            # power loss may drop the last ones, which are then simply asked again.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            version = self.meta("schema_version")
            if version is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))
            elif version != str(SCHEMA_VERSION):
                raise InputError(
                    f"{path}: cache schema version {version}, expected {SCHEMA_VERSION}; "
                    "delete it or use another --cache"
                )
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path}: cannot open the cache: {exc}") from exc
        self.stats = CacheStats()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_many(self, keys: Sequence[str], through: int = 0, *, count: bool = True) -> list[Any]:
        """The cached result for each key, or :data:`MISS`. An entry only counts when it is
        final at least up to block ``through`` (see the module docstring). ``count=False``
        leaves the hit/miss statistics alone (bookkeeping lookups)."""
        found = dict(self._select("key, body", keys, through))
        results = [_decode(found[key]) if key in found else MISS for key in keys]
        if count:
            hits = sum(1 for key in keys if key in found)
            self.stats.hits += hits
            self.stats.misses += len(keys) - hits
        return results

    def _select(self, columns: str, keys: Sequence[str], through: int) -> list[tuple[Any, Any]]:
        rows: list[tuple[Any, Any]] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's host-parameter limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(
                f"SELECT {columns} FROM answers WHERE through >= ? AND key IN ({marks})",  # noqa: S608
                [through, *chunk],
            ).fetchall()
        return rows

    def put_many(self, entries: Iterable[CacheEntry]) -> None:
        """Store entries in one transaction (all or none)."""
        now = time.time()
        rows = [(e.key, e.chain_id, e.method, e.through, _encode(e.result), now) for e in entries]
        if not rows:
            return
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.stats.stored += len(rows)

    def meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM answers").fetchone()[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def _encode(result: Any) -> bytes:
    return zlib.compress(json.dumps(result, separators=(",", ":")).encode(), 6)


def _decode(body: bytes) -> Any:
    return json.loads(zlib.decompress(body))


# -- which answers are final -----------------------------------------------------------------


def _hex_block(value: Any) -> int | None:
    """A block number given as 0x-hex; tags ("latest", "safe") are head-relative: None."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


def _range_end(params: Sequence[Any]) -> int | None:
    if not params or not isinstance(params[0], Mapping):
        return None
    if "blockHash" in params[0]:
        return None  # a block by hash may be an uncle; not worth the edge cases
    return _hex_block(params[0].get("toBlock"))


def _first_param_block(params: Sequence[Any]) -> int | None:
    return _hex_block(params[0]) if params else None


def _result_block(result: Any) -> int | None:
    if isinstance(result, Mapping):
        return _hex_block(result.get("blockNumber"))
    return None


def _traces_block(result: Any) -> int | None:
    """The block of a transaction's traces (all share one); empty: unknown transaction."""
    if isinstance(result, list) and result and isinstance(result[0], Mapping):
        number = result[0].get("blockNumber")
        return number if isinstance(number, int) and not isinstance(number, bool) else None
    return None


def final_through(
    method: str,
    params: Sequence[Any],
    result: Any,
    *,
    safe_head: int,
    block: int | None = None,
    page_size: int | None = None,
) -> int | None:
    """Up to which block ``result`` is a final, complete answer; None: do not cache it.

    ``block`` is the caller's knowledge of the block an answer belongs to when neither the
    request nor the answer says (``ots_getInternalOperations`` takes only a hash).
    ``page_size`` is the page size of an ``ots_searchTransactionsAfter`` request.
    """
    depends_on: int | None
    if method in ("eth_getLogs", "trace_filter"):
        depends_on = _range_end(params)
    elif method in ("eth_getBlockByNumber", "debug_traceBlockByNumber", "trace_block"):
        depends_on = _first_param_block(params) if result is not None else None
    elif method == "eth_getCode":  # code at a given (final) block never changes
        depends_on = _hex_block(params[1]) if len(params) > 1 else None
    elif method in ("eth_getTransactionReceipt", "eth_getTransactionByHash"):
        depends_on = _result_block(result)
    elif method == "trace_transaction":
        depends_on = _traces_block(result)
    elif method == "ots_getInternalOperations":
        depends_on = block
    elif method == "ots_searchTransactionsAfter":
        return _ots_page_through(result, safe_head, page_size)
    else:
        return None  # head queries and anything we have no rule for
    if depends_on is None or depends_on > safe_head:
        return None
    return FOREVER


def _ots_page_through(result: Any, safe_head: int, page_size: int | None) -> int | None:
    if not isinstance(result, Mapping) or not isinstance(result.get("txs"), list):
        return None
    blocks = [_result_block(tx) for tx in result["txs"]]
    if any(number is None for number in blocks):
        return None
    newest = max((number for number in blocks if number is not None), default=-1)
    full = page_size is not None and len(blocks) >= page_size
    if full and result.get("firstPage") is not True and newest <= safe_head:
        return FOREVER  # later transactions follow: this page can no longer change
    # The last page, or one reaching past the safe head: its transactions up to the safe
    # head are final (anything newer is only ever appended after them), so it serves
    # callers that need no later block.
    return safe_head
