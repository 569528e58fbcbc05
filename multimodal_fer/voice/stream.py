"""The voice stream of one recording, read from its WAV block by block in constant memory.

:func:`voice_activity_prosody` runs voice activity detection and the pitch/loudness tracker over
consecutive blocks of :data:`AUDIO_BLOCK_S` and joins the results on the session clock, so a
2-hour recording needs no more memory than a 2-minute one. :func:`read_clips` reads the pieces
of speech the voice model scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from multimodal_fer import media
from multimodal_fer.env import trim_heap
from multimodal_fer.voice.prosody import PROSODY_WINDOW_COLUMNS, SR, frame_prosody, window_prosody
from multimodal_fer.voice.vad import speech_segments

AUDIO_BLOCK_S = 60.0  # s of audio in memory at a time (≈ 3.8 MB as float32 at 16 kHz)
JOIN_GAP_S = 0.3  # s, segments on either side of a block edge closer than this are one segment


def _block_length(block_s: float, window_s: float) -> float:
    """A whole number of fusion windows, so prosody windows never straddle two blocks."""
    return max(1, int(round(block_s / window_s))) * window_s


def voice_activity_prosody(wav_path: str | Path, *, window_s: float = 1.0, block_s: float = AUDIO_BLOCK_S
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
    prosody = (pd.concat(parts, ignore_index=True) if parts
               else pd.DataFrame(columns=list(PROSODY_WINDOW_COLUMNS)).astype("float64"))
    return segments, prosody, duration


def read_clips(wav_path: str | Path, spans: Sequence[tuple[float, float]]) -> list[np.ndarray]:
    """The mono float32 samples of each ``(start_s, end_s)`` span, read one at a time from the WAV."""
    return [media.read_wav(wav_path, s, e, mono=True) for s, e in spans]
