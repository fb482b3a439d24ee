"""Maltego: entity and link tables for the "Import Graph from Table" wizard.

``links.csv`` has one row per edge: map ``from_address`` and ``to_address`` to the entity
type named in their ``*_entity_type`` column (``maltego.ETHAddress`` on Ethereum, the
generic ``maltego.CryptocurrencyAddress`` elsewhere; both keep the address in
``properties.cryptocurrencyaddress``), link them, and take ``link_label`` as the link's label.
``entities.csv`` has one row per address with its attributes, so addresses and their labels
can be imported (or merged) on their own. Maltego cannot take colours from a table:
``legend.csv`` lists each role's colour and shape to set them as overlays by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from tracer.atomic import atomic_write_text
from tracer.exporters.text import csv_text
from tracer.exporters.view import ExportView, flat_edges, flat_nodes, legend_csv

ETHEREUM_CHAIN_ID: Final = 1
ETH_ADDRESS: Final = "maltego.ETHAddress"
CRYPTO_ADDRESS: Final = "maltego.CryptocurrencyAddress"
ENTITY_COLUMNS: Final = (
    "entity_type", "address", "label", "role", "category", "entity", "labels", "seed", "stop",
    "offramp", "first_seen", "last_seen", "first_traced", "traced", "label_details", "colour",
    "shape",
)  # fmt: skip
LINK_COLUMNS: Final = (
    "from_entity_type", "from_address", "to_entity_type", "to_address", "link_label",
    "edge_id", "asset", "token_symbol", "traced_amount", "traced_raw", "amount_raw",
    "transfers", "first_time", "last_time", "tx_hashes",
)  # fmt: skip


def entity_type(chain_id: int | None) -> str:
    return ETH_ADDRESS if chain_id == ETHEREUM_CHAIN_ID else CRYPTO_ADDRESS


def write_maltego(view: ExportView, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    kind = entity_type(view.chain_id)
    entities = (
        {**row, "entity_type": kind, "address": row["id"]}
        for row in flat_nodes(view).iter_rows(named=True)
    )
    links = (
        {
            **row,
            "from_entity_type": kind,
            "from_address": row["source"],
            "to_entity_type": kind,
            "to_address": row["target"],
            "link_label": row["label"],
            "edge_id": row["id"],
        }
        for row in flat_edges(view).iter_rows(named=True)
    )
    files = {
        "entities.csv": csv_text(ENTITY_COLUMNS, entities),
        "links.csv": csv_text(LINK_COLUMNS, links),
        "legend.csv": legend_csv(view),
    }
    for name, text in files.items():
        atomic_write_text(directory / name, text)
    return [directory / name for name in files]
