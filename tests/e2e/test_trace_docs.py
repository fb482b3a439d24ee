"""Every option of `tracer trace` is documented in the README, and the keys the crawl adds
to the report are shown in the README's report example."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import get_args, get_type_hints

from typer.models import OptionInfo

from tracer.cli import trace

README = Path(__file__).resolve().parents[2] / "README.md"


def trace_options() -> list[str]:
    """The long option names of ``tracer trace``, from the command's signature."""
    hints = get_type_hints(trace.trace, include_extras=True)
    names: list[str] = []
    for parameter in inspect.signature(trace.trace).parameters:
        info = next((a for a in get_args(hints[parameter]) if isinstance(a, OptionInfo)), None)
        if info is None:
            continue  # an argument (the seeds)
        declared = [d for d in info.param_decls or () if d.startswith("--")]
        names += declared or ["--" + parameter.replace("_", "-")]
    return names


def test_every_trace_option_is_in_the_readme() -> None:
    options = trace_options()
    assert {"--rpc-url", "--frontier", "--cache", "--all-chains", "--since"} <= set(options)
    readme = README.read_text()
    missing = [name for name in options if f"`{name}" not in readme and f" {name}" not in readme]
    assert not missing, f"undocumented tracer trace options: {missing}"


def test_the_crawl_report_keys_are_in_the_readme() -> None:
    readme = README.read_text()
    for key in ('"trace_path"', '"gaps"', '"window"', "checkpoint.sqlite", "cache.sqlite"):
        assert key in readme, key
