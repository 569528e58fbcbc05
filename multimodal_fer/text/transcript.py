"""What the speech recogniser returns: a transcript of segments with word timestamps.

Times are in seconds on the clock of the audio that was transcribed (``start_s``, ``end_s``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Transcript:
    language: str
    language_probability: float  # NaN where the backend does not report it (openai-whisper)
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        """The whole transcript as one string."""
        return " ".join(s.text.strip() for s in self.segments).strip()

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)


def shift_segments(transcript: Transcript, *, offset_s: float) -> tuple[Segment, ...]:
    """The transcript's segments (and their words) moved ``offset_s`` seconds later.

    Parameters
    ----------
    transcript : Transcript
        Transcript of a chunk, times relative to the chunk's start.
    offset_s : float
        Start of the chunk on the recording's clock, in s.

    Returns
    -------
    tuple of Segment
        Same texts and scores, times on the recording's clock.
    """
    return tuple(
        Segment(
            seg.start_s + offset_s,
            seg.end_s + offset_s,
            seg.text,
            seg.avg_logprob,
            seg.no_speech_prob,
            tuple(Word(w.start_s + offset_s, w.end_s + offset_s, w.text, w.probability) for w in seg.words),
        )
        for seg in transcript.segments
    )
