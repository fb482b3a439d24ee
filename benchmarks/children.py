"""One measurement per size, each in a child process of its own, so that each peak RSS is
that size's alone (``ru_maxrss`` never goes down within a process)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator, Sequence


class ChildFailedError(RuntimeError):
    """A measurement process exited with an error (its stderr's tail is the message)."""


def peak_rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def measure_sizes(
    module: str, sizes: str, extra: Sequence[str] = ()
) -> Iterator[dict[str, object]]:
    """Run ``python -m MODULE --one SIZE EXTRA...`` for each comma-separated size and yield
    the JSON object each child prints last."""
    for size in (int(text) for text in sizes.split(",")):
        child = [sys.executable, "-m", module, "--one", str(size), *extra]
        completed = subprocess.run(child, check=False, capture_output=True, text=True)
        if completed.returncode != 0:
            raise ChildFailedError(f"{size}: failed\n{completed.stderr[-3000:]}")
        figures: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
        yield figures
