"""Voice stream: voice activity, prosody and expressed emotion from the sound of speech.

Everything works on 16 kHz mono float32 audio (:data:`SR`); times in s, frequencies in Hz,
levels in dBFS.
"""

from multimodal_fer.voice.model import (
    RAVDESS_CLASSES,
    VoiceModel,
    clip_features,
    speech_embedding,
    voice_features,
)
from multimodal_fer.voice.prosody import (
    HOP_S,
    PROSODY_WINDOW_COLUMNS,
    SR,
    frame_prosody,
    window_prosody,
)
from multimodal_fer.voice.vad import speech_segments

__all__ = [
    "HOP_S",
    "PROSODY_WINDOW_COLUMNS",
    "RAVDESS_CLASSES",
    "SR",
    "VoiceModel",
    "clip_features",
    "frame_prosody",
    "speech_embedding",
    "speech_segments",
    "voice_features",
    "window_prosody",
]
