"""How the face calibration is fitted, compared leave-one-corpus-out: can any rule serve every unseen corpus?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_calibration_rules.py [--out benchmarks/results/face_calibration_rules.json]

The face stream's calibration is a pair (temperature ``T``, uniform share ``s``,
:func:`multimodal_fer.temperature.calibrate`), fitted by ``training.fusion_params --fit`` on the
committed model's probabilities of the corpora it never trained on (AffectNet-48, ExpW, SFEW:
:func:`training.fusion_params.face_cross_corpus`; ≈ 13 min on one core when the face cache is cold).
Each rule below chooses (T, s) on a grid from two corpora and is scored by the expected calibration
error (ECE) of the third, each corpus held out in turn:

- ``pooled_nll``: negative log-likelihood over the rows of both (the shipped rule);
- ``balanced_nll``: the two corpora's mean NLLs averaged (each corpus the same weight);
- ``pooled_ece``, ``balanced_ece``: the ECE itself, pooled or averaged over the two;
- ``minimax_ece``: the larger of the two corpora's ECEs.

``oracle`` is the best ECE of the grid on each corpus by itself: what a calibration fitted on the
held-out corpus could reach (never a result, only the size of the gap a fixed rule leaves).
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

COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_calibration_rules.py"
OUT = REPO_DIR / "benchmarks" / "results" / "face_calibration_rules.json"


def loss_tables(proba: np.ndarray, y: np.ndarray, t_grid: np.ndarray, s_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NLL and ECE of one corpus for every (T, s) of the grids: two arrays of shape (len(t_grid), len(s_grid))."""
    k = proba.shape[1]
    nll, err = np.zeros((len(t_grid), len(s_grid))), np.zeros((len(t_grid), len(s_grid)))
    for i, t in enumerate(t_grid):
        q = apply_temperature(proba, temperature=t)
        true = q[np.arange(len(y)), y]
        for j, s in enumerate(s_grid):
            nll[i, j] = -np.log(np.clip((1 - s) * true + s / k, 1e-12, 1.0)).mean()
            err[i, j] = ece((1 - s) * q + s / k, y)
    return nll, err


def compare_rules(proba: np.ndarray, y: np.ndarray, groups: np.ndarray, t_grid: np.ndarray, s_grid: np.ndarray) -> dict:
    """Held-out ECE of each fitting rule (module docstring), the (T, s) it chose per held-out corpus and on all."""
    names = [str(g) for g in np.unique(groups)]
    tables = {g: loss_tables(proba[groups == g], y[groups == g], t_grid, s_grid) for g in names}
    n = {g: int((groups == g).sum()) for g in names}
    rules = {
        "pooled_nll": lambda gs: sum(tables[g][0] * n[g] for g in gs),
        "balanced_nll": lambda gs: sum(tables[g][0] for g in gs),
        "pooled_ece": lambda gs: sum(tables[g][1] * n[g] for g in gs),
        "balanced_ece": lambda gs: sum(tables[g][1] for g in gs),
        "minimax_ece": lambda gs: np.max([tables[g][1] for g in gs], axis=0),
    }

    def chosen(objective: np.ndarray) -> tuple[int, int]:
        i, j = np.unravel_index(int(np.argmin(objective)), objective.shape)
        return int(i), int(j)

    out: dict = {"n": n, "rules": {}}
    for rule, objective in rules.items():
        row: dict = {"held_out": {}}
        for g in names:
            i, j = chosen(objective([h for h in names if h != g]))
            row["held_out"][g] = {"temperature": float(t_grid[i]), "smoothing": float(s_grid[j]),
                                  "ece": float(tables[g][1][i, j])}
        eces = [r["ece"] for r in row["held_out"].values()]
        i, j = chosen(objective(names))
        row |= {"ece_mean": float(np.mean(eces)), "ece_max": float(np.max(eces)),
                "fitted_on_all": {"temperature": float(t_grid[i]), "smoothing": float(s_grid[j])}}
        out["rules"][rule] = row
    out["oracle"] = {g: float(tables[g][1].min()) for g in names}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from training.calibration import S_GRID, T_GRID
    from training.fusion_params import face_cross_corpus

    start = time.time()
    proba, y, groups = face_cross_corpus()
    t_grid, s_grid = T_GRID[::4], S_GRID[::2]  # every 4th temperature (x1.09 apart), smoothing steps of 0.02
    report = {"command": COMMAND, "grid": {"temperatures": len(t_grid), "smoothing_step": float(s_grid[1] - s_grid[0])},
              **compare_rules(proba, np.asarray(y), np.asarray(groups), t_grid, s_grid),
              "seconds": round(time.time() - start, 1)}
    print(f"{'rule':<14} {'mean ECE':>9} {'max ECE':>8}  held out: " + ", ".join(report["n"]))
    for rule, row in report["rules"].items():
        cells = ", ".join(f"{r['ece']:.3f} (T {r['temperature']:.2f}, s {r['smoothing']:.2f})" for r in row["held_out"].values())
        print(f"{rule:<14} {row['ece_mean']:>9.3f} {row['ece_max']:>8.3f}  {cells}")
    print("oracle (each corpus fitted on itself): " + ", ".join(f"{g} {v:.3f}" for g, v in report["oracle"].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
