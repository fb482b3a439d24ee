"""The published demixing work the signals follow (cited by each heuristic's spec)."""

from __future__ import annotations

from typing import Final

from tracer.heuristics.base import Reference

TUTELA: Final = Reference(
    "Wu et al., Tutela: An Open-Source Tool for Assessing User-Privacy on Ethereum and "
    "Tornado Cash (2022)",
    "https://arxiv.org/abs/2201.06811",
)
BERES: Final = Reference(
    "Béres, Seres, Benczúr, Quintyne-Collins, Blockchain is Watching You: Profiling and "
    "Deanonymizing Ethereum Users (IEEE DAPPS 2021; arXiv 2020)",
    "https://arxiv.org/abs/2005.14051",
)
ELLIPTIC_RONIN: Final = Reference(
    "Elliptic, North Korea's Lazarus Group identified as exploiters behind $540 million Ronin "
    "bridge heist (2022): stolen ETH pushed through Tornado Cash in bursts",
    "https://www.elliptic.co/blog/540-million-stolen-from-the-ronin-defi-bridge",
)
TREASURY_TORNADO: Final = Reference(
    "U.S. Treasury, Treasury Sanctions Notorious Virtual Currency Mixer Tornado Cash (2022)",
    "https://home.treasury.gov/news/press-releases/jy0916",
)
