"""The trained face-expression model: landmark features -> probabilities over 7 emotions.

A stacked ensemble (built by :mod:`multimodal_fer.face.train`):

* base models: a histogram gradient-boosting classifier and a small MLP on standardised
  features (each a list of estimators whose probabilities are averaged; one as trained now);
* a multinomial logistic-regression meta-model on the base models' log-probabilities, fitted
  on K-fold out-of-fold predictions of the base models.

The artefact is one joblib file (``FACE_ARTEFACTS / ARTEFACT_NAME``) holding a plain dict.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from multimodal_fer.labels import EMOTIONS, N_EMOTIONS
from multimodal_fer.paths import FACE_ARTEFACTS

MODEL_FAMILY = "face-lmk"
MODEL_VERSION = "0.1.0"  # semantic version of the model recipe (not of the weights)
ARTEFACT_NAME = "face_model.joblib"
ARTEFACT_FORMAT = 1  # bump when the dict layout changes
PROBA_FLOOR = 1e-6  # base probabilities are clipped to this before the log (meta input)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _proba_7(estimator, x: np.ndarray) -> np.ndarray:
    """``estimator.predict_proba`` spread onto all 7 emotion columns (absent classes: 0)."""
    p = estimator.predict_proba(x)
    out = np.zeros((len(x), N_EMOTIONS), dtype=np.float64)
    out[:, np.asarray(estimator.classes_, dtype=int)] = p
    return out


def base_probabilities(bases: list[tuple[str, list]], x: np.ndarray) -> list[np.ndarray]:
    """Mean probabilities of each base model's fold estimators.

    Parameters
    ----------
    bases : list of (name, list of fitted estimators)
    x : np.ndarray, shape (N, F)

    Returns
    -------
    list of np.ndarray, each (N, 7)
    """
    return [np.mean([_proba_7(est, x) for est in folds], axis=0) for _, folds in bases]


def meta_inputs(probas: list[np.ndarray]) -> np.ndarray:
    """Meta-model input: concatenated log base probabilities, shape (N, 7 * n_bases)."""
    return np.concatenate([np.log(np.clip(p, PROBA_FLOOR, 1.0)) for p in probas], axis=1)


class FaceModel:
    """Face-expression classifier on :func:`~multimodal_fer.face.features.landmark_features`.

    Use :meth:`load`; then :meth:`predict_proba`.

    Attributes
    ----------
    version : str
        ``"face-lmk-<recipe version>+<first 12 hex of the artefact's sha256>"``.
    feature_names : tuple of str
        Column names the model expects, in order (``features.FEATURE_NAMES`` at training).
    emotions : tuple of str
        Output columns (``labels.EMOTIONS``).
    """

    def __init__(self, artefact: dict, sha256: str) -> None:
        if artefact.get("format") != ARTEFACT_FORMAT:
            raise ValueError(f"face artefact format {artefact.get('format')!r}, expected {ARTEFACT_FORMAT}")
        if tuple(artefact["emotions"]) != EMOTIONS:
            raise ValueError("face artefact was trained with a different emotion order")
        self._artefact = artefact
        self.feature_names: tuple[str, ...] = tuple(artefact["feature_names"])
        self.emotions: tuple[str, ...] = EMOTIONS
        self.sha256 = sha256
        self.version = f"{MODEL_FAMILY}-{artefact['model_version']}+{sha256[:12]}"

    @classmethod
    def load(cls, path: Path | None = None) -> "FaceModel":
        """Load a trained artefact.

        Parameters
        ----------
        path : Path, optional
            A ``.joblib`` artefact; default ``FACE_ARTEFACTS / ARTEFACT_NAME`` (committed).
        """
        import joblib
        import sklearn

        path = Path(path) if path is not None else FACE_ARTEFACTS / ARTEFACT_NAME
        if not path.exists():
            raise FileNotFoundError(
                f"no face model at {path}; build it with `python -m multimodal_fer.face.train`")
        artefact = joblib.load(path)
        trained_with = artefact.get("sklearn_version")
        if trained_with != sklearn.__version__:
            warnings.warn(f"face model trained with scikit-learn {trained_with}, running "
                          f"{sklearn.__version__}", RuntimeWarning, stacklevel=2)
        return cls(artefact, _file_sha256(path))

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probabilities of the 7 emotions.

        Parameters
        ----------
        features : np.ndarray, shape (N, F)
            Rows of :func:`~multimodal_fer.face.features.landmark_features`; N may be 0.

        Returns
        -------
        np.ndarray, shape (N, 7), float64
            Rows sum to 1; columns in ``labels.EMOTIONS`` order.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise ValueError(f"expected features of shape (N, {len(self.feature_names)}), got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, N_EMOTIONS), dtype=np.float64)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        probas = base_probabilities(self._artefact["bases"], x)
        out = _proba_7(self._artefact["meta"], meta_inputs(probas))
        return out / out.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        return f"FaceModel(version={self.version!r}, n_features={len(self.feature_names)})"
