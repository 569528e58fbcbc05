"""`mfer evaluate voice`: multimodal_fer.voice.evaluate.run on generated and real files."""

from __future__ import annotations

import csv
import json
import os

os.environ.setdefault("NUMBA_CACHE_DIR", str(__import__("pathlib").Path(__file__).resolve()
                                              .parents[1] / ".cache" / "numba"))

import numpy as np
import pytest

from multimodal_fer.labels import EMOTIONS
from tests.conftest import needs_shared, write_video


def _write_csv(path, rows, header=("path", "label")):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _wav(path, freq_hz, seconds=1.2):
    import soundfile as sf

    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), 16000)
    return path


def test_evaluate_voice_end_to_end_on_generated_files(tmp_path):
    from multimodal_fer.voice.evaluate import run

    _wav(tmp_path / "a.wav", 180.0)
    _wav(tmp_path / "b.wav", 260.0)
    write_video(tmp_path / "c.mp4", seconds=1.0, tone_hz=220.0, audio_sr=44100)
    labels = _write_csv(tmp_path / "labels.csv", [
        ("a.wav", "neutral"), ("b.wav", "ANG"), ("c.mp4", "happiness"), ("a.wav", "contempt")])
    out = tmp_path / "res" / "voice.json"
    report = run(labels, out=out, quiet=True)
    assert report["n"] == 3 and report["skipped"] == 1
    assert [f["label"] for f in report["files"]] == ["neutral", "angry", "happy"]
    assert report["files"][2]["duration_s"] == pytest.approx(1.0, abs=0.1)  # audio of the MP4
    preds = [f["prediction"] for f in report["files"]]
    assert all(p in EMOTIONS for p in preds)
    acc = np.mean([p == f["label"] for p, f in zip(preds, report["files"])])
    assert report["accuracy"] == pytest.approx(acc, abs=1e-4)
    for f in report["files"]:
        assert sum(f["proba"].values()) == pytest.approx(1.0, abs=1e-3)
        assert -1 <= f["valence"] <= 1 and -1 <= f["arousal"] <= 1
    saved = json.loads(out.read_text())
    assert {"n", "accuracy", "macro_f1", "weighted_f1", "per_class", "ece", "mean_confidence"} <= set(saved)
    assert saved["per_class"]["angry"]["support"] == 1
    assert report["n_calibration"] == 3 and 0 <= report["ece"] <= 1
    top = np.mean([max(f["proba"].values()) for f in report["files"]])
    assert report["mean_confidence"] == pytest.approx(top, abs=1e-4)
    assert report["ece"] >= abs(top - acc) - 1e-4  # never below the gap between mean confidence and accuracy


def test_evaluate_voice_rejects_unknown_labels_and_missing_columns(tmp_path):
    from multimodal_fer.voice.evaluate import run

    _wav(tmp_path / "a.wav", 180.0)
    with pytest.raises(ValueError, match="l.csv: line 2: unknown emotion label 'bored'"):
        run(_write_csv(tmp_path / "l.csv", [("a.wav", "bored")]), quiet=True)
    with pytest.raises(ValueError):
        run(_write_csv(tmp_path / "m.csv", [("a.wav", "sad")], header=("file", "label")),
            quiet=True)


def test_long_files_are_scored_in_chunks(tmp_path, monkeypatch):
    from multimodal_fer.voice import evaluate

    calls = []

    class Fake:
        version = "fake"

        def predict_proba(self, clips):
            calls.append([len(c) for c in clips])
            p = np.zeros((len(clips), len(EMOTIONS)))
            p[:, 0] = 1.0
            return p

    monkeypatch.setattr("multimodal_fer.voice.vad.speech_segments",
                        lambda audio, sr=16000: [(0.5, 7.5), (9.0, 10.0)])
    audio = np.full(11 * 16000, 0.1, dtype=np.float32)
    proba = evaluate.score_audio(Fake(), audio)
    assert proba[0] == 1.0
    assert calls == [[48000, 48000, 16000, 16000]]  # 3 + 3 + 1 s, then the 1 s segment
    assert evaluate.score_audio(Fake(), np.zeros(0, np.float32)) is None


@pytest.mark.shared_data
def test_evaluate_voice_on_ravdess_files(tmp_path):
    from multimodal_fer.voice.evaluate import run

    root = needs_shared("speech", "ravdess")
    labels = _write_csv(tmp_path / "labels.csv", [
        ("Actor_03/03-01-05-02-01-01-03.flac", "angry"),
        ("Actor_04/03-01-04-02-02-01-04.flac", "sad"),
        ("Actor_05/03-01-01-01-01-01-05.flac", "neutral")])
    report = run(labels, root=root, out=tmp_path / "r.json", quiet=True)
    assert report["n"] == 3 and report["skipped"] == 0
    assert all(2.0 < f["duration_s"] < 6.0 for f in report["files"])
    assert report["model_version"].startswith("voice-prosody-")
