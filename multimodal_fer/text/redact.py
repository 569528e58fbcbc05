"""Optional, rule-based redaction of names, phone numbers and dates in transcripts.

Off by default (the pipeline decides). Simple and offline, no model, no downloads:

* **phone numbers**: 7–15 digits written as one number with spaces, dots, dashes, brackets or a
  leading ``+`` (``555-123-4567``, ``(020) 7946 0958``, ``+44 20 7946 0958``) → ``[PHONE]``;
* **dates**: numeric (``12/03/2024``, ``2024-03-12``, ``3.12.24``) and written ones
  (``March 12``, ``March 12th, 2024``, ``12 March 2024``, ``the 3rd of May``, ``May 2024``)
  → ``[DATE]``; a bare month that is also a word (*may*, *march*) is left alone;
* **names**: (a) a capitalised word that is *not* at the start of a sentence and is not in
  :data:`COMMON_CAPITALISED` (``I``, days, months, titles, ...), (b) any word of the small
  built-in :data:`FIRST_NAMES` list, also at a sentence start (except those that are common
  words too, e.g. *Will*, *May*, *Mark*), (c) the capitalised word after a title
  (``Dr. Smith``) → ``[NAME]``; adjacent name words merge (``John Smith`` → ``[NAME]``) and a
  possessive is kept (``Sarah's`` → ``[NAME]'s``).

It is a safety net, not a guarantee: lower-case names (ASR output is usually cased, but not
always), names at the start of a sentence that are not in the list, spelled-out numbers
("five five five ...") and addresses are NOT caught, and capitalised non-names (places, brands)
are redacted too.
"""

from __future__ import annotations

import re
from dataclasses import replace

NAME, PHONE, DATE = "[NAME]", "[PHONE]", "[DATE]"

MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_ABBR = ("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TITLES = (
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "doctor",
    "prof",
    "professor",
    "nurse",
    "sister",
    "father",
    "uncle",
    "aunt",
    "auntie",
    "grandma",
    "grandpa",
    "sir",
    "madam",
    "mx",
)

#: Capitalised mid-sentence words that are not names (compared in lower case).
COMMON_CAPITALISED: frozenset[str] = frozenset(
    {
        "i",
        "i'm",
        "i've",
        "i'll",
        "i'd",
        "ok",
        "okay",
        "oh",
        "god",
        "lord",
        "jesus",
        "christ",
        "christmas",
        "easter",
        "thanksgiving",
        "halloween",
        "ramadan",
        "hanukkah",
        "diwali",
        "english",
        "spanish",
        "french",
        "german",
        "italian",
        "chinese",
        "japanese",
        "arabic",
        "american",
        "british",
        "european",
        "african",
        "asian",
        "canadian",
        "mexican",
        "indian",
        "internet",
        "tv",
        "covid",
        "covid-19",
        "zoom",
        "teams",
        "skype",
        "google",
        "facebook",
        "tylenol",
        "advil",
        "ibuprofen",
        "prozac",
        "zoloft",
        "xanax",
        "mom",
        "mum",
        "dad",
        "mommy",
        "daddy",
        "grandma",
        "grandpa",
        "granny",
        "nana",
        "papa",
        "mama",
        "sir",
        "madam",
        "ma'am",
        "hi",
        "hello",
        "hey",
        "yes",
        "no",
        "yeah",
        "um",
        "uh",
        "hmm",
        "mm",
        "wow",
        "please",
        "thanks",
        "thank",
        "sorry",
        "well",
        "so",
        "and",
        "but",
        "or",
        "the",
        "a",
        "an",
        "it",
        "you",
        "we",
        "they",
        "he",
        "she",
        "my",
        "your",
        "our",
        "their",
        "this",
        "that",
        "what",
        "why",
        "how",
        "when",
        "where",
        "who",
        "am",
        "pm",
        "a.m.",
        "p.m.",
    }
    | set(MONTHS)
    | set(_MONTH_ABBR)
    | set(WEEKDAYS)
    | set(TITLES)
)

