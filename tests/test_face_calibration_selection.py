"""benchmarks/face_calibration.py's selection on synthetic subjects whose faces carry a per-person offset."""

import numpy as np

from benchmarks.face_calibration import accuracy, centre_groups, choose
from multimodal_fer.face.calibration import centred_log_ratio

K = 7
REFERENCE = (0.0,) * K


def subjects(n_subjects, per_emotion, offset_sd, rng):
    """Every subject shows every emotion ``per_emotion`` times; log-probabilities = 1.2 nats on the true
    emotion + the person's own offset (sd ``offset_sd`` nats) + noise."""
    y = np.tile(np.repeat(np.arange(K), per_emotion), n_subjects)
    subject = np.repeat([f"s{i}" for i in range(n_subjects)], K * per_emotion)
    offsets = rng.normal(0.0, offset_sd, (n_subjects, K))
    logit = 1.2 * np.eye(K)[y] + offsets[np.repeat(np.arange(n_subjects), K * per_emotion)]
    logit += rng.normal(0.0, 0.6, logit.shape)
    p = np.exp(logit - logit.max(axis=1, keepdims=True))
    return {"proba": p / p.sum(axis=1, keepdims=True), "y": y, "subject": subject,
            "train": np.ones(len(y), bool), "test": np.zeros(len(y), bool)}


def test_centring_removes_each_session_mean_and_leaves_short_sessions():
    d = subjects(4, 2, 1.0, np.random.default_rng(0))
    short = np.isin(d["subject"], ["s0"]) & (np.arange(len(d["y"])) % 14 < 5)  # 5 faces of s0 as their own session
    groups = np.where(short, "short", d["subject"])
    out = centre_groups(d["proba"], groups, 8)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out[short], d["proba"][short])
    for g in ("s1", "s2", "s3"):
        np.testing.assert_allclose(centred_log_ratio(out[groups == g]).mean(axis=0), 0.0, atol=1e-9)


def test_selection_scores_every_setting_and_picks_a_safe_one():
    rng = np.random.default_rng(1)
    corpora = {"a": subjects(12, 2, 1.2, rng), "b": subjects(12, 2, 1.2, rng)}
    grid, best, active = choose(corpora, REFERENCE)
    assert len(grid) == 1 + 2 * 3 * 2 * 2 and grid[0]["strength"] == 0.0 and grid[0]["gain"] == 0.0
    assert best["single_emotion_safe"] and best["gain"] == max(g["gain"] for g in grid if g["single_emotion_safe"])
    assert active["strength"] > 0
    # strong person offsets on sessions of every emotion: removing them must help here
    assert max(g["gain"] for g in grid) > 0.02
    p = corpora["a"]["proba"]
    assert 0.0 < accuracy(p, corpora["a"]["y"]) < 1.0
