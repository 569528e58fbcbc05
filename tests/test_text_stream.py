"""text.stream: utterance and word rows from a transcript and the speaker attributions (stub text model)."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_fer.speakers import Attribution
from multimodal_fer.text.asr import Segment, Transcript, Word
from multimodal_fer.text.stream import TEXT_COLS, TEXT_CONTEXT_UTTERANCES, UTTERANCE_COLUMNS, WORD_COLUMNS, text_stream


class StubText:
    def __init__(self, seed=0):
        self.rng, self.calls = np.random.default_rng(seed), []

    def predict_proba(self, texts, contexts):
        self.calls.append((list(texts), list(contexts)))
        return self.rng.dirichlet(np.ones(7), size=len(texts))


def _transcript(rng, n_segments):
    segments, t = [], 0.0
    for i in range(n_segments):
        words = []
        for j in range(int(rng.integers(1, 6))):
            start = t + float(rng.uniform(0.0, 0.2))
            words.append(Word(start, start + float(rng.uniform(0.1, 0.5)), f" w{i}_{j}", float(rng.uniform(0, 1.2))))
            t = words[-1].end_s
        segments.append(Segment(words[0].start_s, t, " ".join(w.text.strip() for w in words), -0.2, 0.01, tuple(words)))
        t += float(rng.uniform(0.3, 2.0))
    return Transcript("en", 0.9, tuple(segments)), t


@pytest.mark.parametrize("seed", range(5))
def test_rows_follow_the_schema_and_the_clock(seed):
    rng = np.random.default_rng(seed)
    transcript, end = _transcript(rng, int(rng.integers(1, 8)))
    cuts = np.sort(rng.uniform(0, end, size=4))
    edges = [0.0, *cuts, end + 1.0]
    attributions = [Attribution(a, b, str(rng.choice(["patient", "other"])), 0.9, 0.1)
                    for a, b in zip(edges, edges[1:])]
    model = StubText(seed)
    out = text_stream(transcript, attributions, model)
    u, w = out.utterances, out.words
    assert list(u.columns) == UTTERANCE_COLUMNS and list(w.columns) == WORD_COLUMNS and out.language == "en"
    assert u["utterance_idx"].tolist() == list(range(len(u))) and w["word_idx"].tolist() == list(range(len(w)))
    assert len(w) == sum(len(s.words) for s in transcript.segments) == u["n_words"].sum()
    np.testing.assert_allclose(u[TEXT_COLS].sum(axis=1), 1.0)
    assert u["start_s"].is_monotonic_increasing and (u["end_s"] >= u["start_s"]).all()
    assert w["probability"].between(0, 1).all() and set(w["utterance_idx"]) <= set(u["utterance_idx"])
    assert (u["text_label"] == [TEXT_COLS[i].removeprefix("p_text_") for i in u[TEXT_COLS].to_numpy().argmax(1)]).all()
    texts, contexts = model.calls[0]
    assert texts == u["text"].tolist()
    for i, c in enumerate(contexts):
        assert c == " ".join(texts[max(0, i - TEXT_CONTEXT_UTTERANCES):i])


def test_nothing_said_gives_no_rows_and_no_language():
    model = StubText()
    out = text_stream(None, [], model)
    assert out.utterances.empty and out.words.empty and out.language is None and model.calls == []
    assert list(out.utterances.columns) == UTTERANCE_COLUMNS


def test_words_not_stored_or_redacted_never_change_what_the_model_reads():
    words = tuple(Word(0.1 + 0.5 * i, 0.5 + 0.5 * i, t, 0.9) for i, t in enumerate(
        ["Call", "me", "at", "555-123-4567", "please"]))
    transcript = Transcript("en", 0.9, (Segment(0.1, 2.5, "Call me at 555-123-4567 please", -0.1, 0.0, words),))
    attributions = [Attribution(0.0, 3.0, "patient", 0.9, 0.1)]
    plain, redacted, hidden = StubText(), StubText(), StubText()
    a = text_stream(transcript, attributions, plain)
    b = text_stream(transcript, attributions, redacted, redact=True)
    c = text_stream(transcript, attributions, hidden, store_transcripts=False)
    assert plain.calls == redacted.calls == hidden.calls
    assert "[PHONE]" in b.utterances["text"].iloc[0] and "[PHONE]" in b.words["word"].tolist()
    assert "555-123-4567" in a.utterances["text"].iloc[0]
    assert c.utterances["text"].isna().all() and c.words.empty and c.utterances["n_words"].tolist() == [5]
