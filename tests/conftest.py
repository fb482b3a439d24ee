"""Shared fixtures: a real local EVM node (anvil) on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tracer.testbed.anvil import AnvilNode, AnvilOptions


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    """A fresh anvil (automine) for one test; stopped and its cache deleted afterwards."""
    with AnvilNode(AnvilOptions()) as node:
        yield node
