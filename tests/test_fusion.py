import numpy as np
import pandas as pd

from multimodal_fer.fusion import FACE_COLS, FUSED_COLS, TEXT_COLS, VOICE_COLS, FusionOptions, fuse
from multimodal_fer.labels import EMOTIONS
from multimodal_fer.speakers import attribute_segments
from multimodal_fer.summary import notable_moments, summarize

HAPPY = np.eye(7)[EMOTIONS.index("happy")] * 0.7 + 0.3 / 7
SAD = np.eye(7)[EMOTIONS.index("sad")] * 0.7 + 0.3 / 7


def _frames(duration=10.0, fps=5, face=lambda t: True, probs=lambda t: HAPPY, mouth=lambda t: 0.0):
    rows = []
    for t in np.arange(0, duration, 1 / fps):
        f = face(t)
        row = {"t_s": t, "face_found": f, "mouth_open": mouth(t) if f else np.nan}
        row.update(dict(zip(FACE_COLS, probs(t) if f else [np.nan] * 7)))
        rows.append(row)
    return pd.DataFrame(rows)


def _stream(rows, cols):
    return pd.DataFrame([{"start_s": s, "end_s": e, **dict(zip(cols, p))} for s, e, p in rows],
                        columns=["start_s", "end_s", *cols])


def _utts(rows):
    df = _stream([(s, e, p) for s, e, p, _ in rows], TEXT_COLS)
    df["speaker"] = [spk for *_, spk in rows]
    return df


def test_face_is_downweighted_while_the_patient_speaks():
    frames = _frames()
    voice = _stream([(4.0, 7.0, SAD)], VOICE_COLS)
    utts = _utts([(4.0, 7.0, SAD, "patient")])
    w = fuse(frames, voice, utts, [(4.0, 7.0)], None, duration_s=10.0)
    quiet, speaking = w[~w.patient_speaking], w[w.patient_speaking]
    assert len(speaking) == 3 and len(quiet) == 7
    assert (quiet.w_face == 1.0).all() and (quiet.fused_label == "happy").all()
    assert (speaking.w_face < 0.2).all() and (speaking.fused_label == "sad").all()
    np.testing.assert_allclose(w[["w_face", "w_voice", "w_text"]].sum(axis=1), 1.0)
    np.testing.assert_allclose(w[FUSED_COLS].sum(axis=1), 1.0)
    assert np.all(np.diff(w.window_start_s) > 0) and (w.window_end_s > w.window_start_s).all()
    assert set(w.signal) == {"face", "face+speech"}


def test_face_weight_while_speaking_is_configurable():
    frames, voice = _frames(), _stream([(0.0, 10.0, SAD)], VOICE_COLS)
    utts = _utts([])
    low = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0, options=FusionOptions(face_weight_speaking=0.1))
    even = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0, options=FusionOptions(face_weight_speaking=1.0))
    assert (low.w_face < even.w_face).all()
    np.testing.assert_allclose(even.w_face, 0.5)


def test_windows_without_signal_are_not_guessed():
    frames = _frames(face=lambda t: t < 3)
    w = fuse(frames, _stream([], VOICE_COLS), _utts([]), [], None, duration_s=10.0)
    none = w[w.signal == "none"]
    assert len(none) == 7
    assert none[FUSED_COLS].isna().all().all() and none.fused_label.isna().all() and (none.w_face == 0).all()
    assert w.loc[w.signal == "face", "face_present"].eq(1.0).all()


def test_other_speakers_words_do_not_count_as_the_patients():
    frames = _frames()
    utts = _utts([(2.0, 5.0, SAD, "other")])
    w = fuse(frames, _stream([], VOICE_COLS), utts, [(2.0, 5.0)], None, duration_s=10.0)
    assert not w.patient_speaking.any() and (w.w_text == 0).all()
    assert (w.speech_ratio[2:5] == 1.0).all()


def test_attribution_uses_lip_motion():
    # lips move during 2-4 s (patient speaks), are still during 6-8 s (someone else speaks)
    mouth = lambda t: 0.2 * abs(np.sin(7 * t)) if 2 <= t < 4 else 0.01
    frames = _frames(mouth=mouth)
    a = attribute_segments(frames, [(2.0, 4.0), (6.0, 8.0)])
    assert [x.speaker for x in a] == ["patient", "other"]
    assert all(0.5 <= x.confidence <= 1.0 for x in a)
    no_face = _frames(face=lambda t: False)
    assert attribute_segments(no_face, [(2.0, 4.0)])[0].speaker == "unknown"
    assert attribute_segments(no_face.iloc[0:0], [(1.0, 2.0)], has_video=False)[0].speaker == "patient"


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


def test_a_stream_that_cannot_tell_gets_little_weight():
    flat = np.full(7, 1 / 7)
    frames = _frames()
    utts = _utts([(0.0, 10.0, flat, "patient")])
    voice = _stream([(0.0, 10.0, SAD)], VOICE_COLS)
    w = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0)
    assert (w.w_text < 0.1).all() and (w.w_voice > 3 * w.w_text).all()
    off = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0, options=FusionOptions(confidence_weighting=False))
    assert (off.w_text > 0.3).all()


def test_smoothing_stays_within_runs_of_signal():
    probs = lambda t: SAD if 4 <= t < 5 else HAPPY
    frames = _frames(face=lambda t: not (6 <= t < 7), probs=probs)
    raw = fuse(frames, _stream([], VOICE_COLS), _utts([]), [], None, duration_s=10.0, options=FusionOptions(smooth_windows=1))
    sm = fuse(frames, _stream([], VOICE_COLS), _utts([]), [], None, duration_s=10.0, options=FusionOptions(smooth_windows=3))
    assert raw.loc[4, "fused_label"] == "sad" and sm.loc[4, "p_fused_sad"] < raw.loc[4, "p_fused_sad"]
    assert sm.loc[3, "p_fused_sad"] > raw.loc[3, "p_fused_sad"]  # the neighbour picks some of it up
    np.testing.assert_allclose(sm.loc[sm.signal != "none", FUSED_COLS].sum(axis=1), 1.0)
    assert sm.loc[6, "signal"] == "none" and np.isnan(sm.loc[6, "p_fused_happy"])
    np.testing.assert_allclose(sm.loc[7, FUSED_COLS].astype(float), raw.loc[7, FUSED_COLS].astype(float))  # nothing leaks over the gap
