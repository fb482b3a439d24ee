"""``tracer trace`` as the live tests run it: limits from the environment, quiet, the URL
(which may carry a provider key) only on the command line, never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def live_trace(
    seeds: Sequence[str],
    rpc_url: str,
    out: Path,
    options: Sequence[str],
    *,
    max_hops: str = "4",
    max_addresses: str = "2000",
) -> subprocess.CompletedProcess[str]:
    """Run the trace; ``TRACER_LIVE_MAX_HOPS``, ``TRACER_LIVE_MAX_ADDRESSES`` and
    ``TRACER_LIVE_RPS`` override the limits."""
    return subprocess.run(
        [
            sys.executable, "-m", "tracer", "trace", *seeds,
            "--rpc-url", rpc_url,
            *options,
            "--max-hops", os.environ.get("TRACER_LIVE_MAX_HOPS", max_hops),
            "--max-addresses", os.environ.get("TRACER_LIVE_MAX_ADDRESSES", max_addresses),
            "--rps", os.environ.get("TRACER_LIVE_RPS", "10"),
            "--out", str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
