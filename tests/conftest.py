"""Shared fixtures: generated media (PyAV), the shared data folder, environment for offline runs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # as the product runs (multimodal_fer.env); a test may import prefect first

from multimodal_fer.paths import SHARED_DATA  # noqa: E402


def needs_shared(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test cleanly when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def write_video(path: Path, *, seconds: float = 2.0, fps: int = 10, size: int = 64, tone_hz: float | None = 440.0,
                video: bool = True, audio_sr: int = 44100, channels: int = 1, image=None,
                right_hz: float | None = None) -> Path:
    """Write a small MP4: frames whose red channel encodes the frame index, and a sine tone.

    ``image``: one RGB frame for every frame, or a function ``i -> RGB frame`` (all the same shape).
    ``right_hz``: with ``channels=2``, the right channel's own tone (0: silent) instead of the same.
    """
    import av

    frame_of = image if callable(image) else (lambda i: image)
    image = frame_of(0) if image is not None else None

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        vs = None
        if video:
            vs = c.add_stream("libx264", rate=fps)
            vs.width, vs.height = (size, size) if image is None else (image.shape[1], image.shape[0])
            vs.pix_fmt = "yuv420p"
        as_ = None
        if tone_hz is not None:
            as_ = c.add_stream("aac", rate=audio_sr)
            as_.layout = "mono" if channels == 1 else "stereo"
        if vs is not None:
            for i in range(int(seconds * fps)):
                frame = np.zeros((vs.height, vs.width, 3), np.uint8) if image is None else frame_of(i).copy()
                if image is None:
                    frame[..., 0] = (i * 5) % 256
                for p in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
        if as_ is not None:
            t = np.arange(int(seconds * audio_sr)) / audio_sr
            tone = (0.3 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            n = 1024
            for s in range(0, tone.size, n):
                chunk = np.tile(tone[s:s + n], (channels, 1)) if channels > 1 else tone[s:s + n].reshape(1, -1)
                if channels == 2 and right_hz is not None:
                    chunk[1] = 0.3 * np.sin(2 * np.pi * right_hz * t[s:s + n]) if right_hz else 0.0
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.reshape(1, -1)) if channels == 1 else
                                                np.ascontiguousarray(chunk.T.reshape(1, -1)), format="flt",
                                                layout="mono" if channels == 1 else "stereo")
                fr.sample_rate = audio_sr
                fr.pts = s
                for p in as_.encode(fr):
                    c.mux(p)
            for p in as_.encode():
                c.mux(p)
    return path


@pytest.fixture
def tiny_video(tmp_path) -> Path:
    return write_video(tmp_path / "tiny.mp4")


# ----------------------------------------------------------------------------- a real face
@pytest.fixture(scope="session")
def hopper_rgb() -> np.ndarray:
    """matplotlib's public-domain grace_hopper.jpg, RGB uint8 (600, 512, 3)."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as img:
        return np.asarray(img.convert("RGB"))


@pytest.fixture(scope="session")
def hopper_obs(hopper_rgb):
    """Its MediaPipe landmarks (a ``FaceObservation``)."""
    from multimodal_fer.face.landmarks import landmarks_from_image

    obs = landmarks_from_image(hopper_rgb)
    assert obs is not None
    return obs


@pytest.fixture(scope="session")
def hopper(hopper_rgb, hopper_obs):
    """``(rgb, observation)`` of the portrait."""
    return hopper_rgb, hopper_obs


# ----------------------------------------------------------------------------- a synthetic warehouse
@pytest.fixture(scope="session")
def synthetic_db(tmp_path_factory) -> Path:
    """A small synthetic warehouse (no models run): 12 patients × 5 sessions of 2 minutes. Do not write to it."""
    from scripts.synthetic_warehouse import build

    return build(tmp_path_factory.mktemp("synthetic") / "warehouse.duckdb", n_patients=12, n_sessions=5, minutes=2.0)
