"""The laundering scenario of the local-chain testbed, as a pure and deterministic plan.

:func:`make_plan` turns ``(seed, scale)`` into everything the builder will do, using
``random.Random(seed)`` and nothing else (no clock, no node): the actors (fresh addresses derived
from the seed), the contracts and the addresses they will be deployed at, the balances set
before the first block, and every transaction with its time, sender, gas price and amounts,
grouped into blocks. Executing it is :mod:`tracer.testbed.build`'s job; turning plan plus
execution into ground truth is :mod:`tracer.testbed.ground_truth`'s.

The story (a DPRK-style theft) and the rules that keep its ground truth unambiguous:

* a victim pays the thief's seed wallet ETH and tUSD; the seed splits the loot into a peel chain,
  split wallets that deposit into Tornado-style pools (0.1, 1 and 10 ETH; bursts and batches),
  and a token wallet that bridges tUSD and deposits the rest at an exchange;
* each peel hop pays a small amount to an exchange deposit address and passes the rest on;
* the notes are withdrawn hours to days later to fresh addresses, half through a relayer (fee);
  those addresses swap to tUSD and deposit at exchanges (deposit EOAs and DepositForwarder
  contracts), send ETH to deposit addresses and forwarders, bridge ETH, or consolidate into a
  collector that pays an OTC desk;
* exchange deposit EOAs sweep to their hot wallet within hours (exchanges top up the gas of
  token sweeps; hot wallets sweep forwarders' tokens);
* innocents do the same kinds of things with the same pools, relayer, DEX, exchanges and bridge,
  partly in the thief's time windows; background users make the DEX and hot wallets hubs.

Thief wallets are fed only by stolen funds: nobody else ever pays them, and the thief pays gas
from the stolen ETH. So "the thief's amount that reached an off-ramp" is simply the value the
thief's transactions moved into it; gas and relayer fees are spent on the way and never counted.

Amounts are integer wei (ETH) and integer micro-units (tUSD, 6 decimals). A few amounts only
exist once the chain has run (DEX outputs, and "everything the wallet holds" after a swap):
those are ``None`` in the plan and are resolved by the builder or read from receipts.

Time and blocks: actions get times (seconds after the origin) from the story; one block is
mined per occupied slot (10 minutes at small scale, 20 at large), at the time of its first
action. An action that spends what another delivered lands in a later block (balances are read
before a block, and the node may order a block's transactions by fee), and one sender's actions
keep their order (nonces). Sweeps are placed after that, from the blocks their deposits landed
in, so a sweep takes exactly the deposits mined before it. Finally :func:`_settle` walks the
blocks in order, fixes each "send everything" amount that is knowable, and proves that no
sender ever spends more than it surely holds (gas charged at the limit).

Gas prices are legacy ``gasPrice`` values: round gwei for everyone but the thief, whose
non-round price is the fingerprint an investigator can follow.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any, Final, Literal

from eth_hash.auto import keccak

from tracer.errors import TestbedError
from tracer.testbed.chain import create_address
from tracer.types import NATIVE_TOKEN, ZERO_ADDRESS, Address

Scale = Literal["small", "large"]
Actor = Literal["setup", "victim", "thief", "relayer", "innocent", "background", "exchange"]
Owner = Literal["thief", "innocent", "background"]
Asset = Literal["ETH", "tUSD"]

ETH: Final = 10**18
GWEI: Final = 10**9
USD: Final = 10**6  # one tUSD (6 decimals)
MAX_UINT256: Final = 2**256 - 1
MINUTE: Final = 60
HOUR: Final = 3600
DAY: Final = 86_400
DENOMINATIONS: Final[tuple[int, ...]] = (ETH // 10, ETH, 10 * ETH)
#: Gas price habits of ordinary users, exchanges and relayers: round gwei values.
ROUND_GAS_PRICES: Final[tuple[int, ...]] = tuple(
    g * GWEI for g in (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)
)
#: Destination chains bridged to (BNB Chain, Polygon, Arbitrum, Avalanche, Base, Optimism).
BRIDGE_CHAINS: Final[tuple[int, ...]] = (56, 137, 42161, 43114, 8453, 10)
EXCHANGE_NAMES: Final[tuple[str, ...]] = tuple(f"Exchange {c}" for c in "ABCDEFGH")
OTC_DESK_NAME: Final = "OTC Desk"
#: What an exchange sends a token deposit EOA so that it can pay for its sweep.
GAS_TOP_UP: Final = 3 * 10**15
#: The conventional ETH placeholder in token_address columns and bridge events.
NATIVE: Final = NATIVE_TOKEN


class Kind(StrEnum):
    """What a planned transaction does (build.py encodes each into calldata)."""

    DEPLOY = "deploy"
    MINT = "mint"  # tUSD.mint(recipient, amount), by the deployer
    WRAP = "wrap"  # WETH.deposit{value}()
    SYNC = "sync"  # pair.sync()
    ETH_TRANSFER = "eth_transfer"  # plain value transfer (to an EOA or a DepositForwarder)
    TOKEN_TRANSFER = "token_transfer"  # noqa: S105 (token.transfer(recipient, amount))
    APPROVE = "approve"  # token.approve(recipient, MAX_UINT256)
    MIXER_DEPOSIT = "mixer_deposit"  # pool.deposit{denomination}(commitment)
    MIXER_WITHDRAW = "mixer_withdraw"  # pool.withdraw(proof, root, nullifier, recipient, ...)
    SWAP_ETH_FOR_TOKENS = "swap_eth_for_tokens"  # router.swapExactETHForTokens
    SWAP_TOKENS_FOR_ETH = "swap_tokens_for_eth"  # router.swapExactTokensForETH
    BRIDGE_ETH = "bridge_eth"  # bridge.depositETH{value}(chain, recipient)
    BRIDGE_TOKEN = "bridge_token"  # noqa: S105 (bridge.depositERC20(token, amount, chain, to))
    FORWARDER_SWEEP = "forwarder_sweep"  # forwarder.sweep(token), by the hot wallet


#: Gas limits: measured use (anvil 1.7.1, these contracts) plus a margin. Only a plain
#: transfer to an EOA uses exactly its limit; the plan's funding check assumes the limit.
GAS_LIMITS: Final[Mapping[Kind, int]] = {
    Kind.DEPLOY: 4_000_000,
    Kind.MINT: 100_000,
    Kind.WRAP: 80_000,
    Kind.SYNC: 100_000,
    Kind.ETH_TRANSFER: 21_000,
    Kind.TOKEN_TRANSFER: 80_000,
    Kind.APPROVE: 70_000,
    Kind.MIXER_DEPOSIT: 120_000,
    Kind.MIXER_WITHDRAW: 200_000,
    Kind.SWAP_ETH_FOR_TOKENS: 200_000,
    Kind.SWAP_TOKENS_FOR_ETH: 220_000,
    Kind.BRIDGE_ETH: 100_000,
    Kind.BRIDGE_TOKEN: 130_000,
    Kind.FORWARDER_SWEEP: 100_000,
}
#: A plain transfer into a DepositForwarder runs its receive() (about 56k gas).
FORWARDER_DEPOSIT_GAS: Final = 100_000


class PlanError(TestbedError):
    """The plan breaks one of its own rules (a bug in the generator, never a user error)."""


@dataclass(frozen=True, slots=True)
class ScaleParams:
    days: int
    # Blocks are one per occupied slot of this many seconds: fine enough for realistic timing,
    # coarse enough that background traffic fills blocks (anvil's per-block cost grows with
    # the state, so fewer, fuller blocks build the large scale much faster).
    slot_seconds: int
    exchanges: int
    forwarder_exchanges: tuple[int, ...]  # indexes of exchanges that also use forwarders
    stolen_eth: tuple[int, int]  # whole ETH, inclusive range
    stolen_usd: tuple[int, int]  # whole tUSD, inclusive range
    peel_hops: int
    split_wallets: int
    innocents: int
    background_users: int
    background_events: int
    background_forwarders: int  # per forwarder-using exchange
    dex_liquidity_eth: int
    eth_price_usd: int


SCALES: Final[Mapping[str, ScaleParams]] = {
    "small": ScaleParams(
        days=6,
        slot_seconds=600,
        exchanges=3,
        forwarder_exchanges=(2,),
        stolen_eth=(220, 420),
        stolen_usd=(150_000, 800_000),
        peel_hops=6,
        split_wallets=4,
        innocents=36,
        background_users=60,
        background_events=320,
        background_forwarders=4,
        dex_liquidity_eth=20_000,
        eth_price_usd=3_000,
    ),
    "large": ScaleParams(
        days=8,
        slot_seconds=1200,
        exchanges=5,
        forwarder_exchanges=(2, 4),
        stolen_eth=(900, 1_400),
        stolen_usd=(1_000_000, 4_000_000),
        peel_hops=12,
        split_wallets=8,
        innocents=360,
        background_users=3_000,
        background_events=46_000,
        background_forwarders=80,
        dex_liquidity_eth=200_000,
        eth_price_usd=3_000,
    ),
}


# --------------------------------------------------------------------------- plan records


@dataclass(frozen=True, slots=True)
class Action:
    """One planned transaction.

    ``time`` is seconds after the scenario's origin; after scheduling it is the time of the
    block the action lands in. ``value`` is the wei sent with the transaction. ``amount`` is a
    token amount, ``None`` when only the chain can tell (everything a wallet holds after a swap):
    the builder reads the balance before the block. ``send_all`` asks the planner to send the
    sender's whole balance (ETH: minus this transaction's gas at its limit and ``reserve``).
    ``deps`` are actions that must be mined in an earlier block (they fund this one);
    ``sources`` (thief flows only) are the actions whose stolen funds this one moves on.
    """

    id: int
    time: int
    sender: Address
    kind: Kind
    gas: int
    gas_price: int
    actor: Actor
    tag: str
    to: Address | None = None
    value: int = 0
    token: Address | None = None
    amount: int | None = None
    recipient: Address | None = None
    note: int | None = None
    dest_chain: int | None = None
    contract: str | None = None
    send_all: bool = False
    reserve: int = 0
    deps: tuple[int, ...] = ()
    sources: tuple[int, ...] = ()
    block: int = -1


@dataclass(frozen=True, slots=True)
class Move:
    """One value movement a transaction makes: a row of the transfer table.

    ``transfer_kind`` is native / internal / erc20 as in :mod:`tracer.transfers.schema`;
    ``asset`` is the token address or :data:`NATIVE`; ``amount`` is None if only the chain
    knows it (a DEX output, a forwarder's sweep).
    """

    transfer_kind: Literal["native", "internal", "erc20"]
    src: Address
    dst: Address
    asset: Address
    amount: int | None


@dataclass(frozen=True, slots=True)
class ContractSpec:
    key: str  # "tusd", "weth", "pair", "router", "bridge", "pool_0.1", ..., "forwarder_3"
    artifact: str  # compiled contract name in fixtures/contracts/build/
    args: tuple[str | int, ...]
    address: Address
    nonce: int  # the deployer's nonce that creates it


@dataclass(frozen=True, slots=True)
class Note:
    """A mixer note: who deposited it and, if withdrawn, to whom and through which relayer."""

    index: int
    pool: Address
    denomination: int
    commitment: str
    nullifier_hash: str
    owner: Owner
    depositor: Address
    deposit_action: int
    withdrawal_action: int | None = None
    recipient: Address | None = None
    relayer: Address | None = None
    fee: int = 0


@dataclass(frozen=True, slots=True)
class Exchange:
    name: str
    hot_wallet: Address
    gas_price: int
    uses_forwarders: bool


@dataclass(frozen=True, slots=True)
class DepositAccount:
    """A customer deposit address of an exchange: an EOA it sweeps, or a DepositForwarder."""

    address: Address
    exchange: str
    owner: Owner
    kind: Literal["eoa", "forwarder"]


@dataclass(frozen=True, slots=True)
class ThiefPlan:
    seed: Address
    gas_price: int
    peel_chain: tuple[Address, ...]
    split_wallets: tuple[Address, ...]
    token_wallet: Address
    withdrawal_addresses: tuple[tuple[Address, str], ...]  # (address, what it does next)
    collector: Address
    bridge_recipients: tuple[Address, ...]
    theft_actions: tuple[int, ...]
    offramp_actions: tuple[int, ...]  # actions that move stolen funds into an off-ramp
    wallets: tuple[Address, ...]  # every address the thief controls on this chain


@dataclass(frozen=True, slots=True)
class PlannedBlock:
    index: int
    time: int  # seconds after the origin
    actions: tuple[int, ...]  # action ids in execution order


@dataclass(frozen=True)
class Plan:
    seed: int
    scale: Scale
    params: ScaleParams
    deployer: Address
    victim: Address
    otc_desk: Address
    relayers: tuple[Address, ...]
    contracts: Mapping[str, ContractSpec]
    exchanges: tuple[Exchange, ...]
    deposit_accounts: Mapping[Address, DepositAccount]
    genesis_balances: Mapping[Address, int]
    actions: tuple[Action, ...]  # indexed by id (creation order)
    blocks: tuple[PlannedBlock, ...]
    notes: tuple[Note, ...]
    thief: ThiefPlan
    innocents: tuple[Address, ...]
    background_users: tuple[Address, ...]

    def address(self, key: str) -> Address:
        return self.contracts[key].address

    @property
    def tusd(self) -> Address:
        return self.address("tusd")

    @property
    def weth(self) -> Address:
        return self.address("weth")

    def pools(self) -> dict[int, Address]:
        """Denomination (wei) -> pool address."""
        return {d: self.address(pool_key(d)) for d in DENOMINATIONS}

    @cached_property
    def forwarder_hot_wallets(self) -> Mapping[Address, Address]:
        """DepositForwarder address -> the hot wallet it forwards to."""
        return {
            spec.address: Address(str(spec.args[0]))
            for spec in self.contracts.values()
            if spec.artifact == "DepositForwarder"
        }

    @cached_property
    def code_addresses(self) -> frozenset[Address]:
        return frozenset(spec.address for spec in self.contracts.values())

    def has_code(self, address: Address) -> bool:
        return address in self.code_addresses

    def moves(self, action: Action) -> list[Move]:
        return moves(self, action)

    def expected_transfer_count(self) -> int:
        """Rows the transfer table gets from this plan (all moves are non-zero)."""
        return sum(len(self.moves(a)) for a in self.actions)

    def fingerprint(self) -> str:
        """sha256 of the plan's canonical JSON: equal plans, equal fingerprints."""
        return hashlib.sha256(plan_json(self).encode()).hexdigest()


def pool_key(denomination: int) -> str:
    return f"pool_{format_eth(denomination)}"


def format_eth(wei: int) -> str:
    """Whole-ETH text of an amount for names and labels ("0.1", "10")."""
    whole, frac = divmod(wei, ETH)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".")


