"""Face stream, issue 3: aligned crop, CNN member, ensemble, UMAP map, per-frame post-processing,
``mfer evaluate face`` (fast; the shared-data tests skip without data)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from multimodal_fer.face import cnn
from multimodal_fer.face.crop import CROP_SIZE, EYE_DISTANCE, EYE_Y, aligned_crop, crop_transform
from multimodal_fer.face.embedding import project
from multimodal_fer.face.features import landmark_features
from multimodal_fer.face.model import FaceModel
from multimodal_fer.face.stream import FRAME_COLUMNS, frames_table
from multimodal_fer.fusion import FACE_COLS
from multimodal_fer.summary import expressivity
from tests.conftest import needs_shared
from training import face_cnn


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return FaceModel.load()


def _eyes(points, size):
    w, h = size
    xy = points[:, :2] * np.array([w, h])
    return xy[[33, 133]].mean(0), xy[[263, 362]].mean(0)


# ----------------------------------------------------------------------------- crop
def test_crop_puts_eyes_level_at_fixed_positions(hopper):
    rgb, obs = hopper
    m = crop_transform(obs.points, obs.image_size)
    right, left = _eyes(obs.points, obs.image_size)
    r_c, l_c = m[:, :2] @ right + m[:, 2], m[:, :2] @ left + m[:, 2]
    np.testing.assert_allclose(r_c, [CROP_SIZE / 2 - EYE_DISTANCE * CROP_SIZE / 2, EYE_Y * CROP_SIZE], atol=1e-6)
    np.testing.assert_allclose(l_c, [CROP_SIZE / 2 + EYE_DISTANCE * CROP_SIZE / 2, EYE_Y * CROP_SIZE], atol=1e-6)
    crop = aligned_crop(rgb, obs.points, obs.image_size)
    assert crop.shape == (CROP_SIZE, CROP_SIZE) and crop.dtype == np.uint8 and crop.std() > 10


def test_crop_undoes_rotation_and_scale_of_the_image(hopper):
    """Rotating / shrinking the image (and its landmarks) gives almost the same crop; the
    augmentation arguments do change it."""
    import cv2

    rgb, obs = hopper
    base = aligned_crop(rgb, obs.points, obs.image_size).astype(float)
    w, h = obs.image_size
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), 25.0, 0.7)
    moved = cv2.warpAffine(rgb, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    xy = obs.points[:, :2] * np.array([w, h])
    xy2 = xy @ rot[:, :2].T + rot[:, 2]
    pts2 = np.column_stack([xy2 / np.array([w, h]), obs.points[:, 2]])
    again = aligned_crop(moved, pts2, (w, h)).astype(float)
    assert np.abs(again - base).mean() < 8.0  # grey levels, 0-255
    tilted = aligned_crop(rgb, obs.points, obs.image_size, angle_deg=20.0).astype(float)
    assert np.abs(tilted - base).mean() > 2 * np.abs(again - base).mean()
    small = cv2.resize(rgb, (w // 4, h // 4), interpolation=cv2.INTER_AREA)  # normalised points stay valid
    assert np.abs(aligned_crop(small, obs.points).astype(float) - base).mean() < 8.0


# ----------------------------------------------------------------------------- CNN
def test_cnn_state_roundtrip_and_mirror_averaging():
    import torch

    torch.manual_seed(0)
    net = cnn.build((4, 8, 8)).eval()
    with torch.no_grad():
        net[-1].weight.mul_(200.0)  # random init is nearly uniform: sharpen the outputs
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    p = cnn.predict_proba(net, crops)
    assert p.shape == (5, 7) and np.allclose(p.sum(1), 1.0)
    again = cnn.from_state(face_cnn.to_state(net), (4, 8, 8))
    np.testing.assert_allclose(cnn.predict_proba(again, crops), p, atol=1e-6)
    # averaging with the mirror image makes the output invariant to mirroring ...
    np.testing.assert_allclose(cnn.predict_proba(net, crops[:, :, ::-1]), p, atol=1e-6)
    # ... which a single pass is not
    single = cnn.predict_proba(net, crops, mirror=False)
    assert np.abs(cnn.predict_proba(net, crops[:, :, ::-1], mirror=False) - single).max() > 1e-3
    assert cnn.predict_proba(net, crops[:0]).shape == (0, 7)


def test_cnn_learns_a_trivial_pattern():
    """Bright top half vs bright bottom half: learnt in a few epochs (chance 0.5; deterministic seed)."""
    rng = np.random.default_rng(0)
    n = 96
    y = np.arange(n) % 2
    crops = rng.integers(0, 60, (n, CROP_SIZE, CROP_SIZE)).astype(np.uint8)
    for i in range(n):
        half = slice(0, CROP_SIZE // 2) if y[i] == 0 else slice(CROP_SIZE // 2, CROP_SIZE)
        crops[i, half] += 150
    net, hist = face_cnn.train_cnn(crops[:64], y[:64], val_crops=crops[64:], val_y=y[64:], epochs=8,
                                   batch=16, lr=1e-2, widths=(4, 8, 8), log=lambda *a: None)
    assert len(hist) == 8 and hist[0]["val_accuracy"] <= 0.6 and hist[-1]["val_accuracy"] >= 0.9
    assert (cnn.predict_proba(net, crops[64:]).argmax(1) == y[64:]).mean() >= 0.9


# ----------------------------------------------------------------------------- ensemble
def test_ensemble_uses_crops_and_members(hopper, model):
    rgb, obs = hopper
    assert model.has_cnn
    f = landmark_features(obs.points, obs.image_size)[None]
    c = aligned_crop(rgb, obs.points, obs.image_size)[None]
    full = model.predict_proba(f, c)
    lmk = model.predict_proba(f)
    assert full.shape == (1, 7) and np.allclose(full.sum(1), 1.0) and (full >= 0).all()
    assert np.abs(full - lmk).max() > 1e-6  # the CNN member changes the output
    members = model.member_probabilities(f, c)
    assert set(members) == {"hgb", "mlp", "cnn"}
    for p in members.values():
        assert p.shape == (1, 7) and np.allclose(p.sum(1), 1.0)
    assert model.predict_proba(f[:0], c[:0]).shape == (0, 7)
    with pytest.raises(ValueError):
        model.predict_proba(np.repeat(f, 2, 0), c)  # 2 feature rows, 1 crop
    # batched == one at a time (the meta-model is row-wise)
    f2, c2 = np.repeat(f, 3, 0), np.stack([c[0], c[0][:, ::-1], c[0]])
    np.testing.assert_allclose(model.predict_proba(f2, c2)[0], full[0], atol=1e-6)


def test_frames_table_with_crops(hopper, model):
    rgb, obs = hopper
    f = landmark_features(obs.points, obs.image_size)
    c = aligned_crop(rgb, obs.points, obs.image_size)
    df = frames_table([(0.0, obs), (0.2, None)], [f, None], model, [c, None])
    assert list(df.columns) == FRAME_COLUMNS and df["face_found"].tolist() == [True, False]
    np.testing.assert_allclose(df.loc[0, FACE_COLS].to_numpy(float), model.predict_proba(f[None], c[None])[0])


# ----------------------------------------------------------------------------- UMAP map
def test_projection_interpolates_the_stored_map(model, hopper):
    emb = {"mean": np.zeros(3, np.float32), "scale": np.ones(3, np.float32),
           "components": np.eye(3, dtype=np.float32)[:2], "pca_mean": np.zeros(3, np.float32),
           "anchors": np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32),
           "coords": np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], np.float32), "k": 2}
    xy = project(emb, np.array([[0.0, 0.0, 5.0], [10.0, 10.0, -3.0], [5.0, 0.0, 0.0]]))
    np.testing.assert_allclose(xy[0], [-1, -1], atol=1e-5)  # on an anchor: its coordinates
    np.testing.assert_allclose(xy[1], [1, 1], atol=1e-5)
    np.testing.assert_allclose(xy[2], [0, -1], atol=1e-5)  # half-way between two anchors
    assert project(emb, np.zeros((0, 3))).shape == (0, 2)
    with pytest.raises(ValueError):
        project(emb, np.zeros((1, 4)))
    _, obs = hopper
    f = landmark_features(obs.points, obs.image_size)[None]
    shipped = model.project(np.repeat(f, 2, 0))
    assert shipped.shape == (2, 2) and np.isfinite(shipped).all()
    coords = model._artefact["embedding"]["coords"]
    assert (shipped >= coords.min(0) - 1e-6).all() and (shipped <= coords.max(0) + 1e-6).all()


@pytest.mark.slow
def test_fit_embedding_separates_labelled_clusters():
    from training.face_embedding import fit_embedding

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 100)
    x = rng.normal(size=(300, 25)) + y[:, None] * 0.8
    emb = fit_embedding(x, y, n_sample=300, n_neighbors=15)
    xy = project(emb, x)
    centres = np.array([xy[y == k].mean(0) for k in range(3)])
    spread = np.mean([xy[y == k].std(0).mean() for k in range(3)])
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 2 * spread


# ----------------------------------------------------------------------------- per-frame outputs
def test_expressivity_is_one_minus_p_neutral():
    from multimodal_fer.summary import summarize

    p = pd.Series([1.0, 0.25, 0.0])
    np.testing.assert_allclose(expressivity(p), [0.0, 0.75, 1.0])
    frames = pd.DataFrame({"face_found": [True, True, False], "p_face_neutral": [0.9, 0.5, np.nan]})
    windows = pd.DataFrame({"signal": ["face"], "fused_label": ["neutral"], "valence": [0.0], "arousal": [0.0],
                            "patient_speaking": [False], "window_start_s": [0.0], "window_end_s": [1.0],
                            "f0_mean_hz": [np.nan]})
    utterances = pd.DataFrame({"speaker": pd.Series(dtype=str), "start_s": pd.Series(dtype=float),
                               "end_s": pd.Series(dtype=float), "n_words": pd.Series(dtype=int)})
    row = summarize(windows, frames, utterances, [], duration_s=1.0)
    assert row["expressivity_mean"] == pytest.approx(0.3)  # the schema's mean over face frames only


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_face_csv(tmp_path, hopper, model):
    from PIL import Image

    from multimodal_fer.face import evaluate

    rgb, _ = hopper
    Image.fromarray(rgb).save(tmp_path / "hopper.jpg")
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    (tmp_path / "labels.csv").write_text("path,label\nhopper.jpg,neutral\ngrey.png,happiness\n"
                                         "hopper.jpg,contempt\n")
    out = tmp_path / "res" / "m.json"
    rep = evaluate.run(tmp_path / "labels.csv", out=out, model=model, quiet=True)
    assert rep["n"] == 2 and rep["skipped"] == 1 and rep["face_found_rate"] == 0.5
    assert rep["files"][1]["prediction"] is None  # no face: an error
    assert rep["accuracy"] in (0.0, 0.5) and rep["n_5class"] == 2
    saved = json.loads(out.read_text())
    for key in ("n", "accuracy", "macro_f1", "weighted_f1", "accuracy_5class", "face_found_rate", "per_class"):
        assert key in saved
    assert saved["per_class"]["happy"]["support"] == 1
    assert rep["n_calibration"] == 1  # the face not found is an error for accuracy, not a confidence to judge
    top = max(rep["files"][0]["proba"].values())
    assert rep["mean_confidence"] == pytest.approx(top, abs=1e-4)
    assert rep["ece"] == pytest.approx(abs(top - rep["accuracy"] * 2), abs=1e-4)  # one row: |confidence - hit|


def test_evaluate_face_sessions_plain_and_calibrated(tmp_path, hopper, model, capsys):
    """``--group-column``: off by default (calibrated = plain, and the printout says so); with a strength the
    session of 9 images is calibrated, the 2-image one is not, and a session of one face keeps its label."""
    from PIL import Image

    from multimodal_fer import cli

    rgb, _ = hopper
    Image.fromarray(rgb).save(tmp_path / "hopper.jpg")
    rows = ["hopper.jpg,neutral,a"] * 9 + ["hopper.jpg,happy,b"] * 2
    (tmp_path / "labels.csv").write_text("path,label,subject\n" + "\n".join(rows) + "\n")
    for extra, strength in (([], 0.0), (["--calibration-strength", "1"], 1.0)):
        out = tmp_path / f"m{strength}.json"
        argv = ["evaluate", "face", str(tmp_path / "labels.csv"), "--group-column", "subject", "--out", str(out)]
        assert cli.main([*argv, *extra]) == 0
        cal = json.loads(out.read_text())["calibration"]
        assert (cal["strength"], cal["n_groups"], cal["n_groups_calibrated"]) == (strength, 2, 1)
        assert cal["calibrated"] == cal["plain"]  # nine copies of one face: the session's own label is kept
        assert ("off, the shipped default" in capsys.readouterr().out) is (strength == 0.0)


@pytest.mark.shared_data
def test_evaluate_face_on_ckplus_held_out_subjects(tmp_path, model):
    from multimodal_fer.face import evaluate
    from multimodal_fer.paths import FACE_ARTEFACTS

    root = needs_shared("faces", "ckplus48")
    split = json.loads((FACE_ARTEFACTS / "metrics.json").read_text())["splits"]["ckplus48"]
    table = pd.read_csv(root / "labels.csv")
    table = table[table["subject"].isin(split["test_subjects"])]
    table = table.iloc[:: max(1, len(table) // 50)]
    table[["path", "label"]].to_csv(tmp_path / "labels.csv", index=False)
    rep = evaluate.run(tmp_path / "labels.csv", root=root, model=model, quiet=True)
    assert rep["n"] + rep["skipped"] == len(table) and rep["n"] >= 35
    assert rep["face_found_rate"] > 0.9
    assert rep["accuracy"] > 0.6  # chance 1/7; CK+ posed peaks


def test_run_face_on_a_video_uses_the_crop_ensemble(tmp_path, hopper, model):
    from multimodal_fer.face.stream import run_face
    from tests.conftest import write_video

    rgb, _ = hopper
    video = write_video(tmp_path / "face.mp4", seconds=1.0, fps=5, tone_hz=None,
                        image=np.ascontiguousarray(rgb[40:552, :512]))
    calls = []

    class Spy:  # the real model, recording what run_face passes to it
        has_cnn = True

        def predict_proba(self, x, crops=None):
            calls.append((np.asarray(x).shape, None if crops is None else np.asarray(crops).shape))
            return model.predict_proba(x, crops)

    df = run_face(video, fps=5.0, model=Spy())
    assert calls == [((5, len(model.feature_names)), (5, CROP_SIZE, CROP_SIZE))]  # one batched call, with crops
    assert list(df.columns) == FRAME_COLUMNS and len(df) == 5 and df["face_found"].all()
    p = df[FACE_COLS].to_numpy(float)
    assert np.allclose(p.sum(1), 1.0)
    assert np.diff(df["t_s"].to_numpy()).min() > 0
    e = expressivity(df.loc[df["face_found"], "p_face_neutral"]).to_numpy(float)
    assert e.shape == (5,) and np.isfinite(e).all() and (e >= 0).all() and (e <= 1).all()
