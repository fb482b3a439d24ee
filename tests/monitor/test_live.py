"""Monitor passes against a live anvil that keeps mining: exactly one alert per event,
nothing for unconfirmed or orphaned blocks, reorgs detected by block hash."""

from __future__ import annotations

import sqlite3

from tests.monitor.conftest import ETH, Live
from tracer.monitor.runner import MonitorOptions, PassResult, run_pass
from tracer.monitor.watchlist import Watchlist


async def test_a_new_outflow_gives_exactly_one_alert(live: Live) -> None:
    watchlist = live.watchlist()
    first = await run_pass(watchlist, live.options())
    assert first.alerts == []  # the first pass only sets the cursor at the confirmed head
    tx_hash = live.send(live.seed, live.stranger, 3 * ETH)
    block = live.confirm(tx_hash, 2)

    second = await run_pass(watchlist, live.options())
    assert second.scanned_from is not None and second.scanned_to is not None
    assert second.scanned_from <= block <= second.scanned_to
    assert [(a["kind"], a["transaction_hash"]) for a in second.alerts] == [("outflow", tx_hash)]
    alert = second.alerts[0]
    assert alert["seed"] == live.seed
    assert alert["seed_label"] == "Theft wallet"
    assert alert["block_number"] == block
    assert alert["direction"] == "out"
    assert alert["counterparty"] == {"address": live.stranger, "labels": []}
    assert (alert["asset"], alert["amount"], alert["amount_raw"]) == ("ETH", "3", str(3 * ETH))
    assert live.lines() == [alert]
    # Requests are a handful per pass, not one per watched address or block.
    assert second.http_requests <= 12

    live.wait_for_block(live.chain.block_number() + 3)
    third = await run_pass(watchlist, live.options())
    assert third.blocks >= 3  # the chain moved on ...
    assert third.alerts == []  # ... and nothing new happened
    assert live.lines() == [alert]


async def test_a_transfer_waits_for_its_confirmations(live: Live) -> None:
    watchlist = live.watchlist()
    await run_pass(watchlist, live.options(confirmations=20))
    tx_hash = live.send(live.seed, live.exchange, ETH)
    block = live.chain.wait_for_receipt(tx_hash).block_number
    early = await run_pass(watchlist, live.options(confirmations=20))
    assert early.alerts == []
    assert early.scanned_to is None or early.scanned_to < block
    live.wait_for_block(block + 20)
    late = await run_pass(watchlist, live.options(confirmations=20))
    assert [(a["kind"], a["hops"]) for a in late.alerts] == [
        ("outflow", 0),
        ("reached_exchange", 1),
    ]
    assert late.alerts[1]["counterparty"]["labels"][0]["name"] == "Exchange X: Hot Wallet"


async def test_a_reorg_above_the_confirmations_orphans_nothing_and_misses_nothing(
    live: Live,
) -> None:
    """The cursor passes the snapshot; the reverted transfer was never confirmed, so it never
    alerts; the replacing one (same nonce) alerts once; the reorg is seen by block hash."""
    watchlist = live.watchlist()
    options = live.options(confirmations=4)
    await run_pass(watchlist, options)
    snapshot = live.chain.snapshot()
    fork_point = live.chain.block_number()
    live.wait_for_block(fork_point + 8)
    nonce = live.chain.request("eth_getTransactionCount", [live.seed, "latest"])
    orphan = live.send(live.seed, live.stranger, ETH, nonce=nonce)
    orphan_block = live.chain.wait_for_receipt(orphan).block_number
    before = await run_pass(watchlist, options)
    assert before.alerts == []
    assert before.scanned_to is not None and fork_point < before.scanned_to < orphan_block

    live.chain.revert(snapshot)
    replacement = live.send(live.seed, live.hop, 2 * ETH, nonce=nonce)
    live.confirm(replacement, 4)
    after = await run_pass(watchlist, options)
    assert after.reorgs == 1
    assert [(a["kind"], a["transaction_hash"]) for a in after.alerts] == [("outflow", replacement)]
    assert [line["transaction_hash"] for line in live.lines()] == [replacement]


