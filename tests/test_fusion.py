import numpy as np
import pandas as pd
import pytest

from multimodal_fer.fusion import (
    CERTAINTY_WEIGHTED,
    FACE_COLS,
    FUSED_COLS,
    TEXT_COLS,
    VOICE_COLS,
    FusionInputs,
    FusionOptions,
    fuse,
    pool,
)
from multimodal_fer.labels import EMOTIONS

HAPPY = np.eye(7)[EMOTIONS.index("happy")] * 0.7 + 0.3 / 7
SAD = np.eye(7)[EMOTIONS.index("sad")] * 0.7 + 0.3 / 7
OPT = FusionOptions()


def _peaked(label: str, p: float) -> np.ndarray:
    row = np.full(7, (1 - p) / 6)
    row[EMOTIONS.index(label)] = p
    return row


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
    # without the speaking discount, face and voice are weighted by their measured reliability alone
    np.testing.assert_allclose(even.w_face, OPT.reliability_face / (OPT.reliability_face + OPT.reliability_voice))


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


def test_the_previous_certainty_rule_gives_a_flat_stream_little_weight():
    flat = np.full(7, 1 / 7)
    frames = _frames()
    utts = _utts([(0.0, 10.0, flat, "patient")])
    voice = _stream([(0.0, 10.0, SAD)], VOICE_COLS)
    w = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0, options=CERTAINTY_WEIGHTED)
    assert (w.w_text < 0.1).all() and (w.w_voice > 3 * w.w_text).all()
    off = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0,
               options=FusionOptions(pooling="linear", confidence_weighting=False))
    assert (off.w_text > 0.3).all()


def test_a_stream_equal_to_its_training_prior_has_no_influence():
    """Its evidence log(p / prior) is zero (both through its temperature): it only dilutes the others (their
    log-odds scale by 1 - w_text)."""
    frames = _frames(probs=lambda t: _peaked("angry", 0.6))
    voice = _stream([(0.0, 10.0, _peaked("sad", 0.5))], VOICE_COLS)
    opts = FusionOptions(smooth_windows=1)
    with_text = fuse(frames, voice, _utts([(0.0, 10.0, OPT.output_prior("text"), "patient")]), [(0.0, 10.0)], None,
                     duration_s=10.0, options=opts)
    without = fuse(frames, voice, _utts([]), [(0.0, 10.0)], None, duration_s=10.0, options=opts)
    assert (with_text.w_text > 0.3).all() and (without.w_text == 0).all()
    assert (with_text.fused_label == without.fused_label).all()

    def centred(df):
        lp = np.log(df[FUSED_COLS].to_numpy(float))
        return lp - lp.mean(axis=1, keepdims=True)

    np.testing.assert_allclose(centred(with_text), (1 - with_text.w_text.to_numpy()[:, None]) * centred(without), atol=1e-9)
    # while a text that is more sure of sadness than its prior does move the result
    sad_text = fuse(frames, voice, _utts([(0.0, 10.0, _peaked("sad", 0.6), "patient")]), [(0.0, 10.0)], None,
                    duration_s=10.0, options=opts)
    assert (sad_text.p_fused_sad > without.p_fused_sad + 0.05).all()


def test_a_confident_neutral_text_against_an_expressive_face_and_voice():
    """CREMA-D's case: acted anger on a neutral sentence. While the patient speaks the weights follow the
    streams' cross-corpus κ (voice 0.295 ≈ text 0.293 > face 0.360 × 0.3), and a text this sure of
    *neutral* still decides (docs/fusion.md: a known limit); unlike the previous certainty rule, the
    face's and voice's anger stays in the result (p(neutral) about 0.32 instead of 0.68)."""
    frames = _frames(probs=lambda t: _peaked("angry", 0.7))
    voice = _stream([(0.0, 10.0, _peaked("angry", 0.45))], VOICE_COLS)
    utts = _utts([(0.0, 10.0, _peaked("neutral", 0.9), "patient")])
    new = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0)
    old = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0, options=CERTAINTY_WEIGHTED)
    assert new.patient_speaking.all() and (old.fused_label == "neutral").all()
    np.testing.assert_allclose(new.w_voice / new.w_text, OPT.reliability_voice / OPT.reliability_text)
    assert (new.w_face < new.w_voice).all() and (new.w_face < new.w_text).all()
    assert (new.p_fused_angry > old.p_fused_angry + 0.03).all()
    assert (new.p_fused_neutral < old.p_fused_neutral - 0.2).all()
    # without the text, face and voice agree and decide
    no_text = fuse(frames, voice, _utts([]), [(0.0, 10.0)], None, duration_s=10.0)
    assert (no_text.fused_label == "angry").all()


