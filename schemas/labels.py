"""The canonical emotion labels, in the order of every probability block of the warehouse.

The one definition: :mod:`multimodal_fer.labels` re-exports :data:`EMOTIONS` (and maps every
corpus onto it); ``schemas`` imports nothing from ``multimodal_fer``.
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
)
