"""A small, complete report.json (as tracer trace writes it) for the renderer tests.

Written out by hand so each renderer is checked against known facts: two assets at one
exchange deposit address (one with 6 decimals), a candidate below 0.5 at an OTC desk, a
bridge exit in a token whose decimals are unknown, a path with hops left out, one followed
and one candidate mixer link, two probed recipients (one followed later), findings of two
heuristics, a failed address and a data gap.
"""

from __future__ import annotations

from typing import Any

SEED = "0x" + "5e" * 20
DEPOSIT = "0x" + "d1" * 20
OTC = "0x" + "07" * 20
BRIDGE = "0x" + "b1" * 20
HOP = "0x" + "aa" * 20
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
ODD_TOKEN = "0x" + "12" * 20
ETH = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"


def tx(n: int) -> str:
    return f"0x{n:064x}"


def hop(  # noqa: PLR0917 (a hop, field by field)
    src: str, dst: str, n: int, asset: tuple[str, str, int | None], amount: str | None, raw: str
) -> dict[str, Any]:
    symbol, token, decimals = asset
    return {
        "from": src, "to": dst, "tx": tx(n), "block": 19_000_000 + n,
        "time": f"2024-05-01T10:{n:02d}:00Z", "asset": symbol, "token_address": token,
        "decimals": decimals, "amount": amount, "amount_raw": raw,
    }  # fmt: skip


ETH_ASSET = ("ETH", ETH, 18)
USDC_ASSET = ("USDC", USDC, 6)
ODD_ASSET = ("token 0x12121212…", ODD_TOKEN, None)


