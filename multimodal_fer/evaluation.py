"""Shared evaluation: classification metrics, labelled-file CSVs, printed tables.

Every ``mfer evaluate KIND`` command and every training report uses these, so that the numbers
of different streams mean the same thing.
"""

from __future__ import annotations

import csv
import json
import math
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.temperature import expected_calibration_error

NO_PREDICTION = "(none)"  # a missing prediction (no face found, no speech) counts as an error


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str | None], classes: Sequence[str]) -> dict:
    """Accuracy, macro- and weighted-F1, and per-class precision / recall / F1 / specificity.

    Parameters
    ----------
    y_true : sequence of str, length n
        True class names (each in ``classes``).
    y_pred : sequence of str or None, length n
        Predicted class names; ``None`` (no prediction) counts as a miss of the true class and as
        nobody's false positive.
    classes : sequence of str
        Class order of the report. Macro-F1 averages the classes present in ``y_true``.

    Returns
    -------
    dict
        ``n, accuracy, macro_f1, weighted_f1, per_class{name: precision, recall, f1, specificity,
        support}, confusion{labels, matrix}`` (rows true, columns predicted, last column: none).
    """
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    unknown = {t for t in y_true if t not in index}
    if unknown:
        raise ValueError(f"true labels not in the classes: {sorted(unknown)}")
    n = len(y_true)
    k = len(classes)
    cm = np.zeros((k, k + 1), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[index[t], index.get(p, k) if p is not None else k] += 1
    per_class, f1s, supports = {}, [], []
    for i, c in enumerate(classes):
        tp = cm[i, i]
        fp = cm[:, i].sum() - tp
        fn = cm[i, :].sum() - tp
        tn = n - tp - fp - fn
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        support = int(cm[i, :].sum())
        per_class[c] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "specificity": round(float(tn / (tn + fp)), 4) if tn + fp else float("nan"),
            "support": support,
        }
        f1s.append(f1)
        supports.append(support)
    supports_a = np.array(supports, dtype=float)
    present = supports_a > 0
    return {
        "n": int(n),
        "accuracy": round(float(np.trace(cm[:, :k]) / n), 4) if n else float("nan"),
        "macro_f1": round(float(np.mean(np.array(f1s)[present])), 4) if present.any() else float("nan"),
        "weighted_f1": (
            round(float(np.dot(f1s, supports_a) / supports_a.sum()), 4) if supports_a.sum() else float("nan")
        ),
        "per_class": per_class,
        "confusion": {"labels": classes + [NO_PREDICTION], "matrix": cm.tolist()},
    }


def calibration_error(labels: Sequence[str | None], proba: np.ndarray) -> dict:
    """How well the model's confidence matches how often it is right on these files.

    Parameters
    ----------
    labels : sequence of str or None, len N
        Canonical labels (rows with ``None`` are left out).
    proba : np.ndarray, shape (N, 7)
        The probabilities the model gave, columns in ``labels.EMOTIONS`` order; a row with NaN (nothing
        scored) is left out.

    Returns
    -------
    dict
        ``ece``: expected calibration error of the top label (15 bins, :mod:`multimodal_fer.temperature`);
        ``mean_confidence``: the mean top probability, to read against ``accuracy``; ``n_calibration``: the rows
        used. NaN and 0 when no row has both.
    """
    p = np.asarray(proba, dtype=np.float64).reshape(len(labels), len(EMOTIONS))
    keep = [i for i, lab in enumerate(labels) if lab in EMOTIONS and np.isfinite(p[i]).all()]
    if not keep:
        return {"ece": float("nan"), "mean_confidence": float("nan"), "n_calibration": 0}
    y = np.array([EMOTIONS.index(str(labels[i])) for i in keep])
    return {
        "ece": expected_calibration_error(p[keep], y),
        "mean_confidence": float(p[keep].max(axis=1).mean()),
        "n_calibration": len(keep),
    }


