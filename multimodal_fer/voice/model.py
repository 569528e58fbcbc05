"""Voice emotion model: acoustic functionals + Whisper encoder embedding -> expressed emotion.

A clip (one utterance / speech segment, 16 kHz mono) is trimmed to its speech with the VAD and
described by :data:`N_FEATURES` values: :data:`N_FUNCTIONALS` acoustic functionals
(:func:`clip_features`: MFCC and log-mel statistics, spectral shape, F0 and energy statistics,
spectral tilt, voicing, frame-level jitter / shimmer estimates, timing) and the mean and
standard deviation over time of the last encoder layer of the packaged Whisper-base model
(:func:`speech_embedding`, CTranslate2 int8, about 40 ms per 3 s clip on one core). A small
numpy model classifies them (standardisation, then an ensemble of multinomial logistic
regression and one-hidden-layer MLPs; see ``MODEL_CARD.md``).

The model is trained on RAVDESS's 8 classes (:data:`RAVDESS_CLASSES`). :meth:`VoiceModel.
predict_proba` folds *calm* into *neutral* (the project's canonical mapping,
:func:`multimodal_fer.labels.to_canonical`) and returns the 7 canonical classes.

Per-speaker normalisation (``speaker_norm=True``) z-scores each feature over the clips passed
in one call (a session's speech segments from one speaker) before classification, with a model
trained that way; only meaningful when the clips come from one speaker and are several
(:data:`MIN_SPEAKER_CLIPS`); see the model card for how much it helps on realistic sessions.

The artefact is a plain ``.npz`` of arrays (no pickle): loading it runs no code.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from multimodal_fer.labels import EMOTIONS, to_canonical
from multimodal_fer.paths import VOICE_ARTEFACTS
from multimodal_fer.voice.prosody import HOP_LENGTH, SR, frame_prosody
from multimodal_fer.voice.vad import speech_segments

MODEL_NAME = "voice-prosody"
MODEL_VERSION = "0.2.0"
ARTEFACT_FILE = "voice_model.npz"
FUNCTIONAL_VERSION = "voice-functionals-1"  # bump when clip_features changes (invalidates caches)
EMBED_VERSION = "whisper-base-enc-1"  # bump when speech_embedding changes
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
MIN_CLIP_S = 0.25  # s, shorter clips are zero-padded to this length
MIN_SPEAKER_CLIPS = 8  # clips needed before per-speaker normalisation is used
N_FFT = 512  # samples, 32 ms STFT frame
WIN_LENGTH = 400  # samples, 25 ms analysis window
N_MELS = 40  # mel bands, 0-8 kHz
N_MFCC = 20  # cepstral coefficients
ACTIVE_RANGE_DB = 35.0  # dB, frames within this range of the loudest frame are "active"

_FOLD_8_TO_7 = np.zeros((len(RAVDESS_CLASSES), len(EMOTIONS)))
for _i, _name in enumerate(RAVDESS_CLASSES):
    _FOLD_8_TO_7[_i, EMOTIONS.index(to_canonical(_name))] = 1.0


def _feature_names() -> tuple[str, ...]:
    names: list[str] = []
    names += [f"mfcc{i}_mean" for i in range(N_MFCC)]
    names += [f"mfcc{i}_std" for i in range(N_MFCC)]
    names += [f"dmfcc{i}_std" for i in range(N_MFCC)]
    names += [f"logmel{i}_mean_db" for i in range(N_MELS)]
    names += [f"logmel{i}_std_db" for i in range(N_MELS)]
    for s in ("centroid_hz", "bandwidth_hz", "rolloff_hz", "flatness", "zcr"):
        names += [f"{s}_mean", f"{s}_std"]
    names += [f"contrast{i}_mean_db" for i in range(7)]
    names += [
        "f0_mean_st",
        "f0_std_st",
        "f0_median_st",
        "f0_p10_st",
        "f0_p90_st",
        "f0_range_st",
        "f0_slope_st_per_s",
        "f0_delta_abs_st",
    ]
    names += [
        "rms_mean_db",
        "rms_std_db",
        "rms_max_db",
        "rms_p10_db",
        "rms_p90_db",
        "rms_slope_db_per_s",
        "rms_delta_abs_db",
    ]
    names += [
        "voiced_ratio",
        "voiced_prob_mean",
        "jitter_rel",
        "shimmer_db",
        "tilt_db_per_band",
        "alpha_ratio_db",
        "hammarberg_db",
        "speech_s",
        "pause_ratio",
        "voiced_run_mean_s",
    ]
    return tuple(names)


FUNCTIONAL_NAMES: tuple[str, ...] = _feature_names()
N_FUNCTIONALS = len(FUNCTIONAL_NAMES)


def _prepare_clip(audio: np.ndarray) -> np.ndarray:
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    min_len = int(MIN_CLIP_S * SR)
    if len(y) < min_len:
        y = np.pad(y, (0, min_len - len(y)))
    return y


def _trim_to_speech(y: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Crop a prepared clip to the span from its first to its last VAD speech segment.

    Returns the (possibly unchanged) clip and its speech segments relative to the crop
    (``[]`` when the VAD finds none, in which case the whole clip is kept).
    """
    segs = speech_segments(y, min_speech_s=0.1, min_silence_s=0.2)
    if segs:
        a, b = int(segs[0][0] * SR), int(np.ceil(segs[-1][1] * SR))
        if b - a >= int(MIN_CLIP_S * SR):
            y = y[a:b]
            segs = [(s - segs[0][0], e - segs[0][0]) for s, e in segs]
    return y, segs


