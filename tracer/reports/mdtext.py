"""Untrusted text as inert Markdown: label names, token symbols and reasons come from label
files and the chain, and must not become headings, links, images or raw HTML.

CommonMark lets a backslash escape any ASCII punctuation character, and an escaped character
is always literal. Escaping all of them (not a chosen few) also defeats the syntax of
extensions (GFM tables and autolinks: ``www.`` and ``https://`` need their ``.`` and ``:``
unescaped). Line breaks would start a new block (a heading, a list), so they become spaces;
with none, ``-`` and ``,`` are inert inline and stay as they are, for readability.
"""

from __future__ import annotations

import re
import string
from typing import Final

_PUNCTUATION: Final = frozenset(string.punctuation) - {"-", ","}
_LINE_BREAKS: Final = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")
_PLAIN: Final = re.compile(r"[0-9A-Za-z]+")
_UTC_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def md_text(value: object) -> str:
    """Any text as literal Markdown inline content."""
    flat = _LINE_BREAKS.sub(" ", str(value))
    return "".join(f"\\{char}" if char in _PUNCTUATION else char for char in flat)


def md_code(value: object) -> str:
    """An identifier (address, hash, number) as a code span; anything else as literal text."""
    text = str(value)
    return f"`{text}`" if _PLAIN.fullmatch(text) else md_text(text)


def md_time(value: str | None) -> str:
    """A UTC time as the report writes it (``2024-05-01T12:00:00Z``), or ``unknown``."""
    if not value:
        return "unknown"
    return value if _UTC_TIME.fullmatch(value) else md_text(value)
