"""Etherscan label-cloud dumps (both layouts) and eth-labels, on the real snapshots.

Expected counts come from the data sets' own documentation (README / SOURCE.txt) and from
reading the files with the standard csv and json modules, not from the importer.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.labels.conftest import data_path
from tracer.errors import InputFileError
from tracer.labels.importers.etherscan import (
    SLUG_CATEGORIES,
    import_eth_labels,
    import_label_cloud,
)
from tracer.labels.model import Category, Label, Network
from tracer.labels.packs import dump_pack, load_yaml


def csv_rows(path: Path) -> int:
    return sum(1 for _ in csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


@pytest.mark.parametrize(
    ("snapshot", "slug", "documented", "category"),
    [
        ("2022-07-29_etherscan_accounts", "exchange", 373, Category.EXCHANGE),
        ("2022-07-29_etherscan_accounts", "heist", 117, Category.THIEF),
        ("2022-07-29_etherscan_accounts", "upbit-hack", 815, Category.THIEF),
        ("2023-06_etherscan_accounts", "bridge", 166, Category.BRIDGE),
        ("2023-06_etherscan_accounts", "dex", 95, Category.DEX),
        ("2023-06_etherscan_accounts", "tornado-cash", 63, Category.MIXER),
    ],
)
def test_accounts_csv_layout(snapshot: str, slug: str, documented: int, category: Category) -> None:
    path = data_path("etherscan-labels-brianleect", snapshot, f"{slug}.csv")
    result = import_label_cloud(path, date="2022-07-29")
    assert result.entries == csv_rows(path) == documented
    assert len(result.labels) == documented and not result.rejected
    assert {(x.category, x.chain_id, x.confidence) for x in result.labels} == {(category, 1, 0.8)}


def test_broken_checksums_in_the_phishing_list_are_rejected_by_line() -> None:
    path = data_path(
        "etherscan-labels-brianleect", "2022-07-29_etherscan_accounts", "phish-hack.csv"
    )
    result = import_label_cloud(path)
    assert result.entries == csv_rows(path) == 5773
    assert len(result.labels) == 5771
    assert [(r.where, r.value) for r in result.rejected] == [
        ("phish-hack.csv:4698", "0xA0DF9CA52e8aB5DDE22C55D9B3C2CDF814B9B773"),
        ("phish-hack.csv:5311", "0xf299f6B031Cc4dd1BfcB86A5e5590f99336a29c6"),
    ]
    assert result.rejected[0].reason == (
        "invalid address 0xA0DF9CA52e8aB5DDE22C55D9B3C2CDF814B9B773: mixed case but the EIP-55 "
        "checksum does not match (expected 0xA0DF9CA52e8aB5DDe22C55D9B3C2CDF814B9B773); check "
        "for a typo"
    )


def test_combined_json_layout() -> None:
    path = data_path(
        "etherscan-labels-brianleect", "2023-06_combined", "etherscan_combinedAllLabels.json"
    )
    data = json.loads(path.read_text())
    result = import_label_cloud(path, date="2023-06-18")
    assert result.entries == len(data) == 29945  # the data set's README: 29,945 ETH labels
    # An address whose slugs map to two categories gets a label for each; one address is
    # listed twice (checksummed and lowercase) with the same name.
    two_categories = 0
    for entry in data.values():
        mapped = {SLUG_CATEGORIES[slug] for slug in entry["labels"] if slug in SLUG_CATEGORIES}
        two_categories += max(len(mapped) - 1, 0)
    assert len(result.labels) == len(data) + two_categories - result.duplicates == 29985
    assert result.duplicates == 1
    assert Counter(x.category for x in result.labels)[Category.MIXER] == 86
    assert result.unmapped.most_common(1) == [("sushiswap", 3579)]
    pool = next(x for x in result.labels if x.name == "Tornado.Cash: 0.1 ETH")
    assert pool == Label(
        address="0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc",
        name="Tornado.Cash: 0.1 ETH",
        category=Category.MIXER,
        source="Etherscan label cloud (etherscan_combinedAllLabels.json)",
        chain_id=1,
        confidence=0.8,
        date="2023-06-18",
        network=Network.EVM,
    )


def test_combined_json_of_other_explorers_knows_their_chain() -> None:
    folder = data_path("etherscan-labels-brianleect", "2023-06_combined")
    chains = {
        path.name.split("_")[0]: {x.chain_id for x in import_label_cloud(path).labels}
        for path in sorted(folder.glob("*.json"))
    }
    assert chains == {
        "arbiscan": {42161},
        "avalanche": {43114},
        "bscscan": {56},
        "etherscan": {1},
        "ftmscan": {250},
        "optimism": {10},
        "polygonscan": {137},
    }
    bsc = import_label_cloud(folder / "bscscan_combinedAllLabels.json")
    assert bsc.entries == len(json.loads((folder / "bscscan_combinedAllLabels.json").read_text()))
    assert sorted({r.value for r in bsc.rejected}) == [
        "",
        "No matching records found",
        "There are no matching entries",
    ]


def test_eth_labels_counts_per_explorer_match_the_source() -> None:
    root = data_path("eth-labels-dawsbot")
    documented = {  # SOURCE.txt
        "etherscan": 39679,
        "basescan": 5982,
        "arbiscan": 3242,
        "bscscan": 3163,
        "optimism": 2172,
        "celo": 634,
        "gnosis": 339,
    }
    for explorer, rows in documented.items():
        counted = sum(
            len(json.loads(p.read_text())) for p in (root / explorer).glob("*/accounts.json")
        )
        result = import_eth_labels(root / explorer)
        assert result.entries == counted == rows, explorer
        assert len(result.labels) + len(result.rejected) == rows
    whole = import_eth_labels(root)
    assert whole.entries == 55211
    assert [(r.where, r.value) for r in whole.rejected] == [
        ("basescan/contract-deployer/accounts.json[273]", "genesis"),
        ("bscscan/bnb-smart-chain/accounts.json[0]", ""),
        ("bscscan/venus-protocol/accounts.json[0]", ""),
        ("optimism/contract-deployer/accounts.json[12]", "genesis"),
    ]


def test_round_trip_through_a_pack(tmp_path: Path) -> None:
    labels = import_eth_labels(data_path("eth-labels-dawsbot", "gnosis")).labels
    path = tmp_path / "gnosis.yaml"
    path.write_text(dump_pack(labels, info={"title": "gnosis"}))
    assert load_yaml(path) == labels
    assert {x.chain_id for x in labels} == {100}


def test_bad_dumps_are_input_errors(tmp_path: Path) -> None:
    bad_json = tmp_path / "etherscan_combinedAllLabels.json"
    bad_json.write_text('{"0xabc": {"name": "x",\n "labels": [}')
    with pytest.raises(InputFileError, match="malformed JSON") as caught:
        import_label_cloud(bad_json)
    assert caught.value.line == 2
    unknown = tmp_path / "mystery_combinedAllLabels.json"
    unknown.write_text("{}")
    with pytest.raises(InputFileError, match="cannot tell the chain of explorer 'mystery'"):
        import_label_cloud(unknown)
    header = tmp_path / "exchange.csv"
    header.write_text("address,name\n0x00,x\n")
    with pytest.raises(InputFileError, match="expected the header") as caught:
        import_label_cloud(header)
    assert caught.value.line == 1
    shape = tmp_path / "data" / "etherscan" / "dex" / "accounts.json"
    shape.parent.mkdir(parents=True)
    shape.write_text('[{"address": 5}, "x"]')
    result = import_eth_labels(tmp_path / "data")
    assert [r.reason for r in result.rejected] == ["entry is not {address, nameTag}"] * 2
