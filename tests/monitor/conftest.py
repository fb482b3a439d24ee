"""A live anvil that keeps mining (a block every 0.2 s), and helpers to drive it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.monitor.runner import MonitorOptions
from tracer.monitor.watchlist import Watchlist, load_watchlist
from tracer.sources.transport import RetryPolicy
from tracer.testbed.anvil import AnvilNode, AnvilOptions
from tracer.testbed.chain import Chain

BLOCK_TIME = 0.2
ETH = 10**18


@dataclass
class Live:
    """A mining node, its accounts in roles, and the files of one monitor."""

    node: AnvilNode
    chain: Chain
    tmp: Path
    seed: str
    hop: str
    stranger: str
    exchange: str

    __test__ = False

    @property
    def state(self) -> Path:
        return self.tmp / "state.sqlite"

    @property
    def alerts(self) -> Path:
        return self.tmp / "alerts.jsonl"

    def labels(self) -> LabelStore:
        return LabelStore([Label(self.exchange, "Exchange X: Hot Wallet", Category.EXCHANGE, "t")])

    def labels_csv(self) -> Path:
        path = self.tmp / "labels.csv"
        path.write_text(f"address,name,category\n{self.exchange},Exchange X: Hot Wallet,exchange\n")
        return path

    def watchlist(self) -> Watchlist:
        path = self.tmp / "watchlist.yaml"
        path.write_text(
            "rules:\n"
            "  - {name: moves, kinds: [outflow, inflow]}\n"
            "  - {name: offramps, kinds: [reached], within_hops: 3}\n"
            f"seeds:\n  - {{address: '{self.seed}', label: Theft wallet}}\n"
        )
        return load_watchlist(path)

    def options(self, **changes: Any) -> MonitorOptions:
        base = MonitorOptions(
            rpc_url=self.node.url,
            state_path=self.state,
            labels=self.labels(),
            alerts_path=self.alerts,
            confirmations=2,
            retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05),
        )
        return replace(base, **changes)

    @staticmethod
    def replace_url(options: MonitorOptions, url: str) -> MonitorOptions:
        return replace(options, rpc_url=url)

    def send(self, sender: str, to: str, value: int, **extra: Any) -> str:
        tx = {"from": sender, "to": to, "value": hex(value), **extra}
        return str(self.chain.request("eth_sendTransaction", [tx]))

    def sign(self, sender: str, to: str, value: int) -> str:
        """A raw signed transfer (not sent), to send again after a revert."""
        nonce = self.chain.request("eth_getTransactionCount", [sender, "pending"])
        tx = {
            "from": sender,
            "to": to,
            "value": hex(value),
            "nonce": nonce,
            "gas": hex(21_000),
            "maxFeePerGas": hex(10**11),
            "maxPriorityFeePerGas": hex(10**9),
            "chainId": hex(self.chain.chain_id()),
        }
        return str(self.chain.request("eth_signTransaction", [tx]))

    def send_raw(self, raw: str) -> str:
        return str(self.chain.request("eth_sendRawTransaction", [raw]))

    def confirm(self, tx_hash: str, depth: int) -> int:
        """Wait until ``tx_hash`` is mined and ``depth`` blocks deep; its block number."""
        block = self.chain.wait_for_receipt(tx_hash).block_number
        self.wait_for_block(block + depth)
        return block

    def wait_for_block(self, number: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.chain.block_number() < number:
            if time.monotonic() > deadline:
                raise TimeoutError(f"anvil did not reach block {number}")
            time.sleep(BLOCK_TIME / 4)

    def lines(self, path: Path | None = None) -> list[dict[str, Any]]:
        target = path or self.alerts
        if not target.exists():
            return []
        return [json.loads(line) for line in target.read_text().splitlines()]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """A fresh anvil mining a block every 0.2 s whether or not anything is sent."""
    with AnvilNode(AnvilOptions(block_time=BLOCK_TIME)) as node, Chain(node.url) as chain:
        accounts = chain.accounts()
        yield Live(node, chain, tmp_path, accounts[1], accounts[2], accounts[3], accounts[4])
