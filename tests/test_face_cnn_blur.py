"""benchmarks/face_cnn_blur.py: the blur softens crops and only them, every variant gives probability rows,
the adaptive variant blurs only the rows it is told to, and the rule is the one its docstring states."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.face_calibration_quality import crop_quality  # noqa: E402
from benchmarks.face_cnn_blur import SIGMAS, blur, blur_probabilities, passes_rule, variant_probas  # noqa: E402


def crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_blur_lowers_the_high_frequency_share_more_with_a_wider_kernel():
    x = crops(10)
    assert blur(x, 0.0) is x
    hf = [crop_quality(blur(x, s))["sharpness"] for s in (0.0, 0.5, 1.0)]
    assert np.all(hf[1] < hf[0]) and np.all(hf[2] < hf[1])
    b = blur(x, 1.0)
    assert b.shape == x.shape and b.dtype == np.uint8
    assert abs(float(b.mean()) - float(x.mean())) < 2  # brightness kept
    flat = np.full((2, 48, 48), 77, dtype=np.uint8)
    assert np.array_equal(blur(flat, 1.0), flat)


def test_every_variant_is_a_probability_row_and_adaptive_mixes_by_row():
    from multimodal_fer.face import cnn

    torch.manual_seed(0)
    nets = [cnn.build((4, 8, 8)).eval() for _ in range(2)]
    x = crops(30)
    p = blur_probabilities(nets, x)
    assert len(p) == 2 * (1 + len(SIGMAS)) * 2
    rows = np.arange(30) % 3 == 0
    v = variant_probas(p, 2, rows)
    assert set(v) == {"plain (0.4.0)", *(f"blur_{s}" for s in SIGMAS), "adaptive_1.0"}
    for q in v.values():
        assert q.shape == (30, 7) and np.allclose(q.sum(axis=1), 1.0)
    assert np.allclose(v["adaptive_1.0"][rows], v["blur_1.0"][rows])
    assert np.allclose(v["adaptive_1.0"][~rows], v["plain (0.4.0)"][~rows])
    assert not np.allclose(v["blur_1.0"], v["plain (0.4.0)"])  # the blur reaches the networks


def test_rule_needs_a_point_on_average_no_corpus_lower_and_the_hold_out_kept():
    def res(base, new, holdout=(0.7, 0.7)):
        r = {"meta_holdout": {"plain (0.4.0)": holdout[0], "v": holdout[1]}}
        for k, b, n in zip(("sfew", "expw", "affectnet48"), base, new):
            r[k] = {"plain (0.4.0)": b, "v": n}
        return r

    assert passes_rule(res((0.5, 0.4, 0.5), (0.512, 0.412, 0.512)), "v")
    assert not passes_rule(res((0.5, 0.4, 0.5), (0.505, 0.405, 0.505)), "v")  # +0.5 point
    assert not passes_rule(res((0.5, 0.4, 0.5), (0.55, 0.399, 0.55)), "v")  # one corpus lower
    assert not passes_rule(res((0.5, 0.4, 0.5), (0.52, 0.42, 0.52), (0.7, 0.69)), "v")  # hold-out −1 point


def test_probabilities_are_computed_once_then_read_from_the_cache(tmp_path):
    from benchmarks.face_cnn_views import cached_probabilities

    calls = []

    def compute(a):
        calls.append(a)
        return {"0/0.0/crop": np.full((2, 7), a / 7)}

    first = cached_probabilities(tmp_path / "p.npz", compute, 1.0)
    again = cached_probabilities(tmp_path / "p.npz", compute, 2.0)
    assert calls == [1.0] and np.array_equal(first["0/0.0/crop"], again["0/0.0/crop"])
