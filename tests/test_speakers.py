"""Who speaks: lip motion during speech, and recognised segments cut at speaker turns."""

import numpy as np

from multimodal_fer.speakers import attribute_segments
from tests.test_fusion import _frames


def test_attribution_uses_lip_motion():
    # lips move during 2-4 s (patient speaks), are still during 6-8 s (someone else speaks)
    def mouth(t):
        return 0.2 * abs(np.sin(7 * t)) if 2 <= t < 4 else 0.01

    frames = _frames(mouth=mouth)
    a = attribute_segments(frames, [(2.0, 4.0), (6.0, 8.0)])
    assert [x.speaker for x in a] == ["patient", "other"]
    assert all(0.5 <= x.confidence <= 1.0 for x in a)
    no_face = _frames(face=lambda t: False)
    assert attribute_segments(no_face, [(2.0, 4.0)])[0].speaker == "unknown"
    assert attribute_segments(no_face.iloc[0:0], [(1.0, 2.0)], has_video=False)[0].speaker == "patient"


def test_recognised_segments_are_cut_at_speaker_turns():
    from multimodal_fer.speakers import Attribution, split_by_speaker
    from multimodal_fer.text.asr import Segment, Word

    words = tuple(Word(s, s + 0.3, t, 0.9) for s, t in [(0.1, "How"), (0.5, "are"), (0.9, "you?"), (1.6, "Much"),
                                                        (2.0, "better,"), (2.4, "thanks."), (5.0, "Good.")])
    seg = Segment(0.0, 5.3, "How are you? Much better, thanks. Good.", -0.2, 0.01, words)
    bare = Segment(7.0, 8.0, "Hmm.", -0.5, 0.1, ())
    attributions = [Attribution(0.0, 1.3, "other", 0.8, 0.0), Attribution(1.5, 2.8, "patient", 0.9, 0.1),
                    Attribution(4.9, 5.4, "other", 0.7, 0.0), Attribution(6.9, 8.1, "patient", 0.6, 0.1)]
    parts = split_by_speaker([seg, bare], attributions)
    assert [(p.text, who) for p, who, _ in parts] == [("How are you?", "other"), ("Much better, thanks.", "patient"),
                                                      ("Good.", "other"), ("Hmm.", "patient")]
    assert [round(c, 2) for _, _, c in parts] == [0.8, 0.9, 0.7, 0.6]
    assert all(p.start_s <= p.end_s for p, _, _ in parts)
    assert sum(len(p.words) for p, _, _ in parts) == len(words)
    assert [p.start_s for p, _, _ in parts] == sorted(p.start_s for p, _, _ in parts)
    far = split_by_speaker([Segment(20.0, 21.0, "Far.", -0.1, 0.0, (Word(20.0, 20.5, "Far.", 0.9),))], attributions)
    assert far[0][1:] == ("unknown", 0.0)  # no speech segment near: not guessed
