"""Whole-pipeline evaluation on labelled audio-visual clips, with a fusion ablation.

``mfer evaluate av LABELS.csv [--root DIR] [--out metrics.json]`` — CSV ``path,label``, one
expressed emotion per clip. Each clip runs through the pipeline's own steps
(:func:`~multimodal_fer.pipeline.extract_streams`, then the fusion); the clip-level prediction of a
variant is its dominant emotion over the patient's windows (the argmax of the mean of the variant's
window probabilities). Variants:

- ``face``: face stream only; ``voice``: prosody only; ``text``: words only;
- ``equal``: the mean of whichever streams are present in a window (no speaking awareness);
- ``certainty``: the speaking-aware rule used before, each stream weighted by its own certainty
  (:data:`multimodal_fer.fusion.CERTAINTY_WEIGHTED`), re-fused from the same stream outputs;
- ``fused``: the pipeline's speaking-aware fusion (``p_fused_*``);
- diagnostics, the pipeline's fusion with one part taken out (re-fused, not used to choose any
  default): ``fused_no_prior`` (every stream prior uniform: a plain reliability-weighted
  log-linear pool), ``fused_no_reliability`` (all reliabilities 1), ``fused_unsmoothed``.

Each variant is scored on all windows with signal and on the windows where the patient speaks.

The stream outputs of every clip (the inputs of :func:`multimodal_fer.fusion.fuse`) are kept;
with ``cache_dir`` they are stored under a key of the file's bytes, the model versions and the
pipeline options that act before fusion, and a later run re-fuses them in milliseconds instead of
running the models again (for trying fusion options). Without ``cache_dir`` (the default, and
how the published numbers are made) every clip runs through the whole pipeline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer import bucket, evaluation
from multimodal_fer.digest import file_sha256
from multimodal_fer.fusion import CERTAINTY_WEIGHTED, FusionInputs, FusionOptions
from multimodal_fer.labels import EMOTIONS, to_canonical
from multimodal_fer_schemas.tables import FACE_PROB_COLS, TEXT_PROB_COLS, VOICE_PROB_COLS

_DEFAULT = FusionOptions()
#: Variants fused again from the kept stream outputs, with these options.
REFUSED = {
    "certainty": CERTAINTY_WEIGHTED,
    "fused_no_prior": replace(_DEFAULT, prior_face=(1.0,) * 7, prior_voice=(1.0,) * 7, prior_text=(1.0,) * 7),
    "fused_no_reliability": replace(_DEFAULT, reliability_face=1.0, reliability_voice=1.0, reliability_text=1.0),
    "fused_unsmoothed": replace(_DEFAULT, smooth_windows=1),
}
VARIANTS = ("face", "voice", "text", "equal", "certainty", "fused", *[v for v in REFUSED if v != "certainty"])
PREFIX = {"face": "p_face", "voice": "p_voice", "text": "p_text"}  # every other variant: p_fused


def variant_probs(windows: pd.DataFrame, variant: str) -> np.ndarray:
    """Window probabilities of a variant, shape (n_windows, 7); rows of NaN where it has no signal."""
    if variant == "equal":
        stack = np.stack(
            [windows[[f"{PREFIX[s]}_{e}" for e in EMOTIONS]].to_numpy(float) for s in ("face", "voice", "text")]
        )
        with np.errstate(invalid="ignore"):
            return np.nanmean(stack, axis=0)
    return windows[[f"{PREFIX.get(variant, 'p_fused')}_{e}" for e in EMOTIONS]].to_numpy(float)


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


# ----------------------------------------------------------------------------- stream-output cache
_FRAME_COLS = ["t_s", "face_found", "mouth_open", *FACE_PROB_COLS]
_VOICE_COLS = ["start_s", "end_s", *VOICE_PROB_COLS]
_UTT_COLS = ["start_s", "end_s", "speaker", *TEXT_PROB_COLS]  # no transcript text in the cache


def cache_key(path: Path, options, versions: dict) -> str:
    """Key of a clip's stream outputs: its bytes, the model versions and the options that act before fusion."""
    upstream = {k: v for k, v in asdict(options).items() if k != "fusion"}
    upstream["fusion"] = {
        "window_s": options.fusion.window_s,
        "include_unknown_speaker": options.fusion.include_unknown_speaker,
    }
    payload = json.dumps(
        {"file": file_sha256(path), "models": versions, "options": upstream}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def save_inputs(inputs: FusionInputs, folder: Path) -> None:
    """Store the stream outputs of one clip (Parquet + JSON; no transcript text)."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs.frames.reindex(columns=_FRAME_COLS).to_parquet(folder / "frames.parquet")
    inputs.voice.reindex(columns=_VOICE_COLS).to_parquet(folder / "voice.parquet")
    inputs.utterances.reindex(columns=_UTT_COLS).to_parquet(folder / "utterances.parquet")
    if inputs.prosody_windows is not None:
        inputs.prosody_windows.to_parquet(folder / "prosody.parquet")
    meta = {
        "speech_segments": [[float(s), float(e)] for s, e in inputs.speech_segments],
        "duration_s": inputs.duration_s,
    }
    (folder / "meta.json").write_text(json.dumps(meta))


def load_inputs(folder: Path, options: FusionOptions) -> FusionInputs:
    """Stream outputs stored by :func:`save_inputs`."""
    meta = json.loads((folder / "meta.json").read_text())
    frames = pd.read_parquet(folder / "frames.parquet")
    frames["face_found"] = frames["face_found"].astype(bool)
    prosody = pd.read_parquet(folder / "prosody.parquet") if (folder / "prosody.parquet").exists() else None
    return FusionInputs(
        frames,
        pd.read_parquet(folder / "voice.parquet"),
        pd.read_parquet(folder / "utterances.parquet"),
        [tuple(s) for s in meta["speech_segments"]],
        prosody,
        float(meta["duration_s"]),
        options,
    )


def analyze_clips(
    rows: list[dict], *, root: Path | None, labels_csv: Path, cache_dir: Path | None = None, progress=print
) -> list[dict]:
    """Run the pipeline's streams and fusion on every clip; returns per-clip dicts with the label, the
    windows frame and the stream outputs (``inputs``, a :class:`~multimodal_fer.fusion.FusionInputs`, or None).

    Each clip goes through :func:`~multimodal_fer.pipeline.extract_streams` and
    :func:`~multimodal_fer.pipeline.fuse_streams`, as in the pipeline. With ``cache_dir``, clips
    whose stream outputs are cached are only fused again."""
    from multimodal_fer.pipeline import PipelineOptions, StageError, extract_streams, load_models

    options = PipelineOptions()
    models = load_models(options.asr)
    out = []
    for i, row in enumerate(rows, 1):
        path = evaluation.resolve(row["path"], root, labels_csv)
        label = to_canonical(row["label"])
        if label is None:
            continue
        cached = Path(cache_dir) / cache_key(path, options, models.versions) if cache_dir and path.exists() else None
        windows, inputs, note = None, None, ""
        from_cache = cached is not None and (cached / "meta.json").exists()
        if cached is not None and from_cache:
            inputs, note = load_inputs(cached, options.fusion), " (stream outputs from the cache, fused again)"
        else:
            try:
                streams = extract_streams(path, meta=bucket.SessionMeta(), options=options, models=models)
                inputs = streams.fusion_inputs(options.fusion)
            except StageError as exc:
                progress(f"  {path.name}: not analysed ({exc.stage}: {exc})")
            if inputs is not None and cached is not None:
                save_inputs(inputs, cached)
        windows = inputs.fuse() if inputs is not None else None  # what fuse_streams gives the pipeline
        progress(f"[{i}/{len(rows)}] {path.name}: {label}{note}")
        out.append({"path": str(path), "label": label, "windows": windows, "inputs": inputs, "from_cache": from_cache})
    return out


def ablation(clips: list[dict]) -> dict:
    """Clip-level and window-level accuracy of every variant, on all signal windows and while speaking."""
    report: dict = {"n_clips": len(clips), "variants": {}}
    for c in clips:  # variants fused again from the same stream outputs
        c["refused"] = {
            v: (c["inputs"].fuse(opts) if c.get("inputs") is not None else None) for v, opts in REFUSED.items()
        }
    for variant in VARIANTS:
        entry = {}
        for scope, speaking in (("all_windows", False), ("speaking_windows", True)):
            y_true, y_pred, correct, total = [], [], 0, 0
            for c in clips:
                y_true.append(c["label"])
                w = c["refused"][variant] if variant in REFUSED else c["windows"]
                y_pred.append(None if w is None else clip_prediction(w, variant, speaking_only=speaking))
                if w is not None:
                    k, n = window_accuracy(w, variant, c["label"], speaking_only=speaking)
                    correct, total = correct + k, total + n
            m = evaluation.classification_metrics(y_true, y_pred, EMOTIONS)
            entry[scope] = {
                "clip_accuracy": m["accuracy"],
                "clip_macro_f1": m["macro_f1"],
                "window_accuracy": round(correct / total, 4) if total else float("nan"),
                "n_windows": total,
                "n_correct_windows": correct,
                "predictions": y_pred,
                "metrics": m,
            }
        report["variants"][variant] = entry
    report["labels"] = [c["label"] for c in clips]
    report["paths"] = [c["path"] for c in clips]
    report["clips_from_cache"] = sum(bool(c.get("from_cache")) for c in clips)
    return report


def print_ablation(report: dict) -> None:
    print(
        f"{'variant':<22}{'clip acc (all)':>16}{'window acc (all)':>18}"
        f"{'clip acc (speaking)':>21}{'window acc (speaking)':>23}"
    )
    for v, e in report["variants"].items():
        a, s = e["all_windows"], e["speaking_windows"]
        print(
            f"{v:<22}{a['clip_accuracy']:>16.3f}{a['window_accuracy']:>18.3f}{s['clip_accuracy']:>21.3f}{s['window_accuracy']:>23.3f}"
        )
    print(
        f"clips: {report['n_clips']} ({report.get('clips_from_cache', 0)} re-fused from cached stream outputs); "
        f"windows (all / speaking): {report['variants']['fused']['all_windows']['n_windows']} / "
        f"{report['variants']['fused']['speaking_windows']['n_windows']}"
    )


def clip_rows(clips: list[dict], report: dict) -> list[dict]:
    """Per clip: the label, each stream's and the fusion's clip-level label, the mean weights of the windows
    with signal, and who the speech was attributed to (why the fusion decided as it did)."""
    rows = []
    variants = report["variants"]
    for i, c in enumerate(clips):
        w, inputs = c["windows"], c.get("inputs")
        row = {"clip": Path(c["path"]).name, "label": c["label"]}
        for v in ("face", "voice", "text", "fused"):
            row[v] = variants[v]["all_windows"]["predictions"][i]
        sig = w[w["signal"] != "none"] if w is not None else None
        for k in ("w_face", "w_voice", "w_text"):
            row[k] = round(float(sig[k].mean()), 3) if sig is not None and len(sig) else float("nan")
        row["speaking_windows"] = int(w["patient_speaking"].sum()) if w is not None else 0
        speakers = inputs.utterances["speaker"].value_counts().to_dict() if inputs is not None else {}
        row["utterance_speakers"] = {str(k): int(n) for k, n in speakers.items()}
        rows.append(row)
    return rows


def print_clips(rows: list[dict]) -> None:
    print(
        f"\n{'clip':<22}{'label':<11}{'face':<11}{'voice':<11}{'text':<11}{'fused':<11}"
        f"{'w face/voice/text':<20}{'speaking':>9}  utterances"
    )
    for r in rows:
        ws = f"{r['w_face']:.2f}/{r['w_voice']:.2f}/{r['w_text']:.2f}"
        spk = ", ".join(f"{k}×{n}" for k, n in r["utterance_speakers"].items()) or "-"
        print(
            f"{r['clip'][:21]:<22}{r['label']:<11}{str(r['face']):<11}{str(r['voice']):<11}{str(r['text']):<11}"
            f"{str(r['fused']):<11}{ws:<20}{r['speaking_windows']:>9}  {spk}"
        )


def run(labels_csv: Path, *, root: Path | None = None, out: Path | None = None, cache_dir: Path | None = None) -> dict:
    """Evaluate the whole pipeline on labelled clips (see module docstring)."""
    rows = evaluation.read_labels_csv(labels_csv, ("path", "label"))
    evaluation.check_rows(rows, root=root, labels_csv=labels_csv)  # before the models load
    clips = analyze_clips(rows, root=root, labels_csv=labels_csv, cache_dir=cache_dir)
    report = ablation(clips)
    print_ablation(report)
    per_clip = clip_rows(clips, report)
    print_clips(per_clip)
    fused = report["variants"]["fused"]["all_windows"]["metrics"]
    evaluation.print_report("\nspeaking-aware fusion, clip level:", fused)
    payload = {
        "n": fused["n"],
        "accuracy": fused["accuracy"],
        "macro_f1": fused["macro_f1"],
        "weighted_f1": fused["weighted_f1"],
        "per_class": fused["per_class"],
        "fusion_options": FusionOptions().as_dict(),
        "ablation": {
            v: {s: {k: x for k, x in d.items() if k != "metrics"} for s, d in e.items()}
            for v, e in report["variants"].items()
        },
        "labels": report["labels"],
        "paths": [Path(p).name for p in report["paths"]],
        "clips_from_cache": report["clips_from_cache"],
        "clips": per_clip,
    }
    evaluation.write_json(out, payload)
    return payload
