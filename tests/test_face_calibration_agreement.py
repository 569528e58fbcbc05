"""benchmarks/face_calibration_agreement.py on synthetic corpora whose share of hard (disputed) rows differs."""

import numpy as np

from benchmarks.face_calibration_agreement import compare_families, disagreement, fit_per_row, per_row_calibrate

K = 7


def corpus(n, hard_share, rng):
    """Rows 0.9 sure of their label; right 85 % of the time where the members agree, 25 % where two of
    three members point elsewhere (the hard rows)."""
    y = rng.integers(0, K, n)
    hard = rng.random(n) < hard_share
    right = rng.random(n) < np.where(hard, 0.25, 0.85)
    label = np.where(right, y, (y + rng.integers(1, K, n)) % K)
    proba = np.full((n, K), 0.1 / (K - 1))
    proba[np.arange(n), label] = 0.9
    other = np.roll(proba, 1, axis=1)  # a member sure of the next class
    members = [proba, np.where(hard[:, None], other, proba), np.where(hard[:, None], other, proba)]
    return proba, members, y


def corpora(seed=0):
    rng = np.random.default_rng(seed)
    parts = [corpus(n, h, rng) for n, h in ((1500, 0.1), (1500, 0.5), (1500, 0.85))]
    proba = np.vstack([p for p, _, _ in parts])
    members = [np.vstack([m[i] for _, m, _ in parts]) for i in range(3)]
    y = np.concatenate([t for _, _, t in parts])
    groups = np.repeat(["a", "b", "c"], 1500)
    return proba, members, y, groups


def test_disagreement_measures_are_in_range_and_zero_when_members_agree():
    proba, members, y, _ = corpora()
    measures = disagreement(members, proba)
    assert set(measures) == {"disagree", "total_variation", "member_doubt", "entropy"}
    for d in measures.values():
        assert d.shape == (len(y),) and np.all((d >= 0) & (d <= 1 + 1e-12))
    same = disagreement([proba, proba, proba], proba)
    assert np.all(same["disagree"] == 0) and np.allclose(same["total_variation"], 0)
    hard = measures["disagree"] > 0
    assert np.all(measures["total_variation"][hard] > measures["total_variation"][~hard].max())


def test_per_row_calibration_keeps_the_label_and_floors_each_row_by_its_own_share():
    proba, members, _, _ = corpora()
    d = disagreement(members, proba)["disagree"]
    q = per_row_calibrate(proba, d, (0.3, -2.0, 3.0))
    assert np.allclose(q.sum(axis=1), 1.0)
    assert np.array_equal(q.argmax(axis=1), proba.argmax(axis=1))
    s = 1 / (1 + np.exp(-(-2.0 + 3.0 * d)))
    assert np.all(q.min(axis=1) >= s / K - 1e-12)
    assert q[d > 0].max(axis=1).mean() < q[d == 0].max(axis=1).mean()  # disputed rows are made less sure


def test_fit_with_b_fixed_at_zero_is_one_share_for_every_row():
    proba, members, y, _ = corpora()
    d = disagreement(members, proba)["disagree"]
    log_t, a, b = fit_per_row(proba, y, d, fixed_share=True)
    assert b == 0.0 and np.isfinite(log_t) and np.isfinite(a)
    assert fit_per_row(proba, y, d)[2] > 0  # free b: more doubt where members disagree


def test_a_share_that_follows_disagreement_transfers_where_one_share_does_not():
    proba, members, y, groups = corpora()
    report = compare_families(proba, y, groups, disagreement(members, proba))
    assert set(report["families"]) == {"none", "disagree", "total_variation", "member_doubt", "entropy"}
    for row in report["families"].values():
        assert set(row["held_out"]) == {"a", "b", "c"} and row["ece_max"] >= row["ece_mean"]
    # the corpora differ only in their share of disputed rows: one share fitted on two misses the third
    assert report["families"]["disagree"]["ece_max"] < report["families"]["none"]["ece_max"] - 0.05
    assert report["families"]["entropy"]["ece_max"] > report["families"]["disagree"]["ece_max"]  # every row is 0.9 sure
