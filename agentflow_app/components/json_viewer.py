"""A collapsible JSON viewer that needs no JavaScript and no round trips.

:func:`json_html` turns a value into nested ``<details>`` elements on the server; the
browser folds and unfolds them natively, so a large output costs one render, not one
event per click. Every piece of text from the value is HTML-escaped here (``html.escape``
with quotes), which is what makes it safe to hand to ``rx.html``: the markup itself is
ours, the data never becomes markup.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import reflex as rx

#: Containers this deep (and shallower) start unfolded.
OPEN_DEPTH = 2
#: At most this many entries of one container are shown; the rest are counted.
MAX_ENTRIES = 200
#: Strings longer than this are cut in the view (the stored value is whole).
MAX_STRING = 20_000
#: A whole view stops adding nodes past this many, so a huge output cannot freeze the tab.
MAX_NODES = 3_000

CSS = """
.af-json { font-family: var(--code-font-family, ui-monospace, monospace); font-size: 12px;
  line-height: 1.55; color: var(--gray-12); overflow-x: auto; }
.af-json details > summary { cursor: pointer; list-style: none; white-space: nowrap; }
.af-json details > summary::-webkit-details-marker { display: none; }
.af-json details > summary::before { content: "▸"; display: inline-block; width: 1.1em;
  color: var(--gray-9); transition: transform 80ms ease; }
.af-json details[open] > summary::before { transform: rotate(90deg); }
.af-json .af-j-body { padding-left: 1.1em; border-left: 1px dashed var(--gray-5);
  margin-left: 0.35em; }
.af-json .af-j-row { padding-left: 1.1em; white-space: pre-wrap; word-break: break-word; }
.af-json .af-j-key { color: var(--violet-11); }
.af-json .af-j-str { color: var(--green-11); }
.af-json .af-j-num { color: var(--blue-11); }
.af-json .af-j-bool { color: var(--orange-11); }
.af-json .af-j-null { color: var(--gray-10); font-style: italic; }
.af-json .af-j-meta { color: var(--gray-10); font-size: 11px; margin-left: 0.5em; }
"""


class _Budget:
    def __init__(self, nodes: int) -> None:
        self.left = nodes

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _key(key: str | int | None) -> str:
    if key is None:
        return ""
    if isinstance(key, int):
        return f'<span class="af-j-meta">{key}</span> '
    return f'<span class="af-j-key">{escape(json.dumps(key, ensure_ascii=False))}</span>: '


def _leaf(value: Any) -> str:
    if value is None:
        return '<span class="af-j-null">null</span>'
    if isinstance(value, bool):
        return f'<span class="af-j-bool">{"true" if value else "false"}</span>'
    if isinstance(value, int | float):
        return f'<span class="af-j-num">{escape(json.dumps(value))}</span>'
    text = value if isinstance(value, str) else str(value)
    cut = ""
    if len(text) > MAX_STRING:
        cut = f'<span class="af-j-meta">… {len(text) - MAX_STRING:,} more characters</span>'
        text = text[:MAX_STRING]
    return f'<span class="af-j-str">{escape(json.dumps(text, ensure_ascii=False))}</span>{cut}'


def _node(key: str | int | None, value: Any, depth: int, budget: _Budget) -> str:
    if not budget.take():
        return ""
    if not isinstance(value, dict | list):
        return f'<div class="af-j-row">{_key(key)}{_leaf(value)}</div>'
    if not value:
        empty = "{}" if isinstance(value, dict) else "[]"
        return f'<div class="af-j-row">{_key(key)}{empty}</div>'
    entries = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    brackets = "{…}" if isinstance(value, dict) else "[…]"
    unit = "key" if isinstance(value, dict) else "item"
    count = f"{len(entries)} {unit}{'s' if len(entries) != 1 else ''}"
    children = "".join(_node(k, v, depth + 1, budget) for k, v in entries[:MAX_ENTRIES])
    if len(entries) > MAX_ENTRIES:
        children += f'<div class="af-j-row af-j-meta">… {len(entries) - MAX_ENTRIES:,} more</div>'
    if budget.left < 0:
        children += '<div class="af-j-row af-j-meta">… (view cut: too large to show)</div>'
    opened = " open" if depth < OPEN_DEPTH else ""
    return (
        f"<details{opened}><summary>{_key(key)}{brackets}"
        f'<span class="af-j-meta">{count}</span></summary>'
        f'<div class="af-j-body">{children}</div></details>'
    )


def json_html(value: Any) -> str:
    """``value`` (any JSON data) as escaped, foldable HTML for :func:`json_viewer`."""
    return _node(None, value, 0, _Budget(MAX_NODES))


def json_styles() -> rx.Component:
    """The viewer's stylesheet; put it once on a page that shows JSON."""
    return rx.el.style(CSS)


def json_viewer(html: rx.Var[str] | str, **props: Any) -> rx.Component:
    """Show HTML made by :func:`json_html`."""
    return rx.box(rx.html(html), class_name="af-json", **props)