async def test_a_reorg_below_the_cursor_retracts_the_orphaned_alert(live: Live) -> None:
    """With no confirmations the orphaned transfer did alert: the re-scan raises the
    replacement and a ``retracted`` alert naming the orphan's id."""
    watchlist = live.watchlist()
    options = live.options(confirmations=0)
    await run_pass(watchlist, options)
    snapshot = live.chain.snapshot()
    nonce = live.chain.request("eth_getTransactionCount", [live.seed, "latest"])
    orphan = live.send(live.seed, live.stranger, ETH, nonce=nonce)
    live.confirm(orphan, 1)
    before = await run_pass(watchlist, options)
    assert [(a["kind"], a["transaction_hash"]) for a in before.alerts] == [("outflow", orphan)]

    live.chain.revert(snapshot)
    replacement = live.send(live.seed, live.hop, 2 * ETH, nonce=nonce)
    live.confirm(replacement, 1)
    after = await run_pass(watchlist, options)
    assert after.reorgs == 1
    assert after.retracted == 1
    kinds = [(a["kind"], a["transaction_hash"]) for a in after.alerts]
    assert kinds == [("outflow", replacement)]
    lines = live.lines()
    assert [(line["kind"], line["transaction_hash"]) for line in lines] == [
        ("outflow", orphan),
        ("outflow", replacement),
        ("retracted", orphan),
    ]
    assert lines[2]["retracts"] == before.alerts[0]["id"]
    assert len({line["id"] for line in lines}) == 3
    with sqlite3.connect(live.state) as db:
        states = dict(db.execute("SELECT id, state FROM alerts WHERE state != 'live'"))
    # The withdrawn alert, and the notice withdrawing it (never orphaned by a later reorg).
    assert states == {lines[0]["id"]: "retracted", lines[2]["id"]: "notice"}


async def test_funds_moved_on_by_a_traced_address_reach_the_exchange(live: Live) -> None:
    watchlist = live.watchlist()
    await run_pass(watchlist, live.options())
    first = live.send(live.seed, live.hop, 5 * ETH)
    live.confirm(first, 2)
    one = await run_pass(watchlist, live.options())
    assert [a["kind"] for a in one.alerts] == ["outflow"]
    # A later pass continues the trace from the state: the hop is tracked now.
    second = live.send(live.hop, live.exchange, 4 * ETH)
    live.confirm(second, 2)
    two = await run_pass(watchlist, live.options())
    assert [(a["kind"], a["subject"], a["hops"], a["amount"]) for a in two.alerts] == [
        ("reached_exchange", live.hop, 2, "4")
    ]


async def test_a_second_monitor_sharing_the_cache_reads_no_block_again(live: Live) -> None:
    watchlist = live.watchlist()
    first = live.confirm(live.send(live.seed, live.stranger, ETH), 0)
    live.confirm(live.send(live.seed, live.exchange, ETH), 14)
    live.chain.set_interval_mining(0)  # hold the head still: both passes see the same blocks
    cache = live.tmp / "cache.sqlite"
    common = {"from_block": first, "window_blocks": 4, "confirmations": 12, "cache_path": cache}
    one = await run_pass(watchlist, live.options(**common))
    two = await run_pass(
        watchlist,
        live.options(
            **common, state_path=live.tmp / "two.sqlite", alerts_path=live.tmp / "two.jsonl"
        ),
    )
    assert [a["id"] for a in two.alerts] == [a["id"] for a in one.alerts]
    assert [a["kind"] for a in one.alerts] == ["outflow", "outflow", "reached_exchange"]
    assert one.blocks >= 3
    assert (two.scanned_from, two.scanned_to) == (one.scanned_from, one.scanned_to)
    # Only the node's identity, head, probe, and the two fresh header checks of the cursor.
    assert two.http_requests <= 6 < one.http_requests


