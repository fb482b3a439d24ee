"""Making untrusted text (labels, entity names) safe in each target syntax.

Label files and node answers are untrusted: every writer passes their text through one of
these, so a quote, a backslash, a newline or ``<script>`` stays text in every format.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, TypeVar

import polars as pl

# XML 1.0 allows tab, newline, carriage return and everything from U+0020 except surrogates
# and U+FFFE/U+FFFF; anything else makes the whole document unreadable.
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT: Final = "\ufffd"

T = TypeVar("T")


def xml_text(value: T) -> T:
    """``value`` with characters XML cannot carry replaced by U+FFFD (non-strings as they are).

    The XML writers escape ``<``, ``&`` and quotes themselves; this only removes what no
    escaping can represent in XML 1.0.
    """
    if isinstance(value, str):
        return _XML_INVALID.sub(REPLACEMENT, value)  # type: ignore[return-value]  # str is T
    return value


def xml_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`xml_text` for every string column of ``frame``, done by polars in one pass.

    Polars strings are valid UTF-8 and so hold no surrogates: only the other ranges remain.
    """
    pattern = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
    return frame.with_columns(
        pl.col(name).str.replace_all(pattern, REPLACEMENT)
        for name, dtype in frame.schema.items()
        if dtype == pl.String()
    )


def dot_quoted(text: str) -> str:
    """``text`` as a Graphviz double-quoted string that draws exactly as written.

    Inside quotes DOT only knows ``\\"``; Graphviz then reads backslash escapes in labels
    (``\\n``, ``\\l``, ``\\N``, ...), so a backslash is doubled. Newlines become ``\\n`` (a
    centred line break), other control characters U+FFFD. Quoted strings are never
    HTML-like labels, so ``<`` is plain text.
    """
    cleaned = _XML_INVALID.sub(REPLACEMENT, text.replace("\r\n", "\n").replace("\r", "\n"))
    escaped = cleaned.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    """RFC 4180 CSV (fields with commas, quotes or line breaks are quoted; quotes doubled).

    Missing and null values are empty fields; booleans are ``true``/``false``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_csv_cell(row.get(name)) for name in columns] for row in rows)
    return buffer.getvalue()


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
