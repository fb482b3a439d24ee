"""Address normalisers per network family, for labels and screening.

EVM addresses go through :func:`tracer.types.parse_address`, the project's one EVM
canonicaliser (lowercase inside, EIP-55 checked on mixed-case input). Other families only
ever appear in labels and screening (the transfer table is EVM-only), so their rules live
here. Every form is checked as strictly as its encoding allows, because a mistyped address
that is silently accepted screens clean:

* Base58Check (Bitcoin and its forks, Litecoin, Dash, Zcash transparent, Verge, Tron, XRP):
  double-SHA-256 checksum and the version byte of the network.
* Bech32 / Bech32m (``bc1``, ``ltc1``, ``bnb1``) and CashAddr (Bitcoin Cash): BCH-code
  checksums. Both are case-insensitive, so the canonical form is lowercase.
* Monero: Monero's block Base58 with a Keccak-256 checksum. Solana: Base58 of 32 bytes
  (Solana has no checksum; the length is all there is to check).

Bitcoin, Bitcoin Cash and Bitcoin SV share the legacy ``1…``/``3…`` form, and Litecoin the
``3…`` one: the string alone cannot tell them apart, so ``network`` or an asset ticker
decides, and Bitcoin is assumed otherwise. Lookups are by the canonical string, so a listing
under any of them matches.
"""

from __future__ import annotations

import hashlib
import re

from eth_hash.auto import keccak

from tracer.errors import InvalidAddressError
from tracer.labels.model import Network
from tracer.types import parse_address

_MAX_LENGTH = 128
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_XRP_BASE58 = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_EVM_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")

# Base58Check version prefixes of 20-byte payloads, per network.
_VERSIONS: dict[bytes, tuple[Network, ...]] = {
    b"\x00": (Network.BITCOIN, Network.BITCOIN_CASH, Network.BITCOIN_SV),
    b"\x05": (Network.BITCOIN, Network.BITCOIN_CASH, Network.BITCOIN_SV, Network.LITECOIN),
    b"\x30": (Network.LITECOIN,),
    b"\x32": (Network.LITECOIN,),
    b"\x4c": (Network.DASH,),
    b"\x10": (Network.DASH,),
    b"\x26": (Network.BITCOIN_GOLD,),
    b"\x17": (Network.BITCOIN_GOLD,),
    b"\x1c\xb8": (Network.ZCASH,),
    b"\x1c\xbd": (Network.ZCASH,),
    b"\x1e": (Network.VERGE,),
    b"\x21": (Network.VERGE,),
    b"\x41": (Network.TRON,),
}
_BECH32_HRPS = {"bc": Network.BITCOIN, "ltc": Network.LITECOIN, "bnb": Network.BNB_BEACON}
_MONERO_NETBYTES = {18, 19, 42}  # mainnet standard, integrated, subaddress

# Asset tickers (as OFAC and GraphSense write them) and chain names -> network, used to break
# ties between families that share an address form.
ASSET_NETWORKS: dict[str, Network] = {
    "XBT": Network.BITCOIN,
    "BTC": Network.BITCOIN,
    "BCH": Network.BITCOIN_CASH,
    "BSV": Network.BITCOIN_SV,
    "BTG": Network.BITCOIN_GOLD,
    "LTC": Network.LITECOIN,
    "DASH": Network.DASH,
    "ZEC": Network.ZCASH,
    "XVG": Network.VERGE,
    "TRX": Network.TRON,
    "XRP": Network.XRP,
    "SOL": Network.SOLANA,
    "XMR": Network.MONERO,
    "BEP2": Network.BNB_BEACON,
}


def parse_any_address(
    text: str, network: Network | None = None, *, asset: str | None = None
) -> tuple[Network, str]:
    """Validate an address of any supported family; return ``(network, canonical form)``.

    ``network`` pins the family (an address of another family is an error); otherwise it is
    recognised from the form, with ``asset`` (a ticker such as ``BCH``) breaking ties.
    """
    candidate = text.strip()
    shown = candidate if len(candidate) <= 50 else candidate[:47] + "..."
    if not candidate or len(candidate) > _MAX_LENGTH or not candidate.isascii():
        raise InvalidAddressError(f"invalid address {shown!r}: not an address of any known form")
    if network is Network.EVM or (network is None and candidate.lower().startswith("0x")):
        return Network.EVM, parse_address(candidate)
    if network is not None and _EVM_RE.match(candidate):
        raise InvalidAddressError(f"invalid address {shown!r}: an EVM address, not {network.value}")
    found = _recognise(candidate)
    if found is None:
        hint = (
            " (64 hex digits: a transaction hash or key, not an address)"
            if re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", candidate)
            else ""
        )
        raise InvalidAddressError(
            f"invalid address {shown!r}: not a valid address of any supported network{hint}"
        )
    families, canonical = found
    if network is not None:
        if network not in families:
            raise InvalidAddressError(
                f"invalid address {shown!r}: not a {network.value} address "
                f"(it has the form of a {families[0].value} address)"
            )
        return network, canonical
    hinted = ASSET_NETWORKS.get((asset or "").strip().upper())
    return (hinted if hinted in families else families[0]), canonical


