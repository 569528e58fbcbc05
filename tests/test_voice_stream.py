"""voice.stream: chunks of patient speech and their scoring, batch by batch (stub voice model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import multimodal_fer.voice.stream as vs
from multimodal_fer.speakers import Attribution


@pytest.mark.parametrize("seed", range(20))
def test_chunks_cover_the_speech_within_the_limits(seed):
    rng = np.random.default_rng(seed)
    edges = np.cumsum(rng.uniform(0.05, 8.0, size=2 * int(rng.integers(1, 10))))
    segments = [(float(a), float(b)) for a, b in edges.reshape(-1, 2)]
    chunks = vs.speech_chunks(segments)
    assert all(a < b for a, b in chunks) and all(b0 <= a1 for (_, b0), (a1, _) in zip(chunks, chunks[1:]))
    assert chunks[0][0] == segments[0][0] and chunks[-1][1] == segments[-1][1]
    assert all(b - a >= vs.VOICE_MIN_CHUNK_S for a, b in chunks[1:])  # short pieces join the chunk before
    for s, e in segments:  # every instant of speech is in a chunk; a chunk starts in speech
        for t in np.linspace(s, e, 7):
            assert any(a - 1e-9 <= t <= b + 1e-9 for a, b in chunks)
    assert all(any(s - 1e-9 <= a <= e for s, e in segments) for a, _ in chunks)
    long = [(a, b) for a, b in segments if b - a >= vs.VOICE_CHUNK_S]
    inside = [(a, b) for a, b in chunks if any(s - 1e-9 <= a and b <= e + 1e-9 for s, e in long)]
    assert all(vs.VOICE_CHUNK_S - 1e-9 <= b - a < 2 * vs.VOICE_CHUNK_S for a, b in inside)


def test_only_the_patients_speech_is_scored_a_batch_at_a_time(tmp_path, monkeypatch):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 16000 * 20).astype(np.float32), 16000)
    calls = []

    class Stub:
        def predict_proba(self, clips):
            calls.append([len(c) for c in clips])
            return np.tile(np.full(7, 1 / 7), (len(clips), 1))

    monkeypatch.setattr(vs, "VOICE_BATCH", 2)
    monkeypatch.setattr(vs, "attribute_segments", lambda frames, segments, has_video: [
        Attribution(s, e, "patient" if i % 2 == 0 else "other", 0.9, 0.1) for i, (s, e) in enumerate(segments)])
    segments = [(0.0, 7.0), (8.0, 9.0), (10.0, 12.0)]
    out = vs.score_patient_speech(wav, segments=segments, prosody=None, frames=pd.DataFrame(), has_video=True,
                                  channels_wav=None, patient_speakers=("patient",), model=Stub())
    assert out.method == "lip_sync" and out.segments == segments
    assert out.chunks == vs.speech_chunks([(0.0, 7.0), (10.0, 12.0)]) and len(out.chunks) == 3
    assert [len(c) for c in calls] == [2, 1] and sum(map(sum, calls)) == pytest.approx(16000 * 9.0, abs=3)
    assert list(out.probabilities.columns) == ["start_s", "end_s", *vs.VOICE_COLS]
    assert out.probabilities[["start_s", "end_s"]].apply(tuple, axis=1).tolist() == out.chunks


def test_no_patient_speech_gives_an_empty_table():
    out = vs.score_patient_speech("unused.wav", segments=[], prosody=None, frames=pd.DataFrame(), has_video=False,
                                  channels_wav=None, patient_speakers=("patient",), model=None)
    assert out.chunks == [] and out.probabilities.empty and out.method == "audio_only"
    assert list(out.probabilities.columns) == ["start_s", "end_s", *vs.VOICE_COLS]
