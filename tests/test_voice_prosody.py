"""Properties of the YIN pitch tracker (multimodal_fer.voice.prosody.yin_track) and its parts."""

import numpy as np
import pytest

from multimodal_fer.voice import prosody
from multimodal_fer.voice.prosody import SR, yin_track


def _tone(f0: float, *, sr: int = SR, seconds: float = 0.5, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


@pytest.mark.parametrize(("f0", "sr"), [(85.0, SR), (200.0, SR), (440.0, SR), (150.0, 8000)])
def test_tone_pitch_frame_count_and_level(f0, sr):
    y = _tone(f0, sr=sr)
    hop = int(round(0.01 * sr))
    f, aper, rms = yin_track(y, sr=sr)
    assert len(f) == len(aper) == len(rms) == 1 + len(y) // hop
    inner = slice(5, -5)
    assert np.median(f[inner]) == pytest.approx(f0, rel=0.01)
    assert np.all(aper[inner] < prosody.VOICING_THRESHOLD)
    assert np.median(rms[inner]) == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.5)


def test_chunking_does_not_change_the_track(monkeypatch):
    rng = np.random.default_rng(3)
    y = (_tone(130.0, seconds=0.4) + 0.02 * rng.standard_normal(int(0.4 * SR))).astype(np.float32)
    whole = yin_track(y)
    monkeypatch.setattr(prosody, "_CHUNK_FRAMES", 7)
    chunked = yin_track(y)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_silence_and_empty_audio():
    f, aper, rms = yin_track(np.zeros(1600, np.float32))
    assert np.all(aper == 1.0) and np.all(rms == prosody.RMS_FLOOR_DB)
    assert all(len(a) == 0 for a in yin_track(np.zeros(0, np.float32)))


def test_pick_period_prefers_first_trough_below_threshold():
    seg = np.array([[0.9, 0.5, 0.1, 0.5, 0.9, 0.05, 0.9]])  # troughs at 2 (first, < 0.15) and 5 (deeper)
    k, shift, b = prosody._pick_period(seg=seg)
    assert k[0] == 2 and shift[0] == pytest.approx(0.0) and b[0] == pytest.approx(0.1)
    k, _, b = prosody._pick_period(seg=np.array([[0.9, 0.5, 0.4, 0.5, 0.9, 0.3, 0.9]]))  # none below: global min
    assert k[0] == 5 and b[0] == pytest.approx(0.3)
