"""Does the voice model serve women and men, and each speaker, alike on corpora it never heard?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/voice_fairness.py [--out benchmarks/results/voice_fairness.json]

The speech corpora label each speaker's sex (RAVDESS 10 F / 10 M actors, nEMO 4 F /
5 M, EMOVO 3 F / 3 M). Every clip is scored by the shipped recipe (``python -m training.voice``: the same
features, heads, class and corpus balancing and degraded training copies) fitted **without its corpus**
(leave-one-corpus-out, as ``benchmarks/results/voice_loco.json``), on the classes that corpus has. Per
held-out corpus and sex: accuracy with its Wilson 95 % interval, macro-F1 and lowest class recall; per
speaker: accuracy, so the spread between people shows beside the spread between sexes.

Features and degraded copies come from ``.cache/voice`` (the training cache; ≈ 10 min and ≈ 35 min on one
core when absent).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from multimodal_fer.labels import EMOTIONS  # noqa: E402
from multimodal_fer.paths import REPO_DIR  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/voice_fairness.py"
SEX = {"f": "female", "female": "female", "m": "male", "male": "male"}


def sex_of(values) -> np.ndarray:
    """The corpora's sex labels (``F`` / ``M`` / ``female`` / ``male``) as ``female`` / ``male``."""
    out = [SEX.get(str(v).strip().lower()) for v in values]
    if any(v is None for v in out):
        raise ValueError(f"unknown sex label(s): {sorted({str(v) for v, o in zip(values, out) if o is None})}")
    return np.array(out)


def group_scores(pred: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict:
    """Per value of ``groups``: n, accuracy (Wilson 95 %), macro-F1, lowest recall (classes the group holds).

    Parameters
    ----------
    pred, y : np.ndarray, shape (N,)
        Predicted and true class indices into ``EMOTIONS``.
    groups : np.ndarray, shape (N,)
    """
    from multimodal_fer.evaluation import breakdown

    files = [{"path": str(i), "label": EMOTIONS[t], "prediction": EMOTIONS[p]} for i, (t, p) in enumerate(zip(y, pred))]
    rows = [{"path": str(i), "group": str(g)} for i, g in enumerate(groups)]
    return breakdown(files, rows, "group", EMOTIONS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "voice_fairness.json")
    args = ap.parse_args(argv)
    from training.augment import augmented_features
    from training.voice import AUGMENT, _limit_threads, fitter, load_corpora
    from training.voice_corpora import CORPORA, leave_one_corpus_out, restricted_predictions

    _limit_threads()
    t0 = time.perf_counter()
    x, table = load_corpora(verbose=False)
    augmented = [np.vstack([augmented_features(n, c, compute=True) for n in CORPORA]) for c in AUGMENT]
    _, proba7 = leave_one_corpus_out(x, table, fitter(x, table, augmented=augmented))
    y7, corpus = table["y7"].to_numpy(), table["corpus"].to_numpy()
    sex, speaker = sex_of(table["sex"]), table["speaker"].astype(str).to_numpy()
    results = {}
    for name in CORPORA:
        rows = corpus == name
        pred = restricted_predictions(proba7[rows], np.unique(y7[rows]))
        by_speaker = group_scores(pred, y7[rows], speaker[rows])
        results[name] = {
            "n": int(rows.sum()),
            "accuracy": round(float((pred == y7[rows]).mean()), 4),
            "by_sex": group_scores(pred, y7[rows], sex[rows]),
            "by_speaker": {k: {"sex": str(sex[rows][speaker[rows] == k][0]), "n": v["n"], "accuracy": v["accuracy"]}
                           for k, v in by_speaker.items()},
        }
        accs = {s: [v["accuracy"] for v in results[name]["by_speaker"].values() if v["sex"] == s] for s in SEX.values()}
        results[name]["speaker_accuracy_range"] = {s: [min(a), max(a)] for s, a in accs.items() if a}
        print(name, {s: (v["n"], v["accuracy"], v["accuracy_95"]) for s, v in results[name]["by_sex"].items()},
              "speakers:", results[name]["speaker_accuracy_range"], flush=True)
    payload = {"results": results, "augment": list(AUGMENT), "python": platform.python_version(),
               "command": COMMAND, "seconds": round(time.perf_counter() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
