"""Clinician-facing prosody (voice/prosody.py): synthetic signals with known answers."""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_CACHE_DIR", str(__import__("pathlib").Path(__file__).resolve()
                                              .parents[1] / ".cache" / "numba"))

import numpy as np
import pytest

from multimodal_fer.voice.prosody import (
    CLINICAL_COLUMNS,
    CLINICAL_FRAME_COLUMNS,
    PROSODY_WINDOW_COLUMNS,
    SR,
    clinical_frames,
    segment_prosody,
    window_prosody_clinical,
)
from multimodal_fer.voice.vad import speech_segments


def _tone(freq_hz: float, duration_s: float, amp: float = 0.5) -> np.ndarray:
    import librosa

    return (amp * librosa.tone(freq_hz, sr=SR, duration=duration_s)).astype(np.float32)


def _pulses(f0_hz: float, duration_s: float, jitter: float, seed: int = 0) -> np.ndarray:
    """Glottal-like pulse train (impulses through a decaying resonance) with relative period
    jitter ``jitter`` (uniform +-)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(duration_s * SR), dtype=np.float64)
    t = 0.0
    while t < duration_s - 0.01:
        y[int(t * SR)] = 1.0
        t += (1.0 + rng.uniform(-jitter, jitter)) / f0_hz
    k = np.arange(int(0.01 * SR)) / SR
    ring = np.exp(-k * 400.0) * np.sin(2 * np.pi * 700.0 * k)
    y = np.convolve(y, ring)[: len(y)]
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def test_existing_window_columns_unchanged():
    assert PROSODY_WINDOW_COLUMNS == ("window_start_s", "f0_mean_hz", "f0_std_hz", "rms_mean_db",
                                      "voiced_ratio", "speech_ratio")


def test_tone_segment_measures():
    y = _tone(200.0, 1.0)
    frames = clinical_frames(y, [(0.0, 1.0)])
    assert tuple(frames.columns) == CLINICAL_FRAME_COLUMNS
    seg = segment_prosody(frames, [(0.0, 1.0)])
    assert list(seg.columns) == ["segment", *CLINICAL_COLUMNS]
    row = seg.iloc[0]
    assert row["f0_mean_hz"] == pytest.approx(200.0, rel=0.01)
    assert row["f0_range_st"] < 0.3
    assert row["voiced_ratio"] > 0.9 and row["voiced_prob_mean"] > 0.9
    assert row["jitter_local_pct_est"] < 0.2  # a pure tone has no jitter
    assert row["shimmer_local_db_est"] < 0.2
    assert row["rms_mean_db"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.5)
    assert row["duration_s"] == pytest.approx(1.0)


def test_chirp_range_in_semitones():
    import librosa

    y = (0.5 * librosa.chirp(fmin=100.0, fmax=400.0, sr=SR, duration=2.0)).astype(np.float32)
    row = segment_prosody(clinical_frames(y, [(0.0, 2.0)]), [(0.0, 2.0)]).iloc[0]
    # exponential sweep over 24 st: the 5th-95th percentile range covers ~90 % of it
    assert 19.0 < row["f0_range_st"] < 23.5
    assert row["f0_p5_hz"] < 120.0 and row["f0_p95_hz"] > 330.0


def test_jitter_estimate_grows_with_period_jitter():
    steady = segment_prosody(clinical_frames(_pulses(150.0, 1.5, 0.0), [(0, 1.5)]), [(0, 1.5)])
    shaky = segment_prosody(clinical_frames(_pulses(150.0, 1.5, 0.05), [(0, 1.5)]), [(0, 1.5)])
    j0, j1 = steady.iloc[0]["jitter_local_pct_est"], shaky.iloc[0]["jitter_local_pct_est"]
    assert np.isfinite(j0) and np.isfinite(j1)
    assert j1 > 3 * j0 + 0.3


def test_spectral_tilt_white_vs_brown_noise():
    rng = np.random.default_rng(0)
    white = rng.normal(0, 0.1, 2 * SR).astype(np.float32)
    brown = np.cumsum(rng.normal(0, 1, 2 * SR))
    brown = (0.3 * (brown - np.convolve(brown, np.ones(801) / 801, mode="same"))
             / np.abs(brown).max()).astype(np.float32)
    tw = np.nanmedian(clinical_frames(white, [])["tilt_db_per_oct"])
    tb = np.nanmedian(clinical_frames(brown, [])["tilt_db_per_oct"])
    assert abs(tw) < 1.0  # flat power spectrum
    assert -7.5 < tb < -4.0  # 1/f^2 power: -6 dB per octave


def test_syllable_nuclei_count_bursts():
    # five 150 ms voiced bursts, 100 ms of 30 dB quieter voicing between them, in one segment
    parts = []
    for _ in range(5):
        parts += [_tone(180.0, 0.15), _tone(180.0, 0.1, amp=0.5 * 10 ** (-30 / 20))]
    y = np.concatenate(parts)
    dur = len(y) / SR
    row = segment_prosody(clinical_frames(y, [(0.0, dur)]), [(0.0, dur)]).iloc[0]
    assert row["syllable_count"] == 5
    assert row["articulation_rate_syll_per_s"] == pytest.approx(5 / dur, rel=1e-6)


def test_window_pauses_and_speech_rate():
    y = np.concatenate([_tone(200.0, 1.0), np.zeros(int(0.8 * SR), np.float32),
                        _tone(200.0, 1.0), np.zeros(int(0.2 * SR), np.float32)])
    segs = [(0.0, 1.0), (1.8, 2.8)]
    frames = clinical_frames(y, segs)
    win = window_prosody_clinical(frames, segs, duration_s=3.0, window_s=3.0)
    assert len(win) == 1
    w = win.iloc[0]
    assert w["pause_count"] == 1
    assert w["pause_total_s"] == pytest.approx(0.8, abs=1e-9)
    assert w["pause_max_s"] == pytest.approx(0.8, abs=1e-9)
    assert w["speech_s"] == pytest.approx(2.0)
    assert w["f0_mean_hz"] == pytest.approx(200.0, rel=0.01)
    # two windows of 1.5 s: the pause is split between them, so neither holds a whole one
    win2 = window_prosody_clinical(frames, segs, duration_s=3.0, window_s=1.5)
    assert list(win2["pause_count"]) == [0, 0]
    assert list(win2["speech_s"]) == pytest.approx([1.0, 1.0])


def test_silence_has_no_speech_and_empty_measures():
    y = np.zeros(2 * SR, dtype=np.float32)
    segs = speech_segments(y)
    assert segs == []
    frames = clinical_frames(y, segs)
    assert not frames["nucleus"].any()
    win = window_prosody_clinical(frames, segs, duration_s=2.0, window_s=1.0)
    assert len(win) == 2
    assert (win["speech_s"] == 0).all() and (win["syllable_count"] == 0).all()
    assert win["f0_mean_hz"].isna().all() and (win["pause_count"] == 0).all()
    assert segment_prosody(frames, segs).empty
