"""The real public data sets in ../shared/data (next to the repository, as in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.labels.importers import ImportResult
from tracer.labels.importers.graphsense import load_actor_names
from tracer.labels.importers.ofac import import_sdn_advanced_xml

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def data_path(*parts: str) -> Path:
    """A file of the shared data sets; the test is skipped, saying why, when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data set not available: {path} (expected at ../shared/data)")
    return path


@pytest.fixture(scope="session")
def sdn_import() -> ImportResult:
    """The 2025-11-19 SDN advanced XML, imported once per session (~4 s)."""
    return import_sdn_advanced_xml(data_path("ofac-brave-intl", "sdn_advanced.xml.bz2"))


@pytest.fixture(scope="session")
def actors() -> dict[str, str]:
    return load_actor_names(
        data_path("graphsense-tagpacks-evm", "actors", "graphsense.actorpack.yaml")
    )
