"""Fit a stream's calibration on cross-corpus predictions (the run-time side: :mod:`multimodal_fer.temperature`)."""

from __future__ import annotations

import numpy as np

from multimodal_fer.temperature import ECE_BINS, apply_temperature, calibrate, expected_calibration_error

T_GRID = np.exp(np.linspace(np.log(0.25), np.log(8.0), 161))  # temperatures tried (log-spaced)
S_GRID = np.linspace(0.0, 0.6, 61)  # shares of the uniform distribution tried (steps of 0.01)


def nll(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = np.asarray(proba, dtype=np.float64)[np.arange(len(y)), np.asarray(y)]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


def fit_temperature(proba: np.ndarray, y: np.ndarray, *, grid: np.ndarray = T_GRID) -> float:
    """The temperature of ``grid`` that minimises the negative log-likelihood of ``y``."""
    losses = [nll(apply_temperature(proba, temperature=t), y) for t in grid]
    return float(grid[int(np.argmin(losses))])


def fit_temperature_smoothing(
    proba: np.ndarray, y: np.ndarray, *, grid: np.ndarray = T_GRID, smoothing_grid: np.ndarray = S_GRID
) -> tuple[float, float]:
    """The (temperature, smoothing) of the two grids that minimises the negative log-likelihood of ``y``
    under :func:`multimodal_fer.temperature.calibrate`."""
    y = np.asarray(y)
    k = np.asarray(proba).shape[1]
    best = (np.inf, 1.0, 0.0)
    for t in grid:
        q = apply_temperature(proba, temperature=t)[np.arange(len(y)), y]  # only the true class matters
        for s in smoothing_grid:
            loss = float(-np.log(np.clip((1.0 - s) * q + s / k, 1e-12, 1.0)).mean())
            if loss < best[0]:
                best = (loss, float(t), float(s))
    return best[1], best[2]


def _fit(proba: np.ndarray, y: np.ndarray, smoothing: bool) -> tuple[float, float]:
    return fit_temperature_smoothing(proba, y) if smoothing else (fit_temperature(proba, y), 0.0)


def reliability_bins(proba: np.ndarray, y: np.ndarray, *, n_bins: int = ECE_BINS) -> list[dict]:
    """The points of a reliability diagram: per equal-width bin of the top probability that holds rows, its
    mean confidence, the accuracy of its top labels and its row count (the terms of the ECE)."""
    p, y = np.asarray(proba, dtype=np.float64), np.asarray(y)
    conf, hit = p.max(axis=1), p.argmax(axis=1) == y
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    return [{"confidence": round(float(conf[bins == b].mean()), 4), "accuracy": round(float(hit[bins == b].mean()), 4),
             "n": int((bins == b).sum())} for b in range(n_bins) if (bins == b).any()]


def leave_one_group_out_ece(proba: np.ndarray, y: np.ndarray, groups: np.ndarray, *, smoothing: bool = False) -> dict:
    """ECE per group before and after a calibration fitted on the *other* groups (honest), the reliability
    diagram of all groups so held out (``reliability``: before / after), and the calibration fitted on all
    rows (the one to ship): a temperature, and with ``smoothing`` also the share of the uniform distribution
    mixed in after it (:func:`multimodal_fer.temperature.calibrate`)."""
    out: dict = {"per_group": {}}
    after = np.empty_like(np.asarray(proba, dtype=np.float64))
    for g in np.unique(groups):
        test = groups == g
        t, s = _fit(proba[~test], y[~test], smoothing) if (~test).any() else (1.0, 0.0)
        after[test] = calibrate(proba[test], temperature=t, smoothing=s)
        out["per_group"][str(g)] = {
            "n": int(test.sum()),
            "temperature_from_others": t,
            **({"smoothing_from_others": s} if smoothing else {}),
            "ece_before": expected_calibration_error(proba[test], y[test]),
            "ece_after": expected_calibration_error(after[test], y[test]),
        }
    out["temperature"], s = _fit(proba, y, smoothing)
    if smoothing:
        out["smoothing"] = s
    out["ece_before"] = expected_calibration_error(proba, y)
    out["ece_after_loo_mean"] = float(np.mean([r["ece_after"] for r in out["per_group"].values()]))
    out["ece_before_mean"] = float(np.mean([r["ece_before"] for r in out["per_group"].values()]))
    out["reliability"] = {"before": reliability_bins(proba, y), "after": reliability_bins(after, y)}
    return out
