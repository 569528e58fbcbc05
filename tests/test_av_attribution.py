"""The dense mouth-synchrony measurement of ``benchmarks/av_attribution.py`` on synthetic signals.

A synthetic mouth whose opening follows the speech envelope must score high synchrony, the same mouth
against a shuffled envelope low; a voice segment too short for the test to have power is ``unknown``.
These check the measuring machinery, not the (negative) result on real clips: see docs/fusion.md.
"""

import numpy as np
import pytest

from benchmarks import av_attribution as bench
from tests.conftest import needs_shared

FPS = 30  # frames per second of the synthetic video
SR = 16_000  # Hz


def _opening(n: int, rng) -> np.ndarray:
    """(n,) mouth opening in [0, 1]: random syllable targets every 6 frames (5 Hz), linearly joined."""
    knots = rng.uniform(0.0, 1.0, n // 6 + 2)
    return np.interp(np.arange(n), np.arange(knots.size) * 6, knots)


def _mouth_frame(opening: float, rng) -> np.ndarray:
    """(120, 160) uint8 luma: skin at 150 with a dark mouth whose height follows ``opening``."""
    import cv2

    img = np.full((120, 160), 150, np.uint8)
    cv2.ellipse(img, (80, 60), (30, int(2 + 18 * opening)), 0, 0, 360, 40, -1)
    img = cv2.GaussianBlur(img, (5, 5), 1.5)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def _speech(opening: np.ndarray, t: np.ndarray, rng) -> np.ndarray:
    """(n_samples,) float32 noise at SR whose amplitude follows ``opening`` at the frame times ``t``."""
    ts = np.arange(int(t[-1] * SR) + SR // FPS) / SR
    return (rng.normal(0, 1, ts.size) * np.interp(ts, t, 0.01 + opening) * 0.3).astype(np.float32)


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    n = 90  # 3 s
    t = np.arange(n) / FPS
    opening = _opening(n, rng)
    clip = {"t": t, "y": [_mouth_frame(o, rng) for o in opening], "box": np.tile([0.25, 0.25, 0.75, 0.75], (n, 1))}
    proxies, cost = bench.mouth_proxies(bench.mouth_crops(clip, pad=bench.MOUTH_PAD))
    own = _speech(opening, t, rng)
    shuffled = _speech(opening[rng.permutation(n)], t, rng)
    return t, proxies, cost, own, shuffled


def test_every_proxy_follows_the_synthetic_mouth(synthetic):
    t, proxies, cost, own, shuffled = synthetic
    assert set(proxies) == {"flow", "gap", "dark", "flow+gap"}
    assert all(v.shape == t.shape and np.isfinite(v).all() for v in proxies.values())
    assert set(cost) == {"flow", "gap+dark"} and all(ms >= 0 for ms in cost.values())
    for name, m in proxies.items():
        high = bench.best_correlation(t, m, own, diff=True)
        low = bench.best_correlation(t, m, shuffled, diff=True)
        assert high > 0.5, name
        assert low < 0.3, name


def test_the_synchrony_rule_decides_long_segments_and_leaves_short_ones_unknown(synthetic):
    t, proxies, _, own, shuffled = synthetic
    m = proxies["flow+gap"]
    assert bench.sync_decision(t, m, own, (0.2, 2.8), alpha=0.05) == "patient"
    assert bench.sync_decision(t, m, shuffled, (0.2, 2.8), alpha=0.05) == "other"
    for audio in (own, shuffled):  # 0.5 s (+ margins): too few frames for the test to have power
        assert bench.sync_decision(t, m, audio, (0.5, 1.0), alpha=0.05) == "unknown"
    assert bench.sync_decision(t, m, own, (5.0, 6.0), alpha=0.05) == "unknown"  # no face frames


def test_the_luma_plane_is_ffmpegs_grey_in_limited_range():
    import av

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    y = bench.luma_plane(frame)
    assert y.shape == (48, 64) and y.dtype == np.uint8
    grey = frame.to_ndarray(format="gray").astype(np.float64)  # full range: the plane's 16-235 stretched
    assert np.abs((y.astype(np.float64) - 16) * 255 / 219 - grey).max() <= 2


def test_dense_pass_on_a_real_clip():
    from multimodal_fer import media

    path = needs_shared("av", "cremad", "video_flv", "1001_DFA_ANG_XX.flv")
    clip = bench.dense_pass(path, media.probe(path))
    n = len(clip["y"])
    assert n > 50 and clip["t"].shape == (n,) and np.all(np.diff(clip["t"]) > 0)
    box = clip["box"]
    assert box.shape == (n, 4) and np.all((box >= 0) & (box <= 1))
    assert np.all(box[:, 2] > box[:, 0]) and np.all(box[:, 3] > box[:, 1])
    crops = bench.mouth_crops(clip, pad=bench.MOUTH_PAD)
    assert crops.shape == (n, bench.DENSE_GRID[1], bench.DENSE_GRID[0])
