"""The face stream of one recording: sampled frames → landmarks → features + aligned crop →
per-frame rows.

Owns everything the pipeline needs from the face model family; ``multimodal_fer.pipeline``
only calls :func:`face_stream` (a :class:`FaceStream`). Per-frame post-processing on the
resulting table (pure functions, no model): :func:`expressivity` (distance from the patient's
own neutral face) and :func:`smooth_probabilities` (temporal smoothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer import media
from multimodal_fer.env import trim_heap
from multimodal_fer.labels import EMOTIONS
from schemas.tables import FACE_PROB_COLS, row_columns

FACE_COLS = list(FACE_PROB_COLS)  # the schema's face probability columns, EMOTIONS order
FRAME_COLUMNS = list(row_columns("frames"))  # the ``frames`` table without ``recording_sha256``


FACE_BATCH = 256  # sampled frames whose landmarks, features and crops are held before the model runs
NEUTRAL_FRACTION = 0.2  # share of a session's face frames (highest p_neutral) that calibrate its neutral


def frames_table(observations: list, features: list, model, crops: list | None = None) -> pd.DataFrame:
    """Per-frame rows (the ``frames`` table without ``recording_sha256``); the model runs once on all faces.

    ``crops`` (aligned crops of the same frames, ``None`` where no face) switch on the CNN member
    of the ensemble; without them the landmark-only stack runs.
    """
    from multimodal_fer.face.features import head_pose, mouth_opening

    rows = []
    found = [i for i, (_, obs) in enumerate(observations) if obs is not None]
    if found:
        x = np.stack([features[i] for i in found])
        c = np.stack([crops[i] for i in found]) if crops is not None else None
        probs = model.predict_proba(x, c) if c is not None else model.predict_proba(x)
    else:
        probs = np.empty((0, len(EMOTIONS)))
    prob_of = dict(zip(found, probs))
    for i, (t, obs) in enumerate(observations):
        row = {"t_s": t, "face_found": obs is not None, "n_faces": 0 if obs is None else int(obs.n_faces)}
        if obs is not None:
            p = prob_of[i]
            yaw, pitch, roll = head_pose(obs.points, obs.image_size)
            best = int(np.argmax(p))
            row.update(dict(zip(FACE_COLS, p)))
            row.update(face_label=EMOTIONS[best], face_confidence=float(p[best]),
                       mouth_open=float(mouth_opening(obs.points, obs.image_size)),
                       yaw_deg=float(yaw), pitch_deg=float(pitch), roll_deg=float(roll))
        rows.append(row)
    return pd.DataFrame(rows, columns=FRAME_COLUMNS).astype({"face_found": bool})


def empty_frames() -> pd.DataFrame:
    """The rows of a recording without video: none."""
    return pd.DataFrame(columns=FRAME_COLUMNS).astype({"face_found": bool})


@dataclass(frozen=True)
class FaceStream:
    """The face stream of one recording.

    Attributes
    ----------
    frames : DataFrame
        :data:`FRAME_COLUMNS`, one row per sampled frame (N rows, ``t_s`` in seconds, increasing);
        :data:`FACE_COLS` sum to 1 on rows with ``face_found`` and are NaN elsewhere. No rows
        when the recording has no video.
    """

    frames: pd.DataFrame


def face_stream(path: Path, *, fps: float, model, info: media.MediaInfo, decode_threads: int = 0) -> FaceStream:
    """The :class:`FaceStream` of a recording: :func:`run_face` on its video, no rows without one.

    Parameters
    ----------
    path : Path
        A local recording.
    fps : float
        Frames sampled per second.
    model : FaceModel
        Anything with ``predict_proba(features (N, F)[, crops (N, 48, 48) uint8]) -> (N, 7)``.
    info : MediaInfo
        The recording's probe (``has_video`` decides whether any frame is read).
    decode_threads : int
        Decoder threads (0: the decoder's default).
    """
    if not info.has_video:
        return FaceStream(empty_frames())
    return FaceStream(run_face(path, fps=fps, model=model, info=info, decode_threads=decode_threads))


def run_face(path: Path, *, fps: float, model, info: media.MediaInfo | None = None,
             decode_threads: int = 0) -> pd.DataFrame:
    """Landmarks on every sampled frame of a recording, features, and per-frame probabilities.

    Parameters
    ----------
    path : Path
        A local recording.
    fps : float
        Frames sampled per second.
    model : FaceModel
        Loaded once per worker.

    Returns
    -------
    DataFrame
        :data:`FRAME_COLUMNS`, one row per sampled frame, ``t_s`` increasing.
    """
    from multimodal_fer.face.crop import aligned_crop
    from multimodal_fer.face.features import landmark_features
    from multimodal_fer.face.landmarks import FaceTracker

    use_crops = bool(getattr(model, "has_cnn", False))
    observations, features, crops, parts = [], [], [], []

    def flush() -> None:  # the model runs per batch, and only the rows are kept (flat memory)
        if observations:
            parts.append(frames_table(observations, features, model, crops if use_crops else None))
            observations.clear(), features.clear(), crops.clear()
            trim_heap()

    with FaceTracker() as tracker:
        for t, rgb in media.iter_frames(path, fps=fps, info=info, decode_threads=decode_threads):
            obs = tracker.process(rgb)
            observations.append((t, obs))
            features.append(None if obs is None else landmark_features(obs.points, obs.image_size))
            crops.append(None if obs is None or not use_crops else aligned_crop(rgb, obs.points, obs.image_size))
            if len(observations) >= FACE_BATCH:
                flush()
    flush()
    if not parts:
        return frames_table([], [], model, None)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _face_probabilities(frames_df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(N, 7) float probabilities (NaN rows where no face) and the (N,) bool face mask."""
    p = frames_df[FACE_COLS].to_numpy(dtype=np.float64, na_value=np.nan)
    found = frames_df["face_found"].to_numpy(dtype=bool) & np.isfinite(p).all(axis=1)
    p[~found] = np.nan
    return p, found


def expressivity(frames_df: pd.DataFrame, *, neutral_fraction: float = NEUTRAL_FRACTION) -> np.ndarray:
    """How far each frame's expression is from the patient's own neutral face in this session.

    Per-session calibration: the session's neutral is the mean face-probability vector of the
    ``neutral_fraction`` of face frames with the highest ``p_face_neutral`` (at least one frame).
    Each frame's expressivity is the Hellinger distance between its probability vector and that
    neutral vector, in [0, 1] (0: looks like this patient's neutral; 1: no probability mass in
    common). Being relative to the person's own resting face, it discounts a model bias that is
    constant for that face (e.g. a resting face the model reads as slightly sad).

    Parameters
    ----------
    frames_df : DataFrame
        :data:`FRAME_COLUMNS` rows of one session (only ``face_found`` and :data:`FACE_COLS` are read).
    neutral_fraction : float in (0, 1]

    Returns
    -------
    np.ndarray, shape (N,), float64
        NaN for frames without a face (all NaN when the session has no face).
    """
    if not 0 < neutral_fraction <= 1:
        raise ValueError("neutral_fraction must be in (0, 1]")
    p, found = _face_probabilities(frames_df)
    out = np.full(len(frames_df), np.nan)
    if not found.any():
        return out
    pf = p[found]
    k = max(1, int(np.ceil(neutral_fraction * len(pf))))
    neutral_col = EMOTIONS.index("neutral")
    calm = np.argsort(-pf[:, neutral_col], kind="stable")[:k]
    ref = pf[calm].mean(axis=0)
    bc = np.sqrt(np.clip(pf, 0, None) * np.clip(ref, 0, None)[None, :]).sum(axis=1)  # Bhattacharyya coefficient
    out[found] = np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))
    return out


