"""The progress of ``tracer trace`` on stderr: what the case is doing while it runs.

On a terminal, one live line (rich, erased at the end): the current phase ("reading protocol
events", "analysing round 2", "round 2: following 3 links", "round 2: probing 40 addresses",
"building the report") and, while a crawl runs, its counters. Not on a terminal (a log
file, a pipe, cron), live redrawing would leave control codes in the output, so each phase
is one plain line instead and the counters are left out (they change many times a second).
``--quiet``: nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from tracer.crawl.case import Phase, RunStats, Step
from tracer.crawl.crawler import CrawlProgress


def phase_text(phase: Phase) -> str:
    """How a phase reads on the progress line (the extensions follow mixer links)."""
    if phase.step is Step.READING:
        reading = "reading protocol events"
        return f"round {phase.round}: {reading}" if phase.round else reading
    if phase.step is Step.ANALYSING:
        return f"analysing round {phase.round}"
    if phase.step is Step.FOLLOWING:
        return f"round {phase.round}: following {_count(phase.count, 'link')}"
    return f"round {phase.round}: probing {_count(phase.count, 'address', 'addresses')}"


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


def crawl_text(crawl: CrawlProgress, stats: RunStats) -> str:
    cache = stats.cache
    cached = f", {cache.hits} answers from cache" if cache is not None else ""
    return (
        f"{crawl.done} addresses done, {crawl.queued} queued, {crawl.in_flight} in flight | "
        f"{crawl.transfers} transfers | "
        f"{stats.http_requests} requests ({stats.requests_per_second:.1f}/s){cached}"
    )


class ProgressLine:
    """Receives the case's progress (:meth:`crawl`, :meth:`phase`) and the CLI's own
    steps (:meth:`say`) and shows them as the module docstring says."""

    def __init__(self, console: Console, progress: Progress, task: TaskID, *, quiet: bool):
        self._console = console
        self._progress = progress
        self._task = task
        self._live = console.is_terminal and not quiet
        self._plain = not console.is_terminal and not quiet
        self._said: str | None = None

    def crawl(self, crawl: CrawlProgress, stats: RunStats) -> None:
        if self._live:
            counters = crawl_text(crawl, stats)
            text = counters if self._said is None else f"{self._said} | {counters}"
            self._progress.update(self._task, description=escape(text))

    def phase(self, phase: Phase) -> None:
        self.say(phase_text(phase))

    def say(self, text: str) -> None:
        """A new phase: shown at once (a short one would be missed by the next refresh)."""
        self._said = text
        if self._live:
            self._progress.update(self._task, description=escape(text), refresh=True)
        elif self._plain:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def progress_line(console: Console, *, quiet: bool) -> Iterator[ProgressLine]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    ) as progress:
        task = progress.add_task("starting", total=None)
        yield ProgressLine(console, progress, task, quiet=quiet)
