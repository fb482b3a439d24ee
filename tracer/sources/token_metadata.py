"""Token symbols, names and decimals, read from the token contracts with ``eth_call``.

Transfer logs carry raw amounts only. For each token contract this asks ``decimals()``,
``symbol()`` and ``name()`` at one block (the case's last block, so a re-run asks the same
question), three calls per token in JSON-RPC batches through the source's client, and hands
the answers to the pure decoders in :mod:`tracer.transfers.token_metadata`.

* **Cache**: the three outcomes of a token are one entry of the source's answer cache, keyed
  by (chain id, ``tracer:token_metadata``, token, block), stored once the block is final
  (at least ``confirmations`` below the head). The raw answers are stored, not the decoded
  values, so a cached case is decoded by the current rules. An answer over
  :data:`~tracer.transfers.token_metadata.MAX_ANSWER_BYTES` is replaced by its size: no real
  symbol needs it, and a hostile token must not fill the cache.
* **Reverts are answers**: a token without ``decimals()`` reverts, and that is final too.
  A revert is known by its JSON-RPC code 3 (geth and Erigon when the revert carries data;
  anvil and reth always). Other errors (geth answers an empty revert with -32000, as it does
  "missing trie node" on a pruned node) may be the node's and not the token's: the value is
  left unknown and the token is not cached, so another case asks again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from tracer.errors import RpcError
from tracer.sources.cache import FOREVER, MISS, CacheEntry
from tracer.sources.jsonrpc import JsonRpcSource
from tracer.sources.rpcclient import RpcCall
from tracer.sources.transport import request_key
from tracer.transfers.token_metadata import (
    FUNCTIONS,
    MAX_ANSWER_BYTES,
    Outcome,
    TokenFacts,
    decode_token,
)
from tracer.types import parse_address

# The cache entry holding one token's three outcomes (not a node method).
CACHE_METHOD: Final = "tracer:token_metadata"
REVERT_CODES: Final = frozenset({3})


async def read_token_metadata(
    source: JsonRpcSource, tokens: Iterable[str], block: int
) -> dict[str, TokenFacts]:
    """Facts of every token in ``tokens`` as of ``block``: from the cache, else asked."""
    wanted: list[str] = sorted({parse_address(token) for token in tokens})
    if not wanted:
        return {}
    chain_id = await source.chain_id()
    keys = {token: request_key(chain_id, CACHE_METHOD, [token, hex(block)]) for token in wanted}
    cache = source.cache
    cached = cache.get_many(list(keys.values())) if cache is not None else [MISS] * len(keys)
    outcomes: dict[str, Mapping[str, Outcome]] = {
        token: answer for token, answer in zip(wanted, cached, strict=True) if _complete(answer)
    }
    missing = [token for token in wanted if token not in outcomes]
    if missing:
        asked = await _ask(source, missing, block)
        outcomes.update(asked)
        head = source.known_head
        if cache is not None and head is not None and block <= head - source.confirmations:
            cache.put_many(
                CacheEntry(keys[token], chain_id, CACHE_METHOD, FOREVER, dict(answers))
                for token, answers in asked.items()
                if not any("error" in outcome for outcome in answers.values())
            )
    return {token: decode_token(token, outcomes[token]) for token in wanted}


async def _ask(
    source: JsonRpcSource, tokens: list[str], block: int
) -> dict[str, dict[str, Outcome]]:
    # Checks a chain id taken on trust before anything else is sent, and gives the head
    # that decides which answers are final.
    await source.head_block()
    calls = [
        RpcCall("eth_call", [{"to": token, "data": selector}, hex(block)])
        for token in tokens
        for selector in FUNCTIONS.values()
    ]
    answers = iter(await source.client.batch_settled(calls))
    return {token: {name: outcome_of(next(answers)) for name in FUNCTIONS} for token in tokens}


def outcome_of(answer: Any) -> Outcome:
    """One batch item's answer (a result, or the :class:`RpcError` in its place) in the form
    the decoders read and the cache stores."""
    if isinstance(answer, RpcError):
        return {"revert" if answer.code in REVERT_CODES else "error": answer.code}
    if isinstance(answer, str) and len(answer) > 2 + 2 * MAX_ANSWER_BYTES:
        return {"oversized": (len(answer) - 2) // 2}
    return {"result": answer}


def _complete(entry: Any) -> bool:
    """A cached entry with an outcome for every function (else it is asked again)."""
    return isinstance(entry, dict) and all(isinstance(entry.get(name), dict) for name in FUNCTIONS)
