"""Train the voice emotion model on three speech corpora, judged across corpora.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python -m training.voice [--baseline OLD.npz] [--out DIR]
    OMP_NUM_THREADS=1 .venv/bin/python -m training.voice --recalibrate   # steps 1, 2 and 4 only (below)

1. Features (:func:`multimodal_fer.voice.model.voice_features`: acoustic functionals and the
   Whisper-base encoder embedding) of every clip of RAVDESS, nEMO and EMOVO
   (:mod:`training.voice_corpora`), cached under ``.cache/voice/``.
2. **Leave-one-corpus-out** (the headline): train on two corpora, test on the third, on the
   classes it has. Training rows are weighted so that every corpus and, inside it, every class
   weighs the same (:func:`training.voice_corpora.balanced_weights`).
3. RAVDESS actor-independent 5-fold CV, 8 classes (actors ``k, k+5, k+10, k+15`` held out; the
   other corpora always in training).
4. Calibration: a temperature and a share of the uniform distribution
   (:func:`multimodal_fer.temperature.calibrate`) fitted on the 7-class out-of-corpus probabilities of step 2
   (ECE before / after, each corpus with a calibration fitted on the other two); stored in the artefact.
   ``--recalibrate`` refits only this on the artefact in ``--out`` (its classifier unchanged).
5. Robustness: each corpus's LOCO model on degraded copies of a fixed sample
   (:mod:`training.robustness`).
6. The final model is fitted on all three corpora and written with ``metrics.json``, the
   confusion matrices and ``MODEL_CARD.md`` to ``--out``; ``benchmarks/results/voice_loco.json``
   holds the cross-corpus table (with voice 0.2.0's numbers when ``--baseline`` names its artefact).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer.evaluation import classification_metrics as shared_metrics
from multimodal_fer.labels import AROUSAL, EMOTIONS, VALENCE, valence_arousal
from multimodal_fer.paths import REPO_DIR, VOICE_ARTEFACTS
from multimodal_fer.voice.model import (
    ARTEFACT_FILE,
    EMBED_NAMES,
    EMBED_VERSION,
    FEATURE_NAMES,
    FUNCTIONAL_NAMES,
    FUNCTIONAL_VERSION,
    RAVDESS_CLASSES,
    VoiceModel,
    _Head,
    clip_features,
    fold_to_canonical,
    speech_embedding,
)

CACHE_DIR = REPO_DIR / ".cache" / "voice"
N_FOLDS = 5
SEED = 0
#: Fixed hyper-parameters (a priori choices; see MODEL_CARD.md).
#: degraded copies of every training clip the model also learns from (chosen on leave-one-corpus-out means)
AUGMENT = ("narrow_8k", "level_-20db", "noise_10db", "reverb")
HYPER = {
    "lr_C": 0.01,  # inverse L2 strength of the LR (fixed a priori: voice 0.2.0's most chosen value)
    "mlp_hidden": 64,  # units of the one hidden layer
    "mlp_alpha": 1e-2,  # L2 of the MLP
    "mlp_members": 3,  # MLPs with different seeds, averaged
    "mlp_max_iter": 300,
    "lr_weight": 0.5,  # share of the LR in the LR/MLP average
}


def _limit_threads() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO_DIR / ".cache" / "numba"))


def _read_16k(path: Path) -> np.ndarray:
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32", always_2d=False)
    if y.ndim > 1:
        y = y.mean(axis=1)
    if sr != 16000:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=16000)
    return y


def _cached(data_dir: Path, labels: pd.DataFrame, version: str, names: tuple[str, ...],
            fn, what: str, verbose: bool) -> np.ndarray:
    key = hashlib.sha256((version + (data_dir / "labels.csv").read_text()).encode()
                         ).hexdigest()[:16]
    cache = CACHE_DIR / f"{what}-{key}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if tuple(str(s) for s in z["names"]) == names:
                return z["x"]
    rows = []
    t0 = time.perf_counter()
    for i, rel in enumerate(labels["path"]):
        rows.append(fn(_read_16k(data_dir / rel)))
        if verbose and (i + 1) % 100 == 0:
            print(f"  {what} {i + 1}/{len(labels)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    x = np.vstack(rows)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, names=np.array(names))
    return x


def load_features(data_dir: Path, labels: pd.DataFrame, *, verbose: bool = True) -> np.ndarray:
    """Model features (functionals, then embedding) of every clip, cached under ``.cache/voice``."""
    xf = _cached(data_dir, labels, FUNCTIONAL_VERSION, FUNCTIONAL_NAMES, clip_features,
                 "features", verbose)
    xe = _cached(data_dir, labels, EMBED_VERSION, EMBED_NAMES, speech_embedding,
                 "embedding", verbose)
    x = np.hstack([xf, xe])
    assert x.shape[1] == len(FEATURE_NAMES)
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


def fit_head(x: np.ndarray, y: np.ndarray, *, hyper: dict = HYPER, seed: int = SEED,
             sample_weight: np.ndarray | None = None) -> _Head:
    """Fit imputation, standardisation, logistic regression and the MLP members (8 classes;
    a class absent from ``y`` gets ~0 probability)."""
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
    lr.fit(z, y, sample_weight=sample_weight)
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
            mlp.fit(z, y, sample_weight=sample_weight)
        w2 = np.zeros((hyper["mlp_hidden"], n_classes))
        b2 = np.full(n_classes, -30.0)
        w2[:, mlp.classes_], b2[mlp.classes_] = mlp.coefs_[1], mlp.intercepts_[1]
        weights += [mlp.coefs_[0], mlp.intercepts_[0], w2, b2]
    return _Head(impute=impute, mean=mean, scale=scale, lr_coef=coef, lr_intercept=intercept,
                 mlp_weights=weights, lr_weight=hyper["lr_weight"])


def fitter(x: np.ndarray, table: pd.DataFrame, *, hyper: dict = HYPER, augmented: list[np.ndarray] = ()):
    """``fit(rows)`` -> a function ``proba8(rows)``: a balanced-weight head trained on ``rows`` (and on the
    same rows' degraded copies in ``augmented``, arrays aligned with ``x``, sharing the rows' weight)."""
    from training.voice_corpora import balanced_weights

    y = table["y8"].to_numpy()
    copies = [x, *augmented]

    def fit(train: np.ndarray):
        w = balanced_weights(table.iloc[train]) / len(copies)
        head = fit_head(np.vstack([c[train] for c in copies]), np.tile(y[train], len(copies)), hyper=hyper,
                        sample_weight=np.tile(w, len(copies)))
        fit.heads.append(head)
        return lambda rows: head.proba(x[rows])

    fit.heads = []  # type: ignore[attr-defined]
    return fit


def ravdess_actor_cv(x: np.ndarray, table: pd.DataFrame, fit) -> tuple[dict, np.ndarray]:
    """RAVDESS actor-independent 5-fold CV, the other corpora always in training: 8-class
    out-of-fold probabilities of the RAVDESS rows and :func:`evaluate`'s metrics."""
    rav = np.flatnonzero(table["corpus"].to_numpy() == "ravdess")
    others = np.flatnonzero(table["corpus"].to_numpy() != "ravdess")
    labels = table.iloc[rav].reset_index(drop=True)
    proba = np.zeros((len(rav), len(RAVDESS_CLASSES)))
    for test in actor_folds(labels["actor"].to_numpy()):
        train = np.r_[np.setdiff1d(rav, rav[test]), others]
        proba[test] = fit(train)(rav[test])
    return evaluate(proba, labels), proba


