"""Tests of ``mfer evaluate text`` (multimodal_fer.text.evaluate.run)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.text import evaluate


class StubModel:
    """Predicts the emotion named in the text ('... happy ...'); records the contexts it got."""

    version = "stub-1"
    kind = "stub"

    def __init__(self, use_context: bool = True):
        self.use_context = use_context
        self.calls: list[tuple[list[str], list[str] | None]] = []

    def predict_proba(self, texts, contexts=None):
        self.calls.append((list(texts), None if contexts is None else list(contexts)))
        out = np.full((len(texts), len(EMOTIONS)), np.nan)
        for i, t in enumerate(texts):
            if t.strip():
                out[i] = 0.01
                hit = [k for k, e in enumerate(EMOTIONS) if e in t]
                out[i, hit[0] if hit else 0] = 1.0
                out[i] /= out[i].sum()
        return out


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_run_metrics_skips_and_json(tmp_path, capsys):
    labels = _write(tmp_path / "l.csv", ["text", "label"], [
        ["so happy today", "joy"],          # corpus name -> happy, right
        ["I am sad", "sadness"],            # right
        ["I am sad", "anger"],              # wrong
        ["whatever", "Powerful"],           # no canonical class: skipped
        ["   ", "neutral"],                 # empty text: no prediction (an error)
        ["neutral words", "NEU"],           # right
    ])
    out = tmp_path / "m.json"
    model = StubModel(use_context=True)
    r = evaluate.run(labels, out=out, model=model)
    assert r["n"] == 5 and r["skipped"] == 1 and r["no_prediction"] == 1
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["per_class"]["happy"]["recall"] == 1.0 and r["per_class"]["angry"]["recall"] == 0.0
    assert r["per_class"]["neutral"]["support"] == 2 and r["per_class"]["neutral"]["recall"] == 0.5
    assert r["context"] is False  # no dialogue columns: no contexts passed
    assert model.calls[0][1] is None
    sure = 1 / (1 + 0.01 * (len(EMOTIONS) - 1))  # the stub's top probability
    assert r["n_calibration"] == 4 and r["mean_confidence"] == pytest.approx(sure)  # the empty text is left out
    assert r["ece"] == pytest.approx(sure - 3 / 4)  # 0.94 sure, right 3 times in 4
    saved = json.loads(out.read_text())
    assert {"n", "accuracy", "macro_f1", "weighted_f1", "per_class"} <= set(saved)
    assert saved["weighted_f1"] == r["weighted_f1"] and saved["model_version"] == "stub-1"
    printed = capsys.readouterr().out
    assert "stub-1" in printed and "happy" in printed and "weighted_f1" in printed and "ece=0.19" in printed


def test_dialogue_context_order_and_skipped_rows(tmp_path):
    labels = _write(tmp_path / "d.csv", ["dialogue_id", "utterance_id", "text", "label"], [
        ["1", "10", "third", "neutral"],
        ["1", "2", "first", "neutral"],
        ["2", "0", "other", "neutral"],
        ["1", "9", "second", "powerful"],  # skipped for scoring, still context
    ])
    model = StubModel(use_context=True)
    r = evaluate.run(labels, model=model, quiet=True)
    texts, contexts = model.calls[0]
    assert texts == ["third", "first", "other"]
    assert contexts == ["first second", "", ""]
    assert r["context"] is True and r["skipped"] == 1


def test_unknown_label_and_missing_column_are_errors(tmp_path):
    with pytest.raises(ValueError, match="a.csv: line 2: unknown emotion label .schadenfreude"):
        evaluate.run(_write(tmp_path / "a.csv", ["text", "label"], [["x", "schadenfreude"]]),
                     model=StubModel(), quiet=True)
    with pytest.raises(ValueError, match="missing column"):
        evaluate.run(_write(tmp_path / "b.csv", ["utterance", "label"], [["x", "joy"]]),
                     model=StubModel(), quiet=True)


def test_path_column_resolved_against_root(tmp_path):
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("a sad story", encoding="utf-8")
    labels = _write(tmp_path / "p.csv", ["path", "label"], [["a.txt", "sad"]])
    r = evaluate.run(labels, root=tmp_path / "texts", model=StubModel(), quiet=True)
    assert r["n"] == 1 and r["accuracy"] == 1.0


def test_run_with_the_committed_model(tmp_path):
    labels = _write(tmp_path / "r.csv", ["text", "label"], [
        ["I am so happy, this is wonderful!", "happy"], ["I'm so sad, I miss her terribly", "sad"]])
    r = evaluate.run(labels, quiet=True)
    assert r["n"] == 2 and r["accuracy"] == 1.0
    assert r["model_version"].startswith("text-minilm-")
