"""Properties of the ASR chunk planner (multimodal_fer.text.chunking.plan_chunks) on random VAD output."""

import numpy as np
import pytest

from multimodal_fer.text import asr
from multimodal_fer.text.chunking import plan_chunks


def _random_segments(rng: np.random.Generator, duration_s: float) -> list[tuple[float, float]]:
    edges = np.sort(rng.uniform(0.0, duration_s, size=2 * int(rng.integers(0, 40))))
    return [(float(s), float(e)) for s, e in edges.reshape(-1, 2) if e > s]


@pytest.mark.parametrize("seed", range(30))
def test_chunks_are_sorted_disjoint_bounded_and_cover_the_speech(seed):
    rng = np.random.default_rng(seed)
    duration = float(rng.uniform(1.0, 900.0))
    max_s = float(rng.choice([5.0, 30.0, 120.0]))
    segments = _random_segments(rng, duration)
    if seed % 5 == 0:
        segments = [(0.0, duration)]  # one long segment with no pause at all: cut at max_s
    chunks = plan_chunks(segments, duration_s=duration, max_s=max_s)
    for s, e in chunks:
        assert 0.0 <= s < e <= duration + 1e-9
        assert e - s <= max_s + 1e-9
    assert all(chunks[i][1] <= chunks[i + 1][0] + 1e-9 for i in range(len(chunks) - 1))
    for s, e in segments:  # every instant of speech lies in some chunk
        for t in np.linspace(s, e, 7):
            assert any(cs - 1e-9 <= t <= ce + 1e-9 for cs, ce in chunks), (t, chunks)


def test_no_speech_no_chunks_and_bad_limits():
    assert plan_chunks([], duration_s=10.0) == []
    with pytest.raises(ValueError, match="pad_s"):
        plan_chunks([(0.0, 1.0)], duration_s=2.0, max_s=1.0, pad_s=0.5)


def test_asr_re_exports_the_planner():
    assert asr.plan_chunks is plan_chunks and asr.ASR_CHUNK_S == 120.0 and asr.CHUNK_PAD_S == 0.5
