"""Can the face's calibration use how much its ensemble members agree? Leave-one-corpus-out ECE.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_calibration_agreement.py [--out benchmarks/results/face_calibration_agreement.json]

The shipped face calibration (``benchmarks/face_calibration_rules.py``) is one pair (temperature ``T``,
uniform share ``s``) for every row, and no fitting rule of that pair serves all three unseen corpora:
ExpW stays near 0.10 whichever two corpora it is fitted on. A row whose members (landmark gradient
boosting, landmark MLP, CNN) disagree is wrong more often, on every corpus, so a per-row share
``s_i = sigmoid(a + b * d_i)`` of the uniform distribution, ``d_i`` a disagreement of that row's members,
might transfer where one ``s`` does not. The label never changes.

Families of ``d`` (``none`` is the shipped form, ``b = 0``):

- ``disagree``: share of members whose top label differs from the ensemble's;
- ``total_variation``: mean total-variation distance of the members' rows to the ensemble's;
- ``member_doubt``: 1 − the members' mean probability of the ensemble's label;
- ``entropy``: the ensemble row's entropy / log 7 (no members needed).

Each family's (log T, a, b) is fitted by negative log-likelihood (Nelder–Mead) on two corpora and scored by
the ECE of the third, each held out in turn. Cost: the members of 32,381 faces, ≈ 5 min on one core
with a warm face cache (≈ 13 more when cold).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from multimodal_fer.paths import REPO_DIR  # noqa: E402
from multimodal_fer.temperature import apply_temperature  # noqa: E402
from multimodal_fer.temperature import expected_calibration_error as ece  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_calibration_agreement.py"
OUT = REPO_DIR / "benchmarks" / "results" / "face_calibration_agreement.json"
STARTS = ((0.2, -1.0, 0.0), (0.0, -2.0, 2.0), (0.3, -3.0, 4.0))  # Nelder–Mead starts (log T, a, b)
LOG_T_RANGE = (np.log(0.25), np.log(8.0))  # the temperatures training.calibration tries


def disagreement(members: list[np.ndarray], proba: np.ndarray) -> dict[str, np.ndarray]:
    """The per-row disagreement measures of the module docstring, each (N,) in [0, 1]."""
    label = proba.argmax(axis=1)
    rows = np.arange(len(proba))
    k = proba.shape[1]
    return {
        "disagree": np.mean([m.argmax(axis=1) != label for m in members], axis=0),
        "total_variation": np.mean([0.5 * np.abs(m - proba).sum(axis=1) for m in members], axis=0),
        "member_doubt": 1.0 - np.mean([m[rows, label] for m in members], axis=0),
        "entropy": -(proba * np.log(np.clip(proba, 1e-12, 1.0))).sum(axis=1) / np.log(k),
    }


def per_row_calibrate(proba: np.ndarray, d: np.ndarray, params) -> np.ndarray:
    """``(1 − s_i)·softmax(log p / T) + s_i / K`` with ``T = exp(params[0])`` (held in :data:`LOG_T_RANGE`),
    ``s_i = sigmoid(params[1] + params[2]·d_i)``."""
    log_t, a, b = params
    q = apply_temperature(proba, temperature=float(np.exp(np.clip(log_t, *LOG_T_RANGE))))
    s = 1.0 / (1.0 + np.exp(-(a + b * d)))
    return (1.0 - s)[:, None] * q + (s / proba.shape[1])[:, None]


def fit_per_row(proba: np.ndarray, y: np.ndarray, d: np.ndarray, *, fixed_share: bool = False) -> tuple[float, float, float]:
    """(log T, a, b) minimising the negative log-likelihood of ``y``; ``fixed_share``: b = 0 (one ``s`` for all rows)."""
    from scipy.optimize import minimize

    rows = np.arange(len(y))

    def loss(v):
        params = (v[0], v[1], 0.0) if fixed_share else v
        return -np.log(np.clip(per_row_calibrate(proba, d, params)[rows, y], 1e-12, 1.0)).mean()

    best = min((minimize(loss, s[:2] if fixed_share else s, method="Nelder-Mead",
                         options={"maxiter": 2000, "xatol": 1e-4, "fatol": 1e-7}) for s in STARTS), key=lambda r: r.fun)
    v = [float(np.clip(best.x[0], *LOG_T_RANGE))] + [float(x) for x in best.x[1:]]
    return (v[0], v[1], 0.0) if fixed_share else (v[0], v[1], v[2])


def compare_families(proba: np.ndarray, y: np.ndarray, groups: np.ndarray, measures: dict[str, np.ndarray]) -> dict:
    """Held-out ECE of ``none`` and of each measure's family, each group held out in turn (fitted on the others)."""
    names = [str(g) for g in np.unique(groups)]
    out: dict = {"n": {g: int((groups == g).sum()) for g in names},
                 "ece_before": {g: ece(proba[groups == g], y[groups == g]) for g in names}, "families": {}}
    for family, d in {"none": np.zeros(len(y)), **measures}.items():
        row: dict = {"held_out": {}}
        for g in names:
            test = groups == g
            params = fit_per_row(proba[~test], y[~test], d[~test], fixed_share=family == "none")
            row["held_out"][g] = {"ece": ece(per_row_calibrate(proba[test], d[test], params), y[test]),
                                  "temperature": float(np.exp(params[0])), "a": params[1], "b": params[2]}
        eces = [r["ece"] for r in row["held_out"].values()]
        row |= {"ece_mean": float(np.mean(eces)), "ece_max": float(np.max(eces))}
        out["families"][family] = row
    return out


def cross_corpus_members() -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """The committed face model's uncalibrated ensemble rows, its members' rows, labels and corpus names on
    the corpora it never saw (:func:`training.fusion_params.face_cross_corpus_inputs`)."""
    from multimodal_fer.face.model import FaceModel
    from training.fusion_params import face_cross_corpus_inputs

    model = FaceModel.load()
    ps, ms, ys, gs = [], [], [], []
    for name, x, crops, y in face_cross_corpus_inputs():
        members = model.member_probabilities(x, crops)  # each member once (the CNN is the cost)
        ps.append(model.combine(members))
        ms.append(list(members.values()))
        ys.append(y)
        gs.append(np.full(len(y), name))
        print(f"  {name}: {len(y)} faces", flush=True)
    members = [np.vstack([m[i] for m in ms]) for i in range(len(ms[0]))]
    return np.vstack(ps), members, np.concatenate(ys), np.concatenate(gs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    start = time.time()
    proba, members, y, groups = cross_corpus_members()
    report = {"command": COMMAND, **compare_families(proba, y, groups, disagreement(members, proba))}
    label = proba.argmax(axis=1)
    agree = np.mean([m.argmax(axis=1) == label for m in members], axis=0) == 1.0
    report["accuracy"] = {g: {"all": float((label == y)[groups == g].mean()),
                              "members_agree": float((label == y)[(groups == g) & agree].mean()),
                              "share_agree": float(agree[groups == g].mean())} for g in report["n"]}
    report["seconds"] = round(time.time() - start, 1)
    print(f"{'family':<16} {'mean ECE':>9} {'max ECE':>8}  held out: " + ", ".join(report["n"]))
    for family, row in report["families"].items():
        cells = ", ".join(f"{r['ece']:.3f}" for r in row["held_out"].values())
        print(f"{family:<16} {row['ece_mean']:>9.3f} {row['ece_max']:>8.3f}  {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
