"""The voice stream of one recording, read from its WAV block by block in constant memory.

:func:`voice_activity_prosody` runs voice activity detection and the pitch/loudness tracker over
consecutive blocks of :data:`AUDIO_BLOCK_S` and joins the results on the session clock, so a
2-hour recording needs no more memory than a 2-minute one (the audio path). Once the face
stream is known, :func:`score_patient_speech` says who speaks in each segment, cuts the patient's
speech into :func:`speech_chunks` and scores them with the voice model :data:`VOICE_BATCH`
chunks at a time (:func:`read_clips`): the result is a :class:`VoiceStream`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer import media
from multimodal_fer.env import trim_heap
from multimodal_fer.labels import EMOTIONS
from multimodal_fer.speakers import attribute_by_channel, attribute_segments
from multimodal_fer.voice.prosody import PROSODY_WINDOW_COLUMNS, SR, frame_prosody, window_prosody
from multimodal_fer.voice.vad import speech_segments
from multimodal_fer_schemas.tables import VOICE_PROB_COLS

AUDIO_BLOCK_S = 60.0  # s of audio in memory at a time (≈ 3.8 MB as float32 at 16 kHz)
JOIN_GAP_S = 0.3  # s, segments on either side of a block edge closer than this are one segment
VOICE_CHUNK_S = 3.0  # seconds: patient speech is scored by the voice model in chunks of at most this
VOICE_MIN_CHUNK_S = 0.5  # seconds: shorter leftovers are merged into the previous chunk
VOICE_BATCH = 64  # chunks (≤ 3.2 min of audio) read and scored by the voice model at a time


def _block_length(block_s: float, window_s: float) -> float:
    """A whole number of fusion windows, so prosody windows never straddle two blocks."""
    return max(1, int(round(block_s / window_s))) * window_s


def voice_activity_prosody(
    wav_path: str | Path, *, window_s: float = 1.0, block_s: float = AUDIO_BLOCK_S
) -> tuple[list[tuple[float, float]], pd.DataFrame, float]:
    """Speech segments and windowed prosody of a mono 16 kHz WAV, block by block.

    Parameters
    ----------
    wav_path : path
        Mono WAV at :data:`~multimodal_fer.voice.prosody.SR` (``media.extract_audio`` writes one).
    window_s : float
        Prosody window length, s (the fusion's window).
    block_s : float
        Audio read per step, s; rounded to a whole number of windows.

    Returns
    -------
    segments : list of (start_s, end_s)
        Sorted, non-overlapping speech segments on the session clock; a segment cut by a block
        edge is joined again.
    prosody : DataFrame
        :data:`~multimodal_fer.voice.prosody.PROSODY_WINDOW_COLUMNS`, one row per window of the audio.
    duration_s : float
        Length of the audio, s.
    """
    block_s = _block_length(block_s, window_s)
    segments: list[tuple[float, float]] = []
    parts: list[pd.DataFrame] = []
    duration = 0.0
    for start, y in media.wav_blocks(wav_path, block_s=block_s):
        y = y if y.ndim == 1 else y.mean(axis=1)
        length = y.size / SR
        duration = start + length
        local = speech_segments(y, sr=SR)
        for s, e in local:
            s, e = s + start, e + start
            if segments and s - segments[-1][1] <= JOIN_GAP_S and segments[-1][1] >= start - JOIN_GAP_S:
                segments[-1] = (segments[-1][0], max(segments[-1][1], e))  # joined across (or within) the edge
            else:
                segments.append((s, e))
        windows = window_prosody(frame_prosody(y, sr=SR), local, duration_s=length, window_s=window_s)
        windows["window_start_s"] += start
        parts.append(windows)
        del y
        trim_heap()
    prosody = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=list(PROSODY_WINDOW_COLUMNS)).astype("float64")
    )
    return segments, prosody, duration


def read_clips(wav_path: str | Path, spans: Sequence[tuple[float, float]]) -> list[np.ndarray]:
    """The mono float32 samples of each ``(start_s, end_s)`` span, read one at a time from the WAV."""
    return [media.read_wav(wav_path, s, e, mono=True) for s, e in spans]


def speech_chunks(segments: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cut speech into the pieces the voice model scores.

    Each ``(start_s, end_s)`` segment longer than :data:`VOICE_CHUNK_S` is cut into
    ``floor(length / VOICE_CHUNK_S)`` equal pieces (so each is at least ``VOICE_CHUNK_S`` long and
    shorter than twice that); a piece shorter than :data:`VOICE_MIN_CHUNK_S` extends the previous
    chunk to its end, across any silence between them (a short first piece stays a chunk of its own).

    Returns
    -------
    list of (start_s, end_s)
        Sorted, non-overlapping, seconds; together they hold every instant of ``segments``.
    """
    out: list[tuple[float, float]] = []
    for s, e in segments:
        n = max(1, int(np.floor((e - s) / VOICE_CHUNK_S)))
        edges = np.linspace(s, e, n + 1) if (e - s) > VOICE_CHUNK_S else np.array([s, e])
        for a, b in pairwise(edges):
            if b - a >= VOICE_MIN_CHUNK_S or not out:
                out.append((float(a), float(b)))
            else:
                out[-1] = (out[-1][0], float(b))
    return out


@dataclass(frozen=True)
class VoiceStream:
    """The voice stream of one recording.

    Attributes
    ----------
    segments : list of (start_s, end_s)
        Voice activity of anyone, seconds on the session clock, sorted and non-overlapping.
    prosody : DataFrame or None
        :data:`~multimodal_fer.voice.prosody.PROSODY_WINDOW_COLUMNS`, one row per fusion window of
        the audio; None without audio.
    attributions : list of Attribution
        Who speaks in each segment (:mod:`multimodal_fer.speakers`).
    method : str
        How speakers were told apart: ``channel``, ``lip_sync`` or ``audio_only``.
    chunks : list of (start_s, end_s)
        The pieces of patient speech the voice model scored (:func:`speech_chunks`), M of them.
    probabilities : DataFrame
        M rows: ``start_s``, ``end_s`` (seconds) and :data:`VOICE_COLS` (each row sums to 1).
    """

    segments: list[tuple[float, float]]
    prosody: pd.DataFrame | None
    attributions: list
    method: str
    chunks: list[tuple[float, float]]
    probabilities: pd.DataFrame


VOICE_COLS = list(VOICE_PROB_COLS)  # the schema's voice probability columns, EMOTIONS order


def _score(wav_path: str | Path, chunks: list[tuple[float, float]], model) -> pd.DataFrame:
    """Voice-model rows of ``chunks``, :data:`VOICE_BATCH` clips in memory at a time."""
    parts = [np.empty((0, len(EMOTIONS)))]
    for b in range(0, len(chunks), VOICE_BATCH):  # a few minutes of audio in memory at a time
        parts.append(model.predict_proba(read_clips(wav_path, chunks[b : b + VOICE_BATCH])))
        trim_heap()
    voice = pd.DataFrame(np.vstack(parts), columns=VOICE_COLS)
    voice.insert(0, "end_s", [e for _, e in chunks])
    voice.insert(0, "start_s", [s for s, _ in chunks])
    return voice


def score_patient_speech(
    wav_path: str | Path,
    *,
    segments: list[tuple[float, float]],
    prosody: pd.DataFrame | None,
    frames: pd.DataFrame,
    has_video: bool,
    channels_wav: str | Path | None,
    patient_speakers: Sequence[str],
    model,
) -> VoiceStream:
    """Who speaks in each segment, and the voice model on the patient's speech.

    Parameters
    ----------
    wav_path : path
        Mono 16 kHz WAV of the recording (what :func:`voice_activity_prosody` read).
    segments, prosody
        What :func:`voice_activity_prosody` returned (``prosody`` None without audio).
    frames : DataFrame
        The face stream's rows (lip motion tells the patient's speech apart).
    has_video : bool
        Whether the recording has video (without it all speech counts as the patient's).
    channels_wav : path or None
        The two-channel WAV when the manifest names the patient's channel: speakers by level.
    patient_speakers : sequence of str
        Speaker labels whose speech the voice model scores.
    model : VoiceModel
        Anything with ``predict_proba(list of float32 arrays) -> (M, 7)``.
    """
    if channels_wav is not None:
        attributions, method = attribute_by_channel(channels_wav, segments), "channel"
    else:
        attributions = attribute_segments(frames, segments, has_video=has_video)
        method = "lip_sync" if has_video else "audio_only"
    chunks = speech_chunks([(a.start_s, a.end_s) for a in attributions if a.speaker in patient_speakers])
    return VoiceStream(segments, prosody, attributions, method, chunks, _score(wav_path, chunks, model))
