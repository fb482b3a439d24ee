"""The alert object and its stable id.

An alert's id is derived from what happened, never from when it was seen: the chain id, the
transaction hash, the transfer's unique key (kind, log index, trace address, token id), the
seed and the alert kind. A restart, a re-scan after a reorg, or the same transaction mined
again in another block all give the same id, which is how the state refuses a second alert
and how a webhook receiver de-duplicates redeliveries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

ID_PREFIX: Final = "tm1_"  # bump when the id derivation changes


def alert_id(
    *,
    chain_id: int,
    transaction_hash: str,
    transfer_kind: str,
    log_index: int | None,
    trace_address: str | None,
    token_id: str | None,
    seed: str,
    kind: str,
) -> str:
    parts = [
        str(chain_id),
        transaction_hash,
        transfer_kind,
        "" if log_index is None else str(log_index),
        trace_address or "",
        token_id or "",
        seed,
        kind,
    ]
    return ID_PREFIX + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def format_amount(raw: int, decimals: int | None) -> str | None:
    """``raw`` in whole units as an exact decimal string (None when decimals are unknown)."""
    if decimals is None:
        return None
    # String arithmetic: Decimal's default context would round a uint256 to 28 digits.
    digits = str(raw).rjust(decimals + 1, "0")
    whole, fraction = digits[: len(digits) - decimals], digits[len(digits) - decimals :]
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def at_least(raw: int, decimals: int | None, minimum: Decimal) -> bool:
    """Whether ``raw`` base units are at least ``minimum`` whole units, exactly (``minimum``
    in raw units when decimals are unknown)."""
    numerator, denominator = minimum.as_integer_ratio()
    scale: int = 10 ** (decimals or 0)
    return raw * denominator >= numerator * scale


@dataclass(frozen=True)
class Counterparty:
    address: str
    labels: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Alert:
    """One event worth telling someone about; :meth:`to_json` is the sink format."""

    id: str
    kind: str
    seed: str
    seed_label: str
    rules: tuple[str, ...]
    chain_id: int
    transaction_hash: str
    block_number: int
    block_hash: str
    block_time: str | None
    direction: str  # "out" or "in", seen from ``subject``
    subject: str  # the watched or traced address the transfer touched
    hops: int  # 0: the seed itself; n: n transfers away from it
    counterparty: Counterparty
    asset: str
    token_address: str
    token_id: str | None
    amount: str | None
    amount_raw: str
    transfer_kind: str
    log_index: int | None
    trace_address: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "seed": self.seed,
            "seed_label": self.seed_label,
            "rules": list(self.rules),
            "chain_id": self.chain_id,
            "transaction_hash": self.transaction_hash,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "block_time": self.block_time,
            "direction": self.direction,
            "subject": self.subject,
            "hops": self.hops,
            "counterparty": {
                "address": self.counterparty.address,
                "labels": list(self.counterparty.labels),
            },
            "asset": self.asset,
            "token_address": self.token_address,
            "token_id": self.token_id,
            "amount": self.amount,
            "amount_raw": self.amount_raw,
            "transfer_kind": self.transfer_kind,
            "log_index": self.log_index,
            "trace_address": self.trace_address,
        }


def _printable(value: object) -> str:
    """Text from labels and watchlists is untrusted: no control characters (a terminal
    escape sequence in a label name must not reach the terminal)."""
    return "".join(char if char.isprintable() else "?" for char in str(value))


def summary(alert: dict[str, Any]) -> str:
    """One line for a terminal or a chat message (control characters replaced)."""
    return _printable(_summary(alert))


def _summary(alert: dict[str, Any]) -> str:
    amount = alert.get("amount") or f"{alert.get('amount_raw')} (raw)"
    counterparty = alert.get("counterparty") or {}
    names = [label.get("name") for label in counterparty.get("labels") or []]
    shown = f"{counterparty.get('address')}" + (f" ({names[0]})" if names else "")
    seed = alert.get("seed_label") or alert.get("seed")
    line = (
        f"[{alert.get('kind')}] {seed}: {amount} {alert.get('asset')} "
        f"{'to' if alert.get('direction') == 'out' else 'from'} {shown} "
        f"in {alert.get('transaction_hash')} (block {alert.get('block_number')})"
    )
    if alert.get("retracts"):
        line += f"; withdraws alert {alert['retracts']}: a reorg undid it"
    if alert.get("reinstates"):
        line += f"; mined again after alert {alert['reinstates']} was withdrawn"
    return line
