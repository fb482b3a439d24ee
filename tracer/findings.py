"""Findings: what a heuristic concluded, about which addresses, on what evidence.

A finding's id is derived from its content (heuristic, subjects, evidence), never from a
counter or the order heuristics ran in, so the same case traced twice yields the same ids and
a reviewer's notes on ``finding 3f9c…`` stay attached to the right finding. Report order is
canonical too: by heuristic, then by id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_ID_LENGTH = 16  # hex digits: 64 bits, ample for the findings of one case


@dataclass(frozen=True, slots=True)
class Finding:
    """One conclusion of one heuristic.

    ``subjects`` are the addresses it is about (lowercase hex), ``evidence`` the transaction
    hashes that support it, ``details`` the heuristic's own structured explanation (amounts as
    exact decimal strings, parameters used, per-signal scores), and ``confidence`` the
    heuristic's estimate in [0, 1] that the conclusion is right.
    """

    heuristic: str
    confidence: float
    subjects: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside [0, 1]")
        if not self.subjects:
            raise ValueError(f"a {self.heuristic} finding needs at least one subject")

    @property
    def id(self) -> str:
        return finding_id(self.heuristic, self.subjects, self.evidence)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "heuristic": self.heuristic,
            "confidence": round(self.confidence, 4),
            "subjects": list(self.subjects),
            "evidence": list(self.evidence),
            "details": dict(self.details),
        }


def finding_id(heuristic: str, subjects: Iterable[str], evidence: Iterable[str]) -> str:
    """Stable content id: the same heuristic, subjects and evidence give the same id."""
    canonical = json.dumps(
        [heuristic, sorted(set(subjects)), sorted(set(evidence))], separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:_ID_LENGTH]


def canonical_order(findings: Iterable[Finding]) -> list[Finding]:
    """Report order, independent of the order heuristics ran in.

    Two findings with the same id are the same conclusion reached twice: the more confident
    one is kept (ties: the first), so the result does not depend on input order.
    """
    unique: dict[str, Finding] = {}
    for finding in findings:
        kept = unique.get(finding.id)
        if kept is None or finding.confidence > kept.confidence:
            unique[finding.id] = finding
    return sorted(unique.values(), key=lambda finding: (finding.heuristic, finding.id))
