import numpy as np
import pytest

from multimodal_fer import media
from tests.conftest import write_video


def test_frames_are_sampled_on_the_session_clock(tiny_video):
    frames = list(media.iter_frames(tiny_video, fps=5.0))
    times = np.array([t for t, _ in frames])
    assert 9 <= len(frames) <= 11  # 2 s at 5 fps
    assert np.all(np.diff(times) > 0)
    assert np.allclose(np.diff(times), 0.2, atol=0.051)
    assert times[0] < 0.11
    assert frames[0][1].dtype == np.uint8 and frames[0][1].shape == (64, 64, 3)
    # frames are the right ones: red channel encodes the source frame index (10 fps source)
    reds = np.array([f[..., 0].mean() for _, f in frames])
    assert np.all(np.diff(reds) > 0)


def test_sampling_rate_is_configurable(tiny_video):
    assert len(list(media.iter_frames(tiny_video, fps=2.0))) in (4, 5)
    with pytest.raises(ValueError):
        list(media.iter_frames(tiny_video, fps=0))


def test_audio_is_16k_mono_with_the_tone_kept(tiny_video, tmp_path):
    wav = tmp_path / "a.wav"
    seconds = media.extract_audio(tiny_video, wav)
    audio = media.load_wav(wav)
    assert abs(seconds - 2.0) < 0.1
    assert audio.ndim == 1 and audio.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(audio[4000:20000]))
    peak_hz = np.argmax(spectrum) * media.AUDIO_SR / 16000
    assert abs(peak_hz - 440) < 5


def test_stereo_48k_is_downmixed_and_resampled(tmp_path):
    path = write_video(tmp_path / "s.mp4", audio_sr=48000, channels=2, tone_hz=300)
    seconds = media.extract_audio(path, tmp_path / "a.wav")
    audio = media.load_wav(tmp_path / "a.wav")
    assert abs(seconds - 2.0) < 0.1 and abs(audio.size / 16000 - seconds) < 1e-6
    assert abs(np.argmax(np.abs(np.fft.rfft(audio[:16000]))) - 300) < 5


def test_audio_only_and_video_only(tmp_path):
    audio_only = write_video(tmp_path / "a.mp4", video=False)
    info = media.probe(audio_only)
    assert info.has_audio and not info.has_video
    assert list(media.iter_frames(audio_only)) == []
    video_only = write_video(tmp_path / "v.mp4", tone_hz=None)
    assert not media.probe(video_only).has_audio
    assert media.extract_audio(video_only, tmp_path / "x.wav") == 0.0


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"this is not a video at all" * 10, "not a readable"),
])
def test_bad_files_raise_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(media.MediaError, match=message):
        media.probe(path)


def test_truncated_file_fails_clearly_or_yields_what_is_there(tiny_video, tmp_path):
    data = tiny_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    try:
        frames = list(media.iter_frames(cut))
    except media.MediaError as exc:
        assert str(exc)
    else:
        assert len(frames) < 11


def test_display_rotation_is_applied(tmp_path):
    import av

    path = tmp_path / "rot.mp4"
    stored = np.zeros((64, 32, 3), np.uint8)
    stored[:8] = 255  # white band at the top of the stored frame
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=5)
        s.width, s.height, s.pix_fmt = 32, 64, "yuv420p"
        s.set_display_rotation(90)  # shown rotated 90° counter-clockwise: the band ends up on the left
        for _ in range(5):
            for p in s.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    assert media.probe(path).rotation_deg == 90
    t, rgb = next(media.iter_frames(path))
    assert rgb.shape[:2] == (32, 64)
    assert rgb[:, :6].mean() > 200 and rgb[:, 12:].mean() < 40


def test_variable_frame_rate_is_sampled_by_time(tmp_path):
    from fractions import Fraction

    import av

    path = tmp_path / "vfr.mkv"
    times = np.cumsum(np.r_[0.0, np.tile([0.02, 0.13, 0.05], 30)])  # irregular gaps, ~4.6 s
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        s.time_base = Fraction(1, 1000)
        for t in times:
            f = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            f.pts, f.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    sampled = np.array([t for t, _ in media.iter_frames(path, fps=5.0)])
    assert np.all(np.diff(sampled) > 0)
    assert abs(len(sampled) - times[-1] * 5) <= 2
    assert np.diff(sampled).max() < 0.2 + 0.13 + 1e-6  # never more than one sampling step plus the largest gap


def test_8khz_audio_is_resampled(tmp_path):
    path = write_video(tmp_path / "8k.mp4", audio_sr=8000, tone_hz=200)
    seconds = media.extract_audio(path, tmp_path / "a.wav")
    audio = media.load_wav(tmp_path / "a.wav")
    assert abs(seconds - 2.0) < 0.15
    assert abs(np.argmax(np.abs(np.fft.rfft(audio[:16000]))) - 200) < 5


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_float_track_with_samples_that_are_not_numbers_is_corrupt(tmp_path, bad):
    import soundfile as sf

    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(32_000) / 16_000)).astype(np.float32)
    sf.write(tmp_path / "ok.wav", tone, 16_000, subtype="FLOAT")
    assert media.extract_audio(tmp_path / "ok.wav", tmp_path / "ok16.wav") == pytest.approx(2.0, abs=0.01)
    tone[::100] = bad
    sf.write(tmp_path / "bad.wav", tone, 16_000, subtype="FLOAT")
    with pytest.raises(media.MediaError, match="not numbers"):
        media.extract_audio(tmp_path / "bad.wav", tmp_path / "bad16.wav")


def test_a_float_track_far_beyond_full_scale_is_refused_and_a_small_overshoot_is_not(tmp_path):
    import soundfile as sf

    tone = (np.sin(2 * np.pi * 220 * np.arange(32_000) / 16_000)).astype(np.float32)
    sf.write(tmp_path / "over.wav", 1.5 * tone, 16_000, subtype="FLOAT")  # a decoder's overshoot: kept
    assert media.extract_audio(tmp_path / "over.wav", tmp_path / "over16.wav") == pytest.approx(2.0, abs=0.01)
    sf.write(tmp_path / "int-scale.wav", 12_000 * tone, 16_000, subtype="FLOAT")  # 16-bit values as float
    with pytest.raises(media.MediaError, match="times full scale.*rescale it"):
        media.extract_audio(tmp_path / "int-scale.wav", tmp_path / "bad16.wav")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP"])
def test_a_still_image_named_like_a_video_is_not_a_recording(tmp_path, fmt):
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 100, 50)).save(tmp_path / "S1.mp4", format=fmt)
    with pytest.raises(media.MediaError, match="a still image"):
        media.probe(tmp_path / "S1.mp4")
