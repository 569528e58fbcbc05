"""Per-session face calibration: properties on synthetic probabilities, the frames table, and real held-out subjects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from multimodal_fer.face.calibration import (
    MIN_FRAMES,
    NO_CALIBRATION,
    REFERENCE_CLR,
    CalibrationOptions,
    calibrate_session,
    centred_log_ratio,
    session_shift,
)
from multimodal_fer.labels import EMOTIONS, N_EMOTIONS

#: an active setting (the shipped default is off, see docs/face.md): the properties must hold for any strength
ACTIVE = CalibrationOptions(strength=1.0, max_shift=1.0, prior_frames=0.0)
SAD, NEUTRAL = EMOTIONS.index("sad"), EMOTIONS.index("neutral")


def session(rng, n: int, centre: np.ndarray, spread: float = 0.5) -> np.ndarray:
    """``n`` frames: softmax of ``centre`` log-probabilities plus normal noise."""
    return softmax(centre + rng.normal(0.0, spread, (n, N_EMOTIONS)), axis=1)


def typical(label: int, lead: float = 2.0) -> np.ndarray:
    """Reference-like log-probabilities with ``label`` ahead by ``lead`` nats."""
    z = np.array(REFERENCE_CLR, dtype=float)
    z[label] = z.max() + lead
    return z


@pytest.mark.parametrize("options", [ACTIVE, CalibrationOptions(), CalibrationOptions(strength=0.5, max_shift=2.0)])
def test_rows_sum_to_one_and_shape_kept(options):
    rng = np.random.default_rng(0)
    p = session(rng, 40, rng.normal(0, 1.5, N_EMOTIONS), spread=1.0)
    p[[3, 17]] = np.nan  # frames without a face
    q = calibrate_session(p, options=options)
    assert q.shape == p.shape
    ok = np.isfinite(p).all(axis=1)
    assert np.isnan(q[~ok]).all()
    np.testing.assert_allclose(q[ok].sum(axis=1), 1.0, atol=1e-9)
    assert (q[ok] >= 0).all()


def test_a_session_of_one_emotion_keeps_it():
    """Sad all session, with confidence from weak to strong: every sad frame still reads sad (not neutral)."""
    rng = np.random.default_rng(1)
    frames = []
    for lead in np.linspace(0.2, 3.0, 60):  # weak to strong sadness, neutral usually second
        z = np.array(REFERENCE_CLR, dtype=float) + rng.normal(0, 0.3, N_EMOTIONS)
        z[NEUTRAL] = z.max() + 0.5
        z[SAD] = z[NEUTRAL] + lead
        frames.append(softmax(z))
    p = np.array(frames)
    for options in (ACTIVE, CalibrationOptions(strength=1.0, max_shift=4.0)):
        q = calibrate_session(p, options=options)
        assert np.bincount(q.argmax(axis=1), minlength=N_EMOTIONS).argmax() == SAD
        assert (q.argmax(axis=1) == SAD).all()
    # plain centring on the session mean would turn it neutral: the property is not a trivial one
    z = centred_log_ratio(p)
    centred = softmax(z - z.mean(axis=0), axis=1)
    assert (centred.argmax(axis=1) == SAD).mean() < 0.7


def test_every_single_emotion_session_keeps_its_emotion():
    rng = np.random.default_rng(2)
    for k in range(N_EMOTIONS):
        p = session(rng, 30, typical(k, lead=1.0), spread=0.4)
        q = calibrate_session(p, options=ACTIVE)
        assert np.bincount(q.argmax(axis=1), minlength=N_EMOTIONS).argmax() == k


def test_a_resting_face_that_reads_sad_moves_towards_neutral():
    """A person whose face reads sad at rest: mostly resting frames, some happy ones, all with a sad offset."""
    rng = np.random.default_rng(3)
    offset = np.zeros(N_EMOTIONS)
    offset[SAD] = 1.5  # nats: the person's resting face
    rest = session(rng, 30, typical(NEUTRAL, lead=1.0) + offset, spread=0.3)
    happy = session(rng, 20, typical(EMOTIONS.index("happy"), lead=2.0) + offset, spread=0.3)
    p = np.concatenate([rest, happy])
    q = calibrate_session(p, options=ACTIVE)
    assert session_shift(p, options=ACTIVE)[SAD] > 0
    assert q[:, SAD].mean() < p[:, SAD].mean()
    # the resting frames lean less to sad against neutral (their p(neutral) itself may fall too: this session
    # rests more than the reference population, which the rule also reads as a lean; see docs/face.md)
    lean = lambda r: np.log(r[:30, SAD] / r[:30, NEUTRAL]).mean()  # noqa: E731
    assert lean(q) < lean(p)
    assert (q.argmax(axis=1) == SAD).sum() <= (p.argmax(axis=1) == SAD).sum()


def test_too_few_frames_or_off_leave_the_session_unchanged():
    rng = np.random.default_rng(4)
    p = session(rng, MIN_FRAMES - 1, typical(SAD, lead=0.5), spread=0.8)
    np.testing.assert_array_equal(calibrate_session(p, options=ACTIVE), p)
    big = session(rng, 50, typical(SAD, lead=0.5), spread=0.8)
    np.testing.assert_array_equal(calibrate_session(big, options=NO_CALIBRATION), big)
    with_nans = np.concatenate([p, np.full((20, N_EMOTIONS), np.nan)])  # no-face rows are not evidence
    np.testing.assert_array_equal(calibrate_session(with_nans, options=ACTIVE), with_nans)
    assert calibrate_session(np.zeros((0, N_EMOTIONS)), options=ACTIVE).shape == (0, N_EMOTIONS)


def test_shift_is_bounded_and_zero_sum():
    rng = np.random.default_rng(5)
    p = session(rng, 100, rng.normal(0, 4, N_EMOTIONS), spread=0.2)
    for options in (ACTIVE, CalibrationOptions(strength=0.5, max_shift=0.5)):
        s = session_shift(p, options=options)
        assert abs(s.sum()) < 1e-9
        assert np.abs(s).max() <= 2 * options.max_shift + 1e-9


def test_options_are_checked():
    with pytest.raises(ValueError):
        CalibrationOptions(strength=1.5)
    with pytest.raises(ValueError):
        CalibrationOptions(reference=(0.0, 0.0))
    with pytest.raises(ValueError):
        CalibrationOptions(min_frames=0)


def test_frames_table_keeps_raw_and_calibrated(monkeypatch):
    from multimodal_fer.face import stream
    from multimodal_fer_schemas import TABLES

    rng = np.random.default_rng(6)
    n = 30
    raw = session(rng, n, typical(NEUTRAL, lead=0.6), spread=0.8)
    frames = pd.DataFrame({c: np.nan for c in stream.FRAME_COLUMNS}, index=range(n))
    frames["t_s"] = np.arange(n) / 5.0
    frames["face_found"] = np.arange(n) % 7 != 0
    frames.loc[frames["face_found"], stream.FACE_RAW_COLS] = raw[frames["face_found"].to_numpy()]
    frames.loc[frames["face_found"], stream.FACE_COLS] = raw[frames["face_found"].to_numpy()]
    out = stream.calibrate_frames(frames, options=ACTIVE)
    found = out["face_found"].to_numpy(bool)
    np.testing.assert_array_equal(out[stream.FACE_RAW_COLS].to_numpy(float), frames[stream.FACE_RAW_COLS].to_numpy())
    cal = out.loc[found, stream.FACE_COLS].to_numpy(float)
    np.testing.assert_allclose(cal, calibrate_session(raw[found], options=ACTIVE))
    np.testing.assert_allclose(cal.sum(axis=1), 1.0)
    assert out.loc[~found, stream.FACE_COLS].isna().all().all()
    assert list(out.loc[found, "face_label"]) == [EMOTIONS[k] for k in cal.argmax(axis=1)]
    np.testing.assert_allclose(out.loc[found, "face_confidence"].to_numpy(float), cal.max(axis=1))
    groups = TABLES["frames"].probability_groups
    assert tuple(stream.FACE_COLS) in groups and tuple(stream.FACE_RAW_COLS) in groups
    # the shipped default (off) stores the model's own probabilities in both
    same = stream.calibrate_frames(frames)
    np.testing.assert_allclose(same[stream.FACE_COLS].to_numpy(float), frames[stream.FACE_RAW_COLS].to_numpy(float))


def test_evaluate_groups_calibrate_each_session_alone():
    from multimodal_fer.face.evaluate import calibrate_groups

    rng = np.random.default_rng(7)
    a = session(rng, 12, typical(SAD, lead=0.3), spread=0.8)
    b = session(rng, 3, typical(NEUTRAL, lead=0.3), spread=0.8)
    p = np.concatenate([a, b, b[:1]])
    scored = np.ones(len(p), bool)
    groups = ["A"] * 12 + ["B"] * 3 + [""]
    cal, n_groups, n_cal = calibrate_groups(p, scored, groups, options=ACTIVE)
    assert (n_groups, n_cal) == (3, 1)
    np.testing.assert_allclose(cal[:12], calibrate_session(a, options=ACTIVE))
    np.testing.assert_array_equal(cal[12:], p[12:])


@pytest.mark.shared_data
def test_calibration_does_not_lose_on_held_out_ckplus_subjects():
    """A few CK+48 held-out subjects (the training split), each a session: calibrated accuracy >= plain."""
    from conftest import needs_shared

    from multimodal_fer.face.evaluate import calibrate_groups, score_images
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.labels import index_of
    from multimodal_fer.paths import FACE_ARTEFACTS

    root = needs_shared("faces", "ckplus48")
    split = json.loads((FACE_ARTEFACTS / "metrics.json").read_text())["splits"]["ckplus48"]
    table = pd.read_csv(root / "labels.csv")
    table = table[table["subject"].isin(split["test_subjects"]) & (table["label"] != "contempt")]
    counts = table["subject"].value_counts()
    subjects = sorted(counts[counts >= MIN_FRAMES].index)[:5]
    table = table[table["subject"].isin(subjects)]
    proba, _, sources = score_images(FaceModel.load(), [root / p for p in table["path"]])
    scored = np.array([s is not None for s in sources])
    y = np.array([index_of(lab) for lab in table["label"]])
    cal, _, n_cal = calibrate_groups(proba, scored, list(table["subject"]))
    assert n_cal == len(subjects)

    def acc(q):
        return float(np.mean(scored & (np.nan_to_num(q).argmax(axis=1) == y)))

    assert acc(cal) >= acc(proba)
    assert acc(proba) > 0.5


def test_reference_is_the_one_measured_on_the_models_calibrated_output():
    """REFERENCE_CLR depends on the face model's cross-corpus calibration: when that changes,
    ``benchmarks/face_calibration.py`` measures it again and the constant follows."""
    from multimodal_fer.paths import REPO_DIR

    measured = json.loads((REPO_DIR / "benchmarks" / "results" / "face_calibration.json").read_text())["reference_clr"]
    assert pytest.approx(tuple(measured[e] for e in EMOTIONS), abs=5e-4) == REFERENCE_CLR
