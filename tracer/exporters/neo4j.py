"""Neo4j: a ``neo4j-admin database import`` CSV bundle plus a ``LOAD CSV`` script.

``nodes.csv`` and ``transfers.csv`` have neo4j-admin headers (``address:ID(Address)``,
``:LABEL``, ``:START_ID(Address)``, ``:END_ID(Address)``, ``:TYPE``, typed columns such as
``first_seen:datetime``, arrays such as ``labels:string[]``), so the offline importer reads
them as they are, and ``load.cypher`` loads the same files into a running database. Amounts
are strings (Neo4j integers are 64-bit). ``style.grass`` is the legend as a Neo4j Browser
style sheet.

Arrays use U+001F (the ASCII unit separator) between elements, not neo4j-admin's default
``;``: label text may hold a ``;``, never a control character (those become U+FFFD). Labels may
hold line breaks, hence ``--multiline-fields=true``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from tracer.atomic import atomic_write_text
from tracer.exporters.legend import LegendEntry
from tracer.exporters.text import REPLACEMENT, csv_text
from tracer.exporters.view import TIME_FORMAT, ExportView

ARRAY_DELIMITER: Final = "\x1f"
ID_GROUP: Final = "Address"
RELATIONSHIP: Final = "TRANSFER"
NODES_FILE: Final = "nodes.csv"
TRANSFERS_FILE: Final = "transfers.csv"

# (header, view column or None when computed); the order is the file's.
NODE_COLUMNS: Final = (
    (f"address:ID({ID_GROUP})", "id"),
    (":LABEL", None),
    ("label", "label"),
    ("role", "role"),
    ("category", "category"),
    ("entity", "entity"),
    ("labels:string[]", "labels"),
    ("seed:boolean", "seed"),
    ("stop:boolean", "stop"),
    ("offramp", "offramp"),
    ("first_seen:datetime", "first_seen"),
    ("last_seen:datetime", "last_seen"),
    ("first_traced:datetime", "first_traced"),
    ("traced_assets:string[]", None),
    ("traced_received_raw:string[]", None),
    ("traced_sent_raw:string[]", None),
    ("traced_held_raw:string[]", None),
    ("label_details", None),  # JSON text: Neo4j properties hold no maps
    ("colour", "colour"),
    ("shape", "shape"),
)
EDGE_COLUMNS: Final = (
    (f":START_ID({ID_GROUP})", "source"),
    (f":END_ID({ID_GROUP})", "target"),
    (":TYPE", None),
    ("id", "id"),
    ("asset", "asset"),
    ("token_address", "token_address"),
    ("token_id", "token_id"),
    ("token_symbol", "token_symbol"),
    ("token_decimals:long", "token_decimals"),
    ("transfer_kind", "transfer_kind"),
    ("amount_raw", "amount_raw"),
    ("traced_raw", "traced_raw"),
    ("converted_raw", "converted_raw"),
    ("traced_amount", "traced_amount"),
    ("label", "label"),
    ("transfers:long", "transfers"),
    ("first_time:datetime", "first_time"),
    ("last_time:datetime", "last_time"),
    ("first_block:long", "first_block"),
    ("last_block:long", "last_block"),
    ("tx_hashes:string[]", "tx_hashes"),
)


def write_neo4j(view: ExportView, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = {
        NODES_FILE: csv_text([c[0] for c in NODE_COLUMNS], _node_rows(view)),
        TRANSFERS_FILE: csv_text([c[0] for c in EDGE_COLUMNS], _edge_rows(view)),
        "load.cypher": load_cypher(view.legend),
        "style.grass": grass(view.legend),
    }
    for name, text in written.items():
        atomic_write_text(directory / name, text)
    return [directory / name for name in written]


def node_label(role: str) -> str:
    """The Neo4j label for a role: ``deposit_detected`` → ``DepositDetected``."""
    return "".join(part.capitalize() for part in role.split("_"))


def _node_rows(view: ExportView) -> Iterable[dict[str, str]]:
    for row in view.nodes.iter_rows(named=True):
        traced = row["traced"] or []
        computed = {
            ":LABEL": _array(["Address", node_label(row["role"])]),
            "traced_assets:string[]": _array(t["asset"] for t in traced),
            "traced_received_raw:string[]": _array(t["received_raw"] for t in traced),
            "traced_sent_raw:string[]": _array(t["sent_raw"] for t in traced),
            "traced_held_raw:string[]": _array(t["held_raw"] for t in traced),
            "label_details": _text(json.dumps(row["label_details"] or [])),
        }
        yield {
            header: computed[header] if column is None else _cell(row[column])
            for header, column in NODE_COLUMNS
        }


def _edge_rows(view: ExportView) -> Iterable[dict[str, str]]:
    for row in view.edges.iter_rows(named=True):
        yield {
            header: RELATIONSHIP if column is None else _cell(row[column])
            for header, column in EDGE_COLUMNS
        }


def _cell(value: Any) -> str:
    if value is None:
        return ""  # neo4j-admin and LOAD CSV both read an empty field as no property
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return _array(str(item) for item in value)
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    return _text(str(value))


def _array(items: Iterable[str]) -> str:
    return ARRAY_DELIMITER.join(_text(item) for item in items)


def _text(text: str) -> str:
    # NUL and the array delimiter cannot be told apart from structure; nothing real uses them.
    return text.replace(ARRAY_DELIMITER, REPLACEMENT).replace("\x00", REPLACEMENT)


def load_cypher(legend: Sequence[LegendEntry]) -> str:
    """Cypher that loads the two CSV files into a running database (Neo4j 5)."""
    split = "'\\u001F'"

    def array(header: str) -> str:
        return f"split(row.`{header}`, {split})"

    node_sets = ",\n      ".join(
        f"a.{header.partition(':')[0]} = {_convert(header, array)}"
        for header, column in NODE_COLUMNS
        if column != "id" and header != ":LABEL"
    )
    edge_sets = ",\n      ".join(
        f"t.{header.partition(':')[0]} = {_convert(header, array)}"
        for header, column in EDGE_COLUMNS
        if column not in {"source", "target", None, "id"}
    )
    labels = "\n".join(
        f"MATCH (a:Address {{role: '{entry.role}'}}) SET a:{node_label(entry.role)};"
        for entry in legend
    )
    return f"""// tracer export for Neo4j 5. Two ways to import this directory:
