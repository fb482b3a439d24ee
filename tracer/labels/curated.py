"""Build the curated label packs shipped in ``configs/labels/`` from the public source data.

    .venv/bin/python -m tracer.labels.curated [--data ../shared/data] [--out configs/labels]

Every pack is produced by the importers in :mod:`tracer.labels.importers` from the data sets
in ``../shared/data`` (each folder documents its repository, commit and licence in
SOURCE.txt), so a pack can always be regenerated and checked: the test suite rebuilds them
and compares byte for byte. Every label carries its source (data set, URL or repository,
commit or issue date) and a date.

Curation choices, and why:

* Sanctions come only from OFAC's own data (the SDN advanced XML, and for the newest
  Ethereum additions a list generated from OFAC's SDN XML). Third-party "sanction" tags are
  not shipped as sanctions: a stale or scraped tag must never make a screen hit.
* Tornado Cash: the 91 contracts OFAC designated on 2022-08-08 and 2022-11-08 are kept with
  those dates and the delisting of 2025-03-21, as mixers (pools, router, proxies) or, for
  governance, token and verifier contracts, as ``other``; names from Etherscan.
* Etherscan-derived labels appear in three snapshots (2022-07, 2023-06, 2024-06): for one
  address, chain and category only the newest snapshot's label is kept. GraphSense labels
  are a different publisher and are kept beside them.
* The exchange deposit addresses of the DPRK cases are *not* shipped: they are the expected
  off-ramps of the live regression cases (tests/live), which must be reached by tracing,
  and each is one customer's account rather than a service.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tracer.atomic import atomic_write_text
from tracer.labels.importers import ImportResult
from tracer.labels.importers.dprk import (
    DPRK_ENTITY,
    import_address_list,
    import_case_seeds,
)
from tracer.labels.importers.etherscan import import_eth_labels, import_label_cloud
from tracer.labels.importers.graphsense import import_tagpack, load_actor_names
from tracer.labels.importers.ofac import import_ofac_address_csv, import_sdn_advanced_xml
from tracer.labels.model import Category, Label
from tracer.labels.packs import chain_text, dump_pack

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "configs" / "labels"

# Provenance of each data set, as its SOURCE.txt states it (a test checks they agree).
OFAC_COMMIT = "3ed66906888481f56ed356d329701b4cf998310d"
OFAC_SHA256 = "36c517bd264d8d97eff353eadd8d84427d5eb293505a8ce07271a5bc258c3117"
OFAC_SOURCE = (
    "OFAC SDN advanced XML issued {date} "
    "(https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML;"
    " copy: https://github.com/brave-intl/ofac-sanctioned-digital-currency-addresses"
    f" @{OFAC_COMMIT} sdn_advanced.xml.bz2, SHA-256 {OFAC_SHA256[:16]}…)"
)
ULTRASOUND_2026_COMMIT = "ac234519b1ff45e9beec3345d476a0a54dca7df8"
ULTRASOUND_2026_SOURCE = (
    "OFAC SDN Ethereum addresses as of 2026-06-25, generated from OFAC SDN_ENHANCED.xml "
    f"(https://github.com/ultrasoundmoney/ofac-ethereum-addresses @{ULTRASOUND_2026_COMMIT} "
    "data.csv)"
)
ULTRASOUND_2024_COMMIT = "4ddafea348db94a361ac1612b042e9b491d848a8"
TORNADO_SOURCE = (
    "OFAC SDN entry TORNADO CASH, designation dates as listed 2024-08-20 "
    f"(https://github.com/ultrasoundmoney/ofac-ethereum-addresses @{ULTRASOUND_2024_COMMIT} "
    "data.csv); delisted 2025-03-21 (US Treasury; absent from the 2025-11-19 SDN XML)"
)
TORNADO_DELISTED = "2025-03-21"
BRIANLEECT_2022_COMMIT = "80f8d4cb6f70b506c2409dffb61726a1aeda3e7d"
BRIANLEECT_2023_COMMIT = "923aba72c7e2d0682f7ae6194b6140bd90668dc9"
ETH_LABELS_COMMIT = "596eeddf670cb6c49139b90f6b2de1a8287e0032"
GRAPHSENSE_COMMIT = "29ff93c8ab0db37370453a290b7becba429b73f8"
GRAPHSENSE_DATE = "2026-05-12"  # the snapshot's commit: the date of tags without a lastmod
TAYVANO_REPO = "tayvano/lazarus-bluenoroff-research"
BLOCKCHAINSPIDER_REPO = "wuzhy1ng/BlockchainSpider"
BLOCKCHAINSPIDER = ("2025-03-12", "16d833d7237b2a55ec9c2569eee8ead13de16dfa")
FBI_BYBIT = ("FBI IC3 PSA I-022625-PSA (https://www.ic3.gov/psa/2025/psa250226)", "2025-02-26")
FBI_HARMONY = (
    "FBI press release 2023-01-23 on the Harmony Horizon bridge theft, its address list as"
    f" transcribed in https://github.com/{TAYVANO_REPO} @122924351495b16e4163fa79de02113c662a17c7"
    " hacks-and-thefts/Harmony Horizon Bridge.md",
    "2023-01-23",
)

# Names that identify the entry points of a bridge among a bridge project's contracts.
_BRIDGE_NAME = re.compile(
    r"bridge|router|portal|gateway|spoke ?pool|hub ?pool|bonder|cbridge", re.IGNORECASE
)
_BRIDGE_PROJECTS = (
    "multichain",
    "wormhole",
    "across-protocol",
    "hop-protocol",
    "synapse",
    "celer-network",
)
# Tornado Cash contracts that take deposits or pay withdrawals (the rest govern or verify).
_TORNADO_MIXING = re.compile(r"^\d[\d,.]* \w+( \d)?$|router|proxy|mixer|l1 helper", re.I)
_TYPHOON_POOL = re.compile(r"^Typhoon\.Cash: \d[\d,.]* \w+$")
# Explorers tag a project's token contracts with the project's labels ("VelaToken (VELA)" under
# exchange): a token is not where funds are deposited, so these are left out.
_TOKEN_NAME = re.compile(r"\([^()]{1,15}\)\s*$|\btoken\b", re.IGNORECASE)


def _not_token(label: Label) -> bool:
    return label.name.startswith("unnamed") or not _TOKEN_NAME.search(label.name)


@dataclass
class Pack:
    file: str
    title: str
    description: str
    labels: list[Label] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)  # data set -> labels taken
    rejected: list[str] = field(default_factory=list)  # "data set: where: reason"

    def take(
        self,
        dataset: str,
        result: ImportResult,
        keep: Callable[[Label], bool] = lambda label: True,
        transform: Callable[[Label], Label] = lambda label: label,
    ) -> None:
        for label in result.labels:
            if keep(label):
                self.labels.append(transform(label))
                self.sources[dataset] += 1
        self.rejected.extend(f"{dataset}: {r.where}: {r.reason}" for r in result.rejected)


def build(data: Path) -> list[Pack]:
    actors = load_actor_names(data / "graphsense-tagpacks-evm/actors/graphsense.actorpack.yaml")
    etherscan = _etherscan_snapshots(data)
    return [
        _sanctioned(data),
        _mixers(data, actors),
        _exchanges(data, etherscan, actors),
        _bridges(etherscan),
        _dexes(data, etherscan, actors),
        _dprk(data, actors),
    ]


def _sanctioned(data: Path) -> Pack:
    pack = Pack(
        "sanctioned-ofac.yaml",
        "OFAC SDN digital-currency addresses",
        "Every digital-currency address of the OFAC SDN list issued 2025-11-19 (all assets,"
        " EVM and non-EVM), with the party's primary name, programmes, legal basis and"
        " listing date; plus the Ethereum addresses OFAC added by 2026-06-25.",
    )
    folder = data / "ofac-brave-intl"
    xml = import_sdn_advanced_xml(
        folder / "sdn_advanced.xml.bz2",
        source=OFAC_SOURCE.format(date="2025-11-19"),
        expect_sha256=OFAC_SHA256,
    )
    pack.take("OFAC SDN advanced XML 2025-11-19", xml)
    listed = {label.address for label in xml.labels}
    additions = import_ofac_address_csv(
        data / "ofac-ultrasound/data_2026-06-25.csv",
        source=ULTRASOUND_2026_SOURCE,
        date="2026-06-25",
    )
    pack.take(
        "ultrasoundmoney OFAC list 2026-06-25 (additions)",
        additions,
        keep=lambda label: label.address not in listed,
    )
    return pack


def _mixers(data: Path, actors: dict[str, str]) -> Pack:
    pack = Pack(
        "mixers.yaml",
        "Mixers",
        "Tornado Cash contracts as OFAC designated them (2022-08-08, 2022-11-08; delisted"
        " 2025-03-21) with Etherscan's names; Typhoon Cash pools; GraphSense mixing-service"
        " tags.",
    )
    names = _tornado_names(data)
    designated = import_ofac_address_csv(
        data / "ofac-ultrasound/data_2024-08-20_with_tornado.csv",
        source=TORNADO_SOURCE,
        date="2024-08-20",
    )
    tornado = [label for label in designated.labels if label.entity == "TORNADO CASH"]
    # One label per designated address (every EVM chain: OFAC designates the address), named
    # after its Ethereum contract; and one per other chain where Etherscan names a deployment
    # there (the same address is the 10 ETH pool on Arbitrum and the 10 AVAX pool on Avalanche).
    per_chain = [
        replace(label, chain_id=chain_id, name=name)
        for label in tornado
        for (address, chain_id), name in names.items()
        if address == label.address and chain_id != 1
    ]
    everywhere = [
        replace(
            label, name=names.get((label.address, 1), "Tornado Cash (OFAC-designated contract)")
        )
        for label in tornado
    ]
    pack.take(
        "OFAC TORNADO CASH designations (ultrasoundmoney 2024-08-20) with Etherscan names",
        _result(everywhere + per_chain),
        transform=_tornado,
    )
    pack.take(
        "eth-labels 2024-06 typhoon-cash",
        import_eth_labels(
            data / "eth-labels-dawsbot/etherscan/typhoon-cash/accounts.json",
            source=_eth_labels_source("etherscan", "typhoon-cash"),
            date="2024-06-17",
            category=Category.MIXER,
        ),
        keep=lambda label: bool(_TYPHOON_POOL.match(label.name)),
        transform=lambda label: replace(label, entity="Typhoon Cash"),
    )
    for name in ("etherscan-wordcloud-mixing_service", "tornado_cash", "interpol-real_services"):
        pack.take(
            f"GraphSense {name}",
            _graphsense(data, name, actors),
            keep=lambda label: label.category is Category.MIXER,
        )
    return pack


def _exchanges(data: Path, etherscan: list[Label], actors: dict[str, str]) -> Pack:
    pack = Pack(
        "exchanges.yaml",
        "Exchange hot and reserve wallets",
        "Exchange wallets from Etherscan's label cloud (Ethereum 2022-07; BNB Smart Chain,"
        " Polygon, Arbitrum, Optimism, Avalanche, Fantom 2023; eth-labels 2024-06) and the"
        " exchanges' own published reserve wallets via GraphSense (EVM, Bitcoin, Tron).",
    )
    pack.take(
        "Etherscan label cloud (newest snapshot per address)",
        _result(etherscan),
        keep=lambda label: label.category is Category.EXCHANGE,
        transform=_with_entity,
    )
    for file in sorted((data / "graphsense-tagpacks-evm/packs").glob("exchange-wallets-*.yaml")):
        pack.take(f"GraphSense {file.stem}", _graphsense(data, file.stem, actors))
    pack.take(
        "GraphSense etherscan-wordcloud-exchange",
        _graphsense(data, "etherscan-wordcloud-exchange", actors),
    )
    return pack


def _bridges(etherscan: list[Label]) -> Pack:
    pack = Pack(
        "bridges.yaml",
        "Bridges",
        "Bridge contracts and routers from Etherscan's label cloud (bridge label, 7+ chains),"
        " and the entry points (bridge, router, portal, spoke/hub pool, bonder) of Multichain,"
        " Wormhole, Across, Hop, Synapse and Celer.",
    )
    pack.take(
        "Etherscan label cloud (newest snapshot per address)",
        _result(etherscan),
        keep=lambda label: label.category is Category.BRIDGE,
        transform=_with_entity,
    )
    return pack


def _dexes(data: Path, etherscan: list[Label], actors: dict[str, str]) -> Pack:
    pack = Pack(
        "dex.yaml",
        "DEX routers and pools",
        "DEX routers, aggregators and exchange contracts from Etherscan's label cloud (dex,"
        " dex-ag), and DEX routers and pools from GraphSense's DeFi protocol packs.",
    )
    pack.take(
        "Etherscan label cloud (newest snapshot per address)",
        _result(etherscan),
        keep=lambda label: label.category is Category.DEX,
        transform=_with_entity,
    )
    defi = data / "graphsense-tagpacks-evm/packs"
    for file in [defi / "defi-protocols-csh.yaml", *sorted((defi / "defi_updated").glob("*.yaml"))]:
        pack.take(
            f"GraphSense {file.stem}",
            _graphsense_file(file, defi, actors),
            keep=lambda label: label.category is Category.DEX,
        )
    return pack


def _dprk(data: Path, actors: dict[str, str]) -> Pack:
    pack = Pack(
        "dprk-lazarus.yaml",
        "DPRK (Lazarus Group) attributed addresses",
        "Addresses attributed to North Korea's Lazarus Group: the FBI's lists for the Bybit"
        " (2025-02-26) and Harmony (2023-01-23) thefts, and the attacker, hop, swap and"
        " laundering addresses and victims of the Bybit, Ronin, Harmony, KuCoin and Upbit"
        " cases. Dates: the FBI publication date; for research notes, which carry no date of"
        " their own, the incident date (their commit is in the source).",
    )
    folder = data / "dprk-case-seeds"
    for (source, date), file, case in (
        (FBI_BYBIT, "fbi_ic3_psa250226_bybit_eth.txt", "Bybit theft 2025"),
        (FBI_HARMONY, "fbi_2023-01-23_harmony_eth.txt", "Harmony Horizon bridge theft 2022"),
    ):
        pack.take(
            f"FBI list {date}",
            import_address_list(
                folder / file,
                name=f"{case}: FBI-listed address",
                category=Category.THIEF,
                source=source,
                date=date,
                entity=DPRK_ENTITY,
                confidence=0.9,
            ),
        )
    seeds = import_case_seeds(
        folder / "dprk_case_seeds.csv", snapshots={BLOCKCHAINSPIDER_REPO: BLOCKCHAINSPIDER}
    )
    pack.take(
        "dprk-case-seeds (tayvano research, BlockchainSpider cases)",
        seeds,
        keep=lambda label: label.category in (Category.THIEF, Category.VICTIM),
    )
    for name in ("lazarus", "lazarus2", "ronin_bridge"):
        pack.take(
            f"GraphSense {name}",
            _graphsense(data, name, actors),
            # GraphSense tags these "abuse: sanction" from a 2020 OFAC action; sanctions status
            # comes from OFAC's own list, so here they are what they are: Lazarus addresses.
            transform=lambda label: replace(label, category=Category.THIEF, entity=DPRK_ENTITY),
        )
    return pack


def _etherscan_snapshots(data: Path) -> list[Label]:
    """Exchange, bridge and DEX labels from every Etherscan-derived snapshot, newest kept."""
    folder = data / "etherscan-labels-brianleect"
    labels: list[Label] = []
    for slug in ("exchange", "hot-wallet", "bridge", "dex"):
        file = folder / "2022-07-29_etherscan_accounts" / f"{slug}.csv"
        source = (
            f"Etherscan label cloud '{slug}' scraped 2022-07-29 "
            f"(https://github.com/brianleect/etherscan-labels @{BRIANLEECT_2022_COMMIT} "
            f"data/{slug}.csv)"
        )
        labels += import_label_cloud(file, source=source, date="2022-07-29").labels
    for file in sorted((folder / "2023-06_combined").glob("*_combinedAllLabels.json")):
        explorer = file.name.split("_", 1)[0]
        scraped = "2023-06-18" if explorer == "etherscan" else "2023-03"
        source = (
            f"{explorer} label cloud scraped {scraped} (https://github.com/brianleect/"
            f"etherscan-labels @{BRIANLEECT_2023_COMMIT} data/{explorer}/combined/"
            "combinedAllLabels.json)"
        )
        result = import_label_cloud(file, source=source, date="2023-06-18")
        labels += [
            label
            for label in result.labels
            if label.category in (Category.EXCHANGE, Category.BRIDGE, Category.DEX)
        ]
        projects = import_label_cloud(
            file, source=source, date="2023-06-18", category=Category.BRIDGE
        )
        labels += _bridge_entry_points(projects.labels, file, set(_BRIDGE_PROJECTS))
    eth_labels = data / "eth-labels-dawsbot"
    for explorer in sorted(p.name for p in eth_labels.iterdir() if p.is_dir()):
        for slug in ("exchange", "hot-wallet", "bridge", "dex", "dex-ag", *_BRIDGE_PROJECTS):
            file = eth_labels / explorer / slug / "accounts.json"
            if not file.is_file():
                continue
            project = slug in _BRIDGE_PROJECTS
            found = import_eth_labels(
                file,
                source=_eth_labels_source(explorer, slug),
                date="2024-06-17",
                category=Category.BRIDGE if project else None,
            ).labels
            labels += [label for label in found if not project or _BRIDGE_NAME.search(label.name)]
    return _newest([label for label in labels if _not_token(label)])


def _bridge_entry_points(labels: list[Label], file: Path, projects: set[str]) -> list[Label]:
    """From a combined dump, the bridge entry points among the bridge projects' contracts."""
    slugs = {
        address.lower(): entry.get("labels", [])
        for address, entry in json.loads(file.read_text(encoding="utf-8")).items()
        if isinstance(entry, dict)
    }
    return [
        label
        for label in labels
        if projects & set(slugs.get(label.address, ()))
        and _BRIDGE_NAME.search(label.name)
        and "token" not in label.name.lower()
    ]


