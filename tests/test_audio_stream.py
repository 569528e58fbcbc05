"""The audio path in constant memory: WAV blocks, blockwise voice activity and prosody, chunked
speech recognition, and speaker attribution by a manifest-named patient channel."""

import numpy as np
import pytest
import soundfile as sf
from conftest import write_video

from multimodal_fer import media
from multimodal_fer.speakers import attribute_by_channel
from multimodal_fer.text.asr import AsrOptions, plan_chunks, transcribe, transcribe_wav
from multimodal_fer.voice.stream import read_clips, voice_activity_prosody

SR = 16000


def _peak_hz(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y[:SR]))
    return float(np.argmax(spec) * SR / (2 * (spec.size - 1)))


def test_wav_blocks_and_spans_read_the_same_samples(tmp_path):
    y = np.random.default_rng(0).uniform(-0.5, 0.5, int(5.3 * SR)).astype(np.float32)
    sf.write(tmp_path / "a.wav", y, SR, subtype="FLOAT")
    blocks = list(media.wav_blocks(tmp_path / "a.wav", block_s=2.0))
    assert [round(s, 3) for s, _ in blocks] == [0.0, 2.0, 4.0]
    assert all(len(b) == 2 * SR for _, b in blocks[:-1])
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), y)
    np.testing.assert_array_equal(media.read_wav(tmp_path / "a.wav", 1.5, 2.25), y[int(1.5 * SR):int(2.25 * SR)])
    assert media.read_wav(tmp_path / "a.wav", 5.0, 99.0).size == y.size - 5 * SR
    assert media.read_wav(tmp_path / "a.wav", 9.0, 10.0).size == 0
    clips = read_clips(tmp_path / "a.wav", [(0.0, 0.5), (1.0, 1.25)])
    assert [c.size for c in clips] == [SR // 2, SR // 4]


def test_patient_channel_is_kept_apart(tmp_path):
    path = write_video(tmp_path / "st.mp4", channels=2, tone_hz=300, right_hz=700, audio_sr=48000, video=False)
    seconds = media.extract_audio(path, tmp_path / "mix.wav", patient_channel=1, channels_path=tmp_path / "ch.wav")
    mix = media.load_wav(tmp_path / "mix.wav")
    ch = media.read_wav(tmp_path / "ch.wav")
    assert ch.shape == (mix.size, 2) and abs(seconds - mix.size / SR) < 1e-9
    assert abs(_peak_hz(ch[:, 0]) - 700) < 5  # channel 1 (right) is the patient's
    assert abs(_peak_hz(ch[:, 1]) - 300) < 5
    spec = np.abs(np.fft.rfft(mix[:SR]))
    assert spec[300] > 0.2 * spec.max() and spec[700] > 0.2 * spec.max()  # the mix holds both


@pytest.mark.parametrize("channels, patient_channel", [(2, 2), (1, 0)])
def test_a_patient_channel_the_track_lacks_is_a_clear_error(tmp_path, channels, patient_channel):
    path = write_video(tmp_path / "a.mp4", channels=channels, video=False)
    with pytest.raises(media.MediaError, match=r"patient audio channel .* has \d channel"):
        media.extract_audio(path, tmp_path / "m.wav", patient_channel=patient_channel, channels_path=tmp_path / "c.wav")


def test_speech_is_attributed_by_the_louder_channel(tmp_path):
    t = np.arange(3 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 200 * t)
    patient, other = np.zeros_like(t), np.zeros_like(t)
    patient[: SR] = tone[: SR]  # 0-1 s: the patient's microphone
    other[: SR] = 0.05 * tone[: SR]  # with the clinician's bleed
    other[SR: 2 * SR] = tone[SR: 2 * SR]  # 1-2 s: the clinician
    patient[SR: 2 * SR] = 0.1 * tone[SR: 2 * SR]
    sf.write(tmp_path / "ch.wav", np.stack([patient, other], axis=1).astype(np.float32), SR)
    out = attribute_by_channel(tmp_path / "ch.wav", [(0.1, 0.9), (1.1, 1.9), (2.1, 2.9)])
    assert [a.speaker for a in out] == ["patient", "other", "unknown"]
    assert out[0].confidence > 0.9 and out[1].confidence > 0.9 and out[2].confidence == 0.0


def test_chunks_cover_all_speech_within_the_limit():
    rng = np.random.default_rng(1)
    starts = np.cumsum(rng.uniform(0.3, 20.0, 400))
    segments = [(float(s), float(s + d)) for s, d in zip(starts, rng.uniform(0.3, 15.0, 400))]
    segments = [seg for i, seg in enumerate(segments) if i == 0 or seg[0] > segments[i - 1][1] + 0.3]
    segments.append((segments[-1][1] + 5.0, segments[-1][1] + 5.0 + 700.0))  # 700 s without a pause
    duration = segments[-1][1] + 3.0
    chunks = plan_chunks(segments, duration_s=duration, max_s=120.0)
    assert all(0 < e - s <= 120.0 + 1e-9 for s, e in chunks)
    assert all(a[1] <= b[0] for a, b in zip(chunks[:-1], chunks[1:]))
    assert chunks[0][0] >= 0 and chunks[-1][1] <= duration
    grid = np.arange(0, duration, 0.05)
    speech = np.zeros(grid.size, bool)
    for s, e in segments:
        speech |= (grid >= s) & (grid < e)
    covered = np.zeros(grid.size, bool)
    for s, e in chunks:
        covered |= (grid >= s) & (grid < e)
    assert covered[speech].all(), "speech left out of every chunk"
    total_speech = sum(e - s for s, e in segments)
    assert len(chunks) <= 2 * np.ceil(total_speech / 120.0) + 2  # grouped, not one chunk per segment


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """≈ 40 s: espeak-ng sentences separated by pauses, as a 16 kHz WAV."""
    from scripts.demo_bucket import _espeak

    sentences = ["Good morning, how have you been since our last visit?",
                 "I have been sleeping badly and I feel tired most days.",
                 "The walks with my friends really help, I enjoy them.",
                 "Next week I will see my sister, I am looking forward to it."]
    parts = []
    for i, s in enumerate(sentences * 2):
        parts += [_espeak(s, ("en-us", 150 + 10 * (i % 2), 50)), np.zeros(int(2.2 * SR), np.float32)]
    y = np.concatenate(parts)
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    sf.write(path, y, SR, subtype="PCM_16")
    return path, y


def test_blockwise_voice_activity_and_prosody_match_one_pass(talk):
    path, y = talk
    whole_segments, whole, duration = voice_activity_prosody(path, block_s=3600.0)
    segments, blocks, duration_b = voice_activity_prosody(path, block_s=7.0)  # edges inside sentences
    assert duration == pytest.approx(y.size / SR) and duration_b == pytest.approx(y.size / SR)
    assert len(whole) == len(blocks) == int(np.ceil(duration))
    np.testing.assert_allclose(blocks["window_start_s"], np.arange(len(blocks)))
    assert all(a[1] < b[0] for a, b in zip(segments[:-1], segments[1:])), "segments overlap or touch"
    speech = sum(e - s for s, e in whole_segments)
    assert abs(sum(e - s for s, e in segments) - speech) < 0.1 * speech
    assert abs(len(segments) - len(whole_segments)) <= 2  # cut sentences are joined again
    both = np.isfinite(whole["f0_mean_hz"]) & np.isfinite(blocks["f0_mean_hz"])
    assert both.sum() > 0.5 * np.isfinite(whole["f0_mean_hz"]).sum()
    assert np.median(np.abs(whole["f0_mean_hz"][both] - blocks["f0_mean_hz"][both])) < 5.0  # Hz


def test_chunked_recognition_matches_one_pass(talk):
    path, y = talk
    options = AsrOptions(model="tiny.en")
    segments, _, duration = voice_activity_prosody(path)
    one = transcribe(y, options)
    chunked = transcribe_wav(path, segments, options, duration_s=duration, max_chunk_s=12.0)
    words_one = [w.text.lower().strip(".,?!") for w in one.words]
    words_chunked = [w.text.lower().strip(".,?!") for w in chunked.words]
    assert len(words_chunked) > 60
    common = len(set(words_one) & set(words_chunked)) / len(set(words_one))
    assert common > 0.9, (words_one, words_chunked)
    starts = [w.start_s for w in chunked.words]
    assert starts == sorted(starts) and starts[0] >= 0 and chunked.words[-1].end_s <= duration + 0.5
    # the first word of each sentence is heard near where the sentence was spoken
    assert abs(chunked.segments[0].start_s - segments[0][0]) < 1.0
    assert chunked.language == "en"


def _write_stereo(path, left: np.ndarray, right: np.ndarray, sr: int = SR):
    import av

    with av.open(str(path), "w") as c:
        st = c.add_stream("aac", rate=sr)
        st.layout = "stereo"
        data = np.stack([left, right]).astype(np.float32)
        for s in range(0, data.shape[1], 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, s:s + 1024]), format="fltp", layout="stereo")
            fr.sample_rate, fr.pts = sr, s
            for p in st.encode(fr):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


