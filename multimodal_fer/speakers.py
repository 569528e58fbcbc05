"""Who is speaking: attribute each speech segment to the patient or to the other party.

The patient is the person whose face the face stream tracks. A speech segment is the
patient's when the patient's lips move during it (audio-visual synchrony): the mean absolute
frame-to-frame change of the mouth opening during the segment is compared with the same
measure while nobody speaks. Segments with too few face frames are ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_FACE_FRAMES = 3  # sampled frames with a face needed inside a segment
MIN_LIP_MOTION = 0.015  # mouth-opening units per frame: below this, lips are still
MOTION_RATIO = 1.5  # lip motion during speech must exceed this × the silent baseline


@dataclass(frozen=True)
class Attribution:
    start_s: float
    end_s: float
    speaker: str  # "patient" | "other" | "unknown"
    confidence: float  # [0, 1]
    lip_motion: float  # mean |Δ mouth_open| per sampled frame during the segment (NaN if unknown)


def lip_motion(frames: pd.DataFrame, start_s: float, end_s: float) -> tuple[float, int]:
    """Mean absolute change of ``mouth_open`` between consecutive face frames in [start_s, end_s).

    Returns ``(motion, n_face_frames)``; motion is NaN with fewer than two face frames.
    """
    sel = frames[(frames["t_s"] >= start_s) & (frames["t_s"] < end_s) & frames["face_found"]]
    values = sel["mouth_open"].to_numpy(dtype=np.float64)
    if values.size < 2:
        return float("nan"), int(values.size)
    return float(np.mean(np.abs(np.diff(values)))), int(values.size)


def _silent_baseline(frames: pd.DataFrame, segments: list[tuple[float, float]]) -> float:
    if frames.empty:
        return float("nan")
    t = frames["t_s"].to_numpy()
    speaking = np.zeros(t.size, dtype=bool)
    for s, e in segments:
        speaking |= (t >= s - 0.2) & (t < e + 0.2)
    quiet = frames[~speaking & frames["face_found"].to_numpy()]
    values = quiet["mouth_open"].to_numpy(dtype=np.float64)
    if values.size < 4:
        return float("nan")
    return float(np.mean(np.abs(np.diff(values))))


def attribute_segments(frames: pd.DataFrame, segments: list[tuple[float, float]], *, has_video: bool = True) -> list[Attribution]:
    """Attribute speech segments to ``patient``, ``other`` or ``unknown``.

    Parameters
    ----------
    frames : DataFrame
        Face-stream rows with ``t_s``, ``face_found`` and ``mouth_open``.
    segments : list of (start_s, end_s)
        Voice-activity segments.
    has_video : bool
        An audio-only recording is taken to be the patient's own channel: every segment is
        attributed to the patient with confidence 0.5.
    """
    if not has_video:
        return [Attribution(s, e, "patient", 0.5, float("nan")) for s, e in segments]
    baseline = _silent_baseline(frames, segments)
    threshold = MIN_LIP_MOTION if np.isnan(baseline) else max(MIN_LIP_MOTION, MOTION_RATIO * baseline)
    out = []
    for s, e in segments:
        motion, n = lip_motion(frames, s, e)
        if n < MIN_FACE_FRAMES or np.isnan(motion):
            out.append(Attribution(s, e, "unknown", 0.0, float("nan")))
            continue
        # confidence grows with the distance from the threshold, in units of the threshold
        margin = (motion - threshold) / threshold
        confidence = float(np.clip(0.5 + 0.5 * np.tanh(2.0 * abs(margin)), 0.0, 1.0))
        out.append(Attribution(s, e, "patient" if motion >= threshold else "other", confidence, motion))
    return out