def plan_json(plan: Plan) -> str:
    body = asdict(plan)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


# --------------------------------------------------------------------------- semantics


def moves(plan: Plan, action: Action, amount: int | None = None) -> list[Move]:
    """The value movements ``action`` makes, in trace/log order.

    ``amount`` overrides the action's token amount when the builder resolved it; the output of
    a swap or a forwarder sweep stays None (read it from the receipt).
    """
    rule = _MOVES.get(action.kind)
    return rule(plan, action, amount if amount is not None else action.amount) if rule else []


def _eth_transfer(plan: Plan, a: Action, _tokens: int | None) -> list[Move]:
    assert a.to is not None
    out = [Move("native", a.sender, a.to, NATIVE, a.value)]
    hot = plan.forwarder_hot_wallets.get(a.to)
    if hot is not None:  # a DepositForwarder passes it on in the same transaction
        out.append(Move("internal", a.to, hot, NATIVE, a.value))
    return out


def _token_transfer(plan: Plan, a: Action, tokens: int | None) -> list[Move]:
    assert a.token is not None and a.recipient is not None
    return [Move("erc20", a.sender, a.recipient, a.token, tokens)]


def _mint(plan: Plan, a: Action, tokens: int | None) -> list[Move]:
    assert a.recipient is not None
    return [Move("erc20", ZERO_ADDRESS, a.recipient, plan.tusd, tokens)]


def _value_in(plan: Plan, a: Action, _tokens: int | None) -> list[Move]:
    # WRAP, MIXER_DEPOSIT, BRIDGE_ETH: the transaction's value goes to the called contract.
    assert a.to is not None
    return [Move("native", a.sender, a.to, NATIVE, a.value)]


def _mixer_withdraw(plan: Plan, a: Action, _tokens: int | None) -> list[Move]:
    assert a.note is not None and a.to is not None
    note = plan.notes[a.note]
    assert note.recipient is not None
    out = [Move("internal", a.to, note.recipient, NATIVE, note.denomination - note.fee)]
    if note.fee:
        assert note.relayer is not None
        out.append(Move("internal", a.to, note.relayer, NATIVE, note.fee))
    return out


def _swap_eth_in(plan: Plan, a: Action, _tokens: int | None) -> list[Move]:
    assert a.recipient is not None
    router, pair, weth = plan.address("router"), plan.address("pair"), plan.weth
    return [
        Move("native", a.sender, router, NATIVE, a.value),
        Move("internal", router, weth, NATIVE, a.value),  # WETH.deposit: no Transfer log
        Move("erc20", router, pair, weth, a.value),
        Move("erc20", pair, a.recipient, plan.tusd, None),
    ]


def _swap_tokens_in(plan: Plan, a: Action, tokens: int | None) -> list[Move]:
    assert a.recipient is not None
    router, pair, weth = plan.address("router"), plan.address("pair"), plan.weth
    return [
        Move("erc20", a.sender, pair, plan.tusd, tokens),
        Move("erc20", pair, router, weth, None),
        Move("internal", weth, router, NATIVE, None),  # WETH.withdraw pays the router
        Move("internal", router, a.recipient, NATIVE, None),
    ]


def _bridge_token(plan: Plan, a: Action, tokens: int | None) -> list[Move]:
    assert a.to is not None and a.token is not None
    return [Move("erc20", a.sender, a.to, a.token, tokens)]


def _forwarder_sweep(plan: Plan, a: Action, _tokens: int | None) -> list[Move]:
    assert a.to is not None and a.token is not None and a.recipient is not None
    return [Move("erc20", a.to, a.recipient, a.token, None)]


# DEPLOY, SYNC and APPROVE move nothing.
_MOVES: Final[Mapping[Kind, Callable[[Plan, Action, int | None], list[Move]]]] = {
    Kind.ETH_TRANSFER: _eth_transfer,
    Kind.TOKEN_TRANSFER: _token_transfer,
    Kind.MINT: _mint,
    Kind.WRAP: _value_in,
    Kind.MIXER_DEPOSIT: _value_in,
    Kind.BRIDGE_ETH: _value_in,
    Kind.MIXER_WITHDRAW: _mixer_withdraw,
    Kind.SWAP_ETH_FOR_TOKENS: _swap_eth_in,
    Kind.SWAP_TOKENS_FOR_ETH: _swap_tokens_in,
    Kind.BRIDGE_TOKEN: _bridge_token,
    Kind.FORWARDER_SWEEP: _forwarder_sweep,
}


# --------------------------------------------------------------------------- generation


def derive_address(seed: int, role: str, index: int = 0) -> Address:
    """A fresh address for a role: the last 20 bytes of keccak("tracer-testbed/seed/role/i")."""
    return Address("0x" + keccak(f"tracer-testbed/{seed}/{role}/{index}".encode())[12:].hex())


def _word(seed: int, what: str, index: int) -> str:
    return "0x" + keccak(f"tracer-testbed/{seed}/{what}/{index}".encode()).hex()


def make_plan(seed: int, scale: str) -> Plan:
    """The whole scenario for ``seed`` at ``scale`` ("small" or "large")."""
    known: dict[str, Scale] = {"small": "small", "large": "large"}
    if scale not in known:
        raise PlanError(f"unknown scale {scale!r}; choose one of {', '.join(known)}")
    return _Generator(seed, known[scale]).run()


@dataclass
class _Event:
    """A background event: who, when, and which exchange it would involve."""

    when: int
    user: Address
    wallet: _Wallet
    exchange: int


@dataclass
class _Wallet:
    """The generator's running view of a wallet: a lower bound on what it can spend."""

    eth: int = 0
    usd: int = 0
    pending: list[int] = field(default_factory=list)  # credits not yet depended upon
    gas_price: int = 0
    approved: set[Address] = field(default_factory=set)


