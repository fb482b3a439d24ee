"""The label store: every claim kept, conflicts shown, precedence documented and applied."""

from __future__ import annotations

import polars as pl

from tracer.labels.model import Category, Label, Network
from tracer.labels.store import CATEGORY_PRECEDENCE, ROLE_PRECEDENCE, LabelStore

GARANTEX = "0x6f1ca141a28907f78ebaa64fb83a9088b02a8352"
POOL = "0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc"
THIEF = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
BTC = "123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX"


def label(address: str, category: Category, source: str, **extra: object) -> Label:
    return Label(address, f"{category.value} by {source}", category, source, **extra)  # type: ignore[arg-type]


def store() -> LabelStore:
    return LabelStore(
        [
            label(GARANTEX, Category.EXCHANGE, "etherscan", confidence=0.8),
            label(GARANTEX, Category.SANCTIONED, "ofac", entity="Garantex"),
            label(POOL, Category.DEX, "bad list", confidence=0.2),
            label(POOL, Category.MIXER, "etherscan", confidence=0.8, delisted="2025-03-21"),
            label(POOL, Category.MIXER, "etherscan", confidence=0.8, delisted="2025-03-21"),
            label(THIEF, Category.THIEF, "fbi", confidence=0.9),
            label(THIEF, Category.SANCTIONED, "ofac"),
            label(THIEF, Category.SANCTIONED, "old list", delisted="2024-01-01"),
            label(BTC, Category.SANCTIONED, "ofac", network=Network.BITCOIN),
            label("0x" + "11" * 20, Category.DEX, "bscscan", chain_id=56),
        ]
    )


def test_precedence_orders_are_documented_constants() -> None:
    assert CATEGORY_PRECEDENCE[0] is Category.SANCTIONED
    assert CATEGORY_PRECEDENCE[1:] == ROLE_PRECEDENCE
    assert set(CATEGORY_PRECEDENCE) == set(Category)


def test_every_claim_is_kept_once_with_its_source() -> None:
    labels = store()
    assert [x.source for x in labels.labels(POOL)] == ["bad list", "etherscan"]
    assert [x.source for x in labels.labels(THIEF)] == ["fbi", "ofac", "old list"]
    assert len(labels) == 5


def test_sanctions_come_first_for_display_but_not_for_tracing() -> None:
    labels = store()
    primary, role = labels.primary(GARANTEX), labels.role(GARANTEX)
    assert primary is not None and primary.category is Category.SANCTIONED
    # A sanctioned exchange still ends a trace like any exchange...
    assert role is not None and role.category is Category.EXCHANGE
    assert labels.is_service(GARANTEX)
    # ...and a sanctioned thief's wallet is still followed.
    assert not labels.is_service(THIEF)
    mixer = labels.role(POOL)
    assert mixer is not None and mixer.category is Category.MIXER
    assert labels.is_service(POOL)


def test_conflicts_are_reported_not_resolved_silently() -> None:
    labels = store()
    assert labels.conflicts(POOL) == [Category.MIXER, Category.DEX]
    assert labels.conflicts(GARANTEX) == []  # sanctioned is a status, not a rival role
    assert labels.conflicts(THIEF) == []


def test_sanction_status_ignores_delisted_entries() -> None:
    labels = store()
    assert labels.is_sanctioned(THIEF) and labels.is_sanctioned(GARANTEX)
    assert not labels.is_sanctioned(POOL)
    assert [x.source for x in labels.sanctions(THIEF)] == ["ofac"]
    assert [x.source for x in labels.sanctions(THIEF, include_delisted=True)] == [
        "ofac",
        "old list",
    ]
    assert [x.source for x in labels.sanctions(POOL, include_delisted=True)] == ["etherscan"]
    assert labels.sanctioned_addresses() == {GARANTEX, THIEF}
    assert labels.sanctioned_addresses(None) == {GARANTEX, THIEF, BTC}


def test_chain_scoping_keeps_evm_wide_labels() -> None:
    labels = store()
    bsc_only = "0x" + "11" * 20
    assert labels.labels(bsc_only, chain_id=1) == []
    assert len(labels.labels(bsc_only, chain_id=56)) == 1
    ethereum = labels.for_chain(1)
    assert bsc_only not in ethereum and BTC not in ethereum
    assert ethereum.is_sanctioned(THIEF)


def test_lookup_validates_any_network() -> None:
    labels = store()
    network, address, found = labels.lookup(BTC)
    assert (network, address, [x.source for x in found]) == (Network.BITCOIN, BTC, ["ofac"])
    network, address, found = labels.lookup(THIEF.upper().replace("0X", "0x"))
    assert (network, address, len(found)) == (Network.EVM, THIEF, 3)


def test_annotate_joins_labels_onto_a_table() -> None:
    table = pl.DataFrame({"to_address": [GARANTEX, "0x" + "22" * 20, POOL]})
    annotated = store().annotate(table, "to_address", prefix="to_")
    assert annotated.to_dicts() == [
        {
            "to_address": GARANTEX,
            "to_category": "sanctioned",
            "to_role": "exchange",
            "to_entity": "Garantex",
            "to_name": "sanctioned by ofac",
            "to_sanctioned": True,
            "to_label_count": 2,
        },
        {
            "to_address": "0x" + "22" * 20,
            "to_category": None,
            "to_role": None,
            "to_entity": None,
            "to_name": None,
            "to_sanctioned": None,
            "to_label_count": None,
        },
        {
            "to_address": POOL,
            "to_category": "mixer",
            "to_role": "mixer",
            "to_entity": "mixer by etherscan",
            "to_name": "mixer by etherscan",
            "to_sanctioned": False,
            "to_label_count": 2,
        },
    ]


def test_stats_count_labels_by_category_and_network() -> None:
    stats = store().stats()
    assert stats == {
        "addresses": 5,
        "labels": 9,
        "by_category": {"sanctioned": 4, "mixer": 1, "exchange": 1, "dex": 2, "thief": 1},
        "by_network": {"evm": 8, "bitcoin": 1},
        "sanctioned_addresses": 3,
        "addresses_with_conflicts": 1,
        "files": [],
    }
