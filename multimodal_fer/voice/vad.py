"""Voice activity detection: where in a recording someone speaks.

Uses the silero VAD v6 ONNX model that ships inside ``faster-whisper`` (run with onnxruntime,
one thread; no download). Silero scores 32 ms chunks (512 samples at 16 kHz); speech starts
when a chunk's probability reaches ``threshold`` and ends after ``min_silence_s`` below
``threshold - 0.15``.
"""

from __future__ import annotations

import numpy as np

from multimodal_fer.voice.prosody import SR

SPEECH_PAD_S = 0.03  # s, padding added to each side of a segment (silero's own default)
VAD_CHUNK = 512  # samples, silero's window at 16 kHz


def speech_segments(
    audio: np.ndarray, *, sr: int = SR, threshold: float = 0.5, min_speech_s: float = 0.25, min_silence_s: float = 0.3
) -> list[tuple[float, float]]:
    """Speech segments of a mono recording.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono float32 signal in [-1, 1] at ``sr`` Hz.
    sr : int
        Sampling rate in Hz; silero needs 16000 (other rates are resampled first).
    threshold : float
        Speech probability in (0, 1) above which a chunk counts as speech.
    min_speech_s : float
        Segments shorter than this (s) are dropped.
    min_silence_s : float
        Silence (s) needed to end a segment; shorter gaps are bridged.

    Returns
    -------
    list of (start_s, end_s)
        Sorted, non-overlapping segments in s within ``[0, n / sr]``; ``[]`` for empty or
        silent audio.
    """
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"audio must be mono, shape (n,), got shape {y.shape}")
    if y.size == 0 or not np.any(y):
        return []
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if sr != SR:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=SR).astype(np.float32)
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=float(threshold),
        min_speech_duration_ms=int(round(min_speech_s * 1000)),
        min_silence_duration_ms=int(round(min_silence_s * 1000)),
        speech_pad_ms=int(round(SPEECH_PAD_S * 1000)),
    )
    stamps = get_speech_timestamps(np.ascontiguousarray(y), vad_options=options, sampling_rate=SR)
    duration_s = len(y) / SR
    segments: list[tuple[float, float]] = []
    for stamp in stamps:
        start = min(max(stamp["start"] / SR, 0.0), duration_s)
        end = min(max(stamp["end"] / SR, 0.0), duration_s)
        if end - start < min_speech_s:
            continue
        if segments and start <= segments[-1][1]:  # padding can make neighbours touch
            segments[-1] = (segments[-1][0], max(segments[-1][1], end))
        else:
            segments.append((start, end))
    return segments
