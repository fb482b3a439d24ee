"""The matcher over hand-made transfer windows: every alert it raises, field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracer.labels.model import Category, Label
from tracer.labels.store import LabelStore
from tracer.monitor.alerts import alert_id, format_amount
from tracer.monitor.rules import Matcher, Tracking
from tracer.monitor.watchlist import Watchlist, load_watchlist
from tracer.transfers.schema import transfers_from_rows
from tracer.types import NATIVE_TOKEN

SEED = "0x" + "5e" * 20
OTHER_SEED = "0x" + "5f" * 20
HOP1 = "0x" + "a1" * 20
HOP2 = "0x" + "a2" * 20
HOP3 = "0x" + "a3" * 20
EXCHANGE = "0x" + "e0" * 20
MIXER = "0x" + "70" * 20
SANCTIONED = "0x" + "50" * 20
TOKEN = "0x" + "70c0" * 10
STRANGER = "0x" + "99" * 20
ETH = 10**18


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


def row(
    n: int,
    block: int,
    sender: str,
    recipient: str,
    value: int,
    *,
    token: str = NATIVE_TOKEN,
    succeeded: bool | None = True,
) -> dict[str, Any]:
    native = token == NATIVE_TOKEN
    return {
        "chain_id": 1,
        "block_number": block,
        "block_time": 1_714_521_600 + block * 12,
        "transaction_hash": tx(n),
        "transfer_kind": "native" if native else "erc20",
        "log_index": None if native else 0,
        "from_address": sender,
        "to_address": recipient,
        "token_address": token,
        "value_raw": str(value),
        "token_symbol": "ETH" if native else None,
        "token_decimals": 18 if native else None,
        "tx_succeeded": succeeded,
        "source": "test",
    }


def labels() -> LabelStore:
    return LabelStore(
        [
            Label(EXCHANGE, "Exchange A: Hot Wallet", Category.EXCHANGE, "test", entity="Ex A"),
            Label(MIXER, "Pool 1 ETH", Category.MIXER, "test"),
            Label(SANCTIONED, "SDN wallet", Category.SANCTIONED, "test", listed="2024-01-01"),
        ]
    )


def watchlist(tmp_path: Path, rules: str) -> Watchlist:
    path = tmp_path / "w.yaml"
    path.write_text(
        f"assets:\n  - {{symbol: tUSD, token: '{TOKEN}', decimals: 6}}\n{rules}\n"
        f"seeds:\n  - {{address: '{SEED}', label: Theft}}\n  - '{OTHER_SEED}'\n"
    )
    return load_watchlist(path)


def evaluate(
    tmp_path: Path, rules: str, rows: list[dict[str, Any]], tracked: list[Tracking] | None = None
) -> tuple[list[tuple[Any, ...]], list[Tracking], Matcher]:
    matcher = Matcher(watchlist(tmp_path, rules), labels(), 1, "ETH")
    seeds = [Tracking(SEED, SEED, 0, 0), Tracking(OTHER_SEED, OTHER_SEED, 0, 0)]
    hashes = {r["block_number"]: "0x" + f"{r['block_number']:064x}" for r in rows}
    result = matcher.evaluate(transfers_from_rows(rows), hashes, seeds + (tracked or []))
    shown = [
        (
            a.kind,
            a.seed,
            a.transaction_hash,
            a.subject,
            a.counterparty.address,
            a.hops,
            a.asset,
            a.amount,
            a.amount_raw,
            a.rules,
        )
        for a in result.alerts
    ]
    return shown, list(result.discovered), matcher


DEFAULTS = ""  # no rules key: moves + offramps (3 hops)


def test_outflow_inflow_and_a_three_hop_path_to_an_exchange(tmp_path: Path) -> None:
    rows = [
        row(1, 10, SEED, HOP1, 3 * ETH),
        row(2, 11, HOP1, HOP2, 2 * ETH),
        row(3, 12, HOP2, EXCHANGE, 3 * ETH // 2),  # keeps 0.5 ETH: no deposit address
        row(4, 12, STRANGER, SEED, ETH // 2),
        row(5, 12, STRANGER, HOP1, ETH),  # inflows of traced (not watched) addresses: silent
    ]
    shown, discovered, _ = evaluate(tmp_path, DEFAULTS, rows)
    assert shown == [
        ("outflow", SEED, tx(1), SEED, HOP1, 0, "ETH", "3", str(3 * ETH), ("moves",)),
        (
            "reached_exchange",
            SEED,
            tx(3),
            HOP2,
            EXCHANGE,
            3,
            "ETH",
            "1.5",
            str(3 * ETH // 2),
            ("offramps",),
        ),
        ("inflow", SEED, tx(4), SEED, STRANGER, 0, "ETH", "0.5", str(ETH // 2), ("moves",)),
    ]
    assert discovered == [Tracking(HOP1, SEED, 1, 10), Tracking(HOP2, SEED, 2, 11)]


def test_the_hop_limit_is_respected(tmp_path: Path) -> None:
    rules = "rules:\n  - {name: near, kinds: [reached], within_hops: 2}\n"
    rows = [
        row(1, 10, SEED, HOP1, ETH),
        row(2, 11, HOP1, MIXER, ETH // 2),  # hop 2: alerts
        row(3, 11, HOP1, HOP2, ETH // 2),  # HOP2 would be hop 2: nothing left to find from it
        row(4, 12, HOP2, EXCHANGE, ETH // 4),  # hop 3: beyond within_hops
    ]
    shown, discovered, matcher = evaluate(tmp_path, rules, rows)
    assert shown == [
        ("reached_mixer", SEED, tx(2), HOP1, MIXER, 2, "ETH", "0.5", str(ETH // 2), ("near",)),
    ]
    assert discovered == [Tracking(HOP1, SEED, 1, 10)]
    assert matcher.trace_depth == {SEED: 2, OTHER_SEED: 2}


def test_amount_and_asset_filters_and_tokens(tmp_path: Path) -> None:
    rules = (
        "rules:\n"
        "  - {name: big-eth, kinds: [outflow], min_amount: '1.5', assets: [native]}\n"
        "  - {name: usd, kinds: [outflow, reached], min_amount: '100', assets: [tUSD]}\n"
    )
    rows = [
        row(1, 10, SEED, HOP1, ETH),  # below 1.5 ETH
        row(2, 10, SEED, HOP1, 2 * ETH),
        row(3, 11, SEED, HOP1, 99_999_999, token=TOKEN),  # 99.999999 tUSD < 100
        row(4, 11, SEED, SANCTIONED, 250_000_000, token=TOKEN),
        row(5, 11, SEED, HOP1, 10**30, token=STRANGER),  # an undeclared token: no rule wants it
    ]
    shown, _, _ = evaluate(tmp_path, rules, rows)
    assert shown == [
        ("outflow", SEED, tx(2), SEED, HOP1, 0, "ETH", "2", str(2 * ETH), ("big-eth",)),
        ("outflow", SEED, tx(4), SEED, SANCTIONED, 0, "tUSD", "250", "250000000", ("usd",)),
        (
            "reached_sanctioned",
            SEED,
            tx(4),
            SEED,
            SANCTIONED,
            1,
            "tUSD",
            "250",
            "250000000",
            ("usd",),
        ),
    ]


def test_a_deposit_address_is_recognised_by_its_sweep_in_the_same_window(
    tmp_path: Path,
) -> None:
    rules = "rules:\n  - {name: off, kinds: [reached], within_hops: 3}\n"
    gas = 21_000 * 10**9
    rows = [
        row(1, 10, SEED, HOP1, 3 * ETH),  # HOP1 is the thief's deposit address at Ex A
        row(2, 11, HOP1, EXCHANGE, 3 * ETH - gas),  # the sweep, less its gas
    ]
    shown, discovered, matcher = evaluate(tmp_path, rules, rows)
    assert shown == [
        ("reached_exchange_deposit", SEED, tx(1), SEED, HOP1, 1, "ETH", "3", str(3 * ETH),
         ("off",)),
        ("reached_exchange", SEED, tx(2), HOP1, EXCHANGE, 2, "ETH", "2.999979",
         str(3 * ETH - gas), ("off",)),
    ]  # fmt: skip
    assert discovered == [Tracking(HOP1, SEED, 1, 10)]
    assert matcher.labels.labels(HOP1) == []  # the caller's store is left alone
    [label] = matcher.labels_of(HOP1)
    assert (label.name, label.category, label.entity, label.chain_id) == (
        "Ex A: deposit address (by behaviour)",
        Category.EXCHANGE_DEPOSIT,
        "Ex A",
        1,
    )
    assert label.source == "tracer monitor: heuristic exchange-deposit-address"
    assert 0.8 <= label.confidence <= 0.99


def test_a_deposit_address_whose_sweep_comes_in_a_later_window(tmp_path: Path) -> None:
    """Window one: traced deposits into HOP1 and HOP2, and HOP2 pays a stranger (so HOP2
    is no deposit address; the stranger may be). Window two, as a later pass sees it (a
    fresh matcher and the candidate rows the state kept): HOP1's sweep, and the stranger
    paying someone else; the deposits of window one into HOP1 alert."""
    rules = "rules:\n  - {name: off, kinds: [reached], within_hops: 3}\n"
    one = Matcher(watchlist(tmp_path, rules), labels(), 1, "ETH")
    seeds = [Tracking(SEED, SEED, 0, 0), Tracking(OTHER_SEED, OTHER_SEED, 0, 0)]
    first = [
        row(1, 10, SEED, HOP1, 3 * ETH),
        row(2, 10, OTHER_SEED, HOP1, ETH),  # another seed's traced deposit into HOP1
        row(3, 11, SEED, HOP2, ETH),
        row(4, 11, HOP2, STRANGER, ETH // 2),
    ]
    window = one.evaluate(transfers_from_rows(first), {10: tx(100), 11: tx(101)}, seeds)
    assert window.alerts == () and window.learned == () and window.dropped == ()
    assert {(c.address, c.seed, c.hop, c.block_hash) for c in window.candidates} == {
        (HOP1, None, None, None),  # its transfers, for the heuristic's replay
        (HOP1, SEED, 0, tx(100)),  # the traced deposits, for the alert
        (HOP1, OTHER_SEED, 0, tx(100)),
        (STRANGER, None, None, None),
        (STRANGER, SEED, 1, tx(101)),  # paid by HOP2 at hop 1
    }
    tracked = [*seeds, *window.discovered]
    two = Matcher(watchlist(tmp_path, rules), labels(), 1, "ETH")
    sweep = [row(5, 12, HOP1, EXCHANGE, 4 * ETH), row(6, 12, STRANGER, HOP3, ETH // 2)]
    later = two.evaluate(
        transfers_from_rows(sweep), {12: tx(102)}, tracked, window.candidates, now=first_time(13)
    )
    shown = [
        (a.kind, a.seed, a.transaction_hash, a.block_hash, a.hops, a.amount) for a in later.alerts
    ]
    assert shown == [
        ("reached_exchange_deposit", SEED, tx(1), tx(100), 1, "3"),
        ("reached_exchange_deposit", OTHER_SEED, tx(2), tx(100), 1, "1"),
        ("reached_exchange", SEED, tx(5), tx(102), 2, "4"),
        ("reached_exchange", OTHER_SEED, tx(5), tx(102), 2, "4"),
    ]  # fmt: skip
    assert [label.address for label in later.learned] == [HOP1]
    # HOP1 stays kept (a reorg may undo the sweep) but takes no new rows; the stranger paid
    # someone who is not an exchange: forgotten (HOP3, paid by it at hop 2, is the new one).
    assert {c.address for c in later.candidates} == {HOP3}
    assert later.dropped == (STRANGER,)
    # A day after their first traced deposit, no sweep can show any more: forgotten.
    kept = Matcher(watchlist(tmp_path, rules), labels(), 1, "ETH")
    assert kept.evaluate(
        transfers_from_rows([]), {}, tracked, window.candidates, now=first_time(11) + 86_400
    ).dropped == (HOP1,)
    expired = Matcher(watchlist(tmp_path, rules), labels(), 1, "ETH").evaluate(
        transfers_from_rows([]), {}, tracked, window.candidates, now=first_time(11) + 86_401
    )
    assert (expired.alerts, expired.candidates, expired.dropped) == ((), (), (STRANGER, HOP1))


def test_no_candidate_is_kept_when_no_rule_would_alert_on_a_deposit(tmp_path: Path) -> None:
    rules = "rules:\n  - {name: off, kinds: [reached], within_hops: 3, reach: [mixer]}\n"
    matcher = Matcher(watchlist(tmp_path, rules), labels(), 1, "ETH")
    seeds = [Tracking(SEED, SEED, 0, 0)]
    window = matcher.evaluate(transfers_from_rows([row(1, 10, SEED, HOP1, ETH)]), {}, seeds)
    assert window.candidates == ()


def first_time(block: int) -> int:
    return int(row(0, block, SEED, SEED, 0)["block_time"])


def test_failed_and_zero_value_transfers_never_alert(tmp_path: Path) -> None:
    rows = [
        row(1, 10, SEED, EXCHANGE, ETH, succeeded=False),
        row(2, 10, SEED, HOP1, 0, token=TOKEN),  # address-poisoning spam
        row(3, 10, STRANGER, SEED, 0, token=TOKEN),
    ]
    shown, discovered, _ = evaluate(tmp_path, DEFAULTS, rows)
    assert shown == []
    assert discovered == []


def test_tracking_from_an_earlier_pass_continues(tmp_path: Path) -> None:
    rules = (
        "rules:\n"
        "  - {name: far, kinds: [outflow, reached], within_hops: 3, watch_discovered: true}\n"
    )
    earlier = [Tracking(HOP2, SEED, 2, 5)]
    rows = [
        row(1, 4, HOP2, STRANGER, ETH),  # before HOP2 held traced funds: not its business
        row(2, 20, HOP2, EXCHANGE, ETH),
    ]
    shown, discovered, _ = evaluate(tmp_path, rules, rows, earlier)
    assert shown == [
        ("outflow", SEED, tx(2), HOP2, EXCHANGE, 2, "ETH", "1", str(ETH), ("far",)),
        ("reached_exchange", SEED, tx(2), HOP2, EXCHANGE, 3, "ETH", "1", str(ETH), ("far",)),
    ]
    assert discovered == []


def test_two_seeds_get_their_own_alerts_for_one_transfer(tmp_path: Path) -> None:
    shown, _, _ = evaluate(tmp_path, DEFAULTS, [row(1, 10, SEED, OTHER_SEED, ETH)])
    assert [(kind, seed) for kind, seed, *_ in shown] == [
        ("outflow", SEED),
        ("inflow", OTHER_SEED),
    ]


def test_alert_ids_are_stable_and_distinct() -> None:
    base: dict[str, Any] = {
        "chain_id": 1,
        "transaction_hash": tx(1),
        "transfer_kind": "erc20",
        "log_index": 3,
        "trace_address": None,
        "token_id": None,
        "seed": SEED,
        "kind": "outflow",
    }
    first = alert_id(**base)
    assert first == alert_id(**base)
    assert first.startswith("tm1_") and len(first) == 36
    for change in (
        {"kind": "reached_exchange"},
        {"log_index": 4},
        {"chain_id": 56},
        {"seed": OTHER_SEED},
        {"transfer_kind": "internal", "log_index": None, "trace_address": "0"},
    ):
        assert alert_id(**{**base, **change}) != first


@pytest.mark.parametrize(
    ("raw", "decimals", "shown"),
    [
        (10**18, 18, "1"),
        (1, 18, "0.000000000000000001"),
        (1_500_000, 6, "1.5"),
        (2**256 - 1, 0, str(2**256 - 1)),
        (5, None, None),
        (120, 1, "12"),
    ],
)
def test_amounts_are_exact(raw: int, decimals: int | None, shown: str | None) -> None:
    assert format_amount(raw, decimals) == shown