def read_labels_csv(path: str | Path, required: Sequence[str]) -> list[dict]:
    """Rows of a labels CSV, checking its header names ``required`` columns.

    Raises
    ------
    ValueError
        One line naming the file: required columns missing, a column named twice, no rows, a row without a
        cell for a required column, not UTF-8, not parseable as CSV.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            missing = [c for c in required if c not in header]
            if missing:
                raise ValueError(f"{path}: missing column(s) {missing}; expected at least {list(required)}")
            twice = sorted({c for c in header if header.count(c) > 1})
            if twice:
                raise ValueError(f"{path}: column(s) {twice} appear more than once in the header")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: cannot be parsed as CSV ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: no rows below the header")
    for line, row in enumerate(rows, 2):  # a short row would read its missing cells as None ('none': skipped)
        short = [c for c in required if row.get(c) is None]
        if short:
            raise ValueError(f"{path}: line {line}: no cell for {short} (fewer cells than the header)")
    return rows


def check_rows(
    rows: Sequence[dict],
    *,
    root: str | Path | None,
    labels_csv: str | Path,
    label: str | None = "label",
    path: str | None = "path",
):
    """``rows``, once every label (column ``label``; ``None``: no labels) is a known name and every row to
    be scored names a regular file (column ``path``; ``None``: not checked): checked before a model loads,
    so that a bad row near the end never stops an evaluation after hours of work. Rows whose label has no
    canonical class are not scored and their paths not checked.

    Raises
    ------
    ValueError
        One line naming the CSV, the line and what is wrong (see :func:`resolve`).
    """
    from multimodal_fer.labels import to_canonical

    for line, row in enumerate(rows, 2):  # line 1 is the header
        try:
            scored = label is None or to_canonical(row[label]) is not None
        except KeyError as exc:
            raise ValueError(f"{labels_csv}: line {line}: {exc.args[0]}") from None
        if scored and path is not None:
            resolve(row[path], root, labels_csv, line=line)
    return rows


def resolve(path: str, root: str | Path | None, labels_csv: str | Path, *, line: int | None = None) -> Path:
    """A CSV path entry: absolute as is, else relative to ``root`` (default: the CSV's folder). An error
    names the CSV, its ``line`` (when given) and the entry.

    Raises
    ------
    ValueError
        If it is not an existing regular file (a link to one is fine): a folder, a named pipe or a
        device would fail later or block the reader.
    """
    p = Path(path)
    full = p if p.is_absolute() else Path(root or Path(labels_csv).parent) / p
    where = f"{labels_csv}: " + (f"line {line}: " if line else "") + f"{path}"  # the CSV line, where known
    try:
        mode = full.stat().st_mode
    except FileNotFoundError:
        raise ValueError(f"{where}: file not found") from None
    except OSError as exc:
        raise ValueError(f"{where}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{where}: not a regular file (a folder, pipe or device)")
    return full


def print_report(title: str, metrics: dict, *, extra: dict | None = None) -> None:
    """A readable table of a :func:`classification_metrics` report."""
    print(title)
    head = {k: metrics[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1") if k in metrics}
    head.update(extra or {})
    print("  " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in head.items()))
    print(f"  {'class':<12}{'precision':>10}{'recall':>8}{'f1':>8}{'specif.':>9}{'support':>9}")
    for name, m in metrics.get("per_class", {}).items():
        spec = m["specificity"]
        print(
            f"  {name:<12}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}"
            f"{(spec if not math.isnan(spec) else float('nan')):>9.3f}{m['support']:>9}"
        )


MIN_GROUP_ROWS = 30  # a breakdown group with fewer rows is flagged: too few to compare with the others


PROGRESS_EVERY_S = 10.0  # s between two progress lines of a long evaluation


class Progress:
    """``  scored 1200/100000 files (41/s, about 40 min left)`` on stderr, at most every :data:`PROGRESS_EVERY_S`
    (nothing for an evaluation that ends sooner); call it with the number of files done."""

    def __init__(self, total: int, *, every_s: float = PROGRESS_EVERY_S, stream=None, clock=None) -> None:
        self.total, self.every_s, self.stream = total, every_s, stream or sys.stderr
        self.clock = clock or time.monotonic
        self.start = self.last = self.clock()

    def __call__(self, done: int) -> None:
        now = self.clock()
        if now - self.last < self.every_s or not 0 < done < self.total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        left_min = (self.total - done) / rate / 60
        print(
            f"  scored {done}/{self.total} files ({rate:.0f}/s, about {left_min:.0f} min left)",
            file=self.stream,
            flush=True,
        )


def wilson_interval(hits: int, n: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``hits / n`` (95 % for the default ``z``); NaNs for ``n = 0``."""
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(max(centre - half, 0.0), 4), round(min(centre + half, 1.0), 4)


def breakdown(files: Sequence[dict], rows: Sequence[dict], column: str, classes: Sequence[str]) -> dict:
    """Metrics per value of one column of the labels CSV (sex, age band, rated skin tone, site, device...).

    Parameters
    ----------
    files : sequence of dict
        An evaluation report's ``files`` (``path``, ``label``, ``prediction``).
    rows : sequence of dict
        The labels CSV's rows; a file takes the ``column`` value of the first row with its ``path``
        (blank → ``"(blank)"``).
    column : str
    classes : sequence of str

    Returns
    -------
    dict
        value → ``n``, ``accuracy``, ``accuracy_95`` (Wilson interval), ``macro_f1``, ``lowest_recall``,
        ``lowest_recall_class`` (among the classes the group holds) and ``small`` (fewer than
        :data:`MIN_GROUP_ROWS` rows).
    """
    value_of: dict[str, str] = {}
    for row in rows:
        value_of.setdefault(row["path"], (row.get(column) or "").strip() or "(blank)")
    groups: dict[str, list[dict]] = {}
    for f in files:
        groups.setdefault(value_of.get(f["path"], "(blank)"), []).append(f)
    out = {}
    for value, group in sorted(groups.items()):
        m = classification_metrics([f["label"] for f in group], [f["prediction"] for f in group], classes)
        present = [c for c in classes if m["per_class"][c]["support"] > 0]
        low = min(present, key=lambda c: m["per_class"][c]["recall"])
        hits = sum(f["prediction"] == f["label"] for f in group)
        out[value] = {
            "n": len(group),
            "accuracy": m["accuracy"],
            "accuracy_95": wilson_interval(hits, len(group)),
            "macro_f1": m["macro_f1"],
            "lowest_recall": m["per_class"][low]["recall"],
            "lowest_recall_class": low,
            "small": len(group) < MIN_GROUP_ROWS,
        }
    return out


def print_breakdown(column: str, table: dict) -> None:
    """A readable table of a :func:`breakdown`."""
    print(f"by {column} ({len(table)} groups; * = fewer than {MIN_GROUP_ROWS} rows, too few to compare)")
    print(f"  {'value':<16}{'n':>7}  {'accuracy (95 %)':<22}{'macro-F1':>9}  lowest recall")
    for value, r in table.items():
        lo, hi = r["accuracy_95"]
        print(
            f"  {value[:15] + ('*' if r['small'] else ''):<16}{r['n']:>7}  {r['accuracy']:.3f} ({lo:.3f}–{hi:.3f})"
            f"{r['macro_f1']:>11.3f}  {r['lowest_recall']:.3f} ({r['lowest_recall_class']})"
        )


def _strict(value):
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return value


def write_json(path: str | Path | None, payload: dict) -> None:
    """Write ``payload`` as strict JSON (numpy numbers as numbers, NaN as ``null``: readable by ``jq`` and browsers)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        plain = json.loads(json.dumps(payload, default=float))  # numpy scalars and arrays' items as floats
        Path(path).write_text(json.dumps(_strict(plain), indent=2, allow_nan=False))


def cli_main(
    run, description: str, argv: list[str] | None = None, *, flags: dict | None = None, options: dict | None = None
) -> int:
    """``python -m multimodal_fer.<kind>.evaluate LABELS.csv [--root DIR] [--out JSON]`` for an
    evaluator's ``run``; ``flags`` ({"--flag-name": help}) adds boolean options passed to ``run``
    as keyword arguments (``flag_name=True``), ``options`` ({"--name": help}) string options
    (``name=VALUE``, ``None`` when not given)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("labels", type=Path)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--out", type=Path)
    for flag, help_text in (flags or {}).items():
        parser.add_argument(flag, action="store_true", help=help_text)
    for option, help_text in (options or {}).items():
        parser.add_argument(option, help=help_text)
    args = parser.parse_args(argv)
    names = [f.lstrip("-").replace("-", "_") for f in [*(flags or {}), *(options or {})]]
    extra = {name: getattr(args, name) for name in names}
    run(args.labels, root=args.root, out=args.out, **extra)
    return 0
