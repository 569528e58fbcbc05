"""Two cheap ideas for faces never seen (issue #14), measured leave-one-corpus-out, neither shipped.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_transfer_probes.py [--data DIR] \
        [--out benchmarks/results/face_transfer_probes.json]

Test sets: the faces with landmarks of SFEW, ExpW and AffectNet-48, which the committed face model never
saw; each is held out in turn and whatever is fitted is fitted without it (FER2013 PublicTest is not used).

1. **Class-bias correction fitted across corpora** (the issue names it): ``softmax(log p / T + b)`` with a
   share ``s`` of the uniform distribution mixed in, ``T``, ``s`` and the 7 biases ``b`` fitted by
   negative log-likelihood on the committed model's raw rows for the *other two* unseen corpora (each
   corpus weighing the same), plainly or class-balanced (each class weighing the same, which aims at the
   recall floor). It changes labels, unlike the shipped temperature and smoothing (shown beside it).
2. **A linear probe on a pretrained face network that ships in a wheel**: MediaPipe's
   ``face_landmark.tflite`` (the 468-point mesh model, trained on far more faces than any corpus here).
   Each face is cut out as MediaPipe does (the landmarks' box, ×1.5, square, rotated so the eyes are
   level, 192×192 RGB) and two of the network's inner tensors are read (``p_re_lu_17``, 3×3×128, and the
   spatial mean of ``p_re_lu_15``, 128: 1,280 values a face, ≈ 3.7 ms a face on one core). A
   logistic regression (standardised, C 0.05, fixed before the first run) is fitted on every training face
   of the other corpora (FER2013 Training, CK+48 / muxspace training subjects, the other two unseen
   corpora) and scored alone and log-pooled with the committed model (``w·log q + (1−w)·log p``).

The mesh features are cached in ``.cache/face`` (≈ 4 min a corpus the first time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from multimodal_fer.labels import EMOTIONS, N_EMOTIONS  # noqa: E402
from multimodal_fer.paths import REPO_DIR, SHARED_DATA  # noqa: E402

LOCO = ("sfew", "expw", "affectnet48")
COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_transfer_probes.py"
MESH_SIZE = 192  # px, the mesh model's input side
MESH_ROI_SCALE = 1.5  # MediaPipe's face ROI: the landmarks' box times this
MESH_TENSORS = ("p_re_lu_17", "p_re_lu_15")  # read whole (3x3x128) / as a spatial mean (6x6x128 -> 128)
PROBE_C = 0.05  # inverse L2 strength of the probe, fixed before the first run
POOL_WEIGHTS = (0.25, 0.5)  # weight of the probe in the log-pool with the committed model
_EPS = 1e-12


# --------------------------------------------------------------------------- class-bias correction
def bias_calibrate(proba: np.ndarray, *, temperature: float, bias: np.ndarray, smoothing: float) -> np.ndarray:
    """``(1 - s) softmax(log p / T + b) + s / K``.

    Parameters
    ----------
    proba : np.ndarray, shape (N, K)
    temperature : float, > 0
    bias : np.ndarray, shape (K,), nats
    smoothing : float in [0, 1)

    Returns
    -------
    np.ndarray, shape (N, K), rows sum to 1
    """
    z = np.log(np.clip(np.asarray(proba, np.float64), _EPS, 1.0)) / temperature + np.asarray(bias)
    z -= z.max(axis=1, keepdims=True)
    q = np.exp(z)
    q /= q.sum(axis=1, keepdims=True)
    return (1.0 - smoothing) * q + smoothing / q.shape[1]


def _unpack(theta: np.ndarray) -> tuple[float, np.ndarray, float]:
    return float(np.exp(theta[0])), np.r_[theta[2:], 0.0], float(1.0 / (1.0 + np.exp(-theta[1])))


def fit_bias_calibration(sets: list[tuple[np.ndarray, np.ndarray]], *, balanced: bool) -> dict:
    """Fit ``T``, ``s`` and ``b`` of :func:`bias_calibrate` by negative log-likelihood, each set (corpus)
    weighing the same; ``balanced``: within a set, each class weighing the same.

    Returns
    -------
    dict
        ``temperature``, ``smoothing``, ``bias`` (K nats, mean 0).
    """
    from scipy.optimize import minimize

    def loss(theta: np.ndarray) -> float:
        t, b, s = _unpack(theta)
        total = 0.0
        for p, y in sets:
            nll = -np.log(bias_calibrate(p, temperature=t, bias=b, smoothing=s)[np.arange(len(y)), y])
            w = 1.0 / np.bincount(y, minlength=p.shape[1])[y] if balanced else np.full(len(y), 1.0 / len(y))
            total += float((nll * w).sum() / w.sum())
        return total / len(sets)

    k = sets[0][0].shape[1]
    r = minimize(loss, np.zeros(k + 1), method="L-BFGS-B")
    t, b, s = _unpack(r.x)
    return {"temperature": round(t, 4), "smoothing": round(s, 4), "bias": np.round(b - b.mean(), 4).tolist()}


# --------------------------------------------------------------------------- face-mesh features
def mesh_roi(image: np.ndarray, points: np.ndarray, *, size: int = MESH_SIZE) -> np.ndarray:
    """The face as MediaPipe's mesh model takes it: the landmarks' box in the face's own frame (eyes
    level), scaled by :data:`MESH_ROI_SCALE`, square, resampled to ``size`` px.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8 RGB
    points : np.ndarray, shape (478, 3)
        Landmarks normalised to the image.

    Returns
    -------
    np.ndarray, shape (size, size, 3), uint8 (black outside the image)
    """
    import cv2

    h, w = image.shape[:2]
    xy = points[:, :2].astype(np.float64) * [w, h]
    d = xy[263] - xy[33]  # eye corners: the face's horizontal
    th = np.arctan2(d[1], d[0])
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    q = (xy - xy.mean(axis=0)) @ rot
    lo, hi = q.min(axis=0), q.max(axis=0)
    centre = xy.mean(axis=0) + rot @ ((lo + hi) / 2)
    side = MESH_ROI_SCALE * float((hi - lo).max())
    a = np.zeros((2, 3))
    a[:, :2] = rot * (side / size)
    a[:, 2] = centre - rot @ np.array([side / 2, side / 2])
    return cv2.warpAffine(image, a, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT)


def mesh_model_path() -> Path:
    import mediapipe

    return Path(mediapipe.__file__).parent / "modules" / "face_landmark" / "face_landmark.tflite"


class MeshFeatures:
    """Inner tensors of MediaPipe's mesh model for one face at a time (1,280 values: :data:`MESH_TENSORS`)."""

    def __init__(self) -> None:
        import warnings

        from ai_edge_litert.interpreter import Interpreter

        with warnings.catch_warnings():  # "intended for debugging": reading inner tensors is the point here
            warnings.simplefilter("ignore", UserWarning)
            self._it = Interpreter(model_path=str(mesh_model_path()), experimental_preserve_all_tensors=True,
                                   num_threads=1)
        self._it.allocate_tensors()
        self._input = self._it.get_input_details()[0]["index"]
        index = {t["name"]: t["index"] for t in self._it.get_tensor_details()}
        self._tensors = [index[name] for name in MESH_TENSORS]

    def __call__(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Features of the face at ``points`` in ``image`` (RGB uint8): shape (1280,), float32."""
        x = mesh_roi(image, points).astype(np.float32)[None] / 255.0
        self._it.set_tensor(self._input, x)
        self._it.invoke()
        whole = self._it.get_tensor(self._tensors[0])[0].reshape(-1)
        pooled = self._it.get_tensor(self._tensors[1])[0].mean(axis=(0, 1))
        return np.concatenate([whole, pooled]).astype(np.float32)


def corpus_mesh_features(corpus_dir: Path, table, points: np.ndarray, rows: np.ndarray,
                         cache_dir: Path) -> np.ndarray:
    """Mesh features of ``rows`` (bool mask over ``table``) of one corpus, cached; NaN elsewhere."""
    from PIL import Image

    key = hashlib.sha256(points.tobytes() + rows.tobytes() + Path(__file__).read_bytes()).hexdigest()[:12]
    cache = cache_dir / f"{corpus_dir.name}-mesh-{key}.npy"
    if cache.exists():
        return np.load(cache)
    extract = MeshFeatures()
    out = np.full((len(table), 1280), np.nan, dtype=np.float16)
    t0 = time.perf_counter()
    for n, i in enumerate(np.flatnonzero(rows)):
        with Image.open(corpus_dir / table["path"].iloc[i]) as img:
            out[i] = extract(np.asarray(img.convert("RGB")), points[i])
        if (n + 1) % 5000 == 0:
            print(f"  {corpus_dir.name}: mesh {n + 1}/{int(rows.sum())} "
                  f"({(time.perf_counter() - t0) / (n + 1) * 1000:.1f} ms a face)", flush=True)
    np.save(cache, out)
    return out


# --------------------------------------------------------------------------- scoring
def scores(proba: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class recall, the lowest recall and its class, ECE, predicted shares."""
    from multimodal_fer.temperature import expected_calibration_error

    pred = proba.argmax(axis=1)
    recall = np.array([(pred[y == k] == k).mean() for k in range(N_EMOTIONS)])
    precision = np.array([(y[pred == k] == k).mean() if (pred == k).any() else 0.0 for k in range(N_EMOTIONS)])
    f1 = np.where(recall + precision > 0, 2 * recall * precision / np.maximum(recall + precision, _EPS), 0.0)
    return {"accuracy": round(float((pred == y).mean()), 4), "macro_f1": round(float(f1.mean()), 4),
            "min_recall": round(float(recall.min()), 4), "min_recall_class": EMOTIONS[int(recall.argmin())],
            "recall": dict(zip(EMOTIONS, np.round(recall, 3).tolist())),
            "ece": round(expected_calibration_error(proba, y), 4),
            "predicted_share": dict(zip(EMOTIONS, np.round(np.bincount(pred, minlength=N_EMOTIONS) / len(y), 3)
                                        .tolist()))}


def class_bias_part(raw: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    from multimodal_fer.temperature import SMOOTHING_FACE, TEMPERATURE_FACE, calibrate

    out: dict = {}
    for held in LOCO:
        p, y = raw[held]
        others = [raw[c] for c in LOCO if c != held]
        row = {"plain": scores(p, y),
               "shipped_temperature_smoothing": scores(calibrate(p, temperature=TEMPERATURE_FACE,
                                                                 smoothing=SMOOTHING_FACE), y)}
        for name, balanced in (("bias_nll", False), ("bias_balanced_nll", True)):
            fit = fit_bias_calibration(others, balanced=balanced)
            row[name] = {**scores(bias_calibrate(p, temperature=fit["temperature"], bias=np.asarray(fit["bias"]),
                                                 smoothing=fit["smoothing"]), y), "fit": fit}
        out[held] = row
        print(held, {k: v["accuracy"] for k, v in row.items()}, flush=True)
    return out


def mesh_probe_part(d: dict, raw: dict[str, tuple[np.ndarray, np.ndarray]], data: Path) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from training import face as T

    feats, train_rows = {}, {}
    for name, (table, _, found, _, points) in d["corpora"].items():
        train_rows[name] = d["splits"][name][0] & found
        rows = found if name in LOCO else train_rows[name]
        feats[name] = corpus_mesh_features(data / name, table, points, rows, T.CACHE_DIR)
    out: dict = {}
    for held in LOCO:
        t0 = time.perf_counter()
        fit = [n for n in feats if n != held]
        x = np.vstack([feats[n][train_rows[n]] for n in fit]).astype(np.float32)
        y = np.concatenate([d["corpora"][n][0]["y"].to_numpy()[train_rows[n]] for n in fit])
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=PROBE_C, max_iter=300)).fit(x, y)
        table, _, found = d["corpora"][held][:3]
        q = probe.predict_proba(feats[held][found].astype(np.float32))
        p, y_held = raw[held]
        if not np.array_equal(y_held, table["y"].to_numpy()[found]):
            raise SystemExit(f"{held}: the committed model's rows and the mesh rows differ")
        row = {"training_faces": int(len(y)), "committed_model": scores(p, y_held), "probe": scores(q, y_held)}
        for w in POOL_WEIGHTS:
            pooled = np.exp(w * np.log(np.clip(q, _EPS, 1)) + (1 - w) * np.log(np.clip(p, _EPS, 1)))
            row[f"pool_{w}"] = scores(pooled / pooled.sum(axis=1, keepdims=True), y_held)
        out[held] = row
        print(held, f"{time.perf_counter() - t0:.0f}s", {k: v["accuracy"] for k, v in row.items()
                                                        if isinstance(v, dict)}, flush=True)
    return out