def _tornado(label: Label) -> Label:
    short = re.sub(r"^tornado\.?cash:?\s*", "", label.name, flags=re.IGNORECASE)
    mixing = label.name.startswith("Tornado Cash (") or bool(_TORNADO_MIXING.search(short))
    return replace(
        label,
        category=Category.MIXER if mixing else Category.OTHER,
        entity="Tornado Cash",
        delisted=TORNADO_DELISTED,
        designation="SDN List (entry TORNADO CASH)",
    )


def _tornado_names(data: Path) -> dict[tuple[str, int | None], str]:
    """(address, chain id) -> Etherscan's name for Tornado Cash contracts, newest first."""
    found: list[Label] = []
    for file in sorted((data / "etherscan-labels-brianleect/2023-06_combined").glob("*.json")):
        found += [
            label
            for label in import_label_cloud(file, date="2023-06-18").labels
            if label.category is Category.MIXER
        ]
    for file in sorted((data / "eth-labels-dawsbot").glob("*/tornado-cash/accounts.json")):
        found += import_eth_labels(file, date="2024-06-17").labels
    names: dict[tuple[str, int | None], str] = {}
    for label in sorted(found, key=lambda label: label.date or "", reverse=True):
        if not label.name.startswith("unnamed"):
            names.setdefault((label.address, label.chain_id), label.name)
    return names


