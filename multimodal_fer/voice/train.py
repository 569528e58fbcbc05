"""Train the voice emotion model on RAVDESS with an actor-independent evaluation.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python -m multimodal_fer.voice.train [--data DIR] [--out DIR]

1. Features (:func:`multimodal_fer.voice.model.clip_features`) of every clip, cached under
   ``.cache/voice/`` (keyed by the feature version and ``labels.csv``).
2. 5-fold cross-validation grouped by actor (folds fixed: actors ``k, k+5, k+10, k+15``, so
   every test fold has both sexes and no test actor is ever seen in training). Hyper-parameters
   are fixed in :data:`HYPER` (chosen a priori, not tuned on the test folds).
3. The final model is fitted on all actors and written with ``metrics.json``, the confusion
   matrices and ``MODEL_CARD.md`` to ``--out`` (default: ``multimodal_fer/voice/artefacts``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS, to_canonical
from multimodal_fer.paths import REPO_DIR, SHARED_DATA, VOICE_ARTEFACTS
from multimodal_fer.voice.model import (
    ARTEFACT_FILE, FEATURE_NAMES, FEATURE_VERSION, RAVDESS_CLASSES, VoiceModel, _Head,
    clip_features, fold_to_canonical, speaker_normalise,
)

DEFAULT_DATA = SHARED_DATA / "speech" / "ravdess"
CACHE_DIR = REPO_DIR / ".cache" / "voice"
N_FOLDS = 5
SEED = 0
#: Fixed hyper-parameters (a priori choices; see MODEL_CARD.md).
HYPER = {
    "lr_C": 0.05,  # inverse L2 strength of the multinomial logistic regression
    "mlp_hidden": 64,  # units of the one hidden layer
    "mlp_alpha": 1e-2,  # L2 of the MLP
    "mlp_members": 5,  # MLPs with different seeds, averaged
    "mlp_max_iter": 300,
    "lr_weight": 0.5,  # share of the LR in the LR/MLP average
}


def _limit_threads() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO_DIR / ".cache" / "numba"))


def load_labels(data_dir: Path) -> pd.DataFrame:
    """``labels.csv`` with ``y8`` (index into RAVDESS_CLASSES) and ``y7`` (canonical index)."""
    labels = pd.read_csv(data_dir / "labels.csv")
    labels["y8"] = [RAVDESS_CLASSES.index(str(e).strip().lower()) for e in labels["emotion"]]
    labels["y7"] = [EMOTIONS.index(to_canonical(e)) for e in labels["emotion"]]
    return labels


def load_features(data_dir: Path, labels: pd.DataFrame, *, verbose: bool = True) -> np.ndarray:
    """Features of every clip in ``labels`` (cached under ``.cache/voice``)."""
    import soundfile as sf

    key = hashlib.sha256((FEATURE_VERSION + (data_dir / "labels.csv").read_text()).encode()
                         ).hexdigest()[:16]
    cache = CACHE_DIR / f"features-{key}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if tuple(str(s) for s in z["names"]) == FEATURE_NAMES:
                return z["x"]
    rows = []
    t0 = time.perf_counter()
    for i, rel in enumerate(labels["path"]):
        y, sr = sf.read(data_dir / rel, dtype="float32", always_2d=False)
        if y.ndim > 1:
            y = y.mean(axis=1)
        if sr != 16000:
            import librosa

            y = librosa.resample(y, orig_sr=sr, target_sr=16000)
        rows.append(clip_features(y))
        if verbose and (i + 1) % 100 == 0:
            print(f"  features {i + 1}/{len(labels)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    x = np.vstack(rows)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, names=np.array(FEATURE_NAMES))
    return x


def actor_folds(actors: np.ndarray, *, n_folds: int = N_FOLDS) -> list[np.ndarray]:
    """Fold index per actor: sorted actor ids are dealt round-robin (1, 6, 11, 16 -> fold 0).

    RAVDESS actors alternate male (odd) / female (even), so with 5 folds each fold holds two
    male and two female actors.
    """
    ids = np.unique(actors)
    fold_of = {a: i % n_folds for i, a in enumerate(ids)}
    f = np.array([fold_of[a] for a in actors])
    return [np.flatnonzero(f == k) for k in range(n_folds)]


def per_speaker(x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Apply :func:`speaker_normalise` within each speaker's rows."""
    out = np.empty_like(x)
    for s in np.unique(speakers):
        idx = speakers == s
        out[idx] = speaker_normalise(x[idx])
    return out


