"""Freeze-request packs: per exchange or OTC desk, what an investigator sends to it.

``freeze/<entity-slug>/deposits.csv`` lists the deposit addresses traced funds reached, per
asset, with the exact amounts, the transactions and the first and last arrival; ``request.md``
is a short letter asking the service to freeze the funds and preserve its customer records.
Only custodial services are asked (exchanges, exchange deposit addresses, OTC desks) and only
for attributions (confidence 0.5 and above): a candidate is for the investigator to review,
not for a letter. The letter states what the report says and nothing more; what only the
investigator knows (who they are, the case reference, the legal basis) is left as
bracketed placeholders.

Entity names come from label files: :func:`entity_slug` makes a directory name of one that
cannot climb out of ``freeze/``, is never empty, and does not collide with another entity's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tracer.reports.markdown import table
from tracer.reports.mdtext import md_code, md_text, md_time
from tracer.reports.view import (
    ATTRIBUTION,
    FREEZABLE,
    amount_text,
    arrival_times,
    arrival_txs,
    asset_of,
    chain_text,
    group_by_entity,
    window_text,
)

DEPOSITS_FILE: Final = "deposits.csv"
REQUEST_FILE: Final = "request.md"
DEPOSIT_COLUMNS: Final = (
    "chain_id", "deposit_address", "category", "asset", "token_address", "amount",
    "amount_raw", "confidence", "transactions", "first_arrival_utc", "last_arrival_utc",
)  # fmt: skip
_MAX_SLUG: Final = 48
# Device names Windows refuses as file names whatever the extension.
_RESERVED: Final = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in range(1, 10)}
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class FreezePack:
    entity: str
    slug: str
    deposits_csv: str
    request_md: str


def entity_slug(name: str) -> str:
    """A safe directory name: lowercase ASCII letters, digits and single hyphens.

    Accents are dropped (``Bítstamp`` → ``bitstamp``); anything else (``/``, ``..``, spaces,
    control characters) separates words. A name with nothing left, or a reserved device name,
    gets ``entity-`` and a digest of the name, so distinct names stay distinct.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:_MAX_SLUG].strip("-")
    if not slug or slug in _RESERVED:
        return f"entity-{_digest(name)}"
    return slug


def unique_slugs(names: Iterable[str]) -> dict[str, str]:
    """Name → slug; names whose slugs collide (``Exchange A``, ``exchange-a``) get a digest."""
    ordered = sorted(set(names))
    slugs = {name: entity_slug(name) for name in ordered}
    counts: dict[str, int] = {}
    for slug in slugs.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {
        name: slug if counts[slug] == 1 else f"{slug}-{_digest(name)}"
        for name, slug in slugs.items()
    }


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def freeze_packs(report: Mapping[str, Any]) -> list[FreezePack]:
    """One pack per custodial entity with attributed deposits, in entity order."""
    wanted = [
        offramp
        for offramp in report.get("offramps", [])
        if offramp["category"] in FREEZABLE and float(offramp["confidence"]) >= ATTRIBUTION
    ]
    groups = group_by_entity(wanted)
    slugs = unique_slugs(group.entity for group in groups)
    return [
        FreezePack(
            group.entity,
            slugs[group.entity],
            deposits_csv(group.offramps),
            request_letter(report, group.entity, group.offramps),
        )
        for group in groups
    ]


def deposits_csv(offramps: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DEPOSIT_COLUMNS)
    for offramp in offramps:
        first, last = arrival_times(offramp)
        cells = (
            offramp.get("chain_id", ""),
            offramp["address"],
            offramp["category"],
            offramp["asset"],
            offramp.get("token_address", ""),
            offramp.get("amount") or "",
            offramp["amount_raw"],
            offramp["confidence"],
            " ".join(arrival_txs(offramp)),
            first or "",
            last or "",
        )
        # Every cell, not only the label ones: report.json may be edited by hand.
        writer.writerow([_cell(value) for value in cells])
    return buffer.getvalue()


def _cell(value: object) -> str:
    """Text a spreadsheet must not run as a formula (a token symbol such as ``=HYPERLINK``)."""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def request_letter(
    report: Mapping[str, Any], entity: str, offramps: Iterable[Mapping[str, Any]]
) -> str:
    entries = list(offramps)
    seeds = ", ".join(md_code(seed) for seed in report.get("seeds", []))
    deposits = table(
        ("address", "category", "traced amount", "raw units", "first arrival", "last arrival"),
        (
            (md_code(o["address"]), md_text(o["category"]), amount_text(asset_of(o), md_text),
             md_code(o["amount_raw"]), *map(md_time, arrival_times(o)))
            for o in entries
        ),
    )  # fmt: skip
    transactions = table(
        ("transaction", "block", "time", "into address", "traced amount"),
        (
            (md_code(a["tx"]), md_code(a["block"]), md_time(a.get("time")), md_code(o["address"]),
             amount_text(asset_of({**o, "amount_raw": a["amount_raw"]}), md_text))
            for o in entries
            for a in o.get("arrivals", [])
        ),
    )  # fmt: skip
    name = md_text(entity)
    return (
        "\n\n".join(
            [
                f"# Request to freeze funds and preserve records: {name}",
                f"To: the compliance or law-enforcement response team of {name}  \n"
                "From: [investigator, organisation, contact details]  \n"
                "Reference: [case reference]",
                "We are investigating the movement of funds from the following address(es) in "
                f"connection with [describe the case and the legal basis]: {seeds}. Tracing on "
                f"{md_text(chain_text(report))}, {md_text(window_text(report))}, attributes the "
                f"addresses below to {name}. The amounts are the part of each transfer "
                "counted as traced funds under the "
                f"{md_text(report.get('policy', 'stated'))} taint policy.",
                deposits,
                "The transactions that moved the traced funds into these addresses:",
                transactions,
                "We ask you to:\n\n"
                "1. freeze, or hold for review, the funds these transfers credited to your "
                "customers' accounts, to the extent your terms and the applicable law allow;\n"
                "2. preserve all records on those accounts: identity (KYC) documents, account "
                "and login history with IP addresses and devices, deposits, withdrawals with their "
                "destination addresses, and internal transfers;\n"
                "3. tell us whether the funds are still held, and which records you preserved, so "
                "that the formal request for their disclosure can name them.",
                f"The attached {DEPOSITS_FILE} lists the same deposits, one row per address and "
                "asset, with the exact amounts in the token's smallest unit.",
                "[Signature]",
            ]
        )
        + "\n"
    )
