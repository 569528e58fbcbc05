"""Properties of the acoustic functionals (multimodal_fer.voice.features) and their re-export."""

import numpy as np
import pytest

from multimodal_fer.voice import features, model
from multimodal_fer.voice.features import (
    FUNCTIONAL_NAMES,
    N_FUNCTIONALS,
    clip_features,
    energy_functionals,
    f0_functionals,
)
from multimodal_fer.voice.prosody import SR


@pytest.mark.parametrize("f0", [90.0, 150.0, 320.0])
def test_f0_functionals_of_a_steady_pitch(f0):
    n = 50
    t = np.arange(n) * 0.01
    voiced = np.ones(n, dtype=bool)
    mean, std, median, p10, p90, rng, slope, delta = f0_functionals(f0_hz=np.full(n, f0), voiced=voiced, t_s=t)
    st = 12.0 * np.log2(f0 / 100.0)
    assert mean == pytest.approx(st) and median == pytest.approx(st) and p10 == pytest.approx(st)
    assert std == pytest.approx(0.0, abs=1e-9) and rng == pytest.approx(0.0, abs=1e-9)
    assert slope == pytest.approx(0.0, abs=1e-6) and delta == pytest.approx(0.0, abs=1e-9)


def test_f0_functionals_rising_pitch_and_unvoiced():
    t = np.arange(100) * 0.01
    f0 = 100.0 * 2.0 ** (t)  # one octave (12 st) per second
    out = f0_functionals(f0_hz=f0, voiced=np.ones(100, dtype=bool), t_s=t)
    assert out[6] == pytest.approx(12.0, rel=1e-6)
    assert np.isnan(f0_functionals(f0_hz=f0, voiced=np.zeros(100, dtype=bool), t_s=t)).all()


def test_energy_functionals_ignore_inactive_frames():
    rms = np.array([-20.0, -20.0, -90.0, -20.0, -20.0])
    active = rms > -60.0
    out = energy_functionals(rms_db=rms, active=active, t_s=np.arange(5) * 0.01)
    assert len(out) == 7
    assert out[0] == pytest.approx(-20.0) and out[2] == pytest.approx(-20.0) and out[6] == pytest.approx(0.0)


def test_clip_features_shape_names_and_gain_invariance_of_pitch():
    rng = np.random.default_rng(1)
    t = np.arange(int(0.8 * SR)) / SR
    y = (0.3 * np.sin(2 * np.pi * 200 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    a = clip_features(y, trim=False)
    b = clip_features(0.5 * y, trim=False)
    assert a.shape == (N_FUNCTIONALS,) == (len(FUNCTIONAL_NAMES),) and a.dtype == np.float64
    i = FUNCTIONAL_NAMES.index("f0_median_st")
    assert a[i] == pytest.approx(12.0 * np.log2(2.0), abs=0.2)
    assert b[i] == pytest.approx(a[i], abs=1e-6)  # pitch does not depend on the level
    j = FUNCTIONAL_NAMES.index("rms_mean_db")
    assert b[j] - a[j] == pytest.approx(20.0 * np.log10(0.5), abs=0.05)
    with pytest.raises(ValueError, match="Hz"):
        clip_features(y, sr=8000)


def test_model_re_exports_the_moved_names():
    assert model.clip_features is features.clip_features
    assert model.FUNCTIONAL_NAMES is features.FUNCTIONAL_NAMES
    assert model.FEATURE_VERSION == "voice-functionals-1+whisper-base-enc-1"
    assert model.FEATURE_NAMES[: model.N_FUNCTIONALS] == FUNCTIONAL_NAMES
