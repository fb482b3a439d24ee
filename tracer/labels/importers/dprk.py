"""DPRK (Lazarus Group) case data: role-annotated case seeds and official address lists.

``dprk_case_seeds.csv`` (columns ``case,incident_date,chain,address,role,note,
official_list,source``) records, per theft, who the victim was, which addresses the
attackers used to receive, hop, swap and launder the funds, and where the funds ended
(``cex_deposit:<Exchange>``). Roles map to categories by ``ROLE_CATEGORIES``; the research
confidence per role is in ``ROLE_CONFIDENCE`` (demixed Tornado withdrawers are the least
certain link). The FBI lists are one address per line.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from urllib.parse import quote

from tracer.errors import InputFileError
from tracer.labels.importers import ImportResult
from tracer.labels.model import Category

DPRK_ENTITY = "Lazarus Group (DPRK)"

ROLE_CATEGORIES: dict[str, Category] = {
    "victim": Category.VICTIM,
    "victim_signer": Category.VICTIM,
    "victim_signer_compromised": Category.VICTIM,
    "attacker": Category.THIEF,
    "attacker_contract": Category.THIEF,
    "theft_receiver": Category.THIEF,
    "exploiter": Category.THIEF,
    "hop": Category.THIEF,
    "hop1": Category.THIEF,
    "hop2": Category.THIEF,
    "hop1_10k": Category.THIEF,
    "hop_steth": Category.THIEF,
    "swap": Category.THIEF,
    "intermediary_to_mixer": Category.THIEF,
    "intermediary_to_cex": Category.THIEF,
    "mixer_depositor": Category.THIEF,
    "mixer_withdrawer": Category.THIEF,
    "mixer_withdrawer_to_bridge": Category.THIEF,
    "laundering_contract": Category.THIEF,
    "dormant": Category.THIEF,
    "fbi_listed": Category.THIEF,
    "cex_deposit": Category.EXCHANGE_DEPOSIT,
    "reported_destination": Category.OTHER,
}

# Probability that the role is right, as the research supports it: addresses the attackers
# demonstrably controlled (they received the theft or moved it on) vs. links that rest on
# demixing or on a third party's report.
ROLE_CONFIDENCE: dict[str, float] = {
    "mixer_withdrawer": 0.6,
    "mixer_withdrawer_to_bridge": 0.6,
    "reported_destination": 0.5,
}
_DEFAULT_CONFIDENCE = 0.8
_OFFICIAL_CONFIDENCE = 0.9  # listed by the FBI as holding or handling the proceeds

_COLUMNS = ("case", "incident_date", "chain", "address", "role", "note", "official_list", "source")


def import_case_seeds(
    path: Path, *, snapshots: dict[str, tuple[str, str]] | None = None
) -> ImportResult:
    """Labels from ``dprk_case_seeds.csv``.

    Sources written ``owner/repo:path@commit`` become GitHub URLs. ``snapshots`` maps a
    repository to the ``(date, commit)`` of the snapshot its rows come from, for sources
    written without a commit; rows without a known date are dated by the incident.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(path, "case seed file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read case seed file: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in _COLUMNS if column not in (reader.fieldnames or ())]
    if missing:
        raise InputFileError(path, f"missing column(s) {', '.join(missing)}", line=1)
    result = ImportResult()
    for row in reader:
        result.entries += 1
        line = reader.line_num
        role = (row.get("role") or "").strip()
        base_role, _, exchange = role.partition(":")
        category = ROLE_CATEGORIES.get(base_role)
        where = f"{path.name}:{line}"
        if category is None:
            result.reject(where, row.get("address") or "", f"unknown role {role!r}")
            continue
        case = (row.get("case") or "").strip()
        raw_source = (row.get("source") or "").strip()
        repository = raw_source.split(":", 1)[0]
        snapshot = (snapshots or {}).get(repository)
        source = _source_url(raw_source, snapshot[1] if snapshot else None)
        official = (row.get("official_list") or "").strip()
        if official:
            source = f"{source}; {official}"
        incident = (row.get("incident_date") or "").strip()
        date = snapshot[0] if snapshot else incident
        note = (row.get("note") or "").strip()
        if category is Category.EXCHANGE_DEPOSIT:
            entity: str | None = exchange.strip() or None
        elif category in (Category.VICTIM, Category.OTHER):
            entity = None
        else:
            entity = DPRK_ENTITY
        confidence = _OFFICIAL_CONFIDENCE if official else ROLE_CONFIDENCE.get(base_role)
        result.add(
            {
                "address": row.get("address"),
                "chain": row.get("chain"),
                "entity": entity,
                "name": f"{case.capitalize()} {incident[:4]} {role}: {note}" if note else None,
                "category": category.value,
                "confidence": str(confidence or _DEFAULT_CONFIDENCE),
                "date": date,
                "source": source,
            },
            path,
            line,
            default_source=f"file:{path.name}",
        )
    return result


_GITHUB_FILE = re.compile(r"^([\w.-]+/[\w.-]+):(.+?)@([0-9a-f]{40})(.*)$")
_GITHUB_REPO = re.compile(r"^([\w.-]+/[\w.-]+):(.*)$")


def _source_url(source: str, commit: str | None) -> str:
    """``owner/repo:path@commit note`` -> a GitHub URL of that file at that commit."""
    file = _GITHUB_FILE.match(source)
    if file:
        repo, path, sha, rest = file.groups()
        return f"https://github.com/{repo}/blob/{sha}/{quote(path)}{rest}"
    named = _GITHUB_REPO.match(source)
    if named:
        repo, rest = named.groups()
        at = f" @{commit}" if commit else ""
        return f"https://github.com/{repo}{at} {rest.strip()}"
    return source


def import_address_list(
    path: Path,
    *,
    name: str,
    category: Category,
    source: str,
    date: str,
    entity: str | None = None,
    confidence: float = 1.0,
    chain: str = "evm",
) -> ImportResult:
    """One address per line (blank lines and ``#`` comments ignored), all labelled alike."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise InputFileError(path, "address list not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read address list: {exc}") from exc
    result = ImportResult(date=date)
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        result.entries += 1
        result.add(
            {
                "address": text,
                "chain": chain,
                "entity": entity,
                "name": name,
                "category": category.value,
                "confidence": str(confidence),
                "date": date,
                "source": source,
            },
            path,
            number,
            default_source=source,
        )
    return result
