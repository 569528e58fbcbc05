"""benchmarks/face_calibration_rules.py on synthetic corpora that are over-confident by different amounts."""

import numpy as np

from benchmarks.face_calibration_rules import compare_rules, loss_tables


def corpora(seed=0):
    rng = np.random.default_rng(seed)
    ps, ys, gs = [], [], []
    for name, sharpness, n in (("a", 1.0, 600), ("b", 3.0, 300), ("c", 6.0, 200)):  # c the most over-confident
        y = rng.integers(0, 7, n)
        logits = rng.normal(0, 1, (n, 7))
        logits[np.arange(n), y] += 1.0  # right more often than chance
        p = np.exp(sharpness * logits)
        ps.append(p / p.sum(axis=1, keepdims=True))
        ys.append(y)
        gs.append(np.full(n, name))
    return np.vstack(ps), np.concatenate(ys), np.concatenate(gs)


T_GRID = np.exp(np.linspace(np.log(0.25), np.log(8.0), 25))
S_GRID = np.linspace(0.0, 0.6, 13)


def test_loss_tables_cover_the_grid_and_the_identity_is_the_raw_model():
    p, y, _ = corpora()
    nll, err = loss_tables(p, y, T_GRID, S_GRID)
    assert nll.shape == err.shape == (len(T_GRID), len(S_GRID))
    assert np.all((err >= 0) & (err <= 1)) and np.all(nll > 0)
    i = int(np.argmin(np.abs(T_GRID - 1.0)))
    raw = -np.log(p[np.arange(len(y)), y]).mean()
    assert abs(nll[i, 0] - raw) < 0.05 * raw  # T = 1, s = 0 is (near) the model as it is


def test_every_rule_is_scored_on_every_held_out_corpus_and_no_rule_beats_the_oracle():
    p, y, g = corpora()
    report = compare_rules(p, y, g, T_GRID, S_GRID)
    assert set(report["rules"]) == {"pooled_nll", "balanced_nll", "pooled_ece", "balanced_ece", "minimax_ece"}
    for row in report["rules"].values():
        assert set(row["held_out"]) == {"a", "b", "c"}
        for corpus, r in row["held_out"].items():
            assert report["oracle"][corpus] <= r["ece"] + 1e-12  # the oracle is the grid's best on that corpus
            assert r["temperature"] in T_GRID and r["smoothing"] in S_GRID
        assert row["ece_max"] >= row["ece_mean"]
    # a corpus fitted on two less over-confident ones stays worse calibrated than its own best fit
    assert report["rules"]["pooled_nll"]["held_out"]["c"]["ece"] > report["oracle"]["c"]
