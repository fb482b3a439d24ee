"""YAML label packs and CSV files: inheritance, round trips, and bad input by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.errors import InputFileError
from tracer.labels.model import Category, Label, Network
from tracer.labels.packs import dump_pack, load_csv, load_file, load_yaml

LAZARUS = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
POOL = "0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc"


def write(tmp_path: Path, text: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_header_fields_are_inherited_and_entries_override_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "title: Test pack\n"
        "category: sanctioned\n"
        "source: OFAC SDN 2025-11-19\n"
        "date: 2025-11-19\n"
        "confidence: 1.0\n"
        "labels:\n"
        # Unquoted 0x address and date: read as written, never re-typed by YAML 1.1 rules.
        f"- address: {LAZARUS}\n"
        "  entity: Lazarus Group\n"
        "  asset: ETH\n"
        "  listed: 2019-09-13\n"
        "  designation: SDN List; programs DPRK3\n"
        f"- {{address: '{POOL}', entity: Tornado Cash, name: 'Tornado.Cash: 0.1 ETH',"
        " category: mixer, chain: ethereum, delisted: 2025-03-21, confidence: 0.9}\n"
        "- {address: 123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX, name: Hydra Market, chain: bitcoin}\n",
    )
    first, second, third = load_yaml(path)
    assert first == Label(
        address=LAZARUS,
        name="Lazarus Group",
        category=Category.SANCTIONED,
        source="OFAC SDN 2025-11-19",
        chain_id=None,
        confidence=1.0,
        date="2025-11-19",
        network=Network.EVM,
        entity="Lazarus Group",
        asset="ETH",
        designation="SDN List; programs DPRK3",
        listed="2019-09-13",
    )
    assert first.is_active_sanction
    assert second == Label(
        address=POOL.lower(),
        name="Tornado.Cash: 0.1 ETH",
        category=Category.MIXER,
        source="OFAC SDN 2025-11-19",
        chain_id=1,
        confidence=0.9,
        date="2025-11-19",
        entity="Tornado Cash",
        delisted="2025-03-21",
    )
    assert (third.network, third.address, third.entity) == (
        Network.BITCOIN,
        "123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX",
        None,
    )


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    labels = [
        Label(
            LAZARUS,
            "Lazarus Group",
            Category.SANCTIONED,
            "OFAC",
            None,
            1.0,
            "2025-11-19",
            entity="Lazarus Group",
            asset="ETH",
            listed="2019-09-13",
            designation='SDN; "q"',
        ),
        Label(
            POOL.lower(),
            "Tornado.Cash: 0.1 ETH",
            Category.MIXER,
            "Etherscan",
            1,
            0.8,
            "2024-06-17",
            entity="Tornado Cash",
            delisted="2025-03-21",
        ),
        Label("0x" + "ab" * 20, "Fantom thing", Category.DEX, "Etherscan", 250, 0.8, None),
        Label(
            "TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM",
            "Garantex",
            Category.SANCTIONED,
            "OFAC",
            None,
            1.0,
            "2025-11-19",
            Network.TRON,
            entity="Garantex",
            asset="USDT",
        ),
    ]
    text = dump_pack(labels, info={"title": "Round trip: «quotes», colons"})
    assert text.startswith('title: "Round trip: «quotes», colons"\n')
    assert load_yaml(write(tmp_path, text)) == labels


def test_load_file_chooses_the_format_by_suffix(tmp_path: Path) -> None:
    csv = write(tmp_path, f"address,name,category\n{LAZARUS},Lazarus,thief\n", "l.csv")
    yml = write(
        tmp_path, f"labels:\n- {{address: '{LAZARUS}', name: L, category: thief}}\n", "l.yml"
    )
    assert load_file(csv)[0].category is Category.THIEF
    assert load_file(yml)[0].name == "L"
    with pytest.raises(InputFileError, match=r"unknown label file type '\.txt'"):
        load_file(write(tmp_path, "x", "labels.txt"))
    with pytest.raises(InputFileError, match="label file not found"):
        load_file(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("labels: [\n", 2, "malformed YAML"),
        ("title: a\ntitle: b\nlabels: []\n", 2, "duplicate key 'title'"),
        ("titel: a\nlabels: []\n", 1, "unknown pack field 'titel'; did you mean 'title'?"),
        ("title: a\n", 1, "has no 'labels' list"),
        ("labels: {}\n", 1, "labels must be a list"),
        ("labels:\n- just text\n", 2, "label must be a mapping"),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: exchnge}}\n",
            2,
            "unknown category 'exchnge'; did you mean 'exchange'?",
        ),
        (
            f"labels:\n- {{address: '{POOL[:-1]}C', name: A, category: mixer}}\n",
            2,
            "EIP-55 checksum does not match",
        ),
        (
            f"category: dex\nlabels:\n- {{name: A}}\n- {{address: '{LAZARUS}'}}\n",
            3,
            "missing address",
        ),
        (f"labels:\n- {{address: '{LAZARUS}', category: dex}}\n", 2, "an entity or a name"),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: dex, adress: x}}\n",
            2,
            "unknown label field 'adress'; did you mean 'address'?",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: dex, chain: etherium}}\n",
            2,
            "unknown chain 'etherium'; did you mean 'ethereum'?",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: dex, chain: bitcoin}}\n",
            2,
            "an EVM address, not bitcoin",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: dex, date: 19/11/2025}}\n",
            2,
            "not an ISO date",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: dex, confidence: 1.5}}\n",
            2,
            "outside 0..1",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: dex, confidence: nan}}\n",
            2,
            "outside 0..1",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: [A, B], category: dex}}\n",
            2,
            "name must be a single value",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: \"A\\nB\", category: dex}}\n",
            2,
            "control characters",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: dex, chain: bsc, "
            "chain_id: 1}\n",
            2,
            "chain bsc has chain id 56, not 1",
        ),
        (
            f"labels:\n- {{address: '{LAZARUS}', name: A, category: sanctioned, "
            "listed: 2022-01-02, delisted: 2021-01-01}\n",
            2,
            "before listed",
        ),
        ("", None, "empty label pack"),
    ],
)
def test_bad_packs_name_file_and_line(
    tmp_path: Path, body: str, line: int | None, message: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(InputFileError, match=message) as caught:
        load_yaml(path)
    assert caught.value.line == line
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(caught.value).startswith(where)


def test_csv_accepts_the_pack_fields_and_non_evm_addresses(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "address,name,category,entity,chain,source,date,confidence,asset,extra\n"
        f"{LAZARUS},Ronin exploiter,thief,Lazarus Group,ethereum,FBI,2022-04-14,0.9,,x\n"
        "TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM,Garantex,sanctioned,,tron,OFAC,2025-11-19,,USDT,\n",
        "mine.csv",
    )
    first, second = load_csv(path)
    assert (first.chain_id, first.entity, first.confidence) == (1, "Lazarus Group", 0.9)
    assert (second.network, second.asset, second.source) == (Network.TRON, "USDT", "OFAC")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (f"address,name,category,date\n{LAZARUS},A,thief,yesterday\n", 2, "not an ISO date"),
        (f"address,name,category,chain\n{LAZARUS},A,thief,tron\n", 2, "an EVM address, not tron"),
        (
            "address,name,category\n123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KY,A,thief\n",
            2,
            "not a valid address of any supported network",
        ),
        (f'address,name,category\n{LAZARUS},"A\x00B",thief\n', 2, "control characters"),
    ],
)
def test_bad_csv_rows_name_file_and_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = write(tmp_path, body, "bad.csv")
    with pytest.raises(InputFileError, match=message) as caught:
        load_csv(path)
    assert caught.value.line == line
