"""Helpers for the HTML case view tests: a real traced case with hostile labels, and Debian's
Chromium driven headless by playwright from the local disk only."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.conftest import Testbed
from tests.e2e.test_offramps_e2e import run_trace

CHROMIUM: Final = Path("/usr/bin/chromium")
# The machine's network is closed: no background requests, no component or sync traffic.
CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
)
# A script, an image with a handler, and tags Plotly itself would render (bold, a link).
HOSTILE: Final = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    '<b>bold</b><a href="https://example.invalid/">link</a>'
)


@dataclass(frozen=True)
class HostileCase:
    directory: Path
    hop: str  # a traced hop wallet whose label and entity are HOSTILE markup
    deposit: str  # an off-ramp (exchange deposit address) whose entity is HOSTILE markup


def trace_hostile_case(testbed: Testbed, out: Path) -> HostileCase:
    """`tracer trace` on the testbed with an extra label file whose names are markup."""
    truth = json.loads((testbed.out_dir / "ground_truth.json").read_text())
    hop = truth["thief"]["peel_chain"][0]["address"]
    deposit = truth["exchanges"][0]["thief_deposit_addresses"][0]["address"]
    labels = out.parent / "hostile-labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["address", "name", "category", "entity", "source"])
        writer.writerow([hop, HOSTILE, "thief", HOSTILE, HOSTILE])
        writer.writerow([deposit, HOSTILE, "exchange_deposit", HOSTILE, HOSTILE])
    result = run_trace(testbed, out, "--labels", str(labels))
    assert result.returncode == 0, result.stderr
    return HostileCase(out, hop, deposit)


@dataclass
class LoadedPage:
    page: Page
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


def open_view(browser: Browser, path: Path) -> LoadedPage:
    """Open the view from disk and wait until the page says it has drawn everything."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    loaded = LoadedPage(page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            loaded.errors.append(message.text)

    def request(sent: Request) -> None:
        loaded.requests.append(sent.url)

    page.on("console", console)
    page.on("pageerror", lambda error: loaded.errors.append(str(error)))
    page.on("request", request)
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready]", timeout=60_000)
    return loaded


def click_centre(page: Page, selector: str) -> None:
    """Click where an SVG point is drawn, as a person would: Plotly clicks the point it last
    hovered (hover is throttled), so leave the plot, hover the point, then click."""
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not drawn"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(1, 1)
    page.wait_for_selector("#graph .hoverlayer .hovertext", state="detached")
    page.mouse.move(x, y, steps=4)
    page.wait_for_selector("#graph .hoverlayer .hovertext")
    page.mouse.click(x, y)
