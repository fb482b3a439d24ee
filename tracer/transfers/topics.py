"""Event signatures whose logs move tokens: protocol knowledge kept as data.

A log's first topic is keccak256 of the event's canonical signature. The constants are
computed from the signatures here (so a typo in a hex literal cannot creep in) and pinned to
their well-known values in ``tests/unit/test_from_rpc.py`` (so a typo in a signature cannot
either).
"""

from __future__ import annotations

from typing import Final

from eth_hash.auto import keccak


def event_topic(signature: str) -> str:
    """Topic 0 of an event, as lowercase 0x-hex: keccak256 of its canonical signature."""
    return "0x" + keccak(signature.encode("ascii")).hex()


# ERC-20 and ERC-721 share one signature; they differ in how many arguments are indexed:
# ERC-20 indexes from and to (3 topics, the amount in data), ERC-721 also the token id (4 topics).
TRANSFER_SIGNATURE: Final = "Transfer(address,address,uint256)"
# ERC-1155: operator, from and to are indexed; ids and amounts are in data.
TRANSFER_SINGLE_SIGNATURE: Final = "TransferSingle(address,address,address,uint256,uint256)"
TRANSFER_BATCH_SIGNATURE: Final = "TransferBatch(address,address,address,uint256[],uint256[])"

TRANSFER_TOPIC: Final = event_topic(TRANSFER_SIGNATURE)
TRANSFER_SINGLE_TOPIC: Final = event_topic(TRANSFER_SINGLE_SIGNATURE)
TRANSFER_BATCH_TOPIC: Final = event_topic(TRANSFER_BATCH_SIGNATURE)

TOKEN_TRANSFER_TOPICS: Final = frozenset(
    {TRANSFER_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC}
)
