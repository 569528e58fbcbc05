"""Tests of the transcript stream: ASR model files, transcription, text emotion, label mapping."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.paths import SHARED_DATA, TEXT_ARTEFACTS
from multimodal_fer.text import asr
from multimodal_fer.text.asr import AsrOptions, Transcript, load_asr_model, resolve_model_dir, transcribe

RAVDESS = SHARED_DATA / "speech" / "ravdess"
GOEMOTIONS = SHARED_DATA / "text" / "goemotions"
needs_ravdess = pytest.mark.skipif(not (RAVDESS / "labels.csv").is_file(), reason="no ../shared/data RAVDESS")
needs_goemotions = pytest.mark.skipif(not (GOEMOTIONS / "labels.txt").is_file(), reason="no ../shared/data GoEmotions")


# --------------------------------------------------------------------------- model files


@pytest.fixture(scope="session")
def base_cache(tmp_path_factory) -> Path:
    """A private MFER_CACHE with the base model joined once (≈ 145 MB) for the whole session."""
    cache = tmp_path_factory.mktemp("mfer-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MFER_CACHE", str(cache))
        resolve_model_dir("base")
    return cache


@pytest.fixture
def use_base_cache(base_cache, monkeypatch) -> Path:
    monkeypatch.setenv("MFER_CACHE", str(base_cache))
    return base_cache


def test_resolve_base_joins_and_verifies(use_base_cache):
    d = resolve_model_dir("base")
    assert d == use_base_cache / asr.BASE_CACHE_NAME
    assert asr.sha256_of(d / "model.bin") == asr.BASE_MODEL_SHA256
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        assert (d / name).is_file()
    assert not list(d.glob("*.tmp-*")), "temporary files left behind"


def test_corrupt_or_truncated_join_is_rebuilt(use_base_cache):
    model_bin = use_base_cache / asr.BASE_CACHE_NAME / "model.bin"
    with open(model_bin, "r+b") as f:  # same size, one byte flipped
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert asr.sha256_of(model_bin) != asr.BASE_MODEL_SHA256
    resolve_model_dir("base")
    assert asr.sha256_of(model_bin) == asr.BASE_MODEL_SHA256
    with open(model_bin, "r+b") as f:  # truncated
        f.truncate(1234)
    resolve_model_dir("base")
    assert model_bin.stat().st_size == asr.BASE_MODEL_BYTES
    assert asr.sha256_of(model_bin) == asr.BASE_MODEL_SHA256


def test_wrong_packaged_parts_raise_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MFER_CACHE", str(tmp_path))
    monkeypatch.setattr(asr, "BASE_MODEL_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="sha256"):
        resolve_model_dir("base")
    assert not (tmp_path / asr.BASE_CACHE_NAME / "model.bin").exists()
    assert not list((tmp_path / asr.BASE_CACHE_NAME).glob("*.tmp-*"))


def test_resolve_tiny_en_and_bad_names(tmp_path):
    assert (resolve_model_dir("tiny.en") / "model.bin").is_file()
    with pytest.raises(ValueError, match="AsrOptions.model"):
        resolve_model_dir("large-v3")  # would need a download: refused
    with pytest.raises(ValueError, match="AsrOptions.model"):
        resolve_model_dir(str(tmp_path))


def test_openai_whisper_missing_checkpoint_is_a_clear_error(tmp_path):
    options = AsrOptions(backend="openai-whisper", model=str(tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError, match="AsrOptions.model"):
        load_asr_model(options)
    with pytest.raises(FileNotFoundError, match="AsrOptions.model"):
        transcribe(np.full(16000, 0.1, np.float32), options)
    with pytest.raises(FileNotFoundError, match=r"\.pt checkpoint"):
        load_asr_model(AsrOptions(backend="openai-whisper", model="base"))


def test_unknown_backend_and_bad_audio():
    with pytest.raises(ValueError, match="backend"):
        load_asr_model(AsrOptions(backend="nope"))
    with pytest.raises(ValueError, match="mono"):
        transcribe(np.zeros((2, 16000), np.float32))


# --------------------------------------------------------------------------- transcription


def test_options_are_frozen_and_hashable():
    o = AsrOptions()
    assert (o.backend, o.model, o.compute_type, o.temperature, o.vad_filter, o.cpu_threads) == (
        "faster-whisper", "base", "int8", 0.0, True, 1)
    assert hash(o) == hash(AsrOptions())
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.model = "tiny.en"  # type: ignore[misc]


@pytest.mark.parametrize("audio", [np.zeros(16000 * 2, np.float32), np.zeros(0, np.float32)])
def test_silence_and_empty_give_no_segments(audio):
    t = transcribe(audio)
    assert isinstance(t, Transcript)
    assert t.segments == () and t.words == () and t.text == ""


def test_faint_noise_through_the_model_gives_no_words(use_base_cache):
    noise = np.random.default_rng(0).normal(0, 1e-4, 16000 * 2).astype(np.float32)
    t = transcribe(noise, AsrOptions())
    assert t.words == ()
    assert load_asr_model(AsrOptions()) is load_asr_model(AsrOptions())  # loaded once


def _words(s: str) -> list[str]:
    return re.sub(r"[^a-z' ]+", " ", s.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    r, h = _words(reference), _words(hypothesis)
    d = np.arange(len(h) + 1)
    for i in range(1, len(r) + 1):
        prev, d = d, d.copy()
        d[0] = i
        for j in range(1, len(h) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return d[-1] / max(len(r), 1)


def test_wer_helper():
    assert wer("kids are talking by the door", "Kids are talking by the door.") == 0
    assert wer("a b c d e", "a b x d") == pytest.approx(0.4)


@pytest.mark.slow
@pytest.mark.shared_data
@needs_ravdess
def test_ravdess_clip_transcribes_with_timestamps(use_base_cache):
    import pandas as pd
    import soundfile as sf

    labels = pd.read_csv(RAVDESS / "labels.csv")
    row = labels.iloc[0]
    audio, sr = sf.read(RAVDESS / row["path"], dtype="float32")
    assert sr == asr.SAMPLE_RATE
    t = transcribe(audio, AsrOptions())
    assert t.language == "en"
    assert wer(row["transcript"], t.text) <= 0.2, t.text
    words = t.words
    assert len(words) >= 4
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    duration = len(audio) / sr
    for w in words:
        assert 0.0 <= w.start_s <= w.end_s <= duration + 0.05
        assert 0.0 <= w.probability <= 1.0


# --------------------------------------------------------------------------- text emotion


@pytest.fixture(scope="module")
def text_model():
    from multimodal_fer.text.emotion import TextEmotionModel

    if not (TEXT_ARTEFACTS / "head.npz").is_file():
        pytest.fail("the committed text head is missing: run python -m training.text")
    # the default model: the fine-tuned one when committed, else the head
    return TextEmotionModel.load()


def test_predict_proba_shapes_and_nan_rows(text_model):
    p = text_model.predict_proba(["hello there", "", "   ", "I can't believe it!"])
    assert p.shape == (4, len(EMOTIONS))
    assert np.isnan(p[1]).all() and np.isnan(p[2]).all()
    ok = p[[0, 3]]
    assert np.isfinite(ok).all() and (ok >= 0).all()
    np.testing.assert_allclose(ok.sum(axis=1), 1.0, atol=1e-9)
    assert text_model.predict_proba([]).shape == (0, len(EMOTIONS))
    assert np.isnan(text_model.predict_proba([""])).all()
    assert re.fullmatch(r"text-minilm-(head|ft)-\d+\.\d+\.\d+\+[0-9a-f]{12}", text_model.version)


def test_predict_proba_is_deterministic_and_batch_independent(text_model):
    texts = ["I'm fine.", "Get out of my house right now!", "Oh my god, really?"]
    a = text_model.predict_proba(texts)
    b = np.vstack([text_model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_obvious_sentences(text_model):
    happy, sad = EMOTIONS.index("happy"), EMOTIONS.index("sad")
    p = text_model.predict_proba(["I am so happy, this is wonderful!", "I'm so sad, I miss her terribly"])
    assert p[0, happy] > p[0, sad]
    assert p[1, sad] > p[1, happy]
    assert p[0].argmax() == happy and p[1].argmax() == sad


def test_contexts_length_checked(text_model):
    with pytest.raises(ValueError):
        text_model.predict_proba(["a", "b"], contexts=["x"])
    p = text_model.predict_proba(["Really?"], contexts=["I won the lottery."])
    assert p.shape == (1, 7) and np.isfinite(p).all()


def test_load_missing_head_is_clear(tmp_path):
    from multimodal_fer.text.emotion import TextEmotionModel

    with pytest.raises(FileNotFoundError, match="train"):
        TextEmotionModel.load(tmp_path)


def test_committed_artefacts_are_small_and_consistent():
    import json

    files = {p.name: p.stat().st_size for p in TEXT_ARTEFACTS.iterdir() if p.is_file()}
    assert {"head.npz", "metrics.json", "MODEL_CARD.md"} <= set(files)
    assert sum(files.values()) < 20_000_000  # the fine-tuned subset is ~14 MB; the head alone ~15 kB
    metrics = json.loads((TEXT_ARTEFACTS / "metrics.json").read_text())
    import hashlib

    assert metrics["head"]["sha256"] == hashlib.sha256((TEXT_ARTEFACTS / "head.npz").read_bytes()).hexdigest()
    assert 0 < metrics["meld_dev"]["weighted_f1"] <= 1


def test_vader_valence():
    from multimodal_fer.text.emotion import vader_valence

    v = vader_valence(["I love this, it is great!", "This is horrible and I hate it.", ""])
    assert v.shape == (3,)
    assert v[0] > 0.5 and v[1] < -0.5 and np.isnan(v[2])
    assert vader_valence([]).shape == (0,)


# --------------------------------------------------------------------------- GoEmotions mapping


def test_goemotions_mapping_fixed_names():
    from training.text import GOEMOTIONS_EKMAN, goemotions_canonical

    assert len(GOEMOTIONS_EKMAN) == 28
    assert goemotions_canonical("amusement") == "happy"
    assert goemotions_canonical("Annoyance") == "angry"
    assert goemotions_canonical("nervousness") == "fearful"
    assert goemotions_canonical("grief") == "sad"
    assert goemotions_canonical("realization") == "surprised"
    assert goemotions_canonical("disgust") == "disgusted"
    assert goemotions_canonical("neutral") == "neutral"
    with pytest.raises(KeyError):
        goemotions_canonical("schadenfreude")
    for fine, group in GOEMOTIONS_EKMAN.items():
        assert goemotions_canonical(fine) in EMOTIONS or group is None


@pytest.mark.shared_data
@needs_goemotions
def test_goemotions_mapping_covers_data_labels():
    from multimodal_fer.labels import to_canonical
    from training.text import GOEMOTIONS_EKMAN, goemotions_canonical, goemotions_fine_names

    names = goemotions_fine_names(SHARED_DATA)
    assert len(names) == 28
    assert set(names) == set(GOEMOTIONS_EKMAN)
    for name in names:
        goemotions_canonical(name)  # raises on an unmapped label
    groups = [x.strip() for x in (GOEMOTIONS / "ekman_labels.txt").read_text().split() if x.strip()]
    assert set(GOEMOTIONS_EKMAN.values()) == set(groups)
    assert {to_canonical(g) for g in groups} == set(EMOTIONS)
