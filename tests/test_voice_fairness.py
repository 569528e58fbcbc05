"""benchmarks/voice_fairness.py: the sex labels and the per-group table (synthetic predictions; the
corpora and the leave-one-corpus-out fits are the benchmark's business)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import voice_fairness as V
from multimodal_fer.labels import N_EMOTIONS


def test_sex_labels_of_every_corpus_are_read_and_unknown_ones_fail():
    np.testing.assert_array_equal(V.sex_of(["F", "m", "female", " Male "]), ["female", "male", "female", "male"])
    with pytest.raises(ValueError, match="x"):
        V.sex_of(["F", "x"])


def test_group_scores_split_every_clip_once():
    rng = np.random.default_rng(0)
    y = rng.integers(0, N_EMOTIONS, 200)
    groups = np.where(np.arange(200) < 120, "female", "male")
    pred = np.where(groups == "female", y, (y + 1) % N_EMOTIONS)  # right for women, wrong for men
    table = V.group_scores(pred, y, groups)
    assert table["female"]["n"] == 120 and table["male"]["n"] == 80
    assert table["female"]["accuracy"] == 1.0 and table["male"]["accuracy"] == 0.0
    lo, hi = table["female"]["accuracy_95"]
    assert 0.95 < lo < hi == 1.0
