"""The text stream of one recording: the transcript cut at speaker changes → utterance and word rows.

:func:`text_stream` takes the recogniser's :class:`~multimodal_fer.text.asr.Transcript` and the
speaker attributions of the voice stream, scores each utterance with the text model (with the
previous :data:`TEXT_CONTEXT_UTTERANCES` as context) and VADER, and returns a :class:`TextStream`
whose frames have the columns of the ``utterances`` and ``words`` tables (without
``recording_sha256``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS
from multimodal_fer.speakers import split_by_speaker
from multimodal_fer_schemas.tables import TEXT_PROB_COLS, row_columns

TEXT_CONTEXT_UTTERANCES = 2  # previous utterances given to the text model as context
TEXT_COLS = list(TEXT_PROB_COLS)  # the schema's text probability columns, EMOTIONS order
UTTERANCE_COLUMNS = list(row_columns("utterances"))
WORD_COLUMNS = list(row_columns("words"))


@dataclass(frozen=True)
class TextStream:
    """The text stream of one recording.

    Attributes
    ----------
    utterances : DataFrame
        :data:`UTTERANCE_COLUMNS`, U rows in time order (``utterance_idx`` 0..U-1, times in
        seconds); :data:`TEXT_COLS` sum to 1 (NaN where the text model gave none); ``text`` is
        None when transcripts are not stored.
    words : DataFrame
        :data:`WORD_COLUMNS`, one row per recognised word (``word_idx`` 0..W-1 in order); no rows
        when transcripts are not stored.
    language : str or None
        The recogniser's language code; None without utterances.
    """

    utterances: pd.DataFrame
    words: pd.DataFrame
    language: str | None


def _context(texts: Sequence[str]) -> list[str]:
    """For each utterance, the previous :data:`TEXT_CONTEXT_UTTERANCES` joined by spaces."""
    return [" ".join(texts[max(0, i - TEXT_CONTEXT_UTTERANCES) : i]) for i in range(len(texts))]


def utterance_row(
    *,
    idx: int,
    seg,
    stored_text: str | None,
    speaker,
    speaker_confidence,
    proba: np.ndarray,
    vader: float,
) -> dict:
    """One row of the ``utterances`` table (:data:`UTTERANCE_COLUMNS`).

    Parameters
    ----------
    idx : int
        ``utterance_idx``.
    seg : Segment
        The utterance as heard (times in s, words, ``avg_logprob``).
    stored_text : str or None
        The text as stored (possibly redacted; None when transcripts are not stored).
    speaker, speaker_confidence
        The voice stream's attribution of the utterance.
    proba : np.ndarray, shape (7,)
        Text-model probabilities over :data:`~multimodal_fer.labels.EMOTIONS` (NaN: none).
    vader : float
        VADER compound valence, in [-1, 1].

    Returns
    -------
    dict
        Times clipped to >= 0 and ``end_s >= start_s``; ``avg_logprob`` clipped to <= 0;
        ``text_label`` the most probable class (None without probabilities).
    """
    ok = not np.isnan(proba).any()
    return {
        "utterance_idx": idx,
        "start_s": max(seg.start_s, 0.0),
        "end_s": max(seg.end_s, seg.start_s, 0.0),
        "text": stored_text,
        "n_words": len(seg.words),
        "speaker": speaker,
        "speaker_confidence": speaker_confidence,
        "avg_logprob": min(seg.avg_logprob, 0.0),
        **dict(zip(TEXT_COLS, proba, strict=True)),
        "text_label": EMOTIONS[int(np.nanargmax(proba))] if ok else None,
        "vader_valence": vader,
    }


def word_rows_of(seg, *, utterance_idx: int, first_word_idx: int) -> list[dict]:
    """Rows of the ``words`` table (:data:`WORD_COLUMNS`) of one stored utterance.

    ``word_idx`` counts on from ``first_word_idx``; times (s) are clipped to >= 0 with
    ``end_s >= start_s``, the probability to [0, 1].
    """
    return [
        {
            "utterance_idx": utterance_idx,
            "word_idx": first_word_idx + j,
            "start_s": max(w.start_s, 0.0),
            "end_s": max(w.end_s, w.start_s, 0.0),
            "word": w.text.strip(),
            "probability": float(np.clip(w.probability, 0.0, 1.0)),
        }
        for j, w in enumerate(seg.words)
    ]


def text_stream(
    transcript, attributions: list, model, *, store_transcripts: bool = True, redact: bool = False
) -> TextStream:
    """Utterance and word rows of a transcript.

    Parameters
    ----------
    transcript : Transcript or None
        The recogniser's output (None when there was no speech).
    attributions : list of Attribution
        Who speaks when (:attr:`VoiceStream.attributions`); utterances are cut where it changes.
    model : TextEmotionModel
        Anything with ``predict_proba(texts, contexts) -> (U, 7)``.
    store_transcripts : bool
        Keep the words (``text`` and the word rows); the scores never depend on it.
    redact : bool
        Store names, phone numbers and dates as ``[NAME]``, ``[PHONE]``, ``[DATE]`` (the model
        still reads the words as heard).
    """
    from multimodal_fer.text.emotion import vader_valence

    turns = split_by_speaker(transcript.segments, attributions) if transcript is not None else []
    segs = tuple(seg for seg, _, _ in turns)
    texts = [seg.text.strip() for seg in segs]
    probs = model.predict_proba(texts, _context(texts)) if texts else np.empty((0, len(EMOTIONS)))
    vader = vader_valence(texts) if texts else np.empty(0)
    stored_segs = segs  # what the warehouse keeps: the words as heard, or redacted
    if redact and transcript is not None:
        from multimodal_fer.text.redact import redact_transcript

        stored_segs = redact_transcript(replace(transcript, segments=segs)).segments
    utt_rows: list[dict] = []
    word_rows: list[dict] = []
    for i, (seg, stored_seg, (_, speaker, conf)) in enumerate(zip(segs, stored_segs, turns, strict=True)):
        utt_rows.append(
            utterance_row(
                idx=i,
                seg=seg,
                stored_text=stored_seg.text.strip() if store_transcripts else None,
                speaker=speaker,
                speaker_confidence=conf,
                proba=probs[i],
                vader=float(vader[i]),
            )
        )
        word_rows += word_rows_of(stored_seg, utterance_idx=i, first_word_idx=len(word_rows))
    words = pd.DataFrame(word_rows, columns=WORD_COLUMNS)
    return TextStream(
        pd.DataFrame(utt_rows, columns=UTTERANCE_COLUMNS),
        words if store_transcripts else words.iloc[0:0],
        transcript.language if transcript is not None and segs else None,
    )
