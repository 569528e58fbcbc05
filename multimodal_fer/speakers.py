"""Who is speaking: attribute each speech segment to the patient or to the other party.

The patient is the person whose face the face stream tracks. A speech segment is the
patient's when the patient's lips move during it (audio-visual synchrony): the mean absolute
frame-to-frame change of the mouth opening during the segment is compared with the same
measure while nobody speaks. Segments with too few face frames are ``unknown``.

When the manifest names a separate patient audio channel (the patient's own microphone on one
channel of the track), :func:`attribute_by_channel` decides instead by level: a segment is the
patient's when it is louder on the patient's channel than on the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from multimodal_fer.text.asr import Segment

MIN_FACE_FRAMES = 3  # sampled frames with a face needed inside a segment
MIN_LIP_MOTION = 0.015  # mouth-opening units per frame: below this, lips are still
MOTION_RATIO = 1.5  # lip motion during speech must exceed this × the silent baseline
CHANNEL_DB_SCALE = 6.0  # dB: a level difference this large gives confidence ≈ 0.88
SILENT_DB = -60.0  # dBFS: a channel this quiet in a segment carries no one's speech


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


def attribute_segments(
    frames: pd.DataFrame, segments: list[tuple[float, float]], *, has_video: bool = True
) -> list[Attribution]:
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


def _level_db(y: np.ndarray) -> float:
    return float(20 * np.log10(max(float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0, 1e-10)))


def attribute_by_channel(channels_wav, segments: list[tuple[float, float]]) -> list[Attribution]:
    """Attribute speech segments by the level on the patient's own channel.

    Parameters
    ----------
    channels_wav : path
        2-channel WAV (``media.extract_audio(..., patient_channel=k)``): channel 0 the patient's
        microphone, channel 1 the mean of the other channels.
    segments : list of (start_s, end_s)

    Returns
    -------
    list of Attribution
        ``patient`` when the segment's RMS level is higher on the patient's channel, ``other``
        when lower, ``unknown`` when both are below :data:`SILENT_DB`; confidence
        ``0.5 + 0.5·tanh(|Δ dB| / CHANNEL_DB_SCALE)``; ``lip_motion`` is NaN.
    """
    from multimodal_fer import media

    out = []
    for s, e in segments:
        y = media.read_wav(channels_wav, s, e).reshape(-1, 2)
        pat, other = _level_db(y[:, 0]), _level_db(y[:, 1])
        if max(pat, other) < SILENT_DB:
            out.append(Attribution(s, e, "unknown", 0.0, float("nan")))
            continue
        diff = pat - other
        confidence = float(np.clip(0.5 + 0.5 * np.tanh(abs(diff) / CHANNEL_DB_SCALE), 0.0, 1.0))
        out.append(Attribution(s, e, "patient" if diff > 0 else "other", confidence, float("nan")))
    return out


TURN_SNAP_S = 0.5  # s: a word outside every speech segment takes the speaker of one this close


def _word_speaker(
    start: float, end: float, attributions: list[Attribution], starts: np.ndarray, ends: np.ndarray
) -> tuple[str, float]:
    """Speaker of the segment a word overlaps most, else of one within TURN_SNAP_S (segments sorted)."""
    lo = int(np.searchsorted(ends, start, side="right"))  # first segment ending after the word starts
    hi = int(np.searchsorted(starts, end, side="left"))  # segments from here on start after it ends
    if hi > lo:  # overlapping segments: the largest overlap
        best = max(range(lo, hi), key=lambda i: min(end, float(ends[i])) - max(start, float(starts[i])))
        return attributions[best].speaker, attributions[best].confidence
    gaps = [(start - ends[i], i) for i in (lo - 1,) if i >= 0] + [
        (starts[i] - end, i) for i in (hi,) if i < len(starts)
    ]
    gap, i = min(gaps, default=(np.inf, -1))
    if gap > TURN_SNAP_S:
        return "unknown", 0.0
    return attributions[i].speaker, attributions[i].confidence


def split_by_speaker(segments: Sequence[Segment], attributions: list[Attribution]) -> list[tuple[Segment, str, float]]:
    """Cut recognised segments where the speaker changes, so an utterance has one speaker.

    The recogniser's segments follow its 30 s windows and punctuation, not turns: one segment
    can hold the end of the clinician's question and the start of the patient's answer. Each
    word takes the speaker of the speech segment it overlaps most (or of one within
    :data:`TURN_SNAP_S`); runs of words with one speaker become one utterance.

    Parameters
    ----------
    segments : sequence of :class:`multimodal_fer.text.asr.Segment`
    attributions : list of :class:`Attribution`

    Returns
    -------
    list of (Segment, speaker, confidence)
        In time order; a part keeps its parent's ``avg_logprob`` and ``no_speech_prob``, its text
        is its words joined by spaces, its confidence the mean of its words'. A segment without
        word timings is kept whole with the speaker it overlaps most.
    """
    from multimodal_fer.text.asr import Segment

    attributions = sorted(attributions, key=lambda a: a.start_s)
    starts = np.array([a.start_s for a in attributions], dtype=np.float64)
    ends = (
        np.maximum.accumulate(np.array([a.end_s for a in attributions], dtype=np.float64)) if attributions else starts
    )
    out = []
    for seg in segments:
        if not seg.words:
            out.append((seg, *_word_speaker(seg.start_s, seg.end_s, attributions, starts, ends)))
            continue
        runs: list[list] = []
        for w in seg.words:
            speaker, conf = _word_speaker(w.start_s, w.end_s, attributions, starts, ends)
            if runs and runs[-1][0] == speaker:
                runs[-1][1].append(w)
                runs[-1][2].append(conf)
            else:
                runs.append([speaker, [w], [conf]])
        if len(runs) == 1:
            out.append((seg, runs[0][0], float(np.mean(runs[0][2]))))
            continue
        for speaker, words, confs in runs:
            part = Segment(
                words[0].start_s,
                max(words[-1].end_s, words[0].start_s),
                " ".join(w.text.strip() for w in words),
                seg.avg_logprob,
                seg.no_speech_prob,
                tuple(words),
            )
            out.append((part, speaker, float(np.mean(confs))))
    return out
