"""Time windows to block windows: ``--since 2024-03-01`` becomes the first block at or after
midnight UTC that day, found by binary search over block timestamps (about 25 header reads on
mainnet; final blocks are cached like any other answer)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

from tracer.errors import InputError


class BlockClock(Protocol):
    async def block_time(self, number: int) -> int: ...


def parse_when(text: str, option: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 date-time (a time
    without an offset is UTC); raises InputError naming ``option``."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {text!r}: expected a date (2024-03-01) or a UTC date-time "
            "(2024-03-01T12:00:00Z)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


async def first_block_at_or_after(clock: BlockClock, when: datetime, head: int) -> int:
    """The first block with a timestamp at or after ``when``; ``head + 1`` if none is.

    Block timestamps never decrease along the chain (consensus rules), so the blocks at or
    after any instant form a suffix, and bisection finds where it starts.
    """
    target = int(when.timestamp())
    low, high = 0, head + 1  # the answer lies in [low, high]
    while low < high:
        middle = (low + high) // 2
        if await clock.block_time(middle) >= target:
            high = middle
        else:
            low = middle + 1
    return low


async def blocks_for_window(
    clock: BlockClock, since: datetime | None, until: datetime | None, head: int
) -> tuple[int | None, int | None]:
    """(first block at or after ``since``, last block before ``until``); None where unset."""
    first = await first_block_at_or_after(clock, since, head) if since is not None else None
    last = await first_block_at_or_after(clock, until, head) - 1 if until is not None else None
    return first, last
