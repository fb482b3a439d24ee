"""Ground truth of a built scenario: what a perfect tracer would report, and how to check it.

Pure: from the plan (:mod:`tracer.testbed.scenario`) and what executing it recorded
(:class:`tracer.testbed.build.Execution`) to a JSON document and the scenario's label file.

How amounts are counted (all raw integers as decimal strings: wei for ETH, micro-units for tUSD):

* an off-ramp's ``amount`` is the sum of the values the thief's transactions moved into it
  (``arrivals``); nothing else of the thief's ever reached it;
* the thief pays gas from stolen ETH and relayers keep fees: both are spent on the way and never
  counted as reaching an off-ramp; ``thief_accounting`` adds up where the loot went;
* DEX outputs and "everything the wallet holds" are what the chain did (receipt logs, balances
  read before the block), never estimates.

``accounts`` lets anyone check the chain independently: for every listed address and asset,
``initial + received - sent - gas`` must equal its balance at the last block (WETH minted by
wrapping counts as received, WETH burnt by unwrapping as sent).

The document (``format`` = ``tracer-testbed-ground-truth/1``; addresses and hashes lowercase)::

    scenario       seed, scale, chain_id, plan_fingerprint, origin (unix time of plan time 0),
                   start_time / end_time (ISO), first_block / last_block, amounts (the note
                   above), counts: blocks, transactions, transfers, transfers_by_kind
                   (native / internal / erc20), mixer_deposits, mixer_withdrawals, swaps,
                   bridge_deposits
    contracts      deployer, tusd, weth, dex_pair, dex_router, bridge,
                   mixer_pools {"0.1" | "1" | "10": address}, deposit_forwarders [address]
    tokens         {symbol: {address, decimals}} for ETH (0xeeee...), tUSD, WETH
    victim         address;  seeds: [the thief's seed address]
    theft          [{tx, asset, amount}]: the victim's payments to the seed
    thief          seed, gas_price (the fingerprint, wei), peel_chain [{address, transfers:
                   [{tx, to, amount, tag}]}], split_wallets, token_wallet,
                   withdrawal_addresses [{address, purpose}], collector, otc_desk,
                   bridge_recipients (on other chains), wallets (every thief address here)
    otc_desk       {address, entity};  relayers: [address]
    exchanges      [{name, hot_wallet, gas_price, uses_forwarders,
                     thief_deposit_addresses [{address, kind: eoa|forwarder}],
                     innocent_deposit_addresses [{address, kind, owner: innocent|background}]}]
    offramps       [{address, category: exchange_deposit|otc|bridge, entity,
                     asset {symbol, address, decimals}, amount (raw), amount_units (whole
                     units, as report.json writes them), via_mixer,
                     arrivals [{tx, block, amount, via_mixer, (bridge:) destination_chain_id,
                     recipient}], paths [[tx, ...] from a theft tx to the arrival],
                     path_txs (the union, sorted)}]
    decoys         [{address, category, entity, kind, owner}]: innocent deposit addresses
    mixer_links    [{pool, denomination, commitment, nullifier_hash, owner, depositor,
                     deposit_tx, withdrawal_tx, withdrawal_address, relayer (or null), fee}]
                   for the thief's notes; innocent_mixer_links: the same for everyone else's
    thief_accounting  stolen, to_offramps, eth_swapped_for_tusd, tusd_bought, relayer_fees,
                   gas, left_in_thief_wallets, note (the two identities they satisfy)
    accounts       {address: {role, entity?, ETH|tUSD|WETH: {initial, received, sent, gas,
                   final}}} for the victim, thief wallets, every deposit address, hot wallets,
                   the OTC desk, relayers, bridge, DEX pair and router, WETH and the pools
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracer.atomic import atomic_write_text
from tracer.testbed.scenario import (
    NATIVE,
    OTC_DESK_NAME,
    Action,
    Kind,
    Move,
    Plan,
    format_eth,
    moves,
)
from tracer.types import Address

if TYPE_CHECKING:  # build.py imports this module to write what it built
    from tracer.testbed.build import Execution

FORMAT: Final = "tracer-testbed-ground-truth/1"
GROUND_TRUTH_FILE: Final = "ground_truth.json"
LABELS_FILE: Final = "labels.csv"
LABEL_COLUMNS: Final = ("address", "name", "category", "source", "date")
BRIDGE_NAME: Final = "Testbed Bridge"
AMOUNT_NOTE: Final = (
    "Amounts are raw integers (wei for ETH, micro-units for tUSD). An off-ramp's amount is the "
    "sum of the values the thief's transactions moved into it. The thief pays gas from stolen "
    "ETH and relayers keep their fees: both are spent on the way and never counted."
)


def resolved_moves(plan: Plan, execution: Execution, action: Action) -> list[Move]:
    """The action's moves with every amount filled in from the execution."""
    return [
        move
        if move.amount is not None
        else Move(move.transfer_kind, move.src, move.dst, move.asset, execution.outputs[action.id])
        for move in moves(plan, action, execution.resolved.get(action.id))
    ]


