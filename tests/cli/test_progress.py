"""The progress of ``tracer trace`` off a terminal: one plain line per phase, nothing else;
``--quiet``: nothing. (The live line on a terminal is checked in tests/e2e/test_probes_e2e.py.)"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tracer.cli.progress import phase_text, progress_line
from tracer.crawl.case import Phase, RunStats, Step
from tracer.crawl.crawler import CrawlProgress


def test_phase_wording() -> None:
    assert [
        phase_text(phase)
        for phase in (
            Phase(Step.READING, 0),
            Phase(Step.ANALYSING, 1),
            Phase(Step.FOLLOWING, 1, 1),
            Phase(Step.FOLLOWING, 2, 3),
            Phase(Step.PROBING, 2, 1),
            Phase(Step.PROBING, 3, 40),
            Phase(Step.READING, 3),
        )
    ] == [
        "reading protocol events",
        "analysing round 1",
        "round 1: following 1 link",
        "round 2: following 3 links",
        "round 2: probing 1 address",
        "round 3: probing 40 addresses",
        "round 3: reading protocol events",
    ]


@pytest.mark.parametrize("quiet", [False, True])
def test_off_a_terminal_each_phase_is_one_plain_line(quiet: bool) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=20)
    with progress_line(console, quiet=quiet) as line:
        line.crawl(CrawlProgress(3, 4, 1, 50, 0), RunStats(10, 12, None, 1.0))
        line.phase(Phase(Step.PROBING, 1, 42))
        line.crawl(CrawlProgress(5, 0, 0, 70, 0), RunStats(20, 24, None, 2.0))
        line.say("building the [bold]report[/bold]")
    # Never wrapped (a log line stays whole), markup and counters left out.
    expected = "round 1: probing 42 addresses\nbuilding the [bold]report[/bold]\n"
    assert buffer.getvalue() == ("" if quiet else expected)