def canonical_lookup_key(text: str) -> str:
    """The store key for user input of any family (raises InvalidAddressError)."""
    return parse_any_address(text)[1]


def _recognise(text: str) -> tuple[tuple[Network, ...], str] | None:
    """The families ``text`` is a valid address of, and its canonical form."""
    lower = text.lower()
    if lower.startswith("bitcoincash:") or re.fullmatch(r"[qp][02-9ac-hj-np-z]{41}", lower):
        canonical = _cashaddr(text)
        # Bitcoin SV kept the CashAddr form after the split.
        return ((Network.BITCOIN_CASH, Network.BITCOIN_SV), canonical) if canonical else None
    if len(text) in (95, 106) and text[0] in "48":
        return ((Network.MONERO,), text) if _is_monero(text) else None
    return _bech32(text) or _base58_families(text)


def _base58_families(text: str) -> tuple[tuple[Network, ...], str] | None:
    if text.startswith("r"):
        payload = _base58check(text, _XRP_BASE58)
        if payload is not None and len(payload) == 21 and payload[0] == 0:
            return (Network.XRP,), text
    payload = _base58check(text, _BASE58)
    if payload is not None:
        for size in (1, 2):
            families = _VERSIONS.get(payload[:size])
            if families and len(payload) - size == 20:
                return families, text
        return None
    raw = _base58_decode(text, _BASE58)  # Solana: 32 bytes, no checksum
    if raw is not None and len(raw) == 32 and 32 <= len(text) <= 44:
        return (Network.SOLANA,), text
    return None


def _base58_decode(text: str, alphabet: str) -> bytes | None:
    number = 0
    for char in text:
        digit = alphabet.find(char)
        if digit < 0:
            return None
        number = number * 58 + digit
    leading = len(text) - len(text.lstrip(alphabet[0]))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * leading + body


def _base58check(text: str, alphabet: str) -> bytes | None:
    """The payload (version + data) if the checksum holds, else None."""
    raw = _base58_decode(text, alphabet)
    if raw is None or len(raw) < 5:
        return None
    payload, checksum = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        return None
    return payload


def _bech32_polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(generator):
            if (top >> i) & 1:
                check ^= gen
    return check


def _bech32(text: str) -> tuple[tuple[Network, ...], str] | None:
    if text != text.lower() and text != text.upper():
        return None  # Bech32 forbids mixed case
    lower = text.lower()
    separator = lower.rfind("1")
    hrp, data_part = lower[:separator], lower[separator + 1 :]
    network = _BECH32_HRPS.get(hrp)
    if network is None or len(data_part) < 6 or len(lower) > 90:
        return None
    if any(char not in _BECH32_CHARSET for char in data_part):
        return None
    data = [_BECH32_CHARSET.index(char) for char in data_part]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    constant = _bech32_polymod(expanded + data)
    if network is Network.BNB_BEACON:
        valid = constant == 1
    else:  # SegWit: witness v0 uses Bech32, v1+ Bech32m (BIP-350)
        version = data[0]
        valid = version <= 16 and constant == (1 if version == 0 else 0x2BC830A3)
    return ((network,), lower) if valid else None


def _cashaddr(text: str) -> str | None:
    lower = text.lower()
    if text != lower and text != text.upper():
        return None
    payload = lower.removeprefix("bitcoincash:")
    if not re.fullmatch(r"[qp][02-9ac-hj-np-z]{41}", payload):
        return None
    values = [ord(c) & 0x1F for c in "bitcoincash"] + [0]
    values += [_BECH32_CHARSET.index(char) for char in payload]
    check = 1
    for value in values:
        top = check >> 35
        check = ((check & 0x07FFFFFFFF) << 5) ^ value
        for bit, gen in enumerate(
            (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
        ):
            if (top >> bit) & 1:
                check ^= gen
    return payload if check ^ 1 == 0 else None


# Monero encodes 8-byte blocks as 11 characters; a shorter last block as this many.
_MONERO_BLOCK_CHARS = (0, 2, 3, 5, 6, 7, 9, 10, 11)


def _is_monero(text: str) -> bool:
    data = bytearray()
    for start in range(0, len(text), 11):
        block = text[start : start + 11]
        if len(block) not in _MONERO_BLOCK_CHARS:
            return False
        size = _MONERO_BLOCK_CHARS.index(len(block))
        number = 0
        for char in block:
            digit = _BASE58.find(char)
            if digit < 0:
                return False
            number = number * 58 + digit
        if number >= 1 << (8 * size):
            return False
        data += number.to_bytes(size, "big")
    if len(data) not in (69, 77) or data[0] not in _MONERO_NETBYTES:
        return False
    return bytes(keccak(bytes(data[:-4])))[:4] == bytes(data[-4:])


def is_evm_form(text: str) -> bool:
    return bool(_EVM_RE.match(text.strip()))
