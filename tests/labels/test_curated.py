"""The shipped packs: reproducible from the source data, with provenance on every label."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from tests.labels.conftest import DATA, data_path
from tracer.labels import curated
from tracer.labels.importers import ImportResult
from tracer.labels.model import Category
from tracer.labels.store import DEFAULT_PACK_DIR, LabelStore, default_pack_paths

PACKS = {
    "bridges.yaml": 384,
    "dex.yaml": 489,
    "dprk-lazarus.yaml": 481,
    "exchanges.yaml": 1389,
    "mixers.yaml": 220,
    "sanctioned-ofac.yaml": 775,
}


@pytest.fixture(scope="module")
def shipped() -> LabelStore:
    return LabelStore.from_files([], defaults=True)


def test_the_shipped_packs_are_exactly_what_the_script_builds(tmp_path: Path) -> None:
    data_path("ofac-brave-intl")  # skip without the data sets
    packs = curated.build(DATA)
    curated.write(packs, tmp_path)
    assert sorted(p.name for p in default_pack_paths()) == sorted(PACKS)
    for pack in packs:
        rebuilt = (tmp_path / pack.file).read_text()
        assert rebuilt == (DEFAULT_PACK_DIR / pack.file).read_text(), (
            f"{pack.file} is stale: run .venv/bin/python -m tracer.labels.curated"
        )
        assert len(pack.labels) == PACKS[pack.file]


def test_every_label_has_source_and_date(shipped: LabelStore) -> None:
    labels = list(shipped.all_labels())
    assert len(labels) == sum(PACKS.values())
    assert all(label.source and not label.source.startswith("file:") for label in labels)
    assert all(label.date is not None for label in labels)
    assert [f.labels for f in shipped.files] == [PACKS[f.path.name] for f in shipped.files]


def test_the_packs_stay_small() -> None:
    sizes = {path.name: path.stat().st_size for path in default_pack_paths()}
    assert sum(sizes.values()) < 1_500_000, sizes


def test_sanctions_come_only_from_ofac_and_cover_the_2026_additions(shipped: LabelStore) -> None:
    sanctioned = [x for x in shipped.all_labels() if x.category is Category.SANCTIONED]
    assert {x.source.split(" (")[0] for x in sanctioned} == {
        "OFAC SDN advanced XML issued 2025-11-19",
        "OFAC SDN Ethereum addresses as of 2026-06-25, generated from OFAC SDN_ENHANCED.xml",
    }
    rows = csv.DictReader(data_path("ofac-ultrasound", "data_2026-06-25.csv").open())
    assert all(shipped.is_sanctioned(row["address"].lower()) for row in rows)
    # One of the 16 addresses OFAC added after the 2025-11-19 list:
    [added] = shipped.labels("0x95584c303fcd48af5c6b9873015f2ad0ca84eae3")
    assert (added.entity, added.date) == ("YUN, Song Guk", "2026-06-25")


def test_tornado_cash_keeps_its_designation_and_delisting(
    shipped: LabelStore, sdn_import: ImportResult
) -> None:
    router = shipped.role("0xd90e2f925da726b50c4ed8d0fb90ad053324f31b")
    assert router is not None
    assert (router.name, router.category, router.listed, router.delisted) == (
        "Tornado.Cash: Router",
        Category.MIXER,
        "2022-08-08",
        "2025-03-21",
    )
    governance = shipped.labels("0x5efda50f22d34f262c29268506c5fa42cb56a1ce")
    assert {(x.category, x.listed) for x in governance if x.entity == "Tornado Cash"} == {
        (Category.OTHER, "2022-11-08")
    }
    designated = {
        x.address for x in shipped.all_labels() if x.entity == "Tornado Cash" and x.listed
    }
    assert len(designated) == 91
    # Delisted: none of them is in the 2025-11-19 SDN list, and none screens as sanctioned.
    assert not designated & {x.address for x in sdn_import.labels}
    assert not any(shipped.is_sanctioned(address) for address in designated)
    # The same address is a different pool on each chain where Etherscan names it.
    names = {
        (x.chain_id, x.name)
        for x in shipped.labels("0x330bdfade01ee9bf63c209ee33102dd334618e0a")
        if x.entity == "Tornado Cash"
    }
    assert names == {
        (None, "Tornado Cash (OFAC-designated contract)"),
        (42161, "Tornado.Cash: 10 ETH"),
        (43114, "Tornado.Cash: 10 AVAX"),
    }


def test_dprk_pack_attributes_but_leaves_the_expected_off_ramps_to_tracing(
    shipped: LabelStore,
) -> None:
    rows = list(csv.DictReader(data_path("dprk-case-seeds", "dprk_case_seeds.csv").open()))
    deposits = {r["address"].lower() for r in rows if r["role"].startswith("cex_deposit:")}
    assert len(deposits) == 28
    dprk = [x for x in shipped.all_labels() if x.entity == "Lazarus Group (DPRK)"]
    # One conflict between sources, kept and visible: GraphSense (after Etherscan) calls a
    # Ronin-case Huobi deposit address "Ronin bridge exploiter 7".
    [(address, names)] = [(x.address, x.name) for x in dprk if x.address in deposits]
    assert (address, names) == (
        "0x5b5082214d62585d686850ab8d9e3f6b6a5c58ff",
        "Ronin bridge exploiter 7",
    )
    assert Counter(x.category for x in dprk) == {Category.THIEF: 471}
    fbi = data_path("dprk-case-seeds", "fbi_ic3_psa250226_bybit_eth.txt").read_text().split()
    assert all(
        any(x.source.startswith("FBI IC3 PSA I-022625-PSA") for x in shipped.labels(a.lower()))
        for a in fbi
    )
    hop = shipped.labels("0x1542368a03ad1f03d96d51b414f4738961cf4443")
    assert {(x.category, x.confidence, x.date, x.source[:30]) for x in hop} == {
        (Category.THIEF, 0.9, "2025-02-26", "FBI IC3 PSA I-022625-PSA (http"),
        # tayvano's note (dated by the incident) that also cites the FBI list
        (Category.THIEF, 0.9, "2025-02-21", "https://github.com/tayvano/laz"),
    }
    [receiver] = shipped.labels("0x47666fab8bd0ac7003bce3f5c3585383f09486e2")
    assert (receiver.name, receiver.confidence) == (
        "Bybit 2025 theft_receiver: Direct theft (401,346 ETH + 90,375 stETH)",
        0.8,
    )


def test_provenance_constants_agree_with_the_data_sets_source_files() -> None:
    def source(folder: str) -> str:
        return data_path(folder, "SOURCE.txt").read_text()

    assert curated.OFAC_COMMIT in source("ofac-brave-intl")
    assert (
        curated.OFAC_SHA256 in data_path("ofac-brave-intl", "sdn_advanced_checksum.txt").read_text()
    )
    assert curated.ULTRASOUND_2026_COMMIT in source("ofac-ultrasound")
    assert curated.ULTRASOUND_2024_COMMIT in source("ofac-ultrasound")
    assert curated.BRIANLEECT_2022_COMMIT in source("etherscan-labels-brianleect")
    assert curated.BRIANLEECT_2023_COMMIT in source("etherscan-labels-brianleect")
    assert curated.ETH_LABELS_COMMIT in source("eth-labels-dawsbot")
    assert curated.GRAPHSENSE_COMMIT in source("graphsense-tagpacks-evm")
    assert curated.BLOCKCHAINSPIDER[1] in source("tracer-cases-blockchainspider")