def units(raw: int, decimals: int) -> str:
    """Exact whole-unit text of a raw amount ("12.5"), as tracer's report.json writes it."""
    whole, fraction = divmod(raw, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}".rstrip("0").rstrip(".") if fraction else str(whole)


def asset_symbol(plan: Plan, asset: Address) -> str:
    return {NATIVE: "ETH", plan.tusd: "tUSD", plan.weth: "WETH"}[asset]


class _Ledger:
    """Per address and asset: initial, received, sent, gas; built from every action."""

    def __init__(self, plan: Plan, execution: Execution) -> None:
        self.plan = plan
        self.initial: dict[Address, int] = dict(plan.genesis_balances)
        self.received: dict[tuple[Address, Address], int] = defaultdict(int)
        self.sent: dict[tuple[Address, Address], int] = defaultdict(int)
        self.gas: dict[Address, int] = defaultdict(int)
        self.transfer_counts: dict[str, int] = defaultdict(int)
        router, weth = plan.address("router"), plan.weth
        for action in plan.actions:
            self.gas[action.sender] += execution.fees[action.id]
            for move in resolved_moves(plan, execution, action):
                assert move.amount is not None
                self.received[(move.dst, move.asset)] += move.amount
                self.sent[(move.src, move.asset)] += move.amount
                self.transfer_counts[move.transfer_kind] += 1
            # Wrapping mints WETH and unwrapping burns it without a Transfer (WETH9 emits
            # Deposit and Withdrawal): balances change, the transfer table gets no row.
            if action.kind is Kind.WRAP:
                self.received[(action.sender, weth)] += action.value
            elif action.kind is Kind.SWAP_ETH_FOR_TOKENS:
                self.received[(router, weth)] += action.value
            elif action.kind is Kind.SWAP_TOKENS_FOR_ETH:
                self.sent[(router, weth)] += execution.outputs[action.id]

    def account(self, address: Address) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for asset in (NATIVE, self.plan.tusd, self.plan.weth):
            received = self.received.get((address, asset), 0)
            sent = self.sent.get((address, asset), 0)
            initial = self.initial.get(address, 0) if asset == NATIVE else 0
            gas = self.gas.get(address, 0) if asset == NATIVE else 0
            if not (received or sent or initial or gas):
                continue
            out[asset_symbol(self.plan, asset)] = {
                "initial": str(initial),
                "received": str(received),
                "sent": str(sent),
                "gas": str(gas),
                "final": str(initial + received - sent - gas),
            }
        return out


def build_ground_truth(plan: Plan, execution: Execution) -> dict[str, Any]:
    """The ground-truth document (see the module docstring and benchmarks/README)."""
    ledger = _Ledger(plan, execution)
    tx = execution.tx_hashes
    thief = plan.thief

    @cache
    def paths(action_id: int) -> tuple[tuple[int, ...], ...]:
        """Every chain of actions from the theft to ``action_id`` (following sources)."""
        if action_id in thief.theft_actions:
            return ((action_id,),)
        action = plan.actions[action_id]
        if not action.sources:
            raise ValueError(f"action {action_id} ({action.tag}) has no path to the theft")
        return tuple((*p, action_id) for s in action.sources for p in paths(s))

    offramps = _offramps(plan, execution, paths)
    gt: dict[str, Any] = {
        "format": FORMAT,
        "scenario": _scenario(plan, execution, ledger),
        "contracts": _contracts(plan),
        "tokens": {
            "ETH": {"address": NATIVE, "decimals": 18},
            "tUSD": {"address": plan.tusd, "decimals": 6},
            "WETH": {"address": plan.weth, "decimals": 18},
        },
        "victim": plan.victim,
        "seeds": [thief.seed],
        "theft": [
            {
                "tx": tx[a],
                "asset": "ETH" if plan.actions[a].kind is Kind.ETH_TRANSFER else "tUSD",
                "amount": str(plan.actions[a].value or plan.actions[a].amount or 0),
            }
            for a in thief.theft_actions
        ],
        "thief": _thief(plan, execution),
        "otc_desk": {"address": plan.otc_desk, "entity": OTC_DESK_NAME},
        "relayers": list(plan.relayers),
        "exchanges": _exchanges(plan),
        "offramps": offramps,
        "decoys": [
            {
                "address": account.address,
                "category": "exchange_deposit",
                "entity": account.exchange,
                "kind": account.kind,
                "owner": account.owner,
            }
            for account in plan.deposit_accounts.values()
            if account.owner != "thief"
        ],
        "mixer_links": _mixer_links(plan, execution, owners=("thief",)),
        "innocent_mixer_links": _mixer_links(plan, execution, owners=("innocent", "background")),
        "thief_accounting": _thief_accounting(plan, execution, ledger, offramps),
        "accounts": _accounts(plan, ledger),
    }
    return gt