async def test_a_deposit_address_learned_on_one_pass_alerts_at_once_on_the_next(
    live: Live,
) -> None:
    watchlist = live.watchlist()
    await run_pass(watchlist, live.options())
    deposit = live.send(live.seed, live.hop, 3 * ETH)
    live.confirm(deposit, 0)
    sweep = live.send(live.hop, live.exchange, 3 * ETH)
    live.confirm(sweep, 2)
    one = await run_pass(watchlist, live.options())
    assert ids_of(one.alerts) == [
        ("outflow", deposit),
        ("reached_exchange_deposit", deposit),
        ("reached_exchange", sweep),
    ]
    [label] = one.alerts[1]["counterparty"]["labels"]
    assert (label["name"], label["category"]) == (
        "Exchange X: deposit address (by behaviour)",
        "exchange_deposit",
    )
    # The next deposit is an off-ramp at once, before (or without) any sweep.
    again = live.send(live.seed, live.hop, ETH)
    live.confirm(again, 2)
    two = await run_pass(watchlist, live.options())
    assert ids_of(two.alerts) == [("outflow", again), ("reached_exchange_deposit", again)]


def ids_of(alerts: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(a["kind"], a["transaction_hash"]) for a in alerts]


async def alerted_then_reverted(
    live: Live, watchlist: Watchlist, options: MonitorOptions
) -> tuple[str, str, int, PassResult]:
    """A signed outflow mined and alerted, then its block reverted away: (the raw signed
    transaction, its hash, its block, the pass that alerted it)."""
    await run_pass(watchlist, options)
    snapshot = live.chain.snapshot()
    raw = live.sign(live.seed, live.stranger, ETH)
    tx_hash = live.send_raw(raw)
    block = live.confirm(tx_hash, 1)
    alerted = await run_pass(watchlist, options)
    assert ids_of(alerted.alerts) == [("outflow", tx_hash)]
    live.chain.revert(snapshot)
    return raw, tx_hash, block, alerted


async def test_a_retracted_alert_whose_transaction_is_mined_again_is_raised_again(
    live: Live,
) -> None:
    """The orphaned transfer is retracted while no block holds it; the same signed
    transaction sent again after the revert alerts again, under a new id that names the
    retracted one in ``reinstates`` (a receiver de-duplicating on ids must not drop it)."""
    watchlist, options = live.watchlist(), live.options(confirmations=0)
    raw, tx_hash, block, before = await alerted_then_reverted(live, watchlist, options)
    original = before.alerts[0]

    live.wait_for_block(block + 2)  # the new chain is past the orphaned block
    assert live.chain.request("eth_getTransactionReceipt", [tx_hash]) is None
    gone = await run_pass(watchlist, options)
    assert (gone.reorgs, gone.retracted, gone.alerts) == (1, 1, [])

    assert live.send_raw(raw) == tx_hash
    again = live.confirm(tx_hash, 1)
    back = await run_pass(watchlist, options)
    assert ids_of(back.alerts) == [("outflow", tx_hash)]
    reinstated = back.alerts[0]
    assert reinstated["reinstates"] == original["id"]
    assert reinstated["id"] != original["id"]
    assert reinstated["block_number"] == again
    assert {k: v for k, v in reinstated.items() if k not in ("id", "reinstates")} == {
        **{k: v for k, v in original.items() if k != "id"},
        "block_number": again,
        "block_hash": reinstated["block_hash"],
        "block_time": reinstated["block_time"],
    }
    lines = live.lines()
    assert [(line["kind"], line.get("retracts"), line.get("reinstates")) for line in lines] == [
        ("outflow", None, None),
        ("retracted", original["id"], None),
        ("outflow", None, original["id"]),
    ]
    assert len({line["id"] for line in lines}) == 3
    live.wait_for_block(again + 3)
    assert (await run_pass(watchlist, options)).alerts == []
    assert len(live.lines()) == 3


