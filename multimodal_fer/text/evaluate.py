"""Evaluate the shipped text-emotion model on labelled utterances.

Usage::

    mfer evaluate text LABELS.csv [--root DIR] [--out metrics.json]
    .venv/bin/python -m multimodal_fer.text.evaluate LABELS.csv [--root DIR] [--out FILE] [--kind head]

``LABELS.csv`` has the columns ``text,label`` (other columns are ignored). Instead of ``text``
a row may name a UTF-8 text file in a ``path`` column (absolute, or relative to ``--root``,
default the CSV's folder); ``text`` wins when both are filled. ``label`` is an emotion name of
any corpus the project knows (``joy``, ``anger``, ``NEU``, ...), mapped by
:func:`multimodal_fer.labels.to_canonical`; rows whose label has no canonical class (e.g.
EmoryNLP's *Powerful*) are skipped and counted, unknown names are an error.

With the optional columns ``dialogue_id,utterance_id`` each utterance gets the previous
utterances of its dialogue (ordered by ``utterance_id``, skipped rows included) as context,
the way the pipeline passes a session's previous utterances; models trained without context
ignore it. An empty text gets no prediction and counts as an error.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from multimodal_fer.evaluation import (
    calibration_error,
    check_rows,
    classification_metrics,
    print_report,
    read_labels_csv,
    resolve,
    write_json,
)
from multimodal_fer.labels import EMOTIONS, to_canonical


def _order_key(value: str):
    value = str(value).strip()
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def dialogue_contexts(rows: list[dict], texts: list[str]) -> list[str] | None:
    """Context of each row: the texts of the earlier utterances of its dialogue, joined.

    ``None`` when the CSV has no ``dialogue_id`` / ``utterance_id`` columns.
    """
    if not rows or "dialogue_id" not in rows[0] or "utterance_id" not in rows[0]:
        return None
    by_dialogue: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_dialogue.setdefault(str(row["dialogue_id"]).strip(), []).append(i)
    contexts = [""] * len(rows)
    for members in by_dialogue.values():
        members.sort(key=lambda i: (_order_key(rows[i]["utterance_id"]), i))
        previous: list[str] = []
        for i in members:
            contexts[i] = " ".join(previous)
            if texts[i].strip():
                previous.append(texts[i].strip())
    return contexts


def _row_text(row: dict, root, labels_csv) -> str:
    text = row.get("text") or ""
    if not text.strip() and (row.get("path") or "").strip():
        text = resolve(row["path"].strip(), root, labels_csv).read_text(encoding="utf-8")
    return text


def read_rows(labels_csv: str | Path) -> list[dict]:
    """The rows of a labels CSV: ``label`` and ``text`` required, or ``path`` when it has no ``text`` column."""
    with open(labels_csv, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    required = ["label", "path" if "path" in header and "text" not in header else "text"]
    return read_labels_csv(labels_csv, required)


def predict_kept(
    model, *, texts: list[str], contexts: list[str] | None, keep: list[int]
) -> tuple[list[str | None], np.ndarray, float]:
    """Predicted class and probabilities of the utterances ``keep`` (indices into ``texts``), and the time it took.

    Parameters
    ----------
    model : TextEmotionModel
    texts : list of str
        Every row's text.
    contexts : list of str, optional
        Every row's dialogue context (:func:`dialogue_contexts`), or ``None``.
    keep : list of int
        Rows to score.

    Returns
    -------
    y_pred : list of str or None, len(keep)
        Most probable of :data:`~multimodal_fer.labels.EMOTIONS`; ``None`` where the model
        gives no prediction (NaN probabilities, e.g. an empty text).
    probs : np.ndarray, shape (len(keep), 7)
        The (calibrated) probabilities; NaN rows where there is no prediction.
    elapsed : float
        Seconds spent in ``model.predict_proba``.
    """
    t0 = time.perf_counter()
    probs = model.predict_proba([texts[i] for i in keep], None if contexts is None else [contexts[i] for i in keep])
    elapsed = time.perf_counter() - t0
    return [None if np.isnan(p).any() else EMOTIONS[int(np.argmax(p))] for p in probs], probs, elapsed


def run(
    labels_csv: str | Path,
    *,
    root: str | Path | None = None,
    out: str | Path | None = None,
    model=None,
    quiet: bool = False,
) -> dict:
    """Score every utterance of a ``text,label`` CSV and report classification metrics.

    Parameters
    ----------
    labels_csv : path
        CSV with a ``label`` column and a ``text`` (or ``path``) column; optional
        ``dialogue_id,utterance_id`` for dialogue context.
    root : path, optional
        Folder that relative ``path`` entries are resolved against (default: the CSV's folder).
    out : path, optional
        Where to write the JSON report.
    model : TextEmotionModel, optional
        Default: the committed model (:meth:`TextEmotionModel.load`).
    quiet : bool
        Do not print the table.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``per_class``, ``confusion`` (over ``EMOTIONS``),
        ``ece``, ``mean_confidence``, ``n_calibration`` (:mod:`multimodal_fer.evaluation`), ``skipped`` (rows with
        no canonical class), ``no_prediction`` (empty texts), ``context`` (whether dialogue context was passed),
        ``model_version``, ``utterances_per_s`` and ``labels_csv``.
    """
    from multimodal_fer.text.emotion import TextEmotionModel

    rows = check_rows(read_rows(labels_csv), root=root, labels_csv=labels_csv, path=None)  # labels known
    texts = [_row_text(row, root, labels_csv) for row in rows]  # files read before the model loads
    model = model or TextEmotionModel.load()
    contexts = dialogue_contexts(rows, texts)
    labels = [to_canonical(row["label"]) for row in rows]
    keep = [i for i, lab in enumerate(labels) if lab is not None]
    y_pred, probs, elapsed = predict_kept(model, texts=texts, contexts=contexts, keep=keep)
    kept = [lab for lab in labels if lab is not None]
    metrics = classification_metrics(kept, y_pred, EMOTIONS) | calibration_error(kept, probs)
    report = {
        **metrics,
        "skipped": len(rows) - len(keep),
        "no_prediction": sum(p is None for p in y_pred),
        "context": contexts is not None and model.use_context,
        "model_version": model.version,
        "utterances_per_s": round(len(keep) / elapsed, 1) if elapsed > 0 and keep else None,
        "labels_csv": str(labels_csv),
    }
    if not quiet:
        print_report(
            f"text emotion ({model.version}) on {labels_csv}",
            metrics,
            extra={k: report[k] for k in ("ece", "mean_confidence", "skipped", "context")},
        )
    write_json(out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--kind", default="auto", choices=("auto", "finetuned", "head"))
    args = parser.parse_args(argv)
    from multimodal_fer.text.emotion import TextEmotionModel

    run(args.labels, root=args.root, out=args.out, model=TextEmotionModel.load(kind=args.kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
