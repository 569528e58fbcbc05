"""Bad input through the real pipeline: each case ends in a correct result or a clear StageError."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_fer import store
from multimodal_fer.bucket import Recording, SessionMeta
from multimodal_fer.pipeline import PipelineOptions, StageError, analyze_recording, load_models
from scripts.demo_bucket import _portrait
from tests.conftest import write_video

pytestmark = pytest.mark.slow
OPTIONS = PipelineOptions(sample_fps=2.0)


@pytest.fixture(scope="module")
def models():
    return load_models(OPTIONS.asr)


def _analyze(path, tmp_path, models):
    rec = Recording(str(path), "P1", path.stem, path.stat().st_size)
    staged = tmp_path / "staged"
    analyze_recording(path, recording=rec, sha256="f" * 64, meta=SessionMeta(), staged_dir=staged, options=OPTIONS,
                      models=models)
    return {name: store.read_staged(staged, name) for name in ("sessions", "frames", "emotion_windows", "utterances",
                                                               "session_summaries")}


def face_image(two=False):
    a = _portrait("grace_hopper")[::2, ::2]
    return np.ascontiguousarray(np.concatenate([a, a[:, ::-1]], axis=1) if two else a)  # two: a face and its mirror


def test_audio_only(tmp_path, models):
    out = _analyze(write_video(tmp_path / "a.mp4", video=False, seconds=3.0), tmp_path, models)
    s = out["sessions"].iloc[0]
    assert not s.has_video and s.has_audio and len(out["frames"]) == 0
    assert len(out["emotion_windows"]) == int(np.ceil(s.duration_s - 1e-9)) >= 3
    assert out["session_summaries"].iloc[0].face_coverage == 0.0


def test_video_only_with_a_face(tmp_path, models):
    out = _analyze(write_video(tmp_path / "v.mp4", tone_hz=None, seconds=3.0, image=face_image()), tmp_path, models)
    s = out["sessions"].iloc[0]
    assert s.has_video and not s.has_audio
    assert out["frames"].face_found.all() and len(out["utterances"]) == 0
    w = out["emotion_windows"]
    assert (w.signal == "face").all() and (w.w_face == 1.0).all() and not w.patient_speaking.any()


def test_no_face_anywhere_and_silence(tmp_path, models):
    out = _analyze(write_video(tmp_path / "n.mp4", tone_hz=None, seconds=3.0), tmp_path, models)
    assert not out["frames"].face_found.any()
    w = out["emotion_windows"]
    assert (w.signal == "none").all() and w.fused_label.isna().all() and w.valence.isna().all()
    assert out["session_summaries"].iloc[0].n_windows_signal == 0


def test_two_faces_picks_one_patient(tmp_path, models):
    out = _analyze(write_video(tmp_path / "two.mp4", tone_hz=None, seconds=2.0, image=face_image(two=True)), tmp_path, models)
    f = out["frames"]
    assert f.face_found.all() and (f.n_faces == 2).all()
    # the same one of the two (mirror-image) faces on every frame: the mirror has the opposite head roll
    assert abs(f.roll_deg.iloc[0]) > 1.0
    assert f.roll_deg.std() < 0.5 and (np.sign(f.roll_deg) == np.sign(f.roll_deg.iloc[0])).all()


def test_a_tone_is_not_speech(tmp_path, models):
    out = _analyze(write_video(tmp_path / "t.mp4", seconds=3.0, image=face_image(), audio_sr=48000, channels=2), tmp_path, models)
    assert len(out["utterances"]) == 0 and out["session_summaries"].iloc[0].speech_time_s == 0.0


@pytest.mark.parametrize("content, stage, words", [(b"", "split", "empty file"),
                                                   (b"\x00\x01garbage" * 500, "split", "not a readable")])
def test_unreadable_files_raise_a_stage_error(tmp_path, models, content, stage, words):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(StageError, match=words) as err:
        _analyze(path, tmp_path, models)
    assert err.value.stage == stage


def test_truncated_recording(tmp_path, models):
    good = write_video(tmp_path / "g.mp4", seconds=3.0, image=face_image())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    try:
        out = _analyze(cut, tmp_path, models)
    except StageError as exc:
        assert exc.stage == "split" and str(exc)
    else:
        assert len(out["emotion_windows"]) >= 1


def test_face_only_part_of_the_time(tmp_path, models):
    face = face_image()
    noise = np.random.default_rng(0).integers(0, 255, face.shape, dtype=np.uint8)
    path = write_video(tmp_path / "part.mp4", tone_hz=None, seconds=4.0, image=lambda i: face if i < 20 else noise)
    out = _analyze(path, tmp_path, models)
    f, w = out["frames"], out["emotion_windows"]
    assert f.loc[f.t_s < 1.9, "face_found"].all() and not f.loc[f.t_s > 2.1, "face_found"].any()
    assert 0.35 <= out["session_summaries"].iloc[0].face_coverage <= 0.65
    assert (w.loc[w.window_start_s >= 2.0, "signal"] == "none").all()


@pytest.mark.parametrize("kind", ["dark", "tiny"])
def test_dark_or_tiny_face_gives_a_result(tmp_path, models, kind):
    face = face_image()
    if kind == "dark":
        img = (face * 0.12).astype(np.uint8)
    else:
        img = np.full((480, 640, 3), 90, np.uint8)
        small = face[::6, ::6]
        img[200:200 + small.shape[0], 300:300 + small.shape[1]] = small
    out = _analyze(write_video(tmp_path / f"{kind}.mp4", tone_hz=None, seconds=2.0, image=img), tmp_path, models)
    s = out["session_summaries"].iloc[0]
    assert 0.0 <= s.face_coverage <= 1.0 and len(out["frames"]) == 4
    found = out["frames"].face_found
    assert found.all() or not found.any()  # the same answer on identical frames, whichever it is


def test_redacted_transcripts_keep_times_but_not_names(tmp_path, models):
    from dataclasses import replace

    from scripts.demo_bucket import DemoSession, Turn, make_recording

    session = DemoSession("P001", "S09", "2026-01-01T00:00:00", "site-a", "arm", "C01", (
        Turn("patient", "Hello, I am Margaret Johnson. My next appointment is on March 12, 2026."),))
    path = tmp_path / "P001" / "S09.mp4"
    make_recording(path, session)
    rec = Recording(str(path), "P001", "S09", path.stat().st_size)
    out = {}
    for redact in (False, True):
        staged = tmp_path / f"staged{redact}"
        analyze_recording(path, recording=rec, sha256="e" * 64, meta=SessionMeta(), staged_dir=staged, models=models,
                          options=replace(OPTIONS, redact_transcripts=redact))
        out[redact] = (store.read_staged(staged, "utterances"), store.read_staged(staged, "words"))
    plain = " ".join(out[False][0].text)
    redacted = " ".join(out[True][0].text)
    assert "Margaret" in plain and "Margaret" not in redacted and "[NAME]" in redacted, (plain, redacted)
    assert "March" in plain and "March" not in redacted and "[DATE]" in redacted, (plain, redacted)
    assert "Margaret" not in " ".join(out[True][1].word)
    assert out[True][1].start_s.tolist() == out[False][1].start_s.tolist()  # word times kept
