"""Shared fixtures: a real local EVM node (anvil) on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tracer.testbed.anvil import AnvilNode, AnvilOptions
from tracer.testbed.build import BuiltScenario, build_scenario, node_options
from tracer.testbed.chain import Chain


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    """A fresh anvil (automine) for one test; stopped and its cache deleted afterwards."""
    with AnvilNode(AnvilOptions()) as node:
        yield node


@dataclass(frozen=True)
class Testbed:
    """A node holding a built laundering scenario; ``out_dir`` has ground_truth.json and
    labels.csv. Shared by a whole session: read from it, never send transactions to it."""

    node: AnvilNode
    built: BuiltScenario
    out_dir: Path

    __test__ = False  # not a test class

    @property
    def url(self) -> str:
        return self.node.url


def _testbed(tmp_path_factory: pytest.TempPathFactory, scale: str, seed: int) -> Iterator[Testbed]:
    out_dir = tmp_path_factory.mktemp(f"testbed-{scale}-{seed}")
    with AnvilNode(node_options()) as node, Chain(node.url) as chain:
        built = build_scenario(chain, seed, scale, out_dir=out_dir)
        yield Testbed(node, built, out_dir)


@pytest.fixture(scope="session")
def testbed_small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    """The small laundering scenario (seed 1), built once per session (about a second)."""
    yield from _testbed(tmp_path_factory, "small", 1)


@pytest.fixture(scope="session")
def testbed_large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    """The large scenario (seed 1, 100,000+ transfers), built once per session (about 45 s).
    Tests using it are marked ``large``."""
    yield from _testbed(tmp_path_factory, "large", 1)
