"""Fixtures for the source tests: a transport with short timeouts and quick retries."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from tracer.sources.transport import EndpointLimits, RetryPolicy, Timeouts, Transport

# Real back-off shapes, scaled down so a test with a dozen injected faults takes milliseconds.
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, max_retry_after=10.0)
# The proxy stalls for 5 s; the client gives up on silence after 0.3 s.
SHORT_TIMEOUTS = Timeouts(connect=2.0, read=0.3, total=10.0)
UNLIMITED = EndpointLimits(requests_per_second=None, max_concurrent=16)


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport(timeouts=SHORT_TIMEOUTS, retry=FAST_RETRY, rng=random.Random(7)) as shared:
        yield shared
