"""Evaluate the shipped face expression model on labelled still images.

Usage::

    mfer evaluate face LABELS.csv [--root DIR] [--out FILE] [--face-crops] [--group-column C [--calibration-strength S]]
    python -m multimodal_fer.face.evaluate LABELS.csv [--root DIR] [--out FILE] [--face-crops] [--group-column C]

``LABELS.csv`` has the columns ``path,label`` (other columns are ignored). ``path`` is an image file (PNG, JPEG,
...; grey or colour), absolute or relative to ``--root`` (default: the CSV's folder). ``label`` is an emotion name
of any corpus the project knows (``angry``, ``anger``, ``happiness``, ``sadness``, ...), mapped by
:func:`multimodal_fer.labels.to_canonical`; rows whose label has no canonical class (e.g. *contempt*) are skipped
and counted.

Each image is scored as training and the pipeline score a face: landmarks
(:func:`~multimodal_fer.face.landmarks.landmarks_from_image`), landmark features and the aligned crop, then the full
ensemble, batched. Where the landmark mesh finds no face, the CNN member alone scores a fallback crop
(:func:`~multimodal_fer.face.crop.fallback_crop`): with ``--face-crops`` (every image is a face crop or face photo,
as in FER2013) the whole image, otherwise a crop aligned on the face *detector*'s eye keypoints, if it finds a face.
An image with no face by any of these (or that cannot be read) gets no prediction and counts as an error.
``face_found_rate`` is the landmark rate; ``scored_rate`` counts every scored image, ``crop_sources`` how many were
scored by landmarks / detector / whole image.

``--group-column C`` (e.g. ``subject``): the images of one value of ``C`` are one person's session, and the
report adds the per-session calibration (:func:`~multimodal_fer.face.calibration.calibrate_session`, as the pipeline
applies it per recording; shipped off, ``--calibration-strength`` sets it) beside the plain model: accuracy, macro-F1
and per-class recall of both. A group with fewer than ``MIN_FRAMES`` scored images (or an empty ``C``) stays as is.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from multimodal_fer.evaluation import (
    Progress,
    calibration_error,
    check_rows,
    classification_metrics,
    print_report,
    read_labels_csv,
    resolve,
    write_json,
)
from multimodal_fer.face.calibration import DEFAULT_CALIBRATION, CalibrationOptions, calibrate_session
from multimodal_fer.face.crop import FROM_DETECTOR, FROM_IMAGE
from multimodal_fer.labels import EMOTIONS, EMOTIONS_5, to_canonical


def load_image(path: Path) -> np.ndarray | None:
    """RGB uint8 (H, W, 3) of an image file, or ``None`` when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError):
        return None


#: ``source`` of an image scored by the landmarks (the full ensemble)
FROM_LANDMARKS = "landmarks"


def score_images(
    model, paths: list[Path], *, fallback: bool = True, face_crops: bool = False, progress=lambda done: None
) -> tuple[np.ndarray, np.ndarray, list]:
    """Score still images.

    Parameters
    ----------
    model : FaceModel
    paths : list of Path
    fallback : bool
        Score images without landmarks by the CNN on a detector (``face_crops``: whole-image) crop.
    face_crops : bool
        Every image is a face crop (see :func:`~multimodal_fer.face.crop.fallback_crop`).
    progress : callable
        Called with the number of images done before each image (:class:`~multimodal_fer.evaluation.Progress`).

    Returns
    -------
    proba : np.ndarray, shape (N, 7)
        NaN rows where nothing was scored.
    found : np.ndarray, shape (N,), bool
        Landmarks found.
    sources : list of str or None
        ``"landmarks"``, ``"detector"``, ``"image"`` or None (not scored) per image.
    """
    from multimodal_fer.face.crop import aligned_crop, fallback_crop
    from multimodal_fer.face.features import landmark_features
    from multimodal_fer.face.landmarks import landmarks_from_image

    has_cnn = getattr(model, "has_cnn", False)
    feats, crops, found = [], [], np.zeros(len(paths), dtype=bool)
    fb_rows: list[int] = []
    fb_crops: list[np.ndarray] = []
    sources: list[str | None] = [None] * len(paths)
    for i, p in enumerate(paths):
        progress(i)
        rgb = load_image(p)
        if rgb is None:
            continue
        obs = landmarks_from_image(rgb)
        if obs is None:
            if fallback and has_cnn:
                crop, src = fallback_crop(rgb, face_crops=face_crops)
                if crop is not None:
                    fb_rows.append(i)
                    fb_crops.append(crop)
                    sources[i] = src
            continue
        found[i] = True
        sources[i] = FROM_LANDMARKS
        feats.append(landmark_features(obs.points, obs.image_size))
        crops.append(aligned_crop(rgb, obs.points, obs.image_size))
    proba = np.full((len(paths), len(EMOTIONS)), np.nan)
    if found.any():
        x = np.stack(feats)
        c = np.stack(crops) if has_cnn else None
        proba[found] = model.predict_proba(x, c) if c is not None else model.predict_proba(x)
    if fb_rows:
        proba[fb_rows] = model.cnn_proba(np.stack(fb_crops))
    return proba, found, sources