def fit_head(x: np.ndarray, y: np.ndarray, *, hyper: dict = HYPER, seed: int = SEED) -> _Head:
    """Fit imputation, standardisation, logistic regression and the MLP members."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    impute = np.nanmedian(x, axis=0)
    impute = np.where(np.isfinite(impute), impute, 0.0)
    x = np.where(np.isfinite(x), x, impute[None, :])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.clip((x - mean) / scale, -10.0, 10.0)
    n_classes = len(RAVDESS_CLASSES)
    lr = LogisticRegression(C=hyper["lr_C"], max_iter=5000)
    lr.fit(z, y)
    coef = np.zeros((n_classes, x.shape[1]))
    intercept = np.full(n_classes, -30.0)  # classes absent from training get ~0 probability
    coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
    weights: list[np.ndarray] = []
    for m in range(hyper["mlp_members"]):
        mlp = MLPClassifier(hidden_layer_sizes=(hyper["mlp_hidden"],), alpha=hyper["mlp_alpha"],
                            max_iter=hyper["mlp_max_iter"], random_state=seed + m,
                            early_stopping=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp.fit(z, y)
        w2 = np.zeros((hyper["mlp_hidden"], n_classes))
        b2 = np.full(n_classes, -30.0)
        w2[:, mlp.classes_], b2[mlp.classes_] = mlp.coefs_[1], mlp.intercepts_[1]
        weights += [mlp.coefs_[0], mlp.intercepts_[0], w2, b2]
    return _Head(impute=impute, mean=mean, scale=scale, lr_coef=coef, lr_intercept=intercept,
                 mlp_weights=weights, lr_weight=hyper["lr_weight"])


def cross_validate(x: np.ndarray, labels: pd.DataFrame, *, speaker_norm: bool,
                   hyper: dict = HYPER) -> np.ndarray:
    """Out-of-fold 8-class probabilities, shape (N, 8), actor-independent."""
    actors = labels["actor"].to_numpy()
    y = labels["y8"].to_numpy()
    xx = per_speaker(x, actors) if speaker_norm else x
    proba = np.zeros((len(x), len(RAVDESS_CLASSES)))
    for test in actor_folds(actors):
        train = np.setdiff1d(np.arange(len(x)), test)
        assert not set(actors[train]) & set(actors[test])
        proba[test] = fit_head(xx[train], y[train], hyper=hyper).proba(xx[test])
    return proba


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]
                           ) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support, confusion matrix."""
    from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                                 precision_recall_fscore_support)

    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted",
                                      zero_division=0)),
        "n": int(len(y_true)),
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                          "support": int(s[i])} for i, c in enumerate(classes)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def evaluate(proba8: np.ndarray, labels: pd.DataFrame) -> dict:
    """Metrics for the 8 RAVDESS classes, the 7 canonical classes and per fold."""
    y8, y7 = labels["y8"].to_numpy(), labels["y7"].to_numpy()
    pred8 = proba8.argmax(axis=1)
    pred7 = fold_to_canonical(proba8).argmax(axis=1)
    folds = actor_folds(labels["actor"].to_numpy())
    per_fold = [{"test_actors": sorted(int(a) for a in np.unique(labels["actor"].to_numpy()[t])),
                 "accuracy_8": float((pred8[t] == y8[t]).mean()),
                 "accuracy_7": float((pred7[t] == y7[t]).mean())} for t in folds]
    present7 = tuple(e for e in EMOTIONS)
    return {
        "classes_8": classification_metrics(y8, pred8, RAVDESS_CLASSES),
        "classes_7": classification_metrics(y7, pred7, present7),
        "folds": per_fold,
        "accuracy_8_fold_std": float(np.std([f["accuracy_8"] for f in per_fold])),
    }


