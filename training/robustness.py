"""Voice accuracy under telehealth audio conditions (:data:`training.audio_degrade.CONDITIONS`).

A fixed, seeded sample of each corpus is degraded and featurised (cached under ``.cache/voice``);
each corpus is scored by the model that never heard it (leave-one-corpus-out).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from training.audio_degrade import CONDITIONS
from training.voice import CACHE_DIR, _read_16k
from training.voice_corpora import SPEECH

SAMPLE_PER_CORPUS = 200  # clips of each corpus in the robustness table
SEED = 0


def sample_rows(table: pd.DataFrame, *, n: int = SAMPLE_PER_CORPUS, seed: int = SEED) -> np.ndarray:
    """A seeded sample of row indices (sorted)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(table), size=min(n, len(table)), replace=False))


def degraded_features(name: str, table: pd.DataFrame, rows: np.ndarray) -> dict[str, np.ndarray]:
    """condition -> (len(rows), N_FEATURES) features of the degraded clips (cached)."""
    from multimodal_fer.voice.model import FEATURE_VERSION, voice_features

    key = hashlib.sha256(
        (FEATURE_VERSION + name + ",".join(table["path"].iloc[rows]) + ",".join(CONDITIONS)).encode()
    ).hexdigest()[:16]
    cache = CACHE_DIR / f"robust-{name}-{key}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            return {c: z[c] for c in CONDITIONS if c != "clean"}
    out = {c: [] for c in CONDITIONS if c != "clean"}
    for path in table["path"].iloc[rows]:
        y = _read_16k(SPEECH / name / path)
        for c in out:
            out[c].append(voice_features(CONDITIONS[c](y)))
    arrays = {c: np.vstack(v) for c, v in out.items()}
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return arrays
