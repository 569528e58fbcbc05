"""Frame- and window-level prosody of a voice: pitch (F0), voicing, loudness and pauses.

Pitch is tracked with YIN (de Cheveigné & Kawahara 2002), implemented here in vectorised
numpy (FFT cross-correlation, processed in chunks so memory stays flat on long recordings):
10 minutes of audio take about a second on one core, where ``librosa.pyin`` costs about a
minute and grows memory with the recording length. A frame is *voiced* when the YIN
aperiodicity (the cumulative-mean-normalised difference at the chosen period) is below
:data:`VOICING_THRESHOLD` and the frame is louder than :data:`SILENCE_DB`.

For clinicians, :func:`clinical_frames` adds spectral tilt, alpha ratio and syllable nuclei to
the frame track, and :func:`segment_prosody` / :func:`window_prosody_clinical` summarise it per
speech segment / per window (:data:`CLINICAL_COLUMNS`: F0 with voicing probability, energy,
jitter / shimmer estimates, spectral tilt, speaking and articulation rate, pauses). 10 minutes
of speech take a few seconds on one core (``benchmarks/voice_benchmark.py``).

All functions are pure; options are keyword-only. Times are in seconds (``_s``), frequencies
in hertz (``_hz``), levels in dB relative to full scale (``_db``, a full-scale sine's RMS is
-3 dB).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SR = 16000  # Hz, sampling rate every voice function expects
HOP_S = 0.01  # 10 ms between frames
HOP_LENGTH = 160  # samples (HOP_S at SR)
YIN_WINDOW = 480  # samples, 30 ms YIN integration window
FMIN_HZ = 60.0  # Hz, lowest F0 tracked
FMAX_HZ = 600.0  # Hz, highest F0 tracked
YIN_TROUGH_THRESHOLD = 0.15  # first CMND trough below this is taken as the period
VOICING_THRESHOLD = 0.35  # CMND aperiodicity below which a frame counts as voiced
SILENCE_DB = -60.0  # dBFS, frames quieter than this are never voiced
RMS_FLOOR_DB = -100.0  # dBFS, rms_db of digital silence
MIN_PAUSE_S = 0.3  # s, shortest gap between speech segments that counts as a pause
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


def yin_track(audio: np.ndarray, *, sr: int = SR, hop_length: int | None = None
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
    pad_left = window // 2
    pad_right = frame_length + hop
    y_pad = np.pad(y, (pad_left, pad_right))
    n_fft = 1 << int(np.ceil(np.log2(frame_length)))  # >= frame_length: no wrap-around for lags <= max_period
    taus = np.arange(max_period + 1)
    f0 = np.empty(n_frames)
    aper = np.empty(n_frames)
    rms_db = np.empty(n_frames)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        stop = min(n_frames, start + _CHUNK_FRAMES)
        idx = (np.arange(start, stop) * hop)[:, None] + np.arange(frame_length)[None, :]
        frames = y_pad[idx].astype(np.float64)  # (m, frame_length)
        frames = frames - frames[:, :window].mean(axis=1, keepdims=True)
        head = frames[:, :window]
        spec_full = np.fft.rfft(frames, n=n_fft, axis=1)
        spec_head = np.fft.rfft(head, n=n_fft, axis=1)
        r = np.fft.irfft(np.conj(spec_head) * spec_full, n=n_fft, axis=1)[:, : max_period + 1]
        sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames ** 2, axis=1)], axis=1)
        e0 = sq[:, window]  # energy of the integration window
        e_tau = sq[:, taus + window] - sq[:, taus]
        d = np.maximum(e0[:, None] + e_tau - 2.0 * r, 0.0)
        d[:, 0] = 0.0
        cum = np.cumsum(d[:, 1:], axis=1) / np.arange(1, max_period + 1)[None, :]
        cmnd = np.ones_like(d)
        with np.errstate(divide="ignore", invalid="ignore"):
            cmnd[:, 1:] = np.where(cum > 1e-12, d[:, 1:] / cum, 1.0)
        seg = cmnd[:, min_period: max_period + 1]  # candidate lags
        # first local minimum below the trough threshold, else the global minimum
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
            shift = np.where((np.abs(denom) > 1e-12) & (k > 0) & (k < seg.shape[1] - 1),
                             0.5 * (a - c) / denom, 0.0)
        shift = np.clip(shift, -1.0, 1.0)
        period = min_period + k + shift
        f0[start:stop] = sr / period
        aper[start:stop] = np.minimum(b, 1.5)
        power = e0 / window
        rms_db[start:stop] = np.maximum(10.0 * np.log10(power + 1e-20), RMS_FLOOR_DB)
    silent = rms_db <= RMS_FLOOR_DB + 1e-9
    aper[silent] = 1.0
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
    return pd.DataFrame({
        "t_s": np.arange(len(f0)) * (hop / sr),
        "f0_hz": np.where(voiced, f0, np.nan),
        "voiced_prob": voiced_prob,
        "rms_db": rms_db,
    }, columns=list(FRAME_COLUMNS))


def _overlap_s(segments: Sequence[tuple[float, float]], start: float, stop: float) -> float:
    total = 0.0
    for s, e in segments:
        total += max(0.0, min(e, stop) - max(s, start))
    return total


def window_prosody(frames: pd.DataFrame, segments: Sequence[tuple[float, float]], *,
                   duration_s: float, window_s: float = 1.0) -> pd.DataFrame:
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
        rows.append((
            float(w0),
            float(voiced.mean()) if len(voiced) else np.nan,
            float(voiced.std()) if len(voiced) else np.nan,
            float(rms[sel].mean()) if n else np.nan,
            len(voiced) / n if n else 0.0,
            float(np.clip(_overlap_s(segments, w0, w1) / span, 0.0, 1.0)),
        ))
    return pd.DataFrame(rows, columns=list(PROSODY_WINDOW_COLUMNS)).astype("float64")


def pause_stats(segments: Sequence[tuple[float, float]], *, duration_s: float) -> dict[str, float]:
    """Pauses between speech segments.

    Parameters
    ----------
    segments : list of (start_s, end_s)
        Sorted, non-overlapping speech segments in s.
    duration_s : float
        Length of the recording in s.

    Returns
    -------
    dict
        ``pause_count`` (int: gaps between consecutive segments of at least
        :data:`MIN_PAUSE_S`; leading and trailing silence are not pauses), ``pause_mean_s``,
        ``pause_max_s`` (0.0 when there is no pause), ``speech_s`` (total speech, s),
        ``speaking_ratio`` (``speech_s / duration_s``, 0.0 for an empty recording).
    """
    segs = sorted((float(s), float(e)) for s, e in segments)
    gaps = np.array([b[0] - a[1] for a, b in zip(segs[:-1], segs[1:])], dtype=np.float64)
    pauses = gaps[gaps >= MIN_PAUSE_S - 1e-9]
    speech_s = float(sum(max(0.0, e - s) for s, e in segs))
    return {
        "pause_count": int(len(pauses)),
        "pause_mean_s": float(pauses.mean()) if len(pauses) else 0.0,
        "pause_max_s": float(pauses.max()) if len(pauses) else 0.0,
        "speech_s": speech_s,
        "speaking_ratio": float(min(1.0, speech_s / duration_s)) if duration_s > 0 else 0.0,
    }


# --------------------------------------------------------------------------------------------
# Clinician-facing measures per speech segment and per window (added; the functions above and
# PROSODY_WINDOW_COLUMNS are unchanged because the pipeline and the warehouse rely on them).

SPEC_N_FFT = 512  # samples, 32 ms spectrum frame for spectral tilt
TILT_FMIN_HZ = 100.0  # Hz, spectral tilt regression band
TILT_FMAX_HZ = 5000.0
ALPHA_SPLIT_HZ = 1000.0  # Hz, alpha ratio: energy 1-5 kHz over 50 Hz-1 kHz
NUCLEUS_SMOOTH_S = 0.05  # s, moving-average smoothing of the intensity contour
NUCLEUS_DIP_DB = 2.0  # dB, a syllable nucleus rises at least this above the dips around it
NUCLEUS_FLOOR_DB = 25.0  # dB, nuclei lie within this range of the segment's loudest frame
NUCLEUS_MIN_GAP_S = 0.1  # s, minimum distance between two nuclei

CLINICAL_FRAME_COLUMNS: tuple[str, ...] = FRAME_COLUMNS + (
    "tilt_db_per_oct", "alpha_ratio_db", "nucleus")

#: Columns of :func:`segment_prosody` (after ``segment``) and :func:`window_prosody_clinical`
#: (after ``window_start_s``); units are in the names.
CLINICAL_COLUMNS: tuple[str, ...] = (
    "start_s", "end_s", "duration_s", "speech_s",
    "f0_mean_hz", "f0_median_hz", "f0_p5_hz", "f0_p95_hz", "f0_std_st", "f0_range_st",
    "voiced_prob_mean", "voiced_ratio",
    "rms_mean_db", "rms_std_db", "rms_max_db",
    "jitter_local_pct_est", "shimmer_local_db_est",
    "tilt_db_per_oct", "alpha_ratio_db",
    "syllable_count", "speech_rate_syll_per_s", "articulation_rate_syll_per_s",
    "pause_count", "pause_total_s", "pause_mean_s", "pause_max_s",
)


def _frame_spectral(y: np.ndarray, n_frames: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame spectral tilt (dB per octave, 100 Hz-5 kHz) and alpha ratio (dB), chunked."""
    tilt = np.full(n_frames, np.nan)
    alpha = np.full(n_frames, np.nan)
    if n_frames == 0:
        return tilt, alpha
    freqs = np.fft.rfftfreq(SPEC_N_FFT, 1.0 / SR)
    band = (freqs >= TILT_FMIN_HZ) & (freqs <= TILT_FMAX_HZ)
    x = np.log2(freqs[band])
    xc = x - x.mean()
    low = (freqs >= 50.0) & (freqs < ALPHA_SPLIT_HZ)
    high = (freqs >= ALPHA_SPLIT_HZ) & (freqs < TILT_FMAX_HZ)
    win = np.hanning(SPEC_N_FFT)
    y_pad = np.pad(y, (SPEC_N_FFT // 2, SPEC_N_FFT + hop))
    for start in range(0, n_frames, _CHUNK_FRAMES):
        stop = min(n_frames, start + _CHUNK_FRAMES)
        idx = (np.arange(start, stop) * hop)[:, None] + np.arange(SPEC_N_FFT)[None, :]
        p = np.abs(np.fft.rfft(y_pad[idx] * win, axis=1)) ** 2 + 1e-12
        db = 10.0 * np.log10(p[:, band])
        tilt[start:stop] = (db - db.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
        alpha[start:stop] = 10.0 * np.log10(p[:, high].sum(axis=1) / p[:, low].sum(axis=1))
    return tilt, alpha


def _nuclei(rms_db: np.ndarray, voiced: np.ndarray, hop_s: float,
            segments: Sequence[tuple[float, float]]) -> np.ndarray:
    """Syllable nuclei (after de Jong & Wempe 2009): peaks of the smoothed intensity contour
    inside speech segments that are voiced, rise :data:`NUCLEUS_DIP_DB` above the dips around
    them and lie within :data:`NUCLEUS_FLOOR_DB` of the segment's loudest frame."""
    from scipy.signal import find_peaks

    out = np.zeros(len(rms_db), dtype=bool)
    k = max(1, int(round(NUCLEUS_SMOOTH_S / hop_s)))
    if len(rms_db):  # moving average, edges padded with the edge value (not 0 dB)
        padded = np.pad(rms_db, (k // 2, k - 1 - k // 2), mode="edge")
        smooth = np.convolve(padded, np.ones(k) / k, mode="valid")
    else:
        smooth = rms_db
    near_voiced = np.convolve(voiced.astype(float), np.ones(5), mode="same") > 0
    for s, e in segments:
        a, b = int(np.floor(s / hop_s)), min(len(rms_db), int(np.ceil(e / hop_s)) + 1)
        if b - a < 3:
            continue
        seg = smooth[a:b]
        peaks, _ = find_peaks(seg, prominence=NUCLEUS_DIP_DB,
                              distance=max(1, int(round(NUCLEUS_MIN_GAP_S / hop_s))))
        peaks = peaks[(seg[peaks] >= seg.max() - NUCLEUS_FLOOR_DB) & near_voiced[a + peaks]]
        out[a + peaks] = True
    return out


def clinical_frames(audio: np.ndarray, segments: Sequence[tuple[float, float]], *,
                    sr: int = SR) -> pd.DataFrame:
    """:func:`frame_prosody` plus spectral tilt, alpha ratio and syllable nuclei every 10 ms.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono float signal at 16 kHz.
    segments : list of (start_s, end_s)
        Speech segments (nuclei are only searched inside them).
    sr : int
        Must be :data:`SR`.

    Returns
    -------
    pandas.DataFrame, columns :data:`CLINICAL_FRAME_COLUMNS`
        ``tilt_db_per_oct`` (slope of the 100 Hz-5 kHz log power spectrum against log2
        frequency; steeper = more negative = softer, breathier voice), ``alpha_ratio_db``
        (energy 1-5 kHz over 50 Hz-1 kHz), ``nucleus`` (bool, a syllable nucleus here).
    """
    if sr != SR:
        raise ValueError(f"clinical_frames expects {SR} Hz audio, got {sr}")
    y = _as_mono_float(audio)
    frames = frame_prosody(y, sr=sr)
    tilt, alpha = _frame_spectral(y, len(frames), HOP_LENGTH)
    frames["tilt_db_per_oct"] = tilt
    frames["alpha_ratio_db"] = alpha
    frames["nucleus"] = _nuclei(frames["rms_db"].to_numpy(), np.isfinite(frames["f0_hz"].to_numpy()),
                                HOP_S, segments)
    return frames


def _clip_segments(segments: Sequence[tuple[float, float]], start: float, stop: float
                   ) -> list[tuple[float, float]]:
    out = []
    for s, e in sorted(segments):
        s, e = max(float(s), start), min(float(e), stop)
        if e > s:
            out.append((s, e))
    return out


def _summary(frames: pd.DataFrame, sel: np.ndarray, start: float, stop: float,
             segs: list[tuple[float, float]]) -> dict[str, float]:
    f0 = frames["f0_hz"].to_numpy()[sel]
    vp = frames["voiced_prob"].to_numpy()[sel]
    rms = frames["rms_db"].to_numpy()[sel]
    tilt = frames["tilt_db_per_oct"].to_numpy()[sel]
    alpha = frames["alpha_ratio_db"].to_numpy()[sel]
    nuc = frames["nucleus"].to_numpy()[sel].astype(bool)
    voiced = np.isfinite(f0)
    loud = rms > SILENCE_DB
    duration = max(stop - start, 0.0)
    speech_s = float(sum(e - s for s, e in segs))
    nan = float("nan")
    row = {"start_s": float(start), "end_s": float(stop), "duration_s": duration,
           "speech_s": speech_s}
    if voiced.any():
        fv = f0[voiced]
        st = 12.0 * np.log2(fv / 100.0)
        p5, p95 = np.percentile(fv, [5, 95])
        row.update(f0_mean_hz=float(fv.mean()), f0_median_hz=float(np.median(fv)),
                   f0_p5_hz=float(p5), f0_p95_hz=float(p95), f0_std_st=float(st.std()),
                   f0_range_st=float(12.0 * np.log2(p95 / p5)))
    else:
        row.update(f0_mean_hz=nan, f0_median_hz=nan, f0_p5_hz=nan, f0_p95_hz=nan,
                   f0_std_st=nan, f0_range_st=nan)
    row["voiced_prob_mean"] = float(vp[loud].mean()) if loud.any() else 0.0
    row["voiced_ratio"] = float(voiced[loud].mean()) if loud.any() else 0.0
    if loud.any():
        row.update(rms_mean_db=float(rms[loud].mean()), rms_std_db=float(rms[loud].std()),
                   rms_max_db=float(rms.max()))
    else:
        row.update(rms_mean_db=float(rms.mean()) if len(rms) else nan, rms_std_db=nan,
                   rms_max_db=float(rms.max()) if len(rms) else nan)
    # jitter / shimmer: deviation of each voiced frame from the mean of its two voiced
    # neighbours (a frame-level analogue of Praat's RAP / local shimmer; slow intonation and
    # loudness trends cancel out)
    trip = voiced[1:-1] & voiced[:-2] & voiced[2:] if len(f0) >= 3 else np.zeros(0, bool)
    if trip.sum() >= 2:
        period = 1.0 / np.where(voiced, f0, 1.0)
        dev = np.abs(period[1:-1] - (period[:-2] + period[2:]) / 2.0)[trip]
        row["jitter_local_pct_est"] = float(100.0 * dev.mean() / period[voiced].mean())
        sdev = np.abs(rms[1:-1] - (rms[:-2] + rms[2:]) / 2.0)[trip]
        row["shimmer_local_db_est"] = float(sdev.mean())
    else:
        row["jitter_local_pct_est"] = nan
        row["shimmer_local_db_est"] = nan
    tv = voiced & np.isfinite(tilt)
    row["tilt_db_per_oct"] = float(tilt[tv].mean()) if tv.any() else nan
    row["alpha_ratio_db"] = float(alpha[tv].mean()) if tv.any() else nan
    n_syl = int(nuc.sum())
    row["syllable_count"] = float(n_syl)
    row["speech_rate_syll_per_s"] = n_syl / duration if duration > 0 else 0.0
    row["articulation_rate_syll_per_s"] = n_syl / speech_s if speech_s > 0 else 0.0
    gaps = np.array([b[0] - a[1] for a, b in zip(segs[:-1], segs[1:])], dtype=np.float64)
    pauses = gaps[gaps >= MIN_PAUSE_S - 1e-9]
    row.update(pause_count=float(len(pauses)), pause_total_s=float(pauses.sum()),
               pause_mean_s=float(pauses.mean()) if len(pauses) else 0.0,
               pause_max_s=float(pauses.max()) if len(pauses) else 0.0)
    return row


def segment_prosody(frames: pd.DataFrame, segments: Sequence[tuple[float, float]]
                    ) -> pd.DataFrame:
    """Clinician-facing prosody of every speech segment.

    Parameters
    ----------
    frames : pandas.DataFrame
        Output of :func:`clinical_frames`.
    segments : list of (start_s, end_s)
        Speech segments (e.g. :func:`multimodal_fer.voice.vad.speech_segments`).

    Returns
    -------
    pandas.DataFrame, columns ``segment`` + :data:`CLINICAL_COLUMNS`
        One row per segment; ``pause_*`` are 0 (a pause lies between segments: see
        :func:`window_prosody_clinical` or :func:`pause_stats`). F0 measures are NaN for a
        segment without a voiced frame.
    """
    t = frames["t_s"].to_numpy()
    rows = []
    for i, (s, e) in enumerate(sorted(segments)):
        sel = (t >= s - 1e-9) & (t < e)
        rows.append({"segment": i, **_summary(frames, sel, float(s), float(e), [(s, e)])})
    return pd.DataFrame(rows, columns=["segment", *CLINICAL_COLUMNS])


def window_prosody_clinical(frames: pd.DataFrame, segments: Sequence[tuple[float, float]], *,
                            duration_s: float, window_s: float = 10.0) -> pd.DataFrame:
    """Clinician-facing prosody over fixed windows ``[k * window_s, (k + 1) * window_s)``.

    Frame measures (F0, voicing, energy, jitter, shimmer, tilt) use the frames inside speech
    segments only; syllable and pause counts use the segments clipped to the window (a pause
    is a gap of at least :data:`MIN_PAUSE_S` between two segments inside the window).

    Returns
    -------
    pandas.DataFrame, columns ``window_start_s`` + :data:`CLINICAL_COLUMNS`,
    ``ceil(duration_s / window_s)`` rows
    """
    if window_s <= 0:
        raise ValueError("window_s must be > 0")
    duration_s = max(0.0, float(duration_s))
    n_windows = int(np.ceil(duration_s / window_s - 1e-9)) if duration_s > 0 else 0
    t = frames["t_s"].to_numpy()
    in_speech = np.zeros(len(t), dtype=bool)
    for s, e in segments:
        in_speech |= (t >= s - 1e-9) & (t < e)
    rows = []
    for k in range(n_windows):
        w0, w1 = k * window_s, min((k + 1) * window_s, duration_s)
        sel = (t >= w0 - 1e-9) & (t < w1) & in_speech
        rows.append({"window_start_s": float(w0),
                     **_summary(frames, sel, w0, w1, _clip_segments(segments, w0, w1))})
    return pd.DataFrame(rows, columns=["window_start_s", *CLINICAL_COLUMNS])
