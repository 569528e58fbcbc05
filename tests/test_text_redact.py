"""Tests of the optional transcript redaction (names, phone numbers, dates)."""

from __future__ import annotations

import pytest

from multimodal_fer.text.asr import Segment, Transcript, Word
from multimodal_fer.text.redact import DATE, NAME, PHONE, pii_spans, redact, redact_transcript


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I talked to Sarah yesterday.", "I talked to [NAME] yesterday."),
        ("Sarah called me.", "[NAME] called me."),  # first-name list: also at a sentence start
        ("My appointment with Dr. Smith is next week.", "My appointment with Dr. [NAME] is next week."),
        ("Then John Smith came over.", "Then [NAME] came over."),  # adjacent names merge
        ("Sarah's mother is sick.", "[NAME]'s mother is sick."),
        ("I told him \"Peter, stop\" and left.", "I told him \"[NAME], stop\" and left."),
        ("Hello, I am Anna. OK, so I live in Boston.", "Hello, I am [NAME]. OK, so I live in [NAME]."),
    ],
)
def test_names(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I feel tired. I think I'm okay on Monday and in December.",
        "Will you call me? I will.",  # Will: a name that is also a word, at a sentence start
        "Mark my words.",
        "Oh God, I don't know. Thank you so much.",
        "i talked to someone yesterday",  # lower case: nothing to go on
        "",
    ],
)
def test_non_names_are_kept(text):
    assert redact(text) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call me at 555-123-4567.", "call me at [PHONE]."),
        ("Call (020) 7946 0958 now", "Call [PHONE] now"),
        ("my number is +44 20 7946 0958", "my number is [PHONE]"),
        ("it's 555.123.4567 or 5551234567", "it's [PHONE] or [PHONE]"),
    ],
)
def test_phones(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    ["I took 2.5 mg at 10.30 and slept 8 hours.", "I was born in 1985 and I am 38.", "about 120000 steps",
     "a score of 12 out of 20"],
)
def test_numbers_that_are_not_phones_or_dates(text):
    assert redact(text) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("We had dinner on 12/03/2024.", "We had dinner on [DATE]."),
        ("we met on 2024-01-05 at noon", "we met on [DATE] at noon"),
        ("It was on March 12th, 2024.", "It was on [DATE]."),
        ("Meet me on 5 May.", "Meet me on [DATE]."),
        ("on the 3rd of May I left", "on [DATE] I left"),
        ("since May 2024", "since [DATE]"),
        ("Those 2 may go.", "Those 2 may go."),  # 'may' the verb
        ("we march 5 miles", "we march 5 miles"),
    ],
)
def test_dates(text, expected):
    assert redact(text) == expected


def test_kinds_can_be_switched_off_and_spans_are_sorted():
    text = "Sarah called 555-123-4567 on 12/03/2024."
    assert redact(text) == "[NAME] called [PHONE] on [DATE]."
    assert redact(text, names=False) == "Sarah called [PHONE] on [DATE]."
    assert redact(text, phones=False, dates=False) == "[NAME] called 555-123-4567 on 12/03/2024."
    spans = pii_spans(text)
    assert [tag for _, _, tag in spans] == [NAME, PHONE, DATE]
    assert all(b <= c for (_, b, _), (c, _, _) in zip(spans, spans[1:]))
    assert redact(None) == ""


def test_redact_transcript_keeps_timing_and_redacts_words():
    words = tuple(Word(float(i), float(i) + 0.5, w, 0.9) for i, w in
                  enumerate(["I", "saw", "Sarah", "on", "12/03/2024."]))
    t = Transcript("en", 0.99, (Segment(0.0, 5.0, "I saw Sarah on 12/03/2024.", -0.2, 0.01, words),))
    r = redact_transcript(t)
    assert r.text == "I saw [NAME] on [DATE]."
    assert [w.text for w in r.words] == ["I", "saw", NAME, "on", DATE]
    assert [(w.start_s, w.end_s, w.probability) for w in r.words] == [(w.start_s, w.end_s, w.probability) for w in words]
    assert (r.language, r.language_probability) == ("en", 0.99)
    assert t.text == "I saw Sarah on 12/03/2024."  # the original is untouched (frozen dataclasses)
