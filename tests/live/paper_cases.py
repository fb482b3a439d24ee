"""The TRacer paper's 20 cases (``fixtures/cases/tracer_paper/cases.json``) and how a trace of
one is scored: recall of the reported laundering addresses, and the nodes it took.

Recall of a case = targets reached / targets, where a target is reached when it appears in the
crawled transfer table (as sender or recipient): the crawl followed value to it. Nodes = the
distinct addresses in that table (the paper's cost measure). Over several cases, ``macro`` is
the mean of the per-case recalls (each case counts once, as in the paper) and ``micro`` the
share of all targets (dominated by the Upbit case's 813).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

CASES_FILE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "cases" / "tracer_paper" / "cases.json"
)
PAPER_BEST_RECALL = 0.9231  # the paper's best method, about 0.9K nodes per case


@dataclass(frozen=True)
class PaperCase:
    id: str
    chain: str  # a configs/chains.toml name
    block_at: int
    seeds: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass(frozen=True)
class CaseScore:
    case: str
    targets: int
    reached: tuple[str, ...]  # sorted
    nodes: int

    @property
    def recall(self) -> float:
        return len(self.reached) / self.targets


def load_cases(path: Path = CASES_FILE) -> list[PaperCase]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return [
        PaperCase(
            id=case["id"],
            chain=case["chain"],
            block_at=case["block_at"],
            seeds=tuple(seed["address"] for seed in case["seeds"]),
            targets=tuple(target["address"] for target in case["targets"]),
        )
        for case in document["cases"]
    ]


def score_addresses(case: PaperCase, addresses: Iterable[str]) -> CaseScore:
    """Score the set of addresses a trace of ``case`` reached (pure)."""
    seen = {address.lower() for address in addresses}
    reached = tuple(sorted(set(case.targets) & seen))
    return CaseScore(case.id, len(case.targets), reached, len(seen))


def score_case(case: PaperCase, transfers: pl.DataFrame) -> CaseScore:
    """Score one case's crawled transfer table: every sender and recipient was reached."""
    addresses = pl.concat([transfers["from_address"], transfers["to_address"]]).drop_nulls()
    return score_addresses(case, addresses.unique().to_list())


@dataclass(frozen=True)
class Summary:
    cases: int
    targets: int
    reached: int
    macro_recall: float
    micro_recall: float
    mean_nodes: float


def summarise(scores: Sequence[CaseScore]) -> Summary:
    if not scores:
        raise ValueError("no case was scored")
    targets = sum(score.targets for score in scores)
    reached = sum(len(score.reached) for score in scores)
    return Summary(
        cases=len(scores),
        targets=targets,
        reached=reached,
        macro_recall=sum(score.recall for score in scores) / len(scores),
        micro_recall=reached / targets,
        mean_nodes=sum(score.nodes for score in scores) / len(scores),
    )


def format_scores(scores: Sequence[CaseScore]) -> str:
    """The per-case lines and the total, as the live test prints them."""
    lines = [f"{'case':<24} {'recall':>8} {'reached':>9} {'nodes':>7}"]
    for score in scores:
        lines.append(
            f"{score.case:<24} {score.recall:>8.2%} "
            f"{len(score.reached):>4}/{score.targets:<4} {score.nodes:>7}"
        )
    total = summarise(scores)
    lines.append(
        f"{'total':<24} {total.macro_recall:>8.2%} {total.reached:>4}/{total.targets:<4} "
        f"{total.mean_nodes:>7.0f}  (mean per case; all targets pooled: "
        f"{total.micro_recall:.2%}; paper's best: {PAPER_BEST_RECALL:.2%} at ~900 nodes)"
    )
    return "\n".join(lines)
