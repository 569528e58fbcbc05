"""Fuse the face, voice and text streams on one clock: a speaking-aware, reliability-weighted
pool of each stream's calibrated evidence relative to its training prior (docs/fusion.md).

For each window ``[k·window_s, (k+1)·window_s)`` every stream gives a probability row ``p_s`` over
:data:`multimodal_fer.labels.EMOTIONS` (the overlap-weighted mean of its rows in the window, or
nothing) and a raw weight

- face: ``face_weight · face_present · R_face`` — times ``face_weight_speaking`` (0.3) while the
  patient speaks (speech moves the mouth, so the face is a weaker witness then);
- voice: ``voice_weight · (patient speech share of the window) · R_voice`` (patient speech only);
- text: ``text_weight · R_text`` when the patient speaks and patient words fall in the window;

where ``R_s`` is the stream's reliability *across corpora*: Cohen's κ of its model on corpora it
never saw (:class:`FusionOptions`). The raw weights are normalised to sum to one (``w_face``, ...).
The fused row is a log-linear pool of each stream's evidence relative to its training prior::

    log p_fused(c) = Σ_s w_s · (log p_s(c) − log prior_s'(c)) + log prior_fused(c) − log Z

Each model's output is calibrated (:mod:`multimodal_fer.temperature`: a temperature; the face's and the
voice's also smoothed) and ``prior_s'`` is its training prior calibrated the same way, so a row that says what the
model would say anyway carries no evidence. ``prior_fused`` is uniform by default; a site may set its
own base rates. Probabilities are floored at :data:`MIN_PROBABILITY` before the log.

A window with no face and no patient speech has ``signal = 'none'`` and NULL fused values: it is
never guessed. ``p_fused`` is smoothed by a centred moving mean over ``smooth_windows`` windows that
never reaches across a window without signal. ``pooling='linear'`` with ``confidence_weighting=True``
and reliabilities of 1 is the rule used before, kept for the ablation (``multimodal_fer.evaluate_av``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from multimodal_fer import temperature as calibration
from multimodal_fer.labels import EMOTIONS, valence_arousal
from multimodal_fer_schemas.tables import FACE_PROB_COLS, FUSED_PROB_COLS, TEXT_PROB_COLS, VOICE_PROB_COLS

WINDOW_S = 1.0  # seconds
MIN_CERTAINTY = 0.05  # floor of a stream's certainty factor, so that no present stream is silenced
MIN_PROBABILITY = 1e-4  # floor of a stream's probability before the log (no single stream can veto a class outright)
# The column names are the schema's (lists, so that ``df[FACE_COLS]`` selects columns).
FACE_COLS = list(FACE_PROB_COLS)
VOICE_COLS = list(VOICE_PROB_COLS)
TEXT_COLS = list(TEXT_PROB_COLS)
FUSED_COLS = list(FUSED_PROB_COLS)

# --- Where the defaults come from (training.fusion_params, docs/fusion.md; held by tests/test_fusion.py).
#: Reliability = Cohen's κ (agreement beyond chance) of each model on corpora it never saw, from the
#: confusion matrices named in ``training.fusion_params.RELIABILITY_SOURCES``: face 0.4.0 on SFEW + ExpW +
#: AffectNet-48 (n=32,381, accuracy 0.469); voice 0.3.0 leave-one-corpus-out over RAVDESS / nEMO / EMOVO
#: (n=6,269, accuracy 0.409); text (trained on MELD) on GoEmotions dev (n=4,946, accuracy 0.462).
RELIABILITY_FACE = 0.366
RELIABILITY_VOICE = 0.295
RELIABILITY_TEXT = 0.293
#: Training priors, in EMOTIONS order (neutral, happy, sad, angry, fearful, disgusted, surprised):
#: face: labels of its training images: FER2013 Training + the CK+48 and muxspace training subjects
#: (30,820 canonical labels; the face meta-model is fitted unweighted on a stratified part of them).
PRIOR_FACE = (0.1755, 0.2541, 0.1616, 0.1376, 0.1348, 0.0186, 0.1177)
#: voice: RAVDESS + nEMO + EMOVO as weighted in training (every corpus the same total, every class the same
#: share inside it; calm folded into neutral; nEMO has no disgust).
PRIOR_VOICE = (0.1865, 0.1448, 0.1448, 0.1448, 0.1448, 0.0893, 0.1448)
#: text: MELD train fit split (8,539 utterances, 47.2% neutral) as weighted by the fine-tuning loss
#: (class weights 1/sqrt(count), so the effective prior is proportional to sqrt(count)).
PRIOR_TEXT = (0.2893, 0.1768, 0.1101, 0.1392, 0.0697, 0.0693, 0.1456)


@dataclass(frozen=True)
class FusionOptions:
    window_s: float = WINDOW_S
    face_weight: float = 1.0
    voice_weight: float = 1.0
    text_weight: float = 1.0
    face_weight_speaking: float = 0.3  # multiplier of the face weight while the patient speaks
    speaking_min_share: float = 0.25  # patient speech share of a window that counts as speaking
    include_unknown_speaker: bool = True  # treat speech of unknown speaker (face not visible) as the patient's
    reliability_face: float = RELIABILITY_FACE  # measured reliability (κ) multiplying each stream's weight
    reliability_voice: float = RELIABILITY_VOICE
    reliability_text: float = RELIABILITY_TEXT
    pooling: str = "evidence"  # "evidence": log-linear pool of p_s / prior_s; "linear": weighted mean of p_s
    prior_face: tuple[float, ...] = PRIOR_FACE  # label distribution each model was trained on
    prior_voice: tuple[float, ...] = PRIOR_VOICE
    prior_text: tuple[float, ...] = PRIOR_TEXT
    prior_fused: tuple[float, ...] | None = None  # base rates of the fused result; None = uniform
    # each model's probabilities are calibrated (multimodal_fer.temperature), its prior the same way (output_prior)
    temperature_face: float = calibration.TEMPERATURE_FACE
    smoothing_face: float = calibration.SMOOTHING_FACE
    temperature_voice: float = calibration.TEMPERATURE_VOICE
    smoothing_voice: float = calibration.SMOOTHING_VOICE
    temperature_text: float = calibration.TEMPERATURE_TEXT
    confidence_weighting: bool = False  # also scale each weight by the stream's certainty (1 - normalised entropy)
    smooth_windows: int = 3  # centred moving mean of p_fused over this many windows with signal (1 = off)

    def __post_init__(self) -> None:
        if self.pooling not in ("evidence", "linear"):
            raise ValueError(f"pooling={self.pooling!r}: use 'evidence' or 'linear'")
        for name in ("prior_face", "prior_voice", "prior_text", "prior_fused"):
            p = getattr(self, name)
            if p is not None and (len(p) != len(EMOTIONS) or min(p) <= 0):
                raise ValueError(f"{name} needs {len(EMOTIONS)} positive numbers (EMOTIONS order)")

    def as_dict(self) -> dict:
        return asdict(self)

    def output_prior(self, stream: str) -> np.ndarray:
        """``prior_<stream>`` as the calibrated model outputs it (``softmax(log prior / T_stream)``, the face's
        and the voice's then smoothed): the evidence of an uninformative row ``log p − log output_prior`` is zero."""
        t, s = float(getattr(self, f"temperature_{stream}")), float(getattr(self, f"smoothing_{stream}", 0.0))
        return _output_prior(tuple(getattr(self, f"prior_{stream}")), t, s)

    @property
    def patient_speakers(self) -> tuple[str, ...]:
        """Speaker labels whose speech counts as the patient's."""
        return ("patient", "unknown") if self.include_unknown_speaker else ("patient",)


@lru_cache(maxsize=64)
def _output_prior(prior: tuple[float, ...], temperature: float, smoothing: float) -> np.ndarray:
    out = calibration.calibrate(np.asarray(prior)[None, :], temperature=temperature, smoothing=smoothing)[0]
    out.setflags(write=False)
    return out


#: The rule before the reliability / prior-evidence pool (kept to measure the change).
CERTAINTY_WEIGHTED = FusionOptions(
    pooling="linear", confidence_weighting=True, reliability_face=1.0, reliability_voice=1.0, reliability_text=1.0
)


@dataclass
class FusionInputs:
    """Everything :func:`fuse` reads for one recording: the stream outputs, before fusion."""

    frames: pd.DataFrame
    voice: pd.DataFrame
    utterances: pd.DataFrame
    speech_segments: list[tuple[float, float]]
    prosody_windows: pd.DataFrame | None
    duration_s: float
    options: FusionOptions = field(default_factory=FusionOptions)

    def fuse(self, options: FusionOptions | None = None) -> pd.DataFrame:
        """Fuse these stream outputs again (with other options: an ablation without rerunning the models)."""
        return fuse(
            self.frames,
            self.voice,
            self.utterances,
            self.speech_segments,
            self.prosody_windows,
            duration_s=self.duration_s,
            options=options or self.options,
        )


def certainty(p: np.ndarray | None) -> float:
    """``1 - H(p) / log(K)`` of a probability row, floored at :data:`MIN_CERTAINTY` (0 when ``p`` is None)."""
    if p is None:
        return 0.0
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0)
    q = q / q.sum()
    return float(max(MIN_CERTAINTY, 1.0 - float(-(q * np.log(q)).sum()) / np.log(q.size)))


