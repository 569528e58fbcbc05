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
    CLINICAL_COLUMNS,
    HOP_S,
    PROSODY_WINDOW_COLUMNS,
    SR,
    clinical_frames,
    frame_prosody,
    pause_stats,
    segment_prosody,
    window_prosody,
    window_prosody_clinical,
)
from multimodal_fer.voice.vad import speech_segments

__all__ = [
    "CLINICAL_COLUMNS",
    "HOP_S",
    "PROSODY_WINDOW_COLUMNS",
    "RAVDESS_CLASSES",
    "SR",
    "VoiceModel",
    "clinical_frames",
    "clip_features",
    "frame_prosody",
    "pause_stats",
    "segment_prosody",
    "speech_embedding",
    "speech_segments",
    "voice_features",
    "window_prosody",
    "window_prosody_clinical",
]
