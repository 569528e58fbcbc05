"""The trained face-expression model: landmark features (+ aligned face crop) -> probabilities
over 7 emotions.

A stacked ensemble (built by :mod:`training.face`):

* landmark base models: a histogram gradient-boosting classifier and a small MLP on
  standardised :func:`~multimodal_fer.face.features.landmark_features` (each a list of
  estimators whose probabilities are averaged; one as trained now);
* a small CNN (:mod:`multimodal_fer.face.cnn`) on the aligned 48 x 48 grey crop
  (:func:`~multimodal_fer.face.crop.aligned_crop`): from format 3 on, the mean probabilities of
  several copies trained with different seeds (``cnn["states"]``; format 2 holds one, ``cnn["state"]``);
* ``meta_full``: a multinomial logistic regression on the log-probabilities of all three,
  fitted on training images held out from the CNN (with out-of-fold landmark predictions);
* ``meta``: the landmark-only logistic regression (K-fold out-of-fold predictions), used when
  no crops are passed.

``embedding`` (optional): a supervised UMAP map of the landmark features to 2-D
(:mod:`multimodal_fer.face.embedding`, :meth:`FaceModel.project`).

The artefact is one joblib file (``FACE_ARTEFACTS / ARTEFACT_NAME``) holding a plain dict.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from multimodal_fer.digest import file_sha256
from multimodal_fer.labels import EMOTIONS, N_EMOTIONS
from multimodal_fer.paths import FACE_ARTEFACTS
from multimodal_fer.temperature import SMOOTHING_FACE, TEMPERATURE_FACE, calibrate

MODEL_FAMILY = "face-lmk"
MODEL_VERSION = "0.4.0"  # semantic version of the model recipe (not of the weights)
ARTEFACT_NAME = "face_model.joblib"
ARTEFACT_FORMAT = 3  # bump when the dict layout changes
READABLE_FORMATS = (2, 3)  # 2: one CNN (``cnn["state"]``, face 0.3.0); 3: several (``cnn["states"]``)
PROBA_FLOOR = 1e-6  # base probabilities are clipped to this before the log (meta input)


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


def cnn_states(spec: dict) -> list[dict]:
    """The CNN weights of an artefact's ``cnn`` entry: ``states`` (format 3) or ``[state]`` (format 2)."""
    return list(spec["states"]) if "states" in spec else [spec["state"]]


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
        if artefact.get("format") not in READABLE_FORMATS:
            raise ValueError(f"face artefact format {artefact.get('format')!r}, expected one of {READABLE_FORMATS}")
        if tuple(artefact["emotions"]) != EMOTIONS:
            raise ValueError("face artefact was trained with a different emotion order")
        self._artefact = artefact
        self.feature_names: tuple[str, ...] = tuple(artefact["feature_names"])
        self.emotions: tuple[str, ...] = EMOTIONS
        self.sha256 = sha256
        self._cnn: list | None = None  # torch networks, built lazily from artefact["cnn"]
        self.version = f"{MODEL_FAMILY}-{artefact['model_version']}+{sha256[:12]}"
        self.temperature = TEMPERATURE_FACE  # cross-corpus calibration (multimodal_fer.temperature); 1 = none
        self.smoothing = SMOOTHING_FACE  # share of the uniform distribution mixed in after it; 0 = none

    @classmethod
    def load(cls, path: Path | None = None) -> FaceModel:
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
            raise FileNotFoundError(f"no face model at {path}; build it with `python -m training.face`")
        artefact = joblib.load(path)
        trained_with = artefact.get("sklearn_version")
        if trained_with != sklearn.__version__:
            warnings.warn(
                f"face model trained with scikit-learn {trained_with}, running {sklearn.__version__}",
                RuntimeWarning,
                stacklevel=2,
            )
        return cls(artefact, file_sha256(path))

    @staticmethod
    def version_of_artefact(path: Path | None = None) -> str:
        """The :attr:`version` a model loaded from ``path`` would have, without loading it.

        The recipe version comes from the ``metrics.json`` that training writes beside the artefact
        when that file names this artefact's sha256; otherwise (a renamed or hand-made artefact) the
        artefact's dict is read (no CNN is built, nothing is run).
        """
        path = Path(path) if path is not None else FACE_ARTEFACTS / ARTEFACT_NAME
        if not path.exists():
            raise FileNotFoundError(f"no face model at {path}; build it with `python -m training.face`")
        sha256 = file_sha256(path)
        metrics_path = path.parent / "metrics.json"
        if metrics_path.is_file():
            metrics = json.loads(metrics_path.read_text())
            if metrics.get("artefact_sha256") == sha256 and metrics.get("artefact") == path.name:
                return str(metrics["model_version"])
        import joblib

        return f"{MODEL_FAMILY}-{joblib.load(path)['model_version']}+{sha256[:12]}"

    @property
    def has_cnn(self) -> bool:
        """Whether the artefact holds the CNN member (then pass ``crops`` to predict_proba)."""
        return "cnn" in self._artefact

    def _check(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise ValueError(f"expected features of shape (N, {len(self.feature_names)}), got {x.shape}")
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    def cnn_proba(self, crops: np.ndarray) -> np.ndarray:
        """CNN member alone: (N, 7) probabilities of uint8 crops (N, 48, 48), the mean over the
        artefact's CNN seeds."""
        from multimodal_fer.face import cnn

        if not self.has_cnn:
            raise ValueError("this face artefact has no CNN member")
        if self._cnn is None:
            import torch

            if torch.get_num_threads() > 1 and os.environ.get("OMP_NUM_THREADS") == "1":
                torch.set_num_threads(1)
            spec = self._artefact["cnn"]
            self._cnn = [cnn.from_state(s, tuple(spec["widths"]), N_EMOTIONS) for s in cnn_states(spec)]
        crops = np.asarray(crops)
        if crops.ndim == 2:
            crops = crops[None]
        return cnn.predict_proba(self._cnn, crops)

    def member_probabilities(self, features: np.ndarray, crops: np.ndarray | None = None) -> dict:
        """Each ensemble member alone: ``{"hgb": (N, 7), "mlp": (N, 7)[, "cnn": (N, 7)]}``."""
        x = self._check(features)
        names = [name for name, _ in self._artefact["bases"]]
        if len(x) == 0:
            probas = [np.zeros((0, N_EMOTIONS)) for _ in names]
        else:
            probas = base_probabilities(self._artefact["bases"], x)
        out = dict(zip(names, probas, strict=True))
        if crops is not None and self.has_cnn:
            crops = np.asarray(crops)
            if len(crops) != len(x):
                raise ValueError(f"{len(crops)} crops for {len(x)} feature rows")
            out["cnn"] = self.cnn_proba(crops) if len(x) else np.zeros((0, N_EMOTIONS))
        return out

    def predict_proba(
        self, features: np.ndarray, crops: np.ndarray | None = None, *, calibrated: bool = True
    ) -> np.ndarray:
        """Probabilities of the 7 emotions.

        Parameters
        ----------
        features : np.ndarray, shape (N, F)
            Rows of :func:`~multimodal_fer.face.features.landmark_features`; N may be 0.
        crops : np.ndarray, shape (N, 48, 48) uint8, optional
            :func:`~multimodal_fer.face.crop.aligned_crop` of the same faces. With crops the
            full ensemble (landmarks + CNN) runs; without, the landmark-only stack.
        calibrated : bool
            False: the ensemble's own probabilities, without :attr:`temperature` and :attr:`smoothing`
            (what the calibration is fitted on).

        Returns
        -------
        np.ndarray, shape (N, 7), float64
            Rows sum to 1; columns in ``labels.EMOTIONS`` order.
        """
        x = self._check(features)
        if len(x) == 0:
            return np.zeros((0, N_EMOTIONS), dtype=np.float64)
        out = self.combine(self.member_probabilities(x, crops))
        return calibrate(out, temperature=self.temperature, smoothing=self.smoothing) if calibrated else out

    def combine(self, members: dict) -> np.ndarray:
        """The ensemble's own (uncalibrated) probabilities (N, 7) from :meth:`member_probabilities`' rows: the
        meta-model over all members (``meta_full``) when the CNN is among them, else the landmark one."""
        meta = self._artefact["meta_full" if "cnn" in members else "meta"]
        out = _proba_7(meta, meta_inputs(list(members.values())))
        return out / out.sum(axis=1, keepdims=True)

    def project(self, features: np.ndarray) -> np.ndarray:
        """2-D supervised-UMAP coordinates (N, 2) of landmark feature rows (see
        :mod:`multimodal_fer.face.embedding`)."""
        from multimodal_fer.face.embedding import project

        if "embedding" not in self._artefact:
            raise ValueError("this face artefact has no embedding")
        return project(self._artefact["embedding"], self._check(features))

    def __repr__(self) -> str:
        return f"FaceModel(version={self.version!r}, n_features={len(self.feature_names)})"
