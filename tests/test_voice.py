"""Voice stream: VAD, prosody, pauses and the emotion model's interface."""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_CACHE_DIR", str(__import__("pathlib").Path(__file__).resolve()
                                              .parents[1] / ".cache" / "numba"))

import numpy as np
import pandas as pd
import pytest

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.paths import SHARED_DATA, VOICE_ARTEFACTS
from multimodal_fer.voice import (
    HOP_S,
    PROSODY_WINDOW_COLUMNS,
    SR,
    VoiceModel,
    frame_prosody,
    speech_segments,
    window_prosody,
)
from multimodal_fer.voice.model import ARTEFACT_FILE, RAVDESS_CLASSES, features_matrix, fold_to_canonical

RAVDESS = SHARED_DATA / "speech" / "ravdess"


def _tone(freq_hz: float, duration_s: float) -> np.ndarray:
    import librosa

    return (0.5 * librosa.tone(freq_hz, sr=SR, duration=duration_s)).astype(np.float32)


# ------------------------------------------------------------------ prosody


def test_tone_gives_its_pitch_and_is_voiced():
    frames = frame_prosody(_tone(220.0, 1.0))
    assert list(frames.columns) == ["t_s", "f0_hz", "voiced_prob", "rms_db"]
    assert len(frames) == SR // int(HOP_S * SR) + 1
    assert np.allclose(np.diff(frames["t_s"]), HOP_S)
    voiced = frames["f0_hz"].notna()
    assert voiced.mean() > 0.9
    assert np.nanmedian(frames["f0_hz"]) == pytest.approx(220.0, rel=0.03)
    assert frames.loc[voiced, "voiced_prob"].median() > 0.9
    # 0.5 * sine: rms = 0.5 / sqrt(2) -> -9 dBFS
    assert frames["rms_db"].median() == pytest.approx(-9.03, abs=0.5)


def test_low_voice_pitch_tracked():
    frames = frame_prosody(_tone(95.0, 0.8))
    assert np.nanmedian(frames["f0_hz"]) == pytest.approx(95.0, rel=0.03)


def test_silence_is_unvoiced_and_has_no_speech():
    silence = np.zeros(2 * SR, dtype=np.float32)
    frames = frame_prosody(silence)
    assert len(frames) == 2 * SR // 160 + 1
    assert frames["f0_hz"].notna().sum() == 0
    assert (frames["voiced_prob"] == 0).all()
    assert speech_segments(silence) == []
    assert speech_segments(np.zeros(0, dtype=np.float32)) == []
    assert len(frame_prosody(np.zeros(0, dtype=np.float32))) == 0


def test_white_noise_is_mostly_unvoiced():
    noise = np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32)
    assert frame_prosody(noise)["f0_hz"].notna().mean() < 0.1


def test_window_columns_unchanged():
    assert PROSODY_WINDOW_COLUMNS == ("window_start_s", "f0_mean_hz", "f0_std_hz", "rms_mean_db",
                                      "voiced_ratio", "speech_ratio")


def test_window_prosody_covers_duration():
    duration_s = 3.5
    audio = np.concatenate([_tone(200.0, 2.0), np.zeros(int(1.5 * SR), dtype=np.float32)])
    frames = frame_prosody(audio)
    windows = window_prosody(frames, [(0.0, 2.0)], duration_s=duration_s, window_s=1.0)
    assert tuple(windows.columns) == PROSODY_WINDOW_COLUMNS
    assert len(windows) == 4  # [0,1) [1,2) [2,3) [3,3.5)
    starts = windows["window_start_s"].to_numpy()
    assert starts[0] == 0.0 and np.all(np.diff(starts) > 0)
    assert starts[-1] < duration_s <= starts[-1] + 1.0
    assert windows["speech_ratio"].tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert windows["f0_mean_hz"].iloc[0] == pytest.approx(200.0, rel=0.03)
    assert windows["f0_std_hz"].iloc[0] < 5.0
    # the frame centred at 2.0 s still hears the tone's end; the rest of the window is silent
    assert windows["voiced_ratio"].iloc[2] < 0.05
    assert np.isnan(windows["f0_mean_hz"].iloc[3]) and np.isnan(windows["f0_std_hz"].iloc[3])
    assert windows["voiced_ratio"].iloc[0] > 0.9 and windows["voiced_ratio"].iloc[3] == 0.0
    assert windows["rms_mean_db"].iloc[0] > windows["rms_mean_db"].iloc[3] + 30
    half = window_prosody(frames, [], duration_s=duration_s, window_s=0.5)
    assert len(half) == 7 and (half["speech_ratio"] == 0).all()
    assert len(window_prosody(frames.iloc[:0], [], duration_s=0.0)) == 0


# ------------------------------------------------------------------ VAD on real speech


@pytest.mark.shared_data
def test_vad_finds_speech_before_appended_silence():
    if not (RAVDESS / "labels.csv").exists():
        pytest.skip(f"shared data absent: {RAVDESS}")
    import soundfile as sf

    audio, sr = sf.read(RAVDESS / "Actor_01" / "03-01-01-01-01-01-01.flac", dtype="float32")
    assert sr == SR
    speech_end_s = len(audio) / SR
    padded = np.concatenate([audio, np.zeros(int(1.5 * SR), dtype=np.float32)])
    segments = speech_segments(padded)
    assert segments, "no speech found in a RAVDESS clip"
    assert all(e > s for s, e in segments)
    assert all(a[1] <= b[0] for a, b in zip(segments[:-1], segments[1:]))
    # the clip's own trailing silence counts as silence: speech ends before the clip does
    assert segments[-1][1] <= speech_end_s + 0.3
    assert segments[0][0] < segments[-1][1] - 0.8  # a sentence, not a blip
    speech_s = sum(e - s for s, e in segments)
    assert 0 < speech_s < len(padded) / SR


