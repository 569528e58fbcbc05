"""The trial administrator's view: ``mfer report --db warehouse.duckdb --out DIR``.

Writes a folder that opens from a file share, with no network::

    DIR/index.html                          cohort overview: one row per patient, most concerning first
    DIR/patients/<patient>.html             trend chart and session table
    DIR/sessions/<patient>/<session>.html   timeline of fused emotion, notable moments, utterances
    DIR/assets/plotly.min.js, report.js     the chart code, written once and referenced relatively

Charts are interactive (plotly, offline) and export PNG from their toolbar. Ids are whatever the
warehouse holds (pseudonyms when pseudonymisation is on). Every page states that it shows expressed
emotion, not inner state, and not a diagnosis. The data is read through the views
(``v_patient_longitudinal``, ``v_emotion_windows``, ``v_utterances``, …), one patient at a time, so
memory stays bounded and each session page carries only its own data.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from multimodal_fer.report import data, markup, pages
from multimodal_fer.report.markup import DISCLAIMER  # noqa: F401 - part of the package's interface

#: The report's own static files, read as package data (the wheel installs them; no path into a checkout).
ASSETS = resources.files("multimodal_fer.report") / "assets"


@dataclass(frozen=True)
class Written:
    index: Path
    n_patients: int
    n_sessions: int
    seconds: float


def write_assets(out_dir: Path) -> Path:
    """``DIR/assets/``: plotly's offline bundle (copied once, kept when unchanged) and the report's chart code."""
    assets = out_dir / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    bundle = resources.files("plotly") / "package_data" / "plotly.min.js"
    target = assets / "plotly.min.js"
    with resources.as_file(bundle) as src:
        if not target.exists() or target.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, target)
    (assets / "report.js").write_bytes((ASSETS / "report.js").read_bytes())
    return assets


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_patient(con, out_dir: Path, row) -> int:
    """A patient's page and one page per session; returns the number of sessions."""
    pid = row.patient_id
    sessions, quarantined = data.patient(con, pid)
    links = ["../" + pages.session_href(pid, s) for s in sessions["session_id"]]
    _write(
        out_dir / pages.patient_href(pid),
        pages.patient_page(row, sessions, quarantined, data.trend_payload(sessions, links)),
    )
    streams = data.patient_streams(con, pid)
    groups = {name: dict(iter(df.groupby("recording_sha256", sort=False))) for name, df in streams.items()}
    for s in sessions.itertuples():
        part = {name: g.get(s.recording_sha256, streams[name].iloc[:0]) for name, g in groups.items()}
        timeline = data.timeline_payload(part["windows"], part["utterances"], part["moments"])
        _write(
            out_dir / pages.session_href(pid, s.session_id),
            pages.session_page(pid, s, timeline, part["utterances"], part["moments"]),
        )
    return len(sessions)


def check_out_dir(out_dir: Path) -> None:
    """The report goes into a new or empty folder, or over an earlier report: never over a file, nor into a
    folder of other files (its ``index.html`` would be replaced, its contents mixed with the pages)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file: give a folder for the report")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    index = out_dir / "index.html"
    if not (index.is_file() and markup.GENERATOR in index.read_text(encoding="utf-8", errors="replace")[:2000]):
        raise ValueError(f"--out {out_dir} holds files that are not a report: give a new or empty folder")


def build(con, out_dir: str | Path, *, patient_id: str | None = None) -> Written:
    """Write the overview, every patient's page and every session's page (or one patient's)."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    cohort = data.cohort(con, patient_id)
    if cohort.empty:
        raise ValueError(
            f"no sessions for {patient_id!r}" if patient_id is not None else "the warehouse has no sessions yet"
        )
    write_assets(out_dir)
    n_sessions = sum(write_patient(con, out_dir, row) for row in cohort.itertuples())
    generated = datetime.now().strftime("%Y-%m-%d %H:%M")
    index = out_dir / "index.html"
    _write(
        index, pages.overview_page(cohort, data.sites(con), orphans=data.orphan_quarantine(con), generated=generated)
    )
    return Written(index, len(cohort), n_sessions, time.perf_counter() - started)


def write_report(con, out_dir: str | Path, *, patient_id: str | None = None) -> Path:
    """Write the report (see the module docstring); returns ``DIR/index.html``."""
    return build(con, out_dir, patient_id=patient_id).index