def _scenario(plan: Plan, execution: Execution, ledger: _Ledger) -> dict[str, Any]:
    kinds: dict[Kind, int] = defaultdict(int)
    for action in plan.actions:
        kinds[action.kind] += 1
    transfers = dict(sorted(ledger.transfer_counts.items()))
    return {
        "seed": plan.seed,
        "scale": plan.scale,
        "chain_id": execution.chain_id,
        "plan_fingerprint": plan.fingerprint(),
        "origin": execution.origin,
        "start_time": _iso(execution.block_timestamps[0]),
        "end_time": _iso(execution.block_timestamps[-1]),
        "first_block": execution.first_block,
        "last_block": execution.last_block,
        "counts": {
            "blocks": len(plan.blocks),
            "transactions": len(plan.actions),
            "transfers": sum(transfers.values()),
            "transfers_by_kind": transfers,
            "mixer_deposits": kinds[Kind.MIXER_DEPOSIT],
            "mixer_withdrawals": kinds[Kind.MIXER_WITHDRAW],
            "swaps": kinds[Kind.SWAP_ETH_FOR_TOKENS] + kinds[Kind.SWAP_TOKENS_FOR_ETH],
            "bridge_deposits": kinds[Kind.BRIDGE_ETH] + kinds[Kind.BRIDGE_TOKEN],
        },
        "amounts": AMOUNT_NOTE,
    }


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


def _contracts(plan: Plan) -> dict[str, Any]:
    return {
        "deployer": plan.deployer,
        "tusd": plan.tusd,
        "weth": plan.weth,
        "dex_pair": plan.address("pair"),
        "dex_router": plan.address("router"),
        "bridge": plan.address("bridge"),
        "mixer_pools": {format_eth(d): address for d, address in plan.pools().items()},
        "deposit_forwarders": sorted(plan.forwarder_hot_wallets),
    }


def _thief(plan: Plan, execution: Execution) -> dict[str, Any]:
    thief = plan.thief
    tx = execution.tx_hashes
    hops = []
    for hop in thief.peel_chain:
        sent = [a for a in plan.actions if a.sender == hop]
        hops.append(
            {
                "address": hop,
                "transfers": [
                    {"tx": tx[a.id], "to": a.to, "amount": str(a.value), "tag": a.tag} for a in sent
                ],
            }
        )
    return {
        "seed": thief.seed,
        "gas_price": str(thief.gas_price),
        "peel_chain": hops,
        "split_wallets": list(thief.split_wallets),
        "token_wallet": thief.token_wallet,
        "withdrawal_addresses": [
            {"address": address, "purpose": purpose}
            for address, purpose in thief.withdrawal_addresses
        ],
        "collector": thief.collector,
        "otc_desk": plan.otc_desk,
        "bridge_recipients": list(thief.bridge_recipients),
        "wallets": list(thief.wallets),
    }