class _Generator:
    def __init__(self, seed: int, scale: Scale) -> None:
        self.seed = seed
        self.scale: Scale = scale
        self.p = SCALES[scale]
        self.rng = random.Random(seed)
        self.horizon = self.p.days * DAY
        self.slot = self.p.slot_seconds
        # The smallest wait between a transfer and a step that spends it (another block).
        self.step = 2 * self.slot
        self.actions: list[Action] = []
        self.notes: list[Note] = []
        self.genesis: dict[Address, int] = {}
        self.mints: list[tuple[Address, int]] = []
        self.deposit_accounts: dict[Address, DepositAccount] = {}
        self.deposits_into: dict[Address, list[tuple[int, Asset]]] = defaultdict(list)
        self.thief_inflows: dict[tuple[Address, Asset], list[int]] = defaultdict(list)
        self.wallets: dict[Address, _Wallet] = {}
        self._deposit_counters: dict[int, int] = defaultdict(int)
        self._withdrawal_counter = 0
        self.code: set[Address] = set()
        self.thief_offramps: list[int] = []
        self.thief_burst_times: list[tuple[int, int]] = []
        self.thief_accounts: dict[str, list[Address]] = {}
        self.innocent_wallets: list[Address] = []
        self.background_wallets: list[Address] = []
        self.bg_forwarders: dict[Address, Address] = {}
        self.bg_accounts: dict[tuple[Address, int, Asset], Address] = {}

        self.deployer = self.addr("deployer")
        self.contracts: dict[str, ContractSpec] = {}
        self._deploy_fixed_contracts()
        self.tusd = self.contracts["tusd"].address
        self.weth = self.contracts["weth"].address
        self.router = self.contracts["router"].address
        self.bridge = self.contracts["bridge"].address
        self.pools = {d: self.contracts[pool_key(d)].address for d in DENOMINATIONS}

        self.victim = self.addr("victim")
        self.otc_desk = self.addr("otc-desk")
        self.relayers = (self.addr("relayer", 0), self.addr("relayer", 1))
        self.relayer_fee_bps = {self.relayers[0]: 40, self.relayers[1]: 25}
        self.exchanges = self._make_exchanges()
        self.thief_gas_price = (
            self.rng.randint(7, 23) * GWEI + self.rng.randrange(1, 1000) * 10**6 + 1_337
        )

    # ------------------------------------------------------------------ basics

    def addr(self, role: str, index: int = 0) -> Address:
        return derive_address(self.seed, role, index)

    def _deploy(self, key: str, artifact: str, *args: str | int) -> Address:
        nonce = len(self.contracts)
        address = Address(create_address(self.deployer, nonce))
        self.contracts[key] = ContractSpec(key, artifact, tuple(args), address, nonce)
        self.code.add(address)
        return address

    def _deploy_fixed_contracts(self) -> None:
        tusd = self._deploy("tusd", "TestUSD")
        weth = self._deploy("weth", "WETH9")
        token0, token1 = sorted((tusd, weth))
        pair = self._deploy("pair", "UniswapV2Pair", token0, token1)
        self._deploy("router", "UniswapV2Router", pair, weth)
        self._deploy("bridge", "Bridge")
        for denomination in DENOMINATIONS:
            self._deploy(pool_key(denomination), "TornadoPool", denomination)

    def _make_exchanges(self) -> tuple[Exchange, ...]:
        prices = list(ROUND_GAS_PRICES[2:9])
        self.rng.shuffle(prices)
        return tuple(
            Exchange(
                name=EXCHANGE_NAMES[i],
                hot_wallet=self.addr("exchange-hot-wallet", i),
                gas_price=prices[i],
                uses_forwarders=i in self.p.forwarder_exchanges,
            )
            for i in range(self.p.exchanges)
        )

    def wallet(self, address: Address) -> _Wallet:
        found = self.wallets.get(address)
        if found is None:
            found = self.wallets[address] = _Wallet()
        return found

    def fund(self, address: Address, wei: int) -> None:
        """Balance set before the first block (no transaction: these are not traced funds)."""
        self.genesis[address] = self.genesis.get(address, 0) + wei
        self.wallet(address).eth += wei

    def habit_gas_price(self) -> int:
        return self.rng.choice(ROUND_GAS_PRICES)

    def act(
        self,
        time: int,
        sender: Address,
        kind: Kind,
        *,
        actor: Actor,
        tag: str,
        gas_price: int,
        to: Address | None = None,
        value: int = 0,
        token: Address | None = None,
        amount: int | None = None,
        recipient: Address | None = None,
        note: int | None = None,
        dest_chain: int | None = None,
        contract: str | None = None,
        send_all: bool = False,
        reserve: int = 0,
        deps: Iterable[int] = (),
        sources: Iterable[int] = (),
    ) -> int:
        gas = GAS_LIMITS[kind]
        if kind is Kind.ETH_TRANSFER and to is not None and self._is_contract(to):
            gas = FORWARDER_DEPOSIT_GAS
        action_id = len(self.actions)
        self.actions.append(
            Action(
                id=action_id,
                time=time,
                sender=sender,
                kind=kind,
                gas=gas,
                gas_price=gas_price,
                actor=actor,
                tag=tag,
                to=to,
                value=value,
                token=token,
                amount=amount,
                recipient=recipient,
                note=note,
                dest_chain=dest_chain,
                contract=contract,
                send_all=send_all,
                reserve=reserve,
                deps=tuple(sorted(set(deps))),
                sources=tuple(sorted(set(sources))),
            )
        )
        return action_id

    def _is_contract(self, address: Address) -> bool:
        return address in self.code

    def gas_cost(self, kind: Kind, gas_price: int, *, to_contract: bool = False) -> int:
        gas = FORWARDER_DEPOSIT_GAS if to_contract else GAS_LIMITS[kind]
        return gas * gas_price

    def spend(self, address: Address, wei: int, what: str) -> None:
        w = self.wallet(address)
        if wei > w.eth:
            raise PlanError(f"{what}: {address} would spend {wei} wei but has {w.eth}")
        w.eth -= wei

    def take_pending(self, address: Address) -> list[int]:
        w = self.wallet(address)
        pending, w.pending = w.pending, []
        return pending

    # ------------------------------------------------------------------ exchange accounts

    def new_deposit_eoa(self, exchange: int, owner: Owner) -> Address:
        index = self._deposit_counters[exchange]
        self._deposit_counters[exchange] += 1
        address = self.addr(f"exchange-{exchange}-deposit", index)
        self.deposit_accounts[address] = DepositAccount(
            address, self.exchanges[exchange].name, owner, "eoa"
        )
        return address

    def new_forwarder(self, exchange: int, owner: Owner) -> Address:
        ex = self.exchanges[exchange]
        if not ex.uses_forwarders:
            raise PlanError(f"{ex.name} does not use deposit forwarders")
        index = sum(1 for c in self.contracts.values() if c.artifact == "DepositForwarder")
        address = self._deploy(f"forwarder_{index}", "DepositForwarder", ex.hot_wallet)
        self.deposit_accounts[address] = DepositAccount(address, ex.name, owner, "forwarder")
        return address

    def forwarder_exchange(self) -> int:
        return self.rng.choice(self.p.forwarder_exchanges)

    def deposit(
        self,
        time: int,
        sender: Address,
        account: Address,
        asset: Asset,
        *,
        actor: Actor,
        tag: str,
        gas_price: int,
        value: int = 0,
        amount: int | None = None,
        send_all: bool = False,
        reserve: int = 0,
        deps: Iterable[int] = (),
        sources: Iterable[int] = (),
    ) -> int:
        """Pay an exchange deposit account; the sweep pass later empties it."""
        if asset == "ETH":
            action = self.act(
                time,
                sender,
                Kind.ETH_TRANSFER,
                actor=actor,
                tag=tag,
                gas_price=gas_price,
                to=account,
                value=value,
                send_all=send_all,
                reserve=reserve,
                deps=deps,
                sources=sources,
            )
        else:
            action = self.act(
                time,
                sender,
                Kind.TOKEN_TRANSFER,
                actor=actor,
                tag=tag,
                gas_price=gas_price,
                to=self.tusd,
                token=self.tusd,
                recipient=account,
                amount=amount,
                send_all=send_all,
                deps=deps,
                sources=sources,
            )
        self.deposits_into[account].append((action, asset))
        return action

    # ------------------------------------------------------------------ mixer

    def mixer_deposit(
        self,
        time: int,
        sender: Address,
        denomination: int,
        owner: Owner,
        *,
        actor: Actor,
        gas_price: int,
        deps: Iterable[int] = (),
        sources: Iterable[int] = (),
    ) -> int:
        """Deposit one note; returns the note index."""
        index = len(self.notes)
        pool = self.pools[denomination]
        action = self.act(
            time,
            sender,
            Kind.MIXER_DEPOSIT,
            actor=actor,
            tag="mixer_deposit",
            gas_price=gas_price,
            to=pool,
            value=denomination,
            note=index,
            deps=deps,
            sources=sources,
        )
        self.notes.append(
            Note(
                index=index,
                pool=pool,
                denomination=denomination,
                commitment=_word(self.seed, "commitment", index),
                nullifier_hash=_word(self.seed, "nullifier", index),
                owner=owner,
                depositor=sender,
                deposit_action=action,
            )
        )
        return index

    def mixer_withdraw(
        self,
        time: int,
        note_index: int,
        recipient: Address,
        *,
        relayer: Address | None,
        sender: Address,
        actor: Actor,
        gas_price: int,
        deps: Iterable[int] = (),
    ) -> int:
        """Withdraw a note to ``recipient``; via ``relayer`` (who sends and takes a fee) or not."""
        note = self.notes[note_index]
        fee = 0
        if relayer is not None:
            fee = note.denomination * self.relayer_fee_bps[relayer] // 10_000
            sender = relayer
            actor = "relayer"
            gas_price = self.relayer_gas_price
        sources = (note.deposit_action,) if note.owner == "thief" else ()
        action = self.act(
            max(time, self.actions[note.deposit_action].time + self.step),
            sender,
            Kind.MIXER_WITHDRAW,
            actor=actor,
            tag="mixer_withdraw",
            gas_price=gas_price,
            to=note.pool,
            recipient=recipient,
            note=note_index,
            deps=(note.deposit_action, *deps),
            sources=sources,
        )
        self.notes[note_index] = replace(
            note, withdrawal_action=action, recipient=recipient, relayer=relayer, fee=fee
        )
        w = self.wallet(recipient)
        w.eth += note.denomination - fee
        w.pending.append(action)
        if relayer is not None:
            self.wallet(relayer).pending.append(action)
        return action

    @property
    def relayer_gas_price(self) -> int:
        return 6 * GWEI

    # ------------------------------------------------------------------ the story

    def run(self) -> Plan:
        self._fund_services()
        self.thief = self._thief()
        self._innocents()
        self._background()
        self._setup()
        slots = _assign_slots(self.actions, self.slot)
        self._sweeps(slots)
        actions, blocks = _blocks(self.actions, slots, self.slot)
        plan = Plan(
            seed=self.seed,
            scale=self.scale,
            params=self.p,
            deployer=self.deployer,
            victim=self.victim,
            otc_desk=self.otc_desk,
            relayers=self.relayers,
            contracts=dict(self.contracts),
            exchanges=self.exchanges,
            deposit_accounts=dict(self.deposit_accounts),
            genesis_balances=dict(sorted(self.genesis.items())),
            actions=tuple(actions),
            blocks=tuple(blocks),
            notes=tuple(self.notes),
            thief=self.thief,
            innocents=tuple(self.innocent_wallets),
            background_users=tuple(self.background_wallets),
        )
        return _settle(plan)

    def _fund_services(self) -> None:
        for ex in self.exchanges:
            self.fund(ex.hot_wallet, 200_000 * ETH)
            self.mints.append((ex.hot_wallet, 500_000_000 * USD))
        for relayer in self.relayers:
            self.fund(relayer, 50 * ETH)

    # ------------------------------------------------------------------ the thief

    def _thief(self) -> ThiefPlan:
        seed = self.addr("thief-seed")
        theft_eth, theft_usd, stolen_usd = self._theft(seed)
        splits = [self.addr("thief-split", k) for k in range(self.p.split_wallets)]
        token_wallet = self.addr("thief-token")
        peel_chain = [self.addr("thief-peel", i) for i in range(self.p.peel_hops)]
        distribution_time = self.actions[theft_eth].time + self.rng.randint(
            20 * MINUTE, 60 * MINUTE
        )
        split_notes, split_funding = self._split_loot(
            seed,
            splits,
            token_wallet=token_wallet,
            peel_head=peel_chain[0],
            stolen_usd=stolen_usd,
            when=distribution_time,
        )
        self._peel_chain(peel_chain, distribution_time)
        self._token_wallet(token_wallet, distribution_time + self.step, stolen_usd)
        note_ids = self._thief_deposits(splits, split_notes, split_funding, distribution_time)
        withdrawal_addresses, bridge_recipients = self._thief_withdrawals(splits, note_ids)
        collector = self.addr("thief-collector")
        wallets = [
            seed,
            *splits,
            token_wallet,
            *peel_chain,
            *(a for a, _ in withdrawal_addresses),
            collector,
        ]
        return ThiefPlan(
            seed=seed,
            gas_price=self.thief_gas_price,
            peel_chain=tuple(peel_chain),
            split_wallets=tuple(splits),
            token_wallet=token_wallet,
            withdrawal_addresses=tuple(withdrawal_addresses),
            collector=collector,
            bridge_recipients=tuple(dict.fromkeys(bridge_recipients)),
            theft_actions=(theft_eth, theft_usd),
            offramp_actions=tuple(self.thief_offramps),
            wallets=tuple(wallets),
        )

    def _theft(self, seed: Address) -> tuple[int, int, int]:
        """The victim pays the thief's seed wallet: (ETH action, tUSD action, tUSD stolen)."""
        rng = self.rng
        victim_gp = 20 * GWEI
        stolen_eth = rng.randint(*self.p.stolen_eth) * ETH + rng.randrange(ETH)
        stolen_usd = rng.randint(*self.p.stolen_usd) * USD + rng.randrange(USD)
        self.fund(self.victim, stolen_eth + 5 * ETH)
        self.mints.append((self.victim, stolen_usd + 25_000 * USD))
        theft_time = 6 * HOUR + rng.randint(0, 2 * HOUR)
        theft_eth = self.act(
            theft_time,
            self.victim,
            Kind.ETH_TRANSFER,
            actor="victim",
            tag="theft",
            gas_price=victim_gp,
            to=seed,
            value=stolen_eth,
        )
        theft_usd = self.act(
            theft_time,
            self.victim,
            Kind.TOKEN_TRANSFER,
            actor="victim",
            tag="theft",
            gas_price=victim_gp,
            to=self.tusd,
            token=self.tusd,
            recipient=seed,
            amount=stolen_usd,
        )
        self.thief_inflows[(seed, "ETH")].append(theft_eth)
        self.thief_inflows[(seed, "tUSD")].append(theft_usd)
        self.wallet(seed).eth = stolen_eth
        return theft_eth, theft_usd, stolen_usd

    def _split_loot(
        self,
        seed: Address,
        splits: list[Address],
        *,
        token_wallet: Address,
        peel_head: Address,
        stolen_usd: int,
        when: int,
    ) -> tuple[dict[Address, list[int]], dict[Address, int]]:
        """The seed pays the split wallets (notes plus gas), the token wallet and the peel chain.

        Notes are decided first so that each split wallet gets exactly what its deposits and its
        share of direct withdrawals need (gas at the limit); the peel chain takes the rest.
        Returns each split wallet's denominations and the action that funded it.
        """
        rng = self.rng
        gp = self.thief_gas_price
        stolen_eth = self.wallet(seed).eth
        tens = max(10, stolen_eth * rng.randint(55, 62) // 100 // (10 * ETH))
        small_notes = [ETH] * rng.randint(6, 12) + [ETH // 10] * rng.randint(5, 10)
        denominations = [10 * ETH] * tens + small_notes
        split_notes: dict[Address, list[int]] = {s: [] for s in splits}
        for i, denomination in enumerate(denominations):
            split_notes[splits[i % len(splits)]].append(denomination)
        # Direct withdrawals are sent by the split wallets in turn (a classic slip).
        direct_share = -(-len(denominations) // len(splits))
        withdraw_gas = GAS_LIMITS[Kind.MIXER_WITHDRAW] * gp
        split_values = {
            s: sum(split_notes[s]) + (len(split_notes[s]) + direct_share + 1) * withdraw_gas
            for s in splits
        }
        token_gas = 6 * GAS_LIMITS[Kind.BRIDGE_TOKEN] * gp
        seed_gas = (len(splits) + 4) * GAS_LIMITS[Kind.TOKEN_TRANSFER] * gp
        peel_value = stolen_eth - sum(split_values.values()) - token_gas - seed_gas
        if peel_value < 20 * ETH:
            raise PlanError(f"seed {self.seed}: too little left for the peel chain")
        self.thief_accounts = self._thief_deposit_accounts()
        self._thief_send(when, seed, peel_head, peel_value, "ETH")
        funding = {s: self._thief_send(when, seed, s, split_values[s], "ETH") for s in splits}
        self._thief_send(when, seed, token_wallet, token_gas, "ETH")
        self._thief_send(when, seed, token_wallet, stolen_usd, "tUSD")
        return split_notes, funding

    def _thief_withdrawals(
        self, splits: list[Address], note_ids: list[int]
    ) -> tuple[list[tuple[Address, str]], list[Address]]:
        """Notes withdrawn to fresh addresses hours to days later, half through the relayer
        innocents use too, half sent by a split wallet; then each address does its job."""
        rng = self.rng
        groups = self._withdrawal_groups(len([n for n in note_ids if self._is_ten(n)]))
        big = [n for n in note_ids if self._is_ten(n)]
        small = [n for n in note_ids if not self._is_ten(n)]
        rng.shuffle(big)
        rng.shuffle(small)
        assigned: list[list[int]] = [[big.pop() for _ in range(count)] for _, count in groups]
        # Small notes go round the feeders from the last one, which has no big note.
        feeders = [i for i, (purpose, _) in enumerate(groups) if purpose == "collector"][::-1]
        for k, n in enumerate(small + big):
            assigned[feeders[k % len(feeders)]].append(n)
        withdrawal_addresses: list[tuple[Address, str]] = []
        collector = self.addr("thief-collector")
        collector_payments: list[int] = []
        bridge_recipients = [self.addr("thief-bridge-recipient", 0)]
        direct_turn = 0
        for (purpose, _), notes in zip(groups, assigned, strict=True):
            address = self.addr("thief-withdrawal", len(withdrawal_addresses))
            withdrawal_addresses.append((address, purpose))
            ready = 0
            for n in notes:
                deposit_time = self.actions[self.notes[n].deposit_action].time
                relayer = self.relayers[0] if rng.random() < 0.5 else None
                sender = splits[direct_turn % len(splits)]
                if relayer is None:
                    direct_turn += 1
                action = self.mixer_withdraw(
                    deposit_time + rng.randint(8 * HOUR, 3 * DAY),
                    n,
                    address,
                    relayer=relayer,
                    sender=sender,
                    actor="thief",
                    gas_price=self.thief_gas_price,
                    deps=self.thief_inflows[(sender, "ETH")] if relayer is None else (),
                )
                self.thief_inflows[(address, "ETH")].append(action)
                ready = max(ready, self.actions[action].time)
            when = ready + rng.randint(30 * MINUTE, 12 * HOUR)
            if purpose == "collector":
                collector_payments.append(
                    self._thief_send(when, address, collector, 0, "ETH", send_all=True)
                )
            else:
                recipient = self._thief_spend_withdrawal(when, address, purpose)
                if recipient is not None:
                    bridge_recipients.append(recipient)
        self._collector(collector, collector_payments)
        return withdrawal_addresses, bridge_recipients

    def _is_ten(self, note: int) -> bool:
        return self.notes[note].denomination == 10 * ETH

    def _thief_deposits(
        self,
        splits: list[Address],
        split_notes: Mapping[Address, list[int]],
        split_funding: Mapping[Address, int],
        start: int,
    ) -> list[int]:
        """Each split wallet deposits its notes in bursts (several notes in one block); once,
        every split wallet deposits into the 10 ETH pool in the same block (a batch)."""
        rng = self.rng
        mixing_start = start + 2 * HOUR
        batch_time = mixing_start + rng.randint(0, 6 * HOUR)
        note_ids: list[int] = []
        for split in splits:
            amounts = sorted(split_notes[split], reverse=True)
            first = True
            while amounts:
                burst = amounts[: rng.randint(2, 5)]
                amounts = amounts[len(burst) :]
                batched = first and burst[0] == 10 * ETH
                when = batch_time if batched else mixing_start + rng.randint(0, 28 * HOUR)
                first = False
                for denomination in burst:
                    note_ids.append(
                        self.mixer_deposit(
                            when,
                            split,
                            denomination,
                            "thief",
                            actor="thief",
                            gas_price=self.thief_gas_price,
                            deps=(split_funding[split],),
                            sources=(split_funding[split],),
                        )
                    )
        self.thief_burst_times = sorted(
            {
                (self.actions[self.notes[n].deposit_action].time, self.notes[n].denomination)
                for n in note_ids
            }
        )
        return note_ids

    def _withdrawal_groups(self, tens: int) -> list[tuple[str, int]]:
        """(purpose, number of 10 ETH notes) per thief withdrawal address; the collector's
        feeders also take every small note."""
        rng = self.rng
        groups = [
            ("swap_deposit", rng.randint(1, 2)),
            ("swap_deposit", rng.randint(1, 2)),
            ("swap_forwarder", 1),
            ("eth_forwarder", 1),
            ("eth_deposit", 1),
            ("bridge", rng.randint(1, 2)),
        ]
        left = tens - sum(count for _, count in groups)
        if left < 0:
            raise PlanError(f"seed {self.seed}: only {tens} ten-ETH notes")
        while left > 0:
            take = min(left, rng.randint(1, 3))
            groups.append(("collector", take))
            left -= take
        groups.append(("collector", 0))  # a feeder of small notes only
        return groups

    def _thief_send(
        self,
        time: int,
        sender: Address,
        recipient: Address,
        amount: int,
        asset: Asset,
        *,
        send_all: bool = False,
        offramp: bool = False,
    ) -> int:
        """Move stolen ETH or tUSD between thief wallets or into an off-ramp."""
        sources = self.thief_inflows[(sender, asset)]
        # Gas is paid in ETH: a token move also waits for the ETH that pays for it.
        all_deps = [*sources, *self.thief_inflows[(sender, "ETH")]]
        if asset == "ETH":
            to_contract = self._is_contract(recipient)
            if recipient in self.deposit_accounts:
                action = self.deposit(
                    time,
                    sender,
                    recipient,
                    "ETH",
                    actor="thief",
                    tag="offramp",
                    gas_price=self.thief_gas_price,
                    value=amount,
                    send_all=send_all,
                    deps=all_deps,
                    sources=sources,
                )
            else:
                action = self.act(
                    time,
                    sender,
                    Kind.ETH_TRANSFER,
                    actor="thief",
                    tag="offramp" if offramp else "hop",
                    gas_price=self.thief_gas_price,
                    to=recipient,
                    value=amount,
                    send_all=send_all,
                    deps=all_deps,
                    sources=sources,
                )
            if not send_all:
                cost = self.gas_cost(
                    Kind.ETH_TRANSFER, self.thief_gas_price, to_contract=to_contract
                )
                self.spend(sender, amount + cost, "thief transfer")
                self.wallet(recipient).eth += amount
        elif recipient in self.deposit_accounts:
            action = self.deposit(
                time,
                sender,
                recipient,
                "tUSD",
                actor="thief",
                tag="offramp",
                gas_price=self.thief_gas_price,
                amount=None if send_all else amount,
                send_all=send_all,
                deps=all_deps,
                sources=sources,
            )
        else:
            action = self.act(
                time,
                sender,
                Kind.TOKEN_TRANSFER,
                actor="thief",
                tag="hop",
                gas_price=self.thief_gas_price,
                to=self.tusd,
                token=self.tusd,
                recipient=recipient,
                amount=None if send_all else amount,
                send_all=send_all,
                deps=all_deps,
                sources=sources,
            )
        if recipient in self.deposit_accounts or offramp:
            self.thief_offramps.append(action)
        else:
            self.thief_inflows[(recipient, asset)].append(action)
        return action

    def _thief_deposit_accounts(self) -> dict[str, list[Address]]:
        """The thief's customer accounts: ETH deposit EOAs, tUSD deposit EOAs, forwarders."""
        rng = self.rng
        accounts: dict[str, list[Address]] = {"eth": [], "usd": [], "forwarder": []}
        for index, ex in enumerate(self.exchanges):
            for _ in range(rng.randint(1, 2)):
                accounts["eth"].append(self.new_deposit_eoa(index, "thief"))
            if not ex.uses_forwarders:
                accounts["usd"].append(self.new_deposit_eoa(index, "thief"))
        for index in self.p.forwarder_exchanges:
            accounts["forwarder"].append(self.new_forwarder(index, "thief"))
        return accounts

    def _peel_chain(self, chain: list[Address], start: int) -> None:
        rng = self.rng
        gp = self.thief_gas_price
        peel_targets = self.thief_accounts["eth"][:-1] or self.thief_accounts["eth"]
        time = start
        for i, hop in enumerate(chain):
            time += rng.randint(self.step, 3 * HOUR)
            balance = self.wallet(hop).eth
            target = rng.choice(peel_targets)
            if i == len(chain) - 1:
                # The last hop cashes out everything at one deposit address.
                self._thief_send(time, hop, target, 0, "ETH", send_all=True)
                return
            peel = balance * rng.randint(4, 10) // 100 // (ETH // 100) * (ETH // 100)
            self._thief_send(time, hop, target, peel, "ETH")
            self._thief_send(time, hop, chain[i + 1], 0, "ETH", send_all=True)
            # What the next hop receives: everything left after both transfers' gas.
            self.wallet(chain[i + 1]).eth += balance - peel - 2 * 21_000 * gp
            self.wallet(hop).eth = 0

    def _token_wallet(self, wallet: Address, start: int, stolen_usd: int) -> None:
        rng = self.rng
        gp = self.thief_gas_price
        when = start + rng.randint(HOUR, 6 * HOUR)
        sources = self.thief_inflows[(wallet, "tUSD")]
        deps = [*sources, *self.thief_inflows[(wallet, "ETH")]]
        self.act(
            when,
            wallet,
            Kind.APPROVE,
            actor="thief",
            tag="approve",
            gas_price=gp,
            to=self.tusd,
            token=self.tusd,
            recipient=self.bridge,
            deps=deps,
        )
        bridged = stolen_usd * rng.randint(50, 70) // 100 // (1000 * USD) * (1000 * USD)
        self.thief_offramps.append(
            self.act(
                when,
                wallet,
                Kind.BRIDGE_TOKEN,
                actor="thief",
                tag="offramp",
                gas_price=gp,
                to=self.bridge,
                token=self.tusd,
                amount=bridged,
                dest_chain=rng.choice(BRIDGE_CHAINS),
                recipient=self.addr("thief-bridge-recipient", 0),
                deps=deps,
                sources=sources,
            )
        )
        target = rng.choice(self.thief_accounts["usd"])
        self._thief_send(
            when + rng.randint(2 * HOUR, 12 * HOUR), wallet, target, 0, "tUSD", send_all=True
        )

    def _thief_spend_withdrawal(self, when: int, address: Address, purpose: str) -> Address | None:
        """What a thief withdrawal address does with its ETH; the bridge recipient if any."""
        rng = self.rng
        gp = self.thief_gas_price
        sources = self.thief_inflows[(address, "ETH")]
        if purpose in ("swap_deposit", "swap_forwarder"):
            swap = self.act(
                when,
                address,
                Kind.SWAP_ETH_FOR_TOKENS,
                actor="thief",
                tag="swap",
                gas_price=gp,
                to=self.router,
                recipient=address,
                send_all=True,
                reserve=GAS_LIMITS[Kind.TOKEN_TRANSFER] * gp,
                deps=sources,
                sources=sources,
            )
            self.thief_inflows[(address, "tUSD")].append(swap)
            accounts = self.thief_accounts["usd" if purpose == "swap_deposit" else "forwarder"]
            self._thief_send(
                when + rng.randint(self.step, 6 * HOUR),
                address,
                rng.choice(accounts),
                0,
                "tUSD",
                send_all=True,
            )
            return None
        if purpose == "eth_forwarder":
            self._thief_send(
                when, address, rng.choice(self.thief_accounts["forwarder"]), 0, "ETH", send_all=True
            )
            return None
        if purpose == "eth_deposit":
            self._thief_send(when, address, self.thief_accounts["eth"][-1], 0, "ETH", send_all=True)
            return None
        if purpose == "bridge":
            recipient = self.addr("thief-bridge-recipient", 1)
            self.thief_offramps.append(
                self.act(
                    when,
                    address,
                    Kind.BRIDGE_ETH,
                    actor="thief",
                    tag="offramp",
                    gas_price=gp,
                    to=self.bridge,
                    send_all=True,
                    dest_chain=rng.choice(BRIDGE_CHAINS),
                    recipient=recipient,
                    deps=sources,
                    sources=sources,
                )
            )
            return recipient
        raise PlanError(f"unknown withdrawal purpose {purpose!r}")

    def _collector(self, collector: Address, payments: list[int]) -> None:
        """The collector waits for every feeder, then pays the OTC desk in two tranches."""
        rng = self.rng
        ready = max(self.actions[p].time for p in payments)
        first = ready + rng.randint(self.step, 8 * HOUR)
        # Feeders send everything; each arrives as (notes - fees - 21000 * gas price).
        received = 0
        for p in payments:
            feeder = self.actions[p].sender
            received += (
                sum(n.denomination - n.fee for n in self.notes if n.recipient == feeder)
                - 21_000 * self.thief_gas_price
            )
        self.wallet(collector).eth = received
        tranche = received * rng.randint(55, 70) // 100 // ETH * ETH
        self._thief_send(first, collector, self.otc_desk, tranche, "ETH", offramp=True)
        self._thief_send(
            first + rng.randint(HOUR, 6 * HOUR),
            collector,
            self.otc_desk,
            0,
            "ETH",
            send_all=True,
            offramp=True,
        )

    # ------------------------------------------------------------------ innocents

    def _innocents(self) -> None:
        """Users doing what the thief does, with their own money: the decoys."""
        rng = self.rng
        stories = (
            ["mixer"] * 9
            + ["exchange"] * 5
            + ["forwarder"] * 2
            + ["swap_deposit"] * 3
            + ["bridge"] * 2
            + ["otc"]
            + ["hopper"] * 2
        )
        windows = self.thief_burst_times
        for i in range(self.p.innocents):
            main = self.addr("innocent", i)
            self.innocent_wallets.append(main)
            self.fund(main, rng.randint(120, 600) * ETH + rng.randrange(ETH))
            w = self.wallet(main)
            w.gas_price = self.habit_gas_price()
            story = stories[i % len(stories)] if i < len(stories) else rng.choice(stories)
            start = rng.randint(self.step, self.horizon - 2 * DAY)
            if story == "mixer":
                self._innocent_mixer(main, windows if rng.random() < 0.6 else [])
            elif story == "exchange":
                self._innocent_exchange(main, start)
            elif story == "forwarder":
                self._innocent_forwarder(main, start)
            elif story == "swap_deposit":
                self._innocent_swap_deposit(main, main, start, [])
            elif story == "bridge":
                self._innocent_bridge(main, start)
            elif story == "otc":
                self._innocent_otc(main, i, start)
            else:
                self._innocent_hopper(main, i, start)

    def _innocent_mixer(self, main: Address, windows: list[tuple[int, int]]) -> None:
        """Deposit 1-4 notes (in the thief's windows when given), withdraw days later."""
        rng = self.rng
        w = self.wallet(main)
        notes: list[int] = []
        for _ in range(rng.randint(1, 4)):
            if windows:
                anchor, denomination = rng.choice(windows)
                when = max(self.step, anchor + rng.randint(-3 * HOUR, 3 * HOUR))
            else:
                denomination = rng.choice(DENOMINATIONS)
                when = rng.randint(self.step, self.horizon - 3 * DAY)
            cost = denomination + self.gas_cost(Kind.MIXER_DEPOSIT, w.gas_price)
            if cost > w.eth:
                continue
            self.spend(main, cost, "innocent mixer deposit")
            notes.append(
                self.mixer_deposit(
                    when, main, denomination, "innocent", actor="innocent", gas_price=w.gas_price
                )
            )
        for n in notes:
            deposit_time = self.actions[self.notes[n].deposit_action].time
            when = deposit_time + rng.randint(6 * HOUR, 4 * DAY)
            recipient = self.addr("innocent-withdrawal", self._withdrawal_counter)
            self._withdrawal_counter += 1
            roll = rng.random()
            relayer = self.relayers[0] if roll < 0.45 else self.relayers[1] if roll < 0.7 else None
            if relayer is None:
                self.spend(main, self.gas_cost(Kind.MIXER_WITHDRAW, w.gas_price), "withdraw")
            action = self.mixer_withdraw(
                when,
                n,
                recipient,
                relayer=relayer,
                sender=main,
                actor="innocent",
                gas_price=w.gas_price,
            )
            self.wallet(recipient).gas_price = self.habit_gas_price()
            follow = rng.choice(("swap_deposit", "eth_deposit", "bridge", "forwarder", "keep"))
            later = self.actions[action].time + rng.randint(30 * MINUTE, 12 * HOUR)
            if follow == "swap_deposit":
                self._innocent_swap_deposit(recipient, recipient, later, [action])
            elif follow == "eth_deposit":
                account = self.new_deposit_eoa(rng.randrange(len(self.exchanges)), "innocent")
                self._innocent_eth_all(later, recipient, account, [action])
            elif follow == "forwarder":
                account = self.new_forwarder(self.forwarder_exchange(), "innocent")
                self._innocent_eth_all(later, recipient, account, [action])
            elif follow == "bridge":
                rw = self.wallet(recipient)
                rw.pending.clear()
                self.act(
                    later,
                    recipient,
                    Kind.BRIDGE_ETH,
                    actor="innocent",
                    tag="bridge",
                    gas_price=rw.gas_price,
                    to=self.bridge,
                    send_all=True,
                    dest_chain=rng.choice(BRIDGE_CHAINS),
                    recipient=recipient,
                    deps=[action],
                )
                rw.eth = 0

    def _innocent_eth_all(
        self, when: int, sender: Address, account: Address, deps: list[int]
    ) -> None:
        w = self.wallet(sender)
        w.pending.clear()
        self.deposit(
            when,
            sender,
            account,
            "ETH",
            actor="innocent",
            tag="deposit",
            gas_price=w.gas_price,
            send_all=True,
            deps=deps,
        )
        w.eth = 0

    def _innocent_swap_deposit(
        self, sender: Address, recipient: Address, when: int, deps: list[int]
    ) -> None:
        """Swap ETH to tUSD, then deposit all of it at an exchange (the thief's pattern)."""
        rng = self.rng
        w = self.wallet(sender)
        w.pending.clear()
        gp = w.gas_price
        reserve = GAS_LIMITS[Kind.TOKEN_TRANSFER] * gp
        if sender == recipient and deps:
            swap = self.act(
                when,
                sender,
                Kind.SWAP_ETH_FOR_TOKENS,
                actor="innocent",
                tag="swap",
                gas_price=gp,
                to=self.router,
                recipient=sender,
                send_all=True,
                reserve=reserve,
                deps=deps,
            )
            w.eth = 0
        else:
            value = min(w.eth // 3, rng.randint(1, 40) * ETH)
            self.spend(sender, value + self.gas_cost(Kind.SWAP_ETH_FOR_TOKENS, gp), "swap")
            swap = self.act(
                when,
                sender,
                Kind.SWAP_ETH_FOR_TOKENS,
                actor="innocent",
                tag="swap",
                gas_price=gp,
                to=self.router,
                value=value,
                recipient=sender,
                deps=deps,
            )
            self.spend(sender, reserve, "token transfer gas")
        exchange = rng.randrange(len(self.exchanges))
        if self.exchanges[exchange].uses_forwarders and rng.random() < 0.5:
            account = self.new_forwarder(exchange, "innocent")
        else:
            account = self.new_deposit_eoa(exchange, "innocent")
        self.deposit(
            when + rng.randint(self.step, 6 * HOUR),
            sender,
            account,
            "tUSD",
            actor="innocent",
            tag="deposit",
            gas_price=gp,
            send_all=True,
            deps=[swap],
        )

    def _innocent_exchange(self, main: Address, start: int) -> None:
        rng = self.rng
        w = self.wallet(main)
        account = self.new_deposit_eoa(rng.randrange(len(self.exchanges)), "innocent")
        when = start
        for _ in range(rng.randint(1, 3)):
            value = rng.randint(1, 30) * ETH // rng.choice((1, 10, 100))
            self.spend(main, value + self.gas_cost(Kind.ETH_TRANSFER, w.gas_price), "deposit")
            self.deposit(
                when,
                main,
                account,
                "ETH",
                actor="innocent",
                tag="deposit",
                gas_price=w.gas_price,
                value=value,
            )
            when += rng.randint(self.step, DAY)

    def _innocent_forwarder(self, main: Address, start: int) -> None:
        rng = self.rng
        w = self.wallet(main)
        account = self.new_forwarder(self.forwarder_exchange(), "innocent")
        value = rng.randint(1, 50) * ETH // 10
        self.spend(main, value + FORWARDER_DEPOSIT_GAS * w.gas_price, "forwarder deposit")
        self.deposit(
            start,
            main,
            account,
            "ETH",
            actor="innocent",
            tag="deposit",
            gas_price=w.gas_price,
            value=value,
        )

    def _innocent_bridge(self, main: Address, start: int) -> None:
        rng = self.rng
        w = self.wallet(main)
        value = rng.randint(1, 60) * ETH // 4
        self.spend(main, value + self.gas_cost(Kind.BRIDGE_ETH, w.gas_price), "bridge")
        self.act(
            start,
            main,
            Kind.BRIDGE_ETH,
            actor="innocent",
            tag="bridge",
            gas_price=w.gas_price,
            to=self.bridge,
            value=value,
            dest_chain=rng.choice(BRIDGE_CHAINS),
            recipient=main,
        )

    def _innocent_otc(self, main: Address, index: int, start: int) -> None:
        """Consolidate from a few own wallets and pay the OTC desk (a collector look-alike)."""
        rng = self.rng
        w = self.wallet(main)
        gp = w.gas_price
        feeders = [self.addr(f"innocent-{index}-feeder", k) for k in range(rng.randint(2, 4))]
        collector = self.addr(f"innocent-{index}-collector")
        self.wallet(collector).gas_price = gp
        payments: list[int] = []
        for feeder in feeders:
            value = rng.randint(2, 20) * ETH
            self.spend(main, value + 21_000 * gp, "otc feeder")
            funding = self.act(
                start,
                main,
                Kind.ETH_TRANSFER,
                actor="innocent",
                tag="hop",
                gas_price=gp,
                to=feeder,
                value=value,
            )
            payments.append(
                self.act(
                    start + rng.randint(self.step, 6 * HOUR),
                    feeder,
                    Kind.ETH_TRANSFER,
                    actor="innocent",
                    tag="hop",
                    gas_price=gp,
                    to=collector,
                    send_all=True,
                    deps=[funding],
                )
            )
        ready = max(self.actions[p].time for p in payments)
        self.act(
            ready + rng.randint(self.step, 6 * HOUR),
            collector,
            Kind.ETH_TRANSFER,
            actor="innocent",
            tag="otc",
            gas_price=gp,
            to=self.otc_desk,
            send_all=True,
            deps=payments,
        )

    def _innocent_hopper(self, main: Address, index: int, start: int) -> None:
        """Move funds through a few own wallets, paying a deposit address on the way."""
        rng = self.rng
        gp = self.wallet(main).gas_price
        value = rng.randint(5, 40) * ETH
        self.spend(main, value + 21_000 * gp, "hopper")
        hops = [self.addr(f"innocent-{index}-hop", k) for k in range(rng.randint(2, 4))]
        action = self.act(
            start,
            main,
            Kind.ETH_TRANSFER,
            actor="innocent",
            tag="hop",
            gas_price=gp,
            to=hops[0],
            value=value,
        )
        balance = value
        when = start
        for k, hop in enumerate(hops):
            when += rng.randint(self.step, 4 * HOUR)
            account = self.new_deposit_eoa(rng.randrange(len(self.exchanges)), "innocent")
            if k == len(hops) - 1:
                self.deposit(
                    when,
                    hop,
                    account,
                    "ETH",
                    actor="innocent",
                    tag="deposit",
                    gas_price=gp,
                    send_all=True,
                    deps=[action],
                )
                return
            part = balance * rng.randint(10, 30) // 100 // (ETH // 100) * (ETH // 100)
            self.deposit(
                when,
                hop,
                account,
                "ETH",
                actor="innocent",
                tag="deposit",
                gas_price=gp,
                value=part,
                deps=[action],
            )
            action = self.act(
                when,
                hop,
                Kind.ETH_TRANSFER,
                actor="innocent",
                tag="hop",
                gas_price=gp,
                to=hops[k + 1],
                send_all=True,
                deps=[action],
            )
            balance -= part + 2 * 21_000 * gp

    # ------------------------------------------------------------------ background

    def _background(self) -> None:
        """Many ordinary users: swaps, exchange payouts and deposits, transfers, a little mixing.

        Events are drawn over the whole period and processed in time order; each user's wallet
        view keeps their spending within what they surely hold. An event a user cannot afford
        becomes an exchange payout to them.
        """
        rng = self.rng
        p = self.p
        users = [self.addr("user", u) for u in range(p.background_users)]
        self.background_wallets = users
        for user in users:
            self.fund(user, rng.randint(1, 60) * ETH + rng.randrange(ETH))
            self.wallet(user).gas_price = self.habit_gas_price()
        for exchange in p.forwarder_exchanges:
            for k in range(p.background_forwarders):
                user = users[(k * 7 + exchange) % len(users)]
                if user not in self.bg_forwarders:
                    self.bg_forwarders[user] = self.new_forwarder(exchange, "background")
        handlers: dict[str, Callable[[_Event], bool]] = {
            "swap_eth": self._bg_swap_eth,
            "swap_usd": self._bg_swap_usd,
            "payout_eth": lambda _event: False,  # the fallback below
            "payout_usd": self._bg_payout_usd,
            "deposit_eth": self._bg_deposit_eth,
            "deposit_usd": self._bg_deposit_usd,
            "forwarder": self._bg_forwarder,
            "p2p_eth": self._bg_p2p_eth,
            "p2p_usd": self._bg_p2p_usd,
            "mixer": self._bg_mixer,
        }
        weights = {
            "swap_eth": 36,
            "swap_usd": 14,
            "payout_eth": 14,
            "payout_usd": 9,
            "deposit_eth": 10,
            "deposit_usd": 4,
            "forwarder": 6,
            "p2p_eth": 6,
            "p2p_usd": 3,
            "mixer": 2,
        }
        kinds = [kind for kind, weight in weights.items() for _ in range(weight)]
        # A few heavy users (market makers, bots) make many of the events.
        user_weights = [20 if u % 50 == 0 else 1 for u in range(len(users))]
        times = sorted(rng.randint(self.step, self.horizon) for _ in range(p.background_events))
        chosen = rng.choices(users, weights=user_weights, k=len(times))
        for when, user in zip(times, chosen, strict=True):
            kind = rng.choice(kinds)
            event = _Event(when, user, self.wallet(user), rng.randrange(len(self.exchanges)))
            if not handlers[kind](event):
                self._bg_payout_eth(event)

    def _affords(self, event: _Event, kind: Kind, value: int, *, to_contract: bool = False) -> bool:
        cost = value + self.gas_cost(kind, event.wallet.gas_price, to_contract=to_contract)
        return event.wallet.eth >= cost + ETH // 100

    def _bg_act(self, event: _Event, kind: Kind, tag: str, **fields: Any) -> int:
        """A background user's transaction, after every credit it has been waiting for."""
        return self.act(
            event.when,
            event.user,
            kind,
            actor="background",
            tag=tag,
            gas_price=event.wallet.gas_price,
            deps=self.take_pending(event.user),
            **fields,
        )

    def _bg_swap_eth(self, event: _Event) -> bool:
        value = self.rng.randint(5, 500) * ETH // 100
        kind = Kind.SWAP_ETH_FOR_TOKENS
        if not self._affords(event, kind, value):
            return False
        self.spend(event.user, value + self.gas_cost(kind, event.wallet.gas_price), "swap")
        swap = self._bg_act(event, kind, "swap", to=self.router, value=value, recipient=event.user)
        # The tUSD bought is an amount only the chain knows: never spent by the plan.
        event.wallet.pending.append(swap)
        return True

    def _bg_swap_usd(self, event: _Event) -> bool:
        w = event.wallet
        if w.usd < USD or not self._affords(event, Kind.SWAP_TOKENS_FOR_ETH, 0):
            return False
        gp = w.gas_price
        deps = self.take_pending(event.user)
        if self.router not in w.approved:
            self.spend(event.user, self.gas_cost(Kind.APPROVE, gp), "approve")
            self.act(
                event.when,
                event.user,
                Kind.APPROVE,
                actor="background",
                tag="approve",
                gas_price=gp,
                to=self.tusd,
                token=self.tusd,
                recipient=self.router,
                deps=deps,
            )
            w.approved.add(self.router)
        # Sell part of what it surely holds; "everything" would be ambiguous for a wallet that
        # a payout may reach in the same block.
        amount = w.usd * self.rng.randint(20, 100) // 100
        self.spend(event.user, self.gas_cost(Kind.SWAP_TOKENS_FOR_ETH, gp), "swap")
        swap = self.act(
            event.when,
            event.user,
            Kind.SWAP_TOKENS_FOR_ETH,
            actor="background",
            tag="swap",
            gas_price=gp,
            to=self.router,
            token=self.tusd,
            amount=amount,
            recipient=event.user,
            deps=deps,
        )
        w.usd -= amount
        w.pending.append(swap)
        return True

    def _bg_payout_eth(self, event: _Event) -> None:
        ex = self.exchanges[event.exchange]
        value = self.rng.randint(5, 1000) * ETH // 100
        payout = self.act(
            event.when,
            ex.hot_wallet,
            Kind.ETH_TRANSFER,
            actor="exchange",
            tag="payout",
            gas_price=ex.gas_price,
            to=event.user,
            value=value,
        )
        event.wallet.eth += value
        event.wallet.pending.append(payout)

    def _bg_payout_usd(self, event: _Event) -> bool:
        ex = self.exchanges[event.exchange]
        amount = self.rng.randint(100, 20_000) * USD
        payout = self.act(
            event.when,
            ex.hot_wallet,
            Kind.TOKEN_TRANSFER,
            actor="exchange",
            tag="payout",
            gas_price=ex.gas_price,
            to=self.tusd,
            token=self.tusd,
            recipient=event.user,
            amount=amount,
        )
        event.wallet.usd += amount
        event.wallet.pending.append(payout)
        return True

    def _bg_account(self, event: _Event, asset: Asset) -> Address:
        # One deposit EOA per user, exchange and asset: an EOA that pays for token sweeps no
        # longer knows its exact ETH balance, and ETH sweeps send exactly everything.
        key = (event.user, event.exchange, asset)
        account = self.bg_accounts.get(key)
        if account is None:
            account = self.bg_accounts[key] = self.new_deposit_eoa(event.exchange, "background")
        return account

    def _bg_deposit_eth(self, event: _Event) -> bool:
        value = self.rng.randint(1, 300) * ETH // 100
        if not self._affords(event, Kind.ETH_TRANSFER, value):
            return False
        gp = event.wallet.gas_price
        self.spend(event.user, value + self.gas_cost(Kind.ETH_TRANSFER, gp), "deposit")
        self.deposit(
            event.when,
            event.user,
            self._bg_account(event, "ETH"),
            "ETH",
            actor="background",
            tag="deposit",
            gas_price=gp,
            value=value,
            deps=self.take_pending(event.user),
        )
        return True

    def _bg_deposit_usd(self, event: _Event) -> bool:
        w = event.wallet
        if w.usd < USD or not self._affords(event, Kind.TOKEN_TRANSFER, 0):
            return False
        self.spend(event.user, self.gas_cost(Kind.TOKEN_TRANSFER, w.gas_price), "deposit")
        self.deposit(
            event.when,
            event.user,
            self._bg_account(event, "tUSD"),
            "tUSD",
            actor="background",
            tag="deposit",
            gas_price=w.gas_price,
            amount=w.usd,
            deps=self.take_pending(event.user),
        )
        w.usd = 0
        return True

    def _bg_forwarder(self, event: _Event) -> bool:
        forwarder = self.bg_forwarders.get(event.user)
        value = self.rng.randint(1, 200) * ETH // 100
        if forwarder is None or not self._affords(
            event, Kind.ETH_TRANSFER, value, to_contract=True
        ):
            return False
        gp = event.wallet.gas_price
        self.spend(event.user, value + FORWARDER_DEPOSIT_GAS * gp, "forwarder deposit")
        self.deposit(
            event.when,
            event.user,
            forwarder,
            "ETH",
            actor="background",
            tag="deposit",
            gas_price=gp,
            value=value,
            deps=self.take_pending(event.user),
        )
        return True

    def _bg_p2p_eth(self, event: _Event) -> bool:
        value = self.rng.randint(1, 200) * ETH // 100
        other = self.rng.choice(self.background_wallets)
        if other == event.user or not self._affords(event, Kind.ETH_TRANSFER, value):
            return False
        gp = event.wallet.gas_price
        self.spend(event.user, value + self.gas_cost(Kind.ETH_TRANSFER, gp), "p2p")
        sent = self._bg_act(event, Kind.ETH_TRANSFER, "p2p", to=other, value=value)
        self.wallet(other).eth += value
        self.wallet(other).pending.append(sent)
        return True

    def _bg_p2p_usd(self, event: _Event) -> bool:
        w = event.wallet
        other = self.rng.choice(self.background_wallets)
        amount = w.usd * self.rng.randint(10, 60) // 100
        if other == event.user or amount == 0 or not self._affords(event, Kind.TOKEN_TRANSFER, 0):
            return False
        self.spend(event.user, self.gas_cost(Kind.TOKEN_TRANSFER, w.gas_price), "p2p")
        sent = self._bg_act(
            event,
            Kind.TOKEN_TRANSFER,
            "p2p",
            to=self.tusd,
            token=self.tusd,
            recipient=other,
            amount=amount,
        )
        w.usd -= amount
        self.wallet(other).usd += amount
        self.wallet(other).pending.append(sent)
        return True

    def _bg_mixer(self, event: _Event) -> bool:
        """Deposit a small note, withdraw it hours to days later to a fresh address."""
        rng = self.rng
        denomination = rng.choice(DENOMINATIONS[:2])
        gp = event.wallet.gas_price
        if event.when >= self.horizon - DAY or not self._affords(
            event, Kind.MIXER_DEPOSIT, denomination + self.gas_cost(Kind.MIXER_WITHDRAW, gp)
        ):
            return False
        self.spend(
            event.user, denomination + self.gas_cost(Kind.MIXER_DEPOSIT, gp), "mixer deposit"
        )
        note = self.mixer_deposit(
            event.when,
            event.user,
            denomination,
            "background",
            actor="background",
            gas_price=gp,
            deps=self.take_pending(event.user),
        )
        recipient = self.addr("user-withdrawal", self._withdrawal_counter)
        self._withdrawal_counter += 1
        relayer = rng.choice((self.relayers[0], self.relayers[1], None))
        if relayer is None:
            self.spend(event.user, self.gas_cost(Kind.MIXER_WITHDRAW, gp), "withdraw")
        self.mixer_withdraw(
            event.when + rng.randint(4 * HOUR, 3 * DAY),
            note,
            recipient,
            relayer=relayer,
            sender=event.user,
            actor="background",
            gas_price=gp,
        )
        return True

    # ------------------------------------------------------------------ exchanges' own moves

    def _sweeps(self, slots: dict[int, int]) -> None:
        """Every deposit account is emptied to its exchange's hot wallet within hours.

        Runs once blocks are assigned, so that a sweep takes exactly the deposits mined in
        earlier blocks (a sweep never shares a block with a deposit to its account). Token
        deposit EOAs first get gas from the hot wallet; ETH sent to forwarders is already gone.
        """
        rng = self.rng
        by_name = {ex.name: ex for ex in self.exchanges}
        for address, account in self.deposit_accounts.items():
            ex = by_name[account.exchange]
            assets: tuple[Asset, ...] = (
                ("tUSD",) if account.kind == "forwarder" else ("ETH", "tUSD")
            )
            deposit_slots = {slots[a] for a, _ in self.deposits_into[address]}
            for asset in assets:
                deposits = sorted(
                    (slots[a], a) for a, kind in self.deposits_into[address] if kind == asset
                )
                i = 0
                while i < len(deposits):
                    when = deposits[i][0] * self.slot + rng.randint(30 * MINUTE, 6 * HOUR)
                    slot = when // self.slot
                    while slot in deposit_slots:
                        slot += 1
                        when = slot * self.slot
                    covered = [a for s, a in deposits[i:] if s < slot]
                    i += len(covered)
                    for action, action_slot in self._sweep(ex, account, asset, when, covered):
                        slots[action] = action_slot

    def _sweep(
        self, ex: Exchange, account: DepositAccount, asset: Asset, when: int, covered: list[int]
    ) -> list[tuple[int, int]]:
        """The sweep's actions with their slots."""
        address = account.address
        slot = when // self.slot
        if account.kind == "forwarder":
            sweep = self.act(
                when,
                ex.hot_wallet,
                Kind.FORWARDER_SWEEP,
                actor="exchange",
                tag="sweep",
                gas_price=ex.gas_price,
                to=address,
                token=self.tusd,
                recipient=ex.hot_wallet,
                deps=covered,
            )
            return [(sweep, slot)]
        if asset == "ETH":
            sweep = self.act(
                when,
                address,
                Kind.ETH_TRANSFER,
                actor="exchange",
                tag="sweep",
                gas_price=ex.gas_price,
                to=ex.hot_wallet,
                send_all=True,
                deps=covered,
            )
            return [(sweep, slot)]
        top_up = self.act(
            when - self.step,
            ex.hot_wallet,
            Kind.ETH_TRANSFER,
            actor="exchange",
            tag="gas_top_up",
            gas_price=ex.gas_price,
            to=address,
            value=GAS_TOP_UP,
        )
        sweep = self.act(
            when,
            address,
            Kind.TOKEN_TRANSFER,
            actor="exchange",
            tag="sweep",
            gas_price=ex.gas_price,
            to=self.tusd,
            token=self.tusd,
            recipient=ex.hot_wallet,
            send_all=True,
            deps=[*covered, top_up],
        )
        return [(top_up, (when - self.step) // self.slot), (sweep, slot)]

    # ------------------------------------------------------------------ setup

    def _setup(self) -> None:
        """Deploy everything, seed DEX liquidity, mint tUSD: all at time 0, before any story."""
        gp = 2 * GWEI
        p = self.p
        liquidity_eth = p.dex_liquidity_eth * ETH
        self.fund(self.deployer, liquidity_eth + 1_000 * ETH)
        for spec in sorted(self.contracts.values(), key=lambda c: c.nonce):
            self.act(
                0,
                self.deployer,
                Kind.DEPLOY,
                actor="setup",
                tag="deploy",
                gas_price=gp,
                contract=spec.key,
            )
        pair = self.contracts["pair"].address
        self.act(
            0,
            self.deployer,
            Kind.WRAP,
            actor="setup",
            tag="liquidity",
            gas_price=gp,
            to=self.weth,
            value=liquidity_eth,
        )
        self.act(
            0,
            self.deployer,
            Kind.TOKEN_TRANSFER,
            actor="setup",
            tag="liquidity",
            gas_price=gp,
            to=self.weth,
            token=self.weth,
            recipient=pair,
            amount=liquidity_eth,
        )
        self.act(
            0,
            self.deployer,
            Kind.MINT,
            actor="setup",
            tag="liquidity",
            gas_price=gp,
            to=self.tusd,
            recipient=pair,
            amount=liquidity_eth // ETH * p.eth_price_usd * USD,
        )
        self.act(0, self.deployer, Kind.SYNC, actor="setup", tag="liquidity", gas_price=gp, to=pair)
        for recipient, amount in self.mints:
            self.act(
                0,
                self.deployer,
                Kind.MINT,
                actor="setup",
                tag="mint",
                gas_price=gp,
                to=self.tusd,
                recipient=recipient,
                amount=amount,
            )


# --------------------------------------------------------------------------- scheduling


def _assign_slots(actions: list[Action], slot_seconds: int) -> dict[int, int]:
    """Action id -> slot (block) of ``slot_seconds``, from its time.

    An action lands in a later block than every dependency (it spends what they delivered, and
    balances are read before its block), and never before an earlier action of its own sender
    (nonce order).
    """
    order = sorted(actions, key=lambda a: (a.time, a.id))
    position = {a.id: i for i, a in enumerate(order)}
    slots: dict[int, int] = {}
    last_slot: dict[Address, int] = {}
    for action in order:
        slot = action.time // slot_seconds
        for dep in action.deps:
            if position[dep] >= position[action.id]:
                raise PlanError(f"action {action.id} ({action.tag}) depends on later {dep}")
            slot = max(slot, slots[dep] + 1)
        slot = max(slot, last_slot.get(action.sender, 0))
        slots[action.id] = slot
        last_slot[action.sender] = slot
    return slots


def _blocks(
    actions: list[Action], slots: Mapping[int, int], slot_seconds: int
) -> tuple[list[Action], list[PlannedBlock]]:
    """One block per occupied slot; each action takes its block's index and time."""
    by_slot: dict[int, list[Action]] = defaultdict(list)
    for action in sorted(actions, key=lambda a: (slots[a.id], a.time, a.id)):
        by_slot[slots[action.id]].append(action)
    scheduled = list(actions)
    blocks: list[PlannedBlock] = []
    for index, slot in enumerate(sorted(by_slot)):
        members = by_slot[slot]
        block_time = max(slot * slot_seconds, min(a.time for a in members))
        for a in members:
            scheduled[a.id] = replace(a, time=block_time, block=index)
        blocks.append(PlannedBlock(index, block_time, tuple(a.id for a in members)))
    return scheduled, blocks


# --------------------------------------------------------------------------- settling amounts


@dataclass
class _Balance:
    amount: int = 0  # a lower bound; exact while ``exact``
    exact: bool = True


def _settle(plan: Plan) -> Plan:
    """Walk the blocks in order: fix every ``send_all`` amount that is knowable and check
    that no sender ever spends more than it is sure to hold.

    Debits take effect at once, credits at the end of their block (another sender's transfer
    in the same block may run after ours). A plain transfer to an address without code costs
    exactly 21000 gas; anything else is charged its gas limit, which makes the balance a lower
    bound from then on. Token amounts the chain decides (swap outputs) are unknown: the builder
    reads such balances before the block.
    """
    eth: dict[Address, _Balance] = defaultdict(_Balance)
    usd: dict[Address, _Balance] = defaultdict(_Balance)
    tokens = {plan.tusd: usd}
    for address, wei in plan.genesis_balances.items():
        eth[address].amount = wei
    actions = list(plan.actions)
    for block in plan.blocks:
        credits: list[tuple[dict[Address, _Balance], Address, int | None]] = []
        for action_id in block.actions:
            action = actions[action_id]
            action = actions[action_id] = _settle_action(plan, action, eth, tokens)
            # Only credits are applied from the moves: the sender's debits were taken above,
            # and contracts (pools, router, WETH) are not checked.
            for move in moves(plan, action):
                ledger = eth if move.asset == NATIVE else tokens.get(move.asset)
                if ledger is not None:
                    credits.append((ledger, move.dst, move.amount))
        for ledger, address, amount in credits:
            entry = ledger[address]
            if amount is None:
                entry.exact = False
            else:
                entry.amount += amount
    return replace(plan, actions=tuple(actions))


def _settle_action(
    plan: Plan,
    action: Action,
    eth: dict[Address, _Balance],
    tokens: Mapping[Address, dict[Address, _Balance]],
) -> Action:
    sender = eth[action.sender]
    exact_gas = action.kind is Kind.ETH_TRANSFER and not plan.has_code(action.to or ZERO_ADDRESS)
    gas_cost = action.gas * action.gas_price
    value = action.value
    amount = action.amount
    if action.send_all and action.kind in (
        Kind.ETH_TRANSFER,
        Kind.BRIDGE_ETH,
        Kind.SWAP_ETH_FOR_TOKENS,
    ):
        if not sender.exact:
            raise PlanError(
                f"action {action.id} ({action.tag}) sends all ETH of {action.sender}, "
                "whose balance is not known exactly"
            )
        value = sender.amount - gas_cost - action.reserve
    elif action.send_all and action.token is not None and action.token in tokens:
        holder = tokens[action.token][action.sender]
        amount = holder.amount if holder.exact else None
    moves_value = action.kind in (Kind.ETH_TRANSFER, Kind.BRIDGE_ETH, Kind.SWAP_ETH_FOR_TOKENS)
    if value < 0 or (value == 0 and moves_value) or amount == 0:
        raise PlanError(
            f"action {action.id} ({action.tag}) by {action.sender}: nothing to send "
            f"(value {value}, amount {amount})"
        )
    # Debit the sender now.
    sender.amount -= value + gas_cost
    if not exact_gas:
        sender.exact = False
    if sender.amount < 0:
        raise PlanError(
            f"action {action.id} ({action.tag}) at block {action.block}: {action.sender} "
            f"overspends by {-sender.amount} wei"
        )
    token_debit = action.kind in (
        Kind.TOKEN_TRANSFER,
        Kind.BRIDGE_TOKEN,
        Kind.SWAP_TOKENS_FOR_ETH,
    )
    ledger = tokens.get(action.token) if action.token is not None else None
    if token_debit and ledger is not None:
        holder = ledger[action.sender]
        if amount is None:
            # Everything it held before this block goes: exactly zero afterwards.
            holder.amount = 0
            holder.exact = True
        else:
            holder.amount -= amount
            if holder.amount < 0 and holder.exact:
                raise PlanError(
                    f"action {action.id} ({action.tag}): {action.sender} sends {amount} "
                    f"token units, holds {holder.amount + amount}"
                )
    if action.kind is Kind.FORWARDER_SWEEP and action.to is not None and ledger is not None:
        swept = ledger[action.to]
        swept.amount = 0
        swept.exact = False
    return replace(action, value=value, amount=amount)