def plot_confusion(metrics8: dict, metrics7: dict, path: Path, *, title: str) -> None:
    """Row-normalised confusion matrices (8 and 7 classes) side by side as a PNG."""
    os.environ.setdefault("MPLCONFIGDIR", str(REPO_DIR / ".cache" / "matplotlib"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    for ax, m, classes in ((axes[0], metrics8, RAVDESS_CLASSES), (axes[1], metrics7, EMOTIONS)):
        cm = np.asarray(m["confusion"], dtype=float)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{len(classes)} classes: acc {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _table(metrics: dict, classes: tuple[str, ...]) -> str:
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for c in classes:
        m = metrics["per_class"][c]
        lines.append(f"| {c} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                     f"{m['support']} |")
    return "\n".join(lines)


def write_model_card(path: Path, report: dict) -> None:
    """MODEL_CARD.md from the metrics report."""
    g, s = report["cv"]["global"], report["cv"]["speaker_norm"]

    def row(name: str, m: dict) -> str:
        return (f"| {name} | {m['classes_8']['accuracy']:.3f} ± {m['accuracy_8_fold_std']:.3f} | "
                f"{m['classes_8']['macro_f1']:.3f} | {m['classes_8']['weighted_f1']:.3f} | "
                f"{m['classes_7']['accuracy']:.3f} | {m['classes_7']['macro_f1']:.3f} | "
                f"{m['classes_7']['weighted_f1']:.3f} |")

    folds = "\n".join(
        f"| {i} | {', '.join(map(str, fg['test_actors']))} | {fg['accuracy_8']:.3f} | "
        f"{fs['accuracy_8']:.3f} |" for i, (fg, fs) in enumerate(zip(g["folds"], s["folds"])))
    text = f"""# Model card: voice emotion (`{report['version']}`)

**What it measures:** the emotion a voice *expresses* (acoustic cues: pitch, loudness, timbre,
voice quality, timing), from one utterance of 16 kHz mono audio. It does not use the words and
it does not measure what a person feels. Intended use: an aggregate, reviewable signal in
telehealth batch analytics (`multimodal-fer`), alongside face and text, read by clinicians who
know its limits. Not for diagnosis, not for decisions about an individual on its own, not for
deception or lie detection.

## Output
`VoiceModel.predict_proba(clips)` -> (N, 7) probabilities over `labels.EMOTIONS`
({', '.join(EMOTIONS)}). The model is trained on RAVDESS's 8 classes
(`predict_proba_8`, order {', '.join(RAVDESS_CLASSES)}); **calm is folded into neutral**
(summed probabilities, the project's canonical mapping in `multimodal_fer/labels.py`).
The artefact carries two heads: `global` (default; features standardised with training
statistics) and `speaker` (features z-scored per speaker first; used with
`predict_proba(clips, speaker_norm=True)` when at least {report['min_speaker_clips']} clips of
one speaker are passed together, e.g. a patient's speech segments of one session).

## Data
RAVDESS speech (Livingstone & Russo 2018), actors 1–20 as provided in
`../shared/data/speech/ravdess` ({report['data']['n_clips']} clips, 16 kHz mono, two fixed sentences, acted, North
American English, normal and strong intensity; neutral has no strong intensity, so it has half
the clips of the other classes). **Licence: CC BY-NC-SA 4.0: non-commercial use only**;
derived models inherit the non-commercial restriction. No audio is stored in this repository.

## Features and model
{len(FEATURE_NAMES)} utterance-level functionals per clip (`clip_features`, feature version
`{FEATURE_VERSION}`): clip cropped to its VAD speech (silero), then 20 MFCC mean/std and
delta std, 40 log-mel band mean/std, spectral centroid/bandwidth/roll-off/flatness/ZCR mean/std,
spectral contrast, F0 statistics in semitones (YIN track: mean, std, median, p10, p90, range,
slope, mean |delta|), energy statistics (mean, std, max, p10, p90, slope, mean |delta|), voiced
ratio, mean voicing confidence, frame-level jitter and shimmer approximations, spectral tilt,
alpha ratio, Hammarberg index, speech duration, pause ratio, mean voiced-run length.
Classifier: median imputation, standardisation, then the average of a multinomial logistic
regression (C = {report['hyper']['lr_C']}) and {report['hyper']['mlp_members']} one-hidden-layer
MLPs ({report['hyper']['mlp_hidden']} ReLU units, L2 {report['hyper']['mlp_alpha']}), stored as
plain numpy arrays (`{ARTEFACT_FILE}`, {report['artefact_bytes'] / 1e6:.2f} MB, no pickle).
Hyper-parameters were fixed before evaluation and not tuned on the test folds. After the
evaluation, two alternatives were checked once on the same folds for information only
(logistic regression alone: 0.568 / 0.684; SVM-RBF C=10: 0.572 / 0.690, global / per-speaker
8-class accuracy); the a-priori ensemble was kept unchanged.

## Evaluation: actor-independent 5-fold cross-validation
Folds group actors (fold k tests actors k+1, k+6, k+11, k+16: two men, two women); no test
actor is ever in training. Numbers are out-of-fold over all {report['data']['n_clips']} clips;
± is the standard deviation of fold accuracy. Chance (majority class) is
{report['data']['majority_8']:.3f} (8 classes) and {report['data']['majority_7']:.3f} (7).

| setting | acc 8 | macro-F1 8 | weighted-F1 8 | acc 7 | macro-F1 7 | weighted-F1 7 |
|---|---|---|---|---|---|---|
{row('global (default, single clips)', g)}
{row('per-speaker normalisation', s)}

The project's target of 60 % actor-independent 8-class accuracy is
{'met' if g['classes_8']['accuracy'] >= 0.6 else 'NOT met'} by the default (global) head and
{'met' if s['classes_8']['accuracy'] >= 0.6 else 'NOT met'} with per-speaker normalisation.

Per-speaker normalisation here uses each test actor's 60 clips, which cover all emotions in
balance; a real session is usually dominated by neutral speech, so the benefit in practice is
smaller than this table suggests and the statistics shift with the session's emotional mix.

### Per fold (8-class accuracy)
| fold | test actors | global | per-speaker |
|---|---|---|---|
{folds}

### Per class, global head, 8 classes
{_table(g['classes_8'], RAVDESS_CLASSES)}

### Per class, global head, 7 canonical classes
{_table(g['classes_7'], EMOTIONS)}

### Per class, per-speaker normalisation, 8 classes
{_table(s['classes_8'], RAVDESS_CLASSES)}

Confusion matrices: `confusion_global.png`, `confusion_speaker_norm.png`; all numbers:
`metrics.json`.

## Limits
Acted, exaggerated emotion by 20 young North American actors reading two sentences, recorded
in a studio: telehealth speech (spontaneous, mostly neutral, compressed audio, older and
ill speakers, other accents and languages) will score markedly lower; treat the numbers above
as an upper bound. Jitter and shimmer are frame-level approximations, not Praat's cycle-level
measures. The model has not been evaluated for bias across age, accent, or pathology of voice.

## Reproduce
```
{report['command']}
```
Training environment: Python {report['env']['python']}, numpy {report['env']['numpy']},
scikit-learn {report['env']['sklearn']}, librosa {report['env']['librosa']}; training took
{report['train_seconds']:.0f} s on one core (features cached in `.cache/voice/`).
"""
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    _limit_threads()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="RAVDESS folder")
    parser.add_argument("--out", type=Path, default=VOICE_ARTEFACTS, help="artefact folder")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    import librosa
    import sklearn

    labels = load_labels(args.data)
    print(f"{len(labels)} clips, {labels['actor'].nunique()} actors", flush=True)
    x = load_features(args.data, labels)
    cv = {}
    for name, norm in (("global", False), ("speaker_norm", True)):
        proba = cross_validate(x, labels, speaker_norm=norm)
        cv[name] = evaluate(proba, labels)
        m8, m7 = cv[name]["classes_8"], cv[name]["classes_7"]
        print(f"{name}: acc8 {m8['accuracy']:.3f} macroF1_8 {m8['macro_f1']:.3f} "
              f"acc7 {m7['accuracy']:.3f} macroF1_7 {m7['macro_f1']:.3f}", flush=True)
    y = labels["y8"].to_numpy()
    actors = labels["actor"].to_numpy()
    heads = {"global": fit_head(x, y), "speaker": fit_head(per_speaker(x, actors), y)}
    args.out.mkdir(parents=True, exist_ok=True)
    artefact = args.out / ARTEFACT_FILE
    VoiceModel(heads, version="unsaved").save(artefact)
    model = VoiceModel.load(artefact)
    # the saved model must reproduce the in-memory heads
    check = model.proba_from_features(x[:20])
    assert np.allclose(check, heads["global"].proba(x[:20]))
    from multimodal_fer.voice.model import MIN_SPEAKER_CLIPS

    counts8 = np.bincount(y, minlength=len(RAVDESS_CLASSES))
    counts7 = np.bincount(labels["y7"].to_numpy(), minlength=len(EMOTIONS))
    command = "OMP_NUM_THREADS=1 .venv/bin/python -m multimodal_fer.voice.train"
    if args.data != DEFAULT_DATA:
        command += f" --data {args.data}"
    if args.out != VOICE_ARTEFACTS:
        command += f" --out {args.out}"
    report = {
        "version": model.version,
        "task": "expressed emotion from voice (acoustic), RAVDESS speech",
        "evaluation": f"{N_FOLDS}-fold cross-validation grouped by actor (actor-independent); "
                      "out-of-fold predictions over all clips",
        "data": {"corpus": "RAVDESS speech, actors 1-20", "n_clips": int(len(labels)),
                 "n_actors": int(labels["actor"].nunique()),
                 "class_counts_8": dict(zip(RAVDESS_CLASSES, counts8.tolist())),
                 "majority_8": float(counts8.max() / counts8.sum()),
                 "majority_7": float(counts7.max() / counts7.sum()),
                 "licence": "CC BY-NC-SA 4.0 (non-commercial)"},
        "calm_folded_into": to_canonical("calm"),
        "hyper": HYPER,
        "feature_version": FEATURE_VERSION,
        "n_features": len(FEATURE_NAMES),
        "min_speaker_clips": MIN_SPEAKER_CLIPS,
        "cv": cv,
        "artefact": ARTEFACT_FILE,
        "artefact_bytes": artefact.stat().st_size,
        "command": command,
        "env": {"python": platform.python_version(), "numpy": np.__version__,
                "sklearn": sklearn.__version__, "librosa": librosa.__version__},
    }
    for name in cv:
        plot_confusion(cv[name]["classes_8"], cv[name]["classes_7"],
                       args.out / f"confusion_{name}.png",
                       title=f"voice, actor-independent 5-fold CV ({name})")
    report["train_seconds"] = time.perf_counter() - t0
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    write_model_card(args.out / "MODEL_CARD.md", report)
    print(f"wrote {artefact} ({report['artefact_bytes']} bytes), version {model.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
