"""The self-contained HTML page: static markup, inlined scripts, the data as embedded JSON.

Defences against hostile labels and chain data, in layers:

* the data sits in a ``<script type="application/json">`` block with ``<``, ``>``, ``&`` and
  U+2028/U+2029 written as ``\\uXXXX`` escapes, so no string can close the tag or start markup;
* the page's script inserts every string with ``textContent`` (never as HTML), and strings
  handed to Plotly are entity-escaped in Python (:func:`figures.plotly_text`);
* a Content-Security-Policy allows only the page's own inline scripts, by their SHA-256
  hashes (no event-handler attributes, no injected scripts, no ``eval``), and no network
  access of any kind: the file works offline and cannot call home.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any, Final

from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]  # no stubs

from tracer.errors import TracerError

_JSON_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
DATA_ELEMENT_ID: Final = "case-data"


def embed_json(data: Any) -> str:
    """JSON that is safe as the content of a ``<script>`` element (and still the same JSON)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for character, escape in _JSON_ESCAPES.items():
        text = text.replace(character, escape)
    return text


def render_page(data: Any) -> str:
    scripts = (_plotly_js(), _asset("amounts.js"), _asset("view.js"))
    for script in scripts:
        if "</script" in script.lower():  # would end the inline element early
            raise TracerError("an inlined script contains '</script'; cannot embed it")
    policy = "; ".join(
        (
            "default-src 'none'",
            "script-src " + " ".join(_sha256(script) for script in scripts),
            # Plotly sets style attributes and inserts its stylesheet; styles load nothing here.
            "style-src 'unsafe-inline'",
            "img-src data: blob:",  # Plotly's "download as PNG" draws through a data URL
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    return _TEMPLATE.format(
        policy=policy,
        style=_asset("view.css"),
        data_id=DATA_ELEMENT_ID,
        data=embed_json(data),
        plotly=scripts[0],
        amounts=scripts[1],
        view=scripts[2],
    )


def _sha256(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


@cache
def _plotly_js() -> str:
    return str(get_plotlyjs())


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


# Every dynamic part is filled by the script from the JSON block; nothing from the case is
# formatted into this markup.
_TEMPLATE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>tracer case view</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>tracer case view</h1>
<p id="summary"></p>
<p id="cap-note" class="note" hidden></p>
</header>
<main>
<section id="flow-section">
<h2>Flow graph: seeds to off-ramps</h2>
<p class="hint">Drag to pan, scroll to zoom. Click a node or an edge arrow for its evidence.</p>
<div id="graph" data-rendered-nodes="" data-rendered-edges=""></div>
</section>
<aside id="panel">
<form id="find-form" role="search">
<label for="find">Find an address</label>
<input id="find" type="search" placeholder="0x…" autocomplete="off" spellcheck="false">
</form>
<h2 id="panel-title">Evidence</h2>
<p id="panel-hint" class="hint">Nothing selected.</p>
<dl id="panel-body"></dl>
</aside>
<section id="legend-section">
<h2>Legend</h2>
<ul id="legend"></ul>
</section>
<section id="sankey-section">
<h2>Traced value by asset</h2>
<p class="hint">One diagram per asset: amounts of different tokens are never added.
Hop wallets are grouped by their distance from the seeds.</p>
<label for="asset">Asset</label> <select id="asset"></select>
<p id="sankey-empty" class="note" hidden>No traced value moved between groups.</p>
<div id="sankey"></div>
<p id="sankey-note" class="note" hidden></p>
</section>
<section id="offramps-section">
<h2>Off-ramps</h2>
<table id="offramps"><thead></thead><tbody></tbody></table>
<p id="offramps-empty" class="note" hidden>No off-ramp was reached.</p>
</section>
</main>
<script type="application/json" id="{data_id}">{data}</script>
<script>{plotly}</script>
<script>{amounts}</script>
<script>{view}</script>
</body>
</html>
"""
