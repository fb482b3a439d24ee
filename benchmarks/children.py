"""One measurement per size, each in a child process of its own, so that each peak RSS is
that size's alone (``ru_maxrss`` never goes down within a process)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path


class ChildFailedError(RuntimeError):
    """A measurement process exited with an error (its stderr's tail is the message)."""


def peak_rss_mib() -> int:
    """This process's peak resident memory since it started or since :func:`reset_peak`."""
    status = _status()
    if "VmHWM" in status:
        return status["VmHWM"] // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def rss_mib() -> int:
    """Resident memory now (0 where /proc is missing)."""
    return _status().get("VmRSS", 0) // 1024


def reset_peak() -> bool:
    """Start the peak over from the current resident memory (Linux: clear_refs 5), so a
    step's peak is not an earlier step's transient; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def _status() -> dict[str, int]:
    """The kB fields of /proc/self/status that the peaks need."""
    try:
        lines = Path("/proc/self/status").read_text(encoding="ascii").splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0])
    return fields


def measure_sizes(
    module: str, sizes: str, extra: Sequence[str] = ()
) -> Iterator[dict[str, object]]:
    """Run ``python -m MODULE --one SIZE EXTRA...`` for each comma-separated size and yield
    the JSON object each child prints last."""
    for size in (int(text) for text in sizes.split(",")):
        yield run_child(module, ["--one", str(size), *extra])


def run_child(module: str, arguments: Sequence[str]) -> dict[str, object]:
    """Run ``python -m MODULE ARGUMENTS...`` in a fresh process and return the JSON object it
    prints last (so its peak RSS is its own); :class:`ChildFailedError` if it fails."""
    child = [sys.executable, "-m", module, *arguments]
    completed = subprocess.run(child, check=False, capture_output=True, text=True)
    if completed.returncode != 0:
        raise ChildFailedError(f"{' '.join(arguments)}: failed\n{completed.stderr[-3000:]}")
    figures: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def print_sizes(module: str, sizes: str, extra: Sequence[str], ratio: tuple[str, str, str]) -> int:
    """Run the sizes (:func:`measure_sizes`) and print each one's figures as a JSON line,
    with ``ratio`` = (name, numerator, denominator) added where both figures are there;
    the exit status for ``main``."""
    name, numerator, denominator = ratio
    try:
        for figures in measure_sizes(module, sizes, extra):
            if numerator in figures and denominator in figures:
                top, bottom = float(str(figures[numerator])), float(str(figures[denominator]))
                figures[name] = round(top / bottom, 2)
            print(json.dumps(figures), flush=True)
    except ChildFailedError as failure:
        print(failure, flush=True)
        return 1
    return 0
