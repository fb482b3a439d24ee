"""Per (address, asset) balance books, one per policy, in exact integers.

Each book tracks an address's *whole* balance of one asset (traced and clean) from the rows the
engine shows it, starting from the opening balance it was given (default zero). An outflow larger
than the tracked balance means history the table lacks: the shortfall is taken as clean value
that was there before (it cannot be traced: traced value only arrives through rows we saw).

``debit`` returns the traced part of an outflow and, for FIFO, the lots it consisted of so the
recipient queues them in the same order.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

Key = tuple[str, str]  # (address, asset key)
Lots = list[list[int]]  # [[amount, traced 0/1], ...] oldest first


class Ledger(Protocol):
    def credit(self, key: Key, amount: int, traced: int, lots: Lots | None) -> None: ...

    def debit(self, key: Key, amount: int) -> tuple[int, Lots | None]: ...

    def traced(self, key: Key) -> int:
        """Traced value the address holds now (poison: its whole balance once tainted)."""
        ...


class HaircutLedger:
    """Proportional: an outflow carries ``floor(amount * traced / balance)``.

    Rounding down leaves the remainder traced in the balance, so received = sent + held holds
    exactly; the remainder leaves with a later outflow or stays held.
    """

    def __init__(self, opening: dict[Key, int]) -> None:
        self._opening = opening
        self._state: dict[Key, list[int]] = {}  # [balance, traced]

    def credit(self, key: Key, amount: int, traced: int, lots: Lots | None) -> None:
        state = self._state.get(key)
        if state is None:
            self._state[key] = [self._opening.get(key, 0) + amount, traced]
        else:
            state[0] += amount
            state[1] += traced

    def debit(self, key: Key, amount: int) -> tuple[int, Lots | None]:
        state = self._state.get(key)
        if state is None:
            state = self._state[key] = [self._opening.get(key, 0), 0]
        balance, traced = state
        balance = max(balance, amount)  # a shortfall is clean history the table lacks
        carried = traced * amount // balance if traced else 0
        state[0] = balance - amount
        state[1] = traced - carried
        return carried, None

    def traced(self, key: Key) -> int:
        state = self._state.get(key)
        return state[1] if state is not None else 0


class PoisonLedger:
    """Everything an address sends while it holds traced value is traced in full.

    The address stays tainted until its tracked balance reaches zero.
    """

    def __init__(self, opening: dict[Key, int]) -> None:
        self._opening = opening
        self._state: dict[Key, list[int]] = {}  # [balance, tainted 0/1]

    def credit(self, key: Key, amount: int, traced: int, lots: Lots | None) -> None:
        state = self._state.get(key)
        if state is None:
            self._state[key] = [self._opening.get(key, 0) + amount, 1 if traced else 0]
        else:
            state[0] += amount
            if traced:
                state[1] = 1

    def debit(self, key: Key, amount: int) -> tuple[int, Lots | None]:
        state = self._state.get(key)
        if state is None:
            state = self._state[key] = [self._opening.get(key, 0), 0]
        carried = amount if state[1] else 0
        state[0] = max(state[0] - amount, 0)
        if state[0] == 0:
            state[1] = 0
        return carried, None

    def traced(self, key: Key) -> int:
        state = self._state.get(key)
        return state[0] if state is not None and state[1] else 0


class FifoLedger:
    """First in, first out: a queue of lots per address and asset, oldest first.

    An inflow's lots join the back of the queue in the order the sender's queue gave them up
    (adjacent lots of the same kind are merged, so a queue stays short). An outflow takes lots
    from the front; a shortfall (history the table lacks) is taken as clean.
    """

    def __init__(self, opening: dict[Key, int]) -> None:
        self._opening = opening
        self._state: dict[Key, tuple[deque[list[int]], list[int]]] = {}  # (lots, [traced])

    def _get(self, key: Key) -> tuple[deque[list[int]], list[int]]:
        state = self._state.get(key)
        if state is None:
            opening = self._opening.get(key, 0)
            state = self._state[key] = (deque([[opening, 0]] if opening else []), [0])
        return state

    def credit(self, key: Key, amount: int, traced: int, lots: Lots | None) -> None:
        queue, total = self._get(key)
        if lots is None:
            if traced == 0:
                lots = [[amount, 0]]
            elif traced == amount:
                lots = [[amount, 1]]
            else:  # a converted inflow: its traced part first (documented in the engine)
                lots = [[traced, 1], [amount - traced, 0]]
        for lot_amount, flag in lots:
            if queue and queue[-1][1] == flag:
                queue[-1][0] += lot_amount
            else:
                queue.append([lot_amount, flag])
        total[0] += traced

    def debit(self, key: Key, amount: int) -> tuple[int, Lots | None]:
        queue, total = self._get(key)
        taken: Lots = []
        carried = 0
        remaining = amount
        while remaining and queue:
            head = queue[0]
            part = head[0] if head[0] <= remaining else remaining
            if taken and taken[-1][1] == head[1]:
                taken[-1][0] += part
            else:
                taken.append([part, head[1]])
            if head[1]:
                carried += part
            remaining -= part
            if part == head[0]:
                queue.popleft()
            else:
                head[0] -= part
        if remaining:  # more than the tracked balance: clean history the table lacks
            if taken and taken[-1][1] == 0:
                taken[-1][0] += remaining
            else:
                taken.append([remaining, 0])
        total[0] -= carried
        return carried, taken

    def traced(self, key: Key) -> int:
        state = self._state.get(key)
        return state[1][0] if state is not None else 0
