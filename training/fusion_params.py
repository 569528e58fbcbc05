"""Where the fusion defaults and the streams' temperatures come from, recomputed.

    python -m training.fusion_params          # prints them next to the committed defaults
    python -m training.fusion_params --fit    # + refits the face / text calibration on cross-corpus predictions
                                              #   -> benchmarks/results/stream_calibration.json and
                                              #   docs/img/stream_calibration.png (reliability diagrams)
    python -m training.fusion_params --heldout [--face-cache DIR]   # + what dividing by the prior costs

- reliability: Cohen's κ of each model on corpora it **never saw** (a clinic's recordings are always
  out of domain, so a stream earns weight by how well it transfers, not by how well it does at home):
  face (0.3.0, 0.4.0) on SFEW + ExpW + AffectNet-48 (pooled), voice on its leave-one-corpus-out predictions
  over RAVDESS / nEMO / EMOVO, text (trained on MELD) on GoEmotions dev; the confusion matrices are
  in :data:`RELIABILITY_SOURCES`. κ is agreement beyond chance, so a model does not earn weight by
  guessing its majority class;
- calibration: ``--fit`` fits the face and text temperatures, and the face's smoothing
  (``multimodal_fer.temperature``), on those cross-corpus predictions and reports the expected
  calibration error before / after, each corpus (face) or half (text) with the calibration fitted on the
  others; the voice temperature and smoothing are fitted with the voice model (``python -m training.voice``);
- prior: the label distribution each model was trained on, from the labels in ``../shared/data``,
  as weighted by the model's training loss.

``tests/test_fusion.py`` checks that the defaults in :mod:`multimodal_fer.fusion` and
:mod:`multimodal_fer.temperature` are these numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS, N_EMOTIONS, to_canonical
from multimodal_fer.paths import REPO_DIR, SHARED_DATA, TEXT_ARTEFACTS, VOICE_ARTEFACTS

CALIBRATION_JSON = REPO_DIR / "benchmarks" / "results" / "stream_calibration.json"
CALIBRATION_PNG = REPO_DIR / "docs" / "img" / "stream_calibration.png"  # reliability diagrams of the fit
FACE_CROSS_CORPORA = ("sfew", "expw", "affectnet48")  # corpora face 0.3.0 and 0.4.0 never saw
FIT_COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python -m training.fusion_params --fit"

#: stream -> (JSON, path of the cross-corpus confusion matrix inside it, what the test is)
RELIABILITY_SOURCES = {
    "face": (CALIBRATION_JSON, ("face", "confusion"),
             "SFEW + ExpW + AffectNet-48 (never seen in training), 7 classes, faces with landmarks"),
    "voice": (VOICE_ARTEFACTS / "metrics.json", ("leave_one_corpus_out", "confusion_pooled"),
              "leave-one-corpus-out over RAVDESS / nEMO / EMOVO, pooled, classes of each test corpus"),
    "text": (TEXT_ARTEFACTS / "metrics.json", ("goemotions_dev_single_label", "confusion"),
             "GoEmotions dev (model trained on MELD only), 7 classes"),
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
        out[stream] = {"kappa": kappa, "accuracy": acc, "n": n, "test": what,
                       "source": f"{Path(path).relative_to(REPO_DIR)}: {'.'.join(keys)}"}
    return out


def _counts(labels) -> np.ndarray:
    canon = [to_canonical(str(x)) for x in labels]
    return np.array([sum(c == e for c in canon) for e in EMOTIONS], dtype=np.float64)


def _balanced_voice_prior() -> np.ndarray:
    """Canonical label distribution of the voice training rows as weighted by
    :func:`training.voice_corpora.balanced_weights` (calm counts as neutral)."""
    from training.voice_corpora import CORPORA, balanced_weights, load_table

    table = pd.concat([load_table(n) for n in CORPORA], ignore_index=True)
    return np.bincount(table["y7"], weights=balanced_weights(table), minlength=N_EMOTIONS)


def training_priors(data: Path = SHARED_DATA) -> dict[str, np.ndarray]:
    """Label distribution each model was trained on (see the FusionOptions comments)."""
    from multimodal_fer.paths import FACE_ARTEFACTS
    from training.face import subject_split
    from training.text import selection_sets

    face_report = json.loads((FACE_ARTEFACTS / "metrics.json").read_text()).get("recipe_report", {})
    if "meta_full_prior" in face_report:  # a multi-corpus model: the class weights its meta-model was fitted with
        face = np.asarray(face_report["meta_full_prior"], dtype=np.float64)
    else:
        fer = pd.read_csv(data / "faces" / "fer2013" / "labels.csv")
        face = _counts(fer.loc[fer["usage"] == "Training", "label"])
        for name in ("ckplus48", "muxspace"):  # training subjects only, split as face.train does
            t = pd.read_csv(data / "faces" / name / "labels.csv")
            t = t[t["label"].map(to_canonical).notna()].reset_index(drop=True)
            train, _ = subject_split(t)
            face += _counts(t.loc[train, "label"])
    voice = _balanced_voice_prior()  # the voice model's training weights (corpus- and class-balanced)
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
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.fusion import FusionOptions
    from multimodal_fer.text.emotion import TextEmotionModel
    from training import face as face_train
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
    # the models' rows are calibrated, so the prior they are divided by is too (as the fusion does it)
    for stream, p, y, prior in (("face", face_p, face_y, o.output_prior("face")),
                                ("text", text_p, text_y, o.output_prior("text"))):
        row = {"n": int(len(y)), "label_share": (np.bincount(y, minlength=N_EMOTIONS) / len(y)).round(3).tolist(),
               "mean_output": p.mean(axis=0).round(3).tolist()}
        for name, q in (("argmax_p", p), ("argmax_p_over_prior", p / np.asarray(prior))):
            pred = q.argmax(axis=1)
            m = classification_metrics([EMOTIONS[i] for i in y], [EMOTIONS[i] for i in pred], EMOTIONS)
            row[name] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                         "predicted_share": (np.bincount(pred, minlength=N_EMOTIONS) / len(pred)).round(3).tolist()}
        out[stream] = row
    return out


def face_cross_corpus(face_cache: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uncalibrated probabilities of the committed face model on :data:`FACE_CROSS_CORPORA` (faces with
    landmarks), their labels and corpus names.

    A model that never saw those corpora (0.3.0, 0.4.0) is run on them (features from the face training cache,
    minutes if absent). A multi-corpus model trained on them (its ``metrics.json`` names a ``loco``
    recipe) is represented by its leave-one-corpus-out predictions, each corpus predicted by the
    recipe fitted without it (``benchmarks/face_loco.py --recipes RECIPE`` writes them).
    """
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.paths import FACE_ARTEFACTS
    from training import face as face_train

    cache = Path(face_cache) if face_cache else face_train.CACHE_DIR
    recipe = json.loads((FACE_ARTEFACTS / "metrics.json").read_text()).get("loco", {}).get("recipe")
    if recipe is not None:
        from training.face_multicorpus import loco_proba_path

        path = loco_proba_path(recipe, cache)
        if not path.exists():
            raise SystemExit(f"{path} is missing: run `benchmarks/face_loco.py --recipes {recipe}` first")
        z = np.load(path)
        return z["proba"], z["y"], z["corpus"]
    model = FaceModel.load()
    ps, ys, gs = [], [], []
    for name, x, crops, y in face_cross_corpus_inputs(cache):
        ps.append(model.predict_proba(x, crops, calibrated=False))
        ys.append(y)
        gs.append(np.full(len(y), name))
    return np.vstack(ps), np.concatenate(ys), np.concatenate(gs)