#: A small list of common first names (written for this project; lower case).
FIRST_NAMES: frozenset[str] = frozenset(
    """aaron adam adrian aisha alan albert alex alexander alice alicia amanda amber amy andrea andrew
    angela anna anne anthony april arthur ashley barbara ben benjamin beth betty bill billy bob
    brandon brenda brian carl carlos carol caroline catherine charles charlie charlotte chloe chris
    christine christopher claire daniel david deborah dennis diana diane donald donna dorothy
    douglas dylan edward elizabeth ellen emily emma eric ethan eva evelyn fatima frank gary george
    grace greg gregory hannah harry heather helen henry hope isabella jack jacob james jamie jane
    janet jason jeff jennifer jeremy jessica jill joan joe john jonathan jose joseph joshua joy
    joyce juan judith judy julia julie june justin karen kate katherine kathleen kathy kelly kenneth
    kevin kim kyle larry laura lauren linda lisa logan lucy luis maria marie mark martha mary
    matthew megan melissa michael michelle mike mohammed muhammad nancy natalie nathan nicholas
    nicole noah oliver olivia pamela patricia patrick paul peter rachel raymond rebecca richard
    robert roger ronald rose ross ruth ryan samantha samuel sandra sara sarah scott sean sharon
    sophia sophie stephanie stephen steve steven susan thomas timothy tom tony tyler victoria
    virginia walter wayne will william zoe""".split()
)
#: First names that are also ordinary words: redacted only where capitalised mid-sentence.
AMBIGUOUS_NAMES: frozenset[str] = frozenset(
    {
        "will",
        "may",
        "june",
        "april",
        "mark",
        "bill",
        "grace",
        "hope",
        "joy",
        "rose",
        "frank",
        "amber",
        "jack",
        "kim",
        "sue",
        "pat",
        "art",
        "dawn",
        "faith",
        "chase",
        "drew",
        "ross",
    }
)

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_SENTENCE_END = re.compile(r"[.!?:;\"\u201c\u201d(\[]\s*$|^\s*$|\n\s*$")
_MONTH_RE = r"(?:" + "|".join(sorted(MONTHS + tuple(m + r"\.?" for m in _MONTH_ABBR), key=len, reverse=True)) + r")"
_DAY_RE = r"(?:[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR_RE = r"(?:1[89]\d\d|20\d\d)"
_DATE_PATTERNS = [
    r"\b\d{4}-\d{1,2}-\d{1,2}\b",  # ISO
    r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b",  # 12/03/2024, 3.12.24
    r"\b\d{1,2}/\d{1,2}\b(?![/\d])",  # 12/03
    rf"\b{_MONTH_RE}\s+{_DAY_RE}(?:,?\s+{_YEAR_RE})?\b",  # March 12(th)(, 2024)
    rf"\b(?:the\s+)?{_DAY_RE}\s+(?:of\s+)?{_MONTH_RE}(?:,?\s+{_YEAR_RE})?\b",  # (the) 12(th) (of) March (2024)
    rf"\b{_MONTH_RE},?\s+{_YEAR_RE}\b",  # March 2024
]
_DATE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS), re.IGNORECASE)
_PHONE_CANDIDATE = re.compile(r"(?<![\w/.-])\+?\(?\d[\d\s().-]{5,}\d\)?(?![\w/])")


def _phone_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _PHONE_CANDIDATE.finditer(text):
        s = m.group(0).rstrip()
        digits = re.sub(r"\D", "", s)
        groups = re.findall(r"\d+", s)
        # 7-15 digits; at most 5 groups; no group longer than 10 unless it is the whole number
        if 7 <= len(digits) <= 15 and len(groups) <= 5 and not re.fullmatch(r"\d{1,2}[.]\d+", s):
            spans.append((m.start(), m.start() + len(s)))
    return spans


