"""``analyze_one``: a typed outcome for each recording, staged or quarantined, never an exception
(stub models: see tests/test_pipeline.py)."""

from __future__ import annotations

from pathlib import Path

from multimodal_fer import bucket
from multimodal_fer.pipeline import PipelineOptions
from multimodal_fer.planning import Quarantined, Staged
from tests.conftest import write_video
from tests.test_pipeline import stubs  # noqa: F401 - the fixture


def _analyse(path: Path, tmp_path: Path, models, monkeypatch):
    import multimodal_fer_flows.process_recording as pr

    monkeypatch.setattr(pr, "load_models", lambda asr: models)
    rec = bucket.Recording(str(path), "P1", "S1", path.stat().st_size)
    return rec, pr.analyze_one(rec, "a" * 64, bucket.SessionMeta(), str(tmp_path / "staging"),
                               PipelineOptions(sample_fps=5.0))


def test_a_good_recording_is_staged(tmp_path, stubs, monkeypatch):  # noqa: F811
    path = write_video(tmp_path / "b" / "P1" / "S1.mp4", seconds=2.0, video=False, tone_hz=220.0, audio_sr=16000)
    rec, outcome = _analyse(path, tmp_path, stubs, monkeypatch)
    assert isinstance(outcome, Staged) and outcome.recording == rec and outcome.sha256 == "a" * 64
    assert Path(outcome.staged_dir) == tmp_path / "staging" / ("a" * 64)
    assert (Path(outcome.staged_dir) / "emotion_windows.parquet").exists()
    assert outcome.stage_seconds["validate_write"] >= 0 and len(outcome.pipeline_version) == 16


def test_a_bad_recording_is_quarantined_with_its_stage(tmp_path, stubs, monkeypatch):  # noqa: F811
    path = tmp_path / "b" / "P1" / "S1.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a video" * 100)
    rec, outcome = _analyse(path, tmp_path, stubs, monkeypatch)
    assert isinstance(outcome, Quarantined)
    assert (outcome.source_uri, outcome.stage, outcome.recording_sha256) == (rec.stored_uri, "split", "a" * 64)
    assert (outcome.patient_id, outcome.session_id) == ("P1", "S1") and outcome.reason and outcome.error_type
    assert not (tmp_path / "staging" / ("a" * 64)).exists()