def _checked_rows(labels_csv: Path, root: Path | None, group_column: str | None) -> list[dict]:
    """The labels CSV's rows (with ``group_column`` when given), each checked by ``evaluation.check_rows``."""
    columns = ["path", "label", *([group_column] if group_column else [])]
    return check_rows(read_labels_csv(labels_csv, columns), root=root, labels_csv=labels_csv)


def _canonical_rows(rows: list[dict]) -> tuple[list[str], list[str], int, list[dict]]:
    """``(paths, canonical labels, skipped, kept rows)``: the rows whose label has a canonical class, and how many
    do not."""
    kept, labels, skipped, kept_rows = [], [], 0, []
    for row in rows:
        label = to_canonical(row["label"])
        if label is None:
            skipped += 1
            continue
        kept.append(row["path"])
        labels.append(label)
        kept_rows.append(row)
    return kept, labels, skipped, kept_rows


def calibrate_groups(
    proba: np.ndarray, scored: np.ndarray, groups: list[str], *, options: CalibrationOptions = DEFAULT_CALIBRATION
) -> tuple[np.ndarray, int, int]:
    """:func:`~multimodal_fer.face.calibration.calibrate_session` of each group's scored rows.

    Parameters
    ----------
    proba : np.ndarray, shape (N, 7)
        NaN rows where nothing was scored.
    scored : np.ndarray, shape (N,), bool
    groups : list of str, length N
        Session of each row; an empty value is a session of its own.
    options : CalibrationOptions

    Returns
    -------
    calibrated : np.ndarray, shape (N, 7)
    n_groups : int
        Sessions (empty values counted one each).
    n_calibrated : int
        Sessions with at least ``options.min_frames`` scored rows (the others are unchanged).
    """
    out = proba.copy()
    keys = [g if g else f"\0row{i}" for i, g in enumerate(groups)]
    members: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    n_calibrated = 0
    for rows in members.values():
        rows = [i for i in rows if scored[i]]
        if len(rows) >= options.min_frames:
            out[rows] = calibrate_session(proba[rows], options=options)
            n_calibrated += 1
    return out, len(members), n_calibrated


def _side_by_side(labels: list[str], plain: list, calibrated: list) -> dict:
    """Accuracy, macro-F1 and per-class recall of the plain and the calibrated predictions."""
    out = {}
    for key, preds in (("plain", plain), ("calibrated", calibrated)):
        m = classification_metrics(labels, preds, EMOTIONS)
        out[key] = {
            "accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"],
            "weighted_f1": m["weighted_f1"],
            "recall": {e: v["recall"] for e, v in m["per_class"].items() if v["support"]},
        }
    return out


