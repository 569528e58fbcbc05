"""Frame- and window-level prosody of a voice: pitch (F0), voicing, loudness and pauses.

Pitch is tracked with YIN (de Cheveigné & Kawahara 2002), implemented here in vectorised
numpy (FFT cross-correlation, processed in chunks so memory stays flat on long recordings):
10 minutes of audio take about a second on one core, where ``librosa.pyin`` costs about a
minute and grows memory with the recording length. A frame is *voiced* when the YIN
aperiodicity (the cumulative-mean-normalised difference at the chosen period) is below
:data:`VOICING_THRESHOLD` and the frame is louder than :data:`SILENCE_DB`.

All functions are pure; options are keyword-only. Times are in seconds (``_s``), frequencies
in hertz (``_hz``), levels in dB relative to full scale (``_db``, a full-scale sine's RMS is
-3 dB).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from multimodal_fer.config import AUDIO_SR as SR  # Hz, what every voice function expects

HOP_S = 0.01  # 10 ms between frames
HOP_LENGTH = 160  # samples (HOP_S at SR)
YIN_WINDOW = 480  # samples, 30 ms YIN integration window
FMIN_HZ = 60.0  # Hz, lowest F0 tracked
FMAX_HZ = 600.0  # Hz, highest F0 tracked
YIN_TROUGH_THRESHOLD = 0.15  # first CMND trough below this is taken as the period
VOICING_THRESHOLD = 0.35  # CMND aperiodicity below which a frame counts as voiced
SILENCE_DB = -60.0  # dBFS, frames quieter than this are never voiced
RMS_FLOOR_DB = -100.0  # dBFS, rms_db of digital silence
_CHUNK_FRAMES = 2048  # frames per vectorised YIN block (bounds working memory to ~60 MB)

FRAME_COLUMNS: tuple[str, ...] = ("t_s", "f0_hz", "voiced_prob", "rms_db")
PROSODY_WINDOW_COLUMNS: tuple[str, ...] = (
    "window_start_s",
    "f0_mean_hz",
    "f0_std_hz",
    "rms_mean_db",
    "voiced_ratio",
    "speech_ratio",
)


def _as_mono_float(audio: np.ndarray) -> np.ndarray:
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"audio must be mono, shape (n,), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    return y


def _periods(sr: int) -> tuple[int, int, int]:
    min_period = max(2, int(np.floor(sr / FMAX_HZ)))
    max_period = int(np.ceil(sr / FMIN_HZ))
    window = int(round(YIN_WINDOW * sr / SR))
    return min_period, max_period, window


def _cmnd(*, frames: np.ndarray, window: int, max_period: int, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """YIN's cumulative-mean-normalised difference of a block of frames.

    Parameters
    ----------
    frames : np.ndarray, shape (m, window + max_period), float64
        Mean-removed frames; the first ``window`` samples are the integration window.
    window, max_period : int
        Integration window and longest lag, in samples.
    n_fft : int
        FFT length, >= the frame length (no wrap-around for lags <= ``max_period``).

    Returns
    -------
    cmnd : np.ndarray, shape (m, max_period + 1)
        Normalised difference per lag (1 at lag 0 and where undefined).
    e0 : np.ndarray, shape (m,)
        Energy of the integration window (sum of squared samples).
    """
    taus = np.arange(max_period + 1)
    head = frames[:, :window]
    spec_full = np.fft.rfft(frames, n=n_fft, axis=1)
    spec_head = np.fft.rfft(head, n=n_fft, axis=1)
    r = np.fft.irfft(np.conj(spec_head) * spec_full, n=n_fft, axis=1)[:, : max_period + 1]
    sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    e0 = sq[:, window]  # energy of the integration window
    e_tau = sq[:, taus + window] - sq[:, taus]
    d = np.maximum(e0[:, None] + e_tau - 2.0 * r, 0.0)
    d[:, 0] = 0.0
    cum = np.cumsum(d[:, 1:], axis=1) / np.arange(1, max_period + 1)[None, :]
    cmnd = np.ones_like(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        cmnd[:, 1:] = np.where(cum > 1e-12, d[:, 1:] / cum, 1.0)
    return cmnd, e0


def _pick_period(*, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The period among candidate lags: the first trough below the threshold, else the minimum.

    Parameters
    ----------
    seg : np.ndarray, shape (m, n_lags)
        CMND at the candidate lags ``min_period .. max_period``.

    Returns
    -------
    k : np.ndarray, shape (m,), int
        Chosen lag as an offset into ``seg`` (samples).
    shift : np.ndarray, shape (m,)
        Parabolic-interpolation correction of ``k``, in [-1, 1] samples.
    value : np.ndarray, shape (m,)
        CMND at the chosen (integer) lag.
    """
    is_trough = np.zeros_like(seg, dtype=bool)
    is_trough[:, 1:-1] = (seg[:, 1:-1] <= seg[:, :-2]) & (seg[:, 1:-1] < seg[:, 2:])
    below = is_trough & (seg < YIN_TROUGH_THRESHOLD)
    has_below = below.any(axis=1)
    k = np.where(has_below, below.argmax(axis=1), seg.argmin(axis=1))
    rows = np.arange(len(seg))
    # parabolic interpolation of the trough
    km = np.clip(k - 1, 0, seg.shape[1] - 1)
    kp = np.clip(k + 1, 0, seg.shape[1] - 1)
    a, b, c = seg[rows, km], seg[rows, k], seg[rows, kp]
    denom = a - 2.0 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where((np.abs(denom) > 1e-12) & (k > 0) & (k < seg.shape[1] - 1), 0.5 * (a - c) / denom, 0.0)
    shift = np.clip(shift, -1.0, 1.0)
    return k, shift, b


