"""GraphSense TagPacks: the real packs, counted independently, and bad packs by line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.labels.conftest import data_path
from tracer.errors import InputFileError
from tracer.labels.importers.graphsense import import_tagpack
from tracer.labels.model import Category, Label, Network
from tracer.labels.packs import dump_pack, load_yaml


def packs() -> list[Path]:
    return sorted(data_path("graphsense-tagpacks-evm", "packs").glob("**/*.yaml"))


def test_every_tag_of_every_pack_is_accounted_for(actors: dict[str, str]) -> None:
    totals: Counter[str] = Counter()
    for pack in packs():
        # Independent count: PyYAML's own loader, not tracer's node reader.
        tags = yaml.load(pack.read_text(), Loader=yaml.CSafeLoader)["tags"]
        result = import_tagpack(pack, actors=actors)
        assert result.entries == len(tags), pack.name
        assert len(result.labels) + len(result.rejected) + result.duplicates == len(tags)
        totals["tags"] += len(tags)
        totals["labels"] += len(result.labels)
        totals["rejected"] += len(result.rejected)
        totals["duplicates"] += result.duplicates
    assert totals == {"tags": 24249, "labels": 24110, "rejected": 135, "duplicates": 4}


def test_header_fields_map_to_categories_and_confidence(actors: dict[str, str]) -> None:
    folder = data_path("graphsense-tagpacks-evm", "packs")
    lazarus = import_tagpack(folder / "lazarus.yaml", actors=actors, source="gs")
    assert len(lazarus.labels) == 21
    assert lazarus.labels[-1] == Label(
        address="0x098b716b8aaf21512996dc57eb0615e2383e2f96",
        name="Lazarus group",
        category=Category.SANCTIONED,  # abuse: sanction
        source=(
            "GraphSense TagPack gs; OFAC Tagpack; https://www.treasury.gov/resource-center/"
            "sanctions/OFAC-Enforcement/Pages/20200302.aspx"
        ),
        chain_id=1,
        confidence=0.6,  # authority_data
        date="2022-04-15",
        network=Network.EVM,
        entity="Lazarus Group",  # actor "lazarusgroup" from the ActorPack
        asset="ETH",
    )
    assert {x.network for x in lazarus.labels[:-1]} == {Network.BITCOIN}
    blacklist = import_tagpack(folder / "usdt_blacklist.yaml", actors=actors)
    assert {(x.category, x.confidence) for x in blacklist.labels} == {(Category.OTHER, 1.0)}
    assert blacklist.unmapped == {"black_list": 774}
    interpol_ofac = import_tagpack(folder / "ofac.yaml", actors=actors)
    assert {x.confidence for x in interpol_ofac.labels} == {0.05}  # no confidence: "unknown"
    binance = import_tagpack(folder / "exchange-wallets-binance.yaml", actors=actors)
    assert Counter(x.network for x in binance.labels) == {
        Network.EVM: 48,
        Network.BNB_BEACON: 25,
        Network.TRON: 9,
        Network.BITCOIN: 4,
    }
    assert {x.entity for x in binance.labels} == {"Binance"}


def test_defects_in_the_real_packs_are_rejected_with_their_line(actors: dict[str, str]) -> None:
    folder = data_path("graphsense-tagpacks-evm", "packs")
    tornado = import_tagpack(folder / "tornado_cash.yaml", actors=actors)
    # The last tag repeats the 1,000 USDC pool with a trailing space: the same claim.
    assert (tornado.entries, len(tornado.labels), tornado.duplicates) == (39, 38, 1)
    ofac = import_tagpack(folder / "ofac.yaml", actors=actors)
    # OFAC's 64-hex "XMR address", two Monero addresses cut off by GraphSense's scraper, and
    # a Tron address filed under BTC.
    assert [(r.where, r.reason) for r in ofac.rejected] == [
        (
            "ofac.yaml:571",
            "invalid address '5be5543ff73456ab9f2d207887e2af87322c651ea1a873c...': not a valid "
            "address of any supported network (64 hex digits: a transaction hash or key, not an "
            "address)",
        ),
        (
            "ofac.yaml:801",
            "invalid address '884Bz8UH63aYsjVdkfWfScRYWZGGNbjFL7pztqvWNSrtYT4...': not a valid "
            "address of any supported network",
        ),
        (
            "ofac.yaml:803",
            "invalid address '49HqitRzdnhYjgTEAhgGpCfsjdTeMbUTU6cyR4JV1R7k2Ee...': not a valid "
            "address of any supported network",
        ),
        (
            "ofac.yaml:1069",
            "invalid address 'TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq': not a bitcoin address (it has "
            "the form of a tron address)",
        ),
    ]
    cloud = import_tagpack(folder / "etherscan-label-word-cloud.yaml", actors=actors)
    assert [(r.value, "EIP-55" in r.reason) for r in cloud.rejected] == [
        ("0xA0DF9CA52e8aB5DDE22C55D9B3C2CDF814B9B773", True),
        ("0xf299f6B031Cc4dd1BfcB86A5e5590f99336a29c6", True),
    ]
    bitfinex = import_tagpack(folder / "exchange-wallets-bitfinexcom.yaml", actors=actors)
    reasons = Counter(r.reason.split(" '")[0] for r in bitfinex.rejected)
    assert reasons == {
        "unsupported currency": 90,
        "invalid address": 8,
        "currency AVAX needs a 0x address": 1,
    }
    assert len(bitfinex.labels) == 36


def test_import_round_trips_through_a_pack(actors: dict[str, str], tmp_path: Path) -> None:
    folder = data_path("graphsense-tagpacks-evm", "packs")
    labels = import_tagpack(folder / "exchange-wallets-huobi.yaml", actors=actors).labels
    path = tmp_path / "huobi.yaml"
    path.write_text(dump_pack(labels, info={"title": "Huobi"}))
    assert load_yaml(path) == labels


def test_tags_override_the_header(tmp_path: Path) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(
        "title: T\ncreator: C\nsource: https://example.org/list\nlastmod: 2023-08-16 12:18:52\n"
        "category: exchange\nconfidence: service_data\ncurrency: ETH\nlabel: Default\n"
        "tags:\n"
        "- address: '0x28c6c06298d514db089934071355e5743bf21d60'\n"
        "- address: TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM\n"
        "  currency: TRX\n  label: Tron wallet\n  category: mixing_service\n"
        "  confidence: ownership\n  source: https://example.org/tron\n"
    )
    first, second = import_tagpack(path, source="test").labels
    assert (first.name, first.category, first.chain_id, first.confidence, first.date) == (
        "Default",
        Category.EXCHANGE,
        1,
        0.5,
        "2023-08-16",
    )
    assert (second.name, second.category, second.network, second.confidence) == (
        "Tron wallet",
        Category.MIXER,
        Network.TRON,
        1.0,
    )
    assert second.source == "GraphSense TagPack test; T; https://example.org/tron"


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("title: x\ntags: [\n", "malformed YAML", 3),
        ("title: x\n", "TagPack has no 'tags' list", 1),
        ("tags:\n- address: x\n  address: y\n", "duplicate key 'address'", 3),
        ("tags: oops\n", "tags must be a list", 1),
    ],
)
def test_malformed_tagpacks_name_the_line(
    tmp_path: Path, body: str, message: str, line: int
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(InputFileError, match=message) as caught:
        import_tagpack(path)
    assert caught.value.line == line


def test_unknown_confidence_ids_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(
        "confidence: very_sure\ncurrency: ETH\ncategory: exchange\ntags:\n"
        "- address: '0x28c6c06298d514db089934071355e5743bf21d60'\n"
    )
    result = import_tagpack(path)
    [rejected] = result.rejected
    assert (rejected.where, rejected.reason) == (
        "pack.yaml:5",
        "unknown GraphSense confidence 'very_sure'",
    )
