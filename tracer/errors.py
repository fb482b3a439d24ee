"""Every error tracer raises on purpose derives from :class:`TracerError`.

Library code raises; only the CLI decides exit codes and how to print. Messages are
written for the person at the terminal: one line, what went wrong and what to do.

Hierarchy::

    TracerError
    ├── InputError                 bad user input (exit code 2)
    │   ├── InvalidAddressError    not a 20-byte hex address, or a bad EIP-55 checksum
    │   ├── InvalidTxHashError     not a 32-byte hex transaction hash
    │   ├── UnknownNameError       unknown chain/policy/format, with "did you mean"
    │   └── InputFileError         missing or malformed input file (names the file and line)
    ├── SourceError                a data source failed (exit code 3)
    │   ├── EndpointUnreachableError   connection refused, DNS failure, timeout on connect
    │   └── RpcError                   a JSON-RPC error object; carries the numeric code
    └── TestbedError               the local chain testbed could not be built or started
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class TracerError(Exception):
    """Root of every error tracer raises deliberately."""

    exit_code = 1


class InputError(TracerError):
    """The user gave us something we cannot use."""

    exit_code = 2


class InvalidAddressError(InputError):
    """A string that is not a valid EVM address."""


class InvalidTxHashError(InputError):
    """A string that is not a valid transaction hash."""


class UnknownNameError(InputError):
    """A name (chain, policy, format, ...) that is not in the registry it was looked up in."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known_sorted = sorted(known)
        close = difflib.get_close_matches(name, known_sorted, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known_sorted)}"
        super().__init__(f"unknown {kind} {name!r}; {hint}")
        self.kind = kind
        self.name = name
        self.suggestion = close[0] if close else None


class InputFileError(InputError):
    """A missing, unreadable or malformed input file."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = Path(path)
        self.line = line


class SourceError(TracerError):
    """A data source (node, explorer) failed in a way retries did not fix."""

    exit_code = 3


class EndpointUnreachableError(SourceError):
    """The endpoint could not be reached at all."""


class RpcError(SourceError):
    """A JSON-RPC error response; ``code`` is the numeric error code from the node."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method} failed with JSON-RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.rpc_message = message


class TestbedError(TracerError):
    """The local chain testbed could not be started, built or checked."""

    __test__ = False  # not a pytest test class despite the name
