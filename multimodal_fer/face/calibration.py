"""Per-session calibration of the face model: judge each frame against the person's own baseline.

A recording holds many frames of one person. The model's output for an unfamiliar face carries a
person-specific bias (a resting face that reads *sad*, expressions that read *neutral*), which is
roughly a constant offset of the log-probabilities over all of that person's frames. This module
estimates that offset from the session itself and removes part of it.

The rule (:func:`calibrate_session`), in centred log-ratio space ``z = log p - mean(log p)``:

1. the session's *bias* is the mean ``z`` of its face frames minus :data:`REFERENCE_CLR`, the mean
   ``z`` of the model over the faces of many people (a reference population, so that an offset is
   judged against what the model gives an average person, not against a uniform mix);
2. it is shrunk towards zero by the amount of evidence, ``strength * n / (n + prior_frames)``,
   and every emotion's shift is clipped to ``±max_shift`` nats;
3. each frame's ``z`` minus that shift goes through a softmax.

It does **not** assume that a session shows every emotion equally (plain logit centring on the
session mean does, and turns a session that is sad throughout into a neutral one): the offset is
measured against a reference population, and the clip bounds how far it can move any frame, so a
frame the model reads confidently keeps its emotion while a weak, person-typical lean is removed.
A session of one emotion therefore keeps that emotion (tested), and sessions with fewer than
``min_frames`` faces are returned unchanged. Strength, clip, evidence prior and minimum faces were chosen
on the training subjects of CK+48 and muxspace as read by a stand-in CNN that never saw them
(``benchmarks/face_calibration.py``; numbers in ``docs/face.md``): active settings gain on their
multi-emotion sessions but every one costs frames of single-emotion sessions, and none gains on held-out
subjects, so the shipped default is **off** (``STRENGTH = 0``: calibrated = raw) until a rule is measured
to help; the pipeline stores both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multimodal_fer.labels import EMOTIONS, N_EMOTIONS

PROBA_FLOOR = 1e-4  # probabilities are clipped to this before the log (bounds z to ±9.2 nats)
MIN_FRAMES = 8  # faces: fewer and the session is returned unchanged (too little evidence of a baseline)
#: Share of the estimated offset removed once the evidence is ample (unitless, 0..1). 0 (off): every active
#: setting costs frames of single-emotion sessions of subjects a stand-in never saw, and the best one loses on
#: held-out subjects (benchmarks/results/face_calibration.json, docs/face.md)
STRENGTH = 0.0
MAX_SHIFT_NATS = 0.5  # nats: the largest shift of any emotion's log-probability
PRIOR_FRAMES = 0.0  # faces: evidence prior of the shrinkage n / (n + PRIOR_FRAMES)
GUARD_MARGIN = 0.9  # share (unitless) of the way to a tie that a frame of the session's plurality label is moved

#: Mean centred log-ratio (nats) of the committed face model's calibrated output (temperature and smoothing of
#: :mod:`multimodal_fer.temperature`) over faces it never trained on (ExpW, 100 images per emotion), in
#: ``EMOTIONS`` order; measured by ``benchmarks/face_calibration.py`` (``reference_clr``).
REFERENCE_CLR: tuple[float, ...] = (0.232, -0.183, 0.157, 0.733, 0.12, -0.729, -0.329)


@dataclass(frozen=True)
class CalibrationOptions:
    """Settings of :func:`calibrate_session` (defaults: the measured choice).

    Attributes
    ----------
    strength : float
        Share of the estimated offset removed with ample evidence, 0 (off) .. 1.
    max_shift : float
        Largest shift of any emotion's log-probability, nats.
    prior_frames : float
        Evidence prior: the offset is scaled by ``n / (n + prior_frames)``, n = the session's faces.
    min_frames : int
        Sessions with fewer faces are returned unchanged.
    reference : tuple of float
        Mean centred log-ratio of the reference population, ``EMOTIONS`` order, nats.
    """

    strength: float = STRENGTH
    max_shift: float = MAX_SHIFT_NATS
    prior_frames: float = PRIOR_FRAMES
    min_frames: int = MIN_FRAMES
    reference: tuple[float, ...] = REFERENCE_CLR

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {self.strength}")
        if self.max_shift < 0 or self.prior_frames < 0 or self.min_frames < 1:
            raise ValueError("max_shift and prior_frames must be >= 0 and min_frames >= 1")
        if len(self.reference) != N_EMOTIONS:
            raise ValueError(f"reference needs {N_EMOTIONS} values ({', '.join(EMOTIONS)})")


#: The shipped settings (the measured choice).
DEFAULT_CALIBRATION = CalibrationOptions()
#: Calibration switched off (every session unchanged).
NO_CALIBRATION = CalibrationOptions(strength=0.0)


def centred_log_ratio(proba: np.ndarray) -> np.ndarray:
    """``log p - mean(log p)`` per row (p clipped to :data:`PROBA_FLOOR`), shape kept."""
    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), PROBA_FLOOR, 1.0))
    return logp - logp.mean(axis=-1, keepdims=True)


def session_shift(proba: np.ndarray, *, options: CalibrationOptions = DEFAULT_CALIBRATION) -> np.ndarray:
    """The shift (7,) in nats that :func:`calibrate_session` subtracts from each frame's log-probabilities.

    Parameters
    ----------
    proba : np.ndarray, shape (N, 7)
        Face probabilities of one session (one person), ``EMOTIONS`` order; rows with NaN are ignored.
    options : CalibrationOptions

    Returns
    -------
    np.ndarray, shape (7,)
        Zero-sum; all zeros when fewer than ``options.min_frames`` faces or ``strength`` is 0.
    """
    p = np.asarray(proba, dtype=np.float64).reshape(-1, N_EMOTIONS)
    ok = np.isfinite(p).all(axis=1)
    n = int(ok.sum())
    if n < options.min_frames or options.strength == 0.0:
        return np.zeros(N_EMOTIONS)
    bias = centred_log_ratio(p[ok]).mean(axis=0) - np.asarray(options.reference, dtype=np.float64)
    shift = np.clip(options.strength * n / (n + options.prior_frames) * bias, -options.max_shift, options.max_shift)
    return shift - shift.mean()


def _plurality(proba: np.ndarray) -> int:
    """The most frequent argmax label of the rows (ties: the higher summed probability)."""
    counts = np.bincount(proba.argmax(axis=1), minlength=N_EMOTIONS)
    return int(np.argmax(counts + proba.sum(axis=0) / (len(proba) + 1.0)))


def _keep_fraction(z: np.ndarray, shift: np.ndarray, label: int) -> np.ndarray:
    """Per row of ``z`` (rows whose argmax is ``label``): the largest fraction in [0, 1] of ``shift`` after
    which ``label`` is still the argmax (times :data:`GUARD_MARGIN`)."""
    gain = shift[label] - shift  # how much each rival gains on ``label`` per unit of the shift (nats)
    lead = z[:, [label]] - z  # >= 0: the label's lead over each rival (nats)
    with np.errstate(divide="ignore", invalid="ignore"):
        limit = np.where(gain > 0, lead / gain, np.inf)
    return np.clip(limit.min(axis=1) * GUARD_MARGIN, 0.0, 1.0)


def calibrate_session(proba: np.ndarray, *, options: CalibrationOptions = DEFAULT_CALIBRATION) -> np.ndarray:
    """Face probabilities of one session judged against the person's own baseline.

    Every face frame's centred log-ratio is moved by the shift of :func:`session_shift`, except that a
    frame that reads the session's plurality label (the emotion most frames read before calibration)
    is moved only as far as it keeps that label: calibration may re-read the other frames, never the
    frames of what the session mostly shows, so a session of one emotion keeps it.

    Parameters
    ----------
    proba : np.ndarray, shape (N, 7)
        The face model's probabilities of one session's frames (one person), ``EMOTIONS`` order;
        rows sum to 1. Rows with NaN (no face) are ignored and returned as they are.
    options : CalibrationOptions
        Strength, clip, evidence prior, minimum faces and reference (defaults: the measured choice).

    Returns
    -------
    np.ndarray, shape (N, 7), float64
        Calibrated probabilities; rows sum to 1 (NaN rows stay NaN). Unchanged (a copy) when the
        session has fewer than ``options.min_frames`` faces.
    """
    p = np.array(proba, dtype=np.float64).reshape(-1, N_EMOTIONS)
    shift = session_shift(p, options=options)
    if not shift.any():
        return p
    ok = np.isfinite(p).all(axis=1)
    z = centred_log_ratio(p[ok])
    label = _plurality(p[ok])
    fraction = np.ones(len(z))
    held = z.argmax(axis=1) == label
    fraction[held] = _keep_fraction(z[held], shift, label)
    z = z - fraction[:, None] * shift
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p[ok] = e / e.sum(axis=1, keepdims=True)
    return p