def test_reliability_and_prior_shape_the_weights_and_the_evidence():
    # weights: measured reliability x presence, normalised; text weighs less than voice (κ 0.454 < 0.654)
    frames = _frames()
    voice = _stream([(0.0, 10.0, SAD)], VOICE_COLS)
    utts = _utts([(0.0, 10.0, SAD, "patient")])
    w = fuse(frames, voice, utts, [(0.0, 10.0)], None, duration_s=10.0)
    raw = np.array([OPT.reliability_face * OPT.face_weight_speaking, OPT.reliability_voice, OPT.reliability_text])
    np.testing.assert_allclose(w[["w_face", "w_voice", "w_text"]].to_numpy(), np.tile(raw / raw.sum(), (10, 1)))
    # one stream with prior_fused = its own prior gives its own row back; with a uniform target its row / its prior
    p = _peaked("happy", 0.5)
    prior = np.array(OPT.prior_face)
    np.testing.assert_allclose(pool([(1.0, p, OPT.prior_face)], FusionOptions(prior_fused=OPT.prior_face)), p)
    np.testing.assert_allclose(pool([(1.0, p, OPT.prior_face)], OPT), (p / prior) / (p / prior).sum())
    # a probability of 0 is floored: no single stream vetoes a class outright
    zero = np.eye(7)[0]
    assert (pool([(0.5, zero, OPT.prior_text), (0.5, _peaked("sad", 0.9), OPT.prior_voice)], OPT) > 0).all()
    with pytest.raises(ValueError):
        FusionOptions(pooling="max")
    with pytest.raises(ValueError):
        FusionOptions(prior_text=(0.5, 0.5))


@pytest.mark.parametrize("seed", range(12))
def test_fusion_invariants_on_random_streams(seed):
    """Weights sum to 1 and p_fused to 1 where there is signal; no-signal windows are NULL, never
    guessed; the face is discounted while the patient speaks; smoothing stays inside signal runs."""
    rng = np.random.default_rng(seed)
    duration = float(rng.uniform(5, 20))
    gone = rng.uniform(0, duration, size=2)
    frames = _frames(duration=duration, face=lambda t: not (min(gone) <= t < max(gone)),
                     probs=lambda t: rng.dirichlet(np.full(7, 0.5)))
    segs, t = [], 0.0
    while t < duration:
        a = t + rng.uniform(0.2, 3.0)
        b = min(a + rng.uniform(0.3, 4.0), duration)
        if a < duration:
            segs.append((a, b))
        t = b
    speaker = [str(rng.choice(["patient", "other", "unknown"])) for _ in segs]
    mine = [s for s, who in zip(segs, speaker) if who != "other"]
    voice = _stream([(a, b, rng.dirichlet(np.full(7, 0.5))) for a, b in mine], VOICE_COLS)
    utts = _utts([(a, b, rng.dirichlet(np.full(7, 0.3)), who) for (a, b), who in zip(segs, speaker)])
    opts = FusionOptions(smooth_windows=int(rng.integers(1, 4)))
    w = fuse(frames, voice, utts, segs, None, duration_s=duration, options=opts)
    assert len(w) == int(np.ceil(duration))
    sig, none = w[w.signal != "none"], w[w.signal == "none"]
    np.testing.assert_allclose(sig[["w_face", "w_voice", "w_text"]].sum(axis=1), 1.0)
    np.testing.assert_allclose(sig[FUSED_COLS].sum(axis=1), 1.0)
    assert ((sig[FUSED_COLS] >= 0) & (sig[FUSED_COLS] <= 1)).all().all()
    assert sig.fused_label.isin(EMOTIONS).all()
    assert none[FUSED_COLS].isna().all().all() and none.fused_label.isna().all() and none.valence.isna().all()
    assert (none[["w_face", "w_voice", "w_text"]] == 0).all().all()
    assert ((none.face_present == 0) & ~none.patient_speaking).all()  # none only when there is nothing to fuse
    assert (w.loc[~w.patient_speaking, "w_text"] == 0).all()
    # while the patient speaks the face's weight is discounted: w_voice / w_face = (κ_v · speech share) /
    # (κ_f · face_present · 0.3), and the speech share is at least speaking_min_share
    both = sig[(sig.w_face > 0) & (sig.w_voice > 0) & sig.patient_speaking]
    ratio = (both.w_voice * opts.reliability_face * both.face_present) / (both.w_face * opts.reliability_voice)
    assert (ratio >= opts.speaking_min_share / opts.face_weight_speaking - 1e-9).all()


