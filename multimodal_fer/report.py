"""Plots a person would rather look at: per-session timelines and per-patient trends.

``mfer report --db warehouse.duckdb --out report/`` writes, for every patient (or one), a trend
chart and a timeline per session as PNG, and ``index.html``: one self-contained page (images
embedded) with the session table, the charts and the notable moments.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS

#: one colour per canonical emotion, in EMOTIONS order (colour-blind-friendly Okabe–Ito palette)
COLOURS = ("#BBBBBB", "#E69F00", "#0072B2", "#D55E00", "#CC79A7", "#009E73", "#F0E442")
DISCLAIMER = ("These charts show expressed emotion (what the face, the voice and the words show), "
              "not the patient's inner state, and are not a diagnosis.")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def session_timeline(windows: pd.DataFrame, moments: pd.DataFrame, *, title: str):
    """Figure: stacked fused probabilities over time, patient-speaking bands, valence, moments."""
    plt = _plt()
    fig, (ax, axv) = plt.subplots(2, 1, figsize=(11, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    t = windows["window_start_s"].to_numpy()
    width = (windows["window_end_s"] - windows["window_start_s"]).to_numpy()
    probs = np.nan_to_num(windows[[f"p_fused_{e}" for e in EMOTIONS]].to_numpy(float))
    bottom = np.zeros(len(t))
    for i, e in enumerate(EMOTIONS):
        ax.bar(t, probs[:, i], width=width, bottom=bottom, align="edge", color=COLOURS[i], label=e, linewidth=0)
        bottom += probs[:, i]
    for _, w in windows[windows["signal"] == "none"].iterrows():
        ax.axvspan(w["window_start_s"], w["window_end_s"], color="white", hatch="//", ec="#999999", lw=0)
    for _, w in windows[windows["patient_speaking"]].iterrows():
        axv.axvspan(w["window_start_s"], w["window_end_s"], color="#DDEEFF", lw=0)
    axv.plot(t + width / 2, windows["valence"], color="black", lw=1.2, marker=".", ms=3)
    axv.axhline(0, color="#888888", lw=0.6)
    for _, m in moments.iterrows():
        colour = "#D55E00" if m["kind"] == "negative" else "#009E73"
        axv.axvspan(m["start_s"], m["end_s"], color=colour, alpha=0.25, lw=0)
        ax.plot([m["start_s"], m["end_s"]], [1.015, 1.015], color=colour, lw=4, clip_on=False, solid_capstyle="butt")
        ax.annotate(f"{m['kind'][:3]} #{m['rank']}", (m["start_s"], 1.035), color=colour, fontsize=7, annotation_clip=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fused probability")
    ax.set_title(title, fontsize=10, pad=16)
    ax.legend(ncol=7, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    axv.set_ylim(-1, 1)
    axv.set_ylabel("valence")
    axv.set_xlabel("time (s) — blue: patient speaking; red / green: notable negative / positive moments; hatched: no signal")
    fig.tight_layout()
    return fig


def patient_trend(long: pd.DataFrame, *, title: str):
    """Figure: valence per session against the patient's baseline and rolling mean; speaking share."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 4.6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    x = long["session_index"].to_numpy()
    ax.plot(x, long["valence_mean"], marker="o", color="black", label="valence")
    ax.plot(x, long["valence_rolling3"], color="#0072B2", lw=1, ls="--", label="rolling mean (3)")
    ax.axhline(float(long["baseline_valence"].iloc[0]), color="#E69F00", lw=1, label="baseline (first 2 sessions)")
    flagged = long[long["flag_sustained_negative_shift"].fillna(False)]
    ax.scatter(flagged["session_index"], flagged["valence_mean"], s=120, facecolors="none", edgecolors="#D55E00",
               label="sustained negative shift")
    ax.set_ylim(-1, 1)
    ax.set_ylabel("valence")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=10)
    ax2.bar(x, long["speaking_share"].fillna(0), color="#009E73", width=0.5)
    ax2.set_ylabel("speaking share")
    ax2.set_xlabel("session")
    ax2.set_xticks(x, [f"{i}\n{s}" for i, s in zip(x, long["session_id"])], fontsize=7)
    fig.tight_layout()
    return fig


def _png(fig, path: Path) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def write_report(con, out_dir: Path, *, patient_id: str | None = None) -> Path:
    """Write PNGs and a self-contained ``index.html`` for every patient (or one); returns the page."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    long = con.execute("SELECT * FROM v_patient_longitudinal" + (" WHERE patient_id = ?" if patient_id else ""),
                       [patient_id] if patient_id else []).df()
    if long.empty:
        raise ValueError(f"no sessions for {patient_id!r}" if patient_id else "the warehouse has no sessions yet")
    parts = [f"<h1>multimodal-fer report</h1><p class='note'>{html.escape(DISCLAIMER, quote=False)}</p>"]
    for pid, rows in long.groupby("patient_id", sort=True):
        rows = rows.sort_values("session_index")
        parts.append(f"<h2>Patient {html.escape(pid)}</h2>")
        trend = _png(patient_trend(rows, title=f"Patient {pid}: valence and speaking share per session"),
                     out_dir / f"{pid}_trend.png")
        parts.append(_img(trend, f"trend of patient {pid}"))
        table = rows[["session_index", "session_id", "recorded_at", "dominant_emotion", "valence_mean", "valence_change",
                      "speaking_share", "face_coverage", "flag_sustained_negative_shift", "flag_falling_engagement"]]
        parts.append(table.to_html(index=False, na_rep="–", float_format=lambda v: f"{v:.2f}", classes="sessions"))
        for _, s in rows.iterrows():
            sha = con.execute("SELECT recording_sha256 FROM sessions WHERE patient_id = ? AND session_id = ?",
                              [pid, s["session_id"]]).fetchone()[0]
            windows = con.execute("SELECT * FROM emotion_windows WHERE recording_sha256 = ? ORDER BY window_start_s",
                                  [sha]).df()
            moments = con.execute("SELECT * FROM moments WHERE recording_sha256 = ? ORDER BY kind, rank", [sha]).df()
            png = _png(session_timeline(windows, moments, title=f"{pid} / {s['session_id']}: expressed emotion over time"),
                       out_dir / f"{pid}_{s['session_id']}_timeline.png")
            parts.append(f"<h3>Session {html.escape(str(s['session_id']))}</h3>" + _img(png, f"timeline {pid} {s['session_id']}"))
            if len(moments):
                parts.append(moments[["kind", "rank", "start_s", "end_s", "valence", "label", "words"]].to_html(
                    index=False, na_rep="–", float_format=lambda v: f"{v:.1f}", classes="moments"))
    page = out_dir / "index.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>multimodal-fer report</title><style>"
        "body{font-family:sans-serif;max-width:1250px;margin:2em auto;color:#222}img{max-width:100%}"
        "table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}"
        ".note{background:#fff6e0;padding:.5em;border-left:4px solid #E69F00}</style></head><body>"
        + "\n".join(parts) + "</body></html>")
    return page
