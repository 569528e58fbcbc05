"""training.fusion_params: where a multi-corpus face model's cross-corpus predictions come from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import fusion_params
from training.face_multicorpus import loco_proba_path


def test_a_model_trained_on_the_cross_corpora_is_calibrated_on_its_loco_predictions(tmp_path, monkeypatch):
    import multimodal_fer.paths as paths

    artefacts = tmp_path / "artefacts"
    artefacts.mkdir()
    (artefacts / "metrics.json").write_text(json.dumps({"loco": {"recipe": "multicorpus_finetune"}}))
    monkeypatch.setattr(paths, "FACE_ARTEFACTS", artefacts)
    with pytest.raises(SystemExit, match="face_loco.py --recipes multicorpus_finetune"):
        fusion_params.face_cross_corpus(tmp_path)  # never its own in-domain predictions instead
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(7), 30)
    y, corpus = rng.integers(0, 7, 30), np.repeat(["sfew", "expw", "affectnet48"], 10)
    np.savez_compressed(loco_proba_path("multicorpus_finetune", tmp_path), proba=proba, y=y, corpus=corpus)
    p, y2, g = fusion_params.face_cross_corpus(tmp_path)
    np.testing.assert_allclose(p, proba)
    assert (y2 == y).all() and list(g) == list(corpus)
