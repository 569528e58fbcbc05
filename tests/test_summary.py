"""The per-session summary row and the notable moments."""

import pandas as pd

from multimodal_fer.fusion import VOICE_COLS, fuse
from multimodal_fer.labels import EMOTIONS
from multimodal_fer.summary import notable_moments, summarize
from tests.test_fusion import HAPPY, SAD, _frames, _stream, _utts


def test_summary_and_moments():
    frames = _frames(probs=lambda t: SAD if 10 <= t < 14 else HAPPY, duration=30.0)
    utts = _utts([(10.0, 14.0, SAD, "patient")])
    utts["n_words"] = [6]
    w = fuse(frames, _stream([(10.0, 14.0, SAD)], VOICE_COLS), utts, [(10.0, 14.0)], None, duration_s=30.0)
    s = summarize(w, frames, utts, [(10.0, 14.0)], duration_s=30.0)
    assert abs(sum(s[f"share_{e}"] for e in EMOTIONS) - 1.0) < 1e-9
    assert s["dominant_emotion"] == "happy" and s["share_sad"] > 0.1
    assert s["speaking_time_s"] == 4.0 and s["n_turns"] == 1 and abs(s["speech_rate_wps"] - 1.5) < 1e-9
    assert s["face_coverage"] == 1.0 and abs(s["speech_coverage"] - 4 / 30) < 1e-9
    words = pd.DataFrame({"start_s": [10.5, 11.0, 20.0], "end_s": [10.9, 11.5, 20.5], "word": ["I", "miss", "later"]})
    m = notable_moments(w, words)
    neg = m[m.kind == "negative"]
    assert len(neg) >= 1 and 9.0 <= neg.iloc[0].start_s <= 13.0 and "miss" in neg.iloc[0].words
    assert (m.valence.abs() >= 0.15).all()
