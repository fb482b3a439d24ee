"""Atomic writes leave either the old or the new content, and no temp files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tracer.atomic import atomic_write, atomic_write_text


def test_replaces_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_text(target, "committed")

    def crash(temp: Path) -> None:
        temp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert target.read_text() == "committed"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_the_usual_mode_under_the_umask(tmp_path: Path, umask: int) -> None:
    # Exports are read by servers running as other users (Neo4j, a web server): the file
    # must have 0666 less the umask, as any program's new file, not tempfile's 0600.
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "nodes.csv", "id\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "nodes.csv").stat().st_mode) == 0o666 & ~umask
