"""Taint policies: how much of what an address sends on is traced (stolen) value.

:func:`trace_taint` is a pure function of the transfer table, the seeds, the policy and the
labels. It keeps, per address and asset, exact integer books (see
:mod:`~tracer.heuristics.taint.ledgers`) and returns per (address, asset) the traced value
``received``, ``sent`` on and ``held``, and per transfer the traced amount.

Policies (``--policy``):

* ``haircut`` (Möser, Böhme and Breuker 2014): each outflow carries
  ``floor(amount * traced_balance / balance)``; the remainder of the division stays traced in
  the balance. Guarantee, asserted by the tests on every case: for every (address, asset),
  ``received == sent + held`` exactly.
* ``fifo`` (Anderson et al. 2018, after Clayton's case): a queue of lots per address and asset;
  outflows take the oldest lots first and hand them on in that order. Same exact guarantee.
* ``poison``: once an address holds traced value of an asset, everything it sends of that
  asset is traced in full, until its tracked balance reaches zero. Value multiplies, so
  conservation cannot hold. What is guaranteed (and tested) instead: every transfer's traced
  amount is 0 or its whole amount; per address ``sent`` ≤ its total outflow; and poison is
  monotone: it traces at least what haircut and FIFO trace on every transfer.

Common rules (see :mod:`~tracer.heuristics.taint.engine` and
:mod:`~tracer.heuristics.taint.prepare` for the details):

* forward in time only, in the order defined in ``prepare``; failed transfers move nothing,
  unknown success (null) counts as succeeded, as the crawler follows it;
* seeds: everything they receive from ``start_block`` on is traced;
* stops: labelled services (exchange, OTC, bridge, DEX, mixer) and the wrapped-native contract
  receive traced value (``reached``) and never pass it on; seeds are never stops;
* swaps (including WETH wrap/unwrap) convert the traced share into the bought asset at that
  swap's own rate; injected :class:`Link` edges (mixer demixing, bridges) let the trace go on
  at the link's target;
* gas is not in the table, so fees paid from traced ETH stay in ``held``;
* balances before the table starts come from ``opening_balances`` (clean); without them they
  are zero, which for haircut overstates the traced share of an address with older clean
  funds. An outflow beyond the tracked balance is taken as clean (history the table lacks).
"""

from __future__ import annotations

from tracer.heuristics.base import HeuristicSpec, Reference
from tracer.heuristics.taint.engine import asset_key, asset_of, trace_taint
from tracer.heuristics.taint.model import (
    Asset,
    Conversion,
    ConversionKind,
    Link,
    Policy,
    TaintBalance,
    TaintResult,
)

__all__ = [
    "HEURISTICS",
    "Asset",
    "Conversion",
    "ConversionKind",
    "Link",
    "Policy",
    "TaintBalance",
    "TaintResult",
    "asset_key",
    "asset_of",
    "trace_taint",
]

_MOSER = Reference(
    "Möser, Böhme, Breuker: Towards Risk Scoring of Bitcoin Transactions (FC 2014 Workshops, "
    "BITCOIN 2014, LNCS 8438)",
    "https://doi.org/10.1007/978-3-662-44774-1_2",
)
_ANDERSON = Reference(
    "Anderson, Shumailov, Ahmed, Rietmann: Bitcoin Redemption (2018)",
    "https://arxiv.org/abs/1810.02466",
)
_CONFIDENCE = "Not a probability: the share of a transfer attributed to the traced funds."

HEURISTICS = (
    HeuristicSpec(
        id="taint-haircut",
        title="Haircut taint",
        description=(
            "Each outflow is traced in proportion to the traced share of the sender's balance "
            "of that asset (integer floor; the remainder stays held), so traced value is "
            "conserved exactly per address and asset."
        ),
        references=(_MOSER,),
        confidence=_CONFIDENCE,
    ),
    HeuristicSpec(
        id="taint-fifo",
        title="FIFO taint",
        description=(
            "Value leaves an address in the order it arrived: a queue of traced and clean lots "
            "per address and asset, consumed oldest first; conserved exactly."
        ),
        references=(_ANDERSON,),
        confidence=_CONFIDENCE,
    ),
    HeuristicSpec(
        id="taint-poison",
        title="Poison taint",
        description=(
            "Every outflow of an address holding traced value is traced in full: an upper "
            "bound on where stolen value can have gone, not an amount."
        ),
        references=(_MOSER,),
        confidence=_CONFIDENCE,
    ),
)