# ---------------------------------------------------------------- Whisper encoder embedding

EMBED_MODEL = "base"  # packaged CTranslate2 Whisper model whose encoder embeds the voice
EMBED_DIM = 512  # encoder width of Whisper base
EMBED_MAX_S = 30.0  # s, Whisper's longest input; longer clips are cut
EMBED_NAMES: tuple[str, ...] = tuple(
    [f"wenc{i}_mean" for i in range(EMBED_DIM)] + [f"wenc{i}_std" for i in range(EMBED_DIM)]
)
#: Everything the classifier sees: acoustic functionals, then the Whisper encoder embedding.
FEATURE_NAMES: tuple[str, ...] = FUNCTIONAL_NAMES + EMBED_NAMES
N_FEATURES = len(FEATURE_NAMES)


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


def _slope(t: np.ndarray, v: np.ndarray) -> float:
    if len(v) < 3 or np.ptp(t) <= 0:
        return 0.0
    return float(np.polyfit(t, v, 1)[0])


def _stats(v: np.ndarray) -> tuple[float, float]:
    return (float(v.mean()), float(v.std())) if len(v) else (np.nan, np.nan)


def clip_features(audio: np.ndarray, *, sr: int = SR, trim: bool = True) -> np.ndarray:
    """Utterance-level acoustic functionals of one clip.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono float signal at 16 kHz (clips shorter than :data:`MIN_CLIP_S` are zero-padded).
    sr : int
        Sampling rate in Hz; must be :data:`~multimodal_fer.voice.prosody.SR`.
    trim : bool
        Crop to the span from the first to the last VAD speech segment (whole clip when the
        VAD finds none).

    Returns
    -------
    np.ndarray, shape (N_FUNCTIONALS,), float64
        Values named by :data:`FUNCTIONAL_NAMES`; NaN where undefined (e.g. F0 statistics of a
        clip with no voiced frame), imputed by the model.
    """
    import librosa

    if sr != SR:
        raise ValueError(f"clip_features expects {SR} Hz audio, got {sr}")
    y = _prepare_clip(audio)
    y, segs = _trim_to_speech(y) if trim else (y, [])
    dur_s = len(y) / SR

    spec = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH)) ** 2
    mel = librosa.feature.melspectrogram(S=spec, sr=SR, n_mels=N_MELS, fmin=0.0, fmax=SR / 2)
    logmel = 10.0 * np.log10(mel + 1e-10)
    frames = frame_prosody(y)
    n = min(spec.shape[1], len(frames))
    spec, logmel = spec[:, :n], logmel[:, :n]
    rms_db = frames["rms_db"].to_numpy()[:n]
    f0 = frames["f0_hz"].to_numpy()[:n]
    vprob = frames["voiced_prob"].to_numpy()[:n]
    t = np.arange(n) * (HOP_LENGTH / SR)
    active = rms_db > max(rms_db.max() - ACTIVE_RANGE_DB, -70.0)
    if active.sum() < 3:
        active = np.ones(n, dtype=bool)
    voiced = np.isfinite(f0)

    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=N_MFCC)
    dmfcc = librosa.feature.delta(mfcc, width=5, mode="nearest") if n >= 5 else np.zeros_like(mfcc)
    mag = np.sqrt(spec)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=SR)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=mag, sr=SR)[0]
    rolloff = librosa.feature.spectral_rolloff(S=mag, sr=SR, roll_percent=0.85)[0]
    flatness = librosa.feature.spectral_flatness(S=mag)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=WIN_LENGTH, hop_length=HOP_LENGTH)[0][:n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        contrast = librosa.feature.spectral_contrast(S=mag, sr=SR, fmin=100.0, n_bands=6)

    feats: list[float] = []
    A = active
    feats += list(mfcc[:, A].mean(axis=1)) + list(mfcc[:, A].std(axis=1))
    feats += list(dmfcc[:, A].std(axis=1))
    feats += list(logmel[:, A].mean(axis=1)) + list(logmel[:, A].std(axis=1))
    for v in (centroid, bandwidth, rolloff, flatness, zcr):
        feats += list(_stats(v[:n][A]))
    feats += list(contrast[:, A].mean(axis=1))

    # F0 in semitones re 100 Hz over voiced frames
    if voiced.sum() >= 2:
        st = 12.0 * np.log2(f0[voiced] / 100.0)
        p10, p50, p90 = np.percentile(st, [10, 50, 90])
        # consecutive voiced frames only, for deltas / jitter
        pair = voiced[1:] & voiced[:-1]
        st_all = 12.0 * np.log2(np.where(voiced, f0, 100.0) / 100.0)
        d_st = np.abs(np.diff(st_all))[pair]
        feats += [
            st.mean(),
            st.std(),
            p50,
            p10,
            p90,
            p90 - p10,
            _slope(t[voiced], st),
            float(d_st.mean()) if len(d_st) else 0.0,
        ]
    else:
        feats += [np.nan] * 8
    r = rms_db[A]
    d_r = np.abs(np.diff(r))
    feats += [
        r.mean(),
        r.std(),
        r.max(),
        *np.percentile(r, [10, 90]),
        _slope(t[A], r),
        float(d_r.mean()) if len(d_r) else 0.0,
    ]

    # voice quality (frame-level approximations of cycle-level measures)
    voiced_ratio = float(voiced[A].mean())
    vp_mean = float(vprob[voiced].mean()) if voiced.any() else 0.0
    pair = voiced[1:] & voiced[:-1]
    if pair.sum() >= 2:
        period = 1.0 / f0[voiced]
        per_all = 1.0 / np.where(voiced, f0, 1.0)
        jitter = float(np.abs(np.diff(per_all))[pair].mean() / period.mean())
        shimmer = float(np.abs(np.diff(rms_db))[pair].mean())
    else:
        jitter, shimmer = np.nan, np.nan
    vsel = voiced if voiced.sum() >= 3 else A
    lm = logmel[:, vsel].mean(axis=1)
    tilt = _slope(np.arange(N_MELS, dtype=float), lm)
    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    pw = spec[:, vsel].mean(axis=1) + 1e-12
    low, high = pw[(freqs >= 50) & (freqs < 1000)].sum(), pw[(freqs >= 1000) & (freqs < 5000)].sum()
    alpha = 10.0 * np.log10(high / low)
    hammarberg = 10.0 * np.log10(pw[freqs < 2000].max() / pw[(freqs >= 2000) & (freqs < 5000)].max())
    speech_s = float(sum(e - s for s, e in segs)) if segs else float(A.sum() * HOP_LENGTH / SR)
    pause_ratio = float(np.clip(1.0 - speech_s / max(dur_s, 1e-9), 0.0, 1.0))
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, voiced.astype(int), 0])))[::2]
    run_mean = float(runs.mean() * HOP_LENGTH / SR) if len(runs) else 0.0
    feats += [voiced_ratio, vp_mean, jitter, shimmer, tilt, alpha, hammarberg, speech_s, pause_ratio, run_mean]
    out = np.asarray(feats, dtype=np.float64)
    if out.shape != (N_FUNCTIONALS,):  # pragma: no cover - programming error guard
        raise RuntimeError(f"feature vector has {out.shape}, expected ({N_FUNCTIONALS},)")
    return out


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


