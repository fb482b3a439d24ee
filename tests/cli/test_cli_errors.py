"""Bad input gets one clear line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracer.testbed.anvil import AnvilNode, free_loopback_port

SEED = "0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc"


def tracer_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert text in lines[0]
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands() -> None:
    result = tracer_cli("--help")
    assert result.returncode == 0
    assert "trace" in result.stdout
    trace_help = tracer_cli("trace", "--help")
    assert trace_help.returncode == 0
    for option in ("--rpc-url", "--labels", "--out", "--max-hops", "--chain"):
        assert option in trace_help.stdout


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ("0x1234", "expected 0x followed by 40 hex digits"),
        (SEED[:-1] + "C", "EIP-55 checksum does not match"),
        ("12D66f87A04A9E220743712cE6d9bB1B5616B8Fc", "expected 0x followed by 40 hex digits"),
    ],
)
def test_invalid_seed(seed: str, message: str) -> None:
    result = tracer_cli("trace", seed, "--rpc-url", "http://127.0.0.1:9")
    assert_one_line_error(result, 2, message)


def test_missing_label_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    result = tracer_cli("trace", SEED, "--rpc-url", "http://127.0.0.1:9", "--labels", str(missing))
    assert_one_line_error(result, 2, f"{missing}: label file not found")


def test_unknown_chain_suggests_the_closest_name() -> None:
    result = tracer_cli("trace", SEED, "--rpc-url", "http://127.0.0.1:9", "--chain", "etherem")
    assert_one_line_error(result, 2, "unknown chain 'etherem'; did you mean 'ethereum'?")


def test_unreachable_rpc(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}"
    result = tracer_cli("trace", SEED, "--rpc-url", url, "--out", str(tmp_path / "case"))
    assert_one_line_error(result, 3, "127.0.0.1")
    assert not (tmp_path / "case" / "report.json").exists()


def test_wrong_chain_for_the_endpoint(anvil: AnvilNode, tmp_path: Path) -> None:
    result = tracer_cli("trace", SEED, "--rpc-url", anvil.url, "--chain", "ethereum")
    assert_one_line_error(result, 2, "chain id 31337")
