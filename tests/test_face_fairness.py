"""benchmarks/face_fairness.py: the skin-tone estimate (ITA) and the per-band table, on synthetic images
and matplotlib's photo (the corpora are the benchmark's business)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import face_fairness as F
from multimodal_fer.labels import N_EMOTIONS


def _uniform_face(lightness: float, b: float, size: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """An image of one CIELAB colour and landmarks spread over its middle."""
    from skimage.color import lab2rgb

    rgb = lab2rgb(np.array([[[lightness, 8.0, b]]]))[0, 0]
    image = np.broadcast_to((rgb * 255).round().astype(np.uint8), (size, size, 3)).copy()
    rng = np.random.default_rng(0)
    points = np.c_[rng.uniform(0.3, 0.7, (478, 2)), np.zeros(478)]
    points[33, :2], points[263, :2] = (0.35, 0.4), (0.65, 0.4)
    return image, points


@pytest.mark.parametrize("angle", [-45.0, -10.0, 20.0, 35.0, 50.0, 60.0])
def test_ita_of_a_known_colour(angle):
    b = 15.0
    lightness = 50.0 + b * math.tan(math.radians(angle))
    image, points = _uniform_face(lightness, b)
    lab = F.skin_lab(image, points)
    assert lab is not None
    assert F.ita_degrees(*lab) == pytest.approx(angle, abs=2.0)  # 8-bit colour rounding


def test_ita_bands_and_missing_estimates():
    assert F.ita_band(60.0) == "very light" and F.ita_band(55.0) == "light"
    assert F.ita_band(30.0) == "intermediate" and F.ita_band(0.0) == "brown" and F.ita_band(-31.0) == "dark"
    assert F.ita_band(float("nan")) is None
    assert math.isnan(F.ita_degrees(60.0, 0.5))  # no yellow in the pixels: grey photo, no estimate
    angles = [F.ita_degrees(50.0 + 15 * math.tan(math.radians(a)), 15.0) for a in range(-80, 81, 5)]
    assert all(a < b for a, b in zip(angles, angles[1:]))  # lighter skin, larger angle


def test_a_darker_copy_of_a_real_face_reads_darker(hopper_rgb, hopper_obs):
    light = F.skin_lab(hopper_rgb, hopper_obs.points)
    dark = F.skin_lab((hopper_rgb * 0.5).astype(np.uint8), hopper_obs.points)
    assert light is not None and dark is not None
    assert 0.0 < light[0] <= 100.0 and light[1] > F.MIN_CHROMA  # skin is yellowish in CIELAB
    # the same skin in half the light reads several bands darker: why a band mixes skin tone and lighting
    assert F.ita_degrees(*dark) < F.ita_degrees(*light) - 45.0


def test_band_table_counts_every_face_once():
    rng = np.random.default_rng(0)
    y = rng.integers(0, N_EMOTIONS, 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(0, N_EMOTIONS, 300))
    bands = [F.ita_band(a) for a in rng.uniform(-60, 70, 300)]
    bands[:20] = [None] * 20
    table = F.band_table(pred, y, bands, rng.uniform(20, 80, 300))
    assert sum(r["n"] for r in table.values()) == 300 and table["no estimate"]["n"] == 20
    for row in table.values():
        lo, hi = row["accuracy_95"]
        assert lo <= row["accuracy"] <= hi
        assert 0.0 <= row["balanced_accuracy"] <= 1.0
        assert sum(row["label_share"].values()) == pytest.approx(1.0, abs=0.01)
