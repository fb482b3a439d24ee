"""Fixtures for the crawl tests: one fan-out tree on a real anvil, shared by a module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.crawl.activity import GENESIS, Tree, build_tree
from tracer.sources.transport import EndpointLimits, Transport
from tracer.testbed.anvil import AnvilNode, AnvilOptions

UNLIMITED = EndpointLimits(requests_per_second=None, max_concurrent=16)


@pytest.fixture(scope="module")
def tree_node() -> Iterator[AnvilNode]:
    """An anvil holding the default tree; read-only for the tests that share it."""
    with AnvilNode(AnvilOptions.for_bulk(genesis_timestamp=GENESIS)) as node:
        yield node


@pytest.fixture(scope="module")
def tree(tree_node: AnvilNode) -> Tree:
    return build_tree(tree_node)


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport() as shared:
        yield shared
