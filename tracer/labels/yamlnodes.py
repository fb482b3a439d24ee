"""Reading untrusted YAML as a node tree, so every complaint can name the file and line.

PyYAML's ``safe_load`` forgets where values came from, keeps the last of duplicate keys
without a word, and converts by YAML 1.1's implicit rules (an unquoted ``0x12…`` address
becomes an integer, ``2022-08-08`` a date, ``no`` a boolean). Label packs are read from the
composed node tree instead: every scalar stays the text that was written, duplicate keys are
errors, and each node carries its line.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tracer.errors import InputFileError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def read_document(path: Path, *, what: str = "label file") -> yaml.Node | None:
    """The composed root node of ``path`` (None for an empty document)."""
    if not path.is_file():
        raise InputFileError(path, f"{what} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read {what}: {exc}") from exc
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise InputFileError(path, f"malformed YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise InputFileError(path, f"malformed YAML: {exc}") from None


def mapping_items(node: yaml.Node, path: Path, what: str) -> list[tuple[str, yaml.Node]]:
    """Key/value pairs of a mapping node; keys must be unique plain strings."""
    if not isinstance(node, yaml.MappingNode):
        raise InputFileError(path, f"{what} must be a mapping", line=line_of(node))
    items: list[tuple[str, yaml.Node]] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise InputFileError(path, f"{what}: keys must be plain names", line=line_of(key_node))
        key = str(key_node.value)
        if key in seen:
            raise InputFileError(path, f"{what}: duplicate key {key!r}", line=line_of(key_node))
        seen.add(key)
        items.append((key, value_node))
    return items


def scalar(node: yaml.Node, path: Path, key: str) -> str | None:
    """The text of a scalar exactly as written (None for YAML's null forms)."""
    if not isinstance(node, yaml.ScalarNode):
        raise InputFileError(path, f"{key} must be a single value", line=line_of(node))
    text = str(node.value)
    if node.style is None and text in _NULLS:  # only unquoted null forms mean null
        return None
    return text


def sequence(node: yaml.Node, path: Path, key: str) -> list[yaml.Node]:
    if not isinstance(node, yaml.SequenceNode):
        raise InputFileError(path, f"{key} must be a list", line=line_of(node))
    return list(node.value)
