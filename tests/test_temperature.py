"""multimodal_fer.temperature and training.calibration: properties on synthetic probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_fer.temperature import apply_temperature, calibrate, expected_calibration_error
from training.calibration import fit_temperature, fit_temperature_smoothing, leave_one_group_out_ece, reliability_bins


def _overconfident(n: int = 3000, k: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z) while the model reports softmax(3 z): right on average, far too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    true_p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in true_p])
    reported = np.exp(3 * z) / np.exp(3 * z).sum(1, keepdims=True)
    return reported, y


def test_apply_temperature_keeps_rows_and_labels():
    p, _ = _overconfident(200)
    for t in (0.5, 1.0, 2.0, 5.0):
        q = apply_temperature(p, temperature=t)
        assert q.shape == p.shape
        np.testing.assert_allclose(q.sum(1), 1.0)
        assert (q.argmax(1) == p.argmax(1)).all()
    np.testing.assert_allclose(apply_temperature(p, temperature=1.0), p, atol=1e-9)
    # a higher temperature never makes the top probability larger
    assert (apply_temperature(p, temperature=3.0).max(1) <= p.max(1) + 1e-12).all()
    assert apply_temperature(np.zeros((0, 7)), temperature=2.0).shape == (0, 7)
    with pytest.raises(ValueError):
        apply_temperature(p, temperature=0.0)


def test_ece_is_zero_for_a_calibrated_model_and_large_for_an_overconfident_one():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.3, 1.0, 20000)
    hit = rng.uniform(size=conf.size) < conf  # right exactly as often as it says
    p = np.stack([conf, 1 - conf], 1)
    y = np.where(hit, 0, 1)
    assert expected_calibration_error(p, y) < 0.02
    p_over, y_over = _overconfident()
    assert expected_calibration_error(p_over, y_over) > 0.15
    assert np.isnan(expected_calibration_error(np.zeros((0, 3)), np.zeros(0, int)))


def test_fitted_temperature_undoes_overconfidence():
    p, y = _overconfident()
    t = fit_temperature(p, y)
    assert 2.0 < t < 4.5  # the true factor is 3
    assert expected_calibration_error(apply_temperature(p, temperature=t), y) < 0.5 * expected_calibration_error(p, y)


def test_leave_one_group_out_ece_fits_each_group_on_the_others():
    p, y = _overconfident(2400)
    groups = np.repeat(np.array(["a", "b", "c"]), 800)
    r = leave_one_group_out_ece(p, y, groups)
    assert set(r["per_group"]) == {"a", "b", "c"}
    for g in r["per_group"].values():
        assert g["n"] == 800 and g["ece_after"] < g["ece_before"]
    assert r["ece_after_loo_mean"] < r["ece_before_mean"]


def _overconfident_and_sometimes_wrong(n: int = 6000, k: int = 7, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_overconfident`, but a quarter of the labels are drawn at random whatever the face shows
    (an unseen domain): no temperature fits both the sure rows and the random ones."""
    p, y = _overconfident(n, k, seed)
    rng = np.random.default_rng(seed + 1)
    noisy = rng.uniform(size=n) < 0.25
    y = np.where(noisy, rng.integers(0, k, n), y)
    return p, y


def test_calibrate_keeps_rows_and_labels_and_floors_every_class():
    p, _ = _overconfident(200)
    for t, s in ((1.0, 0.0), (2.0, 0.1), (0.7, 0.5)):
        q = calibrate(p, temperature=t, smoothing=s)
        np.testing.assert_allclose(q.sum(1), 1.0)
        assert (q.argmax(1) == p.argmax(1)).all()
        assert q.min() >= s / p.shape[1] - 1e-12
    np.testing.assert_allclose(calibrate(p, temperature=2.0), apply_temperature(p, temperature=2.0))
    # the calibrated uniform row stays uniform
    np.testing.assert_allclose(calibrate(np.full((1, 7), 1 / 7), temperature=3.0, smoothing=0.3), 1 / 7)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError):
            calibrate(p, temperature=1.0, smoothing=bad)


def test_smoothing_fits_what_a_temperature_alone_cannot():
    p, y = _overconfident_and_sometimes_wrong()
    t, s = fit_temperature_smoothing(p, y)
    assert 0.1 < s < 0.5  # a quarter of the labels are random: the fit mixes in a comparable share
    ece_t = expected_calibration_error(apply_temperature(p, temperature=fit_temperature(p, y)), y)
    ece_ts = expected_calibration_error(calibrate(p, temperature=t, smoothing=s), y)
    assert ece_ts < ece_t
    assert fit_temperature_smoothing(*_overconfident())[1] <= 0.05  # no random labels: (almost) no smoothing


def test_leave_one_group_out_ece_with_smoothing_reports_what_each_group_was_given():
    p, y = _overconfident_and_sometimes_wrong(2400)
    groups = np.repeat(np.array(["a", "b", "c"]), 800)
    r = leave_one_group_out_ece(p, y, groups, smoothing=True)
    assert 0.0 <= r["smoothing"] < 1.0
    for g in r["per_group"].values():
        assert 0.0 <= g["smoothing_from_others"] < 1.0 and g["ece_after"] < g["ece_before"]
    assert "smoothing" not in leave_one_group_out_ece(p, y, groups)


def test_reliability_bins_are_the_terms_of_the_ece_and_move_to_the_diagonal_after_calibration():
    p, y = _overconfident(3000)
    bins = reliability_bins(p, y)
    assert sum(b["n"] for b in bins) == len(y)
    assert all(0 <= b["confidence"] <= 1 and 0 <= b["accuracy"] <= 1 for b in bins)
    assert [b["confidence"] for b in bins] == sorted(b["confidence"] for b in bins)
    ece = sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / len(y)
    assert ece == pytest.approx(expected_calibration_error(p, y), abs=1e-3)  # bins are rounded to 4 digits
    r = leave_one_group_out_ece(p, y, np.repeat(np.array(["a", "b", "c"]), 1000))
    gap = {k: sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in r["reliability"][k]) / len(y)
           for k in ("before", "after")}
    assert gap["after"] < 0.5 * gap["before"]
