"""HTML pieces shared by the report's pages: the page shell, tables, numbers, a sparkline, safe file names."""

from __future__ import annotations

import html
import json
import math
import re

import numpy as np
import pandas as pd

DISCLAIMER = (
    "This report shows expressed emotion — what a face, a voice and words show — as measured by "
    "models. It is not the patient's inner state, and it is not a diagnosis."
)

#: Runs first on every page: records script errors, failed resource loads and console.error calls on the
#: page (``<html data-errors="[…]">``), so that a headless browser check sees them in the DOM it dumps.
GENERATOR = "<meta name='generator' content='multimodal-fer report'>"  # marks a folder as a report

ERROR_PROBE = """<script>(function(){var E=[];function rec(m){E.push(String(m));
document.documentElement.setAttribute('data-errors',JSON.stringify(E));}
window.addEventListener('error',function(e){var t=e.target;rec(e.message||('could not load '+
((t&&(t.src||t.href))||'a resource')));},true);
window.addEventListener('unhandledrejection',function(e){rec('unhandled rejection: '+e.reason);});
var ce=console.error;console.error=function(){rec(Array.prototype.join.call(arguments,' '));
return ce.apply(console,arguments);};})();</script>"""

CSS = """body{font-family:system-ui,sans-serif;max-width:1300px;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin-top:1.5em}a{color:#0060a0}
.note{background:#fff6e0;padding:.5em .8em;border-left:4px solid #E69F00;margin:.8em 0}
.crumbs{font-size:.9em;color:#555}.meta{color:#444;margin:.3em 0}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}td{white-space:nowrap}
td.words{white-space:normal}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.flag{display:inline-block;background:#D55E00;color:#fff;border-radius:3px;padding:0 5px;margin:1px;font-size:11px}
.low{color:#b00000;font-weight:600}.chart{width:100%;min-height:420px}.filters{margin:.6em 0}
.filters select{margin-right:1em}"""

FLAG_NAMES = {
    "flag_sustained_negative_shift": "sustained negative shift",
    "flag_falling_engagement": "falling engagement",
}

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def safe_name(value: str) -> str:
    """A file name for an id: the id itself where it is safe (bucket ids and pseudonyms are), else escaped."""
    safe = _SAFE.sub("_", str(value))
    return safe if safe == str(value) and not safe.startswith(".") else "_" + safe


def missing(value) -> bool:
    """None, NaN, NaT (a session without ``recorded_at``) or pandas' NA."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return bool(isinstance(value, np.datetime64) and np.isnat(value))


def fmt(value, spec: str = "{:.2f}") -> str:
    """A number as text ('–' when missing)."""
    return "–" if missing(value) else spec.format(float(value))


def num(value, spec: str = "{:.2f}", *, low: float | None = None) -> str:
    """A numeric table cell ('–' when missing); ``low``: mark values below it."""
    cls = "num low" if low is not None and not missing(value) and float(value) < low else "num"
    return f"<td class='{cls}'>{fmt(value, spec)}</td>"


def date(value) -> str:
    if missing(value):
        return "–"
    try:
        return value.strftime("%Y-%m-%d")
    except AttributeError:
        return esc(value)


def mmss(seconds: float) -> str:
    s = round(float(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def flags(names) -> str:
    return "".join(f"<span class='flag'>{FLAG_NAMES.get(n, n)}</span>" for n in names)


def table(headers: list[str], rows: list[str], *, attrs: str = "") -> str:
    """A table from header names and ready-made ``<tr>…</tr>`` rows."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def sparkline(values, baseline=None, *, flagged: bool = False, width: int = 120, height: int = 28) -> str:
    """An inline SVG line of per-session valence on [-1, 1], with the baseline dashed and the last session dotted."""
    pts = [(i, float(v)) for i, v in enumerate(values or []) if not missing(v)]
    if not pts:
        return "<svg width='0' height='0'></svg>"
    n = max(len(values) - 1, 1)

    def xy(i, v):
        return round(2 + (width - 4) * i / n, 1), round(2 + (height - 4) * (1 - (max(-1.0, min(1.0, v)) + 1) / 2), 1)

    line = " ".join(f"{x},{y}" for x, y in (xy(i, v) for i, v in pts))
    base = ""
    if not missing(baseline):
        y = xy(0, float(baseline))[1]
        base = f"<line x1='0' x2='{width}' y1='{y}' y2='{y}' stroke='#E69F00' stroke-dasharray='3 2'/>"
    lx, ly = xy(*pts[-1])
    colour = "#D55E00" if flagged else "#222"
    title = "valence per session: " + ", ".join(f"{v:.2f}" for _, v in pts)
    return (
        f"<svg class='spark' width='{width}' height='{height}' role='img' aria-label='{esc(title)}'>"
        f"<title>{esc(title)}</title>{base}<polyline fill='none' stroke='#222' stroke-width='1.2' points='{line}'/>"
        f"<circle cx='{lx}' cy='{ly}' r='2.5' fill='{colour}'/></svg>"
    )


def json_script(data: dict) -> str:
    """Page data for the charts, as JSON that cannot end the script element early."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f"<script type='application/json' id='mfer-data'>{text}</script>"


def page(title: str, body: str, *, root: str, charts: bool = False, inline_js: str = "") -> str:
    """A whole page: the error probe first, the disclaimer on top, plotly and the chart code from ``root/assets``."""
    scripts = ""
    if charts:
        scripts = f"<script src='{root}assets/plotly.min.js'></script><script src='{root}assets/report.js'></script>"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{GENERATOR}{ERROR_PROBE}"
        f"<title>{esc(title)}</title><style>{CSS}</style>{scripts}</head><body>"
        f"<p class='note' id='disclaimer'>{esc(DISCLAIMER)}</p>{body}"
        f"{f'<script>{inline_js}</script>' if inline_js else ''}</body></html>"
    )
