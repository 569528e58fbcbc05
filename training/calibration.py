"""Fit a stream's temperature on cross-corpus predictions (the run-time side: :mod:`multimodal_fer.temperature`)."""

from __future__ import annotations

import numpy as np

from multimodal_fer.temperature import apply_temperature, expected_calibration_error

T_GRID = np.exp(np.linspace(np.log(0.25), np.log(8.0), 161))  # temperatures tried (log-spaced)


def nll(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = np.asarray(proba, dtype=np.float64)[np.arange(len(y)), np.asarray(y)]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


def fit_temperature(proba: np.ndarray, y: np.ndarray, *, grid: np.ndarray = T_GRID) -> float:
    """The temperature of ``grid`` that minimises the negative log-likelihood of ``y``."""
    losses = [nll(apply_temperature(proba, temperature=t), y) for t in grid]
    return float(grid[int(np.argmin(losses))])


def leave_one_group_out_ece(proba: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict:
    """ECE per group before and after a temperature fitted on the *other* groups (honest), and the
    temperature fitted on all rows (the one to ship)."""
    out: dict = {"per_group": {}}
    for g in np.unique(groups):
        test = groups == g
        t = fit_temperature(proba[~test], y[~test]) if (~test).any() else 1.0
        out["per_group"][str(g)] = {
            "n": int(test.sum()),
            "temperature_from_others": t,
            "ece_before": expected_calibration_error(proba[test], y[test]),
            "ece_after": expected_calibration_error(apply_temperature(proba[test], temperature=t), y[test]),
        }
    out["temperature"] = fit_temperature(proba, y)
    out["ece_before"] = expected_calibration_error(proba, y)
    out["ece_after_loo_mean"] = float(np.mean([r["ece_after"] for r in out["per_group"].values()]))
    out["ece_before_mean"] = float(np.mean([r["ece_before"] for r in out["per_group"].values()]))
    return out
