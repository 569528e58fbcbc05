"""Split a recording into sampled video frames and 16 kHz mono audio on one clock (PyAV).

Both streams are read in a streaming fashion: frames are yielded one at a time and only the
sampled ones are converted to RGB; audio is resampled chunk by chunk and written to a WAV file,
so memory does not grow with the recording's length. Time zero of the session clock is the
earliest start time of the container's video and audio streams.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multimodal_fer.config import AUDIO_SR, SAMPLE_FPS  # defined once in config (frames per second, Hz)


class MediaError(ValueError):
    """A recording that cannot be split (corrupt, empty, no usable stream)."""


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    video_fps: float | None
    audio_sr: int | None
    audio_channels: int | None
    rotation_deg: int  # display rotation, counter-clockwise degrees (frames are yielded upright)
    origin_s: float  # container time that is 0 on the session clock


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.exists():
        raise MediaError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise MediaError("empty file (0 bytes)")
    try:
        return av.open(str(path))
    except Exception as exc:  # PyAV raises several FFmpeg error types
        raise MediaError(f"not a readable audio/video file ({type(exc).__name__}: {exc})") from exc


def _start(stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def probe(path: str | Path) -> MediaInfo:
    """Read a recording's header.

    Raises
    ------
    MediaError
        If the file is missing, empty, unreadable, or has neither video nor audio.
    """
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError("no video and no audio stream")
        if container.format.name.endswith("_pipe") or container.format.name == "image2":
            raise MediaError(f"a still image ({container.format.name}), not a recording")
        starts = [_start(s) for s in (video, audio) if s is not None]
        origin = min(starts) if starts else 0.0
        duration = None
        if container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            for s in (video, audio):
                if s is not None and s.duration is not None and s.time_base is not None:
                    duration = max(duration or 0.0, float(s.duration * s.time_base))
        rotation = 0
        if video is not None:  # display rotation (phone recordings): side data of the first frame
            try:
                first = next(container.decode(video), None)
                rotation = int(round(first.rotation or 0)) % 360 if first is not None else 0
            except Exception:  # noqa: BLE001 - a corrupt first frame shows up when the frames are read
                rotation = 0
        return MediaInfo(
            duration_s=float(duration or 0.0),
            has_video=video is not None,
            has_audio=audio is not None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            video_fps=float(video.average_rate) if video is not None and video.average_rate else None,
            audio_sr=audio.codec_context.sample_rate if audio is not None else None,
            audio_channels=audio.codec_context.channels if audio is not None else None,
            rotation_deg=rotation,
            origin_s=origin,
        )


def iter_frames(
    path: str | Path,
    *,
    fps: float = SAMPLE_FPS,
    max_side: int | None = 1280,
    info: MediaInfo | None = None,
    decode_threads: int = 0,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(t_s, rgb)`` for frames sampled at ``fps`` on the session clock.

    Every frame must be decoded (inter-frame codecs), but only sampled frames are converted
    to RGB. A frame is sampled when its time reaches the next sampling instant ``k / fps``.

    Parameters
    ----------
    path : str or Path
    fps : float
        Sampling rate, frames per second (> 0).
    max_side : int or None
        Downscale sampled frames so that their longer side is at most this many pixels.
    info : MediaInfo, optional
        The recording's :func:`probe` result, when the caller already has it.
    decode_threads : int
        FFmpeg decoder threads; 0 lets FFmpeg choose (one per core). The pipeline passes 1 while
        the audio path runs on the other core.

    Yields
    ------
    t_s : float
        Frame time in seconds on the session clock (monotonic increasing).
    rgb : np.ndarray, shape (H, W, 3), uint8
    """
    if fps <= 0:
        raise ValueError("fps must be > 0")
    info = info or probe(path)
    if not info.has_video:
        return
    step = 1.0 / fps
    next_t = 0.0
    last_t = -1.0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = int(decode_threads)
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t = float(frame.time) - info.origin_s
                if t + 1e-6 < next_t or t <= last_t:
                    continue
                last_t = max(t, 0.0)
                yield last_t, _upright_rgb(frame, max_side)
                next_t = (np.floor(t * fps + 1e-6) + 1) * step
        except Exception as exc:
            if type(exc).__module__.startswith("av"):
                raise MediaError(
                    f"video stream is corrupt after {max(last_t, 0):.1f} s ({type(exc).__name__}: {exc})"
                ) from exc
            raise