def _add_calibration(
    report: dict,
    proba: np.ndarray,
    sources: list,
    rows: list[dict],
    group_column: str | None,
    labels: list[str],
    options: CalibrationOptions,
) -> None:
    """Add ``calibration`` (``group_column``, ``n_groups``, ``n_groups_calibrated``, ``min_frames``, ``strength``,
    ``max_shift``, ``plain`` and ``calibrated``: accuracy, macro_f1, weighted_f1, recall per class) and each file's
    ``calibrated_prediction``; nothing without a ``group_column``."""
    if not group_column:
        return
    groups = [(r.get(group_column) or "").strip() for r in rows]
    scored, preds = _predictions(proba, sources)
    cal, n_groups, n_cal = calibrate_groups(proba, scored, groups, options=options)
    _, cal_preds = _predictions(cal, sources)
    report["calibration"] = {
        "group_column": group_column,
        "n_groups": n_groups,
        "n_groups_calibrated": n_cal,
        "min_frames": options.min_frames,
        "strength": options.strength,
        "max_shift": options.max_shift,
        **_side_by_side(labels, preds, cal_preds),
    }
    for row, pred in zip(report["files"], cal_preds, strict=True):
        row["calibrated_prediction"] = pred


def _print_calibration(cal: dict) -> None:
    """The plain and calibrated metrics side by side."""
    plain, calibrated = cal["plain"], cal["calibrated"]
    off = ": off, the shipped default, so calibrated = plain (--calibration-strength)" if not cal["strength"] else ""
    print(
        f"per-session calibration (sessions: {cal['group_column']!r}, {cal['n_groups']} groups, "
        f"{cal['n_groups_calibrated']} with >= {cal['min_frames']} faces; strength {cal['strength']}{off})"
    )
    print(f"  {'':<18}{'plain':>10}{'calibrated':>12}")
    for key in ("accuracy", "macro_f1"):
        print(f"  {key:<18}{plain[key]:>10.4f}{calibrated[key]:>12.4f}")
    for e, r in plain["recall"].items():
        print(f"  {'recall ' + e:<18}{r:>10.3f}{calibrated['recall'][e]:>12.3f}")


def _accuracy_5class(labels: list[str], proba: np.ndarray, scored: np.ndarray) -> tuple[float, list[int]]:
    """Accuracy over the rows labelled with one of ``EMOTIONS_5`` (argmax over those 5 columns), and those rows."""
    cols = [EMOTIONS.index(e) for e in EMOTIONS_5]
    in5 = [i for i, lab in enumerate(labels) if lab in EMOTIONS_5]
    hits5 = [scored[i] and EMOTIONS_5[int(np.argmax(proba[i, cols]))] == labels[i] for i in in5]
    return (round(float(np.mean(hits5)), 4) if in5 else float("nan")), in5


def _five_class(labels: list[str], proba: np.ndarray, scored: np.ndarray) -> dict:
    """``accuracy_5class`` and ``n_5class`` of the report (see :func:`_accuracy_5class`)."""
    acc5, in5 = _accuracy_5class(labels, proba, scored)
    return {"accuracy_5class": acc5, "n_5class": len(in5)}


def _predictions(proba: np.ndarray, sources: list) -> tuple[np.ndarray, list[str | None]]:
    """Which images were scored (a crop source), and the argmax class of each (``None``: not scored)."""
    scored = np.array([s is not None for s in sources], dtype=bool)
    return scored, [EMOTIONS[int(np.argmax(p))] if f else None for p, f in zip(proba, scored, strict=True)]


def _rate(flags: np.ndarray) -> float:
    """Share of true flags, 4 decimals (NaN when there are none)."""
    return round(float(flags.mean()), 4) if len(flags) else float("nan")


def _committed_model():
    """The committed face model artefact."""
    from multimodal_fer.face.model import FaceModel

    return FaceModel.load()


def _timed_scores(model, paths: list[Path], face_crops: bool) -> tuple[np.ndarray, np.ndarray, list, float]:
    """:func:`score_images` and the seconds it took."""
    t0 = time.perf_counter()
    proba, found, sources = score_images(model, paths, face_crops=face_crops, progress=Progress(len(paths)))
    return proba, found, sources, time.perf_counter() - t0


def _coverage(found: np.ndarray, scored: np.ndarray, sources: list) -> dict:
    """``face_found_rate``, ``scored_rate`` and ``crop_sources`` (images per crop source) of the report."""
    return {
        "face_found_rate": _rate(found),
        "scored_rate": _rate(scored),
        "crop_sources": {k: sum(s == k for s in sources) for k in (FROM_LANDMARKS, FROM_DETECTOR, FROM_IMAGE)},
    }


