"""`mfer evaluate asr`: text normalisation, word error rate and the evaluation loop."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from multimodal_fer.text.evaluate_asr import normalise_text, number_to_words, word_errors
from tests.conftest import needs_shared


def test_normalise_text():
    assert normalise_text("Kids are talking by the door.") == "kids are talking by the door"
    assert normalise_text("  Don\u2019t   forget a JACKET!! ") == "don't forget a jacket"
    assert normalise_text("'Well,' she said - 42% off") == "well she said forty two percent off"
    assert normalise_text("It's 1,250 kids") == "it's one thousand two hundred fifty kids"


def test_number_to_words():
    assert number_to_words(0) == "zero"
    assert number_to_words(15) == "fifteen"
    assert number_to_words(70) == "seventy"
    assert number_to_words(305) == "three hundred five"
    assert number_to_words(21_019) == "twenty one thousand nineteen"
    with pytest.raises(ValueError):
        number_to_words(1_000_000)


def test_word_errors_of_known_pairs():
    e = word_errors("the cat sat on the mat", "The cat sit on mat.")
    assert (e["substitutions"], e["deletions"], e["insertions"]) == (1, 1, 0)
    assert e["wer"] == pytest.approx(2 / 6)
    e = word_errors("kids are talking", "kids are are talking now")
    assert (e["substitutions"], e["deletions"], e["insertions"]) == (0, 0, 2)
    assert e["wer"] == pytest.approx(2 / 3)
    assert word_errors("Kids, are talking!", "kids are talking")["wer"] == 0.0
    assert word_errors("", "")["wer"] == 0.0
    assert word_errors("", "hello")["wer"] == float("inf")
    assert word_errors("a b", "")["deletions"] == 2


def test_run_aggregates_corpus_wer(tmp_path, monkeypatch):
    import soundfile as sf

    from multimodal_fer.text import asr
    from multimodal_fer.text.evaluate_asr import run

    hyps = {16000: "Kids are talking by the door.", 24000: "dogs sitting by a door"}

    class FakeTranscript:
        def __init__(self, text):
            self.text = text

    monkeypatch.setattr(asr, "load_asr_model", lambda options: None)
    monkeypatch.setattr(asr, "transcribe", lambda audio, options: FakeTranscript(hyps[audio.size]))
    sf.write(tmp_path / "a.wav", np.full(16000, 0.1, np.float32), 16000)
    sf.write(tmp_path / "b.wav", np.full(24000, 0.1, np.float32), 16000)
    with open(tmp_path / "t.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "transcript"),
                                  ("a.wav", "Kids are talking by the door"),
                                  ("b.wav", "Dogs are sitting by the door")])
    report = run(tmp_path / "t.csv", out=tmp_path / "asr.json", quiet=True)
    assert report["n"] == 2 and report["ref_words"] == 12
    # file a: no error; file b: one deletion (are) and one substitution (the -> a)
    assert report["wer"] == pytest.approx(2 / 12, abs=1e-4)
    assert [f["wer"] for f in report["files"]] == [0.0, pytest.approx(2 / 6, abs=1e-4)]
    assert report["audio_s"] == pytest.approx(2.5)
    assert report["realtime_factor"] >= 0
    assert json.loads((tmp_path / "asr.json").read_text())["wer"] == report["wer"]


@pytest.mark.parametrize("rows", [[("a.wav",)], [("a.wav", "")], [("a.wav", "one"), ("a.wav", "  ")]])
def test_a_row_without_a_transcript_is_refused_not_scored(tmp_path, rows):
    from multimodal_fer.text.evaluate_asr import run

    (tmp_path / "a.wav").write_bytes(b"never read")
    with open(tmp_path / "t.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "transcript"), *rows])
    with pytest.raises(ValueError, match="no transcript on line|line 2: no cell for"):
        run(tmp_path / "t.csv", quiet=True)


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_asr_on_two_ravdess_clips(tmp_path):
    from multimodal_fer.text.evaluate_asr import run

    root = needs_shared("speech", "ravdess")
    with open(tmp_path / "t.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "transcript"),
                                  ("Actor_01/03-01-01-01-01-01-01.flac", "Kids are talking by the door"),
                                  ("Actor_02/03-01-03-02-02-01-02.flac", "Dogs are sitting by the door")])
    report = run(tmp_path / "t.csv", root=root, quiet=True)
    assert report["n"] == 2
    assert report["wer"] <= 0.2
    # short clips: Whisper pads to 30 s; bound only catches a runaway (shared 2-core machine)
    assert 0 < report["realtime_factor"] < 5
