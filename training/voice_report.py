"""The voice training run's report: cross-corpus table, RAVDESS CV, calibration, robustness, card."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.paths import REPO_DIR
from multimodal_fer.temperature import calibrate
from multimodal_fer.voice.model import (
    ARTEFACT_FILE,
    FEATURE_NAMES,
    FEATURE_VERSION,
    VoiceModel,
    fold_to_canonical,
)
from training.calibration import leave_one_group_out_ece
from training.fusion_params import cohen_kappa
from training.voice import HYPER, fitter, plot_confusion, ravdess_actor_cv
from training.voice_corpora import CORPORA, corpus_metrics, leave_one_corpus_out, restricted_predictions

BENCHMARK_JSON = REPO_DIR / "benchmarks" / "results" / "voice_loco.json"
COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python -m training.voice"
BASELINE_COMMAND = ("git show fb564a2:multimodal_fer/voice/artefacts/voice_model.npz > /tmp/voice-0.2.0.npz && "
                    f"{COMMAND} --baseline /tmp/voice-0.2.0.npz")


def robustness_table(x: np.ndarray, table: pd.DataFrame, loco_heads: dict, calib: dict) -> dict:
    """Accuracy of each corpus's leave-one-corpus-out model on degraded copies of a fixed sample."""
    from training.audio_degrade import CONDITIONS
    from training.robustness import degraded_features, sample_rows

    out: dict = {"conditions": list(CONDITIONS), "per_corpus": {}}
    for name in CORPORA:
        in_corpus = table["corpus"].to_numpy() == name
        t = table[in_corpus].reset_index(drop=True)
        rows = sample_rows(t)
        feats = {"clean": x[in_corpus][rows], **degraded_features(name, t, rows)}
        y7 = t["y7"].to_numpy()[rows]
        head = loco_heads[name]
        out["per_corpus"][name] = {
            c: corpus_metrics(calibrated(head.proba(f), calib), y7)["accuracy"]
            for c, f in feats.items()
        }
        out["per_corpus"][name]["n"] = int(len(rows))
    out["mean"] = {c: float(np.mean([out["per_corpus"][n][c] for n in CORPORA])) for c in CONDITIONS}
    return out


def calibrated(proba8: np.ndarray, calib: dict) -> np.ndarray:
    """What :meth:`VoiceModel.proba_from_features` returns for the head's 8-class rows under ``calib``
    (:func:`training.calibration.leave_one_group_out_ece`'s temperature and smoothing): folded, then calibrated."""
    return calibrate(fold_to_canonical(proba8), temperature=calib["temperature"], smoothing=calib["smoothing"])


