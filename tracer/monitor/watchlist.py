"""The watchlist: which wallets to watch and which rules raise alerts for them.

Two formats. A YAML file with ``seeds``, ``rules``, ``assets`` and ``start_block`` (see
``configs/watchlists/example.yaml``), or a plain CSV with header ``address,label`` whose seeds
get the default rules. Both are untrusted input: every value is validated and every complaint
names the file and the line.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Final

import yaml

from tracer.errors import InputError, InputFileError
from tracer.labels.model import Category
from tracer.labels.yamlnodes import line_of, mapping_items, read_document, scalar, sequence
from tracer.types import NATIVE_TOKEN, Address, parse_address

NATIVE_DECIMALS: Final = 18
MAX_HOPS: Final = 10
# Names that mean the chain's native asset in an ``assets`` filter.
NATIVE_NAMES: Final = frozenset({"native", "eth"})


class Trigger(StrEnum):
    """What a rule watches for."""

    OUTFLOW = "outflow"  # value leaves a watched address
    INFLOW = "inflow"  # value reaches a watched address
    REACHED = "reached"  # traced value reaches a service of a category in ``reach``


# Categories a ``reached`` rule can look for, and the alert kind each one raises.
REACH_KINDS: Final[Mapping[Category, str]] = {
    Category.EXCHANGE_DEPOSIT: "reached_exchange_deposit",
    Category.EXCHANGE: "reached_exchange",
    Category.OTC: "reached_otc",
    Category.MIXER: "reached_mixer",
    Category.BRIDGE: "reached_bridge",
    Category.SANCTIONED: "reached_sanctioned",
}


@dataclass(frozen=True)
class Asset:
    """A token the watchlist names, so rules can filter on it and amounts can be scaled."""

    symbol: str
    token: Address
    decimals: int | None


@dataclass(frozen=True)
class Rule:
    """One alerting rule. ``min_amount`` is in whole units of the asset when its decimals are
    known (native: 18, declared tokens), else in raw units; ``assets`` empty means any."""

    name: str
    triggers: frozenset[Trigger]
    min_amount: Decimal = Decimal(0)
    assets: frozenset[Address] = frozenset()
    within_hops: int = 1
    reach: frozenset[Category] = frozenset(REACH_KINDS)
    watch_discovered: bool = False


@dataclass(frozen=True)
class Seed:
    address: Address
    label: str
    rules: tuple[str, ...]


DEFAULT_RULES: Final = (
    Rule("moves", frozenset({Trigger.OUTFLOW, Trigger.INFLOW})),
    Rule("offramps", frozenset({Trigger.REACHED}), within_hops=3),
)


@dataclass(frozen=True)
class Watchlist:
    path: Path
    seeds: tuple[Seed, ...]
    rules: Mapping[str, Rule]
    assets: Mapping[Address, Asset] = field(default_factory=dict)
    start_block: int | None = None
    # Label files the watchlist names (relative paths are from the watchlist's folder).
    label_files: tuple[Path, ...] = ()

    def rules_of(self, seed: Seed) -> list[Rule]:
        return [self.rules[name] for name in seed.rules]

    def decimals(self, token: str) -> int | None:
        if token == NATIVE_TOKEN:
            return NATIVE_DECIMALS
        asset = self.assets.get(Address(token))
        return asset.decimals if asset is not None else None

    def symbol(self, token: str, native_symbol: str) -> str | None:
        if token == NATIVE_TOKEN:
            return native_symbol
        asset = self.assets.get(Address(token))
        return asset.symbol if asset is not None else None


def load_watchlist(path: Path) -> Watchlist:
    """Read a YAML or CSV watchlist (by extension: .yaml/.yml, else CSV)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        return _load_yaml(path)
    return _load_csv(path)


# -- CSV --------------------------------------------------------------------------------------


def _load_csv(path: Path) -> Watchlist:
    if not path.is_file():
        raise InputFileError(path, "watchlist not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read watchlist: {exc}") from exc
    rows = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows:
        raise InputFileError(path, "empty watchlist: expected a header address,label")
    header_line, header_text = rows[0]
    header = [name.strip().lower() for name in next(csv.reader([header_text]))]
    if "address" not in header:
        raise InputFileError(path, "missing column 'address' in header", line=header_line)
    seeds: list[Seed] = []
    seen: dict[Address, int] = {}
    all_rules = tuple(rule.name for rule in DEFAULT_RULES)
    for number, line in rows[1:]:
        try:
            values = next(csv.reader([line]))
        except csv.Error as exc:
            raise InputFileError(path, f"malformed CSV: {exc}", line=number) from None
        if len(values) > len(header):
            raise InputFileError(path, "more fields than the header has", line=number)
        row = dict(zip(header, (value.strip() for value in values), strict=False))
        address = _address(row.get("address") or "", path, number)
        _unique(address, seen, path, number)
        seeds.append(Seed(address, row.get("label") or "", all_rules))
    if not seeds:
        raise InputFileError(path, "no seeds below the header", line=header_line)
    return Watchlist(path, tuple(seeds), {rule.name: rule for rule in DEFAULT_RULES})


