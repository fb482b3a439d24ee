"""Offline checks of the TRacer paper cases: the imported file is valid and complete, the
importer rejects malformed input, and the recall scoring is right on TRacer's own recorded
result for the KuCoin case (its 102 kept nodes reach all three reported addresses)."""

from __future__ import annotations

import csv
import importlib.util
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from tests.live.paper_cases import (
    CASES_FILE,
    CaseScore,
    format_scores,
    load_cases,
    score_addresses,
    score_case,
    summarise,
)

ROOT = Path(__file__).resolve().parents[2]
NODES = ROOT / "fixtures" / "cases" / "tracer_paper" / "kucoin_ttr_nodes.csv"
KUCOIN_SEED = "0xeb31973e0febf3e3d7058234a5ebbae1ab4b8c23"
KUCOIN_TARGETS = (
    "0x00600423c03ec4b46f9b8a28c66d42bdd1b19c36",
    "0x905b63fff465b9ffbf41dea908ceb12478ec7601",
    "0xf519e276958c3ef2dffd9b6b2d87d26859526505",
)


def importer() -> ModuleType:
    path = ROOT / "fixtures" / "cases" / "import_tracer_cases.py"
    spec = importlib.util.spec_from_file_location("import_tracer_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_imported_cases_are_complete_and_well_formed() -> None:
    cases = load_cases()
    assert len(cases) == 20
    assert Counter(case.chain for case in cases) == {"ethereum": 12, "bsc": 6, "polygon": 2}
    assert Counter(case.id.partition("@")[0] for case in cases) == {
        "hack": 13, "rug_pull": 5, "scam": 2,
    }  # fmt: skip
    address = re.compile(r"^0x[0-9a-f]{40}$")
    for case in cases:
        assert case.seeds and case.targets and case.block_at > 0, case.id
        assert all(address.match(a) for a in (*case.seeds, *case.targets)), case.id
        assert len(set(case.targets)) == len(case.targets), case.id
    kucoin = next(case for case in cases if case.id == "hack@kucoin")
    assert (kucoin.chain, kucoin.block_at, kucoin.seeds) == ("ethereum", 10933499, (KUCOIN_SEED,))
    assert sorted(kucoin.targets) == list(KUCOIN_TARGETS)
    assert sum(len(case.targets) for case in cases) == 872  # Upbit alone lists 813


def test_the_importer_reproduces_the_file_and_rejects_malformed_cases() -> None:
    module = importer()
    good = {
        "name": "X Hack", "net": "eth", "blockAt": 5, "reporter": "R", "url": "https://x",
        "source": [{"address": "0x" + "Ab" * 20, "label": "Hacker"}],
        "target": [{"address": "0x" + "cd" * 20, "label": ""}],
    }  # fmt: skip
    parsed = module.parse_case("hack@x", good)
    assert parsed["seeds"] == [{"address": "0x" + "ab" * 20, "label": "Hacker"}]
    assert parsed["chain"] == "ethereum"
    broken = [
        ("hack@x", {**good, "net": "tron"}, "unknown net"),
        ("hack@x", {**good, "blockAt": "5"}, "not a block number"),
        ("hack@x", {**good, "target": []}, "non-empty list"),
        ("hack@x", {**good, "source": [{"address": "0x12", "label": ""}]}, "not a 0x address"),
        ("hack@x", {**good, "url": "javascript:alert(1)"}, "not a web address"),
        ("hack@x", {k: v for k, v in good.items() if k != "reporter"}, "exactly the fields"),
        ("Hack X", good, "is not kind@name"),
    ]
    for case_id, body, message in broken:
        with pytest.raises(module.CaseFormatError, match=message):
            module.parse_case(case_id, body)
    with pytest.raises(module.CaseFormatError, match="out of range"):
        module.parse_nodes("node,importance\n0x" + "ab" * 20 + ",-1\n")
    # The committed node file is what the importer's parser accepts, unchanged.
    assert module.parse_nodes(NODES.read_text()) == [
        (row["node"], float(row["importance"])) for row in csv.DictReader(NODES.open())
    ]
    assert module.OUT_FILE == CASES_FILE


def test_recall_of_tracers_recorded_kucoin_result() -> None:
    kucoin = next(case for case in load_cases() if case.id == "hack@kucoin")
    nodes = [row["node"] for row in csv.DictReader(NODES.open())]
    assert len(nodes) == 102
    score = score_addresses(kucoin, nodes)
    assert score == CaseScore("hack@kucoin", 3, KUCOIN_TARGETS, 102)
    assert score.recall == 1.0
    # A smaller budget, TRacer's 20 most relevant nodes, reaches two of the three (ranks 6
    # and 12; the third is 60th).
    ranked = sorted(csv.DictReader(NODES.open()), key=lambda r: -float(r["importance"]))
    top = score_addresses(kucoin, [row["node"] for row in ranked[:20]])
    assert (top.reached, top.nodes) == (KUCOIN_TARGETS[1:], 20)
    assert top.recall == 2 / 3


def test_scoring_a_crawled_table_and_the_total() -> None:
    kucoin, bitmart = (
        next(case for case in load_cases() if case.id == name)
        for name in ("hack@kucoin", "hack@bitmart")
    )
    upper = "0x" + KUCOIN_TARGETS[1][2:].upper()  # a table may hold mixed-case text
    table = pl.DataFrame(
        {
            "from_address": [KUCOIN_SEED, KUCOIN_SEED, "0x" + "11" * 20],
            "to_address": ["0x" + "11" * 20, upper, None],
        }
    )
    first = score_case(kucoin, table)
    assert first == CaseScore("hack@kucoin", 3, (KUCOIN_TARGETS[1],), 3)
    second = score_case(bitmart, table.head(0))
    assert (second.recall, second.nodes) == (0.0, 0)
    total = summarise([first, second])
    assert (total.cases, total.targets, total.reached) == (2, 4, 1)
    assert total.macro_recall == pytest.approx((1 / 3 + 0) / 2)
    assert total.micro_recall == 0.25
    assert total.mean_nodes == 1.5
    lines = format_scores([first, second]).splitlines()
    assert lines[1].split() == ["hack@kucoin", "33.33%", "1/3", "3"]
    assert lines[2].split() == ["hack@bitmart", "0.00%", "0/1", "0"]
    assert lines[3].startswith("total") and "16.67%" in lines[3] and "25.00%" in lines[3]
    with pytest.raises(ValueError, match="no case"):
        summarise([])