def test_manifest_patient_channel_decides_who_speaks(tmp_path):
    """A stereo session: the clinician on the right channel, then the patient on the left one."""
    import pandas as pd

    from multimodal_fer import bucket
    from multimodal_fer.pipeline import PipelineOptions, analyze_recording
    from scripts.demo_bucket import _espeak

    clinician = _espeak("How have you been feeling since our last visit?", ("en-us", 140, 50))
    patient = _espeak("I have been sleeping badly and I feel tired most days.", ("en-us+f3", 170, 50))
    n = clinician.size + patient.size + 3 * SR
    left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
    right[SR // 2: SR // 2 + clinician.size] = clinician
    left[SR // 2: SR // 2 + clinician.size] = 0.1 * clinician  # bleed into the patient's microphone
    start = clinician.size + 2 * SR
    left[start: start + patient.size] = patient
    path = _write_stereo(tmp_path / "s1.mp4", left, right)
    rec = bucket.Recording(str(path), "P9", "s1", path.stat().st_size)
    options = PipelineOptions(asr=AsrOptions(model="tiny.en"))
    analyze_recording(path, recording=rec, sha256="d" * 64, meta=bucket.SessionMeta(patient_channel=0),
                      staged_dir=tmp_path / "staged", options=options)
    session = pd.read_parquet(tmp_path / "staged" / "sessions.parquet")
    utts = pd.read_parquet(tmp_path / "staged" / "utterances.parquet")
    assert session["speaker_attribution"].tolist() == ["channel"]
    first, last = utts.iloc[0], utts.iloc[-1]
    assert "feeling" in first["text"].lower() and first["speaker"] == "other"
    assert "tired" in last["text"].lower() and last["speaker"] == "patient"
    assert (utts["speaker_confidence"] > 0.8).all()
    windows = pd.read_parquet(tmp_path / "staged" / "emotion_windows.parquet")
    speaking = windows[windows["patient_speaking"]]
    assert len(speaking) and (speaking["window_start_s"] >= start / SR - 1.0).all()  # only the patient's turn


def test_manifest_names_a_channel_the_recording_lacks(tmp_path):
    from multimodal_fer import bucket
    from multimodal_fer.pipeline import StageError, analyze_recording

    path = write_video(tmp_path / "mono.mp4", channels=1, video=False)
    rec = bucket.Recording(str(path), "P9", "mono", path.stat().st_size)
    with pytest.raises(StageError, match="patient audio channel 1") as err:
        analyze_recording(path, recording=rec, sha256="e" * 64, meta=bucket.SessionMeta(patient_channel=1),
                          staged_dir=tmp_path / "staged")
    assert err.value.stage == "split"
