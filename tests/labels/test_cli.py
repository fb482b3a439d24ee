"""`tracer screen` and `tracer labels`: output, exit codes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.labels.conftest import data_path
from tracer.labels.model import Category, Network
from tracer.labels.packs import load_yaml

LAZARUS = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"
POOL = "0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc"
CLEAN = "0x000000000000000000000000000000000000dEaD"
README = Path(__file__).resolve().parents[2] / "README.md"


def tracer_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert text in lines[0]


def test_screen_exit_codes_follow_hits() -> None:
    clean = tracer_cli("screen", CLEAN)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.splitlines() == [
        "ok   0x000000000000000000000000000000000000dead (evm)",
        "    no labels",
        "0 of 1 addresses hit (sanctioned)",
    ]
    hit = tracer_cli("screen", CLEAN, LAZARUS)
    assert hit.returncode == 1, hit.stderr
    assert "HIT  0x098b716b8aaf21512996dc57eb0615e2383e2f96 (evm)" in hit.stdout
    assert (
        "    sanctioned       Lazarus Group - SDN List; programs DPRK3; Executive Order 13722"
        " (North Korea); FixedRef 27307 - listed 2019-09-13 [evm; confidence 1; 2025-11-19]"
    ) in hit.stdout
    assert hit.stdout.splitlines()[-1] == "1 of 2 addresses hit (sanctioned)"


def test_a_delisted_mixer_is_shown_but_is_no_sanctions_hit() -> None:
    result = tracer_cli("screen", POOL)
    assert result.returncode == 0, result.stderr
    assert "listed 2022-08-08 - delisted 2025-03-21" in result.stdout
    assert "traced as: mixer" in result.stdout
    assert tracer_cli("screen", POOL, "--fail-on", "mixer").returncode == 1


def test_screen_reads_files_and_non_evm_addresses_as_json(tmp_path: Path) -> None:
    listing = tmp_path / "addresses.txt"
    listing.write_text(f"# to check\n{CLEAN}\n\nTA3941uFAvmVibSkQ6fMJXxmaSNovX86mz\n")
    result = tracer_cli("screen", str(listing), "--json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert (document["screened"], document["hits"], document["fail_on"]) == (2, 1, ["sanctioned"])
    tron = document["results"][1]
    assert (tron["network"], tron["sanctioned"], tron["labels"][0]["entity"]) == (
        "tron",
        True,
        "CHEIL CREDIT BANK",
    )
    assert tron["labels"][0]["asset"] == "USDT"


def test_screen_with_only_my_labels(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"labels:\n- {{address: '{CLEAN}', name: Mine, category: sanctioned}}\n")
    result = tracer_cli("screen", CLEAN, LAZARUS, "--no-default-labels", "--labels", str(mine))
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "1 of 2 addresses hit (sanctioned)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["screen", LAZARUS[:-1] + "7"], "EIP-55 checksum does not match"),
        (["screen", "1Mn386ue8o3mW9866octLNP8HFqcYsphJCV"], "not a valid address"),
        (["screen", CLEAN, "--fail-on", "mixr"], "unknown category 'mixr'; did you mean 'mixer'?"),
        (["screen", "nope/addresses.txt"], "nope/addresses.txt: address file not found"),
        (["labels", "lookup", CLEAN, "--labels", "absent.csv"], "label file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args: list[str], message: str) -> None:
    one_line_error(tracer_cli(*args), 2, message)


def test_a_bad_address_in_a_file_names_file_and_line(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text(f"address,note\n{CLEAN},ok\n{LAZARUS[:-1]}7,typo\n")
    one_line_error(tracer_cli("screen", str(listing)), 2, f"{listing}:3: invalid address")


def test_labels_lookup_shows_conflicts_and_sources() -> None:
    result = tracer_cli("labels", "lookup", "0x5b5082214D62585D686850Ab8D9E3f6b6a5c58FF")
    assert result.returncode == 0, result.stderr
    assert "Ronin bridge exploiter 7" in result.stdout
    assert "source: GraphSense TagPack https://github.com/graphsense/graphsense-tagpacks" in (
        result.stdout
    )
    assert result.stdout.rstrip().endswith("traced as: thief")


def test_labels_stats_counts_the_shipped_packs() -> None:
    result = tracer_cli("labels", "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert (stats["labels"], stats["sanctioned_addresses"]) == (3738, 760)
    assert [Path(f["path"]).name for f in stats["files"]] == [
        "bridges.yaml",
        "dex.yaml",
        "dprk-lazarus.yaml",
        "exchanges.yaml",
        "mixers.yaml",
        "sanctioned-ofac.yaml",
    ]


def test_labels_import_writes_a_pack_that_loads(tmp_path: Path) -> None:
    source = data_path(
        "etherscan-labels-brianleect", "2022-07-29_etherscan_accounts", "phish-hack.csv"
    )
    out = tmp_path / "phish.yaml"
    result = tracer_cli(
        "labels", "import", "etherscan", str(source), "--out", str(out),
        "--source", "brianleect/etherscan-labels@80f8d4c data/phish-hack.csv",
        "--date", "2022-07-29",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "phish-hack.csv: 5773 entries -> 5771 labels, 2 rejected, 0 duplicates",
        f"wrote {out}",
    ]
    assert result.stderr.splitlines()[0].startswith(
        "  rejected phish-hack.csv:4698: invalid address 0xA0DF9CA52e8aB5DDE22C55D9B3C2CDF814B9B773"
    )
    lookup = tracer_cli(
        "labels", "lookup", "0x9f26ae5cd245bfeeb5926d61497550f79d9c6c1c",
        "--no-default-labels", "--labels", str(out), "--json",
    )  # fmt: skip
    [entry] = json.loads(lookup.stdout)
    assert entry["labels"][0]["source"] == "brianleect/etherscan-labels@80f8d4c data/phish-hack.csv"
    strict = tracer_cli(
        "labels", "import", "etherscan", str(source), "--out", str(tmp_path / "s.yaml"), "--strict"
    )
    assert strict.returncode == 2
    assert not (tmp_path / "s.yaml").exists()


def test_the_commands_are_documented_in_the_readme() -> None:
    readme = README.read_text()
    for text in (
        "tracer screen",
        "tracer labels import",
        "tracer labels lookup",
        "tracer labels stats",
        "--no-default-labels",
        "--fail-on",
        "sanctions_exposure",
    ):
        assert text in readme, text


def test_the_readme_pack_example_loads(tmp_path: Path) -> None:
    readme = README.read_text()
    start = readme.index("title: My case labels")
    example = readme[start : readme.index("```", start)]
    pack = tmp_path / "example.yaml"
    pack.write_text(example)
    first, second = load_yaml(pack)
    assert (first.category, first.entity, first.confidence, first.date) == (
        Category.THIEF,
        "Lazarus Group",
        0.9,
        "2025-02-26",
    )
    assert (second.network, second.category) == (Network.BITCOIN, Category.EXCHANGE)


def test_import_reports_unknown_categories(tmp_path: Path) -> None:
    source = data_path("eth-labels-dawsbot", "gnosis")
    out = tmp_path / "gnosis.yaml"
    result = tracer_cli(
        "labels", "import", "eth-labels", str(source), "--out", str(out), "--date", "2024-06-17"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "gnosis: 339 entries -> 339 labels, 0 rejected, 0 duplicates"
    )
    assert result.stderr.splitlines() == [
        "  unknown categories, imported as 'other': contract-deployer (62), hop-protocol (24), "
        "gnosis (11), aura-finance (10), cow-protocol (6), mev-protection (5), "
        "jarvis-network (3), aave (2), bitfinex (2), defi (2)"
    ]
    bad = tracer_cli(
        "labels", "import", "eth-labels", str(source), "--out", str(out), "--category", "bridg"
    )
    one_line_error(bad, 2, "unknown category 'bridg'; did you mean 'bridge'?")