# -- YAML -------------------------------------------------------------------------------------

_TOP_KEYS: Final = frozenset({"version", "start_block", "labels", "assets", "rules", "seeds"})
_RULE_KEYS: Final = frozenset(
    {"name", "kinds", "min_amount", "assets", "within_hops", "reach", "watch_discovered"}
)
_SEED_KEYS: Final = frozenset({"address", "label", "rules"})
_ASSET_KEYS: Final = frozenset({"symbol", "token", "decimals"})


def _load_yaml(path: Path) -> Watchlist:
    root = read_document(path, what="watchlist")
    if root is None:
        raise InputFileError(path, "empty watchlist: expected a mapping with 'seeds'")
    top = dict(_checked_items(root, path, "watchlist", _TOP_KEYS))
    version = _text(top["version"], path, "version") if "version" in top else "1"
    if version != "1":
        raise InputFileError(
            path, f"unsupported watchlist version {version!r}", line=line_of(top["version"])
        )
    start_block = None
    if "start_block" in top:
        start_block = _int(top["start_block"], path, "start_block", minimum=0)
    assets = _assets(top["assets"], path) if "assets" in top else {}
    label_files = _label_files(top["labels"], path) if "labels" in top else ()
    if "rules" in top:
        rules = [_rule(node, path, assets) for node in sequence(top["rules"], path, "rules")]
    else:
        rules = list(DEFAULT_RULES)
    by_name: dict[str, Rule] = {}
    for rule, node in zip(rules, _nodes_or_none(top.get("rules"), len(rules)), strict=True):
        if rule.name in by_name:
            line = line_of(node) if node is not None else None
            raise InputFileError(path, f"duplicate rule name {rule.name!r}", line=line)
        by_name[rule.name] = rule
    if "seeds" not in top:
        raise InputFileError(path, "missing 'seeds'", line=line_of(root))
    seeds: list[Seed] = []
    seen: dict[Address, int] = {}
    for node in sequence(top["seeds"], path, "seeds"):
        seed = _seed(node, path, by_name)
        _unique(seed.address, seen, path, line_of(node))
        seeds.append(seed)
    if not seeds:
        raise InputFileError(path, "'seeds' is empty", line=line_of(top["seeds"]))
    return Watchlist(path, tuple(seeds), by_name, assets, start_block, label_files)


def _label_files(node: yaml.Node, path: Path) -> tuple[Path, ...]:
    files: list[Path] = []
    for name, item in _names(node, path, "labels"):
        label_file = path.parent / name  # an absolute name replaces the folder
        if not label_file.is_file():
            raise InputFileError(path, f"label file {label_file} not found", line=line_of(item))
        files.append(label_file)
    return tuple(files)


def _nodes_or_none(node: yaml.Node | None, count: int) -> list[yaml.Node | None]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return [None] * count


def _checked_items(
    node: yaml.Node, path: Path, what: str, allowed: frozenset[str]
) -> list[tuple[str, yaml.Node]]:
    items = mapping_items(node, path, what)
    for key, value in items:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; known: {', '.join(sorted(allowed))}"
            )
            raise InputFileError(path, f"{what}: unknown key {key!r}{hint}", line=line_of(value))
    return items


def _text(node: yaml.Node, path: Path, key: str) -> str:
    value = scalar(node, path, key)
    if value is None or not value.strip():
        raise InputFileError(path, f"{key} must not be empty", line=line_of(node))
    return value.strip()


def _int(node: yaml.Node, path: Path, key: str, *, minimum: int) -> int:
    text = _text(node, path, key)
    if not text.isdigit() or int(text) < minimum:
        raise InputFileError(
            path, f"{key} must be a whole number >= {minimum}, not {text!r}", line=line_of(node)
        )
    return int(text)


def _bool(node: yaml.Node, path: Path, key: str) -> bool:
    text = _text(node, path, key).lower()
    if text not in ("true", "false"):
        raise InputFileError(path, f"{key} must be true or false", line=line_of(node))
    return text == "true"


def _names(node: yaml.Node, path: Path, key: str) -> list[tuple[str, yaml.Node]]:
    return [(_text(item, path, key), item) for item in sequence(node, path, key)]


def _address(text: str, path: Path, line: int | None) -> Address:
    try:
        return parse_address(text)
    except InputError as exc:
        raise InputFileError(path, str(exc), line=line) from None


def _unique(address: Address, seen: dict[Address, int], path: Path, line: int) -> None:
    if address in seen:
        raise InputFileError(
            path, f"seed {address} is listed twice (first on line {seen[address]})", line=line
        )
    seen[address] = line