def _exchanges(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for ex in plan.exchanges:
        accounts = [a for a in plan.deposit_accounts.values() if a.exchange == ex.name]
        out.append(
            {
                "name": ex.name,
                "hot_wallet": ex.hot_wallet,
                "gas_price": str(ex.gas_price),
                "uses_forwarders": ex.uses_forwarders,
                "thief_deposit_addresses": [
                    {"address": a.address, "kind": a.kind} for a in accounts if a.owner == "thief"
                ],
                "innocent_deposit_addresses": [
                    {"address": a.address, "kind": a.kind, "owner": a.owner}
                    for a in accounts
                    if a.owner != "thief"
                ],
            }
        )
    return out


def _offramp_of(plan: Plan, action: Action) -> tuple[Address, str, str]:
    """(address, category, entity) an off-ramp action pays."""
    if action.kind in (Kind.BRIDGE_ETH, Kind.BRIDGE_TOKEN):
        assert action.to is not None
        return action.to, "bridge", BRIDGE_NAME
    target = action.recipient if action.kind is Kind.TOKEN_TRANSFER else action.to
    assert target is not None
    if target == plan.otc_desk:
        return target, "otc", OTC_DESK_NAME
    account = plan.deposit_accounts[target]
    return target, "exchange_deposit", account.exchange


def _offramps(plan: Plan, execution: Execution, paths: Any) -> list[dict[str, Any]]:
    tx = execution.tx_hashes
    grouped: dict[tuple[Address, str], dict[str, Any]] = {}
    for action_id in plan.thief.offramp_actions:
        action = plan.actions[action_id]
        address, category, entity = _offramp_of(plan, action)
        token_move = action.kind in (Kind.TOKEN_TRANSFER, Kind.BRIDGE_TOKEN)
        asset = "tUSD" if token_move else "ETH"
        amount = (
            execution.resolved.get(action_id, action.amount or 0) if token_move else action.value
        )
        entry = grouped.setdefault(
            (address, asset),
            {
                "address": address,
                "category": category,
                "entity": entity,
                "asset": {
                    "symbol": asset,
                    "address": plan.tusd if token_move else NATIVE,
                    "decimals": 6 if token_move else 18,
                },
                "amount": 0,
                "via_mixer": False,
                "arrivals": [],
                "paths": [],
            },
        )
        action_paths: tuple[tuple[int, ...], ...] = paths(action_id)
        via_mixer = any(
            plan.actions[a].kind is Kind.MIXER_WITHDRAW for p in action_paths for a in p
        )
        entry["amount"] += amount
        entry["via_mixer"] = entry["via_mixer"] or via_mixer
        arrival: dict[str, Any] = {
            "tx": tx[action_id],
            "block": execution.block_numbers[action.block],
            "amount": str(amount),
            "via_mixer": via_mixer,
        }
        if category == "bridge":
            arrival["destination_chain_id"] = action.dest_chain
            arrival["recipient"] = action.recipient
        entry["arrivals"].append(arrival)
        entry["paths"] += [[tx[a] for a in p] for p in action_paths]
    out = []
    for entry in grouped.values():
        entry["amount_units"] = units(entry["amount"], entry["asset"]["decimals"])
        entry["amount"] = str(entry["amount"])
        entry["path_txs"] = sorted({h for p in entry["paths"] for h in p})
        out.append(entry)
    out.sort(key=lambda e: (e["category"], e["entity"], e["address"], e["asset"]["symbol"]))
    return out


def _mixer_links(plan: Plan, execution: Execution, owners: Sequence[str]) -> list[dict[str, Any]]:
    tx = execution.tx_hashes
    return [
        {
            "pool": note.pool,
            "denomination": str(note.denomination),
            "commitment": note.commitment,
            "nullifier_hash": note.nullifier_hash,
            "owner": note.owner,
            "depositor": note.depositor,
            "deposit_tx": tx[note.deposit_action],
            "withdrawal_tx": tx[note.withdrawal_action]
            if note.withdrawal_action is not None
            else None,
            "withdrawal_address": note.recipient,
            "relayer": note.relayer,
            "fee": str(note.fee),
        }
        for note in plan.notes
        if note.owner in owners
    ]


def _thief_accounting(
    plan: Plan, execution: Execution, ledger: _Ledger, offramps: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Where the stolen ETH went: off-ramps, the DEX, gas, relayer fees, and what is left."""
    thief = plan.thief
    wallets = set(thief.wallets)
    stolen = {
        "ETH" if plan.actions[a].kind is Kind.ETH_TRANSFER else "tUSD": plan.actions[a].value
        or plan.actions[a].amount
        or 0
        for a in thief.theft_actions
    }
    to_offramps: dict[str, int] = defaultdict(int)
    for entry in offramps:
        to_offramps[entry["asset"]["symbol"]] += int(entry["amount"])
    swapped = sum(
        a.value for a in plan.actions if a.kind is Kind.SWAP_ETH_FOR_TOKENS and a.sender in wallets
    )
    bought = sum(
        execution.outputs[a.id]
        for a in plan.actions
        if a.kind is Kind.SWAP_ETH_FOR_TOKENS and a.sender in wallets
    )
    relayer_fees = sum(n.fee for n in plan.notes if n.owner == "thief" and n.relayer is not None)
    gas = sum(execution.fees[a.id] for a in plan.actions if a.sender in wallets)
    left = {
        symbol: sum(int(ledger.account(w).get(symbol, {}).get("final", "0")) for w in wallets)
        for symbol in ("ETH", "tUSD")
    }
    return {
        "stolen": {k: str(v) for k, v in stolen.items()},
        "to_offramps": {k: str(v) for k, v in sorted(to_offramps.items())},
        "eth_swapped_for_tusd": str(swapped),
        "tusd_bought": str(bought),
        "relayer_fees": str(relayer_fees),
        "gas": str(gas),
        "left_in_thief_wallets": {k: str(v) for k, v in left.items()},
        "note": (
            "ETH: stolen = to_offramps + eth_swapped_for_tusd + relayer_fees + gas + left. "
            "tUSD: stolen + tusd_bought = to_offramps + left."
        ),
    }


def _accounts(plan: Plan, ledger: _Ledger) -> dict[str, Any]:
    roles: dict[Address, tuple[str, str | None]] = {plan.victim: ("victim", None)}
    for address in plan.thief.wallets:
        roles[address] = ("thief", None)
    for account in plan.deposit_accounts.values():
        roles[account.address] = (f"{account.owner}_deposit_{account.kind}", account.exchange)
    for ex in plan.exchanges:
        roles[ex.hot_wallet] = ("hot_wallet", ex.name)
    roles[plan.otc_desk] = ("otc_desk", OTC_DESK_NAME)
    for relayer in plan.relayers:
        roles[relayer] = ("relayer", None)
    for key in ("bridge", "pair", "router", "weth"):
        roles[plan.address(key)] = (key, None)
    for denomination, pool in plan.pools().items():
        roles[pool] = ("mixer_pool", f"{format_eth(denomination)} ETH")
    out: dict[str, Any] = {}
    for address, (role, entity) in roles.items():
        entry: dict[str, Any] = {"role": role}
        if entity is not None:
            entry["entity"] = entity
        entry.update(ledger.account(address))
        out[address] = entry
    return out


# --------------------------------------------------------------------------- labels and files


def label_rows(plan: Plan, execution: Execution) -> list[dict[str, str]]:
    """The scenario's label file: services only. Deposit addresses are deliberately absent:
    a tracer must recognise them by behaviour."""
    date = _iso(execution.origin)[:10]
    rows = [(ex.hot_wallet, f"{ex.name}: Hot Wallet", "exchange") for ex in plan.exchanges]
    rows.append((plan.otc_desk, OTC_DESK_NAME, "otc"))
    rows.append((plan.address("router"), "Testbed DEX: Router (Uniswap V2)", "dex"))
    rows.append((plan.address("pair"), "Testbed DEX: tUSD/WETH Pair", "dex"))
    rows.append((plan.weth, "WETH", "wrapped_native"))
    rows.append((plan.address("bridge"), BRIDGE_NAME, "bridge"))
    for denomination, pool in plan.pools().items():
        rows.append((pool, f"Tornado-style Pool {format_eth(denomination)} ETH", "mixer"))
    return [
        {"address": a, "name": n, "category": c, "source": "testbed", "date": date}
        for a, n, c in rows
    ]


def labels_csv(rows: Sequence[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LABEL_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_outputs(
    out_dir: Path, ground_truth: Mapping[str, Any], labels: Sequence[Mapping[str, str]]
) -> tuple[Path, Path]:
    """Write DIR/ground_truth.json and DIR/labels.csv, each atomically."""
    gt_path = out_dir / GROUND_TRUTH_FILE
    labels_path = out_dir / LABELS_FILE
    atomic_write_text(gt_path, json.dumps(ground_truth, indent=1, sort_keys=False) + "\n")
    atomic_write_text(labels_path, labels_csv(labels))
    for path in (gt_path, labels_path):
        path.chmod(0o644)  # the temporary file was private; these are for everyone to read
    return gt_path, labels_path
