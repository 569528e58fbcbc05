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


def test_contender_acceptance_uses_its_own_rows_and_its_own_fer2013_number():
    from benchmarks.face_loco import LOCO, contender_acceptance

    def row(acc, rec=0.4):
        return {"accuracy": acc, "min_recall": rec}

    results = {k: {"baseline": row(0.40), "fer": row(0.35), "face_0.4.0": row(0.41, rec=0.05)} for k in LOCO}
    results["fer2013_publictest"] = {"baseline": row(0.681), "face_0.4.0": row(0.682)}
    a = contender_acceptance(results, "face_0.4.0")
    assert a["loco_mean_accuracy"]["face_0.4.0"] == pytest.approx(0.41)
    assert a["gain_over_baseline_points"] == pytest.approx(1.0)
    assert a["beats_fer"] and not a["beats_baseline_by_8_points"]
    assert a["min_class_recall_loco"] == 0.05 and not a["no_class_below_0.30"]
    assert a["fer2013_publictest"] == 0.682 and not a["fer2013_publictest_at_least_0.70"]


def _toy_corpora(n: int = 40):
    """Five tiny corpora in :func:`MC.load_all`'s layout: the three old ones, ``sfew`` and ``expw``."""
    import pandas as pd

    rng = np.random.default_rng(0)
    d = {"corpora": {}, "crops": {}, "splits": {}, "holdout": {}}
    for name in ("fer2013", "ckplus48", "muxspace", "sfew", "expw"):
        y = rng.integers(0, N_EMOTIONS, n)
        found = np.arange(n) % 10 != 0
        d["corpora"][name] = (pd.DataFrame({"y": y}), None, found)
        d["crops"][name] = rng.integers(0, 255, (n, 48, 48), dtype=np.uint8)
        d["splits"][name] = (np.arange(n) < 30, np.arange(n) >= 30)
        d["holdout"][name] = np.arange(n) % 7 == 0
    return d


def test_finetune_rows_leave_out_the_held_out_corpus_the_test_split_and_the_meta_holdout():
    d = _toy_corpora()
    x, y, corpus = MC.finetune_rows(d, ("sfew",))
    assert set(corpus) == {"fer2013", "ckplus48", "muxspace", "sfew"}  # expw is held out
    rows = d["splits"]["sfew"][0] & ~d["holdout"]["sfew"] & d["corpora"]["sfew"][2]
    assert (corpus == "sfew").sum() == rows.sum()
    np.testing.assert_array_equal(x[corpus == "sfew"], d["crops"]["sfew"][rows])
    assert len(x) == len(y) == len(corpus)


def test_weighted_draws_follow_the_weights_and_low_resolution_copies_blur():
    import torch

    from training.face_cnn import augment, train_cnn

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (64, 48, 48), dtype=np.uint8)
    y = np.array([0] * 60 + [1] * 4)
    seen = []
    net, history = train_cnn(crops, y, epochs=1, batch=32, widths=(4, 8, 8), bf16=False, epoch_size=96,
                             sample_weight=np.where(y == 1, 15.0, 1.0), log=lambda m: None,
                             checkpoint=lambda ep, n, h: seen.append(ep))
    assert seen == [1] and np.isfinite(history[0]["train_loss"])
    # the draw itself: class 1 (4 of 64 rows) gets half of the draws with weight 15 per row
    gen = torch.Generator().manual_seed(0)
    draws = torch.multinomial(torch.as_tensor(np.where(y == 1, 15.0, 1.0)), 10_000, replacement=True, generator=gen)
    assert 0.45 < float((torch.as_tensor(y)[draws] == 1).float().mean()) < 0.55
    x = torch.as_tensor(rng.normal(size=(16, 1, 48, 48)), dtype=torch.float32)
    plain = augment(x, torch.Generator().manual_seed(1), rot_deg=0, scale=0, shift=0, erase_p=0)
    low = augment(x, torch.Generator().manual_seed(1), rot_deg=0, scale=0, shift=0, erase_p=0, lowres_p=1.0)
    rough = lambda t: float(t.diff(dim=-1).abs().mean())  # noqa: E731  pixel-to-pixel change
    assert rough(low) < 0.5 * rough(plain)  # a downscaled copy has lost the fine detail


def test_the_committed_face_card_is_the_generators_output_with_the_loco_table():
    """MODEL_CARD.md = training.face.model_card(metrics.json, face_loco.json, stream_calibration.json,
    face_fairness.json) (`python -m training.face --card-only`), with the calibration in use and its
    held-out ECE, and the skin-tone audit of this artefact."""
    import json

    from multimodal_fer.paths import FACE_ARTEFACTS
    from multimodal_fer.temperature import SMOOTHING_FACE, TEMPERATURE_FACE
    from training.face import committed_calibration, matching_fairness, matching_loco, model_card

    metrics = json.loads((FACE_ARTEFACTS / "metrics.json").read_text())
    loco = matching_loco(metrics)
    assert loco is not None
    this = loco["this"]  # the baseline rows (face 0.3.0 shipped) or a --contender's (a later model)
    assert (loco["baseline"] if this == "baseline" else loco["contenders"][this]["version"]) == metrics["model_version"]
    cal = committed_calibration()
    fairness = matching_fairness(metrics)
    assert fairness is not None  # the skin-tone audit was measured on this artefact
    card = model_card(metrics, loco, cal, fairness)
    assert card == (FACE_ARTEFACTS / "MODEL_CARD.md").read_text()
    assert "## Faces by estimated skin tone" in card and "no demographic audit" not in card
    pooled = fairness["results"]["pooled"]["bands"]["dark"]
    assert f"{pooled['accuracy']:.3f} ({pooled['accuracy_95'][0]:.3f}" in card
    assert "## Faces by estimated skin tone" not in model_card(metrics, loco, cal)
    assert matching_fairness({**metrics, "artefact_sha256": "0" * 64}) is None  # another artefact's audit
    assert "## Faces never seen" in card and f"{loco['results']['sfew'][this]['accuracy']:.3f}" in card
    assert f"temperature {TEMPERATURE_FACE:.2f}, then {SMOOTHING_FACE:.0%} of the uniform" in card
    assert f"{cal['ece_before_mean']:.3f} → {cal['ece_after_loo_mean']:.3f}" in card
    assert "calibrated on these three corpora" not in model_card(metrics, loco)
    assert matching_loco({**metrics, "model_version": "another"}) is None  # another model's table is never shown
    assert "## Faces never seen" not in model_card(metrics, None)
