"""Evaluate the shipped face expression model on labelled still images.

Usage::

    mfer evaluate face LABELS.csv [--root DIR] [--out metrics.json]
    .venv/bin/python -m multimodal_fer.face.evaluate LABELS.csv [--root DIR] [--out FILE]

``LABELS.csv`` has the columns ``path,label`` (other columns are ignored). ``path`` is an image
file (PNG, JPEG, ...; grey or colour), absolute or relative to ``--root`` (default: the CSV's
folder). ``label`` is an emotion name of any corpus the project knows (``angry``, ``anger``,
``happiness``, ``sadness``, ...), mapped by :func:`multimodal_fer.labels.to_canonical`; rows
whose label has no canonical class (e.g. *contempt*) are skipped and counted.

Each image is scored as training and the pipeline score a face: landmarks
(:func:`~multimodal_fer.face.landmarks.landmarks_from_image`), landmark features and the aligned
crop, then the full ensemble, batched. An image where no face is found (or that cannot be read)
gets no prediction and counts as an error; ``face_found_rate`` reports how often that happened.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from multimodal_fer.evaluation import classification_metrics, print_report, read_labels_csv, resolve, write_json
from multimodal_fer.labels import EMOTIONS, EMOTIONS_5, to_canonical


def load_image(path: Path) -> np.ndarray | None:
    """RGB uint8 (H, W, 3) of an image file, or ``None`` when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError):
        return None


def score_images(model, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, 7) (NaN rows where no face) and the face-found mask (N,) of images."""
    from multimodal_fer.face.crop import aligned_crop
    from multimodal_fer.face.features import landmark_features
    from multimodal_fer.face.landmarks import landmarks_from_image

    feats, crops, found = [], [], np.zeros(len(paths), dtype=bool)
    for i, p in enumerate(paths):
        rgb = load_image(p)
        obs = None if rgb is None else landmarks_from_image(rgb)
        if obs is None:
            continue
        found[i] = True
        feats.append(landmark_features(obs.points, obs.image_size))
        crops.append(aligned_crop(rgb, obs.points, obs.image_size))
    proba = np.full((len(paths), len(EMOTIONS)), np.nan)
    if found.any():
        x = np.stack(feats)
        c = np.stack(crops) if getattr(model, "has_cnn", False) else None
        proba[found] = model.predict_proba(x, c) if c is not None else model.predict_proba(x)
    return proba, found


def run(labels_csv: Path, *, root: Path | None = None, out: Path | None = None, model=None,
        quiet: bool = False) -> dict:
    """Evaluate the face model on the images of a labels CSV.

    Parameters
    ----------
    labels_csv : Path
        CSV with at least ``path,label``.
    root : Path, optional
        Folder relative paths are resolved against (default: the CSV's folder).
    out : Path, optional
        Where to write the JSON report.
    model : FaceModel, optional
        Default: the committed artefact.
    quiet : bool
        Do not print the table.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``per_class``, ``confusion`` (from
        :func:`multimodal_fer.evaluation.classification_metrics` over
        :data:`~multimodal_fer.labels.EMOTIONS`; no face = no prediction = error),
        ``accuracy_5class`` (rows whose label is in ``EMOTIONS_5``, argmax over those 5 columns),
        ``face_found_rate``, ``skipped`` (rows without a canonical class), ``model_version``,
        ``seconds_per_image``, ``labels_csv`` and ``files`` (path, label, prediction, proba).
    """
    from multimodal_fer.face.model import FaceModel

    rows = read_labels_csv(labels_csv, ["path", "label"])
    model = model or FaceModel.load()
    kept, labels, skipped = [], [], 0
    for row in rows:
        label = to_canonical(row["label"])
        if label is None:
            skipped += 1
            continue
        kept.append(row["path"])
        labels.append(label)
    t0 = time.perf_counter()
    proba, found = score_images(model, [resolve(p, root, labels_csv) for p in kept])
    elapsed = time.perf_counter() - t0
    preds = [EMOTIONS[int(np.argmax(p))] if f else None for p, f in zip(proba, found)]
    metrics = classification_metrics(labels, preds, EMOTIONS)
    cols = [EMOTIONS.index(e) for e in EMOTIONS_5]
    in5 = [i for i, lab in enumerate(labels) if lab in EMOTIONS_5]
    hits5 = [found[i] and EMOTIONS_5[int(np.argmax(proba[i, cols]))] == labels[i] for i in in5]
    acc5 = round(float(np.mean(hits5)), 4) if in5 else float("nan")
    n = len(labels)
    files = [{"path": p, "label": lab, "prediction": pred,
              **({"proba": {e: round(float(v), 4) for e, v in zip(EMOTIONS, pr)}} if f else {})}
             for p, lab, pred, pr, f in zip(kept, labels, preds, proba, found)]
    report = {**metrics, "accuracy_5class": acc5, "n_5class": len(in5),
              "face_found_rate": round(float(found.mean()), 4) if n else float("nan"),
              "skipped": skipped, "model_version": model.version,
              "seconds_per_image": round(elapsed / max(n, 1), 4), "labels_csv": str(labels_csv),
              "files": files}
    if not quiet:
        print_report(f"face expression ({model.version}) on {labels_csv}", metrics,
                     extra={"accuracy_5class": acc5, "face_found_rate": report["face_found_rate"],
                            "skipped": skipped})
    write_json(out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    from multimodal_fer.evaluation import cli_main

    return cli_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
