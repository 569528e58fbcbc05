"""The models of the pipeline: loading them once per process, and naming their versions.

:func:`load_models` builds every model (face, voice with its Whisper encoder, text, ASR) and warms
them up; a worker that analyses recordings calls it once. :func:`artefact_versions` names the same
versions from the artefact files alone (their sha256 and the recipe versions), without building a
model: the flow's process uses it to compute the :func:`pipeline_version` of a run whose recordings
are analysed elsewhere (Dask workers). ``tests/test_models.py`` checks that both agree.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from multimodal_fer import __version__
from multimodal_fer.text.asr import AsrOptions

if TYPE_CHECKING:
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.text.emotion import TextEmotionModel
    from multimodal_fer.voice.model import VoiceModel


def _asr_version(asr: AsrOptions) -> str:
    return f"{asr.backend}:{Path(asr.model).name}"


@dataclass(frozen=True)
class Models:
    face: FaceModel
    voice: VoiceModel
    text: TextEmotionModel
    asr: AsrOptions

    @property
    def versions(self) -> dict[str, str]:
        return {
            "face": self.face.version,
            "voice": self.voice.version,
            "text": self.text.version,
            "asr": _asr_version(self.asr),
            "pipeline": __version__,
        }


@functools.lru_cache(maxsize=2)
def load_models(asr: AsrOptions = AsrOptions()) -> Models:
    """Load every model once per process: face, voice (with its Whisper encoder), text and ASR."""
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.text.asr import load_asr_model
    from multimodal_fer.text.emotion import TextEmotionModel
    from multimodal_fer.voice.model import VoiceModel, _whisper_encoder

    models = Models(FaceModel.load(), VoiceModel.load(), TextEmotionModel.load(), asr)
    load_asr_model(asr)  # cached: the first recording does not pay for loading it
    _whisper_encoder()
    _warm_up(models)
    return models


def _warm_up(models: Models) -> None:
    """Run each model once on a tiny synthetic input, so that one-time costs (JIT compilation of
    the prosody functions, ONNX and torch kernel set-up, the VAD model's load) are paid when the
    worker loads its models, not by its first recording."""
    from multimodal_fer.face.features import landmark_features  # noqa: F401 - imported with its dependencies
    from multimodal_fer.voice.vad import speech_segments

    rng = np.random.default_rng(0)
    y = (0.1 * np.sin(2 * np.pi * 150 * np.arange(16000) / 16000) + 0.01 * rng.standard_normal(16000)).astype(
        np.float32
    )
    speech_segments(y)
    models.voice.predict_proba([y])
    models.text.predict_proba(["I feel fine today."], [""])
    n_features = len(models.face.feature_names)
    if getattr(models.face, "has_cnn", False):
        models.face.predict_proba(np.zeros((1, n_features)), np.zeros((1, 48, 48), dtype=np.uint8))
    else:
        models.face.predict_proba(np.zeros((1, n_features)))


def artefact_versions(asr: AsrOptions = AsrOptions()) -> dict[str, str]:
    """``load_models(asr).versions``, from the committed artefact files' digests: no model is built.

    Reads each artefact once to hash it (a few MB) and, for the face model, the ``metrics.json``
    training wrote beside it. Kept equal to :attr:`Models.versions` by ``tests/test_models.py``.
    """
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.text.emotion import TextEmotionModel
    from multimodal_fer.voice.model import VoiceModel

    return {
        "face": FaceModel.version_of_artefact(),
        "voice": VoiceModel.version_of_artefact(),
        "text": TextEmotionModel.version_of_artefact(),
        "asr": _asr_version(asr),
        "pipeline": __version__,
    }


def version_of(options: Any, versions: dict[str, str]) -> str:
    """A short hash of the model ``versions`` and every setting of ``options`` (a ``PipelineOptions``)."""
    payload = json.dumps({"models": versions, "options": asdict(options)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def pipeline_version(options: Any, models: Models) -> str:
    """A short hash of every model version and every setting that changes the rows."""
    return version_of(options, models.versions)
