"""The one legend every export and view shares: node role → colour and shape.

A node's role is its label category (:class:`tracer.labels.model.Category`) or one of the
roles the trace itself gives: ``seed``, ``deposit_detected`` (an exchange deposit address found
by behaviour) and ``unlabelled``. Colours are chosen to stay apart for the common forms of
colour blindness (Okabe-Ito palette); shapes carry the same meaning for print and for readers
who cannot tell the colours apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tracer.labels.model import Category


@dataclass(frozen=True, slots=True)
class LegendEntry:
    role: str
    title: str
    colour: str  # "#rrggbb"
    shape: str  # a shape name every target understands: ellipse, box, diamond, triangle, ...


SEED: Final = "seed"
DEPOSIT_DETECTED: Final = "deposit_detected"
UNLABELLED: Final = "unlabelled"

_ENTRIES: Final[tuple[LegendEntry, ...]] = (
    LegendEntry(SEED, "Seed (start of the trace)", "#d55e00", "star"),
    LegendEntry(Category.THIEF, "Attributed to the perpetrator", "#cc3311", "octagon"),
    LegendEntry(Category.SANCTIONED, "Sanctioned", "#000000", "octagon"),
    LegendEntry(Category.MIXER, "Mixer", "#cc79a7", "hexagon"),
    LegendEntry(Category.BRIDGE, "Bridge", "#56b4e9", "triangle"),
    LegendEntry(Category.DEX, "DEX / swap", "#f0e442", "diamond"),
    LegendEntry(Category.WRAPPED_NATIVE, "Wrapped native token", "#e6d96a", "diamond"),
    LegendEntry(Category.EXCHANGE, "Exchange (hot or cold wallet)", "#009e73", "box"),
    LegendEntry(Category.EXCHANGE_DEPOSIT, "Exchange deposit address (labelled)", "#2ab38a", "box"),
    LegendEntry(DEPOSIT_DETECTED, "Exchange deposit address (detected)", "#7fd1b0", "box"),
    LegendEntry(Category.OTC, "OTC desk", "#0072b2", "box"),
    LegendEntry(Category.TOKEN, "Token contract", "#bbbbbb", "diamond"),
    LegendEntry(Category.DEFI, "DeFi protocol", "#999933", "diamond"),
    LegendEntry(Category.VICTIM, "Victim", "#e69f00", "ellipse"),
    LegendEntry(Category.OTHER, "Other labelled address", "#aa99cc", "ellipse"),
    LegendEntry(UNLABELLED, "Unlabelled address (hop wallet)", "#8a8a8a", "ellipse"),
)

LEGEND: Final[dict[str, LegendEntry]] = {str(entry.role): entry for entry in _ENTRIES}


def legend_entry(role: str | None) -> LegendEntry:
    """The entry for ``role``; unknown or missing roles draw as unlabelled."""
    return LEGEND.get(role or UNLABELLED, LEGEND[UNLABELLED])