//
// 1. Offline, into a new database (fastest; the database must not exist yet):
//      neo4j-admin database import full --nodes={NODES_FILE} \\
//        --relationships={TRANSFERS_FILE} --array-delimiter=U+001F \\
//        --multiline-fields=true neo4j
//
// 2. Into a running database: copy {NODES_FILE} and {TRANSFERS_FILE} into its import
//    directory, then run this file:
//      cypher-shell -u neo4j -p PASSWORD -f load.cypher
//    (in Neo4j Browser, prefix each LOAD CSV statement with :auto)
//
// Amounts (*_raw) are exact decimal strings of base units: Neo4j integers are 64-bit.

CREATE CONSTRAINT tracer_address IF NOT EXISTS
FOR (a:Address) REQUIRE a.address IS UNIQUE;

LOAD CSV WITH HEADERS FROM 'file:///{NODES_FILE}' AS row
CALL {{
  WITH row
  MERGE (a:Address {{address: row.`address:ID({ID_GROUP})`}})
  SET {node_sets}
}} IN TRANSACTIONS OF 10000 ROWS;

{labels}

LOAD CSV WITH HEADERS FROM 'file:///{TRANSFERS_FILE}' AS row
CALL {{
  WITH row
  MATCH (s:Address {{address: row.`:START_ID({ID_GROUP})`}})
  MATCH (d:Address {{address: row.`:END_ID({ID_GROUP})`}})
  MERGE (s)-[t:{RELATIONSHIP} {{id: row.id}}]->(d)
  SET {edge_sets}
}} IN TRANSACTIONS OF 10000 ROWS;
"""


def _convert(header: str, array: Callable[[str], str]) -> str:
    kind = header.partition(":")[2]
    field = f"row.`{header}`" if kind else f"row.{header}"
    if kind.endswith("[]"):
        return array(header)
    return {
        "boolean": f"toBoolean({field})",
        "datetime": f"datetime({field})",
        "long": f"toInteger({field})",
    }.get(kind, field)


def grass(legend: Sequence[LegendEntry]) -> str:
    """The legend as a Neo4j Browser style sheet (drag it onto the Browser, or ``:style``)."""
    rules = [
        "node {\n  diameter: 40px;\n  caption: '{label}';\n}",
        "relationship {\n  caption: '{label}';\n}",
    ]
    rules += [
        f"node.{node_label(entry.role)} {{\n  color: {entry.colour};\n"
        f"  border-color: {entry.colour};\n}}"
        for entry in legend
    ]
    return "\n".join(rules) + "\n"