def _date_spans(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _DATE.finditer(text):
        s = m.group(0)
        if re.search(r"\b(?:may|march)\b", s) and not re.search(r"\d(?:st|nd|rd|th)\b|\bof\b|\d{4}", s):
            continue  # lower-case "2 may" / "march 5" (as in "those 2 may go") are words, not dates
        out.append((m.start(), m.end()))
    return out


def _is_sentence_start(text: str, start: int) -> bool:
    before = text[:start]
    if not before.strip():
        return True
    if _SENTENCE_END.search(before) is None:
        return False
    # "Dr. Smith": a title's full stop ends no sentence
    prev = re.search(r"([A-Za-z]+)\.\s*$", before)
    return not (prev and prev.group(1).lower() in TITLES)


def _name_spans(text: str, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans = []
    words = list(_WORD.finditer(text))
    for k, m in enumerate(words):
        if any(a <= m.start() < b for a, b in taken):
            continue
        token = m.group(0)
        base = re.sub(r"'s$|'$", "", token)
        low = base.lower()
        capitalised = base[:1].isupper() and (base[1:].islower() or len(base) == 1) and len(base) > 1
        if not capitalised:
            continue
        after_title = (
            k > 0 and words[k - 1].group(0).lower() in TITLES and not text[words[k - 1].end() : m.start()].strip(" .")
        )
        start_of_sentence = _is_sentence_start(text, m.start())
        is_name = (
            after_title
            or (not start_of_sentence and low not in COMMON_CAPITALISED)
            or (low in FIRST_NAMES and low not in AMBIGUOUS_NAMES)
        )
        if is_name:
            spans.append((m.start(), m.start() + len(base)))
    # merge adjacent names separated only by spaces ("John Smith")
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and not text[merged[-1][1] : a].strip():
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def pii_spans(text: str, *, names: bool = True, phones: bool = True, dates: bool = True) -> list[tuple[int, int, str]]:
    """Character spans ``(start, end, tag)`` to redact in ``text``, sorted, non-overlapping."""
    text = "" if text is None else str(text)
    spans: list[tuple[int, int, str]] = []
    if dates:
        spans += [(a, b, DATE) for a, b in _date_spans(text)]
    if phones:
        spans += [(a, b, PHONE) for a, b in _phone_spans(text) if not any(a < d and c < b for c, d, _ in spans)]
    if names:
        spans += [
            (a, b, NAME)
            for a, b in _name_spans(text, [(a, b) for a, b, _ in spans])
            if not any(a < d and c < b for c, d, _ in spans)
        ]
    return sorted(spans)


def redact(text: str, *, names: bool = True, phones: bool = True, dates: bool = True) -> str:
    """``text`` with names, phone numbers and dates replaced by ``[NAME]``, ``[PHONE]``, ``[DATE]``.

    Parameters
    ----------
    text : str
        Any text (a transcript segment, a whole transcript).
    names, phones, dates : bool
        Which kinds to redact (all by default).

    Returns
    -------
    str
        The text with each found span replaced by its tag; everything else unchanged.
    """
    text = "" if text is None else str(text)
    out, pos = [], 0
    for a, b, tag in pii_spans(text, names=names, phones=phones, dates=dates):
        out += [text[pos:a], tag]
        pos = b
    out.append(text[pos:])
    return "".join(out)


def redact_transcript(transcript, **kinds):
    """A :class:`~multimodal_fer.text.asr.Transcript` with segment texts and words redacted.

    Each segment's text goes through :func:`redact`; a word whose characters overlap a redacted
    span (found in the segment's words joined with spaces) gets the span's tag as its text.
    Timestamps, probabilities and the language are kept.
    """
    segments = []
    for seg in transcript.segments:
        joined, offsets = "", []
        for w in seg.words:
            if joined:
                joined += " "
            offsets.append((len(joined), len(joined) + len(w.text)))
            joined += w.text
        spans = pii_spans(joined, **kinds)
        words = tuple(
            replace(w, text=next((tag for a, b, tag in spans if a < e and s < b), w.text))
            for w, (s, e) in zip(seg.words, offsets, strict=True)
        )
        segments.append(replace(seg, text=redact(seg.text, **kinds), words=words))
    return replace(transcript, segments=tuple(segments))