def test_fusion_inputs_fuse_again_as_fuse_did():
    frames, voice = _frames(), _stream([(4.0, 7.0, SAD)], VOICE_COLS)
    utts = _utts([(4.0, 7.0, SAD, "patient")])
    w = fuse(frames, voice, utts, [(4.0, 7.0)], None, duration_s=10.0)
    inputs = FusionInputs(frames, voice, utts, [(4.0, 7.0)], None, 10.0)
    pd.testing.assert_frame_equal(inputs.fuse(), w)
    again = inputs.fuse(CERTAINTY_WEIGHTED)
    assert not np.allclose(again[FUSED_COLS].to_numpy(float), w[FUSED_COLS].to_numpy(float))


def test_defaults_are_the_measured_reliabilities():
    """FusionOptions' reliabilities are Cohen's κ of the committed models' cross-corpus confusion matrices
    (training.fusion_params.RELIABILITY_SOURCES): retraining a model without updating them fails here."""
    from training.fusion_params import reliabilities

    for stream, r in reliabilities().items():
        assert round(r["kappa"], 3) == getattr(OPT, f"reliability_{stream}"), stream


def test_stream_temperatures_are_the_fitted_ones_and_calibrate_across_corpora():
    """The face / text calibration in use is the one fitted on cross-corpus predictions, the voice one is
    its artefact's; it lowers each stream's cross-corpus ECE (each corpus or half held out in turn,
    calibration fitted on the others) to below 0.08 on average. (The face and the voice need a smoothing
    beside their temperature: one temperature cannot fit AffectNet-48 and ExpW at once; docs/fusion.md.)"""
    import json

    from multimodal_fer.temperature import (
        SMOOTHING_FACE,
        SMOOTHING_VOICE,
        TEMPERATURE_FACE,
        TEMPERATURE_TEXT,
        TEMPERATURE_VOICE,
    )
    from multimodal_fer.voice.model import VoiceModel
    from training.fusion_params import CALIBRATION_JSON

    cal = json.loads(CALIBRATION_JSON.read_text())
    assert pytest.approx(cal["face"]["temperature"], abs=5e-4) == TEMPERATURE_FACE
    assert pytest.approx(cal["face"]["smoothing"], abs=5e-4) == SMOOTHING_FACE
    assert FusionOptions().smoothing_face == SMOOTHING_FACE
    assert pytest.approx(cal["text"]["temperature"], abs=5e-4) == TEMPERATURE_TEXT
    assert pytest.approx(VoiceModel.load().temperature, abs=5e-4) == TEMPERATURE_VOICE
    assert VoiceModel.load().temperature == pytest.approx(cal["voice"]["temperature"], abs=5e-4)
    assert pytest.approx(VoiceModel.load().smoothing, abs=5e-4) == SMOOTHING_VOICE == FusionOptions().smoothing_voice
    assert VoiceModel.load().smoothing == pytest.approx(cal["voice"]["smoothing"], abs=5e-4)
    for stream in ("face", "voice", "text"):
        assert cal[stream]["ece_after_loo_mean"] < 0.6 * cal[stream]["ece_before_mean"], stream
    for stream in ("face", "voice", "text"):
        assert cal[stream]["ece_after_loo_mean"] < 0.08, stream


