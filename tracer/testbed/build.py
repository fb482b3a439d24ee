"""Execute a scenario plan on an anvil node and record what the chain did.

The plan (:mod:`tracer.testbed.scenario`) fixes every transaction; this module only turns each
action into calldata, sends each planned block as one JSON-RPC batch, mines it at the planned
time and checks that every transaction landed in it. Afterwards it reads all receipts (one
``eth_getBlockReceipts`` per block) to check that every transaction succeeded and to record the
few amounts only the chain knows: DEX outputs and forwarder sweeps, plus each transaction's fee.

Node requirements: anvil with ``--auto-impersonate`` (any address sends without keys). The
builder turns mining off itself and raises the block gas limit if a planned block needs it;
``AnvilOptions.for_bulk()`` starts a node that needs neither. Transactions are legacy
(``gasPrice``) so each sender's gas price is visible as planned; anvil's base fee falls towards
zero in these under-full blocks, so every planned price (2 gwei and up) stays valid.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_hash.auto import keccak

from tracer.errors import TestbedError
from tracer.testbed.anvil import AnvilOptions
from tracer.testbed.chain import AbiFunction, Artifact, Chain, Tx, load_artifact
from tracer.testbed.ground_truth import build_ground_truth, label_rows, write_outputs
from tracer.testbed.scenario import (
    MAX_UINT256,
    Action,
    Kind,
    Plan,
    PlannedBlock,
    make_plan,
)
from tracer.types import ZERO_ADDRESS

#: keccak("Transfer(address,address,uint256)")
TRANSFER_TOPIC: Final = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
#: Swaps must be mined within this many seconds of their block's time (Uniswap's deadline).
SWAP_DEADLINE_SECONDS: Final = 1800
#: Blocks per eth_getBlockReceipts batch: receipts are the bulkiest answers anvil gives.
RECEIPT_BATCH_BLOCKS: Final = 25
BLOCK_GAS_LIMIT: Final = 1_000_000_000
#: Genesis time of nodes started for a build (2024-05-01 UTC): reproducible block times.
GENESIS_TIMESTAMP: Final = 1_714_521_600

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Execution:
    """What running a plan produced, by plan index (action id, plan block index)."""

    chain_id: int
    origin: int  # unix time of the plan's time 0
    block_numbers: tuple[int, ...]  # plan block -> chain block number
    block_timestamps: tuple[int, ...]  # plan block -> its unix timestamp
    tx_hashes: tuple[str, ...]  # action id -> transaction hash
    fees: tuple[int, ...]  # action id -> gasUsed * effectiveGasPrice (wei the sender paid)
    resolved: Mapping[int, int]  # action id -> token amount the builder read before the block
    outputs: Mapping[int, int]  # action id -> amount only the chain knew (DEX out, sweep)
    seconds: float  # wall time of sending and mining

    @property
    def first_block(self) -> int:
        return self.block_numbers[0]

    @property
    def last_block(self) -> int:
        return self.block_numbers[-1]


def node_options() -> AnvilOptions:
    """How to start anvil for a scenario build (the CLI, tests, the benchmark)."""
    return AnvilOptions.for_bulk(genesis_timestamp=GENESIS_TIMESTAMP)


@dataclass(frozen=True)
class BuiltScenario:
    plan: Plan
    execution: Execution
    ground_truth: dict[str, Any]
    labels: list[dict[str, str]]


def build_scenario(
    chain: Chain,
    seed: int,
    scale: str,
    *,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> BuiltScenario:
    """Plan, execute on ``chain``'s node, derive the ground truth; write it if ``out_dir``."""
    say = progress or (lambda _message: None)
    say(f"planning {scale} scenario, seed {seed}")
    plan = make_plan(seed, scale)
    say(f"executing {len(plan.actions)} transactions in {len(plan.blocks)} blocks")
    execution = execute(plan, chain, progress=progress)
    ground_truth = build_ground_truth(plan, execution)
    labels = label_rows(plan, execution)
    if out_dir is not None:
        write_outputs(out_dir, ground_truth, labels)
    return BuiltScenario(plan, execution, ground_truth, labels)


