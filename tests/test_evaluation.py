import math

import pytest

from multimodal_fer.evaluation import calibration_error, classification_metrics


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


def test_breakdown_by_a_column_of_the_labels_csv():
    from multimodal_fer.evaluation import MIN_GROUP_ROWS, breakdown

    classes = ["a", "b"]
    rows = [{"path": f"f{i}.png", "sex": "F" if i < 40 else ("M" if i < 50 else "")} for i in range(60)]
    files = [{"path": f"f{i}.png", "label": "a" if i % 2 else "b",
              "prediction": ("a" if i % 2 else "b") if i < 30 else None} for i in range(60)]
    table = breakdown(files, rows, "sex", classes)
    assert set(table) == {"F", "M", "(blank)"}
    assert sum(r["n"] for r in table.values()) == 60  # every file once
    f, m = table["F"], table["M"]
    assert f["n"] == 40 and f["accuracy"] == 0.75 and not f["small"]  # 30 right, 10 unscored
    assert m["n"] == 10 and m["accuracy"] == 0.0 and m["small"] and MIN_GROUP_ROWS > 10
    lo, hi = f["accuracy_95"]
    assert 0.0 <= lo < 0.75 < hi <= 1.0
    assert m["accuracy_95"][0] == 0.0 and m["accuracy_95"][1] < 0.35  # 0 of 10: the interval still spans 0-0.3
    assert f["lowest_recall_class"] in classes and 0.0 <= f["lowest_recall"] <= 1.0


