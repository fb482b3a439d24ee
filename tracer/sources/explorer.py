"""The explorer source: every transfer touching an address, from an Etherscan-style API.

Fetching only (design rule 2): this module decides what to ask and hands the raw records to
the pure normalisers in :mod:`tracer.transfers.from_explorer`. Two flavours of one API:

* **Etherscan v2**: one endpoint for every chain (``https://api.etherscan.io/v2/api``), the
  chain chosen by ``chainid=``, an API key required.
* **Blockscout**: each instance serves one chain at ``<instance>/api`` with the same
  ``module=account`` actions; no ``chainid``, no key needed.

For an address, five actions run concurrently: ``txlist`` (its transactions), ``txlistinternal``
(value moved by contract calls), ``tokentx`` (ERC-20), ``tokennfttx`` (ERC-721) and
``token1155tx`` (ERC-1155).

**Pagination.** Explorers refuse ``page x offset`` beyond a result window (10,000 records at
Etherscan) and the free tier returns at most 1,000 records per request (asking for more silently
returns fewer). So each action pages with ``sort=asc``, ``offset`` = the page size (at most
the plan's per-request cap) and ``page`` = 1, 2, ... while ``page x offset`` fits the window;
then a **block cursor** restarts at ``startblock`` = the last block seen, page 1. That block
may continue beyond the window, so its records are dropped and fetched again from the new
start (the overlap): the result is exact as a multiset, without relying on a de-duplication key
(an ERC-1155 batch may list one id twice, as two records with one key). A single block holding
more records than a whole window cannot be read completely through this API: that is logged
and kept in :attr:`ExplorerSource.coverage_gaps`, never passed off as complete.

**Outcomes of ``status: "0"``.** Etherscan signals every outcome with ``status: "0"`` and a
human-readable text, and no numeric code: "No transactions found" (an empty answer), "Max rate
limit reached" (slow down), "Invalid API Key" (fatal), "Result window is too large", and
others. This is the one place in tracer where message text is matched (design rule 6 asks
for codes wherever they exist): :func:`classify_status_zero` holds the patterns, as data.

**API keys** come from the environment only: ``TRACER_ETHERSCAN_API_KEY_<CHAIN>`` (the chain's
registry name in capitals, e.g. ``TRACER_ETHERSCAN_API_KEY_POLYGON``) wins over
``TRACER_ETHERSCAN_API_KEY``. The key is added to the query string at send time only: it is
not part of the endpoint URL, request keys, log lines, errors or ``repr``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import polars as pl

from tracer.chains import chain_by_id
from tracer.errors import (
    ApiKeyError,
    ExplorerError,
    RateLimitedError,
    ResponseFormatError,
    ResultWindowError,
)
from tracer.sources.transport import Endpoint, EndpointLimits, Transport, gather_all, request_key
from tracer.transfers import from_explorer, from_rpc
from tracer.transfers.from_explorer import ExplorerAction
from tracer.transfers.schema import empty_transfers
from tracer.transfers.untrusted import SkipsOverRun, SkipTally
from tracer.types import Address, parse_address

log = logging.getLogger(__name__)

ETHERSCAN_V2_URL: Final = "https://api.etherscan.io/v2/api"
API_KEY_ENV: Final = "TRACER_ETHERSCAN_API_KEY"
# Etherscan's result window (page x offset) and the free tier's records per request.
RESULT_WINDOW: Final = 10_000
FREE_TIER_RECORDS: Final = 1_000
# Per-request caps known to truncate silently: a short page of exactly this many records,
# when more were asked for, means "capped", not "the last page".
_KNOWN_RECORD_CAPS: Final = frozenset({FREE_TIER_RECORDS})
_DEFAULT_LIMITS: Final = EndpointLimits(requests_per_second=3.0, max_concurrent=2)
_SHOWN_MESSAGE_LENGTH: Final = 200
_BLOCK_RE: Final = re.compile(r"[0-9]{1,18}")
_HEX_QUANTITY_RE: Final = re.compile(r"0x[0-9a-fA-F]{1,16}")

ALL_ACTIONS: Final = tuple(ExplorerAction)


class ExplorerFlavor(StrEnum):
    ETHERSCAN = "etherscan"
    BLOCKSCOUT = "blockscout"

    @property
    def label(self) -> str:
        """How messages name the endpoint (``"Etherscan at https://..."``)."""
        return {ExplorerFlavor.ETHERSCAN: "Etherscan", ExplorerFlavor.BLOCKSCOUT: "Blockscout"}[
            self
        ]

    def source(self, action: ExplorerAction) -> str:
        """The ``source`` column of rows from ``action``: ``explorer:txlist`` for Etherscan,
        ``blockscout:txlist`` for Blockscout (whose internal rows are keyed differently)."""
        prefix = "explorer" if self is ExplorerFlavor.ETHERSCAN else "blockscout"
        return f"{prefix}:{action.value}"


# --------------------------------------------------------------------------------------------
# status "0": the one place where message text decides.


class StatusZero(StrEnum):
    """What a ``status: "0"`` answer means."""

    EMPTY = "empty"  # nothing matches: an empty result, not an error
    RATE_LIMITED = "rate_limited"  # back off and retry (RateLimitedError)
    INVALID_KEY = "invalid_key"  # fatal (ApiKeyError)
    RESULT_WINDOW = "result_window"  # page x offset too large (ResultWindowError)
    OTHER = "other"  # anything else (ExplorerError carrying the text)


# Checked in order against the answer's ``message`` and (string) ``result``. Sources of the
# texts: Etherscan's "API Key Rate Limit & Errors" page ("Max rate limit reached", "Invalid
# API Key", "Too many invalid api key attempts, please try again later"), v2 answers seen in
# the wild ("Missing/Invalid API Key", "Max calls per sec rate limit reached (5/sec)"),
# Etherscan's pagination error ("Result window is too large, PageNo x Offset size must be less
# than or equal to 10000") and Blockscout's empty answers ("No token transfers found", "No
# internal transactions found").
STATUS_ZERO_PATTERNS: Final[tuple[tuple[StatusZero, re.Pattern[str]], ...]] = (
    (StatusZero.INVALID_KEY, re.compile(r"invalid api[ -]?key|missing api[ -]?key", re.I)),
    (StatusZero.RATE_LIMITED, re.compile(r"rate limit reached", re.I)),
    (StatusZero.RESULT_WINDOW, re.compile(r"result window is too large", re.I)),
    (
        StatusZero.EMPTY,
        re.compile(r"^no (?:\w+ ){0,2}(?:transactions|transfers|records) found", re.I),
    ),
)


def classify_status_zero(message: object, result: object) -> StatusZero:
    """The outcome of a ``status: "0"`` answer, from its texts (see STATUS_ZERO_PATTERNS)."""
    texts = [text.strip() for text in (message, result) if isinstance(text, str)]
    for outcome, pattern in STATUS_ZERO_PATTERNS:
        if any(pattern.search(text) for text in texts):
            if outcome is StatusZero.EMPTY and isinstance(result, list) and result:
                return StatusZero.OTHER  # "no records found" next to records: contradictory
            return outcome
    return StatusZero.OTHER


# --------------------------------------------------------------------------------------------
# API keys.


@dataclass(frozen=True)
class _ApiKey:
    """A secret and the name of the variable it came from; ``repr`` never shows the secret."""

    value: str
    variable: str

    def __repr__(self) -> str:
        return f"_ApiKey(from {self.variable})"


def api_key_variables(chain_id: int) -> tuple[str, str]:
    """The environment variables consulted for ``chain_id``'s key, the more specific first."""
    chain = chain_by_id(chain_id)
    suffix = chain.name.upper().replace("-", "_") if chain is not None else str(chain_id)
    return (f"{API_KEY_ENV}_{suffix}", API_KEY_ENV)


