"""benchmarks/face_calibration_quality.py: image measures of crops, and a per-row share that follows them,
on synthetic crops and synthetic corpora whose share of poor images differs."""

import numpy as np

from benchmarks.face_calibration_quality import (
    FAMILIES,
    compare_families,
    crop_quality,
    fit_per_row,
    per_row_calibrate,
    pose_degrees,
    share,
)

K = 7


def sharp_crops(n, rng):
    """Random-texture 48 × 48 crops with mid-grey mean and wide contrast."""
    return rng.integers(30, 226, (n, 48, 48)).astype(np.uint8)


def blur(crops):
    """A 2 × 2 block average, upsampled back: what a small face scaled up to 48 px looks like."""
    x = crops.astype(float).reshape(len(crops), 24, 2, 24, 2).mean(axis=(2, 4))
    return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2).round().astype(np.uint8)


def test_crop_measures_are_in_range_and_order_blur_contrast_and_exposure():
    rng = np.random.default_rng(0)
    crops = sharp_crops(20, rng)
    q = crop_quality(crops)
    assert set(q) == {"sharpness", "contrast", "exposure"}
    for v in q.values():
        assert v.shape == (20,) and np.all(np.isfinite(v)) and np.all(v >= 0)
    assert np.all(q["contrast"] <= 0.5) and np.all(q["exposure"] <= 1)
    assert np.all(crop_quality(blur(crops))["sharpness"] < q["sharpness"])
    flat = (crops.astype(float) * 0.3 + 0.7 * 128).astype(np.uint8)
    assert np.all(crop_quality(flat)["contrast"] < q["contrast"])
    dark = (crops.astype(float) * 0.25).astype(np.uint8)
    assert np.all(crop_quality(dark)["exposure"] > q["exposure"])
    const = np.full((2, 48, 48), 90, dtype=np.uint8)
    cq = crop_quality(const)
    assert np.allclose(cq["sharpness"], 0) and np.allclose(cq["contrast"], 0)
    # scale-free sharpness: the same texture at lower contrast is as sharp
    assert np.allclose(crop_quality(flat)["sharpness"], q["sharpness"], atol=0.1)


def test_pose_is_zero_for_a_frontal_face_and_grows_with_the_turn():
    from multimodal_fer.face import features as F

    def face(yaw_deg):
        t = np.radians(yaw_deg)
        rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
        pts = np.zeros((478, 3))
        pts[list(F.RIGID_LANDMARKS)] = 80.0 * F._TEMPLATE_POINTS @ rot.T + [200.0, 240.0, 0.0]
        return pts

    deg = pose_degrees(np.stack([face(a) for a in (0, 10, 25, -25)]), [None] * 4)
    assert deg.shape == (4,) and np.all(deg >= 0)
    assert deg[0] < 1 and deg[0] < deg[1] < deg[2]
    assert abs(deg[2] - 25) < 2 and abs(deg[3] - 25) < 2  # either way


def corpus(n, poor_share, rng):
    """Rows 0.9 sure of their label; right 85 % of the time on good images, 25 % on poor ones (low sharpness)."""
    y = rng.integers(0, K, n)
    poor = rng.random(n) < poor_share
    right = rng.random(n) < np.where(poor, 0.25, 0.85)
    label = np.where(right, y, (y + rng.integers(1, K, n)) % K)
    proba = np.full((n, K), 0.1 / (K - 1))
    proba[np.arange(n), label] = 0.9
    sharpness = np.where(poor, rng.normal(0.5, 0.1, n), rng.normal(1.5, 0.1, n))
    return proba, y, sharpness


def corpora(seed=0):
    rng = np.random.default_rng(seed)
    parts = [corpus(1500, h, rng) for h in (0.1, 0.5, 0.85)]
    proba = np.vstack([p for p, _, _ in parts])
    y = np.concatenate([t for _, t, _ in parts])
    sharp = np.concatenate([s for _, _, s in parts])
    noise = np.random.default_rng(seed + 1).normal(size=(4, len(y)))  # measures that carry nothing
    measures = {"sharpness": sharp, "contrast": noise[0], "exposure": noise[1], "pose": noise[2],
                "member_doubt": noise[3]}
    return proba, y, np.repeat(["a", "b", "c"], 1500), measures


def test_per_row_calibration_keeps_the_label_and_floors_each_row_by_its_own_share():
    proba, _, _, measures = corpora()
    d = np.column_stack([measures["sharpness"], measures["contrast"]])
    params = (0.3, -2.0, -3.0, 0.5)
    q = per_row_calibrate(proba, d, params)
    assert np.allclose(q.sum(axis=1), 1.0)
    assert np.array_equal(q.argmax(axis=1), proba.argmax(axis=1))
    s = share(d, params)
    assert s.shape == (len(proba),) and np.all((s > 0) & (s < 1))
    assert np.all(q.min(axis=1) >= s / K - 1e-12)
    no_measure = per_row_calibrate(proba, np.zeros((len(proba), 0)), (0.3, -2.0))
    assert np.allclose(no_measure.min(axis=1).min(), no_measure.min(axis=1).max())  # one share for every row


def test_fit_makes_poor_images_less_sure():
    proba, y, _, measures = corpora()
    params = fit_per_row(proba, y, measures["sharpness"][:, None])
    assert len(params) == 3 and np.all(np.isfinite(params))
    assert params[2] < 0  # sharper -> smaller share of the uniform distribution


def test_a_share_that_follows_image_quality_transfers_where_one_share_does_not():
    proba, y, groups, measures = corpora()
    report = compare_families(proba, y, groups, measures)
    assert set(report["families"]) == set(FAMILIES)
    for row in report["families"].values():
        assert set(row["held_out"]) == {"a", "b", "c"} and row["ece_max"] >= row["ece_mean"]
        assert all(0 < r["mean_share"] < 1 for r in row["held_out"].values())
    fam = report["families"]
    assert fam["sharpness"]["ece_max"] < fam["none"]["ece_max"] - 0.05
    assert fam["contrast"]["ece_max"] > fam["sharpness"]["ece_max"] + 0.05  # noise carries nothing
    assert "sharpness" in report["rule"]["passes"] and "contrast" not in report["rule"]["passes"]
    for r in fam["sharpness"]["held_out"].values():  # the per-row relation is the same at home and elsewhere
        assert r["b"][0] < 0 and r["oracle"]["b"][0] < 0
        assert r["oracle"]["ece"] <= r["ece"] + 1e-9 or r["oracle"]["ece"] < 0.03
