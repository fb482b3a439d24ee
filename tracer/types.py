"""Canonical address and hash types.

These are the only canonicalisers in tracer. Inside the program every address and hash is
lowercase 0x-hex (so comparisons never depend on case); EIP-55 checksums are applied on
display only. Mixed-case input must carry a valid EIP-55 checksum: a wrong checksum usually
means a typo, and tracing the wrong address is worse than refusing.
"""

from __future__ import annotations

import re
from typing import NewType

from eth_hash.auto import keccak

from tracer.errors import InvalidAddressError, InvalidTxHashError

Address = NewType("Address", str)
TxHash = NewType("TxHash", str)
ChainId = NewType("ChainId", int)

_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TX_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")

# The conventional placeholder for a chain's native asset in token_address columns
# (used by 1inch, 0x, Li.Fi and others); it is not a deployed contract on any major chain.
NATIVE_TOKEN = Address("0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
ZERO_ADDRESS = Address("0x0000000000000000000000000000000000000000")


def _checksum_of_lower(lower_hex40: str) -> str:
    digest = keccak(lower_hex40.encode("ascii")).hex()
    return "".join(
        char.upper() if char.isalpha() and int(digest[i], 16) >= 8 else char
        for i, char in enumerate(lower_hex40)
    )


def parse_address(text: str) -> Address:
    """Validate user or network input and return the canonical lowercase address."""
    candidate = text.strip()
    if not _ADDRESS_RE.match(candidate):
        shown = candidate if len(candidate) <= 50 else candidate[:47] + "..."
        raise InvalidAddressError(
            f"invalid address {shown!r}: expected 0x followed by 40 hex digits"
        )
    body = candidate[2:]
    if body != body.lower() and body != body.upper() and _checksum_of_lower(body.lower()) != body:
        raise InvalidAddressError(
            f"invalid address {candidate}: mixed case but the EIP-55 checksum does not match "
            f"(expected {to_checksum_address(Address('0x' + body.lower()))}); check for a typo"
        )
    return Address("0x" + body.lower())


def to_checksum_address(address: Address | str) -> str:
    """EIP-55 form of an address, for display."""
    return "0x" + _checksum_of_lower(address[2:].lower())


def parse_tx_hash(text: str) -> TxHash:
    """Validate and canonicalise a transaction hash."""
    candidate = text.strip()
    if not _TX_HASH_RE.match(candidate):
        raise InvalidTxHashError(
            f"invalid transaction hash {candidate[:80]!r}: expected 0x followed by 64 hex digits"
        )
    return TxHash(candidate.lower())


def address_from_topic(topic: str) -> Address:
    """The address held in the low 20 bytes of a 32-byte log topic."""
    return Address("0x" + topic[-40:].lower())
