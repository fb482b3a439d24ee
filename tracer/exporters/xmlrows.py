"""Tables as XML, one element per row, built by polars in slices and streamed to the file.

GraphML and GEXF of a large case hold millions of attribute values; a DOM (networkx's
writers) costs a Python object per value. Here each row's element is one string built by
vectorised polars expressions, and slices of rows are written as they are built, so memory
stays bounded and a 100,000-edge export takes seconds. Escaping is the same for every value
(:func:`escaped_text`, :func:`escaped_attribute`); the round-trip tests read the files back
with networkx.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, Final

import polars as pl

ROWS_PER_SLICE: Final = 20_000
XML_DECLARATION: Final = "<?xml version='1.0' encoding='utf-8'?>\n"
XSI_NAMESPACE: Final = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'

# Escapes in order: ``&`` first, so the entities added after it are not escaped again.
_TEXT_ESCAPES: Final = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;"))
# In an attribute value a parser turns a raw tab or line break into a space: keep them as
# character references. ``\r`` must be a reference in text too, or it reads back as ``\n``.
_ATTRIBUTE_ESCAPES: Final = (*_TEXT_ESCAPES, ('"', "&quot;"), ("\n", "&#10;"), ("\t", "&#9;"))


def _escaped(value: pl.Expr, escapes: Iterable[tuple[str, str]]) -> pl.Expr:
    for char, entity in escapes:
        value = value.str.replace_all(char, entity, literal=True)
    return value


def escaped_text(value: pl.Expr) -> pl.Expr:
    """``value`` (any type) as XML character data."""
    return _escaped(value.cast(pl.String), _TEXT_ESCAPES)


def escaped_attribute(value: pl.Expr) -> pl.Expr:
    """``value`` (any type) as the inside of a double-quoted XML attribute value."""
    return _escaped(value.cast(pl.String), _ATTRIBUTE_ESCAPES)


def text_value(value: str) -> str:
    """One string as XML character data (the same escapes as :func:`escaped_text`)."""
    for char, entity in _TEXT_ESCAPES:
        value = value.replace(char, entity)
    return value


def attribute_value(value: str) -> str:
    """One string as the inside of a double-quoted attribute (as :func:`escaped_attribute`)."""
    for char, entity in _ATTRIBUTE_ESCAPES:
        value = value.replace(char, entity)
    return value


def attribute(name: str, value: pl.Expr) -> pl.Expr:
    """`` name="value"`` (with its leading space), or nothing when the value is null."""
    text = pl.concat_str(pl.lit(f' {name}="'), escaped_attribute(value), pl.lit('"'))
    return pl.when(value.is_not_null()).then(text).otherwise(pl.lit(""))


def optional(value: pl.Expr, fragment: pl.Expr) -> pl.Expr:
    """``fragment`` where ``value`` is not null, else nothing (XML has no null)."""
    return pl.when(value.is_not_null()).then(fragment).otherwise(pl.lit(""))


def write_rows(handle: IO[str], frame: pl.DataFrame, element: Sequence[pl.Expr]) -> None:
    """Write one line per row of ``frame``: the concatenation of the ``element`` parts."""
    line = pl.concat_str(list(element)).alias("line")
    for part in frame.iter_slices(ROWS_PER_SLICE):
        handle.writelines(f"{text}\n" for text in part.select(line)["line"])


def xml_type(dtype: pl.DataType, *, integer: str = "long") -> str:
    """The GraphML/GEXF attribute type of a flat column (flat tables hold no lists)."""
    if dtype == pl.Boolean():
        return "boolean"
    if dtype.is_integer():
        return integer
    if dtype.is_float():
        return "double"
    return "string"