def _normalised(p) -> np.ndarray:
    q = np.asarray(p, dtype=np.float64)
    return q / q.sum()


def pool(
    rows: list[tuple[float, np.ndarray, tuple[float, ...] | np.ndarray]], options: FusionOptions = FusionOptions()
) -> np.ndarray:
    """Fused probability row of ``(weight, p_s, prior_s)`` triples whose weights sum to one.

    ``evidence``: ``log p = Σ w_s (log p_s − log prior_s) + log prior_fused`` (normalised);
    ``linear``: ``p = Σ w_s p_s`` (normalised).
    """
    rows = [(w, np.asarray(p, dtype=np.float64), prior) for w, p, prior in rows if w > 0]
    if options.pooling == "linear":
        fused = np.zeros(len(EMOTIONS))
        for w, p, _ in rows:
            fused = fused + w * p
        return fused / fused.sum()
    base = np.log(_normalised(options.prior_fused)) if options.prior_fused is not None else np.zeros(len(EMOTIONS))
    logit = base + sum(
        w * (np.log(np.clip(_normalised(p), MIN_PROBABILITY, None)) - np.log(_normalised(prior)))
        for w, p, prior in rows
    )
    e = np.exp(logit - logit.max())
    return e / e.sum()


def _overlap(a0: np.ndarray, a1: np.ndarray, b0: float, b1: float) -> np.ndarray:
    return np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0.0, None)


