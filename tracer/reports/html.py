"""``report.html``: the Markdown report as one self-contained HTML file.

Rendered with markdown-it-py (CommonMark plus GFM tables) with raw HTML disabled, so any
``<script>`` that got into the text stays text; untrusted text is already escaped for
Markdown (:mod:`tracer.reports.mdtext`). The page loads nothing: styles are inline, and a
Content-Security-Policy forbids scripts and every external resource, as a second wall.
"""

from __future__ import annotations

from html import escape
from typing import Final

from markdown_it import MarkdownIt

_STYLE: Final = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 80rem; margin: 2rem auto;
       padding: 0 1rem; color: #1b1b1b; }
h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d0d0; padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; }
code { font: 13px ui-monospace, monospace; word-break: break-all; }
"""
_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'"


def markdown_to_html(markdown: str, title: str) -> str:
    """A complete HTML document; ``title`` is escaped here."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = renderer.render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{body}</body>\n</html>\n"
    )
