"""Headless Chromium for the report tests: render a page as a person's browser would, return its DOM.

Every report page records script errors, failed loads and ``console.error`` calls on its ``<html>``
element (``data-errors``) and counts the charts it drew (``data-charts-drawn``); :func:`check_page`
renders a page with ``--dump-dom`` and fails on any error, in the DOM or in Chromium's console log.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000"]


def chromium() -> str:
    """The Chromium binary, or skip the test (scripts/setup.sh installs it)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("no chromium binary (scripts/setup.sh installs Debian's chromium as root)")
    return exe


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=180, check=True)


def render(page: Path, profile: Path, *, fragment: str = "") -> tuple[str, str]:
    """``(DOM after load and scripts, Chromium's log)`` of a local page."""
    done = _run(["--dump-dom", page.resolve().as_uri() + fragment], profile)
    return done.stdout, done.stderr


def screenshot(page: Path, out: Path, profile: Path, *, size: str = "1300,1400", fragment: str = "") -> Path:
    _run(["--hide-scrollbars", f"--window-size={size}", f"--screenshot={out.resolve()}",
          page.resolve().as_uri() + fragment], profile)
    return out


def page_errors(dom: str) -> list[str]:
    m = re.search(r"<html[^>]*\sdata-errors=\"([^\"]*)\"", dom)
    return json.loads(html.unescape(m.group(1))) if m else []


def console_errors(log: str) -> list[str]:
    """Chromium's console lines that report an uncaught error or a failed load."""
    return [line for line in log.splitlines()
            if "CONSOLE" in line and re.search(r"Uncaught|Failed to load|Error", line)]


def charts_drawn(dom: str) -> int:
    m = re.search(r"<html[^>]*\sdata-charts-drawn=\"(\d+)\"", dom)
    return int(m.group(1)) if m else 0


def check_page(page: Path, profile: Path, *, charts: int, fragment: str = "") -> str:
    """Render ``page``; assert no error of any kind and ``charts`` charts drawn; return the DOM."""
    dom, log = render(page, profile, fragment=fragment)
    assert page_errors(dom) == [], f"{page}: errors on the page"
    assert console_errors(log) == [], f"{page}: console errors"
    assert charts_drawn(dom) == charts, f"{page}: {charts_drawn(dom)} charts drawn, expected {charts}"
    assert "not a diagnosis" in dom
    return dom


def rows(dom: str, table_id: str, attr: str) -> list[str]:
    """The ``data-<attr>`` values of a table's body rows, in page order."""
    m = re.search(rf"<table[^>]*id=[\"']{table_id}[\"'].*?</table>", dom, flags=re.DOTALL)
    assert m, f"no table #{table_id}"
    return [html.unescape(v) for _, v in re.findall(rf"<tr[^>]*\sdata-{attr}=([\"'])(.*?)\1", m.group(0))]


def hover_text(dom: str) -> str:
    """The text of the chart's hover label (shown by ``page#t=SECONDS``), tags removed."""
    m = re.search(r"<g class=\"hoverlayer\">(.*?)</g></svg>", dom, flags=re.DOTALL)
    text = html.unescape(re.sub(r"<[^>]+>", " ", m.group(1))) if m else ""
    return re.sub(r"\s+:", ":", re.sub(r"\s+", " ", text)).strip()