def yin_track(
    audio: np.ndarray, *, sr: int = SR, hop_length: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YIN pitch track with its aperiodicity and frame loudness.

    Frame ``i`` is centred on sample ``i * hop_length``.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono signal, float in [-1, 1].
    sr : int
        Sampling rate in Hz.
    hop_length : int, optional
        Samples between frames; default 10 ms.

    Returns
    -------
    f0_hz : np.ndarray, shape (n_frames,)
        Best period candidate as a frequency in Hz for every frame (also unvoiced ones).
    aperiodicity : np.ndarray, shape (n_frames,)
        Cumulative-mean-normalised difference at that period, in [0, ~1.5]; 1 for silence.
    rms_db : np.ndarray, shape (n_frames,)
        RMS level over the YIN window in dBFS, floored at :data:`RMS_FLOOR_DB`.
    """
    y = _as_mono_float(audio)  # float32; frames are promoted to float64 chunk by chunk
    hop = int(hop_length or round(HOP_S * sr))
    min_period, max_period, window = _periods(sr)
    frame_length = window + max_period
    n_frames = 1 + len(y) // hop if len(y) else 0
    if n_frames == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    # centre frames: the integration window [c - W/2, c + W/2) starts each frame
    y_pad = np.pad(y, (window // 2, frame_length + hop))
    n_fft = 1 << int(np.ceil(np.log2(frame_length)))  # >= frame_length: no wrap-around for lags <= max_period
    f0 = np.empty(n_frames)
    aper = np.empty(n_frames)
    rms_db = np.empty(n_frames)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        stop = min(n_frames, start + _CHUNK_FRAMES)
        idx = (np.arange(start, stop) * hop)[:, None] + np.arange(frame_length)[None, :]
        frames = y_pad[idx].astype(np.float64)  # (m, frame_length)
        frames = frames - frames[:, :window].mean(axis=1, keepdims=True)
        cmnd, e0 = _cmnd(frames=frames, window=window, max_period=max_period, n_fft=n_fft)
        k, shift, b = _pick_period(seg=cmnd[:, min_period : max_period + 1])
        f0[start:stop] = sr / (min_period + k + shift)  # this order of sums: the numbers stay bit-identical
        aper[start:stop] = np.minimum(b, 1.5)
        rms_db[start:stop] = np.maximum(10.0 * np.log10(e0 / window + 1e-20), RMS_FLOOR_DB)
    aper[rms_db <= RMS_FLOOR_DB + 1e-9] = 1.0  # silence
    return f0, aper, rms_db


def frame_prosody(audio: np.ndarray, *, sr: int = SR) -> pd.DataFrame:
    """Pitch, voicing and loudness every 10 ms.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono float signal at ``sr`` Hz.
    sr : int
        Sampling rate in Hz (the project uses :data:`SR`).

    Returns
    -------
    pandas.DataFrame, one row per frame, ``n // hop + 1`` rows (0 rows for empty audio)
        ``t_s`` (frame centre, s), ``f0_hz`` (NaN when unvoiced), ``voiced_prob`` (in [0, 1],
        ``1 - aperiodicity``; 0 for silent frames), ``rms_db`` (dBFS over a 30 ms window).
    """
    hop = int(round(HOP_S * sr))
    f0, aper, rms_db = yin_track(audio, sr=sr, hop_length=hop)
    loud = rms_db > SILENCE_DB
    voiced = (aper < VOICING_THRESHOLD) & loud
    voiced_prob = np.where(loud, np.clip(1.0 - aper, 0.0, 1.0), 0.0)
    return pd.DataFrame(
        {
            "t_s": np.arange(len(f0)) * (hop / sr),
            "f0_hz": np.where(voiced, f0, np.nan),
            "voiced_prob": voiced_prob,
            "rms_db": rms_db,
        },
        columns=list(FRAME_COLUMNS),
    )


def _overlap_s(segments: Sequence[tuple[float, float]], start: float, stop: float) -> float:
    total = 0.0
    for s, e in segments:
        total += max(0.0, min(e, stop) - max(s, start))
    return total


def window_prosody(
    frames: pd.DataFrame, segments: Sequence[tuple[float, float]], *, duration_s: float, window_s: float = 1.0
) -> pd.DataFrame:
    """Summarise frame prosody over fixed windows ``[k * window_s, (k + 1) * window_s)``.

    Parameters
    ----------
    frames : pandas.DataFrame
        Output of :func:`frame_prosody`.
    segments : list of (start_s, end_s)
        Speech segments (e.g. from :func:`multimodal_fer.voice.vad.speech_segments`).
    duration_s : float
        Length of the recording in s; windows cover ``[0, duration_s)``, the last one may be
        partial (``ceil(duration_s / window_s)`` rows).
    window_s : float
        Window length in s.

    Returns
    -------
    pandas.DataFrame, columns :data:`PROSODY_WINDOW_COLUMNS`
        ``window_start_s``; ``f0_mean_hz`` / ``f0_std_hz`` over voiced frames (NaN when the
        window has no voiced frame; std 0 for a single one); ``rms_mean_db`` mean frame level
        (NaN when no frame); ``voiced_ratio`` voiced frames / frames; ``speech_ratio`` share of
        the (possibly partial) window inside speech segments, in [0, 1].
    """
    if window_s <= 0:
        raise ValueError("window_s must be > 0")
    duration_s = max(0.0, float(duration_s))
    n_windows = int(np.ceil(duration_s / window_s - 1e-9)) if duration_s > 0 else 0
    starts = np.arange(n_windows) * window_s
    t = frames["t_s"].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
    f0 = frames["f0_hz"].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
    rms = frames["rms_db"].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
    win_idx = np.floor(t / window_s + 1e-9).astype(np.int64)
    rows = []
    for k, w0 in enumerate(starts):
        sel = win_idx == k
        f = f0[sel]
        voiced = f[np.isfinite(f)]
        n = int(sel.sum())
        w1 = min(w0 + window_s, duration_s)
        span = max(w1 - w0, 1e-12)
        rows.append(
            (
                float(w0),
                float(voiced.mean()) if len(voiced) else np.nan,
                float(voiced.std()) if len(voiced) else np.nan,
                float(rms[sel].mean()) if n else np.nan,
                len(voiced) / n if n else 0.0,
                float(np.clip(_overlap_s(segments, w0, w1) / span, 0.0, 1.0)),
            )
        )
    return pd.DataFrame(rows, columns=list(PROSODY_WINDOW_COLUMNS)).astype("float64")
