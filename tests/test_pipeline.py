"""The pipeline's steps on a generated recording with stub face, voice and text models (same
``predict_proba`` APIs, fixed probabilities), a stub recogniser and a stub voice-activity check:
what every staged table must satisfy, whatever the models say. Only MediaPipe's face landmarker
is real; each case runs in about a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multimodal_fer import bucket, quality, store
from multimodal_fer.labels import EMOTIONS
from multimodal_fer.pipeline import Models, PipelineOptions, analyze_recording, extract_streams, fuse_streams
from multimodal_fer.text.asr import AsrOptions, Segment, Transcript, Word
from multimodal_fer_schemas import TABLES
from multimodal_fer_schemas.tables import PER_RECORDING
from tests.conftest import write_video

FACE_P = np.array([0.4, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05])
VOICE_P = np.array([0.1, 0.1, 0.5, 0.1, 0.1, 0.05, 0.05])
TEXT_P = np.array([0.2, 0.1, 0.1, 0.4, 0.1, 0.05, 0.05])
SPEECH = (0.5, 2.5)  # seconds of "speech" the stub voice activity finds


class StubFace:
    version = "stub-face"
    feature_names = ("x",)

    def predict_proba(self, x, crops=None):
        return np.tile(FACE_P, (len(x), 1))


class StubVoice:
    version = "stub-voice"

    def __init__(self):
        self.clips = []

    def predict_proba(self, clips):
        self.clips += [len(c) for c in clips]
        return np.tile(VOICE_P, (len(clips), 1))


class StubText:
    version = "stub-text"

    def predict_proba(self, texts, contexts):
        assert len(texts) == len(contexts)
        return np.tile(TEXT_P, (len(texts), 1))


def _stub_transcribe(wav, segments, options, *, duration_s, **_):
    out = []
    for s, e in segments:
        mid = (s + e) / 2
        words = (Word(s, mid, " I", 0.9), Word(mid, e, " am fine.", 0.8))
        out.append(Segment(s, e, "I am fine.", -0.3, 0.01, words))
    return Transcript("en", 0.99, tuple(out))


@pytest.fixture
def stubs(monkeypatch):
    import multimodal_fer.text.asr as asr
    import multimodal_fer.voice.stream as voice_stream

    monkeypatch.setattr(asr, "transcribe_wav", _stub_transcribe)
    monkeypatch.setattr(voice_stream, "speech_segments",
                        lambda y, sr: [(SPEECH[0], min(SPEECH[1], y.size / sr))] if y.size / sr > SPEECH[0] else [])
    return Models(StubFace(), StubVoice(), StubText(), AsrOptions())


def _check_tables(staged, sha):
    tables = {name: store.read_staged(staged, name) for name in PER_RECORDING}
    for name, df in tables.items():
        table = TABLES[name]
        assert tuple(df.columns) == table.column_names, name
        assert (df["recording_sha256"] == sha).all()
        report = quality.check_frame(name, df)
        assert report.success, report.failures
        for group in table.probability_groups:
            p = df[list(group)].to_numpy(float)
            full = ~np.isnan(p).any(axis=1)
            assert np.isnan(p[~full]).all()  # a row has all seven or none
            np.testing.assert_allclose(p[full].sum(axis=1), 1.0, atol=1e-9)
    return tables


def _check_clock(tables):
    duration = float(tables["sessions"]["duration_s"].iloc[0])
    w = tables["emotion_windows"]
    assert w["window_start_s"].iloc[0] == 0.0 and w["window_end_s"].iloc[-1] == pytest.approx(duration)
    np.testing.assert_allclose(w["window_start_s"].to_numpy()[1:], w["window_end_s"].to_numpy()[:-1])
    assert (w["window_end_s"] > w["window_start_s"]).all()
    assert tables["frames"]["t_s"].is_monotonic_increasing and (tables["frames"]["t_s"] < duration).all()
    for name in ("utterances", "words"):
        df = tables[name]
        assert df["start_s"].is_monotonic_increasing and (df["end_s"] >= df["start_s"]).all()
        assert (df["end_s"] <= duration + 1e-9).all()


@pytest.mark.parametrize("video", [True, False], ids=["face+voice", "audio-only"])
def test_analyze_recording_stages_conforming_rows(tmp_path, stubs, hopper_rgb, video):
    path = write_video(tmp_path / "r.mp4", seconds=3.0, fps=10, image=hopper_rgb if video else None,
                       video=video, tone_hz=220.0, audio_sr=16000)
    rec = bucket.Recording(str(path), "P1", "S1", path.stat().st_size)
    sha = "f" * 64
    result = analyze_recording(path, recording=rec, sha256=sha, meta=bucket.SessionMeta(), staged_dir=tmp_path / "st",
                               options=PipelineOptions(sample_fps=5.0), models=stubs)
    assert {"probe", "split_audio", "voice_activity_prosody", "transcript", "wait_for_face_and_voice_model",
            "face_concurrent", "voice_model_concurrent", "text_model", "fusion_summary",
            "validate_write"} <= set(result["stage_seconds"])
    tables = _check_tables(tmp_path / "st", sha)
    _check_clock(tables)
    frames, windows, utts = tables["frames"], tables["emotion_windows"], tables["utterances"]
    assert len(frames) == (15 if video else 0)
    if video:
        assert frames["face_found"].all()
        np.testing.assert_allclose(frames[[f"p_face_{e}" for e in EMOTIONS]].to_numpy(float), np.tile(FACE_P, (15, 1)))
    else:  # without video all speech is the patient's: the voice and text streams reach the windows
        assert tables["sessions"]["speaker_attribution"].tolist() == ["audio_only"]
        assert (utts["speaker"] == "patient").all() and len(tables["words"]) == 2 * len(utts)
        spoken = windows[windows["patient_speaking"]]
        assert len(spoken) and (spoken["w_voice"] > 0).all()
        np.testing.assert_allclose(spoken[[f"p_voice_{e}" for e in EMOTIONS]].to_numpy(float),
                                   np.tile(VOICE_P, (len(spoken), 1)))
        assert stubs.voice.clips and sum(stubs.voice.clips) == pytest.approx(16000 * (SPEECH[1] - SPEECH[0]), abs=2)
    assert (windows["signal"] != "none").any()


def test_extract_streams_then_fuse_is_what_the_pipeline_stages(tmp_path, stubs):
    path = write_video(tmp_path / "a.mp4", seconds=3.0, video=False, tone_hz=220.0, audio_sr=16000)
    rec = bucket.Recording(str(path), "P1", "S1", path.stat().st_size)
    options = PipelineOptions(sample_fps=5.0)
    streams = extract_streams(path, meta=bucket.SessionMeta(), options=options, models=stubs)
    assert streams.text.language == "en" and streams.voice.method == "audio_only"
    assert list(streams.voice.probabilities.columns[:2]) == ["start_s", "end_s"]
    windows = fuse_streams(streams, options.fusion)
    analyze_recording(path, recording=rec, sha256="e" * 64, meta=bucket.SessionMeta(), staged_dir=tmp_path / "st",
                      options=options, models=stubs)
    staged = store.read_staged(tmp_path / "st", "emotion_windows")
    cols = list(windows.columns)
    pd.testing.assert_frame_equal(staged[cols].reset_index(drop=True), windows[cols].reset_index(drop=True),
                                  check_dtype=False)


# ----------------------------------------------------------------------------- real models, reference rows
REFERENCE = Path(__file__).parent / "reference" / "pipeline_demo_p001_s01.json"
NOT_PRODUCED = {"recording_sha256", "patient_id", "session_id", "source_uri", "recorded_at", "site", "trial_arm",
                "clinician_id", "processed_at", "run_id", "pipeline_version", "model_versions"}


#: The speech recogniser (CTranslate2) and the voice features compute slightly differently on different CPUs:
#: the same commit and models gave 2 utterances on one 2-core machine and 3 on another (2026-12-01), and
#: other voice probabilities in the second decimal. So what they produce, and all that is derived from them,
#: is held here to its columns (other tests check its properties); the windows, prosody and voice activity are
#: held to the digit, the face path's numbers within a tolerance (:data:`FACE_ARITHMETIC_TOLERANCE`).
RECOGNISER_TABLES = {"utterances", "words", "moments"}
RECOGNISER_PREFIXES = ("p_text_", "p_voice_", "p_fused_", "w_", "share_")
RECOGNISER_COLUMNS = {"fused_label", "fused_confidence", "valence", "arousal", "valence_mean", "valence_std",
                      "arousal_mean", "arousal_std", "dominant_emotion", "n_turns", "speech_rate_wps"}


def machine_dependent(table: str, column: str) -> bool:
    """Whether ``table.column`` depends on the recogniser's or the voice model's arithmetic."""
    return table in RECOGNISER_TABLES or column.startswith(RECOGNISER_PREFIXES) or column in RECOGNISER_COLUMNS


#: The face path's numbers depend on arithmetic that differs between CPUs too (MediaPipe's TFLite kernels or the
#: H.264 round trip of the generated recording; not told apart): on 2026-12-03 an AMD EPYC (AVX2, no AVX-512) gave the reference's rows, faces found, face labels and
#: nulls exactly, but each face probability off by up to 0.007 a row (and 0.1° of yaw, 0.005 of the detector's
#: confidence, 0.0015 of mouth opening, 0.008 of the session's expressivity). Those columns are held to their sum
#: within a tolerance a row (about three times what was seen; a per-row unit of the column), the rest of the face
#: path (rows, faces, labels, nulls) to the digit.
FACE_ARITHMETIC_TOLERANCE = {"p_face_": 0.02, "_deg": 0.5, "face_confidence": 0.02, "mouth_open": 0.005,
                             "expressivity_mean": 0.03}


def face_tolerance(column: str) -> float | None:
    """The per-row tolerance of a face-arithmetic column's sum (:data:`FACE_ARITHMETIC_TOLERANCE`), else None."""
    for key, tol in FACE_ARITHMETIC_TOLERANCE.items():
        if column.startswith(key) or column.endswith(key):
            return tol
    return None


