"""Temperature scaling of a stream's probabilities, and the calibration error that chooses it.

Each stream's temperature is fitted on *cross-corpus* data (``python -m training.fusion_params``;
the voice one by ``python -m training.voice``, stored in its artefact): a model is most
overconfident where it has never been, and a clinic's recordings are always out of domain.
A temperature above 1 softens the probabilities; the label (argmax) never changes.

The face and voice streams also mix a share of the uniform distribution in after their temperature
(:func:`calibrate`): their unseen corpora disagree on how sure they should be (one temperature cannot fit
AffectNet-48 and ExpW at once, nor nEMO beside RAVDESS and EMOVO), and a floor under every class bounds how
far one face frame or utterance can move the fusion. The label never changes either.
"""

from __future__ import annotations

import numpy as np

#: Temperatures of the face and text models (and the face's smoothing), fitted (negative log-likelihood) by
#: ``python -m training.fusion_params --fit`` on predictions for corpora the models never saw
#: (face: SFEW, ExpW, AffectNet-48; text: GoEmotions dev); numbers and ECE before / after in
#: ``benchmarks/results/stream_calibration.json`` (a test holds these constants to it).
#: The voice model's temperature and smoothing are fitted with the model (``python -m training.voice``, or
#: ``--recalibrate``) and stored in its artefact; :data:`TEMPERATURE_VOICE` and :data:`SMOOTHING_VOICE` repeat them
#: for the fusion's prior (a test holds them equal).
TEMPERATURE_FACE = 1.269  # face 0.4.0 with SMOOTHING_FACE: cross-corpus ECE 0.184 -> 0.079 (corpora held out in turn)
TEMPERATURE_VOICE = 1.915  # voice 0.3.0 with SMOOTHING_VOICE, 7 classes: leave-one-corpus-out ECE 0.289 -> 0.040
SMOOTHING_FACE = 0.26  # share of the uniform distribution mixed in after TEMPERATURE_FACE (same fit)
SMOOTHING_VOICE = 0.30  # share of the uniform distribution mixed in after TEMPERATURE_VOICE (same fit)
TEMPERATURE_TEXT = 1.384  # text (MELD fine-tuned): GoEmotions dev ECE 0.102 -> 0.030 (halves held out in turn)
ECE_BINS = 15  # equal-width confidence bins of the expected calibration error
_EPS = 1e-12  # floor of a probability before its logarithm


def apply_temperature(proba: np.ndarray, *, temperature: float) -> np.ndarray:
    """Rescale probabilities as ``softmax(log p / T)``.

    Parameters
    ----------
    proba : np.ndarray, shape (N, K)
        Rows of probabilities.
    temperature : float
        ``T > 0``; 1 returns the input (renormalised).

    Returns
    -------
    np.ndarray, shape (N, K), rows sum to 1, same argmax as ``proba``
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    p = np.asarray(proba, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    z = np.log(np.clip(p, _EPS, 1.0)) / float(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def calibrate(proba: np.ndarray, *, temperature: float, smoothing: float = 0.0) -> np.ndarray:
    """Temperature-scale probabilities, then mix in a share of the uniform distribution.

    Parameters
    ----------
    proba : np.ndarray, shape (N, K)
        Rows of probabilities.
    temperature : float
        ``T > 0`` of :func:`apply_temperature`.
    smoothing : float
        ``s`` in [0, 1): the result is ``(1 - s) * softmax(log p / T) + s / K``; 0 = temperature only.

    Returns
    -------
    np.ndarray, shape (N, K), rows sum to 1, every entry at least ``s / K``, same argmax as ``proba``
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    q = apply_temperature(proba, temperature=temperature)
    return q if smoothing == 0.0 else (1.0 - smoothing) * q + smoothing / q.shape[-1]


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, *, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top label (Guo et al. 2017).

    Parameters
    ----------
    proba : np.ndarray, shape (N, K)
    y : np.ndarray, shape (N,)
        True class index of each row.
    n_bins : int
        Equal-width bins of the top probability over [0, 1].

    Returns
    -------
    float
        ``sum_b |B_b|/N * |accuracy(B_b) - confidence(B_b)|``, in [0, 1]; NaN for no rows.
    """
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y)
    if len(p) == 0:
        return float("nan")
    conf = p.max(axis=1)
    hit = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            total += in_bin.sum() * abs(hit[in_bin].mean() - conf[in_bin].mean())
    return float(total / len(p))
