"""Watchlist parsing: both formats read in full, and every malformed input names its line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tracer.errors import InputFileError
from tracer.labels.model import Category
from tracer.monitor.watchlist import (
    DEFAULT_RULES,
    REACH_KINDS,
    Asset,
    Rule,
    Seed,
    Trigger,
    load_watchlist,
)
from tracer.types import NATIVE_TOKEN, Address

SEED_A = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
SEED_A_CHECKSUM = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SEED_B = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
TOKEN = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_watchlist_is_read_in_full(tmp_path: Path) -> None:
    write(tmp_path, "case-labels.csv", "address,name,category\n")
    path = write(
        tmp_path,
        "w.yaml",
        f"""
start_block: 120
labels: [case-labels.csv]
assets:
  - {{symbol: tUSD, token: "{TOKEN}", decimals: 6}}
rules:
  - name: big-moves
    kinds: [outflow, inflow]
    min_amount: "2.5"
    assets: [native, tUSD]
  - name: offramps
    kinds: [reached]
    within_hops: 4
    reach: [exchange, mixer]
    watch_discovered: true
seeds:
  - address: "{SEED_A_CHECKSUM}"
    label: Theft wallet
    rules: [offramps]
  - "{SEED_B}"
""",
    )
    watchlist = load_watchlist(path)
    assert watchlist.start_block == 120
    assert watchlist.label_files == (tmp_path / "case-labels.csv",)
    assert watchlist.assets == {TOKEN: Asset("tUSD", Address(TOKEN), 6)}
    assert dict(watchlist.rules) == {
        "big-moves": Rule(
            "big-moves",
            frozenset({Trigger.OUTFLOW, Trigger.INFLOW}),
            min_amount=Decimal("2.5"),
            assets=frozenset({NATIVE_TOKEN, TOKEN}),  # type: ignore[arg-type]
        ),
        "offramps": Rule(
            "offramps",
            frozenset({Trigger.REACHED}),
            within_hops=4,
            reach=frozenset({Category.EXCHANGE, Category.MIXER}),
            watch_discovered=True,
        ),
    }
    assert watchlist.seeds == (
        Seed(SEED_A, "Theft wallet", ("offramps",)),  # type: ignore[arg-type]
        Seed(SEED_B, "", ("big-moves", "offramps")),  # type: ignore[arg-type]
    )
    assert watchlist.decimals(TOKEN) == 6
    assert watchlist.decimals(NATIVE_TOKEN) == 18
    assert watchlist.decimals(SEED_B) is None


def test_csv_watchlist_gets_the_default_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "w.csv",
        f"# exported from the case file\naddress,label\n{SEED_A},Theft wallet\n\n{SEED_B},\n",
    )
    watchlist = load_watchlist(path)
    names = tuple(rule.name for rule in DEFAULT_RULES)
    assert watchlist.seeds == (
        Seed(SEED_A, "Theft wallet", names),  # type: ignore[arg-type]
        Seed(SEED_B, "", names),  # type: ignore[arg-type]
    )
    assert dict(watchlist.rules) == {rule.name: rule for rule in DEFAULT_RULES}
    assert DEFAULT_RULES[1].reach == frozenset(REACH_KINDS)


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("w.csv", f"address,label\n{SEED_A},ok\n0x1234,short\n", 3, "invalid address '0x1234'"),
        ("w.csv", f"address,label\n{SEED_A},a\n{SEED_A},b\n", 3, "listed twice (first on line 2)"),
        ("w.csv", "label,name\nx,y\n", 1, "missing column 'address'"),
        ("w.csv", f"address,label\n{SEED_A},a,extra\n", 2, "more fields than the header"),
        (
            "w.yaml",
            f"seeds:\n  - address: {SEED_A}\n    lable: x\n",
            3,
            "unknown key 'lable'; did you mean 'label'?",
        ),
        (
            "w.yaml",
            f"rules:\n  - name: r\n    kinds: [outflow]\nseeds:\n  - address: {SEED_A}\n"
            "    rules: [rr]\n",
            6,
            "unknown rule 'rr'; did you mean 'r'?",
        ),
        ("w.yaml", "rules:\n  - name: r\n    kinds: [outflows]\nseeds: []\n", 3, "unknown kind"),
        (
            "w.yaml",
            "rules:\n  - name: r\n    kinds: [outflow]\n    min_amount: lots\nseeds: []\n",
            4,
            "min_amount must be a non-negative decimal number",
        ),
        (
            "w.yaml",
            "rules:\n  - name: r\n    kinds: [reached]\n    reach: [casino]\nseeds: []\n",
            4,
            "reach: 'casino' is not one of",
        ),
        (
            "w.yaml",
            "rules:\n  - name: r\n    kinds: [outflow]\n    assets: [DOGE]\nseeds: []\n",
            4,
            "unknown asset 'DOGE'",
        ),
        ("w.yaml", "seeds:\n  - address: [1, 2\n", 3, "malformed YAML"),
        ("w.yaml", "seeds: []\n", 1, "'seeds' is empty"),
        ("w.yaml", f"labels: [gone.csv]\nseeds: [{SEED_A}]\n", 1, "gone.csv not found"),
        ("w.yaml", f"start_block: -5\nseeds: [{SEED_A}]\n", 1, "start_block must be"),
    ],
)
def test_malformed_watchlist_names_the_line(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(InputFileError) as caught:
        load_watchlist(path)
    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_missing_watchlist(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="watchlist not found"):
        load_watchlist(tmp_path / "nope.csv")


@pytest.mark.parametrize("name", ["example.yaml", "example.csv"])
def test_shipped_examples_load(name: str) -> None:
    watchlist = load_watchlist(REPO / "configs" / "watchlists" / name)
    assert len(watchlist.seeds) >= 2
    assert all(seed.rules for seed in watchlist.seeds)
