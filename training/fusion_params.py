"""Where the fusion defaults come from: each stream's reliability and training prior, recomputed.

    python -m training.fusion_params        # prints them next to the FusionOptions defaults
    python -m training.fusion_params --heldout [--face-cache DIR]   # + what dividing by the prior costs

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
             "FER2013 PublicTest, 7 classes, every image scored (whole image where no landmarks)"),
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
    from training.face import subject_split
    from training.text import selection_sets

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


def heldout_prior_check(face_cache: Path | None = None) -> dict[str, dict]:
    """What the uniform ``prior_fused`` does to one stream alone, on that model's own held-out test
    (whose label mix is close to its training prior, so this is the worst case for the change):
    accuracy, macro-F1 and how often each emotion is predicted, by ``argmax p`` and by
    ``argmax p / prior`` (a window with the face alone and ``prior_fused`` uniform).

    face: FER2013 PublicTest through the committed face model, from the face training cache
    (``face_cache``, default ``.cache/face``: landmarks and crops are extracted when absent, minutes);
    text: MELD dev through the committed text model.
    """
    from multimodal_fer.evaluation import classification_metrics
    from training import face as face_train
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.fusion import FusionOptions
    from multimodal_fer.text.emotion import TextEmotionModel
    from training.text import load_meld

    o = FusionOptions()
    cache = Path(face_cache) if face_cache else face_train.CACHE_DIR
    corpus = SHARED_DATA / "faces" / "fer2013"
    table, x, found, _, _ = face_train.corpus_features(corpus, cache_dir=cache)
    crops = face_train.corpus_crops(corpus, cache_dir=cache)
    test = (table["usage"] == "PublicTest").to_numpy() & found
    face_p, face_y = FaceModel.load().predict_proba(x[test], crops[test]), table["y"].to_numpy()[test]
    dev = load_meld(SHARED_DATA, "dev")
    text_p, text_y = TextEmotionModel.load().predict_proba(list(dev.texts)), np.asarray(dev.y)
    out = {}
    for stream, p, y, prior in (("face", face_p, face_y, o.prior_face), ("text", text_p, text_y, o.prior_text)):
        row = {"n": int(len(y)), "label_share": (np.bincount(y, minlength=N_EMOTIONS) / len(y)).round(3).tolist(),
               "mean_output": p.mean(axis=0).round(3).tolist()}
        for name, q in (("argmax_p", p), ("argmax_p_over_prior", p / np.asarray(prior))):
            pred = q.argmax(axis=1)
            m = classification_metrics([EMOTIONS[i] for i in y], [EMOTIONS[i] for i in pred], EMOTIONS)
            row[name] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                         "predicted_share": (np.bincount(pred, minlength=N_EMOTIONS) / len(pred)).round(3).tolist()}
        out[stream] = row
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    from multimodal_fer.fusion import FusionOptions

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heldout", action="store_true", help="also run heldout_prior_check (loads the face and text models)")
    ap.add_argument("--face-cache", type=Path, default=None, help="face training cache (default .cache/face)")
    args = ap.parse_args(argv)
    o = FusionOptions()
    print("reliability (Cohen's kappa on held-out data) — recomputed / FusionOptions default:")
    for s, r in reliabilities().items():
        print(f"  {s:<6}{r['kappa']:.3f} / {getattr(o, 'reliability_' + s):.3f}   accuracy {r['accuracy']:.3f}, "
              f"n={r['n']}, {r['test']} ({r['source']})")
    print("training priors (" + ", ".join(EMOTIONS) + ") — recomputed / default:")
    for s, p in training_priors().items():
        print(f"  {s:<6}{np.round(p, 4).tolist()}\n  {'':<6}{list(getattr(o, 'prior_' + s))}")
    if args.heldout:
        print("one stream alone, argmax p  vs  argmax p / prior (uniform prior_fused), on its own held-out test:")
        for s, r in heldout_prior_check(args.face_cache).items():
            a, b = r["argmax_p"], r["argmax_p_over_prior"]
            print(f"  {s:<6}n={r['n']}  accuracy {a['accuracy']:.3f} -> {b['accuracy']:.3f}   macro-F1 {a['macro_f1']:.3f} -> "
                  f"{b['macro_f1']:.3f}\n  {'':<6}true share      {r['label_share']}\n  {'':<6}mean output     {r['mean_output']}"
                  f"\n  {'':<6}predicted share {a['predicted_share']} -> {b['predicted_share']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
