"""Start and stop Foundry's ``anvil`` for tests, the demo and benchmarks.

anvil comes from npm (``@foundry-rs/anvil``, pinned in package-lock.json). We run the platform
binary directly rather than the npm wrapper so that signals reach anvil itself, and we always
pass ``--cache-path`` inside a temporary directory that is deleted on stop: otherwise anvil
leaves its state cache in ``~/.foundry``, which grows to gigabytes over a test suite.

The child is started with ``PR_SET_PDEATHSIG`` so that it dies with the process that started
it, even when that process is killed with SIGKILL: a crashed test run leaves no node behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracer.errors import TestbedError

REPO_ROOT = Path(__file__).resolve().parents[2]
_PLATFORM_PACKAGES = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
}
_PR_SET_PDEATHSIG = 1


def anvil_binary() -> Path:
    """The anvil executable: ``TRACER_ANVIL_BIN`` if set, else the npm platform package."""
    override = os.environ.get("TRACER_ANVIL_BIN")
    if override:
        path = Path(override)
    else:
        package = _PLATFORM_PACKAGES.get((platform.system(), platform.machine()))
        if package is None:
            raise TestbedError(
                f"no anvil build for {platform.system()} {platform.machine()}; "
                "set TRACER_ANVIL_BIN to an anvil executable"
            )
        path = REPO_ROOT / "node_modules" / "@foundry-rs" / package / "bin" / "anvil"
    if not path.is_file():
        raise TestbedError(f"anvil not found at {path}; run `make test` or `npm ci` to install it")
    return path


def free_loopback_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # Runs in the child between fork and exec; Linux only, harmless elsewhere.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class AnvilOptions:
    """How to start anvil. Defaults suit the testbed: fast, deterministic, impersonation on."""

    chain_id: int = 31337
    accounts: int = 10
    balance_eth: int = 10_000
    # None = automine (one block per transaction); a number = interval mining in seconds.
    block_time: float | None = None
    no_mining: bool = False
    base_fee: int | None = None
    genesis_timestamp: int | None = None
    # Lets the testbed send from any address with eth_sendTransaction, no keys needed.
    auto_impersonate: bool = True
    # Needed for large trace_filter / batch requests (anvil rejects bodies over 2 MB otherwise).
    no_request_size_limit: bool = True
    disable_block_gas_limit: bool = False
    extra_args: Sequence[str] = field(default_factory=tuple)
    # Block gas limit (anvil's default is 30M, about 1,400 plain transfers per block).
    gas_limit: int | None = None
    # Mempool order: "fees" (anvil's default) or "fifo" (submission order, for reproducible
    # blocks when many senders share one).
    order: str | None = None
    # Legacy gas price anvil suggests (eth_gasPrice) when a transaction gives none.
    gas_price: int | None = None
    # Accept transactions whose sender cannot pay yet, so a multi-hop chain A -> B -> C can be
    # sent before mining and land in one block (B is funded by an earlier transaction in it).
    disable_pool_balance_checks: bool = False

    @classmethod
    def for_bulk(cls, **overrides: Any) -> AnvilOptions:
        """Settings for pushing many transactions fast (see tracer.testbed.chain): no mining
        until asked, blocks in submission order, room for thousands of transfers per block."""
        settings: dict[str, Any] = {
            "no_mining": True,
            "order": "fifo",
            "gas_limit": 1_000_000_000,
            "disable_pool_balance_checks": True,
        }
        settings.update(overrides)
        return cls(**settings)


class AnvilNode:
    """A running anvil on a free loopback port. Use as a context manager or call stop()."""

    def __init__(self, options: AnvilOptions | None = None, startup_timeout: float = 30.0) -> None:
        self.options = options or AnvilOptions()
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._workdir = Path(tempfile.mkdtemp(prefix="tracer-anvil-"))
        self.log_path = self._workdir / "anvil.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._start(startup_timeout)

    def _command(self) -> list[str]:
        opts = self.options
        command = [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--cache-path",
            str(self._workdir / "cache"),
            "--chain-id",
            str(opts.chain_id),
            "--accounts",
            str(opts.accounts),
            "--balance",
            str(opts.balance_eth),
        ]
        if opts.block_time is not None:
            command += ["--block-time", str(opts.block_time)]
        if opts.no_mining:
            command.append("--no-mining")
        if opts.base_fee is not None:
            command += ["--base-fee", str(opts.base_fee)]
        if opts.genesis_timestamp is not None:
            command += ["--timestamp", str(opts.genesis_timestamp)]
        if opts.auto_impersonate:
            command.append("--auto-impersonate")
        if opts.no_request_size_limit:
            command.append("--no-request-size-limit")
        if opts.disable_block_gas_limit:
            command.append("--disable-block-gas-limit")
        if opts.gas_limit is not None:
            command += ["--gas-limit", str(opts.gas_limit)]
        if opts.order is not None:
            command += ["--order", opts.order]
        if opts.gas_price is not None:
            command += ["--gas-price", str(opts.gas_price)]
        if opts.disable_pool_balance_checks:
            command.append("--disable-pool-balance-checks")
        command += list(opts.extra_args)
        return command

    def _start(self, timeout: float) -> None:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if platform.system() == "Linux" else None,  # noqa: PLW1509
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self.log_path.read_text(errors="replace")[-2000:]
                self._cleanup()
                raise TestbedError(f"anvil exited during start-up: {output.strip()}")
            try:
                self.request("eth_chainId", [])
                return
            except (OSError, TestbedError):
                time.sleep(0.05)
        self.stop()
        raise TestbedError(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def request(self, method: str, params: list[Any], timeout: float = 120.0) -> Any:
        """One synchronous JSON-RPC call; raises TestbedError on a JSON-RPC error."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        # The URL is always our own http://127.0.0.1 node, never user input.
        req = urllib.request.Request(  # noqa: S310
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            answer = json.loads(response.read())
        if "error" in answer:
            raise TestbedError(f"anvil {method} failed: {answer['error']}")
        return answer["result"]

    def wait_for_receipt(self, tx_hash: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the transaction is mined (anvil mines asynchronously after sending)."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.request("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            if time.monotonic() > deadline:
                raise TestbedError(f"transaction {tx_hash} was not mined within {timeout:.0f} s")
            time.sleep(0.01)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Terminate anvil (SIGTERM, then SIGKILL after 5 s) and delete its cache."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self._cleanup()

    def _cleanup(self) -> None:
        self._process = None
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> AnvilNode:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_anvil(options: AnvilOptions | None = None) -> Iterator[AnvilNode]:
    """Start anvil for the duration of a ``with`` block."""
    node = AnvilNode(options)
    try:
        yield node
    finally:
        node.stop()


def peak_rss_kib(pid: int) -> int | None:
    """Peak resident memory of a live process (Linux ``VmHWM``), for benchmarks."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None