def test_wilson_interval_narrows_with_more_rows():
    from multimodal_fer.evaluation import wilson_interval

    lo, hi = wilson_interval(40, 100)
    lo2, hi2 = wilson_interval(400, 1000)
    assert lo < lo2 < 0.4 < hi2 < hi
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_mfer_evaluate_by_column(tmp_path, hopper, capsys):
    """``mfer evaluate face LABELS.csv --by sex``: the table per value, in the JSON too; a missing column or
    a stream without per-file rows is one line and exit 2."""
    import json

    import numpy as np
    from PIL import Image

    from multimodal_fer.cli import main

    rgb, _ = hopper
    Image.fromarray(rgb).save(tmp_path / "hopper.png")
    Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    (tmp_path / "labels.csv").write_text("path,label,sex\nhopper.png,neutral,F\ngrey.png,happiness,M\n")
    out = tmp_path / "m.json"
    assert main(["evaluate", "face", str(tmp_path / "labels.csv"), "--by", "sex", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "by sex (2 groups" in printed
    report = json.loads(out.read_text())
    table = report["breakdown"]["sex"]
    assert table["F"]["n"] == 1 and table["M"]["n"] == 1 and table["M"]["accuracy"] == 0.0  # no face: an error
    assert table["F"]["accuracy"] == (1.0 if report["files"][0]["prediction"] == "neutral" else 0.0)
    assert main(["evaluate", "face", str(tmp_path / "labels.csv"), "--by", "age_band"]) == 2
    assert "age_band" in capsys.readouterr().err
    assert main(["evaluate", "text", str(tmp_path / "labels.csv"), "--by", "sex"]) == 2
    assert "--by applies to" in capsys.readouterr().err


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


def test_a_labels_path_must_be_a_regular_file_and_a_pipe_never_blocks(tmp_path):
    import os

    from multimodal_fer.evaluation import resolve

    labels = tmp_path / "labels.csv"
    (tmp_path / "ok.jpg").write_bytes(b"x")
    (tmp_path / "link.jpg").symlink_to(tmp_path / "ok.jpg")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe.jpg")
    assert resolve("ok.jpg", None, labels) == tmp_path / "ok.jpg" and resolve("link.jpg", None, labels).is_file()
    for name, message in (("nope.jpg", "file not found"), ("folder", "not a regular file"),
                          ("pipe.jpg", "not a regular file"), ("/dev/zero", "not a regular file")):
        with pytest.raises(ValueError, match=message) as err:
            resolve(name, None, labels)
        assert name in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("data, message", [(b"path,label\n", "no rows"),
                                           ("path,label\nS\u00e9.jpg,happy\n".encode("latin-1"), "not UTF-8 text"),
                                           (b"path,label\n" + b"a" * 200_000 + b",happy\n", "cannot be parsed"),
                                           (b"path,label,label\na.jpg,sad,happy\n", "appear more than once"),
                                           (b"path,label\na.jpg,sad\nb.jpg\n", "line 3: no cell for")])
def test_a_bad_labels_csv_is_one_line_naming_the_file(tmp_path, data, message):
    from multimodal_fer.evaluation import read_labels_csv

    (tmp_path / "l.csv").write_bytes(data)
    with pytest.raises(ValueError, match=message) as err:
        read_labels_csv(tmp_path / "l.csv", ["path", "label"])
    assert "l.csv" in str(err.value) and "\n" not in str(err.value)


def test_metrics_json_is_strict_json(tmp_path):
    import json

    import numpy as np

    from multimodal_fer.evaluation import write_json

    write_json(tmp_path / "m.json", {"a": float("nan"), "b": [np.float32(0.5), float("inf")], "c": {"d": np.int64(3)}})
    loaded = json.loads((tmp_path / "m.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert loaded == {"a": None, "b": [0.5, None], "c": {"d": 3.0}}


def test_progress_speaks_only_for_long_evaluations():
    import io

    from multimodal_fer.evaluation import Progress

    clock = iter([0.0, 1.0, 12.0, 13.0, 30.0, 31.0])
    out = io.StringIO()
    progress = Progress(1000, every_s=10.0, stream=out, clock=lambda: next(clock))
    for done in (100, 400, 450, 900, 1000):  # at 1, 12, 13, 30 and 31 s
        progress(done)
    lines = out.getvalue().splitlines()
    assert lines == ["  scored 400/1000 files (33/s, about 0 min left)", "  scored 900/1000 files (30/s, about 0 min left)"]


@pytest.mark.parametrize("kind", ["face", "voice", "av", "asr", "text"])
def test_every_row_is_checked_before_a_model_loads(tmp_path, monkeypatch, capsys, kind):
    from multimodal_fer import cli, pipeline
    from multimodal_fer.face import evaluate as face_evaluate
    from multimodal_fer.text import asr, emotion
    from multimodal_fer.voice import model as voice_model

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the rows were checked")

    monkeypatch.setattr(face_evaluate, "_committed_model", no_model)
    monkeypatch.setattr(voice_model.VoiceModel, "load", no_model)
    monkeypatch.setattr(pipeline, "load_models", no_model)
    monkeypatch.setattr(asr, "load_asr_model", no_model)
    monkeypatch.setattr(emotion.TextEmotionModel, "load", no_model)
    (tmp_path / "a.wav").write_bytes(b"x")
    column = "transcript" if kind == "asr" else "label"
    last = "missing.wav,hello" if kind == "asr" else "a.wav,bored"  # line 4: a path that is not there, a label
    (tmp_path / "l.csv").write_text(f"path,{column}\na.wav,happy\nnot-scored.wav,contempt\n{last}\n")
    if kind == "asr":
        (tmp_path / "l.csv").write_text(f"path,{column}\na.wav,hello\n{last}\n")
    if kind == "text":
        (tmp_path / "l.csv").write_text("text,label\nso happy,happy\nmeh,contempt\nhello,bored\n")
    assert cli.main(["evaluate", kind, str(tmp_path / "l.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "l.csv" in err, err
    assert ("line 3: missing.wav: file not found" if kind == "asr" else "line 4: unknown emotion label 'bored'") in err


def test_check_rows_skips_the_paths_of_rows_that_are_not_scored(tmp_path):
    from multimodal_fer.evaluation import check_rows

    (tmp_path / "a.jpg").write_bytes(b"x")
    rows = [{"path": "a.jpg", "label": "Happy"}, {"path": "gone.jpg", "label": "contempt"}]
    assert check_rows(rows, root=None, labels_csv=tmp_path / "l.csv") == rows
    with pytest.raises(ValueError, match="line 4: gone.jpg: file not found"):
        check_rows([*rows, {"path": "gone.jpg", "label": "sad"}], root=None, labels_csv=tmp_path / "l.csv")


def test_an_out_that_is_a_folder_is_refused_before_scoring(tmp_path, capsys):
    from multimodal_fer import cli

    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "l.csv").write_text("path,label\na.jpg,happy\n")
    assert cli.main(["evaluate", "face", str(tmp_path / "l.csv"), "--out", str(tmp_path)]) == 2
    assert "is a folder: give a file name" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["voice", "--calibration-strength", "1"], "--calibration-strength applies to `mfer evaluate face` only"),
        (["face", "--calibration-strength", "1"], "--calibration-strength needs --group-column"),
        (["face", "--calibration-strength", "0"], "--calibration-strength needs --group-column"),
        (["face", "--group-column", "subject", "--calibration-strength", "1.5"], "strength must lie in [0, 1]"),
    ],
)
def test_calibration_strength_is_checked_before_any_model_loads(tmp_path, capsys, monkeypatch, argv, message):
    from multimodal_fer import cli
    from multimodal_fer.face import evaluate

    monkeypatch.setattr(evaluate, "_committed_model", lambda: pytest.fail("the model was loaded"))
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "l.csv").write_text("path,label,subject\na.jpg,happy,s1\n")
    assert cli.main(["evaluate", argv[0], str(tmp_path / "l.csv"), *argv[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err


def test_calibration_error_leaves_out_unscored_and_unlabelled_rows():
    import numpy as np

    from multimodal_fer.labels import EMOTIONS

    rng = np.random.default_rng(0)
    n = 4000
    conf = rng.uniform(0.3, 0.95, n)
    y = rng.integers(0, 7, n)
    right = rng.random(n) < conf  # right as often as it is sure: calibrated
    pred = np.where(right, y, (y + 1) % 7)
    proba = np.tile(((1 - conf) / 6)[:, None], (1, 7))
    proba[np.arange(n), pred] = conf
    labels = [EMOTIONS[i] for i in y]
    good = calibration_error(labels, proba)
    assert good["n_calibration"] == n and good["ece"] < 0.03
    assert good["mean_confidence"] == pytest.approx(conf.mean())
    sharp = proba ** 4 / (proba ** 4).sum(axis=1, keepdims=True)  # the same labels, far too sure
    assert calibration_error(labels, sharp)["ece"] > good["ece"] + 0.1
    proba[:10] = np.nan  # not scored
    labels[10:20] = [None] * 10  # no canonical label
    assert calibration_error(labels, proba)["n_calibration"] == n - 20
    empty = calibration_error([None], np.full((1, 7), np.nan))
    assert empty["n_calibration"] == 0 and math.isnan(empty["ece"])
