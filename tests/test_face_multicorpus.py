"""Multi-corpus face recipe (training/face_multicorpus.py) and the LOCO benchmark: the pieces that
need no data (row weights, the CNN head as a linear probe, the table numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_fer.face import cnn
from multimodal_fer.labels import EMOTIONS, N_EMOTIONS
from training import face_multicorpus as MC


def _labels(seed: int = 0):
    rng = np.random.default_rng(seed)
    corpus = np.array(["big"] * 900 + ["small"] * 100)
    y = np.concatenate([rng.choice(N_EMOTIONS, 900, p=[0.5] + [0.5 / 6] * 6), rng.integers(0, N_EMOTIONS, 100)])
    return y, corpus


def test_balance_weights_equalise_corpora_and_classes():
    y, corpus = _labels()
    plain = MC.balance_weights(y, corpus, 0.0, 0.0)
    np.testing.assert_allclose(plain, 1.0)
    w = MC.balance_weights(y, corpus, 1.0, 0.0)
    assert w.mean() == pytest.approx(1.0)
    assert w[corpus == "big"].sum() == pytest.approx(w[corpus == "small"].sum())
    w = MC.balance_weights(y, corpus, 0.0, 1.0)
    totals = np.bincount(y, weights=w, minlength=N_EMOTIONS)
    np.testing.assert_allclose(totals, totals.mean(), rtol=1e-9)
    # half-way settings sit between: the majority class keeps more weight than fully balanced
    half = np.bincount(y, weights=MC.balance_weights(y, corpus, 0.0, 0.5), minlength=N_EMOTIONS)
    assert totals[0] < half[0] < np.bincount(y, minlength=N_EMOTIONS)[0]


def test_cnn_head_is_the_networks_last_layer(tmp_path):
    import torch

    from training.face_cnn import to_state

    torch.manual_seed(0)
    net = cnn.build((4, 8, 8), N_EMOTIONS).eval()
    spec = {"widths": [4, 8, 8], "state": to_state(net)}
    crops = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    proba = MC.CNNProba(spec, cache_dir=tmp_path)
    np.testing.assert_allclose(proba(crops), cnn.predict_proba(net, crops), atol=1e-5)
    assert list(tmp_path.glob("mc-cnnf-*"))  # backbone features cached per crop array
    w, b = np.random.default_rng(1).normal(size=proba.head[0].shape), np.zeros(N_EMOTIONS)
    other = proba.with_head(w, b)
    written = other.state_with_head(spec)
    net2 = cnn.from_state(written["state"], (4, 8, 8), N_EMOTIONS)
    np.testing.assert_allclose(other(crops), cnn.predict_proba(net2, crops), atol=1e-5)
    np.testing.assert_allclose(proba(crops), cnn.predict_proba(net, crops), atol=1e-5)  # original untouched
    assert other.key == proba.key  # the same backbone: features shared


def test_compact_reports_neutral_share_and_lowest_present_recall():
    from training.face import evaluate_proba

    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])  # no fearful / disgusted / surprised faces
    pred = np.array([0, 0, 1, 0, 2, 0, 3, 3])
    proba = np.eye(N_EMOTIONS)[pred]
    scored = np.ones(len(y), bool)
    scored[-1] = False  # an image no model scores counts as a miss
    r = MC.compact(evaluate_proba(proba, y, scored))
    assert r["predicted_neutral"] == pytest.approx(4 / 8)
    assert r["min_recall"] == 0.5 and r["min_recall_class"] in ("happy", "sad", "angry")
    assert set(r["recall"]) == set(EMOTIONS)
    assert r["accuracy"] == pytest.approx(5 / 8)
    assert 0 <= r["balanced_accuracy"] <= 1


def test_acceptance_compares_loco_means():
    from benchmarks.face_loco import LOCO, acceptance

    def row(acc, rec=0.4):
        return {"accuracy": acc, "min_recall": rec}

    results = {k: {"baseline": row(0.4), "fer": row(0.35), "multicorpus": row(0.5)} for k in LOCO}
    results["fer2013_publictest"] = {"baseline": row(0.68), "multicorpus_all": row(0.71)}
    a = acceptance(results)
    assert a["gain_over_baseline_points"] == pytest.approx(10.0)
    assert a["beats_baseline_by_8_points"] and a["beats_fer"] and a["no_class_below_0.30"]
    assert a["fer2013_publictest_at_least_0.70"]
