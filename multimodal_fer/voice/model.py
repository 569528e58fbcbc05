"""Voice emotion model: acoustic functionals + Whisper encoder embedding -> expressed emotion.

A clip (one utterance / speech segment, 16 kHz mono) is trimmed to its speech with the VAD and
described by :data:`N_FEATURES` values: :data:`N_FUNCTIONALS` acoustic functionals
(:func:`~multimodal_fer.voice.features.clip_features`: MFCC and log-mel statistics, spectral
shape, F0 and energy statistics, spectral tilt, voicing, frame-level jitter / shimmer estimates,
timing) and the mean and standard deviation over time of the last encoder layer of the packaged
Whisper-base model (:func:`~multimodal_fer.voice.embedding.speech_embedding`, CTranslate2 int8,
about 40 ms per 3 s clip on one core). This module holds the classifier; the features are
computed in :mod:`multimodal_fer.voice.features` and :mod:`multimodal_fer.voice.embedding` and
re-exported here. A small
numpy model classifies them (standardisation, then an ensemble of multinomial logistic
regression and one-hidden-layer MLPs; see ``MODEL_CARD.md``).

The model is trained on RAVDESS's 8 classes (:data:`RAVDESS_CLASSES`). :meth:`VoiceModel.
predict_proba` folds *calm* into *neutral* (the project's canonical mapping,
:func:`multimodal_fer.labels.to_canonical`) and returns the 7 canonical classes.

The 7 canonical probabilities are calibrated by the artefact's :attr:`VoiceModel.temperature` and
:attr:`VoiceModel.smoothing` (:func:`multimodal_fer.temperature.calibrate`), fitted on cross-corpus
predictions in that same 7-class space (see ``MODEL_CARD.md``); the 8 RAVDESS probabilities of
:meth:`VoiceModel.predict_proba_8` are the classifier's own.
The artefact is a plain ``.npz`` of arrays (no pickle): loading it runs no code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from multimodal_fer.digest import file_sha256
from multimodal_fer.labels import EMOTIONS, to_canonical
from multimodal_fer.paths import VOICE_ARTEFACTS
from multimodal_fer.temperature import calibrate
from multimodal_fer.voice.embedding import (
    EMBED_DIM,
    EMBED_MAX_S,
    EMBED_MODEL,
    EMBED_NAMES,
    EMBED_VERSION,
    _whisper_encoder,
    speech_embedding,
)
from multimodal_fer.voice.features import (
    ACTIVE_RANGE_DB,
    FUNCTIONAL_NAMES,
    FUNCTIONAL_VERSION,
    MIN_CLIP_S,
    N_FFT,
    N_FUNCTIONALS,
    N_MELS,
    N_MFCC,
    WIN_LENGTH,
    _prepare_clip,
    _trim_to_speech,
    clip_features,
)
from multimodal_fer.voice.prosody import SR

__all__ = [  # the feature names re-exported from features / embedding (training and tests import them here)
    "ACTIVE_RANGE_DB",
    "ARTEFACT_FILE",
    "EMBED_DIM",
    "EMBED_MAX_S",
    "EMBED_MODEL",
    "EMBED_NAMES",
    "EMBED_VERSION",
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "FUNCTIONAL_NAMES",
    "FUNCTIONAL_VERSION",
    "MIN_CLIP_S",
    "MODEL_NAME",
    "MODEL_VERSION",
    "N_FEATURES",
    "N_FFT",
    "N_FUNCTIONALS",
    "N_MELS",
    "N_MFCC",
    "RAVDESS_CLASSES",
    "WIN_LENGTH",
    "VoiceModel",
    "_prepare_clip",
    "_trim_to_speech",
    "_whisper_encoder",
    "clip_features",
    "features_matrix",
    "fold_to_canonical",
    "speech_embedding",
    "voice_features",
]

MODEL_NAME = "voice-prosody"
MODEL_VERSION = "0.3.0"
ARTEFACT_FILE = "voice_model.npz"
FEATURE_VERSION = f"{FUNCTIONAL_VERSION}+{EMBED_VERSION}"

#: RAVDESS class order used internally and by :meth:`VoiceModel.predict_proba_8`.
RAVDESS_CLASSES: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)

_FOLD_8_TO_7 = np.zeros((len(RAVDESS_CLASSES), len(EMOTIONS)))
for _i, _name in enumerate(RAVDESS_CLASSES):
    _FOLD_8_TO_7[_i, EMOTIONS.index(to_canonical(_name))] = 1.0

#: Everything the classifier sees: acoustic functionals, then the Whisper encoder embedding.
FEATURE_NAMES: tuple[str, ...] = FUNCTIONAL_NAMES + EMBED_NAMES
N_FEATURES = len(FEATURE_NAMES)


def voice_features(audio: np.ndarray, *, sr: int = SR) -> np.ndarray:
    """The model's input for one clip: :func:`clip_features` then :func:`speech_embedding`.

    Returns
    -------
    np.ndarray, shape (N_FEATURES,), named by :data:`FEATURE_NAMES`
    """
    if sr != SR:
        raise ValueError(f"voice_features expects {SR} Hz audio, got {sr}")
    return np.concatenate([clip_features(audio, sr=sr), speech_embedding(audio)])


def features_matrix(clips: Sequence[np.ndarray], *, sr: int = SR) -> np.ndarray:
    """Stack :func:`voice_features` of clips into shape (N, N_FEATURES)."""
    if len(clips) == 0:
        return np.zeros((0, N_FEATURES))
    return np.vstack([voice_features(c, sr=sr) for c in clips])


# ---------------------------------------------------------------- numpy classifiers


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class _Head:
    """Standardise -> logistic regression + MLP, probabilities averaged."""

    impute: np.ndarray  # (F,) medians for NaN
    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    lr_coef: np.ndarray  # (C, F)
    lr_intercept: np.ndarray  # (C,)
    mlp_weights: list[np.ndarray] = field(default_factory=list)  # per member: W1, b1, W2, b2
    lr_weight: float = 0.5  # share of the LR in the average

    def proba(self, x: np.ndarray) -> np.ndarray:
        x = np.where(np.isfinite(x), x, self.impute[None, :])
        z = np.clip((x - self.mean) / self.scale, -10.0, 10.0)
        p = _softmax(z @ self.lr_coef.T + self.lr_intercept)
        if self.mlp_weights:
            members = []
            for j in range(0, len(self.mlp_weights), 4):
                w1, b1, w2, b2 = self.mlp_weights[j : j + 4]
                members.append(_softmax(np.maximum(z @ w1 + b1, 0.0) @ w2 + b2))
            p = self.lr_weight * p + (1.0 - self.lr_weight) * np.mean(members, axis=0)
        return p / p.sum(axis=1, keepdims=True)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {
            f"{prefix}impute": self.impute,
            f"{prefix}mean": self.mean,
            f"{prefix}scale": self.scale,
            f"{prefix}lr_coef": self.lr_coef,
            f"{prefix}lr_intercept": self.lr_intercept,
            f"{prefix}lr_weight": np.array(self.lr_weight),
            f"{prefix}n_mlp": np.array(len(self.mlp_weights)),
        }
        out[f"{prefix}lr_coef"] = np.asarray(self.lr_coef, dtype=np.float32)  # halves the file
        for j, w in enumerate(self.mlp_weights):
            out[f"{prefix}mlp{j}"] = np.asarray(w, dtype=np.float32)
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> _Head:
        n_mlp = int(arrays[f"{prefix}n_mlp"])
        return cls(
            impute=arrays[f"{prefix}impute"],
            mean=arrays[f"{prefix}mean"],
            scale=arrays[f"{prefix}scale"],
            lr_coef=arrays[f"{prefix}lr_coef"],
            lr_intercept=arrays[f"{prefix}lr_intercept"],
            mlp_weights=[arrays[f"{prefix}mlp{j}"] for j in range(n_mlp)],
            lr_weight=float(arrays[f"{prefix}lr_weight"]),
        )


class VoiceModel:
    """Expressed emotion from the sound of the voice (not the words).

    Use :meth:`load`; :attr:`version` names the artefact (``voice-prosody-0.1.0+<sha256[:8]>``).
    """

    def __init__(
        self,
        heads: dict[str, _Head],
        *,
        version: str,
        feature_names: Sequence[str] = FEATURE_NAMES,
        classes: Sequence[str] = RAVDESS_CLASSES,
        temperature: float = 1.0,
        smoothing: float = 0.0,
    ) -> None:
        if tuple(feature_names) != FEATURE_NAMES:
            raise ValueError("artefact was trained on different features; retrain it (python -m training.voice)")
        if tuple(classes) != RAVDESS_CLASSES:
            raise ValueError(f"artefact classes {tuple(classes)} != {RAVDESS_CLASSES}")
        self.heads = heads
        self.version = version
        self.temperature = float(temperature)  # cross-corpus calibration (training.voice), 1 = none
        self.smoothing = float(smoothing)  # share of the uniform distribution mixed in after it; 0 = none

    # ---- persistence
    @classmethod
    def load(cls, path: Path | None = None) -> VoiceModel:
        """Load an artefact (default: the committed ``voice/artefacts/voice_model.npz``)."""
        path = Path(path) if path is not None else VOICE_ARTEFACTS / ARTEFACT_FILE
        version = cls.version_of_artefact(path)
        with np.load(path, allow_pickle=False) as arrays:
            heads = {name: _Head.from_arrays(arrays, f"{name}/") for name in ("global",) if f"{name}/mean" in arrays}
            names = [str(s) for s in arrays["feature_names"]]
            classes = [str(s) for s in arrays["classes"]]
            feature_version = str(arrays["feature_version"])
            temperature = float(arrays["temperature"]) if "temperature" in arrays else 1.0
            smoothing = float(arrays["smoothing"]) if "smoothing" in arrays else 0.0
        if feature_version != FEATURE_VERSION:
            raise ValueError(f"artefact features {feature_version!r} != code {FEATURE_VERSION!r}")
        return cls(
            heads, version=version, feature_names=names, classes=classes, temperature=temperature, smoothing=smoothing
        )

    @staticmethod
    def version_of_artefact(path: Path | None = None) -> str:
        """The :attr:`version` of the model at ``path`` (recipe version + sha256[:8]), without loading it."""
        path = Path(path) if path is not None else VOICE_ARTEFACTS / ARTEFACT_FILE
        return f"{MODEL_NAME}-{MODEL_VERSION}+{file_sha256(path)[:8]}"

    def save(self, path: Path) -> None:
        """Write the artefact as an ``.npz`` of plain arrays (no pickle)."""
        arrays: dict[str, np.ndarray] = {
            "feature_names": np.array(FEATURE_NAMES),
            "classes": np.array(RAVDESS_CLASSES),
            "feature_version": np.array(FEATURE_VERSION),
            "temperature": np.array(self.temperature),
            "smoothing": np.array(self.smoothing),
        }
        for name, head in self.heads.items():
            arrays.update(head.to_arrays(f"{name}/"))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    # ---- inference
    def raw_proba_8(self, x: np.ndarray) -> np.ndarray:
        """The classifier's own (uncalibrated) probabilities (N, 8) over :data:`RAVDESS_CLASSES` of a feature
        matrix of shape (N, N_FEATURES)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, N_FEATURES)
        if len(x) == 0:
            return np.zeros((0, len(RAVDESS_CLASSES)))
        return self.heads["global"].proba(x)

    def proba_from_features(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (N, 7) over :data:`multimodal_fer.labels.EMOTIONS` of a feature matrix of
        shape (N, N_FEATURES): :meth:`raw_proba_8` folded (calm into neutral), then
        :func:`multimodal_fer.temperature.calibrate` with :attr:`temperature` and :attr:`smoothing` (the
        space the calibration was fitted in)."""
        p = fold_to_canonical(self.raw_proba_8(x))
        return calibrate(p, temperature=self.temperature, smoothing=self.smoothing) if len(p) else p

    def predict_proba_8(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """The classifier's own probabilities over :data:`RAVDESS_CLASSES` (not calibrated: the calibration
        is defined on the 7 canonical classes).

        Parameters
        ----------
        clips : sequence of np.ndarray, each shape (n_i,)
            16 kHz mono float clips, one utterance each (any length; < 0.25 s is padded).

        Returns
        -------
        np.ndarray, shape (N, 8), rows sum to 1
        """
        return self.raw_proba_8(features_matrix(clips))

    def predict_proba(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Calibrated probabilities over :data:`multimodal_fer.labels.EMOTIONS` (calm folded into neutral).

        Parameters
        ----------
        clips : sequence of np.ndarray, each shape (n_i,)
            16 kHz mono float clips, one utterance each.

        Returns
        -------
        np.ndarray, shape (N, 7), rows sum to 1, every entry at least ``smoothing / 7``
        """
        return self.proba_from_features(features_matrix(clips))


def fold_to_canonical(proba_8: np.ndarray) -> np.ndarray:
    """Map (N, 8) RAVDESS-order probabilities onto (N, 7) canonical ones (calm -> neutral)."""
    return np.asarray(proba_8, dtype=np.float64).reshape(-1, len(RAVDESS_CLASSES)) @ _FOLD_8_TO_7