def _assets(node: yaml.Node, path: Path) -> dict[Address, Asset]:
    assets: dict[Address, Asset] = {}
    for item in sequence(node, path, "assets"):
        fields = dict(_checked_items(item, path, "asset", _ASSET_KEYS))
        for required in ("symbol", "token"):
            if required not in fields:
                raise InputFileError(path, f"asset: missing {required!r}", line=line_of(item))
        token = _address(_text(fields["token"], path, "token"), path, line_of(fields["token"]))
        decimals = None
        if "decimals" in fields:
            decimals = _int(fields["decimals"], path, "decimals", minimum=0)
            if decimals > 255:
                raise InputFileError(path, "decimals must be at most 255", line=line_of(item))
        assets[token] = Asset(_text(fields["symbol"], path, "symbol"), token, decimals)
    return assets


def _asset_filter(
    node: yaml.Node, path: Path, assets: Mapping[Address, Asset]
) -> frozenset[Address]:
    by_symbol = {asset.symbol.lower(): token for token, asset in assets.items()}
    chosen: set[Address] = set()
    for name, item in _names(node, path, "assets"):
        lowered = name.lower()
        if lowered in NATIVE_NAMES:
            chosen.add(NATIVE_TOKEN)
        elif lowered in by_symbol:
            chosen.add(by_symbol[lowered])
        elif name.startswith("0x"):
            chosen.add(_address(name, path, line_of(item)))
        else:
            known = ["native", *sorted(asset.symbol for asset in assets.values())]
            raise InputFileError(
                path,
                f"unknown asset {name!r}: use 'native', a token address, or a symbol declared "
                f"under 'assets' (known: {', '.join(known)})",
                line=line_of(item),
            )
    return frozenset(chosen)


def _rule(node: yaml.Node, path: Path, assets: Mapping[Address, Asset]) -> Rule:
    fields = dict(_checked_items(node, path, "rule", _RULE_KEYS))
    if "name" not in fields or "kinds" not in fields:
        raise InputFileError(path, "rule: 'name' and 'kinds' are required", line=line_of(node))
    name = _text(fields["name"], path, "name")
    triggers: set[Trigger] = set()
    for kind, item in _names(fields["kinds"], path, "kinds"):
        try:
            triggers.add(Trigger(kind))
        except ValueError:
            known = ", ".join(trigger.value for trigger in Trigger)
            raise InputFileError(
                path, f"unknown kind {kind!r} (known: {known})", line=line_of(item)
            ) from None
    if not triggers:
        raise InputFileError(path, f"rule {name!r}: 'kinds' is empty", line=line_of(node))
    min_amount = Decimal(0)
    if "min_amount" in fields:
        text = _text(fields["min_amount"], path, "min_amount")
        try:
            min_amount = Decimal(text)
        except InvalidOperation:
            min_amount = Decimal(-1)
        if not min_amount.is_finite() or min_amount < 0:
            raise InputFileError(
                path,
                f"min_amount must be a non-negative decimal number, not {text!r}",
                line=line_of(fields["min_amount"]),
            )
    reach = frozenset(REACH_KINDS)
    if "reach" in fields:
        reach = frozenset(_categories(fields["reach"], path))
    hops = 1
    if "within_hops" in fields:
        hops = _int(fields["within_hops"], path, "within_hops", minimum=1)
        if hops > MAX_HOPS:
            raise InputFileError(
                path, f"within_hops must be at most {MAX_HOPS}", line=line_of(fields["within_hops"])
            )
    return Rule(
        name=name,
        triggers=frozenset(triggers),
        min_amount=min_amount,
        assets=_asset_filter(fields["assets"], path, assets) if "assets" in fields else frozenset(),
        within_hops=hops,
        reach=reach,
        watch_discovered=(
            _bool(fields["watch_discovered"], path, "watch_discovered")
            if "watch_discovered" in fields
            else False
        ),
    )


def _categories(node: yaml.Node, path: Path) -> Iterable[Category]:
    allowed = {category.value: category for category in REACH_KINDS}
    for name, item in _names(node, path, "reach"):
        if name not in allowed:
            raise InputFileError(
                path,
                f"reach: {name!r} is not one of {', '.join(sorted(allowed))}",
                line=line_of(item),
            )
        yield allowed[name]


def _seed(node: yaml.Node, path: Path, rules: Mapping[str, Rule]) -> Seed:
    if isinstance(node, yaml.ScalarNode):  # a bare address
        return Seed(_address(_text(node, path, "seed"), path, line_of(node)), "", tuple(rules))
    fields = dict(_checked_items(node, path, "seed", _SEED_KEYS))
    if "address" not in fields:
        raise InputFileError(path, "seed: missing 'address'", line=line_of(node))
    address = _address(_text(fields["address"], path, "address"), path, line_of(fields["address"]))
    label = (scalar(fields["label"], path, "label") or "") if "label" in fields else ""
    chosen: list[str] = []
    if "rules" in fields:
        for name, item in _names(fields["rules"], path, "rules"):
            if name not in rules:
                close = difflib.get_close_matches(name, sorted(rules), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(rules)}"
                raise InputFileError(path, f"unknown rule {name!r}; {hint}", line=line_of(item))
            chosen.append(name)
    return Seed(address, label.strip(), tuple(chosen) if "rules" in fields else tuple(rules))
