"""The transcript types (multimodal_fer.text.transcript) and shift_segments."""

import math

import pytest

from multimodal_fer.text import asr
from multimodal_fer.text.transcript import Segment, Transcript, Word, shift_segments


def _transcript() -> Transcript:
    words = (Word(0.1, 0.4, "hello", 0.9), Word(0.5, 0.9, "there", 0.8))
    return Transcript(
        "en",
        0.99,
        (Segment(0.1, 0.9, " hello there ", -0.2, 0.01, words), Segment(1.2, 1.5, "ok", -0.3, 0.02, ())),
    )


@pytest.mark.parametrize("offset", [0.0, 2.5, 120.0, 3601.25])
def test_shift_moves_every_time_and_keeps_everything_else(offset):
    t = _transcript()
    shifted = shift_segments(t, offset_s=offset)
    assert len(shifted) == len(t.segments)
    for a, b in zip(t.segments, shifted, strict=True):
        assert (b.start_s - a.start_s, b.end_s - a.end_s) == pytest.approx((offset, offset))
        assert (b.text, b.avg_logprob, b.no_speech_prob) == (a.text, a.avg_logprob, a.no_speech_prob)
        assert [w.text for w in b.words] == [w.text for w in a.words]
        assert all(math.isclose(wb.start_s, wa.start_s + offset) for wa, wb in zip(a.words, b.words, strict=True))
    assert shift_segments(t, offset_s=0.0) == t.segments


def test_text_and_words_and_re_export():
    t = _transcript()
    assert t.text == "hello there ok"
    assert [w.text for w in t.words] == ["hello", "there"]
    assert asr.Transcript is Transcript and asr.Segment is Segment and asr.Word is Word
