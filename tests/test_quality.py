import re

import numpy as np
import pandas as pd
import pytest

from multimodal_fer import quality
from multimodal_fer.labels import EMOTIONS


def _frames():
    df = pd.DataFrame({"recording_sha256": "a" * 64, "t_s": [0.0, 0.2, 0.4], "face_found": [True, True, False],
                       "n_faces": [1, 1, 0], "mouth_open": [0.1, 0.2, np.nan]})
    for e in EMOTIONS:
        df[f"p_face_{e}"] = [1 / 7, 1 / 7, np.nan]
        df[f"p_face_raw_{e}"] = [1 / 7, 1 / 7, np.nan]
    df["face_label"] = ["neutral", "neutral", None]
    df["face_confidence"] = [1 / 7, 1 / 7, np.nan]
    for c in ("yaw_deg", "pitch_deg", "roll_deg"):
        df[c] = [1.0, -2.0, np.nan]
    return df


def test_good_rows_pass():
    report = quality.validate_frame("frames", _frames())
    assert report.success, report.failures
    assert report.n_expectations > 20 and report.n_rows == 3


def test_corrupted_rows_fail_with_the_expectation_named():
    df = _frames()
    df.loc[0, "p_face_happy"] = 0.9  # row no longer sums to 1
    df.loc[1, "face_label"] = "bored"  # not a canonical emotion
    df.loc[2, "t_s"] = 0.2  # duplicate primary key
    df["n_faces"] = df["n_faces"].astype(object)
    df.loc[1, "n_faces"] = None  # NULL in a NOT NULL column
    failures = " | ".join(quality.validate_frame("frames", df).failures)
    assert "row sums of p_face_*" in failures
    assert "face_label: expect_column_values_to_be_in_set" in failures and "bored" in failures
    assert "n_faces: expect_column_values_to_not_be_null" in failures
    assert "expect_compound_columns_to_be_unique" in failures


def test_missing_column_fails():
    report = quality.validate_frame("frames", _frames().drop(columns=["n_faces"]))
    assert not report.success and any("n_faces: expect_column_to_exist" in f for f in report.failures)


def _kinds(failures) -> set[str]:
    """'column: expectation_type' of each failure line (what both validators must agree on)."""
    out = set()
    for f in failures:
        kind = re.search(r"expect_[a-z_]+", f).group(0)
        column = f[: f.index(kind)].rstrip(": ")
        out.add(f"{column}: {kind}")
    return out


def _corruptions():
    def prob_sum(df):
        df.loc[0, "p_face_happy"] = 0.9

    def bad_label(df):
        df.loc[1, "face_label"] = "bored"

    def dup_key(df):
        df.loc[2, "t_s"] = 0.2

    def null_required(df):
        df["n_faces"] = df["n_faces"].astype(object)
        df.loc[1, "n_faces"] = None

    def out_of_range(df):
        df.loc[0, "face_confidence"] = 1.5
        df.loc[1, "yaw_deg"] = -200.0

    def all_at_once(df):
        for f in (prob_sum, bad_label, dup_key, null_required, out_of_range):
            f(df)

    return [prob_sum, bad_label, dup_key, null_required, out_of_range, all_at_once]


@pytest.mark.parametrize("corrupt", _corruptions(), ids=lambda f: f.__name__)
def test_fast_check_agrees_with_great_expectations(corrupt):
    good = _frames()
    assert quality.check_frame("frames", good).success
    assert quality.check_frame("frames", good).n_expectations == quality.validate_frame("frames", good).n_expectations
    df = _frames()
    corrupt(df)
    fast, gx = quality.check_frame("frames", df), quality.validate_frame("frames", df)
    assert not fast.success and not gx.success
    assert _kinds(fast.failures) == _kinds(gx.failures), (fast.failures, gx.failures)


def test_fast_check_names_a_missing_column():
    report = quality.check_frame("frames", _frames().drop(columns=["n_faces"]))
    assert not report.success and any("n_faces: expect_column_to_exist" in f for f in report.failures)
