"""``--all-chains``: is a seed active on each configured chain?

An address has the same form on every EVM chain, and launderers hop chains, so the first
question about a seed is where it was used. For every chain of ``configs/chains.toml`` with
an RPC URL in ``TRACER_RPC_URL_<NAME>`` (``TRACER_RPC_URL_ETHEREUM``, ``TRACER_RPC_URL_BSC``,
...) one batch asks the node for its chain id and, at the head, the address's nonce
(transactions sent), native balance and code. An address that only ever *received* tokens
has none of these, so a chain reported inactive may still hold token transfers: trace it
with ``--chain`` to be sure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tracer.chains import Chain, registry
from tracer.errors import SourceError
from tracer.sources.rpcclient import JsonRpcClient, RpcCall
from tracer.types import Address

ENV_PREFIX = "TRACER_RPC_URL_"


@dataclass(frozen=True, slots=True)
class ChainActivity:
    chain: Chain
    endpoint: str  # redacted URL
    nonce: int | None = None
    balance_raw: int | None = None
    has_code: bool | None = None
    error: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.nonce) or bool(self.balance_raw) or bool(self.has_code)

    def to_json(self) -> dict[str, object]:
        return {
            "chain": self.chain.name,
            "chain_id": self.chain.chain_id,
            "endpoint": self.endpoint,
            "active": self.active,
            "nonce": self.nonce,
            "balance_raw": None if self.balance_raw is None else str(self.balance_raw),
            "has_code": self.has_code,
            "error": self.error,
        }


def env_name(chain: Chain) -> str:
    return ENV_PREFIX + chain.name.upper().replace("-", "_")


def configured_chains(environ: Mapping[str, str] | None = None) -> list[tuple[Chain, str]]:
    """(chain, RPC URL) for every registered chain with ``TRACER_RPC_URL_<NAME>`` set."""
    env = os.environ if environ is None else environ
    return [(chain, env[env_name(chain)]) for chain in registry() if env.get(env_name(chain))]


async def probe_address(client: JsonRpcClient, chain: Chain, address: Address) -> ChainActivity:
    """One batch: chain id, nonce, balance and code of ``address`` at the head."""
    where = client.endpoint.display
    try:
        chain_id, nonce, balance, code = await client.batch(
            [
                RpcCall("eth_chainId"),
                RpcCall("eth_getTransactionCount", [address, "latest"]),
                RpcCall("eth_getBalance", [address, "latest"]),
                RpcCall("eth_getCode", [address, "latest"]),
            ]
        )
        if _int(chain_id) != chain.chain_id:
            raise SourceError(
                f"{client.endpoint.where} serves chain id {_int(chain_id)}, not "
                f"{chain.name}'s {chain.chain_id}; check {env_name(chain)}"
            )
        return ChainActivity(
            chain,
            where,
            nonce=_int(nonce),
            balance_raw=_int(balance),
            has_code=isinstance(code, str) and code not in ("0x", "0x0", ""),
        )
    except SourceError as exc:
        return ChainActivity(chain, where, error=str(exc))


def _int(value: object) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise SourceError(f"expected a hex quantity, got {str(value)[:40]!r}")