def _weighted_rows(
    starts: np.ndarray, ends: np.ndarray, probs: np.ndarray, w0: float, w1: float
) -> tuple[np.ndarray | None, float]:
    """Overlap-weighted mean of probability rows for the interval [w0, w1); returns (row, overlap_s)."""
    if probs.size == 0:
        return None, 0.0
    ov = _overlap(starts, ends, w0, w1)
    valid = ~np.isnan(probs).any(axis=1)
    ov = np.where(valid, ov, 0.0)
    total = float(ov.sum())
    if total <= 0:
        return None, 0.0
    return (ov[:, None] * np.nan_to_num(probs)).sum(axis=0) / total, total


class _Arrays(NamedTuple):
    """The stream rows :func:`fuse` reads, as arrays (times in seconds, probabilities (n, 7))."""

    frames: pd.DataFrame
    ft: np.ndarray  # (F,) frame times
    seg: np.ndarray  # (S, 2) speech segments of anyone
    vs: np.ndarray  # (V,) voice chunk starts
    ve: np.ndarray  # (V,) voice chunk ends
    vp: np.ndarray  # (V, 7) voice probabilities
    has_voice: bool
    us: np.ndarray  # (U,) patient utterance starts
    ue: np.ndarray  # (U,) patient utterance ends
    up: np.ndarray  # (U, 7) text probabilities
    pros: pd.DataFrame | None  # prosody indexed by window_start_s


