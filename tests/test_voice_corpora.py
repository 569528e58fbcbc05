"""training.voice_corpora: label mapping, balancing and the leave-one-corpus-out scoring (synthetic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.paths import SHARED_DATA
from training.voice_corpora import (
    CORPORA,
    balanced_weights,
    corpus_metrics,
    load_table,
    restricted_predictions,
)


def test_balanced_weights_give_each_corpus_and_class_the_same_weight():
    t = pd.DataFrame({"corpus": ["big"] * 900 + ["small"] * 100,
                      "y8": [0] * 600 + [1] * 300 + [0] * 50 + [2] * 50})
    w = balanced_weights(t)
    assert w.mean() == pytest.approx(1.0)
    per_corpus = t.assign(w=w).groupby("corpus")["w"].sum()
    assert per_corpus["big"] == pytest.approx(per_corpus["small"])
    per_class = t.assign(w=w).groupby(["corpus", "y8"])["w"].sum()
    assert per_class["big", 0] == pytest.approx(per_class["big", 1])


def test_restricted_predictions_only_use_the_classes_a_corpus_has():
    p = np.full((3, len(EMOTIONS)), 0.01)
    p[:, EMOTIONS.index("disgusted")] = 0.9  # the model's favourite, absent from the test corpus
    p[0, EMOTIONS.index("sad")] = 0.05
    present = np.array([EMOTIONS.index(e) for e in ("neutral", "sad", "happy")])
    pred = restricted_predictions(p, present)
    assert set(pred) <= set(present)
    assert pred[0] == EMOTIONS.index("sad")


def test_corpus_metrics_and_kappa_properties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 500)  # six classes: like nEMO, no 'surprised' here
    perfect = np.eye(len(EMOTIONS))[y]
    m = corpus_metrics(perfect, y)
    assert m["accuracy"] == 1.0 and len(m["classes"]) == 6 and all(r == 1.0 for r in m["recall"].values())
    from training.fusion_params import cohen_kappa  # the one κ of the project, on a confusion matrix

    def kappa(a, b):
        m = np.zeros((len(EMOTIONS), len(EMOTIONS)))
        np.add.at(m, (a, b), 1)
        return cohen_kappa(m)[0]

    assert kappa(y, y) == pytest.approx(1.0)
    assert abs(kappa(y, rng.permutation(y))) < 0.1


@pytest.mark.skipif(not (SHARED_DATA / "speech" / "nemo" / "labels.csv").exists(), reason="needs ../shared/data")
def test_corpora_map_onto_the_model_classes():
    for name in CORPORA:
        t = load_table(name)
        assert t["y8"].between(0, 7).all() and t["y7"].between(0, len(EMOTIONS) - 1).all()
        assert t["speaker"].nunique() >= 6
    assert "disgusted" not in {EMOTIONS[i] for i in load_table("nemo")["y7"]}  # partial label set kept as is