def build_report(x: np.ndarray, table: pd.DataFrame, *, out: Path, baseline: Path | None, robustness: bool,
                 augmented: list[np.ndarray] = (), augment: list[str] = ()) -> dict:
    """Evaluate (LOCO, RAVDESS CV, calibration, robustness), fit the final model, save it. ``augmented``:
    features of degraded copies of every clip (aligned with ``x``), used in every training set."""
    fit = fitter(x, table, augmented=augmented)
    print("leave-one-corpus-out ...", flush=True)
    loco, proba7 = leave_one_corpus_out(x, table, fit)
    loco_heads = dict(zip(CORPORA, fit.heads))
    y7, corpus = table["y7"].to_numpy(), table["corpus"].to_numpy()
    pred = np.zeros(len(y7), dtype=int)
    for name in CORPORA:
        rows = corpus == name
        pred[rows] = restricted_predictions(proba7[rows], np.unique(y7[rows]))
    pooled = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=int)
    np.add.at(pooled, (y7, pred), 1)
    loco["confusion_pooled"] = {"labels": list(EMOTIONS), "matrix": pooled.tolist()}
    loco["kappa_pooled"] = cohen_kappa(pooled)[0]
    calib = leave_one_group_out_ece(proba7, y7, corpus, smoothing=True)
    print(f"  kappa {loco['kappa_pooled']:.3f}; temperature {calib['temperature']:.2f}, smoothing {calib['smoothing']:.2f}: "
          f"ECE {calib['ece_before_mean']:.3f} -> "
          f"{calib['ece_after_loo_mean']:.3f} (mean over held-out corpora)", flush=True)
    print("RAVDESS actor-independent CV (other corpora in training) ...", flush=True)
    fit_cv = fitter(x, table, augmented=augmented)
    ravdess_cv, _ = ravdess_actor_cv(x, table, fit_cv)
    print(f"  acc8 {ravdess_cv['classes_8']['accuracy']:.3f} acc7 {ravdess_cv['classes_7']['accuracy']:.3f}", flush=True)
    rob = robustness_table(x, table, loco_heads, calib) if robustness else None
    final = fitter(x, table, augmented=augmented)
    final(np.arange(len(x)))
    head = final.heads[0]
    out.mkdir(parents=True, exist_ok=True)
    artefact = out / ARTEFACT_FILE
    VoiceModel({"global": head}, version="unsaved", temperature=calib["temperature"], smoothing=calib["smoothing"]).save(artefact)
    model = VoiceModel.load(artefact)
    assert np.allclose(model.proba_from_features(x[:20]), calibrated(head.proba(x[:20]), calib), atol=1e-4)
    base = None
    if baseline is not None:
        from training.voice import baseline_loco

        base = baseline_loco(baseline, x, table)
    import sklearn

    return {
        "version": model.version,
        "task": "expressed emotion from voice (acoustic), RAVDESS + nEMO + EMOVO",
        "data": {n: {"n_clips": int((corpus == n).sum()), "n_speakers": int(table.loc[corpus == n, "speaker"].nunique()),
                     "classes": sorted({EMOTIONS[i] for i in y7[corpus == n]}, key=EMOTIONS.index)} for n in CORPORA},
        "hyper": HYPER,
        "weights": "balanced: every corpus the same total weight, every class the same share inside it",
        "augment": list(augment),
        "leave_one_corpus_out": loco,
        "leave_one_corpus_out_ece": calib,
        "temperature": calib["temperature"],
        "smoothing": calib["smoothing"],
        "ravdess_actor_cv": ravdess_cv,
        "robustness": rob,
        "baseline": base,
        "feature_version": FEATURE_VERSION,
        "n_features": len(FEATURE_NAMES),
        "artefact": ARTEFACT_FILE,
        "artefact_bytes": artefact.stat().st_size,
        "command": BASELINE_COMMAND if baseline is not None else COMMAND,
        "env": {"python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__},
    }


def recalibrate(x: np.ndarray, table: pd.DataFrame, *, out: Path, augmented: list[np.ndarray],
                robustness: bool = True) -> dict:
    """Refit the calibration of the artefact in ``out`` (its heads unchanged) on this recipe's leave-one-corpus-out
    predictions, as :func:`build_report` fits it; returns its ``metrics.json`` report with the new calibration,
    the new version and a ``recalibrated`` record (this run's leave-one-corpus-out accuracies beside the
    training run's: the features of a machine may differ a little). ``robustness``: recompute the degraded-audio
    table with this run's leave-one-corpus-out models and the new calibration (else the training run's stays)."""
    import datetime

    report = json.loads((out / "metrics.json").read_text())
    fit = fitter(x, table, augmented=augmented)
    loco, proba7 = leave_one_corpus_out(x, table, fit)
    calib = leave_one_group_out_ece(proba7, table["y7"].to_numpy(), table["corpus"].to_numpy(), smoothing=True)
    print(f"  temperature {calib['temperature']:.2f}, smoothing {calib['smoothing']:.2f}: ECE {calib['ece_before_mean']:.3f} -> "
          f"{calib['ece_after_loo_mean']:.3f} (mean over held-out corpora)", flush=True)
    artefact = out / ARTEFACT_FILE
    model = VoiceModel.load(artefact)
    model.temperature, model.smoothing = calib["temperature"], calib["smoothing"]
    model.save(artefact)
    report |= {"version": VoiceModel.version_of_artefact(artefact), "leave_one_corpus_out_ece": calib,
               "temperature": calib["temperature"], "smoothing": calib["smoothing"],
               "artefact_bytes": artefact.stat().st_size}
    if robustness:
        report["robustness"] = robustness_table(x, table, dict(zip(CORPORA, fit.heads)), calib)
    report["recalibrated"] = {
        "date": datetime.date.today().isoformat(), "command": f"{COMMAND} --recalibrate",
        "note": "the classifier of the training run, its calibration refitted in the 7 canonical classes (where it is "
                "applied and where the fusion's prior is calibrated) with a share of the uniform distribution"
                + ("; the robustness table recomputed with it (this run's leave-one-corpus-out models)." if robustness
                   else "."),
        "leave_one_corpus_out_accuracy": {n: loco[n]["accuracy"] for n in CORPORA},
        "robustness_recomputed": robustness,
    }
    return report


def _loco_rows(report: dict) -> str:
    loco, base = report["leave_one_corpus_out"], report.get("baseline") or {}
    lines = ["| held-out corpus | classes | n | chance | voice 0.3.0 acc | macro-F1 | voice 0.2.0 acc | macro-F1 |",
             "|---|---|---|---|---|---|---|---|"]
    for n in CORPORA:
        m, b = loco[n], base.get(n)
        old = f"{b['accuracy']:.3f} | {b['macro_f1']:.3f}" if b else "in-domain (trained on it) | –"
        lines.append(f"| {n} | {len(m['classes'])} | {m['n']} | {m['chance']:.3f} | **{m['accuracy']:.3f}** | "
                     f"{m['macro_f1']:.3f} | {old} |")
    return "\n".join(lines)


def _recall_rows(report: dict) -> str:
    loco = report["leave_one_corpus_out"]
    lines = ["| held-out | " + " | ".join(EMOTIONS) + " |", "|---|" + "---|" * len(EMOTIONS)]
    for n in CORPORA:
        r = loco[n]["recall"]
        lines.append(f"| {n} | " + " | ".join(f"{r[e]:.2f}" if e in r else "–" for e in EMOTIONS) + " |")
    return "\n".join(lines)


def _robust_rows(report: dict) -> str:
    rob = report.get("robustness")
    if not rob:
        return "(not run: `--no-robustness`)"
    conds = rob["conditions"]
    lines = ["| held-out corpus (n) | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
    for n in CORPORA:
        r = rob["per_corpus"][n]
        lines.append(f"| {n} ({r['n']}) | " + " | ".join(f"{r[c]:.3f}" for c in conds) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{rob['mean'][c]:.3f}**" for c in conds) + " |")
    return "\n".join(lines)


def write_outputs(report: dict, out: Path) -> None:
    """metrics.json, confusion PNG, MODEL_CARD.md and benchmarks/results/voice_loco.json."""
    cv = report["ravdess_actor_cv"]
    plot_confusion(cv["classes_8"], cv["classes_7"], out / "confusion_ravdess_cv.png",
                   title="voice 0.3.0, RAVDESS actor-independent 5-fold CV (other corpora in training)")
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    BENCHMARK_JSON.parent.mkdir(parents=True, exist_ok=True)
    keep = ("version", "leave_one_corpus_out", "leave_one_corpus_out_ece", "temperature", "smoothing", "recalibrated",
            "robustness", "baseline", "command")
    bench = {k: report[k] for k in keep if k in report}
    bench["ravdess_actor_cv"] = {"accuracy_8": cv["classes_8"]["accuracy"], "macro_f1_8": cv["classes_8"]["macro_f1"],
                                 "accuracy_7": cv["classes_7"]["accuracy"]}
    BENCHMARK_JSON.write_text(json.dumps(bench, indent=2) + "\n")
    from training.voice_card import model_card

    (out / "MODEL_CARD.md").write_text(model_card(report, _loco_rows(report), _recall_rows(report), _robust_rows(report)))
