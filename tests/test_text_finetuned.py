"""Tests of the fine-tuned text-emotion model: artefact format, loading on the base, reproduction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.paths import TEXT_ARTEFACTS
from tests.conftest import needs_shared

TEXTS = ["I can't believe you did that!", "Thanks, that's lovely.", "ok", "Oh no, that's terrible news."]


@pytest.fixture(scope="module")
def tiny_ft(tmp_path_factory):
    """A model with its top layer + head perturbed (seeded), saved as a float16 subset."""
    import torch

    from multimodal_fer.text.emotion import default_encoder_dir
    from multimodal_fer.text.finetuned import FineTunedClassifier

    torch.manual_seed(0)
    m = FineTunedClassifier(default_encoder_dir(), train_layers=1, use_context=True, max_len=32, context_tokens=8)
    with torch.no_grad():
        for p in m.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path_factory.mktemp("ft") / "finetuned.safetensors"
    m.save(path, {"note": "test"})
    return m.eval(), path


def test_subset_holds_only_trained_layers_in_float16(tiny_ft):
    from safetensors import safe_open

    _, path = tiny_ft
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        meta = f.metadata()
        dtypes = {str(f.get_tensor(k).dtype) for k in keys}
    assert dtypes == {"torch.float16"}
    assert {"head.weight", "head.bias"} <= keys
    assert all(k.startswith("bert.encoder.layer.5.") or k.startswith("head.") for k in keys)
    assert not any("embeddings" in k or "layer.4." in k for k in keys)
    assert meta["train_layers"] == "1" and meta["use_context"] == "True"
    assert json.loads(meta["meta"]) == {"note": "test"}
    assert path.stat().st_size < 4_000_000


def test_reload_reproduces_predictions(tiny_ft):
    from multimodal_fer.temperature import apply_temperature
    from multimodal_fer.text.emotion import TextEmotionModel, default_encoder_dir, softmax

    model, path = tiny_ft
    loaded = TextEmotionModel.load(path)
    assert loaded.kind == "finetuned" and loaded.use_context
    contexts = ["", "you got me a present", "how are you", "your cat is lost"]
    want = softmax(model.predict_logits(TEXTS, contexts))  # float32 weights
    got = loaded.predict_proba(TEXTS, contexts)  # float16-stored top layer, on the base, calibrated
    want = apply_temperature(want, temperature=loaded.temperature)
    np.testing.assert_allclose(got, want, atol=2e-3)
    # context is used: a different context changes the probabilities
    other = loaded.predict_proba(TEXTS, ["the party was great"] * 4)
    assert np.abs(other - got).max() > 1e-4
    assert loaded.finetuned.encoder_dir == str(default_encoder_dir())


def test_wrong_base_is_refused(tiny_ft, monkeypatch):
    from multimodal_fer.text import finetuned
    from multimodal_fer.text.emotion import TextEmotionModel

    _, path = tiny_ft
    monkeypatch.setattr(finetuned, "base_sha256", lambda d: "0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        TextEmotionModel.load(path)


def test_load_kinds(tmp_path):
    from multimodal_fer.text.emotion import TextEmotionModel

    with pytest.raises(ValueError, match="kind"):
        TextEmotionModel.load(kind="big")
    with pytest.raises(FileNotFoundError, match="train"):
        TextEmotionModel.load(tmp_path, kind="finetuned")
    head = TextEmotionModel.load(kind="head")
    assert head.kind == "head" and head.version.startswith("text-minilm-head-")
    p = head.predict_proba(["I am so happy, this is wonderful!", ""])
    assert p[0].argmax() == EMOTIONS.index("happy") and np.isnan(p[1]).all()


def _metrics() -> dict:
    return json.loads((TEXT_ARTEFACTS / "metrics.json").read_text())


def test_committed_default_model_matches_metrics():
    import hashlib

    from multimodal_fer.text.emotion import TextEmotionModel

    m = _metrics()
    model = TextEmotionModel.load()
    assert model.kind == m["default_model"] and model.version == m["version"]
    if m["default_model"] == "finetuned":
        path = TEXT_ARTEFACTS / "finetuned.safetensors"
        assert m["finetuned"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert path.stat().st_size < 20_000_000
        assert model.use_context == m["finetuned"]["config"]["use_context"]
    else:
        assert not (TEXT_ARTEFACTS / "finetuned.safetensors").exists()


@pytest.mark.slow
@pytest.mark.shared_data
def test_committed_model_reproduces_meld_dev_numbers():
    """Loading the committed artefacts gives the MELD dev numbers of metrics.json (about 1 minute)."""
    from multimodal_fer.paths import SHARED_DATA
    from multimodal_fer.text.emotion import TextEmotionModel
    from training.text import load_meld, scores

    needs_shared("text", "meld", "dev_sent_emo.csv")
    m = _metrics()
    model = TextEmotionModel.load()
    dev = load_meld(SHARED_DATA, "dev")
    s = scores(dev.y, model.predict_proba(list(dev.texts), list(dev.contexts) if model.use_context else None))
    for k in ("accuracy", "weighted_f1", "macro_f1"):
        assert s[k] == pytest.approx(m["meld_dev"][k], abs=2e-3), k
    assert m["meld_dev"]["n"] == s["n"] == len(dev.y)
