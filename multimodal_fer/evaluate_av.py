"""Whole-pipeline evaluation on labelled audio-visual clips, with a fusion ablation.

``mfer evaluate av LABELS.csv [--root DIR] [--out metrics.json]`` — CSV ``path,label``, one
expressed emotion per clip. Each clip runs through the real pipeline; the clip-level prediction
of a variant is its dominant emotion over the patient's windows (the argmax of the mean of the
variant's window probabilities). Variants:

- ``face``: face stream only; ``voice``: prosody only; ``text``: words only;
- ``equal``: the mean of whichever streams are present in a window (no speaking awareness);
- ``fused``: the pipeline's speaking-aware fusion (``p_fused_*``).

Each variant is scored on all windows with signal and on the windows where the patient speaks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer import bucket, evaluation, store
from multimodal_fer.labels import EMOTIONS, to_canonical

VARIANTS = ("face", "voice", "text", "equal", "fused")
PREFIX = {"face": "p_face", "voice": "p_voice", "text": "p_text", "fused": "p_fused"}


def variant_probs(windows: pd.DataFrame, variant: str) -> np.ndarray:
    """Window probabilities of a variant, shape (n_windows, 7); rows of NaN where it has no signal."""
    if variant == "equal":
        stack = np.stack([windows[[f"{PREFIX[s]}_{e}" for e in EMOTIONS]].to_numpy(float) for s in ("face", "voice", "text")])
        with np.errstate(invalid="ignore"):
            return np.nanmean(stack, axis=0)
    return windows[[f"{PREFIX[variant]}_{e}" for e in EMOTIONS]].to_numpy(float)


def clip_prediction(windows: pd.DataFrame, variant: str, *, speaking_only: bool) -> str | None:
    """Dominant emotion of a clip for a variant (None when it has no window with signal)."""
    sel = windows[windows["patient_speaking"]] if speaking_only else windows[windows["signal"] != "none"]
    if not len(sel):
        return None
    p = variant_probs(sel, variant)
    p = p[~np.isnan(p).any(axis=1)]
    return EMOTIONS[int(np.argmax(p.mean(axis=0)))] if len(p) else None


def window_accuracy(windows: pd.DataFrame, variant: str, label: str, *, speaking_only: bool) -> tuple[int, int]:
    """(correct windows, windows) of a variant against the clip's label."""
    sel = windows[windows["patient_speaking"]] if speaking_only else windows[windows["signal"] != "none"]
    p = variant_probs(sel, variant) if len(sel) else np.empty((0, 7))
    return int(sum(EMOTIONS[int(np.argmax(r))] == label for r in p if not np.isnan(r).any())), int(len(p))


def analyze_clips(rows: list[dict], *, root: Path | None, labels_csv: Path, progress=print) -> list[dict]:
    """Run the pipeline on every clip; returns per-clip dicts with the label and the windows frame."""
    from multimodal_fer.pipeline import PipelineOptions, StageError, analyze_recording, load_models

    options = PipelineOptions()
    models = load_models(options.asr)
    out = []
    with tempfile.TemporaryDirectory(prefix="mfer-eval-av-") as tmp:
        for i, row in enumerate(rows, 1):
            path = evaluation.resolve(row["path"], root, labels_csv)
            label = to_canonical(row["label"])
            if label is None:
                continue
            rec = bucket.Recording(str(path), "eval", f"clip{i}", path.stat().st_size if path.exists() else 0)
            staged = Path(tmp) / f"clip{i}"
            try:
                analyze_recording(path, recording=rec, sha256=f"{i:064d}", meta=bucket.SessionMeta(), staged_dir=staged,
                                  options=options, models=models)
                windows = store.read_staged(staged, "emotion_windows")
                utts = store.read_staged(staged, "utterances")
            except StageError as exc:
                progress(f"  {path.name}: not analysed ({exc.stage}: {exc})")
                windows, utts = None, None
            progress(f"[{i}/{len(rows)}] {path.name}: {label}")
            out.append({"path": str(path), "label": label, "windows": windows, "utterances": utts})
    return out


def ablation(clips: list[dict]) -> dict:
    """Clip-level and window-level accuracy of every variant, on all signal windows and while speaking."""
    report: dict = {"n_clips": len(clips), "variants": {}}
    for variant in VARIANTS:
        entry = {}
        for scope, speaking in (("all_windows", False), ("speaking_windows", True)):
            y_true, y_pred, correct, total = [], [], 0, 0
            for c in clips:
                y_true.append(c["label"])
                w = c["windows"]
                y_pred.append(None if w is None else clip_prediction(w, variant, speaking_only=speaking))
                if w is not None:
                    k, n = window_accuracy(w, variant, c["label"], speaking_only=speaking)
                    correct, total = correct + k, total + n
            m = evaluation.classification_metrics(y_true, y_pred, EMOTIONS)
            entry[scope] = {"clip_accuracy": m["accuracy"], "clip_macro_f1": m["macro_f1"],
                            "window_accuracy": round(correct / total, 4) if total else float("nan"),
                            "n_windows": total, "predictions": y_pred, "metrics": m}
        report["variants"][variant] = entry
    report["labels"] = [c["label"] for c in clips]
    report["paths"] = [c["path"] for c in clips]
    return report


def print_ablation(report: dict) -> None:
    print(f"{'variant':<8}{'clip acc (all)':>16}{'window acc (all)':>18}{'clip acc (speaking)':>21}{'window acc (speaking)':>23}")
    for v, e in report["variants"].items():
        a, s = e["all_windows"], e["speaking_windows"]
        print(f"{v:<8}{a['clip_accuracy']:>16.3f}{a['window_accuracy']:>18.3f}{s['clip_accuracy']:>21.3f}{s['window_accuracy']:>23.3f}")
    print(f"clips: {report['n_clips']}; windows (all / speaking): "
          f"{report['variants']['fused']['all_windows']['n_windows']} / {report['variants']['fused']['speaking_windows']['n_windows']}")


def run(labels_csv: Path, *, root: Path | None = None, out: Path | None = None) -> dict:
    """Evaluate the whole pipeline on labelled clips (see module docstring)."""
    rows = evaluation.read_labels_csv(labels_csv, ("path", "label"))
    clips = analyze_clips(rows, root=root, labels_csv=labels_csv)
    report = ablation(clips)
    print_ablation(report)
    fused = report["variants"]["fused"]["all_windows"]["metrics"]
    evaluation.print_report("\nspeaking-aware fusion, clip level:", fused)
    payload = {"n": fused["n"], "accuracy": fused["accuracy"], "macro_f1": fused["macro_f1"],
               "weighted_f1": fused["weighted_f1"], "per_class": fused["per_class"],
               "ablation": {v: {s: {k: x for k, x in d.items() if k != "metrics"} for s, d in e.items()}
                            for v, e in report["variants"].items()}}
    evaluation.write_json(out, payload)
    return payload
