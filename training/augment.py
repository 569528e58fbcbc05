"""Features of degraded copies of every training clip (for training with telehealth conditions).

    OMP_NUM_THREADS=1 .venv/bin/python -m training.augment narrow_8k level_-20db

Cached under ``.cache/voice/aug-<corpus>-<condition>-<key>.npz``; :func:`augmented_features` reads them.
"""

from __future__ import annotations

import hashlib
import sys
import time

import numpy as np

from training.audio_degrade import CONDITIONS
from training.voice import CACHE_DIR, _limit_threads, _read_16k
from training.voice_corpora import CORPORA, SPEECH, load_table


def _cache(name: str, condition: str, paths) -> object:
    from multimodal_fer.voice.model import FEATURE_VERSION

    key = hashlib.sha256((FEATURE_VERSION + condition + ",".join(paths)).encode()).hexdigest()[:16]
    return CACHE_DIR / f"aug-{name}-{condition}-{key}.npz"


def augmented_features(name: str, condition: str, *, compute: bool = False) -> np.ndarray | None:
    """(N, N_FEATURES) features of every clip of corpus ``name`` under ``condition`` (None if not cached
    and not ``compute``)."""
    from multimodal_fer.voice.model import voice_features

    table = load_table(name)
    cache = _cache(name, condition, list(table["path"]))
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            return z["x"]
    if not compute:
        return None
    t0 = time.perf_counter()
    rows = []
    for i, path in enumerate(table["path"]):
        rows.append(voice_features(CONDITIONS[condition](_read_16k(SPEECH / name / path))))
        if (i + 1) % 500 == 0:
            print(f"  {name} {condition} {i + 1}/{len(table)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    x = np.vstack(rows)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x)
    return x


if __name__ == "__main__":
    _limit_threads()
    for cond in sys.argv[1:]:
        for corpus in CORPORA:
            augmented_features(corpus, cond, compute=True)