def face_cross_corpus_inputs(face_cache: Path | None = None) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """``(corpus, features, crops, labels)`` of the faces with landmarks of each of :data:`FACE_CROSS_CORPORA`
    (from the face training cache; minutes per corpus when it is cold)."""
    from training import face as face_train

    cache = Path(face_cache) if face_cache else face_train.CACHE_DIR
    for name in FACE_CROSS_CORPORA:
        corpus = SHARED_DATA / "faces" / name
        table, x, found, _, _ = face_train.corpus_features(corpus, cache_dir=cache)
        crops = face_train.corpus_crops(corpus, cache_dir=cache)
        yield name, x[found], crops[found], table["y"].to_numpy()[found]


def text_cross_corpus() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uncalibrated probabilities of the committed text model on GoEmotions dev (single-label), labels,
    and two halves (even / odd rows) for an honest calibration error."""
    from multimodal_fer.text.emotion import TextEmotionModel
    from training.text import load_goemotions

    model = TextEmotionModel.load()
    model.temperature = 1.0
    dev = load_goemotions(SHARED_DATA, "dev")
    p = model.predict_proba(list(dev.texts))
    return p, np.asarray(dev.y), np.where(np.arange(len(p)) % 2 == 0, "even", "odd")


def _confusion(p: np.ndarray, y: np.ndarray) -> dict:
    m = np.zeros((N_EMOTIONS, N_EMOTIONS), dtype=int)
    np.add.at(m, (y, p.argmax(axis=1)), 1)
    return {"labels": list(EMOTIONS), "matrix": m.tolist()}


def fit_stream_calibration(face_cache: Path | None = None) -> dict:
    """Cross-corpus confusion, calibration (face: temperature and smoothing; text: temperature) and ECE
    before / after of the face and text models."""
    from training.calibration import leave_one_group_out_ece

    out: dict = {"command": FIT_COMMAND}
    for stream, (p, y, groups) in (("face", face_cross_corpus(face_cache)), ("text", text_cross_corpus())):
        calibration = leave_one_group_out_ece(p, y, groups, smoothing=stream == "face")
        out[stream] = {"n": int(len(y)), "accuracy": float((p.argmax(axis=1) == y).mean()),
                       "confusion": _confusion(p, y), **calibration}
    voice = json.loads((VOICE_ARTEFACTS / "metrics.json").read_text())
    calibration = voice["leave_one_corpus_out_ece"]
    out["voice"] = {"from": "voice/artefacts/metrics.json: leave_one_corpus_out_ece (fitted with the model)",
                    "n": sum(r["n"] for r in calibration["per_group"].values()), **calibration}
    return out


def plot_reliability(cal: dict, path: Path = CALIBRATION_PNG) -> None:
    """Reliability diagrams of the streams whose held-out bins ``cal`` holds (face, text): accuracy against
    confidence of the top label, before and after the calibration fitted on the other corpora / halves."""
    import os

    os.environ.setdefault("MPLCONFIGDIR", str(REPO_DIR / ".cache" / "matplotlib"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    streams = [s for s in ("face", "voice", "text") if "reliability" in cal.get(s, {})]
    fig, axes = plt.subplots(1, len(streams), figsize=(4.2 * len(streams), 4.2), squeeze=False)
    for ax, s in zip(axes[0], streams):
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
        for key, colour in (("before", "tab:red"), ("after", "tab:blue")):
            b = cal[s]["reliability"][key]
            ece = cal[s]["ece_before_mean" if key == "before" else "ece_after_loo_mean"]
            ax.plot([r["confidence"] for r in b], [r["accuracy"] for r in b], "-o", color=colour, ms=3,
                    label=f"{key} (ECE {ece:.3f})")
            ax.scatter([r["confidence"] for r in b], [r["accuracy"] for r in b],
                       s=[6 + 300 * r["n"] / cal[s]["n"] for r in b], color=colour, alpha=0.25)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence of the top label", ylabel="accuracy",
               title=f"{s}: held out in turn (n={cal[s]['n']:,})")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("Cross-corpus calibration (python -m training.fusion_params --fit)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_calibration() -> None:
    """Each stream's calibration and ECE (mean over held-out corpora / halves) from the committed JSONs."""
    from multimodal_fer.temperature import SMOOTHING_FACE, TEMPERATURE_FACE, TEMPERATURE_TEXT
    from multimodal_fer.voice.model import VoiceModel

    cal = json.loads(CALIBRATION_JSON.read_text())
    voice = VoiceModel.load()
    used = {"face": (TEMPERATURE_FACE, SMOOTHING_FACE), "text": (TEMPERATURE_TEXT, 0.0),
            "voice": (voice.temperature, voice.smoothing)}
    print("temperature (cross-corpus) — fitted / in use;  ECE before -> after (held out in turn):")
    for s in ("face", "voice", "text"):
        c = cal[s]
        smooth = f", smoothing {c['smoothing']:.2f} / {used[s][1]:.2f}" if "smoothing" in c else ""
        print(f"  {s:<6}{c['temperature']:.2f} / {used[s][0]:.2f}{smooth};  ECE {c['ece_before_mean']:.3f} -> "
              f"{c['ece_after_loo_mean']:.3f}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    from multimodal_fer.fusion import FusionOptions

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", action="store_true", help="refit the face / text calibration (.json + .png)")
    ap.add_argument("--heldout", action="store_true", help="also run heldout_prior_check (loads the face and text models)")
    ap.add_argument("--face-cache", type=Path, default=None, help="face training cache (default .cache/face)")
    args = ap.parse_args(argv)
    o = FusionOptions()
    if args.fit:
        cal = fit_stream_calibration(args.face_cache)
        CALIBRATION_JSON.write_text(json.dumps(cal, indent=2) + "\n")
        plot_reliability(cal)
        print(f"wrote {CALIBRATION_JSON.relative_to(REPO_DIR)}, {CALIBRATION_PNG.relative_to(REPO_DIR)}")
    print_calibration()
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