class _Encoder:
    """Calldata for each action kind (ABI functions looked up once)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        artifacts = {spec.artifact for spec in plan.contracts.values()}
        self.artifacts: dict[str, Artifact] = {name: load_artifact(name) for name in artifacts}
        self._functions: dict[tuple[str, str], AbiFunction] = {}
        self.path_eth_in = [plan.weth, plan.tusd]
        self.path_tokens_in = [plan.tusd, plan.weth]
        self._table = self._encoders()

    def fn(self, artifact: str, name: str) -> AbiFunction:
        key = (artifact, name)
        found = self._functions.get(key)
        if found is None:
            found = self._functions[key] = self.artifacts[artifact].function(name)
        return found

    def data(self, action: Action, amount: int | None, block_time: int) -> bytes:
        """Calldata of ``action``; ``amount`` is its token amount, resolved if it was open."""
        encode = self._table.get(action.kind)
        if encode is None:
            raise TestbedError(f"no encoding for action kind {action.kind}")
        return encode(action, amount, block_time)

    def _encoders(self) -> dict[Kind, Callable[[Action, int | None, int], bytes]]:
        return {
            Kind.DEPLOY: self._deploy,
            Kind.ETH_TRANSFER: lambda _a, _amount, _t: b"",
            Kind.TOKEN_TRANSFER: lambda a, amount, _t: self.fn("TestUSD", "transfer").encode(
                [a.recipient, amount]
            ),
            Kind.MINT: lambda a, amount, _t: self.fn("TestUSD", "mint").encode(
                [a.recipient, amount]
            ),
            Kind.APPROVE: lambda a, _amount, _t: self.fn("TestUSD", "approve").encode(
                [a.recipient, MAX_UINT256]
            ),
            Kind.WRAP: lambda _a, _amount, _t: self.fn("WETH9", "deposit").encode([]),
            Kind.SYNC: lambda _a, _amount, _t: self.fn("UniswapV2Pair", "sync").encode([]),
            Kind.MIXER_DEPOSIT: self._mixer_deposit,
            Kind.MIXER_WITHDRAW: lambda a, _amount, _t: self._withdraw(a),
            Kind.SWAP_ETH_FOR_TOKENS: lambda a, _amount, t: self.fn(
                "UniswapV2Router", "swapExactETHForTokens"
            ).encode([0, self.path_eth_in, a.recipient, t + SWAP_DEADLINE_SECONDS]),
            Kind.SWAP_TOKENS_FOR_ETH: lambda a, amount, t: self.fn(
                "UniswapV2Router", "swapExactTokensForETH"
            ).encode([amount, 0, self.path_tokens_in, a.recipient, t + SWAP_DEADLINE_SECONDS]),
            Kind.BRIDGE_ETH: lambda a, _amount, _t: self.fn("Bridge", "depositETH").encode(
                [a.dest_chain, a.recipient]
            ),
            Kind.BRIDGE_TOKEN: lambda a, amount, _t: self.fn("Bridge", "depositERC20").encode(
                [a.token, amount, a.dest_chain, a.recipient]
            ),
            Kind.FORWARDER_SWEEP: lambda a, _amount, _t: self.fn(
                "DepositForwarder", "sweep"
            ).encode([a.token]),
        }

    def _deploy(self, action: Action, _amount: int | None, _time: int) -> bytes:
        assert action.contract is not None
        spec = self.plan.contracts[action.contract]
        return self.artifacts[spec.artifact].deploy_data(spec.args)

    def _mixer_deposit(self, action: Action, _amount: int | None, _time: int) -> bytes:
        assert action.note is not None
        commitment = self.plan.notes[action.note].commitment
        return self.fn("TornadoPool", "deposit").encode([bytes.fromhex(commitment[2:])])

    def _withdraw(self, action: Action) -> bytes:
        assert action.note is not None
        note = self.plan.notes[action.note]
        commitment = bytes.fromhex(note.commitment[2:])
        # The testbed pool verifies nothing; a proof-sized blob keeps calldata realistic.
        proof = b"".join(keccak(commitment + bytes([k])) for k in range(8))
        root = keccak(b"root" + commitment)
        return self.fn("TornadoPool", "withdraw").encode(
            [
                proof,
                root,
                bytes.fromhex(note.nullifier_hash[2:]),
                note.recipient,
                note.relayer or ZERO_ADDRESS,
                note.fee,
                0,
            ]
        )


_TOKEN_DEBITS: Final = (Kind.TOKEN_TRANSFER, Kind.BRIDGE_TOKEN, Kind.SWAP_TOKENS_FOR_ETH)


def execute(plan: Plan, chain: Chain, *, progress: Progress | None = None) -> Execution:
    """Run ``plan`` on the node behind ``chain``; the node must not have seen this seed yet.

    Mining is switched off while building; an automining node gets automine back afterwards.
    """
    say = progress or (lambda _message: None)
    chain_id = chain.chain_id()
    if chain.next_nonce(plan.deployer) != 0:
        raise TestbedError(
            f"the scenario's deployer {plan.deployer} has already sent transactions on this "
            f"node: seed {plan.seed} was built here before; use a fresh node"
        )
    automine = chain.automine()
    _prepare_node(chain, plan)
    try:
        head = chain.block("latest")
        # Time 0 of the plan: just after the node's head, so every planned block is in its
        # future (on a node started with a fixed genesis time, block times are reproducible).
        origin = int(head["timestamp"], 16) + 60
        chain.set_balances({str(a): wei for a, wei in plan.genesis_balances.items()})
        started = time.monotonic()
        run = _run_blocks(plan, chain, origin, say)
        seconds = time.monotonic() - started
        say(f"  checking {len(plan.actions)} receipts")
        fees, outputs = _read_receipts(plan, chain, run.block_numbers, run.tx_hashes)
    finally:
        if automine:
            chain.set_automine(True)
    return Execution(
        chain_id=chain_id,
        origin=origin,
        block_numbers=tuple(run.block_numbers),
        block_timestamps=tuple(run.block_timestamps),
        tx_hashes=tuple(run.tx_hashes),
        fees=tuple(fees),
        resolved=run.resolved,
        outputs=outputs,
        seconds=seconds,
    )


@dataclass
class _Run:
    tx_hashes: list[str]
    resolved: dict[int, int]
    block_numbers: list[int]
    block_timestamps: list[int]


def _run_blocks(plan: Plan, chain: Chain, origin: int, say: Progress) -> _Run:
    """Send each planned block as one batch, mine it at its time, check it holds them all."""
    encoder = _Encoder(plan)
    run = _Run([""] * len(plan.actions), {}, [], [])
    started = time.monotonic()
    sent = 0
    for block in plan.blocks:
        timestamp = origin + block.time
        amounts = _resolve_amounts(plan, block, chain)
        run.resolved.update(amounts)
        txs = [_tx(plan.actions[a], encoder, amounts.get(a), timestamp) for a in block.actions]
        hashes = chain.send_many(txs)
        number = chain.mine(timestamp)
        included = set(chain.block(number)["transactions"])
        if len(included) != len(hashes) or included != set(hashes):
            missing = [h for h in hashes if h not in included]
            raise TestbedError(
                f"planned block {block.index}: {len(missing)} of {len(hashes)} transactions "
                f"were not mined in block {number} (first: {missing[:1]}); is the node mining "
                "by itself, or its block gas limit too low?"
            )
        for action_id, tx_hash in zip(block.actions, hashes, strict=True):
            run.tx_hashes[action_id] = tx_hash
        run.block_numbers.append(number)
        run.block_timestamps.append(timestamp)
        sent += len(hashes)
        if block.index % 100 == 99 or block.index == len(plan.blocks) - 1:
            say(
                f"  block {block.index + 1}/{len(plan.blocks)}: {sent} transactions "
                f"({time.monotonic() - started:.1f} s)"
            )
    return run


def _prepare_node(chain: Chain, plan: Plan) -> None:
    """Mining on demand only, and room in each block for the largest planned block."""
    chain.set_interval_mining(0)
    chain.set_automine(False)
    pending = chain.request("txpool_status")
    if int(pending.get("pending", "0x0"), 16) or int(pending.get("queued", "0x0"), 16):
        raise TestbedError(f"the node has pending transactions ({pending}); use a fresh node")
    needed = max(sum(plan.actions[a].gas for a in b.actions) for b in plan.blocks)
    if int(chain.block("latest")["gasLimit"], 16) < needed:
        chain.request("evm_setBlockGasLimit", [hex(max(needed, BLOCK_GAS_LIMIT))])


def _resolve_amounts(plan: Plan, block: PlannedBlock, chain: Chain) -> dict[int, int]:
    """Token amounts the plan left open ("everything it holds"), read before the block.

    Earlier debits of the same sender and token within the block are taken off, so the
    transfer sends exactly what will be left when it runs.
    """
    open_actions = [
        plan.actions[a]
        for a in block.actions
        if plan.actions[a].kind in _TOKEN_DEBITS and plan.actions[a].amount is None
    ]
    if not open_actions:
        return {}
    balance_of = load_artifact("TestUSD").function("balanceOf")
    calls: list[tuple[str, Sequence[Any]]] = [
        (
            "eth_call",
            [{"to": a.token, "input": "0x" + balance_of.encode([a.sender]).hex()}, "latest"],
        )
        for a in open_actions
    ]
    balances = {
        (a.sender, a.token): int(result, 16)
        for a, result in zip(open_actions, chain.batch(calls), strict=True)
    }
    spent: dict[tuple[str, str | None], int] = defaultdict(int)
    amounts: dict[int, int] = {}
    for action_id in block.actions:
        action = plan.actions[action_id]
        if action.kind not in _TOKEN_DEBITS:
            continue
        key = (action.sender, action.token)
        if action.amount is None:
            amount = balances[key] - spent[key]
            if amount <= 0:
                raise TestbedError(
                    f"action {action.id} ({action.tag}) sends all tUSD of {action.sender}, "
                    f"which holds none before block {block.index}"
                )
            amounts[action_id] = amount
            spent[key] += amount
        else:
            spent[key] += action.amount
    return amounts


def _tx(action: Action, encoder: _Encoder, amount: int | None, block_time: int) -> Tx:
    token_amount = amount if amount is not None else action.amount
    return Tx(
        sender=action.sender,
        to=action.to,
        value=action.value,
        data=encoder.data(action, token_amount, block_time),
        gas=action.gas,
        gas_price=action.gas_price,
    )


def _read_receipts(
    plan: Plan, chain: Chain, block_numbers: Sequence[int], tx_hashes: Sequence[str]
) -> tuple[list[int], dict[int, int]]:
    """Every transaction's fee, and the amounts only the chain knew; fails on any revert."""
    action_of = {h: i for i, h in enumerate(tx_hashes)}
    fees = [0] * len(tx_hashes)
    outputs: dict[int, int] = {}
    pair = plan.address("pair")
    seen = 0
    for start in range(0, len(block_numbers), RECEIPT_BATCH_BLOCKS):
        numbers = block_numbers[start : start + RECEIPT_BATCH_BLOCKS]
        answers = chain.batch([("eth_getBlockReceipts", [hex(n)]) for n in numbers])
        for receipts in answers:
            for receipt in receipts:
                seen += 1
                action_id = action_of[receipt["transactionHash"]]
                action = plan.actions[action_id]
                if receipt["status"] != "0x1":
                    raise TestbedError(
                        f"transaction {receipt['transactionHash']} (action {action_id}, "
                        f"{action.kind}, {action.tag}) reverted"
                    )
                fees[action_id] = int(receipt["gasUsed"], 16) * int(
                    receipt["effectiveGasPrice"], 16
                )
                output = _output(plan, action, receipt["logs"], pair)
                if output is not None:
                    outputs[action_id] = output
    if seen != len(tx_hashes):
        raise TestbedError(f"{len(tx_hashes) - seen} transactions have no receipt")
    return fees, outputs