@pytest.mark.shared_data
def test_defaults_are_the_training_priors():
    from tests.conftest import needs_shared
    from training.fusion_params import training_priors

    needs_shared("faces", "fer2013", "labels.csv")
    needs_shared("speech", "ravdess", "labels.csv")
    needs_shared("speech", "nemo", "labels.csv")
    needs_shared("speech", "emovo", "labels.csv")
    needs_shared("text", "meld")
    for stream, p in training_priors().items():
        np.testing.assert_allclose(p, getattr(OPT, f"prior_{stream}"), atol=6e-5, err_msg=stream)


def test_smoothing_stays_within_runs_of_signal():
    def probs(t):
        return SAD if 4 <= t < 5 else HAPPY

    frames = _frames(face=lambda t: not (6 <= t < 7), probs=probs)
    raw = fuse(frames, _stream([], VOICE_COLS), _utts([]), [], None, duration_s=10.0, options=FusionOptions(smooth_windows=1))
    sm = fuse(frames, _stream([], VOICE_COLS), _utts([]), [], None, duration_s=10.0, options=FusionOptions(smooth_windows=3))
    assert raw.loc[4, "fused_label"] == "sad" and sm.loc[4, "p_fused_sad"] < raw.loc[4, "p_fused_sad"]
    assert sm.loc[3, "p_fused_sad"] > raw.loc[3, "p_fused_sad"]  # the neighbour picks some of it up
    np.testing.assert_allclose(sm.loc[sm.signal != "none", FUSED_COLS].sum(axis=1), 1.0)
    assert sm.loc[6, "signal"] == "none" and np.isnan(sm.loc[6, "p_fused_happy"])
    np.testing.assert_allclose(sm.loc[7, FUSED_COLS].astype(float), raw.loc[7, FUSED_COLS].astype(float))  # nothing leaks over the gap


def _on_prior(label: str, p: float, prior) -> np.ndarray:
    """A row with ``p`` on ``label`` and the rest spread like ``prior`` (as real model outputs are)."""
    row = np.array(prior, dtype=float)
    row[EMOTIONS.index(label)] = 0.0
    row *= (1 - p) / row.sum()
    row[EMOTIONS.index(label)] = p
    return row


def test_calibrated_streams_carry_their_raw_evidence_divided_by_their_temperature():
    """Each stream's prior is calibrated like its output: a calibrated row that equals the calibrated prior
    adds no evidence; the voice's and the text's evidence is their raw evidence / T, the face's (smoothed
    as well) is bounded: no face row moves a class by more than log((1 - s + s/K) / (s/K))."""
    from multimodal_fer.temperature import calibrate

    for stream in ("face", "voice", "text"):
        t, s = getattr(OPT, f"temperature_{stream}"), getattr(OPT, f"smoothing_{stream}", 0.0)
        prior = np.array(getattr(OPT, f"prior_{stream}"))
        np.testing.assert_allclose(OPT.output_prior(stream), calibrate(prior[None, :], temperature=t, smoothing=s)[0])
        flat = pool([(1.0, OPT.output_prior(stream), OPT.output_prior(stream))], OPT)
        np.testing.assert_allclose(flat, 1 / len(EMOTIONS), atol=1e-9)
        raw = _on_prior("sad", 0.6, prior)
        alone = pool([(1.0, calibrate(raw[None, :], temperature=t, smoothing=s)[0], OPT.output_prior(stream))], OPT)
        if s == 0.0:
            expected = np.exp((np.log(raw) - np.log(prior)) / t)
            np.testing.assert_allclose(alone, expected / expected.sum(), atol=1e-9)
    assert OPT.smoothing_face > 0
    k = len(EMOTIONS)
    bound = np.log((1 - OPT.smoothing_face + OPT.smoothing_face / k) / (OPT.smoothing_face / k))
    sure = calibrate(_peaked("sad", 0.999999)[None, :], temperature=OPT.temperature_face, smoothing=OPT.smoothing_face)[0]
    evidence = np.log(sure) - np.log(OPT.output_prior("face"))
    assert np.abs(evidence).max() <= bound + 1e-9
    raw_evidence = np.log(_peaked("sad", 0.999999)) - np.log(OPT.prior_face)
    assert np.abs(raw_evidence).max() > 2 * bound  # what the bound holds back
    # an uninformative voice leaves a face-only result unchanged, whatever its weight
    face = _peaked("angry", 0.6)
    flat_voice = OPT.output_prior("voice")
    with_voice = pool([(0.3, face, OPT.output_prior("face")), (0.7, flat_voice, OPT.output_prior("voice"))], OPT)
    face_alone = pool([(1.0, face, OPT.output_prior("face"))], OPT)
    np.testing.assert_allclose(np.log(with_voice) - np.log(with_voice).mean(), 0.3 * (np.log(face_alone) - np.log(face_alone).mean()), atol=1e-9)


