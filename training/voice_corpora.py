"""The speech corpora the voice model learns from and is tested on across (leave-one-corpus-out).

RAVDESS (English, FLAC, 8 classes incl. calm), nEMO (Polish, Ogg Opus, 6 classes: no disgust)
and EMOVO (Italian, Ogg Opus, 7 classes), from ``../shared/data/speech``. Every clip gets the
model's 8-class target (:data:`~multimodal_fer.voice.model.RAVDESS_CLASSES`; only RAVDESS has
*calm*) and the canonical 7-class one. A corpus that lacks a class simply contributes no example
of it (nothing is dropped); a test corpus is scored on the classes it has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from multimodal_fer.evaluation import classification_metrics
from multimodal_fer.labels import EMOTIONS, to_canonical
from multimodal_fer.paths import SHARED_DATA
from multimodal_fer.voice.model import RAVDESS_CLASSES, fold_to_canonical

SPEECH = SHARED_DATA / "speech"
CORPORA = ("ravdess", "nemo", "emovo")
#: corpus label -> RAVDESS-order class name (the 8-class training target)
TO_8 = {"fear": "fearful", "surprise": "surprised", "disgusted": "disgust"}


def load_table(name: str) -> pd.DataFrame:
    """``labels.csv`` of one corpus with ``corpus``, ``speaker``, ``y8`` and ``y7`` columns."""
    t = pd.read_csv(SPEECH / name / "labels.csv")
    t["corpus"] = name
    if "speaker" not in t:
        t["speaker"] = [f"{name}_{a}" for a in t["actor"]]
    names = [str(e).strip().lower() for e in t["emotion"]]
    t["y8"] = [RAVDESS_CLASSES.index(TO_8.get(e, e)) for e in names]
    t["y7"] = [EMOTIONS.index(to_canonical(e)) for e in names]
    return t


def balanced_weights(table: pd.DataFrame) -> np.ndarray:
    """Sample weights that give every corpus the same total and, inside it, every class the same
    share (nEMO's 4,481 clips would otherwise outvote EMOVO's 588); mean weight 1."""
    key = table["corpus"].astype(str) + "/" + table["y8"].astype(str)
    w = 1.0 / key.map(key.value_counts()).to_numpy(dtype=np.float64)
    n_classes = table.groupby("corpus")["y8"].nunique()
    w /= table["corpus"].map(n_classes).to_numpy(dtype=np.float64)
    return w * len(w) / w.sum()


def restricted_predictions(proba7: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Argmax over the canonical classes a test corpus has (``present``: class indices)."""
    mask = np.full(len(EMOTIONS), -np.inf)
    mask[present] = 0.0
    return np.argmax(np.log(np.clip(proba7, 1e-12, 1.0)) + mask, axis=1)


def corpus_metrics(proba7: np.ndarray, y7: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class recall and confusion on the classes the corpus has."""
    present = np.unique(y7)
    pred = restricted_predictions(proba7, present)
    classes = tuple(EMOTIONS[i] for i in present)
    m = classification_metrics([EMOTIONS[i] for i in y7], [EMOTIONS[i] for i in pred], classes)
    return {
        "n": int(len(y7)),
        "classes": list(classes),
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "recall": {c: m["per_class"][c]["recall"] for c in classes},
        "confusion": m["confusion"],
        "chance": float(np.bincount(y7).max() / len(y7)),
    }


def leave_one_corpus_out(x: np.ndarray, table: pd.DataFrame, fit) -> tuple[dict, np.ndarray]:
    """Train on the other corpora (``fit(rows) -> proba8(rows)``), test on each corpus in turn.

    Returns the per-corpus metrics (and their mean accuracy) and the out-of-corpus 7-class
    probabilities of every clip.
    """
    corpus = table["corpus"].to_numpy()
    y7 = table["y7"].to_numpy()
    proba7 = np.zeros((len(x), len(EMOTIONS)))
    out: dict = {}
    for name in CORPORA:
        test = np.flatnonzero(corpus == name)
        train = np.flatnonzero(corpus != name)
        proba7[test] = fold_to_canonical(fit(train)(test))
        out[name] = corpus_metrics(proba7[test], y7[test])
        print(f"  LOCO {name}: acc {out[name]['accuracy']:.3f} macro-F1 {out[name]['macro_f1']:.3f}", flush=True)
    out["mean_accuracy"] = float(np.mean([out[c]["accuracy"] for c in CORPORA]))
    return out, proba7
