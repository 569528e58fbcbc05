"""Per-session summary of the patient's expressed emotion, and its notable moments."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS
from multimodal_fer_schemas.tables import row_columns

MOMENT_SMOOTH_WINDOWS = 3  # windows in the rolling mean of valence used to find moments
MOMENT_MIN_GAP_S = 5.0  # seconds between two moments of the same kind
MOMENT_MIN_ABS_VALENCE = 0.15  # weaker expression is not "notable"
TOP_MOMENTS = 3  # per kind
PAUSE_MIN_S = 0.3  # seconds


def _std(x: pd.Series) -> float:
    x = x.dropna()
    return float(x.std(ddof=0)) if len(x) else float("nan")


def expressivity(p_face_neutral: pd.Series) -> pd.Series:
    """Facial expressivity of face frames: ``1 - p(neutral)`` of the face stream, in [0, 1].

    The one definition; ``session_summaries.expressivity_mean`` is its mean over a session's face frames.
    """
    return 1.0 - p_face_neutral


def summarize(
    windows: pd.DataFrame,
    frames: pd.DataFrame,
    utterances: pd.DataFrame,
    speech_segments: list[tuple[float, float]],
    *,
    duration_s: float,
) -> dict:
    """One ``session_summaries`` row (without ``recording_sha256``).

    Shares, valence and arousal are over windows with signal (the patient's face or speech);
    speaking time and rate are over speech attributed to the patient.
    """
    sig = windows[windows["signal"] != "none"] if len(windows) else windows
    row: dict = {}
    labels = sig["fused_label"].value_counts(normalize=True) if len(sig) else pd.Series(dtype=float)
    for e in EMOTIONS:
        row[f"share_{e}"] = float(labels.get(e, 0.0)) if len(sig) else np.nan
    row["dominant_emotion"] = str(labels.idxmax()) if len(labels) else None
    row["valence_mean"] = float(sig["valence"].mean()) if len(sig) else np.nan
    row["valence_std"] = _std(sig["valence"]) if len(sig) else np.nan
    row["arousal_mean"] = float(sig["arousal"].mean()) if len(sig) else np.nan
    row["arousal_std"] = _std(sig["arousal"]) if len(sig) else np.nan
    faces = frames[frames["face_found"]] if len(frames) else frames
    row["expressivity_mean"] = float(expressivity(faces["p_face_neutral"]).mean()) if len(faces) else np.nan

    patient = utterances[utterances["speaker"] == "patient"] if len(utterances) else utterances
    speaking = windows["patient_speaking"] if len(windows) else pd.Series(dtype=bool)
    spoken = windows.loc[speaking] if len(windows) else None
    row["speaking_time_s"] = (
        float((spoken["window_end_s"] - spoken["window_start_s"]).sum()) if spoken is not None else 0.0
    )
    speech = float(sum(e - s for s, e in speech_segments))
    row["speech_time_s"] = speech
    row["n_turns"] = int(len(patient))
    gaps = [b[0] - a[1] for a, b in pairwise(speech_segments) if b[0] - a[1] >= PAUSE_MIN_S]
    row["pause_count"] = len(gaps)
    row["pause_mean_s"] = float(np.mean(gaps)) if gaps else np.nan
    patient_time = float((patient["end_s"] - patient["start_s"]).sum()) if len(patient) else 0.0
    row["speech_rate_wps"] = float(patient["n_words"].sum() / patient_time) if patient_time > 0 else np.nan
    f0 = windows["f0_mean_hz"].dropna() if len(windows) else pd.Series(dtype=float)
    row["f0_mean_hz"] = float(f0.mean()) if len(f0) else np.nan
    row["f0_std_hz"] = _std(f0) if len(f0) else np.nan
    row["face_coverage"] = float(frames["face_found"].mean()) if len(frames) else 0.0
    row["speech_coverage"] = float(min(speech / duration_s, 1.0)) if duration_s > 0 else 0.0
    row["n_windows"] = int(len(windows))
    row["n_windows_signal"] = int(len(sig))
    return row


def notable_moments(windows: pd.DataFrame, words: pd.DataFrame, *, top: int = TOP_MOMENTS) -> pd.DataFrame:
    """The strongest negative and positive stretches of expressed emotion.

    Valence is smoothed over :data:`MOMENT_SMOOTH_WINDOWS` windows; the extreme windows are
    taken greedily, at least :data:`MOMENT_MIN_GAP_S` apart, and only when
    ``|valence| >= MOMENT_MIN_ABS_VALENCE``. ``words`` (``start_s``, ``end_s``, ``word``) are
    the words spoken during the moment.

    Returns
    -------
    DataFrame
        ``kind, rank, start_s, end_s, valence, label, words``.
    """
    cols = list(row_columns("moments"))
    sig = windows[windows["signal"] != "none"].copy() if len(windows) else windows
    if not len(sig):
        return pd.DataFrame(columns=cols)
    sig["smooth"] = sig["valence"].rolling(MOMENT_SMOOTH_WINDOWS, center=True, min_periods=1).mean()
    half = (MOMENT_SMOOTH_WINDOWS // 2) * float((windows["window_end_s"] - windows["window_start_s"]).max())
    out = []
    for kind, ascending in (("negative", True), ("positive", False)):
        chosen: list[float] = []
        for _, w in sig.sort_values("smooth", ascending=ascending).iterrows():
            v = float(w["smooth"])
            if (kind == "negative" and v > -MOMENT_MIN_ABS_VALENCE) or (
                kind == "positive" and v < MOMENT_MIN_ABS_VALENCE
            ):
                break
            if any(abs(w["window_start_s"] - c) < MOMENT_MIN_GAP_S for c in chosen):
                continue
            chosen.append(float(w["window_start_s"]))
            start, end = max(float(w["window_start_s"]) - half, 0.0), float(w["window_end_s"]) + half
            spoken = None
            if len(words):
                hit = words[(words["end_s"] > start) & (words["start_s"] < end)]
                spoken = " ".join(str(x).strip() for x in hit["word"]) or None
            out.append(
                {
                    "kind": kind,
                    "rank": len(chosen),
                    "start_s": start,
                    "end_s": end,
                    "valence": max(-1.0, min(1.0, v)),
                    "label": w["fused_label"],
                    "words": spoken,
                }
            )
            if len(chosen) >= top:
                break
    return pd.DataFrame(out, columns=cols)
