"""Canonical emotion labels and the one table that maps every corpus onto them.

Every model in the project predicts probabilities over :data:`EMOTIONS`, in this order.
Corpus label names (FER2013, CK+, muxspace, RAVDESS, CREMA-D, MELD, EmoryNLP, GoEmotions'
Ekman groups) are mapped by :func:`to_canonical`; nothing is mapped by hand elsewhere.
"""

from __future__ import annotations

import numpy as np

from multimodal_fer_schemas.labels import EMOTIONS  # noqa: F401 - the canonical order is defined with the warehouse schema

N_EMOTIONS = len(EMOTIONS)

#: The 5-class view used by the published landmark approach.
EMOTIONS_5: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")

#: Corpus label name (lower case) -> canonical label; ``None`` means "no canonical class".
LABEL_MAP: dict[str, str | None] = {
    # neutral
    "neutral": "neutral",
    "neu": "neutral",
    "n": "neutral",
    "calm": "neutral",
    "peaceful": "neutral",
    # happy
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "hap": "happy",
    "h": "happy",
    # sad
    "sad": "sad",
    "sadness": "sad",
    "sa": "sad",
    # angry
    "angry": "angry",
    "anger": "angry",
    "ang": "angry",
    "mad": "angry",
    "a": "angry",
    # fearful
    "fear": "fearful",
    "fearful": "fearful",
    "fea": "fearful",
    "scared": "fearful",
    "f": "fearful",
    # disgusted
    "disgust": "disgusted",
    "disgusted": "disgusted",
    "dis": "disgusted",
    "d": "disgusted",
    # surprised
    "surprise": "surprised",
    "surprised": "surprised",
    "sur": "surprised",
    # no canonical class
    "contempt": None,
    "powerful": None,
    "none": None,
    "x": None,
}

#: Approximate valence / arousal of each canonical emotion on [-1, 1]
#: (after Russell's circumplex; used to turn probabilities into continuous scores).
VALENCE: dict[str, float] = {
    "neutral": 0.0,
    "happy": 0.8,
    "sad": -0.6,
    "angry": -0.6,
    "fearful": -0.6,
    "disgusted": -0.7,
    "surprised": 0.2,
}
AROUSAL: dict[str, float] = {
    "neutral": 0.0,
    "happy": 0.5,
    "sad": -0.4,
    "angry": 0.8,
    "fearful": 0.7,
    "disgusted": 0.3,
    "surprised": 0.8,
}
VALENCE_VECTOR = np.array([VALENCE[e] for e in EMOTIONS], dtype=np.float64)
AROUSAL_VECTOR = np.array([AROUSAL[e] for e in EMOTIONS], dtype=np.float64)


def to_canonical(name: str) -> str | None:
    """Map a corpus label name onto a canonical emotion.

    Parameters
    ----------
    name : str
        A label as a corpus spells it (case and surrounding space are ignored).

    Returns
    -------
    str or None
        One of :data:`EMOTIONS`, or ``None`` for labels with no canonical class
        (e.g. CK+'s *contempt*).

    Raises
    ------
    KeyError
        If the name is unknown: unknown labels are an error, never silently dropped.
    """
    key = str(name).strip().lower()
    if key not in LABEL_MAP:
        raise KeyError(f"unknown emotion label {name!r}; known: {sorted(LABEL_MAP)}")
    return LABEL_MAP[key]


def index_of(name: str) -> int:
    """Index of a canonical emotion in :data:`EMOTIONS` (accepts corpus names too)."""
    canonical = to_canonical(name)
    if canonical is None:
        raise KeyError(f"label {name!r} has no canonical emotion")
    return EMOTIONS.index(canonical)


def valence_arousal(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected valence and arousal of probability rows.

    Parameters
    ----------
    probs : np.ndarray, shape (..., 7)
        Probabilities over :data:`EMOTIONS`.

    Returns
    -------
    valence, arousal : np.ndarray, shape (...)
        Each on [-1, 1].
    """
    probs = np.asarray(probs, dtype=np.float64)
    return probs @ VALENCE_VECTOR, probs @ AROUSAL_VECTOR
