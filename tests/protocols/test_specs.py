"""Protocol specs: topic hashes pinned to their well-known values, signatures checked
against the testbed contracts' compiled ABIs, mainnet pools as published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracer.protocols.specs import (
    PROTOCOL_EVENTS,
    TESTBED_BRIDGE_DEPOSIT,
    TORNADO_DEPOSIT,
    TORNADO_ETH_POOLS,
    TORNADO_ROUTER,
    TORNADO_WITHDRAWAL,
    UNISWAP_V2_SWAP,
    UNISWAP_V3_SWAP,
    WETH_DEPOSIT,
    WETH_WITHDRAWAL,
    EventSpec,
)

BUILD = Path(__file__).parents[2] / "fixtures" / "contracts" / "build"

# Well-known topic0 values (as printed by Etherscan for the mainnet contracts).
PINNED = {
    TORNADO_DEPOSIT: "0xa945e51eec50ab98c161376f0db4cf2aeba3ec92755fe2fcd388bdbbb80ff196",
    TORNADO_WITHDRAWAL: "0xe9e508bad6d4c3227e881ca19068f099da81b5164dd6d62b2eaf1e8bc6c34931",
    UNISWAP_V2_SWAP: "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822",
    UNISWAP_V3_SWAP: "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67",
    WETH_DEPOSIT: "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c",
    WETH_WITHDRAWAL: "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65",
    TESTBED_BRIDGE_DEPOSIT: "0xdfa0c9381c62e68a7264139de30096c0183faa468b50417d50483188b11958b0",
}


def test_topics_are_pinned() -> None:
    assert set(PINNED) == set(PROTOCOL_EVENTS)
    for spec, topic in PINNED.items():
        assert spec.topic0 == topic, spec.signature
    assert TORNADO_DEPOSIT.signature == "Deposit(bytes32,uint32,uint256)"
    assert TORNADO_WITHDRAWAL.signature == "Withdrawal(address,bytes32,address,uint256)"


@pytest.mark.parametrize(
    ("contract", "spec"),
    [
        ("TornadoPool", TORNADO_DEPOSIT),
        ("TornadoPool", TORNADO_WITHDRAWAL),
        ("UniswapV2Pair", UNISWAP_V2_SWAP),
        ("WETH9", WETH_DEPOSIT),
        ("WETH9", WETH_WITHDRAWAL),
        ("Bridge", TESTBED_BRIDGE_DEPOSIT),
    ],
)
def test_specs_match_the_testbed_abis(contract: str, spec: EventSpec) -> None:
    abi = json.loads((BUILD / f"{contract}.json").read_text())["abi"]
    [event] = [
        item
        for item in abi
        if item["type"] == "event"
        and item["name"] == spec.name
        and len(item["inputs"]) == len(spec.args)
    ]
    assert [(i["name"], i["type"], i["indexed"]) for i in event["inputs"]] == [
        (arg.name, arg.abi_type, arg.indexed) for arg in spec.args
    ]


def test_known_tornado_pools() -> None:
    assert [(pool.address, pool.denomination_raw) for pool in TORNADO_ETH_POOLS] == [
        ("0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc", 10**17),
        ("0x47ce0c6ed5b0ce3d3a51fdb1c52dc66a7c3c2936", 10**18),
        ("0x910cbd523d972eb0a6f4cae4618ad62622b39dbf", 10**19),
        ("0xa160cdab225685da1d56aa342ad8841c3b53f291", 10**20),
    ]
    assert TORNADO_ROUTER == "0xd90e2f925da726b50c4ed8d0fb90ad053324f31b"
    assert all(pool.chain_id == 1 for pool in TORNADO_ETH_POOLS)