def report() -> dict[str, Any]:
    return {
        "format_version": 1,
        "tracer_version": "0.1.0",
        "chain_id": 1,
        "head_block": 19_000_100,
        "seeds": [SEED],
        "offramps": [
            {
                "address": BRIDGE, "category": "bridge", "entity": "Testbed Bridge",
                "asset": ODD_ASSET[0], "amount": None, "confidence": 1.0,
                "evidence": [tx(9)], "chain_id": 1, "token_address": ODD_TOKEN,
                "decimals": None, "amount_raw": "225000000000", "identified_by": "label",
                "arrivals": [
                    {"tx": tx(9), "block": 19_000_009, "amount_raw": "225000000000",
                     "destination_chain_id": 137, "recipient": "0x" + "fa" * 20,
                     "time": "2024-05-01T10:09:00Z"},
                ],
                "paths": [{"seed": SEED, "omitted_hops": 0,
                           "hops": [hop(SEED, BRIDGE, 9, ODD_ASSET, None, "225000000000")]}],
                "paths_omitted": 0,
            },
            {
                "address": DEPOSIT, "category": "exchange_deposit", "entity": "Exchange A",
                "asset": "ETH", "amount": "1.5", "confidence": 0.85,
                "evidence": [tx(3), tx(4), tx(5)], "chain_id": 1, "token_address": ETH,
                "decimals": 18, "amount_raw": "1500000000000000000",
                "identified_by": "exchange-deposit-address",
                "arrivals": [
                    {"tx": tx(3), "block": 19_000_003, "amount_raw": "1000000000000000000",
                     "time": "2024-05-01T10:03:00Z"},
                    {"tx": tx(4), "block": 19_000_004, "amount_raw": "500000000000000000",
                     "time": "2024-05-01T10:04:00Z"},
                ],
                "paths": [
                    {"seed": SEED, "omitted_hops": 2, "hops": [
                        hop(HOP, DEPOSIT, 3, ETH_ASSET, "1", "1000000000000000000")]},
                ],
                "paths_omitted": 1,
            },
            {
                "address": DEPOSIT, "category": "exchange_deposit", "entity": "Exchange A",
                "asset": "USDC", "amount": "2500.25", "confidence": 0.85, "evidence": [tx(6)],
                "chain_id": 1, "token_address": USDC, "decimals": 6, "amount_raw": "2500250000",
                "identified_by": "exchange-deposit-address",
                "arrivals": [{"tx": tx(6), "block": 19_000_006, "amount_raw": "2500250000",
                              "time": "2024-05-01T10:06:00Z"}],
                "paths": [
                    {"seed": SEED, "omitted_hops": 0, "hops": [
                        hop(SEED, HOP, 2, USDC_ASSET, "4000", "4000000000"),
                        hop(HOP, DEPOSIT, 6, USDC_ASSET, "2500.25", "2500250000")]},
                ],
                "paths_omitted": 0,
            },
            {
                "address": OTC, "category": "otc", "entity": "OTC Desk", "asset": "ETH",
                "amount": "0.25", "confidence": 0.3, "evidence": [tx(7)], "chain_id": 1,
                "token_address": ETH, "decimals": 18, "amount_raw": "250000000000000000",
                "identified_by": "label",
                "arrivals": [{"tx": tx(7), "block": 19_000_007, "amount_raw": "250000000000000000",
                              "time": "2024-05-01T10:07:00Z"}],
                "paths": [{"seed": SEED, "omitted_hops": 0, "hops": [
                    hop(SEED, OTC, 7, ETH_ASSET, "0.25", "250000000000000000")]}],
                "paths_omitted": 0,
            },
        ],
        "mixer_links": [
            {"mixer": "0x" + "33" * 20, "deposit_tx": tx(20), "withdrawal_tx": tx(21),
             "withdrawal_address": "0x" + "d0" * 20, "confidence": 0.7,
             "heuristics": ["mixer-timing"], "followed": True},
            {"mixer": "0x" + "33" * 20, "deposit_tx": tx(20), "withdrawal_tx": tx(22),
             "withdrawal_address": "0x" + "d2" * 20, "confidence": 0.2,
             "heuristics": ["mixer-relayer", "mixer-timing"]},
        ],
        "probes": [
            {"address": "0x" + "d0" * 20, "round": 1, "from_block": 19_000_021,
             "to_block": 19_000_080, "withdrawal_txs": [tx(21)], "confidence": 0.45,
             "transfers": 4, "crawled": True},
            {"address": "0x" + "d2" * 20, "round": 1, "from_block": 19_000_022,
             "to_block": 19_000_090, "withdrawal_txs": [tx(22), tx(23), tx(24), tx(25)],
             "confidence": 0.2, "transfers": 0, "crawled": False},
        ],
        "findings": [
            {"id": "00000000000000a1", "heuristic": "peel-chain", "confidence": 0.8,
             "subjects": [SEED, HOP], "evidence": [tx(2), tx(3)], "details": {}},
            {"id": "00000000000000b2", "heuristic": "rapid-pass-through", "confidence": 0.9,
             "subjects": [HOP], "evidence": [tx(2)], "details": {}},
            {"id": "00000000000000c3", "heuristic": "rapid-pass-through", "confidence": 0.6,
             "subjects": [SEED], "evidence": [tx(1)], "details": {}},
        ],
        "labelled_flows": [],
        "sanctions_exposure": {"stops_at": [], "sanctioned": [], "forward": [], "backward": []},
        "coverage": {
            "addresses": 3, "complete": 1, "truncated": 1, "failed": 1,
            "trace_path": "trace_filter",
            "gaps": ["internal transfers are missing: the node has no trace API"],
            "entries": [
                {"address": SEED, "hop": 0, "status": "complete", "reason": None,
                 "from_block": 19_000_000, "to_block": 19_000_100, "transfers": 9},
                {"address": HOP, "hop": 1, "status": "truncated", "reason": "hub",
                 "from_block": 19_000_002, "to_block": 19_000_100, "transfers": 200},
                {"address": "0x" + "fe" * 20, "hop": 2, "status": "failed",
                 "reason": "node error -32000", "from_block": 19_000_003,
                 "to_block": 19_000_100, "transfers": 0},
            ],
        },
        "transfers": {"rows": 42, "by_kind": {"erc20": 12, "native": 30}},
        "window": {"from_block": 19_000_000, "to_block": 19_000_100},
        "policy": "haircut",
    }  # fmt: skip
