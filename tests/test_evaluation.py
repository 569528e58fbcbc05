import math

import pytest

from multimodal_fer.evaluation import classification_metrics


def test_metrics_on_a_known_confusion():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", None, "a"]
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert m["n"] == 6 and m["accuracy"] == round(3 / 6, 4)
    a = m["per_class"]["a"]
    assert a["precision"] == round(2 / 3, 4) and a["recall"] == round(2 / 3, 4)
    assert a["specificity"] == round(2 / 3, 4)  # negatives b, b, c: one predicted a
    assert m["per_class"]["b"]["recall"] == 0.5 and m["per_class"]["c"]["f1"] == 0.0
    assert m["confusion"]["matrix"][1][3] == 1  # the missing prediction
    assert math.isclose(m["weighted_f1"], round((3 * 2 / 3 + 2 * 0.5 + 0) / 6, 4), abs_tol=1e-4)


def test_macro_f1_ignores_absent_classes_and_unknown_labels_fail():
    m = classification_metrics(["a", "b"], ["a", "b"], ["a", "b", "c"])
    assert m["macro_f1"] == 1.0 and m["per_class"]["c"]["support"] == 0
    with pytest.raises(ValueError):
        classification_metrics(["z"], ["a"], ["a"])


def _av_clip(label: str, face_label: str, voice_label: str):
    """Stream outputs of a synthetic 4 s clip: face throughout, the patient speaks 1-3 s."""
    import numpy as np
    import pandas as pd

    from multimodal_fer.fusion import FACE_COLS, TEXT_COLS, VOICE_COLS, FusionInputs
    from multimodal_fer.labels import EMOTIONS

    def peaked(e):
        row = np.full(7, 0.05)
        row[EMOTIONS.index(e)] = 0.7
        return row

    t = np.arange(0, 4, 0.2)
    frames = pd.DataFrame({"t_s": t, "face_found": True, "mouth_open": 0.1, **dict(zip(FACE_COLS, peaked(face_label)))})
    voice = pd.DataFrame([{"start_s": 1.0, "end_s": 3.0, **dict(zip(VOICE_COLS, peaked(voice_label)))}])
    utts = pd.DataFrame([{"start_s": 1.0, "end_s": 3.0, "speaker": "patient", **dict(zip(TEXT_COLS, peaked("neutral")))}])
    prosody = pd.DataFrame({"window_start_s": [0.0, 1.0, 2.0, 3.0], "f0_mean_hz": 120.0, "rms_mean_db": -30.0})
    inputs = FusionInputs(frames, voice, utts, [(1.0, 3.0)], prosody, 4.0)
    return {"path": f"{label}.flv", "label": label, "windows": inputs.fuse(), "inputs": inputs}


def test_av_ablation_scores_every_variant_and_the_cache_round_trips(tmp_path):
    import pandas as pd

    from multimodal_fer.evaluate_av import VARIANTS, ablation, load_inputs, save_inputs
    from multimodal_fer.fusion import FusionOptions

    clips = [_av_clip("angry", "angry", "angry"), _av_clip("sad", "neutral", "sad")]
    save_inputs(clips[0]["inputs"], tmp_path / "c0")
    back = load_inputs(tmp_path / "c0", FusionOptions())
    pd.testing.assert_frame_equal(back.fuse(), clips[0]["windows"], check_dtype=False)
    report = ablation(clips)
    assert set(report["variants"]) == set(VARIANTS) and report["n_clips"] == 2
    face = report["variants"]["face"]
    assert face["all_windows"]["n_windows"] == 8 and face["speaking_windows"]["n_windows"] == 4
    assert face["all_windows"]["predictions"] == ["angry", "neutral"] and face["all_windows"]["clip_accuracy"] == 0.5
    assert report["variants"]["voice"]["speaking_windows"]["window_accuracy"] == 1.0
    assert report["variants"]["text"]["speaking_windows"]["window_accuracy"] == 0.0
    assert report["variants"]["fused"]["speaking_windows"]["predictions"][0] == "angry"