def speaker_normalise(x: np.ndarray, *, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> np.ndarray:
    """Z-score features over one speaker's clips (rows), NaN-aware.

    Parameters
    ----------
    x : np.ndarray, shape (N, F)
        Features of clips from one speaker.
    mean, std : np.ndarray, shape (F,), optional
        Statistics to use instead of those of ``x`` (e.g. from a longer reference).

    Returns
    -------
    np.ndarray, shape (N, F)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(x, axis=0) if mean is None else mean
        sd = np.nanstd(x, axis=0) if std is None else std
    mu = np.nan_to_num(mu, nan=0.0)
    sd = np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
    return (x - mu) / sd


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
    ) -> None:
        if tuple(feature_names) != FEATURE_NAMES:
            raise ValueError("artefact was trained on different features; retrain it (python -m training.voice)")
        if tuple(classes) != RAVDESS_CLASSES:
            raise ValueError(f"artefact classes {tuple(classes)} != {RAVDESS_CLASSES}")
        self.heads = heads
        self.version = version

    # ---- persistence
    @classmethod
    def load(cls, path: Path | None = None) -> VoiceModel:
        """Load an artefact (default: the committed ``voice/artefacts/voice_model.npz``)."""
        path = Path(path) if path is not None else VOICE_ARTEFACTS / ARTEFACT_FILE
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()[:8]
        with np.load(path, allow_pickle=False) as arrays:
            heads = {
                name: _Head.from_arrays(arrays, f"{name}/")
                for name in ("global", "speaker")
                if f"{name}/mean" in arrays
            }
            names = [str(s) for s in arrays["feature_names"]]
            classes = [str(s) for s in arrays["classes"]]
            feature_version = str(arrays["feature_version"])
        if feature_version != FEATURE_VERSION:
            raise ValueError(f"artefact features {feature_version!r} != code {FEATURE_VERSION!r}")
        return cls(heads, version=f"{MODEL_NAME}-{MODEL_VERSION}+{digest}", feature_names=names, classes=classes)

    def save(self, path: Path) -> None:
        """Write the artefact as an ``.npz`` of plain arrays (no pickle)."""
        arrays: dict[str, np.ndarray] = {
            "feature_names": np.array(FEATURE_NAMES),
            "classes": np.array(RAVDESS_CLASSES),
            "feature_version": np.array(FEATURE_VERSION),
        }
        for name, head in self.heads.items():
            arrays.update(head.to_arrays(f"{name}/"))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    # ---- inference
    def proba_from_features(self, x: np.ndarray, *, speaker_norm: bool = False) -> np.ndarray:
        """8-class probabilities from a feature matrix of shape (N, N_FEATURES)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, N_FEATURES)
        if len(x) == 0:
            return np.zeros((0, len(RAVDESS_CLASSES)))
        if speaker_norm and "speaker" in self.heads and len(x) >= MIN_SPEAKER_CLIPS:
            return self.heads["speaker"].proba(speaker_normalise(x))
        return self.heads["global"].proba(x)

    def predict_proba_8(self, clips: Sequence[np.ndarray], *, speaker_norm: bool = False) -> np.ndarray:
        """Probabilities over :data:`RAVDESS_CLASSES`.

        Parameters
        ----------
        clips : sequence of np.ndarray, each shape (n_i,)
            16 kHz mono float clips, one utterance each (any length; < 0.25 s is padded).
        speaker_norm : bool
            Treat all clips as one speaker's and normalise features over them (used only
            when there are at least :data:`MIN_SPEAKER_CLIPS`; otherwise ignored).

        Returns
        -------
        np.ndarray, shape (N, 8), rows sum to 1
        """
        return self.proba_from_features(features_matrix(clips), speaker_norm=speaker_norm)

    def predict_proba(self, clips: Sequence[np.ndarray], *, speaker_norm: bool = False) -> np.ndarray:
        """Probabilities over :data:`multimodal_fer.labels.EMOTIONS` (calm folded into neutral).

        Parameters
        ----------
        clips : sequence of np.ndarray, each shape (n_i,)
            16 kHz mono float clips, one utterance each.
        speaker_norm : bool
            See :meth:`predict_proba_8`.

        Returns
        -------
        np.ndarray, shape (N, 7), rows sum to 1
        """
        return fold_to_canonical(self.predict_proba_8(clips, speaker_norm=speaker_norm))


def fold_to_canonical(proba_8: np.ndarray) -> np.ndarray:
    """Map (N, 8) RAVDESS-order probabilities onto (N, 7) canonical ones (calm -> neutral)."""
    return np.asarray(proba_8, dtype=np.float64).reshape(-1, len(RAVDESS_CLASSES)) @ _FOLD_8_TO_7