def _newest(labels: list[Label]) -> list[Label]:
    """For each (address, chain, category), the label of the newest snapshot."""
    best: dict[tuple[str, int | None, Category], Label] = {}
    for label in labels:
        key = (label.address, label.chain_id, label.category)
        current = best.get(key)
        if current is None or (label.date or "") > (current.date or ""):
            best[key] = label
    return list(best.values())


def _with_entity(label: Label) -> Label:
    """Etherscan names read "Entity: role" or "Entity 14": take the entity from the name."""
    if label.name.startswith("unnamed"):
        return label
    entity = label.name.split(":", 1)[0] if ":" in label.name else label.name
    entity = re.sub(r"\s+(hot wallet|cold wallet|deposit funder)?\s*\d*$", "", entity, flags=re.I)
    return replace(label, entity=entity.strip() or None)


def _result(labels: list[Label]) -> ImportResult:
    result = ImportResult()
    result.labels = list(labels)
    return result


def _graphsense(data: Path, name: str, actors: dict[str, str]) -> ImportResult:
    packs = data / "graphsense-tagpacks-evm/packs"
    return _graphsense_file(packs / f"{name}.yaml", packs, actors)


def _graphsense_file(file: Path, packs: Path, actors: dict[str, str]) -> ImportResult:
    result = import_tagpack(file, actors=actors, source=_graphsense_source(file, packs))
    # A tag without lastmod is asserted as of the snapshot it was taken from.
    result.labels = [replace(x, date=x.date or GRAPHSENSE_DATE) for x in result.labels]
    return result