def _output(plan: Plan, action: Action, logs: list[dict[str, Any]], pair: str) -> int | None:
    """The amount an action moved that only the chain decided, from its Transfer logs."""
    if action.kind is Kind.SWAP_ETH_FOR_TOKENS:
        token, src = plan.tusd, pair
    elif action.kind is Kind.SWAP_TOKENS_FOR_ETH:
        token, src = plan.weth, pair
    elif action.kind is Kind.FORWARDER_SWEEP:
        assert action.to is not None
        token, src = plan.tusd, action.to
    else:
        return None
    for log in logs:
        topics = log["topics"]
        if (
            log["address"].lower() == token
            and len(topics) == 3
            and topics[0] == TRANSFER_TOPIC
            and "0x" + topics[1][-40:].lower() == src
        ):
            return int(log["data"], 16)
    raise TestbedError(f"action {action.id} ({action.kind}): no Transfer log from {src}")


#: anvil's trace_filter answers at most this many blocks per call.
TRACE_FILTER_WINDOW: Final = 300


def count_transfers(chain: Chain, first_block: int, last_block: int) -> dict[str, int]:
    """Count the chain's value movements as the transfer table does, from the node itself.

    native: top-level calls with value; internal: nested calls with value (``trace_filter``);
    erc20: Transfer logs with three topics (``eth_getLogs``). Failed calls are not counted.
    """
    counts = {"native": 0, "internal": 0, "erc20": 0}
    for start in range(first_block, last_block + 1, TRACE_FILTER_WINDOW):
        end = min(start + TRACE_FILTER_WINDOW - 1, last_block)
        window = {"fromBlock": hex(start), "toBlock": hex(end)}
        traces, logs = chain.batch(
            [
                ("trace_filter", [window]),
                ("eth_getLogs", [{**window, "topics": [TRANSFER_TOPIC]}]),
            ]
        )
        for trace in traces:
            action = trace["action"]
            # Like tracer's normaliser: only CALLs move value of their own, and 0 wei is no row.
            plain_call = trace.get("type") == "call" and action.get("callType") == "call"
            if not plain_call or trace.get("error") or not int(action["value"], 16):
                continue
            counts["internal" if trace["traceAddress"] else "native"] += 1
        counts["erc20"] += sum(1 for log in logs if len(log["topics"]) == 3)
    return counts
