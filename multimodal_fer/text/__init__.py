"""Transcript stream: speech recognition with word timestamps, and emotion expressed in words.

Heavy dependencies (faster-whisper, transformers, torch) are imported lazily, inside functions,
so importing this package is fast.
"""

from multimodal_fer.text.asr import (
    AsrOptions,
    Segment,
    Transcript,
    Word,
    load_asr_model,
    resolve_model_dir,
    transcribe,
)
from multimodal_fer.text.emotion import TextEmotionModel, vader_valence
from multimodal_fer.text.redact import redact, redact_transcript

__all__ = [
    "AsrOptions",
    "Segment",
    "TextEmotionModel",
    "Transcript",
    "Word",
    "load_asr_model",
    "redact",
    "redact_transcript",
    "resolve_model_dir",
    "transcribe",
    "vader_valence",
]
