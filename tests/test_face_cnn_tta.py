"""benchmarks/face_cnn_tta.py: its fixed views move, scale and turn a synthetic face crop as named, and every
network, view and mirror gives probability rows."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.face_cnn_tta import GEOMETRY, SHIFT, VARIANTS, view, view_probabilities  # noqa: E402

S = 48


def blob(cx: float, cy: float, r: float) -> np.ndarray:
    """A (1, 1, S, S) float tensor: 1 inside a disc of radius ``r`` px at (cx, cy), else 0."""
    yy, xx = np.mgrid[:S, :S] + 0.5
    return torch.from_numpy(((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.float32))[None, None]


def centre(x) -> tuple[float, float]:
    """Centre of mass (x, y) in px of a (1, 1, S, S) tensor."""
    a = x[0, 0].numpy().astype(np.float64)
    yy, xx = np.mgrid[:S, :S] + 0.5
    return float((a * xx).sum() / a.sum()), float((a * yy).sum() / a.sum())


def test_the_plain_crop_is_left_as_it_is():
    x = blob(20, 30, 6)
    assert view(x, GEOMETRY["crop"]) is x


def test_shifts_move_the_content_by_the_named_fraction_of_the_half_side():
    x = blob(24, 24, 6)
    step = SHIFT * S / 2  # px
    (x0, y0) = centre(x)
    for name, axis, sign in (("shift_x+", 0, -1), ("shift_x-", 0, 1), ("shift_y+", 1, -1), ("shift_y-", 1, 1)):
        moved = centre(view(x, GEOMETRY[name]))
        assert moved[axis] - (x0, y0)[axis] == pytest.approx(sign * step, abs=0.3), name
        assert moved[1 - axis] == pytest.approx((x0, y0)[1 - axis], abs=0.05), name


def test_zoom_in_enlarges_and_zoom_out_shrinks_a_centred_face():
    x = blob(24, 24, 10)
    area = float(x.sum())
    assert float(view(x, GEOMETRY["zoom_in"]).sum()) > 1.1 * area
    assert float(view(x, GEOMETRY["zoom_out"]).sum()) < 0.9 * area


def test_the_two_rotations_are_mirror_images_of_each_other():
    x = blob(16, 20, 5) + blob(34, 30, 3)  # not mirror-symmetric
    turned = view(torch.flip(x, dims=[3]), GEOMETRY["rotate+"])
    back = torch.flip(view(x, GEOMETRY["rotate-"]), dims=[3])
    assert torch.allclose(turned, back, atol=1e-4)
    assert not torch.allclose(view(x, GEOMETRY["rotate+"]), x, atol=0.1)


def test_view_probabilities_cover_every_network_view_and_mirror():
    from multimodal_fer.face import cnn

    torch.manual_seed(0)
    nets = [cnn.build((4, 8, 8)).eval() for _ in range(2)]
    crops = np.random.default_rng(0).integers(0, 256, (5, S, S), dtype=np.uint8)
    p = view_probabilities(nets, crops)
    assert len(p) == 2 * len(GEOMETRY) * 2
    for key, rows in p.items():
        assert rows.shape == (5, 7), key
        assert np.allclose(rows.sum(axis=1), 1.0)
    assert np.allclose(p["0/crop/crop"], cnn.predict_proba(nets[0], crops, mirror=False))
    for passes in VARIANTS.values():  # every pass a variant averages is one of the computed ones
        assert all(f"0/{v}" in p for v in passes), passes
