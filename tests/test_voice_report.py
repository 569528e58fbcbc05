"""training/voice_report.py: the calibration of the voice model, fitted and applied on the 7 canonical classes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.paths import VOICE_ARTEFACTS
from multimodal_fer.temperature import calibrate
from multimodal_fer.voice.model import ARTEFACT_FILE, FEATURE_NAMES, RAVDESS_CLASSES, VoiceModel, fold_to_canonical
from training.voice_report import calibrated, recalibrate


def synthetic_corpora(seed=0, n=40):
    """Three small corpora whose features carry the class weakly (so the models are unsure and over-confident
    in different ways): RAVDESS's 8 classes, and two corpora with fewer."""
    rng = np.random.default_rng(seed)
    rows, xs = [], []
    for corpus, classes in (("ravdess", range(8)), ("nemo", (0, 2, 3, 4, 5, 7)), ("emovo", (0, 2, 3, 4, 5, 6, 7))):
        y8 = rng.choice(list(classes), n)
        x = rng.normal(0, 1, (n, len(FEATURE_NAMES)))
        x[np.arange(n), y8] += 2.5
        xs.append(x)
        for label in y8:
            canonical = "neutral" if RAVDESS_CLASSES[label] == "calm" else RAVDESS_CLASSES[label].replace("disgust", "disgusted")
            rows.append({"corpus": corpus, "y8": int(label), "y7": EMOTIONS.index(canonical)})
    return np.vstack(xs), pd.DataFrame(rows)


def test_calibrated_folds_then_calibrates():
    rng = np.random.default_rng(1)
    p8 = rng.dirichlet(np.ones(8) * 0.3, 50)
    calib = {"temperature": 1.9, "smoothing": 0.3}
    got = calibrated(p8, calib)
    np.testing.assert_allclose(got, calibrate(fold_to_canonical(p8), temperature=1.9, smoothing=0.3))
    assert got.shape == (50, 7) and np.allclose(got.sum(axis=1), 1) and got.min() >= 0.3 / 7 - 1e-12
    assert np.array_equal(got.argmax(axis=1), fold_to_canonical(p8).argmax(axis=1))


@pytest.mark.skipif(not (VOICE_ARTEFACTS / ARTEFACT_FILE).exists(), reason="no committed voice artefact")
def test_recalibrate_refits_only_the_calibration_and_records_it(tmp_path):
    for name in (ARTEFACT_FILE, "metrics.json"):
        shutil.copy(VOICE_ARTEFACTS / name, tmp_path / name)
    before = VoiceModel.load(tmp_path / ARTEFACT_FILE)
    x, table = synthetic_corpora()
    report = recalibrate(x, table, out=tmp_path, augmented=[], robustness=False)  # synthetic features: no audio
    after = VoiceModel.load(tmp_path / ARTEFACT_FILE)
    probe = np.random.default_rng(2).normal(0, 1, (5, len(FEATURE_NAMES)))
    np.testing.assert_array_equal(after.raw_proba_8(probe), before.raw_proba_8(probe))  # the classifier is kept
    cal = report["leave_one_corpus_out_ece"]
    assert (after.temperature, after.smoothing) == (cal["temperature"], cal["smoothing"]) == (
        report["temperature"], report["smoothing"])
    assert after.temperature > 0 and 0 <= after.smoothing < 1
    assert set(cal["per_group"]) == {"ravdess", "nemo", "emovo"}
    assert cal["ece_after_loo_mean"] < cal["ece_before_mean"]  # over-confident raw models are improved held out
    assert report["version"] == after.version != before.version
    rec = report["recalibrated"]
    assert set(rec["leave_one_corpus_out_accuracy"]) == {"ravdess", "nemo", "emovo"} and "--recalibrate" in rec["command"]
    kept = json.loads((VOICE_ARTEFACTS / "metrics.json").read_text())
    assert report["ravdess_actor_cv"] == kept["ravdess_actor_cv"]  # what it did not refit stays the training run's
    assert report["robustness"] == kept["robustness"] and rec["robustness_recomputed"] is False
