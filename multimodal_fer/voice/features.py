"""Utterance-level acoustic functionals of a voice clip (the first part of the voice model's input).

A clip (one utterance / speech segment, 16 kHz mono) is trimmed to its speech with the VAD and
described by :data:`N_FUNCTIONALS` values named by :data:`FUNCTIONAL_NAMES` (:func:`clip_features`):
MFCC and log-mel statistics, spectral shape, F0 and energy statistics, spectral tilt, voicing,
frame-level jitter / shimmer estimates and timing. Statistics are taken over the *active* frames
(within :data:`ACTIVE_RANGE_DB` of the loudest one).

The helpers are pure and keyword-only; times are in s, frequencies in Hz, levels in dB.
:data:`FUNCTIONAL_VERSION` keys the training feature cache: bump it when a value changes.
"""

from __future__ import annotations

import warnings

import numpy as np

from multimodal_fer.voice.prosody import HOP_LENGTH, SR, frame_prosody
from multimodal_fer.voice.vad import speech_segments

FUNCTIONAL_VERSION = "voice-functionals-1"  # bump when clip_features changes (invalidates caches)
MIN_CLIP_S = 0.25  # s, shorter clips are zero-padded to this length
N_FFT = 512  # samples, 32 ms STFT frame
WIN_LENGTH = 400  # samples, 25 ms analysis window
N_MELS = 40  # mel bands, 0-8 kHz
N_MFCC = 20  # cepstral coefficients
ACTIVE_RANGE_DB = 35.0  # dB, frames within this range of the loudest frame are "active"


def _feature_names() -> tuple[str, ...]:
    names: list[str] = []
    names += [f"mfcc{i}_mean" for i in range(N_MFCC)]
    names += [f"mfcc{i}_std" for i in range(N_MFCC)]
    names += [f"dmfcc{i}_std" for i in range(N_MFCC)]
    names += [f"logmel{i}_mean_db" for i in range(N_MELS)]
    names += [f"logmel{i}_std_db" for i in range(N_MELS)]
    for s in ("centroid_hz", "bandwidth_hz", "rolloff_hz", "flatness", "zcr"):
        names += [f"{s}_mean", f"{s}_std"]
    names += [f"contrast{i}_mean_db" for i in range(7)]
    names += [
        "f0_mean_st",
        "f0_std_st",
        "f0_median_st",
        "f0_p10_st",
        "f0_p90_st",
        "f0_range_st",
        "f0_slope_st_per_s",
        "f0_delta_abs_st",
    ]
    names += [
        "rms_mean_db",
        "rms_std_db",
        "rms_max_db",
        "rms_p10_db",
        "rms_p90_db",
        "rms_slope_db_per_s",
        "rms_delta_abs_db",
    ]
    names += [
        "voiced_ratio",
        "voiced_prob_mean",
        "jitter_rel",
        "shimmer_db",
        "tilt_db_per_band",
        "alpha_ratio_db",
        "hammarberg_db",
        "speech_s",
        "pause_ratio",
        "voiced_run_mean_s",
    ]
    return tuple(names)


FUNCTIONAL_NAMES: tuple[str, ...] = _feature_names()
N_FUNCTIONALS = len(FUNCTIONAL_NAMES)


def _prepare_clip(audio: np.ndarray) -> np.ndarray:
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    min_len = int(MIN_CLIP_S * SR)
    if len(y) < min_len:
        y = np.pad(y, (0, min_len - len(y)))
    return y