# ------------------------------------------------------------------ model


@pytest.fixture(scope="module")
def model() -> VoiceModel:
    if not (VOICE_ARTEFACTS / ARTEFACT_FILE).exists():
        pytest.fail("committed voice artefact missing: run python -m training.voice")
    return VoiceModel.load()


def test_model_version_names_artefact(model):
    from multimodal_fer.voice.model import MODEL_NAME, MODEL_VERSION

    assert model.version.startswith(f"{MODEL_NAME}-{MODEL_VERSION}+")
    assert MODEL_VERSION == "0.3.0"
    assert len(model.version.split("+")[1]) == 8


def test_predict_proba_shapes_and_sums(model):
    rng = np.random.default_rng(1)
    clips = [_tone(180.0, 1.2), rng.normal(0, 0.05, SR).astype(np.float32),
             np.zeros(int(0.1 * SR), dtype=np.float32), _tone(300.0, 0.1)]
    proba = model.predict_proba(clips)
    assert proba.shape == (4, len(EMOTIONS))
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1.0)
    proba8 = model.predict_proba_8(clips)
    assert proba8.shape == (4, len(RAVDESS_CLASSES))
    assert np.allclose(proba8.sum(axis=1), 1.0)
    # the 8 classes are the classifier's own; the 7 are them folded (calm into neutral), then calibrated
    from multimodal_fer.temperature import calibrate

    folded = fold_to_canonical(proba8)
    assert np.allclose(folded[:, EMOTIONS.index("neutral")], proba8[:, 0] + proba8[:, 1])
    assert np.allclose(proba, calibrate(folded, temperature=model.temperature, smoothing=model.smoothing))
    assert model.predict_proba([]).shape == (0, len(EMOTIONS))
    assert model.predict_proba_8([]).shape == (0, len(RAVDESS_CLASSES))


def test_predict_is_deterministic_and_calibrated_by_its_temperature(model):
    clips = [_tone(150.0 + 10 * i, 0.6) for i in range(3)]
    a = model.predict_proba(clips)
    assert np.array_equal(a, model.predict_proba(clips))
    assert model.temperature > 0
    # the temperature softens or sharpens, never changes the label
    raw = fold_to_canonical(model.heads["global"].proba(features_matrix(clips)))
    assert np.array_equal(a.argmax(axis=1), raw.argmax(axis=1))
    if model.temperature > 1:
        assert (a.max(axis=1) <= raw.max(axis=1) + 1e-9).all()
    assert 0 <= model.smoothing < 1 and (a.min(axis=1) >= model.smoothing / len(EMOTIONS) - 1e-12).all()


def test_an_uninformative_row_is_calibrated_like_the_fusions_voice_prior():
    """The fusion divides the voice's row by its training prior calibrated in the 7 canonical classes
    (FusionOptions.output_prior); a classifier row that says what it says regardless of its input (its
    training prior over the 8 classes, calm and neutral apart) must come out as that same row, or an empty
    voice would carry evidence for neutral. (Calibrating the 8 classes with the earlier temperature
    3.29 and then folding gave neutral 0.22 for this row against 0.16 for the calibrated prior.)"""
    from multimodal_fer.fusion import FusionOptions
    from multimodal_fer.voice.model import FEATURE_NAMES, VoiceModel

    opt = FusionOptions()
    prior7 = np.asarray(opt.prior_voice)
    calm_share = 0.5  # how the prior's neutral mass is split between calm and neutral does not matter
    prior8 = np.insert(prior7, 1, prior7[0] * calm_share)
    prior8[0] *= 1 - calm_share

    class Fixed:
        def proba(self, x):
            return np.tile(prior8, (len(x), 1))

    model = VoiceModel({"global": Fixed()}, version="t", temperature=opt.temperature_voice,
                       smoothing=opt.smoothing_voice)
    got = model.proba_from_features(np.zeros((2, len(FEATURE_NAMES))))
    np.testing.assert_allclose(got, np.tile(opt.output_prior("voice"), (2, 1)), atol=1e-12)


def test_fold_to_canonical():
    p8 = np.eye(len(RAVDESS_CLASSES))
    p7 = fold_to_canonical(p8)
    assert p7.shape == (8, 7)
    assert p7[RAVDESS_CLASSES.index("calm"), EMOTIONS.index("neutral")] == 1.0
    assert p7[RAVDESS_CLASSES.index("disgust"), EMOTIONS.index("disgusted")] == 1.0


@pytest.mark.slow
@pytest.mark.shared_data
def test_model_beats_chance_on_real_clips(model):
    if not (RAVDESS / "labels.csv").exists():
        pytest.skip(f"shared data absent: {RAVDESS}")
    import soundfile as sf

    labels = pd.read_csv(RAVDESS / "labels.csv")
    sample = labels[labels["intensity"] == "strong"].groupby("emotion").head(4)
    clips = [sf.read(RAVDESS / p, dtype="float32")[0] for p in sample["path"]]
    pred = model.predict_proba_8(clips).argmax(axis=1)
    truth = [RAVDESS_CLASSES.index(e) for e in sample["emotion"]]
    # training data (seen actors): a sanity check of the pipeline, not an evaluation
    assert np.mean(pred == np.array(truth)) > 0.5
