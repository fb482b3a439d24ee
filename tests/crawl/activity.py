"""Crawlable activity on a real anvil: a fan-out tree of plain ETH transfers.

The seed receives stolen ETH and splits it over ``width`` children, each of which does the
same, ``depth`` levels down: 1 + w + w^2 + ... addresses. Child ``j`` of a parent gets
``(j + 1)`` units, so within a level the child with the highest index holds the most traced
value (taint priority) and the lowest address sorts first (breadth first). Before the theft,
the first level-1 address already paid a *decoy*: money that is not traced, which a crawl
following value forward in time must not reach. Every level is one block, at a known time.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracer.testbed.anvil import AnvilNode
from tracer.testbed.chain import ETH_TRANSFER_GAS, Chain, Tx
from tracer.types import Address

ETH = 10**18
GENESIS = 1_714_521_600  # 2024-05-01T00:00:00Z
BLOCK_SECONDS = 3600  # one block per hour, so dates map to blocks simply


@dataclass(frozen=True)
class Tree:
    seed: Address
    levels: tuple[tuple[Address, ...], ...]  # levels[0] == (seed,)
    amounts: dict[Address, int]  # wei each address received from its parent
    decoy: Address
    theft_block: int
    head: int

    @property
    def addresses(self) -> tuple[Address, ...]:
        return tuple(address for level in self.levels for address in level)


def address(prefix: int, level: int, index: int) -> Address:
    return Address(f"0x{prefix:02x}{level:02x}{index:036x}")


def unit(level: int) -> int:
    """Wei per share at ``level``: small enough that every parent can pay its children."""
    return int(10 ** (20 - 2 * level))


def build_tree(
    node: AnvilNode, *, depth: int = 3, width: int = 5, prefix: int = 0xA0, padding: int = 400
) -> Tree:
    """Build the tree on ``node`` (an anvil started with ``AnvilOptions.for_bulk``).

    ``padding`` empty blocks before the theft make the seed's history longer than anvil's
    300-block ``trace_filter`` cap, so windows get split as on a real provider.
    """
    levels: list[tuple[Address, ...]] = [(address(prefix, 0, 0),)]
    for level in range(1, depth + 1):
        levels.append(tuple(address(prefix, level, i) for i in range(width**level)))
    decoy = address(prefix, 0xDD, 0)
    amounts: dict[Address, int] = {}
    with Chain.of(node) as chain:
        funder = chain.accounts()[0]
        clock = iter(range(GENESIS + BLOCK_SECONDS, GENESIS + 10**7, BLOCK_SECONDS))
        first_child = levels[1][0]
        # Before the theft: the first child is funded and pays the decoy (untraced money).
        chain.send_in_blocks(
            [
                Tx(funder, first_child, ETH, gas=ETH_TRANSFER_GAS),
                Tx(first_child, decoy, ETH // 2, gas=ETH_TRANSFER_GAS),
            ],
            timestamps=clock,
        )
        for _ in range(padding):
            chain.mine(next(clock))
        seed = levels[0][0]
        amounts[seed] = 1000 * ETH
        [mined] = chain.send_in_blocks(
            [Tx(funder, seed, amounts[seed], gas=ETH_TRANSFER_GAS)], timestamps=clock
        )
        for level in range(1, depth + 1):
            txs = []
            for parent_index, parent in enumerate(levels[level - 1]):
                for j in range(width):
                    child = levels[level][parent_index * width + j]
                    amounts[child] = (j + 1) * unit(level)
                    txs.append(Tx(parent, child, amounts[child], gas=ETH_TRANSFER_GAS))
            chain.send_in_blocks(txs, per_block=len(txs), timestamps=clock)
        chain.mine(next(clock))  # one block after the last transfer
        head = chain.block_number()
    return Tree(seed, tuple(levels), amounts, decoy, mined.block_number, head)