def _names(idx: np.ndarray, classes: tuple[str, ...]) -> list[str]:
    return [classes[i] for i in idx]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]
                           ) -> dict:
    """:func:`multimodal_fer.evaluation.classification_metrics` on class indices."""
    return shared_metrics(_names(y_true, classes), _names(y_pred, classes), classes)


def affect_metrics(proba7: np.ndarray, y7: np.ndarray) -> dict:
    """Valence / arousal estimated as the probability-weighted circumplex values
    (:func:`multimodal_fer.labels.valence_arousal`) against the values of the true class."""
    v_hat, a_hat = valence_arousal(proba7)
    out = {}
    for name, est, table in (("valence", v_hat, VALENCE), ("arousal", a_hat, AROUSAL)):
        ref = np.array([table[EMOTIONS[i]] for i in y7])
        r = float(np.corrcoef(est, ref)[0, 1]) if est.std() > 0 else float("nan")
        ccc = float(2 * np.cov(est, ref, bias=True)[0, 1]
                    / (est.var() + ref.var() + (est.mean() - ref.mean()) ** 2))
        out[name] = {"pearson_r": round(r, 4), "ccc": round(ccc, 4),
                     "mae": round(float(np.abs(est - ref).mean()), 4)}
    return out


def evaluate(proba8: np.ndarray, labels: pd.DataFrame) -> dict:
    """Metrics for the 8 RAVDESS classes, the 7 canonical classes, valence/arousal, per fold."""
    y8, y7 = labels["y8"].to_numpy(), labels["y7"].to_numpy()
    pred8 = proba8.argmax(axis=1)
    proba7 = fold_to_canonical(proba8)
    pred7 = proba7.argmax(axis=1)
    folds = actor_folds(labels["actor"].to_numpy())
    per_fold = [{"test_actors": sorted(int(a) for a in np.unique(labels["actor"].to_numpy()[t])),
                 "accuracy_8": float((pred8[t] == y8[t]).mean()),
                 "accuracy_7": float((pred7[t] == y7[t]).mean())} for t in folds]
    return {
        "classes_8": classification_metrics(y8, pred8, RAVDESS_CLASSES),
        "classes_7": classification_metrics(y7, pred7, EMOTIONS),
        "affect": affect_metrics(proba7, y7),
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
        cm = np.asarray(m["confusion"]["matrix"], dtype=float)[:, : len(classes)]
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


def load_corpora(*, verbose: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Features and label table of every clip of :data:`training.voice_corpora.CORPORA`."""
    from training.voice_corpora import CORPORA, SPEECH, load_table

    xs, tables = [], []
    for name in CORPORA:
        t = load_table(name)
        xs.append(load_features(SPEECH / name, t, verbose=verbose))
        tables.append(t)
    return np.vstack(xs), pd.concat(tables, ignore_index=True)


def baseline_loco(path: Path, x: np.ndarray, table: pd.DataFrame) -> dict:
    """A previous artefact (e.g. voice 0.2.0, trained on RAVDESS only) on nEMO and EMOVO, scored
    like the leave-one-corpus-out models (its RAVDESS number would be in-domain: left out)."""
    from training.voice_corpora import corpus_metrics

    old = VoiceModel.load(path)
    out: dict = {"version": old.version}
    for name in ("nemo", "emovo"):
        rows = np.flatnonzero(table["corpus"].to_numpy() == name)
        out[name] = corpus_metrics(old.proba_from_features(x[rows]), table["y7"].to_numpy()[rows])
    return out


def main(argv: list[str] | None = None) -> int:
    _limit_threads()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=VOICE_ARTEFACTS, help="artefact folder")
    parser.add_argument("--baseline", type=Path, help="a previous voice_model.npz to compare with (voice 0.2.0)")
    parser.add_argument("--no-robustness", action="store_true", help="skip the degraded-audio table")
    parser.add_argument("--recalibrate", action="store_true",
                        help="refit only the calibration of the artefact in --out (its classifier unchanged)")
    parser.add_argument("--augment", nargs="*", default=list(AUGMENT),
                        help=f"train also on degraded copies (training.audio_degrade conditions; default {' '.join(AUGMENT)})")
    args = parser.parse_args(argv)
    from training.voice_report import build_report, recalibrate

    t0 = time.perf_counter()
    x, table = load_corpora()
    print(f"{len(table)} clips: {table.groupby('corpus').size().to_dict()}", flush=True)
    from training.augment import augmented_features
    from training.voice_corpora import CORPORA

    augmented = []
    for cond in args.augment:
        print(f"features under {cond} (cached after the first run) ...", flush=True)
        augmented.append(np.vstack([augmented_features(n, cond, compute=True) for n in CORPORA]))
    if args.recalibrate:
        report = recalibrate(x, table, out=args.out, augmented=augmented, robustness=not args.no_robustness)
    else:
        report = build_report(x, table, out=args.out, baseline=args.baseline, robustness=not args.no_robustness,
                              augmented=augmented, augment=list(args.augment))
        report["train_seconds"] = time.perf_counter() - t0
    from training.voice_report import write_outputs

    write_outputs(report, args.out)
    print(f"wrote {args.out / ARTEFACT_FILE}, version {report['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
