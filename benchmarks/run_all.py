"""Run every benchmark, one after the other (what ``make bench`` does).

    .venv/bin/python -m benchmarks.run_all [--only NAME ...]

Each benchmark is its own process (a crash or a memory peak stays its own) and prints its
figures; ``benchmarks/README.md`` records them. The list is explicit, so a new benchmark is
added here on purpose; modules not present in this checkout are reported and skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from collections.abc import Sequence

BENCHMARKS = (
    "build_scenario",  # scenario build time and anvil memory (testbed)
    "explorer_rate",  # explorer source against a rate-limited explorer
    "labels",  # loading label packs, labelling tables, screening, exposure
    "crawl",  # tracer's crawl vs. cryo; warm-cache re-run; peak memory
    "hops",  # hop depth spent per --max-hops; cost and recall of following the mixer
    "taint",  # graph build + taint policies on 1M/10M synthetic rows vs. networkx-only haircut
    "reports",  # off-ramp paths and the case documents on a 1M-row synthetic case
    "export",  # a 100,000-edge traced graph exported to every format: time and size
    "html_view",  # HTML case view: write time, file size, load time in headless Chromium
    "monitor",  # one monitor pass over 100 new blocks with 10 / 1,000 / 10,000 watched addresses
    "token_metadata",  # decimals()/symbol()/name() of 1,000 tokens, cold and cached; table fill
    "analysis",  # the whole analyse_case on 1M/10M synthetic case tables vs. networkx haircut
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__)
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run just these")
    args = parser.parse_args(argv)
    failed: list[str] = []
    for name in args.only or BENCHMARKS:
        module = f"benchmarks.{name}"
        if importlib.util.find_spec(module) is None:
            print(f"== {name}: not in this checkout, skipped", flush=True)
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        code = subprocess.run([sys.executable, "-m", module], check=False).returncode
        print(f"== {name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