def _api_key_from(environ: Mapping[str, str], chain_id: int) -> _ApiKey | None:
    for variable in api_key_variables(chain_id):
        value = environ.get(variable, "").strip()
        if value:
            return _ApiKey(value, variable)
    return None


# --------------------------------------------------------------------------------------------
# The source.


@dataclass
class _Pages:
    """Records gathered for one action, each with the key of the request it came from."""

    records: list[Mapping[str, Any]]
    keys: list[str]


@dataclass(frozen=True)
class CoverageGap:
    """A block whose records for one action exceed what the API can page through."""

    address: Address
    action: ExplorerAction
    block: int
    records_read: int


class ExplorerSource(SkipsOverRun):
    """Transfers touching an address, from an Etherscan v2 or Blockscout endpoint.

    ``page_size`` is the ``offset`` of every request: keep it at or below the plan's records
    per request (1,000 on Etherscan's free tier). ``result_window`` is the explorer's
    ``page x offset`` limit. Both shrink, for the rest of the run, when the explorer turns out
    to allow less (a refused window, a page silently cut to the free tier's 1,000 records).
    ``environ`` replaces ``os.environ`` (for tests); the key is only ever read from there.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        chain_id: int,
        flavor: ExplorerFlavor = ExplorerFlavor.ETHERSCAN,
        url: str | None = None,
        limits: EndpointLimits | None = None,
        page_size: int = FREE_TIER_RECORDS,
        result_window: int = RESULT_WINDOW,
        actions: Sequence[ExplorerAction] = ALL_ACTIONS,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if page_size < 1 or result_window < page_size:
            raise ValueError("page_size must be at least 1 and at most result_window")
        if not actions:
            raise ValueError("at least one action is needed")
        self.flavor = flavor
        if url is None:
            if flavor is not ExplorerFlavor.ETHERSCAN:
                raise ValueError("a Blockscout source needs the instance's API URL")
            url = ETHERSCAN_V2_URL
        chain = chain_by_id(chain_id)
        if limits is None:
            limits = (
                EndpointLimits(
                    requests_per_second=chain.explorer_rps,
                    max_concurrent=chain.explorer_concurrency,
                )
                if chain is not None
                else _DEFAULT_LIMITS
            )
        self.endpoint: Endpoint = transport.endpoint(url, limits=limits, label=flavor.label)
        self.transport = transport
        self._chain_id = chain_id
        self._explorer_chain_id = chain.explorer_chain_id if chain is not None else chain_id
        self._native_symbol = chain.native_symbol if chain is not None else None
        self.page_size = page_size
        self.result_window = result_window
        self.actions = tuple(ExplorerAction(action) for action in actions)
        self._key = (
            _api_key_from(os.environ if environ is None else environ, chain_id)
            if flavor is ExplorerFlavor.ETHERSCAN
            else None
        )
        self._warned_keyless = False
        self._skips = SkipTally()
        self.coverage_gaps: list[CoverageGap] = []

    def __repr__(self) -> str:
        return f"ExplorerSource({self.endpoint.where}, chain {self._chain_id})"

    # -- identity ---------------------------------------------------------------------------

    async def chain_id(self) -> int:
        """The configured chain (an Etherscan endpoint serves many; it is a request parameter)."""
        return self._chain_id

    async def head_block(self) -> int:
        """The explorer's latest block, through its ``eth_blockNumber`` proxy."""
        if self.flavor is ExplorerFlavor.ETHERSCAN:
            params = {"module": "proxy", "action": "eth_blockNumber"}
        else:
            params = {"module": "block", "action": "eth_block_number"}
        self._require_key()
        answer: int = await self.transport.request_json(
            self.endpoint,
            params=self._with_secrets(params),
            interpret=self._interpret_head,
            what="eth_blockNumber",
        )
        return answer

    # -- the public query ------------------------------------------------------------------

    async def transfers_for_address(
        self, address: Address | str, from_block: int, to_block: int
    ) -> pl.DataFrame:
        """Every transfer from or to ``address`` in blocks ``from_block..to_block`` (inclusive),
        as a canonical table in the transfer schema."""
        wanted = parse_address(address)
        if from_block < 0 or to_block < from_block:
            raise ValueError(f"invalid block range {from_block}..{to_block}")
        self._require_key()
        chain_id = await self.chain_id()
        gathered = await gather_all(
            self._collect(chain_id, action, wanted, from_block, to_block) for action in self.actions
        )
        by_action = dict(zip(self.actions, gathered, strict=True))
        context_records = [
            record
            for action, pages in by_action.items()
            if action is not ExplorerAction.TXLISTINTERNAL
            for record in pages.records
        ]
        gas_prices = from_explorer.gas_prices_from_records(context_records)
        txlist = by_action.get(ExplorerAction.TXLIST)
        failed = from_explorer.failed_transactions_from_records(txlist.records if txlist else [])
        result = from_rpc.merge(
            from_explorer.transfers_from_explorer(
                pages.records,
                action=action,
                chain_id=chain_id,
                source=self.flavor.source(action),
                request_keys=pages.keys,
                gas_prices=gas_prices,
                failed_transactions=failed,
                native_symbol=self._native_symbol,
            )
            for action, pages in by_action.items()
        )
        self._skips.merge(result)
        if result.skipped:
            log.info(
                "%s: skipped %d unreadable records for %s (%s)",
                self.endpoint.where,
                result.skipped_total,
                wanted,
                "; ".join(f"{reason}: {count}" for reason, count in result.skipped.items()),
            )
        table = result.transfers
        if table.height == 0:
            return empty_transfers()
        return table.filter((pl.col("from_address") == wanted) | (pl.col("to_address") == wanted))

    # -- pagination -------------------------------------------------------------------------

    async def _collect(
        self,
        chain_id: int,
        action: ExplorerAction,
        address: Address,
        from_block: int,
        to_block: int,
    ) -> _Pages:
        """All records of ``action`` for the range; see the module notes on pagination."""
        collected = _Pages([], [])
        start, page = from_block, 1
        size = self.page_size  # constant within one cursor run: page numbers depend on it
        while True:
            if page == 1:
                size = self.page_size
            elif size != self.page_size:
                # Another action learnt a smaller cap meanwhile: page numbers of the old size
                # no longer line up, so restart from the last block seen.
                start, page = self._restart(collected, start), 1
                continue
            window = self.result_window
            params = {
                "module": "account",
                "action": action.value,
                "address": address,
                "startblock": str(start),
                "endblock": str(to_block),
                "page": str(page),
                "offset": str(size),
                "sort": "asc",
            }
            key = request_key(chain_id, f"{self.flavor.value}:{action.value}", params)
            try:
                records: list[Mapping[str, Any]] = await self.transport.request_json(
                    self.endpoint,
                    params=self._with_secrets(params),
                    interpret=self._interpret_records,
                    what=f"{action.value} page {page} from block {start}",
                )
            except ResultWindowError:
                # The explorer's window is smaller than configured: remember the largest one
                # that worked and go on from where the records end (or with smaller pages, if
                # page 1 was refused).
                if page == 1 and size == 1:
                    raise
                self._learn(
                    f"refused page {page} x {size} records",
                    page_size=max(1, size // 2) if page == 1 else size,
                    result_window=window if page == 1 else (page - 1) * size,
                )
                if page > 1:
                    start, page = self._restart(collected, start), 1
                continue
            blocks = self._blocks_of(records, start, to_block, action)
            collected.records.extend(records)
            collected.keys.extend([key] * len(records))
            if len(records) < size:
                if len(records) in _KNOWN_RECORD_CAPS and blocks:
                    # A silent per-request cap, not the last page: continue at the cap.
                    capped = len(records)
                    self._learn(
                        f"returned {capped} of {size} records asked for (a per-request cap; "
                        "set page_size to the plan's cap)",
                        page_size=capped,
                        result_window=(window // capped) * capped,
                        level=logging.WARNING,
                    )
                    start, page = self._restart(collected, start), 1
                    continue
                return collected
            if (page + 1) * size <= window:
                page += 1
                continue
            if blocks[-1] == start:  # one block fills the whole window
                gap = CoverageGap(address, action, start, window)
                self.coverage_gaps.append(gap)
                log.warning(
                    "%s: block %d holds more than %d %s records of %s; the API cannot page "
                    "beyond them, so that block is INCOMPLETE for this address",
                    self.endpoint.where,
                    start,
                    window,
                    action.value,
                    address,
                )
                if start >= to_block:
                    return collected
                start, page = start + 1, 1
                continue
            start, page = self._restart(collected, start), 1

    def _learn(
        self, what: str, *, page_size: int, result_window: int, level: int = logging.INFO
    ) -> None:
        """Adopt a smaller page size or window for the rest of the run."""
        page_size = min(page_size, self.page_size)
        result_window = max(page_size, min(result_window, self.result_window))
        if (page_size, result_window) != (self.page_size, self.result_window):
            self.page_size, self.result_window = page_size, result_window
            log.log(
                level,
                "%s %s: using pages of %d in a %d-record window",
                self.endpoint.where,
                what,
                page_size,
                result_window,
            )

    @staticmethod
    def _restart(collected: _Pages, start: int) -> int:
        """Drop the records of the last block seen (it may go on beyond the page) and return
        it as the new start block, from where it is read again in full."""
        if not collected.records:
            return start
        last = _block_number(collected.records[-1])
        kept = [
            (record, key)
            for record, key in zip(collected.records, collected.keys, strict=True)
            if _block_number(record) != last
        ]
        collected.records = [record for record, _ in kept]
        collected.keys = [key for _, key in kept]
        return last

    def _blocks_of(
        self,
        records: Sequence[Mapping[str, Any]],
        start: int,
        to_block: int,
        action: ExplorerAction,
    ) -> list[int]:
        """Block numbers of a page, checked: the cursor relies on them being in range and in
        ascending order (a server ignoring ``startblock`` or ``sort`` would loop forever)."""
        blocks: list[int] = []
        for record in records:
            number = _block_number(record)
            if number < 0:
                raise ResponseFormatError(
                    f"{self.endpoint.where} sent a {action.value} record without a readable "
                    "blockNumber"
                )
            if not start <= number <= to_block or (blocks and number < blocks[-1]):
                raise ResponseFormatError(
                    f"{self.endpoint.where} answered {action.value} for blocks {start}.."
                    f"{to_block} with block {number} out of order or out of range"
                )
            blocks.append(number)
        return blocks

    # -- requests and answers ---------------------------------------------------------------

    def _with_secrets(self, params: Mapping[str, str]) -> dict[str, str]:
        """The query as sent: ``chainid`` and the key added last, never stored anywhere."""
        sent = dict(params)
        if self.flavor is ExplorerFlavor.ETHERSCAN:
            sent = {"chainid": str(self._explorer_chain_id), **sent}
            if self._key is not None:
                sent["apikey"] = self._key.value
        return sent

    def _require_key(self) -> None:
        if self.flavor is ExplorerFlavor.ETHERSCAN and self._key is None:
            specific, generic = api_key_variables(self._chain_id)
            raise ApiKeyError(
                f"{self.endpoint.where} needs an API key: set {generic} "
                f"(or {specific} for chain {self._chain_id} only)"
            )

    def _interpret_records(self, body: Any) -> list[Mapping[str, Any]]:
        result = self._envelope(body)
        if not isinstance(result, list) or not all(isinstance(r, Mapping) for r in result):
            raise ResponseFormatError(
                f"{self.endpoint.where} sent a result that is not a list of records"
            )
        return result

    def _interpret_head(self, body: Any) -> int:
        if isinstance(body, Mapping) and "status" in body:
            result: object = self._envelope(body)
        elif isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
            error = body["error"]
            raise self._status_zero_error(error.get("message"), None)
        else:
            result = body.get("result") if isinstance(body, Mapping) else None
        if isinstance(result, str) and _HEX_QUANTITY_RE.fullmatch(result):
            return int(result, 16)
        raise ResponseFormatError(f"{self.endpoint.where} sent no block number for eth_blockNumber")

    def _envelope(self, body: Any) -> object:
        """The ``result`` of a ``{"status", "message", "result"}`` answer; typed errors for
        ``status: "0"`` (empty answers become an empty list)."""
        if not isinstance(body, Mapping) or "status" not in body or "result" not in body:
            raise ResponseFormatError(
                f"{self.endpoint.where} sent an answer without status and result"
            )
        status, message, result = body.get("status"), body.get("message"), body.get("result")
        if status in ("1", 1) and not isinstance(status, bool):
            # Etherscan v1 answered keyless calls "OK-Missing/Invalid API Key, rate limit of
            # 1/5sec applied": accepted, but at a crawl.
            if classify_status_zero(message, None) is StatusZero.INVALID_KEY:
                self._warn_keyless()
            return result
        if status not in ("0", 0) or isinstance(status, bool):
            raise ResponseFormatError(f"{self.endpoint.where} sent status {_shown(status)}")
        if classify_status_zero(message, result) is StatusZero.EMPTY:
            return []
        raise self._status_zero_error(message, result)

    def _status_zero_error(self, message: object, result: object) -> Exception:
        outcome = classify_status_zero(message, result)
        said = self._redacted(
            " ".join(text for text in (message, result) if isinstance(text, str)) or "nothing"
        )
        where = self.endpoint.where
        if outcome is StatusZero.RATE_LIMITED:
            # No pause hint: our own limiter already spaces requests, so the transport's
            # jittered back-off of this one request is enough; a whole-endpoint pause would
            # waste the slots of every other request.
            return RateLimitedError(f"{where} is rate limiting us: {said}")
        if outcome is StatusZero.INVALID_KEY:
            if self._key is None:
                hint = f"set {API_KEY_ENV} to a valid key"
            else:
                hint = f"check the key in {self._key.variable}"
            return ApiKeyError(
                f"{where} refused the API key ({said}): {hint}", explorer_message=said
            )
        if outcome is StatusZero.RESULT_WINDOW:
            return ResultWindowError(f"{where} refused the page: {said}", explorer_message=said)
        return ExplorerError(f"{where} answered with an error: {said}", explorer_message=said)

    def _redacted(self, text: str) -> str:
        """The explorer's own words, shortened, and without the key should it echo it."""
        if self._key is not None:
            text = text.replace(self._key.value, "***")
        text = " ".join(text.split())
        if len(text) > _SHOWN_MESSAGE_LENGTH:
            text = text[: _SHOWN_MESSAGE_LENGTH - 3] + "..."
        return repr(text)

    def _warn_keyless(self) -> None:
        if not self._warned_keyless:
            self._warned_keyless = True
            log.warning(
                "%s did not accept the API key and applies its keyless rate limit; check %s",
                self.endpoint.where,
                self._key.variable if self._key else API_KEY_ENV,
            )


def _block_number(record: Mapping[str, Any]) -> int:
    """A record's block as an int, or -1 when unreadable (rejected by the page check)."""
    raw = record.get("blockNumber")
    if isinstance(raw, str) and _BLOCK_RE.fullmatch(raw):
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    return -1


def _shown(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."
