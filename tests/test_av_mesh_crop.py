"""``benchmarks/av_mesh_crop.py``: the mouth measure, the landmark interpolation, and the mesh track on a real
clip (the synchrony scoring is ``av_attribution``'s, tested there)."""

import numpy as np

from benchmarks import av_mesh_crop as bench
from tests.conftest import needs_shared


def _face(gap: float, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """(468, 3) mesh points: eye corners 60 px apart, inner lips ``gap`` px apart, then scaled and shifted."""
    p = np.zeros((468, 3))
    p[bench.EYE_CORNERS[0], :2] = (66, 80)
    p[bench.EYE_CORNERS[1], :2] = (126, 80)
    p[bench.INNER_LIP[0], :2] = (96, 140)
    p[bench.INNER_LIP[1], :2] = (96, 140 + gap)
    return p * scale + shift


def test_mouth_opening_grows_with_the_lip_gap_and_ignores_scale_and_position():
    closed, half, wide = (bench.mesh_mouth_opening(_face(g)) for g in (0.0, 6.0, 24.0))
    assert closed == 0.0 < half < wide
    assert np.isclose(half, 0.1)
    assert np.isclose(bench.mesh_mouth_opening(_face(6.0, scale=2.5, shift=40.0)), half)


def test_interpolated_landmarks_pass_through_the_known_ones_and_lie_between():
    known = np.stack([np.zeros((478, 3)), np.ones((478, 3))])
    t = np.array([0.0, 0.05, 0.1, 0.2, 0.3])
    out = bench.interpolate_points(t, np.array([0.0, 0.2]), known)
    assert out.shape == (5, 478, 3)
    np.testing.assert_allclose(out[0], 0.0)
    np.testing.assert_allclose(out[3:], 1.0)  # held after the last known frame
    assert np.all(np.diff(out[:4, 0, 0]) > 0)
    np.testing.assert_allclose(out[2], 0.5)


def test_mesh_track_on_a_real_clip_follows_every_frame():
    from multimodal_fer import media

    path = needs_shared("av", "cremad", "video_flv", "1001_DFA_ANG_XX.flv")
    clip = bench.mesh_track(path, media.probe(path))
    n = len(clip["t"])
    assert n > 50 and clip["mouth"].shape == (n,) and np.all(np.diff(clip["t"]) > 0)
    assert np.all((clip["mouth"] >= 0) & (clip["mouth"] < 1.5))
    assert clip["mouth"].std() > 0.01  # a speaking mouth moves
    assert clip["ms"]["mesh"] > 0 and clip["ms"]["crop"] > 0