def _trim_to_speech(y: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Crop a prepared clip to the span from its first to its last VAD speech segment.

    Returns the (possibly unchanged) clip and its speech segments relative to the crop
    (``[]`` when the VAD finds none, in which case the whole clip is kept).
    """
    segs = speech_segments(y, min_speech_s=0.1, min_silence_s=0.2)
    if segs:
        a, b = int(segs[0][0] * SR), int(np.ceil(segs[-1][1] * SR))
        if b - a >= int(MIN_CLIP_S * SR):
            y = y[a:b]
            segs = [(s - segs[0][0], e - segs[0][0]) for s, e in segs]
    return y, segs


def _slope(t: np.ndarray, v: np.ndarray) -> float:
    if len(v) < 3 or np.ptp(t) <= 0:
        return 0.0
    return float(np.polyfit(t, v, 1)[0])


def _stats(v: np.ndarray) -> tuple[float, float]:
    return (float(v.mean()), float(v.std())) if len(v) else (np.nan, np.nan)


def frame_tracks(y: np.ndarray) -> dict[str, np.ndarray]:
    """Frame-level spectra and prosody of a prepared clip, on one 10 ms frame grid.

    Parameters
    ----------
    y : np.ndarray, shape (n,), float32
        Mono clip at :data:`~multimodal_fer.voice.prosody.SR` Hz.

    Returns
    -------
    dict of np.ndarray, ``T`` frames each
        ``spec`` (N_FFT // 2 + 1, T) power spectrum; ``logmel`` (N_MELS, T) in dB; ``rms_db``,
        ``f0_hz`` (NaN when unvoiced), ``voiced_prob`` (T,) from
        :func:`~multimodal_fer.voice.prosody.frame_prosody`; ``t_s`` (T,) frame times in s;
        ``active`` (T,) bool, frames within :data:`ACTIVE_RANGE_DB` of the loudest (all frames
        when fewer than 3 are); ``voiced`` (T,) bool, frames with an F0.
    """
    import librosa

    spec = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH)) ** 2
    mel = librosa.feature.melspectrogram(S=spec, sr=SR, n_mels=N_MELS, fmin=0.0, fmax=SR / 2)
    logmel = 10.0 * np.log10(mel + 1e-10)
    frames = frame_prosody(y)
    n = min(spec.shape[1], len(frames))
    rms_db = frames["rms_db"].to_numpy()[:n]
    f0 = frames["f0_hz"].to_numpy()[:n]
    active = rms_db > max(rms_db.max() - ACTIVE_RANGE_DB, -70.0)
    if active.sum() < 3:
        active = np.ones(n, dtype=bool)
    return {
        "spec": spec[:, :n],
        "logmel": logmel[:, :n],
        "rms_db": rms_db,
        "f0_hz": f0,
        "voiced_prob": frames["voiced_prob"].to_numpy()[:n],
        "t_s": np.arange(n) * (HOP_LENGTH / SR),
        "active": active,
        "voiced": np.isfinite(f0),
    }


def spectral_functionals(*, y: np.ndarray, spec: np.ndarray, logmel: np.ndarray, active: np.ndarray) -> list[float]:
    """MFCC, delta-MFCC, log-mel, spectral-shape and contrast statistics over the active frames.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        The clip the frames come from (for the zero-crossing rate).
    spec : np.ndarray, shape (N_FFT // 2 + 1, T)
        Power spectrum.
    logmel : np.ndarray, shape (N_MELS, T)
        Log-mel spectrum in dB.
    active : np.ndarray, shape (T,), bool
        Frames the statistics are taken over.

    Returns
    -------
    list of float, 3 * N_MFCC + 2 * N_MELS + 10 + 7 values
        In :data:`FUNCTIONAL_NAMES` order (``mfcc0_mean`` … ``contrast6_mean_db``).
    """
    import librosa

    n = spec.shape[1]
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=N_MFCC)
    dmfcc = librosa.feature.delta(mfcc, width=5, mode="nearest") if n >= 5 else np.zeros_like(mfcc)
    mag = np.sqrt(spec)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=SR)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=mag, sr=SR)[0]
    rolloff = librosa.feature.spectral_rolloff(S=mag, sr=SR, roll_percent=0.85)[0]
    flatness = librosa.feature.spectral_flatness(S=mag)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=WIN_LENGTH, hop_length=HOP_LENGTH)[0][:n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        contrast = librosa.feature.spectral_contrast(S=mag, sr=SR, fmin=100.0, n_bands=6)

    A = active
    feats: list[float] = []
    feats += list(mfcc[:, A].mean(axis=1)) + list(mfcc[:, A].std(axis=1))
    feats += list(dmfcc[:, A].std(axis=1))
    feats += list(logmel[:, A].mean(axis=1)) + list(logmel[:, A].std(axis=1))
    for v in (centroid, bandwidth, rolloff, flatness, zcr):
        feats += list(_stats(v[:n][A]))
    feats += list(contrast[:, A].mean(axis=1))
    return feats


def f0_functionals(*, f0_hz: np.ndarray, voiced: np.ndarray, t_s: np.ndarray) -> list[float]:
    """F0 statistics in semitones re 100 Hz over the voiced frames.

    Parameters
    ----------
    f0_hz : np.ndarray, shape (T,)
        F0 in Hz (any value where unvoiced).
    voiced : np.ndarray, shape (T,), bool
    t_s : np.ndarray, shape (T,)
        Frame times in s.

    Returns
    -------
    list of float, 8 values
        Mean, std, median, p10, p90, p90 - p10 (st), slope (st/s), mean absolute change between
        consecutive voiced frames (st); all NaN when fewer than 2 frames are voiced.
    """
    if voiced.sum() < 2:
        return [np.nan] * 8
    st = 12.0 * np.log2(f0_hz[voiced] / 100.0)
    p10, p50, p90 = np.percentile(st, [10, 50, 90])
    # consecutive voiced frames only, for deltas / jitter
    pair = voiced[1:] & voiced[:-1]
    st_all = 12.0 * np.log2(np.where(voiced, f0_hz, 100.0) / 100.0)
    d_st = np.abs(np.diff(st_all))[pair]
    return [
        st.mean(),
        st.std(),
        p50,
        p10,
        p90,
        p90 - p10,
        _slope(t_s[voiced], st),
        float(d_st.mean()) if len(d_st) else 0.0,
    ]


def energy_functionals(*, rms_db: np.ndarray, active: np.ndarray, t_s: np.ndarray) -> list[float]:
    """Frame-level loudness statistics over the active frames.

    Parameters
    ----------
    rms_db : np.ndarray, shape (T,)
        Frame RMS level in dBFS.
    active : np.ndarray, shape (T,), bool
    t_s : np.ndarray, shape (T,)
        Frame times in s.

    Returns
    -------
    list of float, 7 values
        Mean, std, max, p10, p90 (dB), slope (dB/s), mean absolute frame-to-frame change (dB).
    """
    r = rms_db[active]
    d_r = np.abs(np.diff(r))
    return [
        r.mean(),
        r.std(),
        r.max(),
        *np.percentile(r, [10, 90]),
        _slope(t_s[active], r),
        float(d_r.mean()) if len(d_r) else 0.0,
    ]


def _jitter_shimmer(*, f0_hz: np.ndarray, voiced: np.ndarray, rms_db: np.ndarray) -> tuple[float, float]:
    """Relative period jitter and level shimmer (dB) over consecutive voiced frames (NaN if < 2 pairs)."""
    pair = voiced[1:] & voiced[:-1]
    if pair.sum() < 2:
        return np.nan, np.nan
    period = 1.0 / f0_hz[voiced]
    per_all = 1.0 / np.where(voiced, f0_hz, 1.0)
    jitter = float(np.abs(np.diff(per_all))[pair].mean() / period.mean())
    shimmer = float(np.abs(np.diff(rms_db))[pair].mean())
    return jitter, shimmer


def _spectral_balance(*, spec: np.ndarray, logmel: np.ndarray, frames: np.ndarray) -> tuple[float, float, float]:
    """Spectral tilt (dB per mel band), alpha ratio and Hammarberg index (dB) over ``frames``."""
    import librosa

    lm = logmel[:, frames].mean(axis=1)
    tilt = _slope(np.arange(N_MELS, dtype=float), lm)
    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    pw = spec[:, frames].mean(axis=1) + 1e-12
    low, high = pw[(freqs >= 50) & (freqs < 1000)].sum(), pw[(freqs >= 1000) & (freqs < 5000)].sum()
    alpha = 10.0 * np.log10(high / low)
    hammarberg = 10.0 * np.log10(pw[freqs < 2000].max() / pw[(freqs >= 2000) & (freqs < 5000)].max())
    return tilt, alpha, hammarberg


def voice_quality_functionals(
    *, tracks: dict[str, np.ndarray], segs: list[tuple[float, float]], dur_s: float
) -> list[float]:
    """Voicing, frame-level jitter / shimmer, spectral balance and timing of a clip.

    Parameters
    ----------
    tracks : dict of np.ndarray
        Output of :func:`frame_tracks`.
    segs : list of (start_s, end_s)
        VAD speech segments of the clip (``[]``: speech time from the active frames).
    dur_s : float
        Clip length in s.

    Returns
    -------
    list of float, 10 values
        ``voiced_ratio`` … ``voiced_run_mean_s`` of :data:`FUNCTIONAL_NAMES`.
    """
    voiced, A, f0 = tracks["voiced"], tracks["active"], tracks["f0_hz"]
    voiced_ratio = float(voiced[A].mean())
    vp_mean = float(tracks["voiced_prob"][voiced].mean()) if voiced.any() else 0.0
    jitter, shimmer = _jitter_shimmer(f0_hz=f0, voiced=voiced, rms_db=tracks["rms_db"])
    vsel = voiced if voiced.sum() >= 3 else A
    tilt, alpha, hammarberg = _spectral_balance(spec=tracks["spec"], logmel=tracks["logmel"], frames=vsel)
    speech_s = float(sum(e - s for s, e in segs)) if segs else float(A.sum() * HOP_LENGTH / SR)
    pause_ratio = float(np.clip(1.0 - speech_s / max(dur_s, 1e-9), 0.0, 1.0))
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, voiced.astype(int), 0])))[::2]
    run_mean = float(runs.mean() * HOP_LENGTH / SR) if len(runs) else 0.0
    return [voiced_ratio, vp_mean, jitter, shimmer, tilt, alpha, hammarberg, speech_s, pause_ratio, run_mean]


def clip_features(audio: np.ndarray, *, sr: int = SR, trim: bool = True) -> np.ndarray:
    """Utterance-level acoustic functionals of one clip.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono float signal at 16 kHz (clips shorter than :data:`MIN_CLIP_S` are zero-padded).
    sr : int
        Sampling rate in Hz; must be :data:`~multimodal_fer.voice.prosody.SR`.
    trim : bool
        Crop to the span from the first to the last VAD speech segment (whole clip when the
        VAD finds none).

    Returns
    -------
    np.ndarray, shape (N_FUNCTIONALS,), float64
        Values named by :data:`FUNCTIONAL_NAMES`; NaN where undefined (e.g. F0 statistics of a
        clip with no voiced frame), imputed by the model.
    """
    if sr != SR:
        raise ValueError(f"clip_features expects {SR} Hz audio, got {sr}")
    y = _prepare_clip(audio)
    y, segs = _trim_to_speech(y) if trim else (y, [])
    tr = frame_tracks(y)
    feats = spectral_functionals(y=y, spec=tr["spec"], logmel=tr["logmel"], active=tr["active"])
    feats += f0_functionals(f0_hz=tr["f0_hz"], voiced=tr["voiced"], t_s=tr["t_s"])
    feats += energy_functionals(rms_db=tr["rms_db"], active=tr["active"], t_s=tr["t_s"])
    feats += voice_quality_functionals(tracks=tr, segs=segs, dur_s=len(y) / SR)
    out = np.asarray(feats, dtype=np.float64)
    if out.shape != (N_FUNCTIONALS,):  # pragma: no cover - programming error guard
        raise RuntimeError(f"feature vector has {out.shape}, expected ({N_FUNCTIONALS},)")
    return out
