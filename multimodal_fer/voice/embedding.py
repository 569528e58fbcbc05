"""Whisper encoder embedding of a voice clip (the second part of the voice model's input).

The mean and standard deviation over time of the last encoder layer of the packaged Whisper-base
model (CTranslate2 int8, about 40 ms per 3 s clip on one core), :data:`EMBED_NAMES`.
:data:`EMBED_VERSION` keys the training feature cache: bump it when a value changes.
"""

from __future__ import annotations

import functools

import numpy as np

from multimodal_fer.voice.features import _prepare_clip, _trim_to_speech
from multimodal_fer.voice.prosody import SR

EMBED_VERSION = "whisper-base-enc-1"  # bump when speech_embedding changes
EMBED_MODEL = "base"  # packaged CTranslate2 Whisper model whose encoder embeds the voice
EMBED_DIM = 512  # encoder width of Whisper base
EMBED_MAX_S = 30.0  # s, Whisper's longest input; longer clips are cut
EMBED_NAMES: tuple[str, ...] = tuple(
    [f"wenc{i}_mean" for i in range(EMBED_DIM)] + [f"wenc{i}_std" for i in range(EMBED_DIM)]
)


@functools.lru_cache(maxsize=1)
def _whisper_encoder():
    """The packaged Whisper-base CTranslate2 model (int8, one thread) and its mel front end.

    A model instance of its own, not the speech recogniser's: the pipeline runs the voice model
    in the face thread while the recogniser decodes in the other, and one CTranslate2 instance
    with one worker would queue the two behind each other (≈ 150 MB more memory, flat).
    """
    import ctranslate2
    from faster_whisper.feature_extractor import FeatureExtractor

    from multimodal_fer.text.asr import resolve_model_dir

    model = ctranslate2.models.Whisper(
        str(resolve_model_dir(EMBED_MODEL)), device="auto", compute_type="int8", intra_threads=1, inter_threads=1
    )
    return model, FeatureExtractor(feature_size=80)


def speech_embedding(audio: np.ndarray, *, trim: bool = True) -> np.ndarray:
    """Mean and standard deviation over time of Whisper-base's last encoder layer.

    The clip (16 kHz mono, cropped to its VAD speech when ``trim``) is encoded at its own
    length, not padded to Whisper's 30 s (about 40 ms per 3 s clip on one core instead of 1 s);
    the same is done in training, so the features match.

    Returns
    -------
    np.ndarray, shape (2 * EMBED_DIM,), float64, named by :data:`EMBED_NAMES`
    """
    import ctranslate2

    y = _prepare_clip(audio)
    if trim:
        y, _ = _trim_to_speech(y)
    y = y[: int(EMBED_MAX_S * SR)]
    model, fe = _whisper_encoder()
    mel = fe(y)
    n = mel.shape[1] - mel.shape[1] % 2  # the encoder halves the frame rate
    n = max(n, 2)
    feats = np.zeros((1, mel.shape[0], n), dtype=np.float32)
    feats[0, :, : min(n, mel.shape[1])] = mel[:, :n]
    out = np.asarray(model.encode(ctranslate2.StorageView.from_array(feats), to_cpu=True))[0]
    return np.concatenate([out.mean(axis=0), out.std(axis=0)]).astype(np.float64)
