"""``python -m tracer`` is the same as the ``tracer`` command."""

from tracer.cli.main import run

run()
