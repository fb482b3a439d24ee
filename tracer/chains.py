"""Protocol facts per chain, read once from ``configs/chains.toml`` into frozen records."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tracer.errors import InputFileError, UnknownNameError
from tracer.types import Address, parse_address

CHAINS_FILE = Path(__file__).resolve().parents[1] / "configs" / "chains.toml"
_FIELDS = {
    "chain_id",
    "native_symbol",
    "wrapped_native",
    "explorer_chain_id",
    "rpc_rps",
    "rpc_concurrency",
    "explorer_rps",
    "explorer_concurrency",
    "aliases",
}


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    chain_id: int
    native_symbol: str
    wrapped_native: Address | None
    explorer_chain_id: int
    rpc_rps: float
    rpc_concurrency: int
    explorer_rps: float
    explorer_concurrency: int
    aliases: tuple[str, ...] = ()


@cache
def registry(path: Path = CHAINS_FILE) -> tuple[Chain, ...]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(path, f"cannot read chain registry: {exc}") from exc
    return tuple(_chain(name, spec, path) for name, spec in document.get("chains", {}).items())


def _chain(name: str, spec: dict[str, Any], path: Path) -> Chain:
    unknown = set(spec) - _FIELDS
    if unknown:
        raise InputFileError(path, f"chain {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        wrapped = spec.get("wrapped_native")
        return Chain(
            name=name,
            chain_id=int(spec["chain_id"]),
            native_symbol=str(spec["native_symbol"]),
            wrapped_native=parse_address(wrapped) if wrapped else None,
            explorer_chain_id=int(spec.get("explorer_chain_id", spec["chain_id"])),
            rpc_rps=float(spec["rpc_rps"]),
            rpc_concurrency=int(spec["rpc_concurrency"]),
            explorer_rps=float(spec["explorer_rps"]),
            explorer_concurrency=int(spec["explorer_concurrency"]),
            aliases=tuple(spec.get("aliases", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputFileError(path, f"chain {name!r}: bad or missing value: {exc}") from exc


def chain_by_name(name: str) -> Chain:
    wanted = name.strip().lower()
    names: dict[str, Chain] = {}
    for chain in registry():
        names[chain.name] = chain
        for alias in chain.aliases:
            names[alias] = chain
    if wanted in names:
        return names[wanted]
    raise UnknownNameError("chain", name, [chain.name for chain in registry()])


def chain_by_id(chain_id: int) -> Chain | None:
    return next((chain for chain in registry() if chain.chain_id == chain_id), None)
