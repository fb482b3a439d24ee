"""Each demixing signal on hand-built tables, full output asserted (positives and decoys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from tracer.heuristics.mixers.address_match import address_match
from tracer.heuristics.mixers.combine import demix, links_to_follow, noisy_or
from tracer.heuristics.mixers.gas_price import gas_fingerprint
from tracer.heuristics.mixers.linked_addresses import linked_to_cluster, withdrawal_groups
from tracer.heuristics.mixers.model import Evidence, MixerView, build_view, traced_cluster
from tracer.heuristics.mixers.multi_denomination import multi_denomination
from tracer.heuristics.mixers.pools import Pool, recognise_pools
from tracer.heuristics.mixers.relayer import relayer_habit
from tracer.heuristics.mixers.timing import timing
from tracer.protocols.events import EVENT_SCHEMA, TRANSACTION_SCHEMA
from tracer.transfers.schema import transfers_from_rows
from tracer.types import Address

ETH = 10**18
GWEI = 10**9
THIEF_PRICE = 13 * GWEI + 370_001_337  # distinctive
ROUND = 20 * GWEI


def a(name: str) -> Address:
    return Address("0x" + name.encode().hex().ljust(40, "0")[:40])


def h(name: str) -> str:
    return "0x" + name.encode().hex().ljust(64, "0")[:64]


P1, P10 = a("pool1"), a("pool10")
THIEF, INNOCENT, RELAYER = a("thief"), a("innocent"), a("relayer")
R_THIEF, R_INNOCENT, COLLECTOR = a("r-thief"), a("r-innocent"), a("collector")


def when(block: int) -> datetime:
    return datetime.fromtimestamp(1_700_000_000 + block * 600, tz=UTC)


class Case:
    """Rows of the three tables, added one transaction at a time."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.txs: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []

    def tx(  # noqa: PLR0917 (a test row builder)
        self, name: str, block: int, sender: Address, to: Address, value: int, price: int
    ) -> str:
        tx = h(name)
        self.txs.append(
            {"chain_id": 1, "transaction_hash": tx, "block_number": block,
             "block_time": when(block), "transaction_index": len(self.txs),
             "from_address": sender, "to_address": to, "value_raw": str(value),
             "gas_price": price, "status": True}
        )  # fmt: skip
        if value:
            self.transfers.append(
                {"chain_id": 1, "block_number": block, "block_time": when(block),
                 "transaction_hash": tx, "transfer_kind": "native", "from_address": sender,
                 "to_address": to, "token_address": "0x" + "e" * 40, "value_raw": str(value),
                 "tx_succeeded": True, "gas_price": price, "source": "test"}
            )  # fmt: skip
        return tx

    def deposit(  # noqa: PLR0917 (a test row builder)
        self, name: str, block: int, who: Address, pool: Address, value: int, price: int
    ) -> str:
        tx = self.tx(name, block, who, pool, value, price)
        self.events.append(
            {"chain_id": 1, "block_number": block, "block_time": when(block),
             "transaction_hash": tx, "log_index": len(self.events), "contract_address": pool,
             "event": "mixer_deposit", "protocol": "tornado", "account": who,
             "commitment_or_nullifier": h("c-" + name)}
        )  # fmt: skip
        return tx

    def withdraw(  # noqa: PLR0917 (a test row builder)
        self, name: str, block: int, pool: Address, to: Address, sender: Address,
        relayer: Address | None, price: int, fee: int = 0,
    ) -> str:  # fmt: skip
        tx = self.tx(name, block, sender, pool, 0, price)
        self.events.append(
            {"chain_id": 1, "block_number": block, "block_time": when(block),
             "transaction_hash": tx, "log_index": len(self.events), "contract_address": pool,
             "event": "mixer_withdrawal", "protocol": "tornado", "account": to,
             "counterparty": relayer or "0x" + "0" * 40,
             "commitment_or_nullifier": h("n-" + name), "fee_raw": str(fee)}
        )  # fmt: skip
        return tx

    def tables(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """(events, transactions, transfers) in their schemas."""
        events = pl.DataFrame(self.events, schema_overrides={}, infer_schema_length=None)
        events = pl.concat([pl.DataFrame(schema=EVENT_SCHEMA), events], how="diagonal_relaxed")
        txs = pl.concat(
            [pl.DataFrame(schema=TRANSACTION_SCHEMA), pl.DataFrame(self.txs)],
            how="diagonal_relaxed",
        ).cast(dict(TRANSACTION_SCHEMA))  # type: ignore[arg-type]
        events = events.select([pl.col(n).cast(t) for n, t in EVENT_SCHEMA.items()])
        return events, txs, transfers_from_rows(self.transfers)

    def view(self) -> MixerView:
        return build_view(*self.tables())


def base_case() -> Case:
    """A thief and an innocent deposit 1 ETH in the same block; the thief's note goes out
    through a relayer to a fresh address that later pays at the thief's price; the
    innocent withdraws to itself-funded fresh address, paying a round price."""
    case = Case()
    case.deposit("d-thief", 10, THIEF, P1, ETH, THIEF_PRICE)
    case.deposit("d-innocent", 10, INNOCENT, P1, ETH, ROUND)
    case.withdraw("w-thief", 20, P1, R_THIEF, RELAYER, RELAYER, 6 * GWEI, 4 * ETH // 1000)
    case.withdraw("w-innocent", 21, P1, R_INNOCENT, INNOCENT, None, ROUND)
    case.tx("later-thief", 30, R_THIEF, COLLECTOR, ETH // 2, THIEF_PRICE)
    case.tx("later-innocent", 31, R_INNOCENT, a("shop"), ETH // 2, ROUND)
    return case


def test_pools_from_events_values_labels_and_known() -> None:
    case = base_case()
    view = case.view()
    assert dict(view.pools) == {(1, P1): Pool(1, P1, ETH, "events")}
    events = pl.DataFrame(schema=EVENT_SCHEMA)
    mainnet = Address("0x910cbd523d972eb0a6f4cae4618ad62622b39dbf")
    transfers = transfers_from_rows(
        [{"chain_id": 1, "transaction_hash": h("x"), "transfer_kind": "native",
          "from_address": THIEF, "to_address": mainnet, "value_raw": str(10 * ETH)}]
    )  # fmt: skip
    assert recognise_pools(events, transfers, labelled=[(1, P10)]) == {
        (1, P10): Pool(1, P10, None, "label"),
        (1, mainnet): Pool(1, mainnet, 10 * ETH, "known"),
    }


def test_address_match_recipient_and_self_sent_withdrawals_not_relayers() -> None:
    case = base_case()
    direct = case.withdraw("w-direct", 22, P1, a("fresh"), THIEF, None, THIEF_PRICE)
    to_self = case.withdraw("w-self", 23, P1, THIEF, RELAYER, RELAYER, 6 * GWEI)
    view = case.view()
    traced = traced_cluster(view, {THIEF})
    assert address_match(view.withdrawals, traced) == {
        direct: Evidence(
            "mixer-address-match", 0.95,
            f"sent without a relayer by traced address {THIEF}, which paid its gas", (direct,),
        ),
        to_self: Evidence(
            "mixer-address-match", 0.95, f"withdrawn to traced address {THIEF}", (to_self,)
        ),
    }  # fmt: skip
    # The relayer is nobody's: a cluster that (wrongly) holds it is cured by passing hubs.
    assert address_match(view.withdrawals, traced_cluster(view, {RELAYER}, hubs={RELAYER})) == {}


def test_gas_fingerprint_on_the_recipients_later_transaction() -> None:
    case = base_case()
    view = case.view()
    traced = traced_cluster(view, {THIEF})
    assert gas_fingerprint(view, view.withdrawals, traced) == {
        h("w-thief"): Evidence(
            "mixer-gas-fingerprint", 0.85,
            f"recipient {R_THIEF} later paid gas price {THIEF_PRICE} wei, the cluster's "
            "distinctive price",
            (h("w-thief"), h("later-thief"), h("d-thief")),
        )
    }  # fmt: skip


def test_gas_fingerprint_ignores_a_round_price_others_use() -> None:
    case = Case()
    case.deposit("d-thief", 10, THIEF, P1, ETH, ROUND)
    case.deposit("d-innocent", 10, INNOCENT, P1, ETH, ROUND)
    case.withdraw("w-thief", 20, P1, R_THIEF, RELAYER, RELAYER, 6 * GWEI)
    case.tx("later-thief", 30, R_THIEF, COLLECTOR, ETH // 2, ROUND)
    view = case.view()
    assert gas_fingerprint(view, view.withdrawals, traced_cluster(view, {THIEF})) == {}
    # One foreign user of the price is tolerated when asked to.
    assert list(
        gas_fingerprint(
            view, view.withdrawals, traced_cluster(view, {THIEF}), {"max_foreign_senders": 1}
        )
    ) == [h("w-thief")]


def test_linked_addresses_direct_shared_and_hubs() -> None:
    case = base_case()
    deposit_eoa = a("deposit-eoa")
    case.tx("peel", 5, THIEF, deposit_eoa, ETH, THIEF_PRICE)
    case.tx("to-eoa", 32, R_THIEF, deposit_eoa, ETH // 4, THIEF_PRICE)
    case.tx("pay-back", 33, R_INNOCENT, THIEF, ETH // 8, ROUND)
    view = case.view()
    traced = traced_cluster(view, {THIEF})
    assert linked_to_cluster(view, view.withdrawals, traced) == {
        h("w-thief"): Evidence(
            "mixer-linked-addresses", 0.7,
            f"recipient {R_THIEF} and traced address {THIEF} both dealt with {deposit_eoa}",
            (h("w-thief"), h("to-eoa"), h("peel")),
        ),
        h("w-innocent"): Evidence(
            "mixer-linked-addresses", 0.85,
            f"recipient {R_INNOCENT} exchanged value with traced address {THIEF}",
            (h("w-innocent"), h("pay-back")),
        ),
    }  # fmt: skip
    # Declared services link nothing.
    hubs = traced_cluster(view, {THIEF}, hubs={deposit_eoa, THIEF})
    assert linked_to_cluster(view, view.withdrawals, hubs) == {}


def test_withdrawal_groups_same_recipient_and_shared_consolidation() -> None:
    case = base_case()
    second = case.withdraw("w-thief-2", 24, P1, R_THIEF, RELAYER, RELAYER, 6 * GWEI)
    other = a("r-thief-3")
    third = case.withdraw("w-thief-3", 25, P1, other, RELAYER, RELAYER, 6 * GWEI)
    case.tx("feed", 34, other, COLLECTOR, ETH // 2, THIEF_PRICE)
    view = case.view()
    groups = withdrawal_groups(view, view.withdrawals, traced_cluster(view, {THIEF}))
    linked = f"recipients {R_THIEF} and {other} linked through {COLLECTOR}"
    assert groups == [
        (
            tuple(sorted((h("w-thief"), second, third))),
            {
                h("w-thief"): f"same recipient {R_THIEF}",
                second: f"same recipient {R_THIEF}",
                third: linked,
            },
        )
    ]


def test_timing_weighs_by_the_anonymity_set() -> None:
    case = base_case()
    view = case.view()
    traced = traced_cluster(view, {THIEF})
    # One thief note, two withdrawals within 6 h: 0.3 x 1/2.
    text = "1 traced notes unspent in the pool; 2 withdrawals within 6.0 h (anonymity set 2, "
    assert timing(view, view.withdrawals, traced) == {
        h("w-thief"): Evidence(
            "mixer-timing", 0.15, text + "share 1/2)", (h("w-thief"), h("d-thief"))
        ),
        h("w-innocent"): Evidence(
            "mixer-timing", 0.15, text + "share 1/2)", (h("w-innocent"), h("d-thief"))
        ),
    }
    # A lone withdrawal with a narrow window: the full strength.
    assert timing(view, view.withdrawals, traced, {"window_hours": 0.1})[h("w-thief")].score == 0.3


def test_multi_denomination_recombination_and_rivals() -> None:
    case = base_case()
    case.deposit("d-thief-10", 11, THIEF, P10, 10 * ETH, THIEF_PRICE)
    w10 = case.withdraw("w-thief-10", 26, P10, R_THIEF, RELAYER, RELAYER, 6 * GWEI)
    view = case.view()
    traced = traced_cluster(view, {THIEF})
    group = tuple(sorted((h("w-thief"), w10)))
    text = (
        f"recipient {R_THIEF} withdrew 1 x {ETH} + 1 x {10 * ETH} wei from 2 pools, a "
        "combination the cluster deposited (0 other depositors could)"
    )
    expected = Evidence("mixer-multi-denomination", 0.6, text, group)
    assert multi_denomination(view, view.withdrawals, traced) == {
        h("w-thief"): expected,
        w10: expected,
    }
    # An innocent that also deposited 1 + 10 halves it.
    case.deposit("d-innocent-10", 12, INNOCENT, P10, 10 * ETH, ROUND)
    view = case.view()
    found = multi_denomination(view, view.withdrawals, traced_cluster(view, {THIEF}))
    assert {tx: e.score for tx, e in found.items()} == {h("w-thief"): 0.3, w10: 0.3}


def test_relayer_habit_is_weak_for_a_shared_relayer() -> None:
    case = base_case()
    view = case.view()
    assert relayer_habit(view, view.withdrawals, {RELAYER: 3}) == {
        h("w-thief"): Evidence(
            "mixer-relayer", 0.1,
            f"relayer {RELAYER}, as 3 linked withdrawals of the cluster; "
            "1 of 2 pool withdrawals chose the same",
            (h("w-thief"),),
        )
    }  # fmt: skip
    assert relayer_habit(view, view.withdrawals, {None: 1}) == {
        h("w-innocent"): Evidence(
            "mixer-relayer",
            0.1,
            "no relayer, as 1 linked withdrawals of the cluster; "
            "1 of 2 pool withdrawals chose the same",
            (h("w-innocent"),),
        )
    }


def test_noisy_or_takes_the_strongest_per_signal() -> None:
    items = [
        Evidence("s1", 0.5, "", ()),
        Evidence("s1", 0.2, "", ()),
        Evidence("s2", 0.5, "", ()),
    ]
    assert noisy_or(items) == 0.75
    assert noisy_or([]) == 0.0


def test_demix_combines_assigns_one_note_and_reports_every_candidate() -> None:
    case = base_case()
    view = case.view()
    links = demix(view, traced_cluster(view, {THIEF}))
    timing_text = (
        "1 traced notes unspent in the pool; 2 withdrawals within 6.0 h (anonymity set 2, "
        "share 1/2)"
    )
    thief_link = {
        "mixer": P1,
        "deposit_tx": h("d-thief"),
        "withdrawal_tx": h("w-thief"),
        "withdrawal_address": R_THIEF,
        # noisy-OR: 1 - (1 - 0.85)(1 - 0.1)(1 - 0.15)
        "confidence": 0.8852,
        "heuristics": ["mixer-gas-fingerprint", "mixer-relayer", "mixer-timing"],
        "followed": False,
        "details": {
            "depositor": THIEF,
            "relayer": RELAYER,
            "denomination_raw": str(ETH),
            "received_raw": str(ETH - 4 * ETH // 1000),
            "withdrawal_block": 20,
            "assigned": True,
            "evidence": [
                {"signal": "mixer-gas-fingerprint", "score": 0.85,
                 "explanation": f"recipient {R_THIEF} later paid gas price {THIEF_PRICE} wei, "
                 "the cluster's distinctive price",
                 "txs": [h("w-thief"), h("later-thief"), h("d-thief")]},
                {"signal": "mixer-relayer", "score": 0.1,
                 "explanation": f"relayer {RELAYER}, as 1 linked withdrawals of the cluster; "
                 "1 of 2 pool withdrawals chose the same",
                 "txs": [h("w-thief")]},
                {"signal": "mixer-timing", "score": 0.15, "explanation": timing_text,
                 "txs": [h("w-thief"), h("d-thief")]},
            ],
        },
    }  # fmt: skip
    # The innocent in the same block: timing only, and the thief's single note is taken, so
    # its candidate link is halved (overflow) and never followed.
    innocent_link = {
        "mixer": P1,
        "deposit_tx": h("d-thief"),
        "withdrawal_tx": h("w-innocent"),
        "withdrawal_address": R_INNOCENT,
        "confidence": 0.075,
        "heuristics": ["mixer-timing"],
        "followed": False,
        "details": {
            "depositor": THIEF,
            "relayer": None,
            "denomination_raw": str(ETH),
            "received_raw": str(ETH),
            "withdrawal_block": 21,
            "assigned": False,
            "evidence": [
                {"signal": "mixer-timing", "score": 0.15, "explanation": timing_text,
                 "txs": [h("w-innocent"), h("d-thief")]},
            ],
        },
    }  # fmt: skip
    assert [link.to_json() for link in links] == [thief_link, innocent_link]
    assert [link.withdrawal_tx for link in links_to_follow(links)] == [h("w-thief")]
    assert links_to_follow(links, 0.9) == ()
    finding = links[0].to_finding()
    assert (finding.heuristic, finding.subjects, finding.evidence) == (
        "mixer-demix",
        (R_THIEF,),
        (h("d-thief"), h("w-thief")),
    )


def test_demix_lends_a_linked_withdrawals_confidence_to_its_group() -> None:
    case = base_case()
    # A second thief note withdrawn through the relayer to an address that pays the same
    # collector, at a round price: only the group links it.
    case.deposit("d-thief-2", 11, THIEF, P1, ETH, THIEF_PRICE)
    other = a("r-thief-3")
    second = case.withdraw("w-thief-3", 40, P1, other, RELAYER, RELAYER, 6 * GWEI)
    case.tx("feed", 41, other, COLLECTOR, ETH // 2, ROUND)
    view = case.view()
    links = {link.withdrawal_tx: link for link in demix(view, traced_cluster(view, {THIEF}))}
    group = [e for e in links[second].evidence if e.signal == "mixer-linked-addresses"]
    assert group == [
        Evidence(
            "mixer-linked-addresses",
            # group_strength x the lender's own confidence (gas 0.85, timing 2/3 x 0.3)
            pytest.approx(0.85 * (1 - 0.15 * 0.8)),  # type: ignore[arg-type]
            f"recipients {R_THIEF} and {other} linked through {COLLECTOR}; grouped with "
            f"withdrawal {h('w-thief')} (confidence 0.88)",
            (second, h("w-thief")),
        )
    ]
    assert links[second].confidence >= 0.5
    assert links[second].assigned
    assert links[h("w-innocent")].confidence < 0.5