def smooth_probabilities(frames_df: pd.DataFrame, *, window_s: float = 1.0) -> pd.DataFrame:
    """Temporal smoothing of the face probabilities.

    Each face frame gets the mean probability vector of the face frames whose ``t_s`` lies within
    ``window_s / 2`` of its own (a centred box window in time, so irregular sampling and gaps are
    handled; frames without a face neither contribute nor receive values). Rows still sum to 1;
    ``face_label`` and ``face_confidence`` are recomputed from the smoothed probabilities.

    Parameters
    ----------
    frames_df : DataFrame
        :data:`FRAME_COLUMNS` rows of one session, any order of ``t_s``.
    window_s : float
        Window length in seconds (> 0); a window shorter than the frame spacing changes nothing.

    Returns
    -------
    DataFrame
        A copy of ``frames_df`` (same index and columns) with smoothed :data:`FACE_COLS`.
    """
    if not window_s > 0:
        raise ValueError("window_s must be > 0")
    out = frames_df.copy()
    p, found = _face_probabilities(frames_df)
    if not found.any():
        return out
    t = frames_df["t_s"].to_numpy(dtype=np.float64)[found]
    pf = p[found]
    order = np.argsort(t, kind="stable")
    ts, ps = t[order], pf[order]
    csum = np.vstack([np.zeros((1, ps.shape[1])), np.cumsum(ps, axis=0)])
    lo = np.searchsorted(ts, ts - window_s / 2 - 1e-9, side="left")
    hi = np.searchsorted(ts, ts + window_s / 2 + 1e-9, side="right")
    sm_sorted = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
    sm = np.empty_like(sm_sorted)
    sm[order] = sm_sorted
    sm /= sm.sum(axis=1, keepdims=True)
    idx = np.flatnonzero(found)
    out.loc[out.index[idx], FACE_COLS] = sm
    if "face_label" in out:
        best = sm.argmax(axis=1)
        out.loc[out.index[idx], "face_label"] = [EMOTIONS[b] for b in best]
        out.loc[out.index[idx], "face_confidence"] = sm[np.arange(len(sm)), best]
    return out
