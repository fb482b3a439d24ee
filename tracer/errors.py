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
    ├── SourceError                a data source failed (exit code 3); ``retryable`` says if
    │   │                              the transport may try the same request again
    │   ├── EndpointUnreachableError   connection refused, DNS failure, timeout on connect
    │   ├── TransientSourceError       HTTP 5xx, a dropped connection: retried, then raised
    │   │   ├── SourceTimeoutError     no answer within the read timeout (a stalled server)
    │   │   └── RateLimitedError       HTTP 429, JSON-RPC "limit exceeded" codes, explorer
    │   │                              "Max rate limit reached"; carries ``retry_after``
    │   ├── ResponseFormatError        a body that is not the JSON we expect (often truncated)
    │   ├── HttpStatusError            a non-retryable HTTP status (401, 403, 404, 413, ...)
    │   ├── RpcError                   a JSON-RPC error object; carries the numeric code
    │   │   └── RangeTooLargeError     the provider capped a block range or result size
    │   ├── ExplorerError              an explorer API answered status "0" with a message we do
    │   │   │                              not map to an outcome; carries that message
    │   │   ├── ApiKeyError            the explorer refused the API key (or none is configured)
    │   │   └── ResultWindowError      page x offset beyond the explorer's result window
    │   └── ChainMismatchError         the endpoint serves another chain than the one asked for
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
        if close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = f"known: {', '.join(known_sorted)}" if known_sorted else f"no {kind} is known"
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
    """A data source (node, explorer) failed in a way retries did not fix.

    ``retryable`` tells the transport whether sending the same request again may succeed;
    it is a class default that single errors may override (a TLS failure is not retried).
    Messages show endpoints only in redacted form: API keys never reach an error.
    """

    exit_code = 3
    retryable: bool = False


class EndpointUnreachableError(SourceError):
    """The endpoint could not be reached at all."""

    retryable = True  # a node restarting or a load balancer blip heals within seconds


class TransientSourceError(SourceError):
    """A failure that usually heals by itself (HTTP 5xx, a dropped connection)."""

    retryable = True


class SourceTimeoutError(TransientSourceError):
    """The endpoint accepted the request but did not answer in time."""


class RateLimitedError(TransientSourceError):
    """The endpoint asked us to slow down; ``retry_after`` is its hint in seconds, if any."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, code: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code


class ResponseFormatError(SourceError):
    """The answer is not the JSON we expect: truncated, malformed, or of the wrong shape."""

    retryable = True  # in practice nearly always a cut-off body; retries are bounded anyway


class HttpStatusError(SourceError):
    """An HTTP status that retrying will not fix (authentication, not found, too large)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class RpcError(SourceError):
    """A JSON-RPC error response; ``code`` is the numeric error code from the node."""

    def __init__(self, method: str, code: int, message: str, data: object = None) -> None:
        super().__init__(f"{method} failed with JSON-RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


class RangeTooLargeError(RpcError):
    """A block-range query (eth_getLogs, trace_filter) exceeded a provider cap.

    Not retried as is: the caller splits the range and asks again.
    """


class ExplorerError(SourceError):
    """An explorer API (Etherscan, Blockscout) answered ``status: "0"`` with a message that
    means no known outcome; ``explorer_message`` is that message (credentials removed)."""

    def __init__(self, message: str, *, explorer_message: str = "") -> None:
        super().__init__(message)
        self.explorer_message = explorer_message


class ApiKeyError(ExplorerError):
    """The explorer refused the API key, or it needs one and none is configured.

    Fatal: every further request would be refused too. The message names the environment
    variable the key came from, never the key.
    """


class ResultWindowError(ExplorerError):
    """``page x offset`` beyond the explorer's result window (Etherscan: 10,000 records).

    Not retried as is: the explorer source moves its block cursor and asks again.
    """


class ChainMismatchError(SourceError):
    """The endpoint serves a different chain than the one the user asked for."""

    def __init__(self, endpoint: str, expected: int, actual: int) -> None:
        super().__init__(
            f"{endpoint} serves chain id {actual}, not the expected chain id {expected}; "
            "check the RPC URL"
        )
        self.expected = expected
        self.actual = actual


class TestbedError(TracerError):
    """The local chain testbed could not be started, built or checked."""

    __test__ = False  # not a pytest test class despite the name