def _upright_rgb(frame, max_side: int | None) -> np.ndarray:
    """A decoded frame as RGB, its longer side at most ``max_side`` pixels, rotated to display upright."""
    width, height = frame.width, frame.height
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = int(width * scale) // 2 * 2, int(height * scale) // 2 * 2
    rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
    rotation = int(round(frame.rotation or 0)) % 360  # counter-clockwise degrees to display upright
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    return rgb


def extract_audio(
    path: str | Path,
    wav_path: str | Path,
    *,
    sr: int = AUDIO_SR,
    chunk_s: float = 30.0,
    info: MediaInfo | None = None,
    patient_channel: int | None = None,
    channels_path: str | Path | None = None,
) -> float:
    """Decode, downmix and resample the audio track to a mono 16-bit WAV, streaming.

    The audio is aligned to the session clock: if it starts after time zero it is
    preceded by silence; if it starts before, the early part is dropped.

    Parameters
    ----------
    patient_channel : int, optional
        Index of the channel that carries the patient's own microphone (e.g. 0 = left of a
        stereo track). With it, ``channels_path`` receives a 2-channel WAV on the same clock:
        channel 0 the patient's channel, channel 1 the mean of the other channels; ``wav_path``
        is still the mono mix of all channels.

    Returns
    -------
    float
        Duration of the written audio, seconds (0.0 when the recording has no audio).

    Raises
    ------
    MediaError
        Corrupt audio, or a ``patient_channel`` the track does not have.
    """
    info = info or probe(path)
    if not info.has_audio:
        return 0.0
    channel = patient_channel
    resampler = _audio_resampler(info, sr, channel, channels_path)
    with contextlib.ExitStack() as stack:
        container = stack.enter_context(_open(path))
        sink = _open_sink(stack, wav_path, channels_path if channel is not None else None, sr)
        stream = container.streams.audio[0]
        offset = int(round((_start(stream) - info.origin_s) * sr))  # >0: pad, <0: drop
        if offset > 0:
            sink.add(np.zeros((offset, 1 if channel is None else 3), dtype=np.float32))
        try:
            _decode_into(sink, container, stream, resampler, channel, to_drop=max(-offset, 0), flush_rows=chunk_s * sr)
        except Exception as exc:
            if type(exc).__module__.startswith("av"):  # the decoder's error: say how far it got
                raise _corrupt_audio(exc, sink.written / sr) from exc
            raise
        sink.flush()
    return sink.written / sr


def _open_sink(
    stack: contextlib.ExitStack, wav_path: str | Path, channels_path: str | Path | None, sr: int
) -> _WavSink:
    """The mono 16-bit WAV at ``wav_path`` and, when ``channels_path`` is given, the 2-channel one
    (patient, others), opened on ``stack`` (closed with it)."""
    import soundfile as sf

    out = stack.enter_context(sf.SoundFile(str(wav_path), "w", samplerate=sr, channels=1, subtype="PCM_16"))
    chan = (
        stack.enter_context(sf.SoundFile(str(channels_path), "w", samplerate=sr, channels=2, subtype="PCM_16"))
        if channels_path is not None
        else None
    )
    return _WavSink(out, chan)


def _corrupt_audio(exc: Exception, written_s: float) -> MediaError:
    """A decoder's (PyAV's) error as a :class:`MediaError` saying how far the audio decoded."""
    return MediaError(f"audio stream is corrupt after {written_s:.1f} s ({type(exc).__name__}: {exc})")


def _decode_into(
    sink: _WavSink, container, stream, resampler, patient_channel: int | None, *, to_drop: int, flush_rows: float
) -> None:
    """Decode and resample every frame of ``stream`` into ``sink`` (less its first ``to_drop`` rows),
    flushing it whenever ``flush_rows`` rows are buffered."""
    for frame in container.decode(stream):
        for rframe in resampler.resample(frame):
            data = _finite(_as_rows(rframe, patient_channel))
            if to_drop:
                cut = min(to_drop, len(data))
                data, to_drop = data[cut:], to_drop - cut
            sink.add(data)
            if sink.buffered >= flush_rows:
                sink.flush()
    for rframe in resampler.resample(None):
        sink.add(_finite(_as_rows(rframe, patient_channel)))


MAX_LEVEL = 8.0  # |sample| at full scale 1.0: codecs overshoot 1 a little (+18 dB is far beyond that)