async def test_an_orphaned_transaction_mined_again_before_the_pass_alerts_once(
    live: Live,
) -> None:
    """Re-included in the replacing chain before the monitor saw the reorg: the alert
    stands as raised (same id), nothing is retracted or repeated."""
    watchlist, options = live.watchlist(), live.options(confirmations=0)
    raw, tx_hash, block, before = await alerted_then_reverted(live, watchlist, options)
    live.send_raw(raw)
    live.confirm(tx_hash, 1)
    live.wait_for_block(block + 2)
    after = await run_pass(watchlist, options)
    assert (after.reorgs, after.retracted, after.alerts) == (1, 0, [])
    assert live.lines() == before.alerts
    with sqlite3.connect(live.state) as db:
        assert db.execute("SELECT state FROM alerts").fetchall() == [("live",)]


async def test_a_deposit_whose_sweep_comes_on_a_later_pass_alerts_at_the_sweep(
    live: Live,
) -> None:
    """The deposit is matched on one pass, the sweep that shows its recipient to be an
    exchange deposit address on the next: the deposit transaction then raises
    ``reached_exchange_deposit`` (at its own block), besides the sweep's ``reached_exchange``."""
    watchlist = live.watchlist()
    await run_pass(watchlist, live.options())
    deposit = live.send(live.seed, live.hop, 3 * ETH)
    deposit_block = live.confirm(deposit, 2)
    one = await run_pass(watchlist, live.options())
    assert ids_of(one.alerts) == [("outflow", deposit)]
    sweep = live.send(live.hop, live.exchange, 3 * ETH)
    live.confirm(sweep, 2)
    two = await run_pass(watchlist, live.options())
    assert ids_of(two.alerts) == [
        ("reached_exchange_deposit", deposit),
        ("reached_exchange", sweep),
    ]
    found = two.alerts[0]
    assert (found["block_number"], found["subject"], found["hops"], found["amount"]) == (
        deposit_block,
        live.seed,
        1,
        "3",
    )
    assert found["block_hash"] == live.chain.block(deposit_block)["hash"]
    [label] = found["counterparty"]["labels"]
    assert (label["name"], label["category"]) == (
        "Exchange X: deposit address (by behaviour)",
        "exchange_deposit",
    )
    assert found == {
        **one.alerts[0],
        "id": found["id"],
        "kind": "reached_exchange_deposit",
        "rules": ["offramps"],
        "hops": 1,
        "counterparty": found["counterparty"],
    }
    # The same ids as when deposit and sweep fall in one window (see the test above).
    live.wait_for_block(live.chain.block_number() + 2)
    assert (await run_pass(watchlist, live.options())).alerts == []
    assert [line["id"] for line in live.lines()] == [a["id"] for a in one.alerts + two.alerts]


async def test_a_reorg_that_takes_the_sweep_away_withdraws_the_deposit_alert(
    live: Live,
) -> None:
    """The deposit stays on the chain, its sweep does not: the address is no deposit
    address any more (as far as the chain shows), so the alert that said so is retracted
    and a new deposit into it is only an outflow."""
    watchlist = live.watchlist()
    options = live.options(confirmations=0)
    await run_pass(watchlist, options)
    deposit = live.send(live.seed, live.hop, 3 * ETH)
    live.confirm(deposit, 0)
    snapshot = live.chain.snapshot()
    sweep = live.send(live.hop, live.exchange, 3 * ETH)
    sweep_block = live.confirm(sweep, 1)
    one = await run_pass(watchlist, options)
    assert ids_of(one.alerts) == [
        ("outflow", deposit),
        ("reached_exchange_deposit", deposit),
        ("reached_exchange", sweep),
    ]
    live.chain.revert(snapshot)
    later = live.send(live.seed, live.hop, ETH)
    live.confirm(later, 1)
    live.wait_for_block(sweep_block + 2)
    two = await run_pass(watchlist, options)
    assert two.reorgs == 1
    assert ids_of(two.alerts) == [("outflow", later)]
    assert two.retracted == 2
    retracted = [line["retracts"] for line in live.lines() if line["kind"] == "retracted"]
    assert sorted(retracted) == sorted(a["id"] for a in one.alerts[1:])