def rows_digest(tables: dict[str, pd.DataFrame]) -> dict:
    """Per table: the row count and, per column the pipeline produces, the sum and null count of a
    number (or boolean) column, or the sorted values of a text column."""
    out = {}
    for name in PER_RECORDING:
        df, cols = tables[name], {}
        for c in (c for c in TABLES[name].column_names if c not in NOT_PRODUCED):
            s = df[c]
            if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                cols[c] = {"sum": round(float(s.astype(float).sum()), 6), "nulls": int(s.isna().sum())}
            else:
                cols[c] = sorted((None if v is None or v != v else str(v) for v in s), key=lambda v: (v is None, v))
        out[name] = {"rows": int(len(df)), "columns": cols}
    return out


@pytest.mark.slow
def test_real_models_give_the_reference_rows(tmp_path):
    """The first demo session at 2 fps with the real models gives the rows recorded in
    tests/reference/ (made before the pipeline was split into stream modules); what depends on the
    recogniser's or the voice model's arithmetic only by its columns (:func:`machine_dependent`).
    Regenerate, on purpose only, with ``MFER_WRITE_REFERENCE=1``."""
    import hashlib
    import json
    import os

    from multimodal_fer.pipeline import load_models
    from scripts.demo_bucket import SESSIONS, make_recording

    path = tmp_path / "P001" / "S01.mp4"
    make_recording(path, SESSIONS[0])
    options = PipelineOptions(sample_fps=2.0, asr=AsrOptions(model="base"))
    rec = bucket.Recording(str(path), "P001", "S01", path.stat().st_size)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    analyze_recording(path, recording=rec, sha256=sha, meta=bucket.SessionMeta(), staged_dir=tmp_path / "st",
                      options=options, models=load_models(options.asr))
    got = rows_digest({name: store.read_staged(tmp_path / "st", name) for name in PER_RECORDING})
    if os.environ.get("MFER_WRITE_REFERENCE"):
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip("reference written")
    want = json.loads(REFERENCE.read_text())
    held = 0
    for name, table in want.items():
        assert set(got[name]["columns"]) == set(table["columns"]), name
        if name in RECOGNISER_TABLES:
            assert got[name]["rows"] >= 1, name
            continue
        assert got[name]["rows"] == table["rows"], name
        for col, value in table["columns"].items():
            if machine_dependent(name, col):
                continue
            held += 1
            mine = got[name]["columns"][col]
            if isinstance(value, dict):
                assert mine["nulls"] == value["nulls"], (name, col)
                tol = face_tolerance(col)
                if tol is not None:
                    assert abs(mine["sum"] - value["sum"]) <= tol * table["rows"], (name, col, mine, value)
                    continue
                assert mine["sum"] == pytest.approx(value["sum"], rel=1e-6, abs=1e-6), (name, col)
            else:
                assert mine == value, (name, col)
    assert held >= 50  # 57 now: the frames (23 columns), the windows' face, prosody and timing (16), the session (18)


@pytest.mark.parametrize("times, declared, fps", [([0.0], 0.2, 1.0), ([0.0, 1.0], 1.6, 1.0), ([0.0, 0.2, 0.4], 10.0, 5.0),
                                                  ([0.0, 2.0], 0.0, 1.0), ([], 5.0, 5.0)])
def test_video_span_ends_one_interval_after_the_last_frame_but_never_past_the_declared_end(times, declared, fps):
    from multimodal_fer.pipeline import _video_span

    span = _video_span(pd.Series(times, dtype=float), declared, fps)
    if not times:
        assert span == 0.0
        return
    assert max(times) <= span <= max(times) + 1.0 / fps
    assert span <= declared or declared <= max(times)  # past the declared end only when the container under-declares
