"""Address normalisers per network: real addresses accepted, typos and impostors refused."""

from __future__ import annotations

import pytest

from tests.labels.conftest import data_path
from tracer.errors import InvalidAddressError
from tracer.labels.addresses import parse_any_address
from tracer.labels.model import Network

# Real addresses from OFAC's 2025-11-19 per-asset lists (ofac-brave-intl).
CASES = [
    ("0x098B716B8Aaf21512996dC57EB0615e2383E2f96", None, Network.EVM),
    ("123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX", None, Network.BITCOIN),
    ("bc1qm34lsc65zpw79lxes69zkqmk6ee3ewf0j77s3h", None, Network.BITCOIN),
    ("18M8bJWMzWHDBMxoLqjHHAffdRy4SrzkfB", "BCH", Network.BITCOIN_CASH),
    ("qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq", None, Network.BITCOIN_CASH),
    ("12sjrrhoFEsedNRhtgwvvRqjFTh8fZTDX9", "BSV", Network.BITCOIN_SV),
    ("GPwg61XoHqQPNmAucFACuQ5H9sGCDv9TpS", None, Network.BITCOIN_GOLD),
    ("LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfb", None, Network.LITECOIN),
    ("M8yFL6SFC6TreATegTyuSYkDfDRbisdpT3", None, Network.LITECOIN),
    ("XnPFsRWTaSgiVauosEwQ6dEitGYXgwznz2", None, Network.DASH),
    ("t1MMXtBrSp1XG38Lx9cePcNUCJj5vdWfUWL", None, Network.ZCASH),
    ("DFFJhnQNZf8rf67tYnesPu7MuGUpYtzv7Z", None, Network.VERGE),
    ("TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM", None, Network.TRON),
    ("rnXyVQzgxZe7TR1EPzTkGj2jxH4LMJYh66", None, Network.XRP),
    ("42RLPACwZPx3vYYmxSueqsogfynBDqXK298EDsNoyoHi", None, Network.SOLANA),
    ("bnb136ns6lfw4zs5hg4n85vdthaad7hq5m4gtkgf23", None, Network.BNB_BEACON),
    (
        "84AwzjeFWXNEuhj8LWinXo93AqYr6wS8ZcnaBCoGhrL7EtvBMBovdhiUSV9xLhjrPA8t64hYSaMc8bHtWXoV9129EHUjU62",
        None,
        Network.MONERO,
    ),
]


@pytest.mark.parametrize(("text", "asset", "network"), CASES)
def test_real_addresses_are_recognised(text: str, asset: str | None, network: Network) -> None:
    found, canonical = parse_any_address(text, asset=asset)
    assert found is network
    # Hex, Bech32 and CashAddr are case-insensitive (canonical: lowercase); Base58 is not.
    insensitive = text.startswith(("0x", "bc1", "bnb1", "q"))
    assert canonical == (text.lower() if insensitive else text)


def test_case_insensitive_forms_are_canonically_lowercase() -> None:
    assert parse_any_address("BC1QM34LSC65ZPW79LXES69ZKQMK6EE3EWF0J77S3H") == (
        Network.BITCOIN,
        "bc1qm34lsc65zpw79lxes69zkqmk6ee3ewf0j77s3h",
    )
    assert parse_any_address("bitcoincash:qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq") == (
        Network.BITCOIN_CASH,
        "qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # One character changed: every checksum must catch it.
        ("0x098B716B8Aaf21512996dC57EB0615e2383E2f97", "EIP-55 checksum does not match"),
        ("0x098B716B8Aaf21512996dC57EB0615e2383E2F96", "EIP-55 checksum does not match"),
        ("123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KY", "not a valid address"),
        ("bc1qm34lsc65zpw79lxes69zkqmk6ee3ewf0j77s3j", "not a valid address"),
        ("bc1qm34lsc65zpw79lxes69zkqmk6ee3ewf0J77s3h", "not a valid address"),  # mixed case
        ("TAYhjpL8pPs8T84FSM329nffQpc6jD8GBN", "not a valid address"),
        ("qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhp", "not a valid address"),
        # GraphSense's copy of an OFAC Monero address, cut off at 69 characters.
        ("884Bz8UH63aYsjVdkfWfScRYWZGGNbjFL7pztqvWNSrtYT4reFSwyvkCj9KEGUtheHh", "not a valid"),
        # OFAC lists this 64-hex string as a Monero address; it is not one.
        (
            "5be5543ff73456ab9f2d207887e2af87322c651ea1a873c5b25b7ffae456c320",
            "a transaction hash or key, not an address",
        ),
        ("0x1234", "expected 0x followed by 40 hex digits"),
        ("", "not an address of any known form"),
        ("x" * 200, "not an address of any known form"),
        ("0x098B716B8Aaf21512996dC57EB0615e2383E2f9\u00e9", "not an address of any known form"),
        ("No matching records found", "not a valid address"),
    ],
)
def test_invalid_addresses_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidAddressError, match=message):
        parse_any_address(text)


def test_a_pinned_network_must_match_the_form() -> None:
    with pytest.raises(InvalidAddressError, match="not a tron address"):
        parse_any_address("123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX", Network.TRON)
    with pytest.raises(InvalidAddressError, match="40 hex digits"):
        parse_any_address("TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM", Network.EVM)
    # Shared legacy forms: the pinned network is kept.
    assert parse_any_address("123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX", Network.BITCOIN_SV)[0] is (
        Network.BITCOIN_SV
    )


# Networks each OFAC asset ticker's addresses may belong to (OFAC lists Omni USDT under
# Bitcoin-form addresses, and one Tron address under XBT).
ASSET_NETWORKS = {
    "ETH": {Network.EVM},
    "USDT": {Network.EVM, Network.TRON, Network.BITCOIN},
    "USDC": {Network.EVM},
    "ARB": {Network.EVM},
    "BSC": {Network.EVM},
    "ETC": {Network.EVM},
    "TRX": {Network.TRON},
    "XBT": {Network.BITCOIN, Network.TRON},
    "BCH": {Network.BITCOIN_CASH},
    "BSV": {Network.BITCOIN_SV},
    "BTG": {Network.BITCOIN_GOLD},
    "LTC": {Network.LITECOIN},
    "DASH": {Network.DASH},
    "ZEC": {Network.ZCASH},
    "XVG": {Network.VERGE},
    "XRP": {Network.XRP},
    "SOL": {Network.SOLANA},
    "XMR": {Network.MONERO},
    "BNB": {Network.BNB_BEACON},
}


def test_every_address_of_ofacs_per_asset_lists_validates() -> None:
    folder = data_path("ofac-brave-intl")
    checked = 0
    for asset, networks in ASSET_NETWORKS.items():
        for line in (folder / f"sanctioned_addresses_{asset}.txt").read_text().splitlines():
            if asset == "XMR" and len(line) == 64:
                continue  # the 64-hex entry, refused above
            network, _ = parse_any_address(line, asset=asset)
            assert network in networks, (asset, line)
            checked += 1
    assert checked == 757  # 758 lines in the 19 lists, less the 64-hex XMR entry