def _means(part: dict) -> dict:
    keys = [k for k, v in part[LOCO[0]].items() if isinstance(v, dict) and "accuracy" in v]
    return {k: {"accuracy": round(float(np.mean([part[c][k]["accuracy"] for c in LOCO])), 4),
                "macro_f1": round(float(np.mean([part[c][k]["macro_f1"] for c in LOCO])), 4),
                "min_recall": round(float(min(part[c][k]["min_recall"] for c in LOCO)), 4)} for k in keys}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "faces")
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "face_transfer_probes.json")
    args = ap.parse_args(argv)
    from multimodal_fer.face.model import FaceModel
    from training import face_multicorpus as MC

    t0 = time.perf_counter()
    d = MC.load_all(args.data, log=lambda *a: None)
    model = FaceModel.load()
    raw = {}
    for name in LOCO:
        table, x, found = d["corpora"][name][:3]
        raw[name] = (model.predict_proba(x[found], d["crops"][name][found], calibrated=False),
                     table["y"].to_numpy()[found])
    bias = class_bias_part(raw)
    probe = mesh_probe_part(d, raw, args.data)
    payload = {"class_bias": bias, "class_bias_mean": _means(bias), "mesh_probe": probe,
               "mesh_probe_mean": _means(probe), "face_model": model.version, "python": platform.python_version(),
               "command": COMMAND, "seconds": round(time.perf_counter() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print("class bias, mean of the three:", json.dumps(payload["class_bias_mean"]))
    print("mesh probe, mean of the three:", json.dumps(payload["mesh_probe_mean"]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
