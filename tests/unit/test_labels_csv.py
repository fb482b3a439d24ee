"""CSV label files: provenance kept, bad input named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.errors import InputFileError
from tracer.labels.model import Category
from tracer.labels.packs import load_csv
from tracer.labels.store import LabelStore
from tracer.types import Address

HOT = Address("0x28c6c06298d514db089934071355e5743bf21d60")
POOL = "0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_minimal_csv_records_the_file_as_source(tmp_path: Path) -> None:
    path = write(tmp_path, f"address,name,category,note\n{HOT},Binance 14,exchange,hot\n")
    [label] = load_csv(path)
    assert label.address == HOT
    assert (label.name, label.category, label.source) == (
        "Binance 14",
        Category.EXCHANGE,
        "file:labels.csv",
    )


def test_optional_provenance_columns_are_used(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "address,name,category,source,date,confidence\n"
        f"{POOL},Tornado Cash 0.1 ETH,mixer,OFAC SDN,2022-08-08,0.9\n",
    )
    [label] = load_csv(path)
    assert label.address == POOL.lower()
    assert (label.source, label.date, label.confidence) == ("OFAC SDN", "2022-08-08", 0.9)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("address,name\n", 1, "missing column"),
        (f"address,name,category\n{HOT},A,exchange\n0x12,B,exchange\n", 3, "40 hex digits"),
        (f"address,name,category\n{POOL[:-1]}C,B,mixer\n", 2, "checksum"),
        (f"address,name,category\n{HOT},A,exchnge\n", 2, "did you mean 'exchange'"),
        (f"address,name,category\n{HOT},,exchange\n", 2, "empty name"),
        (f"address,name,category\n{HOT},A,exchange,extra\n", 2, "more fields"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(InputFileError, match=message) as caught:
        load_csv(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="label file not found"):
        load_csv(tmp_path / "absent.csv")


def test_conflicting_labels_are_all_kept_and_precedence_picks_the_category(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "address,name,category,source\n"
        f"{POOL},Some DEX,dex,list A\n"
        f"{POOL},Tornado Cash,mixer,list B\n"
        f"{POOL},Tornado Cash,mixer,list B\n",
    )
    store = LabelStore.from_files([path])
    assert [label.source for label in store.labels(Address(POOL.lower()))] == ["list A", "list B"]
    primary = store.primary(Address(POOL.lower()))
    assert primary is not None and primary.category is Category.MIXER
    assert store.is_service(Address(POOL.lower()))
    assert not store.is_service(HOT)
