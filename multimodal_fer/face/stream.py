"""The face stream of one recording: sampled frames → landmarks → features + aligned crop →
per-frame rows.

Owns everything the pipeline needs from the face model family; ``multimodal_fer.pipeline``
only calls :func:`face_stream` (a :class:`FaceStream`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer import media
from multimodal_fer.env import trim_heap
from multimodal_fer.face.calibration import DEFAULT_CALIBRATION, CalibrationOptions, calibrate_session
from multimodal_fer.labels import EMOTIONS
from multimodal_fer_schemas.tables import FACE_PROB_COLS, FACE_RAW_PROB_COLS, row_columns

FACE_COLS = list(FACE_PROB_COLS)  # the schema's face probability columns (calibrated), EMOTIONS order
FACE_RAW_COLS = list(FACE_RAW_PROB_COLS)  # the same before the per-session calibration
FRAME_COLUMNS = list(row_columns("frames"))  # the ``frames`` table without ``recording_sha256``


FACE_BATCH = 256  # sampled frames whose landmarks, features and crops are held before the model runs


def frames_table(observations: list, features: list, model, crops: list | None = None) -> pd.DataFrame:
    """Per-frame rows (the ``frames`` table without ``recording_sha256``); the model runs once on all faces.

    The face columns are the model's own (``FACE_RAW_COLS`` and ``FACE_COLS`` equal): the per-session
    calibration needs every frame of the recording, see :func:`calibrate_frames`.
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
    prob_of = dict(zip(found, probs, strict=True))
    for i, (t, obs) in enumerate(observations):
        row = {"t_s": t, "face_found": obs is not None, "n_faces": 0 if obs is None else int(obs.n_faces)}
        if obs is not None:
            p = prob_of[i]
            yaw, pitch, roll = head_pose(obs.points, obs.image_size)
            best = int(np.argmax(p))
            row.update(dict(zip(FACE_COLS, p, strict=True)))
            row.update(dict(zip(FACE_RAW_COLS, p, strict=True)))
            row.update(
                face_label=EMOTIONS[best],
                face_confidence=float(p[best]),
                mouth_open=float(mouth_opening(obs.points, obs.image_size)),
                yaw_deg=float(yaw),
                pitch_deg=float(pitch),
                roll_deg=float(roll),
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=FRAME_COLUMNS).astype({"face_found": bool})


def calibrate_frames(frames: pd.DataFrame, *, options: CalibrationOptions = DEFAULT_CALIBRATION) -> pd.DataFrame:
    """The frames of one recording (one person) with ``FACE_COLS``, ``face_label`` and ``face_confidence``
    from :func:`~multimodal_fer.face.calibration.calibrate_session` of ``FACE_RAW_COLS`` (a new frame).

    Parameters
    ----------
    frames : DataFrame
        :data:`FRAME_COLUMNS` of a whole recording, as :func:`frames_table` makes them.
    options : CalibrationOptions
        Default: the measured choice (``docs/face.md``).
    """
    out = frames.copy()
    found = out["face_found"].to_numpy(bool)
    if not found.any():
        return out
    p = calibrate_session(out.loc[found, FACE_RAW_COLS].to_numpy(np.float64), options=options)
    best = p.argmax(axis=1)
    out.loc[found, FACE_COLS] = p
    out["face_label"] = out["face_label"].astype(object)
    out.loc[found, "face_label"] = np.asarray(EMOTIONS, dtype=object)[best]
    out.loc[found, "face_confidence"] = p[np.arange(len(p)), best]
    return out


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
        :data:`FACE_COLS` (calibrated per recording) and :data:`FACE_RAW_COLS` (the model's own) each
        sum to 1 on rows with ``face_found`` and are NaN elsewhere. No rows
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


def run_face(
    path: Path, *, fps: float, model, info: media.MediaInfo | None = None, decode_threads: int = 0
) -> pd.DataFrame:
    """Landmarks on every sampled frame of a recording, features, and per-frame probabilities, raw and
    calibrated over the whole recording (:func:`calibrate_frames`).

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
    observations: list = []
    features: list = []
    crops: list = []
    parts: list[pd.DataFrame] = []

    def flush() -> None:  # the model runs per batch, and only the rows are kept (flat memory)
        if observations:
            parts.append(frames_table(observations, features, model, crops if use_crops else None))
            observations.clear()
            features.clear()
            crops.clear()
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
    return calibrate_frames(pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0])
