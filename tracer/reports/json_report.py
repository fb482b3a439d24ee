"""Build ``report.json`` (the contract documented in the README) from a crawl."""

from __future__ import annotations

from typing import Any

from tracer import __version__
from tracer.crawl.crawler import CoverageStatus, CrawlResult
from tracer.labels.store import LabelStore
from tracer.reports.summary import LabelledFlow, counts_by_kind, flows_into_labelled
from tracer.screening.exposure import exposure_json, sanctions_exposure
from tracer.types import Address

REPORT_FORMAT_VERSION = 1


def build_report(
    *,
    chain_id: int,
    native_symbol: str,
    seeds: list[Address],
    crawl: CrawlResult,
    labels: LabelStore,
) -> dict[str, Any]:
    # Flows out of services (a hot wallet paying its customers) are not traced funds.
    traced = {address for address in crawl.coverage if not labels.is_service(address)}
    flows = flows_into_labelled(crawl.transfers, traced, labels, native_symbol)
    statuses = [entry.status for entry in crawl.coverage.values()]
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "tracer_version": __version__,
        "chain_id": chain_id,
        "head_block": crawl.head_block,
        "seeds": list(seeds),
        # Filled by the tracing engine; empty rather than guessed until it runs.
        "offramps": [],
        "mixer_links": [],
        "findings": [],
        "labelled_flows": [_flow_json(flow) for flow in flows],
        "sanctions_exposure": exposure_json(
            sanctions_exposure(
                crawl.transfers, labels.for_chain(chain_id), native_symbol=native_symbol
            )
        ),
        "coverage": {
            "addresses": len(statuses),
            "complete": statuses.count(CoverageStatus.COMPLETE),
            "truncated": statuses.count(CoverageStatus.TRUNCATED),
            "failed": statuses.count(CoverageStatus.FAILED),
            "entries": [
                {
                    "address": entry.address,
                    "hop": entry.hop,
                    "status": entry.status.value,
                    "reason": entry.reason,
                    "from_block": entry.from_block,
                    "to_block": entry.to_block,
                    "transfers": entry.transfers,
                }
                for entry in sorted(crawl.coverage.values(), key=lambda e: (e.hop, e.address))
            ],
        },
        "transfers": {"rows": crawl.transfers.height, "by_kind": counts_by_kind(crawl.transfers)},
    }


def _flow_json(flow: LabelledFlow) -> dict[str, Any]:
    return {
        "address": flow.address,
        "entity": flow.entity,
        "category": flow.category,
        "amounts": [
            {
                "asset": amount.symbol,
                "token_address": amount.token_address,
                "amount": amount.display(),
                "amount_raw": str(amount.raw),
            }
            for amount in flow.amounts
        ],
        "transactions": list(flow.transactions),
    }
