"""Where the fusion defaults come from: each stream's reliability and training prior, recomputed.

    python -m multimodal_fer.fusion_params        # prints them next to the FusionOptions defaults

- reliability: Cohen's κ from the held-out confusion matrix in each model's committed
  ``metrics.json`` (:data:`RELIABILITY_SOURCES`): agreement beyond chance, so a model does not
  earn weight by guessing its majority class (the text model's MELD accuracy 0.59 is against a
  majority-class baseline of 0.42);
- prior: the label distribution each model was trained on, from the labels in ``../shared/data``,
  as weighted by the model's training loss (only the text model uses class weights).

``tests/test_fusion.py`` checks that the defaults in :mod:`multimodal_fer.fusion` are these numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS, N_EMOTIONS, to_canonical
from multimodal_fer.paths import FACE_ARTEFACTS, SHARED_DATA, TEXT_ARTEFACTS, VOICE_ARTEFACTS

#: stream -> (metrics.json, path of the held-out confusion matrix inside it, what the test is)
RELIABILITY_SOURCES = {
    "face": (FACE_ARTEFACTS / "metrics.json", ("test", "fer2013_publictest", "7class", "confusion"),
             "FER2013 PublicTest, 7 classes, faces found"),
    "voice": (VOICE_ARTEFACTS / "metrics.json", ("cv", "global", "classes_7", "confusion"),
              "RAVDESS, 5-fold actor-independent cross-validation, 7 classes"),
    "text": (TEXT_ARTEFACTS / "metrics.json", ("meld_dev", "confusion"), "MELD dev, 7 classes"),
}


def cohen_kappa(matrix) -> tuple[float, float, int]:
    """(κ, accuracy, n) of a confusion matrix (rows true, columns predicted; extra columns such as
    ``(none)`` — no face found — are dropped: fusion only sees rows the model scored)."""
    m = np.asarray(matrix, dtype=np.float64)[:N_EMOTIONS, :N_EMOTIONS]
    n = m.sum()
    observed = np.trace(m) / n
    expected = float((m.sum(axis=0) * m.sum(axis=1)).sum() / n**2)
    return float((observed - expected) / (1.0 - expected)), float(observed), int(n)


def reliabilities() -> dict[str, dict]:
    """Per stream: κ, accuracy and n of its held-out test (from the committed metrics)."""
    out = {}
    for stream, (path, keys, what) in RELIABILITY_SOURCES.items():
        node = json.loads(Path(path).read_text())
        for k in keys:
            node = node[k]
        labels = list(node["labels"][:N_EMOTIONS])
        if labels != list(EMOTIONS):
            raise ValueError(f"{path}: confusion labels {labels} are not in EMOTIONS order")
        kappa, acc, n = cohen_kappa(node["matrix"])
        out[stream] = {"kappa": kappa, "accuracy": acc, "n": n, "test": what, "source": f"{Path(path).parent.parent.name}/"
                       f"artefacts/{Path(path).name}: {'.'.join(keys)}"}
    return out


def _counts(labels) -> np.ndarray:
    canon = [to_canonical(str(x)) for x in labels]
    return np.array([sum(c == e for c in canon) for e in EMOTIONS], dtype=np.float64)


def training_priors(data: Path = SHARED_DATA) -> dict[str, np.ndarray]:
    """Label distribution each model was trained on (see the FusionOptions comments)."""
    from multimodal_fer.face.train import subject_split
    from multimodal_fer.text.train import selection_sets

    fer = pd.read_csv(data / "faces" / "fer2013" / "labels.csv")
    face = _counts(fer.loc[fer["usage"] == "Training", "label"])
    for name in ("ckplus48", "muxspace"):  # training subjects only, split as face.train does
        t = pd.read_csv(data / "faces" / name / "labels.csv")
        t = t[t["label"].map(to_canonical).notna()].reset_index(drop=True)
        train, _ = subject_split(t)
        face += _counts(t.loc[train, "label"])
    voice = _counts(pd.read_csv(data / "speech" / "ravdess" / "labels.csv")["emotion"])  # calm -> neutral
    sets, _ = selection_sets(data, ("meld",))  # the fine-tuned text model: MELD-train fit split only
    text = np.bincount(sets[0].y, minlength=N_EMOTIONS).astype(np.float64)
    text = np.sqrt(text)  # fine-tuning loss weights 1/sqrt(count): effective prior ∝ count/sqrt(count)
    return {"face": face / face.sum(), "voice": voice / voice.sum(), "text": text / text.sum()}


def main() -> int:
    from multimodal_fer.fusion import FusionOptions

    o = FusionOptions()
    print("reliability (Cohen's kappa on held-out data) — recomputed / FusionOptions default:")
    for s, r in reliabilities().items():
        print(f"  {s:<6}{r['kappa']:.3f} / {getattr(o, 'reliability_' + s):.3f}   accuracy {r['accuracy']:.3f}, "
              f"n={r['n']}, {r['test']} ({r['source']})")
    print("training priors (" + ", ".join(EMOTIONS) + ") — recomputed / default:")
    for s, p in training_priors().items():
        print(f"  {s:<6}{np.round(p, 4).tolist()}\n  {'':<6}{list(getattr(o, 'prior_' + s))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
