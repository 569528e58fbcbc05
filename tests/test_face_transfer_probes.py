"""benchmarks/face_transfer_probes.py: the class-bias fit, the mesh model's face cut-out and its features
(synthetic rows and matplotlib's photo; the corpora are the benchmark's business)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import face_transfer_probes as P
from multimodal_fer.labels import N_EMOTIONS
from multimodal_fer.temperature import apply_temperature


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _shifted_corpus(shift: np.ndarray, n: int = 4000, seed: int = 0):
    """Labels drawn from softmax(z); the model reports softmax(z - shift): calibrated but for a class bias."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, (n, N_EMOTIONS))
    y = np.array([rng.choice(N_EMOTIONS, p=row) for row in _softmax(z)])
    return _softmax(z - shift), y


def test_bias_calibration_rows_are_distributions_and_reduce_to_temperature():
    rng = np.random.default_rng(1)
    p = _softmax(rng.normal(size=(50, N_EMOTIONS)))
    q = P.bias_calibrate(p, temperature=1.3, bias=np.linspace(-1, 1, N_EMOTIONS), smoothing=0.2)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert q.min() >= 0.2 / N_EMOTIONS - 1e-12
    plain = P.bias_calibrate(p, temperature=1.3, bias=np.zeros(N_EMOTIONS), smoothing=0.0)
    np.testing.assert_allclose(plain, apply_temperature(p, temperature=1.3))


def test_bias_fit_recovers_a_class_shift_from_other_corpora():
    shift = np.array([1.0, 0.0, 0.0, 0.5, 0.0, -1.0, 0.0])  # the model under-reports neutral, over-reports disgusted
    sets = [_shifted_corpus(shift, seed=s) for s in (0, 1)]
    fit = P.fit_bias_calibration(sets, balanced=False)
    bias = np.asarray(fit["bias"])
    assert abs(bias.sum()) <= len(bias) * 0.5e-4 + 1e-9  # mean 0, up to the rounding to 4 decimals of each value
    assert np.corrcoef(bias, shift - shift.mean())[0, 1] > 0.9
    assert 0.7 < fit["temperature"] < 1.4
    # on a third corpus with the same shift the correction undoes the bias: the under-predicted class is found
    p, y = _shifted_corpus(shift, seed=2)
    q = P.bias_calibrate(p, temperature=fit["temperature"], bias=bias, smoothing=fit["smoothing"])
    assert P.scores(q, y)["recall"]["neutral"] > P.scores(p, y)["recall"]["neutral"] + 0.1
    assert P.scores(q, y)["accuracy"] >= P.scores(p, y)["accuracy"] - 0.01


def test_balanced_fit_favours_the_rare_class():
    p, y = _shifted_corpus(np.zeros(N_EMOTIONS))
    keep = (y != 5) | (np.arange(len(y)) % 5 == 0)  # a calibrated model; the corpus keeps a fifth of class 5
    sets = [(p[keep], y[keep])]
    plain = np.asarray(P.fit_bias_calibration(sets, balanced=False)["bias"])
    balanced = np.asarray(P.fit_bias_calibration(sets, balanced=True)["bias"])
    assert plain[5] < -0.5  # the plain fit follows the corpus: class 5 is rare, its bias goes down
    assert balanced[5] > plain[5] + 0.5  # balancing weighs class 5 like the others


def test_scores_are_in_range():
    p, y = _shifted_corpus(np.zeros(N_EMOTIONS), n=500)
    s = P.scores(p, y)
    assert 0.0 <= s["min_recall"] <= 1.0 and 0.0 <= s["macro_f1"] <= 1.0 and 0.0 <= s["accuracy"] <= 1.0
    assert s["recall"][s["min_recall_class"]] == pytest.approx(s["min_recall"], abs=1e-3)
    assert sum(s["predicted_share"].values()) == pytest.approx(1.0, abs=0.01)
    assert 0.0 <= s["ece"] <= 1.0


def test_mesh_roi_levels_the_eyes_and_centres_the_face():
    h = w = 200
    rng = np.random.default_rng(0)
    th = np.deg2rad(30)  # the head is tilted by 30 degrees in the image
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    local = rng.uniform(-40, 40, (478, 2))
    local[33], local[263] = (-30, -10), (30, -10)  # eye corners, level in the face's own frame
    xy = local @ rot.T + 100.0
    image = np.zeros((h, w, 3), np.uint8)
    for i in (33, 263):  # a bright dot on each eye corner
        x, y = np.round(xy[i]).astype(int)
        image[y - 2:y + 3, x - 2:x + 3] = 255
    points = np.c_[xy / [w, h], np.zeros(478)]
    roi = P.mesh_roi(image, points)
    assert roi.shape == (P.MESH_SIZE, P.MESH_SIZE, 3) and roi.dtype == np.uint8
    bright = roi[:, :, 0] > 128
    half = P.MESH_SIZE // 2
    left, right = np.nonzero(bright[:, :half]), np.nonzero(bright[:, half:])
    assert len(left[0]) and len(right[0])  # both eyes inside the cut-out, one each side
    assert abs(left[0].mean() - right[0].mean()) < 2.0  # the eyes are level
    assert left[0].mean() < half  # above the middle, as in the face's frame
    assert abs((left[1].mean() + right[1].mean() + half) / 2 - half) < 3.0  # symmetric about the centre


def test_mesh_features_of_a_real_face(hopper_rgb, hopper_obs):
    feats = P.MeshFeatures()(hopper_rgb, hopper_obs.points)
    assert feats.shape == (1280,) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and feats.std() > 0
    # they describe the picture: the same box over a blank image reads differently
    blank = P.MeshFeatures()(np.full_like(hopper_rgb, 128), hopper_obs.points)
    assert not np.allclose(feats, blank, atol=1e-2)