def _arrays(
    frames: pd.DataFrame,
    voice: pd.DataFrame,
    utterances: pd.DataFrame,
    speech_segments: list[tuple[float, float]],
    prosody_windows: pd.DataFrame | None,
    options: FusionOptions,
) -> _Arrays:
    patient_utts = utterances[utterances["speaker"].isin(options.patient_speakers)] if len(utterances) else utterances
    seg = np.array(speech_segments, dtype=np.float64).reshape(-1, 2)
    vs, ve = (
        (voice["start_s"].to_numpy(float), voice["end_s"].to_numpy(float)) if len(voice) else (np.empty(0), np.empty(0))
    )
    vp = voice[VOICE_COLS].to_numpy(float) if len(voice) else np.empty((0, len(EMOTIONS)))
    us = patient_utts["start_s"].to_numpy(float) if len(patient_utts) else np.empty(0)
    ue = patient_utts["end_s"].to_numpy(float) if len(patient_utts) else np.empty(0)
    up = patient_utts[TEXT_COLS].to_numpy(float) if len(patient_utts) else np.empty((0, len(EMOTIONS)))
    ft = frames["t_s"].to_numpy(float) if len(frames) else np.empty(0)
    pros = prosody_windows.set_index("window_start_s") if prosody_windows is not None and len(prosody_windows) else None
    return _Arrays(frames, ft, seg, vs, ve, vp, bool(len(voice)), us, ue, up, pros)


def _window_row(a: _Arrays, w0: float, w1: float, options: FusionOptions) -> dict:
    """One ``emotion_windows`` row (before smoothing) for the window ``[w0, w1)``."""
    span = max(w1 - w0, 1e-9)
    in_win = (a.ft >= w0) & (a.ft < w1)
    win_frames = a.frames[in_win] if len(a.frames) else a.frames
    n_frames = int(in_win.sum())
    faces = win_frames[win_frames["face_found"]] if n_frames else win_frames
    face_present = len(faces) / n_frames if n_frames else 0.0
    p_face = faces[FACE_COLS].to_numpy(float).mean(axis=0) if len(faces) else None
    speech_ratio = float(_overlap(a.seg[:, 0], a.seg[:, 1], w0, w1).sum() / span) if a.seg.size else 0.0
    p_voice, voice_s = _weighted_rows(a.vs, a.ve, a.vp, w0, w1)
    p_text, _ = _weighted_rows(a.us, a.ue, a.up, w0, w1)
    patient_share = voice_s / span
    if not a.has_voice:  # no voice model rows: fall back on patient utterance times
        patient_share = float(_overlap(a.us, a.ue, w0, w1).sum() / span) if a.us.size else 0.0
    speaking = patient_share >= options.speaking_min_share
    pros = a.pros
    row = {
        "window_start_s": w0,
        "window_end_s": w1,
        "face_present": float(face_present),
        "speech_ratio": float(min(speech_ratio, 1.0)),
        "patient_speaking": bool(speaking),
        "mouth_open_mean": float(faces["mouth_open"].mean()) if len(faces) else np.nan,
        "f0_mean_hz": float(pros.at[w0, "f0_mean_hz"]) if pros is not None and w0 in pros.index else np.nan,
        "rms_mean_db": float(pros.at[w0, "rms_mean_db"]) if pros is not None and w0 in pros.index else np.nan,
    }
    for cols, p in ((FACE_COLS, p_face), (VOICE_COLS, p_voice), (TEXT_COLS, p_text)):
        row.update(dict(zip(cols, p if p is not None else [np.nan] * len(cols), strict=True)))
    row.update(_fused(p_face, p_voice, p_text, face_present, patient_share, speaking, options))
    return row


