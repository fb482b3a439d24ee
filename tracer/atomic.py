"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Write to a temporary file in the same directory, fsync it, then rename over the target
(rename is atomic within a filesystem). A crash mid-write leaves at most a stray temp file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Final

# Asking open() for 0666 lets the kernel apply the umask, so files get the usual mode
# (0644 under umask 022) and a Neo4j or web server running as another user can read an
# export; tempfile.mkstemp would force 0600.
_FILE_MODE: Final = 0o666
_NAME_ATTEMPTS: Final = 100


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(temp_path)`` and move the result to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = _create_temp(path)
    try:
        write(temp_path)
        with temp_path.open("rb") as handle:
            os.fsync(handle.fileno())
        temp_path.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp_path.unlink()
        raise


def _create_temp(path: Path) -> Path:
    """A new empty file beside ``path`` with a name no other writer holds (O_EXCL)."""
    for _ in range(_NAME_ATTEMPTS):
        temp_path = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            continue
        os.close(fd)
        return temp_path
    raise FileExistsError(f"no free temporary name beside {path}")


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda temp: temp.write_bytes(data))