def _graphsense_source(file: Path, packs: Path) -> str:
    relative = file.relative_to(packs.parent).as_posix()
    return f"https://github.com/graphsense/graphsense-tagpacks @{GRAPHSENSE_COMMIT} {relative}"


def _eth_labels_source(explorer: str, slug: str) -> str:
    return (
        f"eth-labels {explorer} '{slug}' (https://github.com/dawsbot/eth-labels "
        f"@{ETH_LABELS_COMMIT} data/{explorer}/{slug}/accounts.json, 2024-06-17)"
    )


def _sort_key(label: Label) -> tuple[str, str, str, str, str]:
    return (chain_text(label), label.address, label.category.value, label.source, label.name)


def render(pack: Pack) -> str:
    labels = sorted(pack.labels, key=_sort_key)
    counts = Counter(label.category.value for label in labels)
    comment = "\n".join(
        [
            "Generated by `python -m tracer.labels.curated` from ../shared/data; do not edit.",
            f"{len(labels)} labels on {len({label.address for label in labels})} addresses; "
            + ", ".join(f"{category} {count}" for category, count in sorted(counts.items())),
            "Labels per data set:",
            *(f"  {dataset}: {count}" for dataset, count in sorted(pack.sources.items())),
        ]
    )
    info = {"title": pack.title, "description": pack.description, "creator": "tracer"}
    return dump_pack(labels, info=info, comment=comment)


def write(packs: list[Pack], out: Path) -> list[Path]:
    written = []
    for pack in packs:
        path = out / pack.file
        atomic_write_text(path, render(pack))
        path.chmod(0o644)  # a data file in the repository, readable by all
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the packs go")
    args = parser.parse_args(argv)
    packs = build(args.data)
    for path, pack in zip(write(packs, args.out), packs, strict=True):
        size = path.stat().st_size
        print(f"{path}: {len(pack.labels)} labels, {size / 1024:.0f} KiB")
        for dataset, count in sorted(pack.sources.items()):
            print(f"    {count:6d}  {dataset}")
        for rejection in pack.rejected:
            print(f"    rejected {rejection}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