def _fused(
    p_face, p_voice, p_text, face_present: float, patient_share: float, speaking: bool, options: FusionOptions
) -> dict:
    """The weights and the fused columns of one window (NULL fused values when no stream has weight)."""
    raw_face = (
        (
            options.face_weight
            * options.reliability_face
            * face_present
            * (options.face_weight_speaking if speaking else 1.0)
        )
        if p_face is not None
        else 0.0
    )
    raw_voice = (
        options.voice_weight * options.reliability_voice * min(patient_share, 1.0) if p_voice is not None else 0.0
    )
    raw_text = options.text_weight * options.reliability_text if p_text is not None and speaking else 0.0
    if options.confidence_weighting:
        raw_face, raw_voice, raw_text = (
            raw_face * certainty(p_face),
            raw_voice * certainty(p_voice),
            raw_text * certainty(p_text),
        )
    total = raw_face + raw_voice + raw_text
    if not total > 0:
        return {
            **dict(zip(FUSED_COLS, [np.nan] * len(FUSED_COLS), strict=True)),
            "w_face": 0.0,
            "w_voice": 0.0,
            "w_text": 0.0,
            "signal": "none",
            "fused_label": None,
            "fused_confidence": np.nan,
            "valence": np.nan,
            "arousal": np.nan,
        }
    wf, wv, wt = raw_face / total, raw_voice / total, raw_text / total
    rows = [(wf, p_face, "face"), (wv, p_voice, "voice"), (wt, p_text, "text")]
    fused = pool([(w, p, options.output_prior(s)) for w, p, s in rows], options)
    val, aro = valence_arousal(fused)
    has_face, has_speech = wf > 0, (wv + wt) > 0
    signal = "face+speech" if has_face and has_speech else ("face" if has_face else "speech")
    best = int(np.argmax(fused))
    return {
        **dict(zip(FUSED_COLS, fused, strict=True)),
        "w_face": wf,
        "w_voice": wv,
        "w_text": wt,
        "signal": signal,
        "fused_label": EMOTIONS[best],
        "fused_confidence": float(fused[best]),
        "valence": float(val),
        "arousal": float(aro),
    }


def fuse(
    frames: pd.DataFrame,
    voice: pd.DataFrame,
    utterances: pd.DataFrame,
    speech_segments: list[tuple[float, float]],
    prosody_windows: pd.DataFrame | None,
    *,
    duration_s: float,
    options: FusionOptions = FusionOptions(),
) -> pd.DataFrame:
    """Fuse the streams into one row per window (the rule is in the module docstring).

    Parameters
    ----------
    frames : DataFrame
        Face rows: ``t_s``, ``face_found``, ``mouth_open`` and :data:`FACE_COLS`.
    voice : DataFrame
        Voice-model rows for chunks of *patient* speech: ``start_s``, ``end_s`` and :data:`VOICE_COLS`.
    utterances : DataFrame
        ``start_s``, ``end_s``, ``speaker`` and :data:`TEXT_COLS` (NaN rows allowed).
    speech_segments : list of (start_s, end_s)
        Voice activity of anyone.
    prosody_windows : DataFrame or None
        ``window_start_s``, ``f0_mean_hz``, ``rms_mean_db`` per window (same window_s).
    duration_s : float
        Session length; windows cover ``[0, duration_s)``.

    Returns
    -------
    DataFrame
        The columns of the ``emotion_windows`` table except ``recording_sha256``.
    """
    arrays = _arrays(frames, voice, utterances, speech_segments, prosody_windows, options)
    w = options.window_s
    n_windows = int(np.ceil(duration_s / w - 1e-9)) if duration_s > 0 else 0
    rows = [_window_row(arrays, k * w, min((k + 1) * w, duration_s), options) for k in range(n_windows)]
    out = pd.DataFrame(rows)
    return smooth(out, options.smooth_windows) if len(out) and options.smooth_windows > 1 else out


def smooth(windows: pd.DataFrame, n: int) -> pd.DataFrame:
    """Centred moving mean of ``p_fused_*`` over ``n`` windows, within runs of windows with signal."""
    out = windows.copy()
    has = (out["signal"] != "none").to_numpy()
    run_id = np.cumsum(~has)  # windows of one uninterrupted run of signal share an id
    probs = out[FUSED_COLS]
    smoothed = probs.groupby(run_id).transform(lambda c: c.rolling(n, center=True, min_periods=1).mean())
    smoothed = smoothed.div(smoothed.sum(axis=1), axis=0)
    out.loc[has, FUSED_COLS] = smoothed.loc[has].to_numpy()
    p = out.loc[has, FUSED_COLS].to_numpy(float)
    if len(p):
        best = p.argmax(axis=1)
        val, aro = valence_arousal(p)
        out.loc[has, "fused_label"] = [EMOTIONS[i] for i in best]
        out.loc[has, "fused_confidence"] = p[np.arange(len(p)), best]
        out.loc[has, "valence"] = val
        out.loc[has, "arousal"] = aro
    return out
