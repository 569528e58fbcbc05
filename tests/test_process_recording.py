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
    (tmp_path / "staging").mkdir(exist_ok=True)  # the run's staging folder
    sha = bucket.sha256_of(str(path))  # as the run hashed it
    return rec, pr.analyze_one(rec, sha, bucket.SessionMeta(), str(tmp_path / "staging"), PipelineOptions(sample_fps=5.0))


def test_a_good_recording_is_staged(tmp_path, stubs, monkeypatch):  # noqa: F811
    path = write_video(tmp_path / "b" / "P1" / "S1.mp4", seconds=2.0, video=False, tone_hz=220.0, audio_sr=16000)
    rec, outcome = _analyse(path, tmp_path, stubs, monkeypatch)
    assert isinstance(outcome, Staged) and outcome.recording == rec and outcome.sha256 == bucket.sha256_of(str(path))
    assert Path(outcome.staged_dir) == tmp_path / "staging" / outcome.sha256
    assert (Path(outcome.staged_dir) / "emotion_windows.parquet").exists()
    assert outcome.stage_seconds["validate_write"] >= 0 and len(outcome.pipeline_version) == 16


def test_a_bad_recording_is_quarantined_with_its_stage(tmp_path, stubs, monkeypatch):  # noqa: F811
    path = tmp_path / "b" / "P1" / "S1.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a video" * 100)
    rec, outcome = _analyse(path, tmp_path, stubs, monkeypatch)
    assert isinstance(outcome, Quarantined)
    assert (outcome.source_uri, outcome.stage) == (rec.stored_uri, "split")
    assert outcome.recording_sha256 == bucket.sha256_of(str(path))
    assert (outcome.patient_id, outcome.session_id) == ("P1", "S1") and outcome.reason and outcome.error_type
    assert list((tmp_path / "staging").iterdir()) == []


def test_a_file_changed_while_analysed_is_not_stored_under_the_old_hash(tmp_path, stubs, monkeypatch):  # noqa: F811
    import multimodal_fer_flows.process_recording as pr

    path = write_video(tmp_path / "b" / "P1" / "S1.mp4", seconds=2.0, video=False, tone_hz=220.0, audio_sr=16000)
    analyse = pr.analyze_recording

    def while_an_upload_goes_on(local, **kwargs):
        result = analyse(local, **kwargs)
        with open(local, "ab") as fh:  # the uploader writes more after the run hashed and read the file
            fh.write(b"\0" * 1024)
        return result

    monkeypatch.setattr(pr, "analyze_recording", while_an_upload_goes_on)
    rec, outcome = _analyse(path, tmp_path, stubs, monkeypatch)
    assert isinstance(outcome, Quarantined) and outcome.reason == pr.CHANGED_WHILE_READ and outcome.stage == "split"
    assert list((tmp_path / "staging").iterdir()) == []  # nothing staged under the hash of other bytes