def test_transfer_reliability_and_calibration_weaken_a_poorly_transferring_voice():
    """The issue's studio clip (face sad 0.55, voice disgusted 0.65 before calibration), outside and
    inside speech. With the voice calibrated (its artefact's temperature and smoothing) and weighted by
    cross-corpus κ, its pull towards *disgusted* is far weaker than with the in-domain weights and no
    calibration, and the clip reads *sad*, as the better-transferring face says. While the patient speaks
    (face ×0.3) the two are level: the voice's calibrated evidence for *disgusted* (0.30 against a prior of
    0.12) is as strong as the face's for *sad*, and neither may overturn the other (docs/fusion.md)."""
    from multimodal_fer.temperature import calibrate
    from multimodal_fer.voice.model import VoiceModel

    voice = VoiceModel.load()
    voice_raw = _on_prior("disgusted", 0.65, OPT.prior_voice)
    voice_p = calibrate(voice_raw[None, :], temperature=voice.temperature, smoothing=voice.smoothing)[0]
    frames = _frames(probs=lambda t: _on_prior("sad", 0.55, OPT.prior_face))
    speech = [(4.0, 7.0)]
    new = fuse(frames, _stream([(4.0, 7.0, voice_p)], VOICE_COLS), _utts([]), speech, None, duration_s=10.0,
               options=FusionOptions(smooth_windows=1))
    old = fuse(frames, _stream([(4.0, 7.0, voice_raw)], VOICE_COLS), _utts([]), speech, None, duration_s=10.0,
               options=FusionOptions(smooth_windows=1, reliability_face=0.613, reliability_voice=0.654,
                                     temperature_face=1.0, smoothing_face=0.0, temperature_voice=1.0,
                                     smoothing_voice=0.0, temperature_text=1.0))
    spk = new.patient_speaking
    assert spk.sum() == 3
    assert (new.loc[~spk, "fused_label"] == "sad").all()
    assert (old.loc[spk, "fused_label"] == "disgusted").all()  # what the issue saw
    p_cols = [f"p_fused_{e}" for e in EMOTIONS]
    assert EMOTIONS[int(np.argmax(new[p_cols].to_numpy().mean(axis=0)))] == "sad"  # the clip's label
    level = (new.loc[spk, "p_fused_disgusted"] - new.loc[spk, "p_fused_sad"]).abs()
    assert (level < 0.25 * (old.loc[spk, "p_fused_disgusted"] - old.loc[spk, "p_fused_sad"])).all()
    assert (new.loc[spk, "p_fused_disgusted"] < old.loc[spk, "p_fused_disgusted"] - 0.2).all()
    assert (new.loc[spk, "p_fused_sad"] > old.loc[spk, "p_fused_sad"]).all()
