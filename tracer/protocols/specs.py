"""Protocol knowledge as frozen data: the events the tracing engine reads, and known contracts.

Nothing here decides anything; :mod:`tracer.protocols.events` interprets these specs. Adding
a protocol (a real bridge, another DEX) means adding an :class:`EventSpec` here, not code:

* ``signature`` is the canonical event signature; ``topic0`` is keccak256 of it, computed
  (never typed in) and pinned to the well-known value in ``tests/protocols/test_specs.py``.
* ``args`` lists every argument in declaration order with its ABI type, whether it is
  indexed (then it is a topic, else a word of ``data``) and the column of the events table
  it fills (``None``: decoded for validation, then dropped).
* ``contracts``: ``None`` means the event is recognised at *any* address by its signature
  alone (Tornado-style pools, Uniswap pairs, the testbed bridge are found that way); a set
  of addresses restricts it (a real bridge whose signature is too generic to trust).
* ``constants`` fill columns the event does not carry (a bridge that only goes to one
  chain, an ETH-only bridge's token).
* ``account_is_tx_sender``: the event does not name the account and the transaction's
  sender is taken instead (Tornado's ``Deposit``).

Two specs may share a ``topic0`` only if their indexed-argument counts differ (a log's
topic count then tells them apart); the decoder checks both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Final

from tracer.transfers.topics import event_topic
from tracer.types import NATIVE_TOKEN, Address


class EventKind(StrEnum):
    """What a decoded protocol event means for tracing (the ``event`` column)."""

    MIXER_DEPOSIT = "mixer_deposit"
    MIXER_WITHDRAWAL = "mixer_withdrawal"
    SWAP_V2 = "swap_v2"
    SWAP_V3 = "swap_v3"
    WRAP = "wrap"
    UNWRAP = "unwrap"
    BRIDGE_DEPOSIT = "bridge_deposit"


class Column(StrEnum):
    """Columns of the events table an event argument (or constant) can fill."""

    ACCOUNT = "account"  # depositor, withdrawal recipient, swap/wrap/bridge sender
    COUNTERPARTY = "counterparty"  # relayer, swap recipient, bridge recipient
    COMMITMENT_OR_NULLIFIER = "commitment_or_nullifier"
    AMOUNT_RAW = "amount_raw"
    FEE_RAW = "fee_raw"
    AMOUNT0_IN = "amount0_in"
    AMOUNT1_IN = "amount1_in"
    AMOUNT0_OUT = "amount0_out"
    AMOUNT1_OUT = "amount1_out"
    AMOUNT0 = "amount0"  # signed (Uniswap V3: positive flows into the pool)
    AMOUNT1 = "amount1"
    SQRT_PRICE_X96 = "sqrt_price_x96"
    LIQUIDITY = "liquidity"
    TICK = "tick"
    LEAF_INDEX = "leaf_index"
    EVENT_TIMESTAMP = "event_timestamp"  # a time the contract itself recorded
    DESTINATION_CHAIN_ID = "destination_chain_id"
    TOKEN_ADDRESS = "token_address"  # noqa: S105 (a column name)
    NONCE_RAW = "nonce_raw"


@dataclass(frozen=True, slots=True)
class EventArg:
    name: str
    abi_type: str
    indexed: bool
    column: Column | None


@dataclass(frozen=True, slots=True)
class EventSpec:
    kind: EventKind
    protocol: str  # family name, e.g. "tornado", "uniswap_v2", "bridge:testbed"
    name: str
    args: tuple[EventArg, ...]
    contracts: frozenset[Address] | None = None  # None: any emitting address
    constants: tuple[tuple[Column, str | int], ...] = ()
    account_is_tx_sender: bool = False
    signature: str = field(init=False)
    topic0: str = field(init=False)

    def __post_init__(self) -> None:
        # Derived, not typed in: a signature and its topic can never disagree.
        signature = f"{self.name}({','.join(arg.abi_type for arg in self.args)})"
        object.__setattr__(self, "signature", signature)
        object.__setattr__(self, "topic0", event_topic(signature))


def _arg(name: str, abi_type: str, column: Column | None, *, indexed: bool = False) -> EventArg:
    return EventArg(name, abi_type, indexed, column)


TORNADO_DEPOSIT: Final = EventSpec(
    kind=EventKind.MIXER_DEPOSIT,
    protocol="tornado",
    name="Deposit",
    args=(
        _arg("commitment", "bytes32", Column.COMMITMENT_OR_NULLIFIER, indexed=True),
        _arg("leafIndex", "uint32", Column.LEAF_INDEX),
        _arg("timestamp", "uint256", Column.EVENT_TIMESTAMP),
    ),
    # The pool is called by the depositor or through Tornado's router: the event does not
    # say who deposited, the transaction's sender did.
    account_is_tx_sender=True,
)

TORNADO_WITHDRAWAL: Final = EventSpec(
    kind=EventKind.MIXER_WITHDRAWAL,
    protocol="tornado",
    name="Withdrawal",
    args=(
        _arg("to", "address", Column.ACCOUNT),
        _arg("nullifierHash", "bytes32", Column.COMMITMENT_OR_NULLIFIER),
        _arg("relayer", "address", Column.COUNTERPARTY, indexed=True),
        _arg("fee", "uint256", Column.FEE_RAW),
    ),
)

UNISWAP_V2_SWAP: Final = EventSpec(
    kind=EventKind.SWAP_V2,
    protocol="uniswap_v2",
    name="Swap",
    args=(
        _arg("sender", "address", Column.ACCOUNT, indexed=True),
        _arg("amount0In", "uint256", Column.AMOUNT0_IN),
        _arg("amount1In", "uint256", Column.AMOUNT1_IN),
        _arg("amount0Out", "uint256", Column.AMOUNT0_OUT),
        _arg("amount1Out", "uint256", Column.AMOUNT1_OUT),
        _arg("to", "address", Column.COUNTERPARTY, indexed=True),
    ),
)

UNISWAP_V3_SWAP: Final = EventSpec(
    kind=EventKind.SWAP_V3,
    protocol="uniswap_v3",
    name="Swap",
    args=(
        _arg("sender", "address", Column.ACCOUNT, indexed=True),
        _arg("recipient", "address", Column.COUNTERPARTY, indexed=True),
        _arg("amount0", "int256", Column.AMOUNT0),
        _arg("amount1", "int256", Column.AMOUNT1),
        _arg("sqrtPriceX96", "uint160", Column.SQRT_PRICE_X96),
        _arg("liquidity", "uint128", Column.LIQUIDITY),
        _arg("tick", "int24", Column.TICK),
    ),
)

# WETH9's events. ``Deposit(address,uint256)`` is a common signature (vaults use it too), so
# consumers must check ``contract_address`` against the chain's wrapped native token
# (tracer.chains) before reading a row as ETH being wrapped.
WETH_DEPOSIT: Final = EventSpec(
    kind=EventKind.WRAP,
    protocol="weth",
    name="Deposit",
    args=(
        _arg("dst", "address", Column.ACCOUNT, indexed=True),
        _arg("wad", "uint256", Column.AMOUNT_RAW),
    ),
)

WETH_WITHDRAWAL: Final = EventSpec(
    kind=EventKind.UNWRAP,
    protocol="weth",
    name="Withdrawal",
    args=(
        _arg("src", "address", Column.ACCOUNT, indexed=True),
        _arg("wad", "uint256", Column.AMOUNT_RAW),
    ),
)

# The local testbed's bridge (docs/testbed-contracts.md); token 0xeeee... means ETH.
TESTBED_BRIDGE_DEPOSIT: Final = EventSpec(
    kind=EventKind.BRIDGE_DEPOSIT,
    protocol="bridge:testbed",
    name="BridgeDeposit",
    args=(
        _arg("sender", "address", Column.ACCOUNT, indexed=True),
        _arg("recipient", "address", Column.COUNTERPARTY, indexed=True),
        _arg("destinationChainId", "uint256", Column.DESTINATION_CHAIN_ID, indexed=True),
        _arg("token", "address", Column.TOKEN_ADDRESS),
        _arg("amount", "uint256", Column.AMOUNT_RAW),
        _arg("nonce", "uint256", Column.NONCE_RAW),
    ),
)

#: Every spec the decoders know, in a fixed order.
PROTOCOL_EVENTS: Final[tuple[EventSpec, ...]] = (
    TORNADO_DEPOSIT,
    TORNADO_WITHDRAWAL,
    UNISWAP_V2_SWAP,
    UNISWAP_V3_SWAP,
    WETH_DEPOSIT,
    WETH_WITHDRAWAL,
    TESTBED_BRIDGE_DEPOSIT,
)

#: The events that make an address a mixer pool, whatever its labels say.
MIXER_POOL_EVENTS: Final[tuple[EventSpec, ...]] = (TORNADO_DEPOSIT, TORNADO_WITHDRAWAL)


@dataclass(frozen=True, slots=True)
class MixerPool:
    chain_id: int
    address: Address
    denomination_raw: int  # in the asset's base units (wei)
    asset: Address  # NATIVE_TOKEN for ETH pools
    name: str


def _eth_pool(address: str, ether: str) -> MixerPool:
    wei = int(Decimal(ether).scaleb(18))
    return MixerPool(1, Address(address.lower()), wei, NATIVE_TOKEN, f"Tornado Cash {ether} ETH")


# Ethereum mainnet, verified against the tornadocash repositories (/work/shared/data/README.md).
TORNADO_ETH_POOLS: Final[tuple[MixerPool, ...]] = (
    _eth_pool("0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc", "0.1"),
    _eth_pool("0x47CE0C6eD5B0Ce3d3A51fdb1C52DC66a7c3c2936", "1"),
    _eth_pool("0x910Cbd523D972eb0a6f4cAe4618aD62622b39DbF", "10"),
    _eth_pool("0xA160cdAB225685dA1d56aa342Ad8841c3b53f291", "100"),
)
TORNADO_ROUTER: Final = Address("0xd90e2f925DA726b50C4Ed8D0Fb90Ad053324F31b".lower())