def _finite(rows: np.ndarray) -> np.ndarray:
    """``rows``, if every sample is a number on the ±1 scale: a float track holding NaN or infinity is
    corrupt, one far beyond full scale was written on another scale (e.g. 16-bit values stored as float);
    either would reach the models as noise, clipping or silence."""
    if not np.isfinite(rows).all():
        raise MediaError("the audio holds samples that are not numbers (NaN or infinity): a corrupt float track")
    peak = float(np.abs(rows).max()) if rows.size else 0.0
    if peak > MAX_LEVEL:
        raise MediaError(
            f"the audio's samples reach {peak:.1f} times full scale (more than {MAX_LEVEL:g}): a float track written "
            "on another scale (e.g. 16-bit values stored as float); rescale it to ±1"
        )
    return rows


def _audio_resampler(info: MediaInfo, sr: int, patient_channel: int | None, channels_path):
    """PyAV's resampler to ``sr``: to mono, or keeping the channels apart when a patient channel is named
    (which the track must have, beside at least one other, and ``channels_path`` must receive)."""
    import av

    if patient_channel is None:
        return av.AudioResampler(format="flt", layout="mono", rate=sr)
    n_ch = int(info.audio_channels or 1)
    if not 0 <= int(patient_channel) < n_ch or n_ch < 2 or channels_path is None:
        hint = "a separate patient channel needs a track with at least 2" if n_ch < 2 else f"they are 0-{n_ch - 1}"
        raise MediaError(
            f"the manifest names patient audio channel {patient_channel}, but the audio track has {n_ch} channel(s); "
            + hint
        )
    return av.AudioResampler(format="fltp", rate=sr)  # keep the channels apart


def _as_rows(rframe, patient_channel: int | None) -> np.ndarray:
    """One resampled frame as rows: (n, 1) mono, or (n, 3) [mix, patient, other] with a patient channel."""
    data = rframe.to_ndarray().astype(np.float32, copy=False)
    if patient_channel is None:
        return data.reshape(-1, 1)
    channel = int(patient_channel)
    others = np.delete(data, channel, axis=0).mean(axis=0)
    return np.stack([data.mean(axis=0), data[channel], others], axis=1)


class _WavSink:
    """Buffered rows written to the mono WAV (column 0) and, when open, the 2-channel WAV (columns 1-2)."""

    def __init__(self, out, chan) -> None:
        self.out, self.chan = out, chan
        self.buf: list[np.ndarray] = []  # each (n, 1) mono or (n, 3) [mix, patient, other]
        self.buffered = 0  # rows in buf
        self.written = 0  # rows written

    def add(self, rows: np.ndarray) -> None:
        self.buf.append(rows)
        self.buffered += len(rows)

    def flush(self) -> None:
        if self.buf:
            data = np.concatenate(self.buf)
            self.out.write(data[:, 0])
            if self.chan is not None:
                self.chan.write(data[:, 1:])
            self.written += len(data)
        self.buf, self.buffered = [], 0


def wav_blocks(path: str | Path, *, block_s: float) -> Iterator[tuple[float, np.ndarray]]:
    """Read a WAV in consecutive blocks, never the whole file.

    Yields
    ------
    (start_s, block)
        ``block`` float32 in [-1, 1], shape (n,) for mono, (n, channels) otherwise; every block
        but the last holds ``round(block_s * sr)`` samples.
    """
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        n = max(1, int(round(block_s * f.samplerate)))
        start = 0
        while True:
            data = f.read(n, dtype="float32", always_2d=False)
            if len(data) == 0:
                return
            yield start / f.samplerate, np.ascontiguousarray(data)
            start += len(data)


def read_wav(path: str | Path, start_s: float = 0.0, end_s: float | None = None, *, mono: bool = False) -> np.ndarray:
    """Read ``[start_s, end_s)`` of a WAV (float32; shape (n,) mono, (n, channels) otherwise;
    ``mono`` averages the channels)."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        a = min(max(int(round(start_s * f.samplerate)), 0), f.frames)
        b = f.frames if end_s is None else min(max(int(round(end_s * f.samplerate)), a), f.frames)
        f.seek(a)
        y = f.read(b - a, dtype="float32", always_2d=False)
    return np.ascontiguousarray(y.mean(axis=1) if mono and y.ndim == 2 else y)


def load_wav(path: str | Path) -> np.ndarray:
    """Read a mono WAV as float32 in [-1, 1], shape (n,)."""
    import soundfile as sf

    data, _ = sf.read(str(path), dtype="float32", always_2d=False)
    return np.asarray(data, dtype=np.float32).reshape(-1)