def _file_rows(kept: list, labels: list, preds: list, proba: np.ndarray, sources: list) -> list[dict]:
    """The report's ``files``: path, label, prediction, crop source and (when scored) rounded probabilities."""
    return [
        {
            "path": p,
            "label": lab,
            "prediction": pred,
            "source": src,
            **({"proba": {e: round(float(v), 4) for e, v in zip(EMOTIONS, pr, strict=True)}} if src else {}),
        }
        for p, lab, pred, pr, src in zip(kept, labels, preds, proba, sources, strict=True)
    ]


def _print_summary(report: dict, metrics: dict, *, title: str) -> None:
    """The metrics table, with the 5-class accuracy, the face-found and scored rates and the skipped rows."""
    print_report(
        title,
        metrics,
        extra={
            k: report[k]
            for k in ("ece", "mean_confidence", "accuracy_5class", "face_found_rate", "scored_rate", "skipped")
        },
    )
    if "calibration" in report:
        _print_calibration(report["calibration"])


def run(
    labels_csv: Path,
    *,
    root: Path | None = None,
    out: Path | None = None,
    model=None,
    quiet: bool = False,
    face_crops: bool = False,
    group_column: str | None = None,
    calibration_strength: float | None = None,
) -> dict:
    """Evaluate the face model on the images of a labels CSV.

    Parameters
    ----------
    labels_csv, root, out, quiet
        As :func:`multimodal_fer.voice.evaluate.run` (CSV with at least ``path,label``).
    model : FaceModel, optional
        Default: the committed artefact.
    face_crops : bool
        Every image is a face crop: one without landmarks is scored as a whole.
    group_column : str, optional
        CSV column naming each image's person / session (e.g. ``subject``): adds the per-session calibration.
    calibration_strength : float, optional
        Its ``strength`` (0..1; default :data:`DEFAULT_CALIBRATION`'s, 0 = off); other settings the shipped ones.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``per_class``, ``confusion`` (from
        ``evaluation.classification_metrics`` over ``EMOTIONS``; not scored = no prediction = error), ``ece``,
        ``mean_confidence``, ``n_calibration`` (``evaluation.calibration_error``, over the scored images),
        ``accuracy_5class`` (rows whose label is in ``EMOTIONS_5``, argmax over those 5 columns), ``face_found_rate``
        (landmarks), ``scored_rate``, ``crop_sources``, ``skipped`` (rows without a canonical class), ``model_version``,
        ``seconds_per_image``, ``labels_csv``, ``files`` (path, label, prediction, proba), ``calibration`` (with
        ``group_column``, :func:`_add_calibration`).
    """
    rows = _checked_rows(labels_csv, root, group_column)  # before the model loads
    strength = DEFAULT_CALIBRATION.strength if calibration_strength is None else calibration_strength
    options = replace(DEFAULT_CALIBRATION, strength=strength)  # a bad value fails here too (ValueError)
    model = model or _committed_model()
    kept, labels, skipped, kept_rows = _canonical_rows(rows)
    proba, found, sources, seconds = _timed_scores(model, [resolve(p, root, labels_csv) for p in kept], face_crops)
    scored, preds = _predictions(proba, sources)
    report = {
        **classification_metrics(labels, preds, EMOTIONS) | calibration_error(labels, proba),  # unscored rows: NaN
        **_five_class(labels, proba, scored),
        **_coverage(found, scored, sources),
        "face_crops": face_crops,
        "skipped": skipped,
        "model_version": model.version,
        "seconds_per_image": round(seconds / max(len(labels), 1), 4),
        "labels_csv": str(labels_csv),
        "files": _file_rows(kept, labels, preds, proba, sources),
    }
    _add_calibration(report, proba, sources, kept_rows, group_column, labels, options)
    if not quiet:
        _print_summary(report, report, title=f"face expression ({model.version}) on {labels_csv}")
    write_json(out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    from multimodal_fer.evaluation import cli_main

    return cli_main(
        run,
        __doc__.splitlines()[0],
        argv,
        flags={
            "--face-crops": "every image is a face crop (FER2013-style): score an image without landmarks as a whole"
        },
        options={"--group-column": "column naming each image's person / session: plain and calibrated metrics"},
    )


if __name__ == "__main__":
    sys.exit(main())
