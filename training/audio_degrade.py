"""Telehealth audio conditions for robustness tests and augmentation: codec, narrow band, noise,
reverberation, level. Pure functions of a 16 kHz mono float clip; seeded where random.
"""

from __future__ import annotations

import io

import numpy as np

SR = 16_000  # Hz, the project's audio rate
NARROW_SR = 8_000  # Hz, telephone narrow band
RT60_S = 0.5  # s, reverberation time of the synthetic room
LEVEL_DB = -20.0  # dB, the quiet-microphone condition


def opus_roundtrip(y: np.ndarray, *, bitrate_bps: int) -> np.ndarray:
    """Encode ``y`` with libopus at ``bitrate_bps`` (Ogg, via PyAV) and decode it back to 16 kHz mono."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48_000)
        stream.bit_rate = bitrate_bps
        stream.layout = "mono"
        up = _resample(y, SR, 48_000).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(up[None, :], format="flt", layout="mono")
        frame.sample_rate = 48_000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    parts = []
    with av.open(buf) as inp:
        for fr in inp.decode(audio=0):
            parts.append(fr.to_ndarray().reshape(-1, fr.samples).mean(axis=0))
    z = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    rate = 48_000
    return _resample(z, rate, SR)[: len(y)].astype(np.float32)


def _resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    import librosa

    return librosa.resample(np.asarray(y, dtype=np.float32), orig_sr=orig_sr, target_sr=target_sr)


def narrow_band(y: np.ndarray) -> np.ndarray:
    """Down to 8 kHz and back up: nothing above 4 kHz survives (telephone band)."""
    return _resample(_resample(y, SR, NARROW_SR), NARROW_SR, SR)[: len(y)]


def add_noise(y: np.ndarray, *, snr_db: float, seed: int = 0) -> np.ndarray:
    """Add pink-ish (1/f) noise at ``snr_db`` relative to the clip's power."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(len(y))
    spec = np.fft.rfft(white)
    f = np.maximum(np.fft.rfftfreq(len(y), 1.0 / SR), 20.0)
    noise = np.fft.irfft(spec / np.sqrt(f), n=len(y))
    p_sig = float(np.mean(np.square(y))) + 1e-12
    noise *= np.sqrt(p_sig / (np.mean(np.square(noise)) + 1e-12) / 10 ** (snr_db / 10))
    return (y + noise).astype(np.float32)


def reverberate(y: np.ndarray, *, rt60_s: float = RT60_S, seed: int = 0) -> np.ndarray:
    """Convolve with a synthetic room impulse response (exponentially decaying noise, ``rt60_s``)."""
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    n = int(rt60_s * SR)
    t = np.arange(n) / SR
    rir = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # 60 dB decay over rt60_s
    rir[0] = 1.0
    rir /= np.sqrt(np.sum(rir**2))
    z = fftconvolve(y, rir)[: len(y)]
    return (z * np.sqrt((np.mean(y**2) + 1e-12) / (np.mean(z**2) + 1e-12))).astype(np.float32)


def attenuate(y: np.ndarray, *, db: float = LEVEL_DB) -> np.ndarray:
    """Scale the level by ``db`` decibels."""
    return (y * 10 ** (db / 20)).astype(np.float32)


#: condition name -> function of one clip (the robustness table's columns)
CONDITIONS = {
    "clean": lambda y: y,
    "opus_12k": lambda y: opus_roundtrip(y, bitrate_bps=12_000),
    "opus_24k": lambda y: opus_roundtrip(y, bitrate_bps=24_000),
    "narrow_8k": narrow_band,
    "noise_10db": lambda y: add_noise(y, snr_db=10.0),
    "reverb": reverberate,
    "level_-20db": attenuate,
}
