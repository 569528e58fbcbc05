"""Issue 3: still images without MediaPipe landmarks — the face detector's eyes, the whole image
of a face-crop corpus — and the CNN training options (erasing, bfloat16)."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_fer.face import cnn
from multimodal_fer.face import crop as C
from multimodal_fer.face.landmarks import eyes_from_detector
from multimodal_fer.face.model import FaceModel
from training import face_cnn


def _mesh_eyes(obs) -> np.ndarray:
    w, h = obs.image_size
    xy = obs.points[:, :2] * np.array([w, h])
    return np.stack([xy[list(C.RIGHT_EYE)].mean(0), xy[list(C.LEFT_EYE)].mean(0)])


def test_detector_eyes_agree_with_the_mesh(hopper):
    rgb, obs = hopper
    eyes = eyes_from_detector(rgb)
    assert eyes is not None and eyes.shape == (2, 2) and eyes[0, 0] < eyes[1, 0]  # image-left first
    h, w = rgb.shape[:2]
    mesh = _mesh_eyes(obs)
    iod = np.linalg.norm(mesh[1] - mesh[0])
    assert np.linalg.norm(eyes * [w, h] - mesh, axis=1).max() < 0.2 * iod
    # a small (48 px) copy is upscaled and framed like landmarks_from_image: coordinates stay
    # normalised to the image as given
    import cv2

    small = cv2.resize(rgb, (48, 56), interpolation=cv2.INTER_AREA)
    e_small = eyes_from_detector(small)
    assert e_small is not None and np.abs(e_small - eyes).max() < 0.06
    assert eyes_from_detector(np.full((120, 120, 3), 128, np.uint8)) is None


def test_crop_from_eyes_is_the_aligned_crop(hopper):
    rgb, obs = hopper
    base = C.aligned_crop(rgb, obs.points, obs.image_size).astype(float)
    h, w = rgb.shape[:2]
    same = C.crop_from_eyes(rgb, _mesh_eyes(obs) / [w, h]).astype(float)
    assert np.abs(same - base).max() <= 1.0  # the same transform, up to rounding
    det = C.crop_from_eyes(rgb, eyes_from_detector(rgb)).astype(float)
    # the detector's keypoints sit a few pixels / degrees off the mesh's eye-corner centres:
    # the same face, slightly shifted (training augments by more than that)
    assert det.shape == (C.CROP_SIZE, C.CROP_SIZE) and np.corrcoef(det.ravel(), base.ravel())[0, 1] > 0.8
    other = C.aligned_crop(rgb, obs.points, obs.image_size, shift=(0.0, 16.0)).astype(float)
    assert np.abs(det - base).mean() < 0.6 * np.abs(other - base).mean()
    with pytest.raises(ValueError):
        C.crop_from_eyes(rgb, np.array([[0.5, 0.5], [0.5, 0.5]]))


def test_whole_image_crop_takes_the_centred_square():
    img = np.zeros((60, 100), np.uint8)
    img[:, 20:80] = 200  # the centred 60 x 60 square is bright, the sides dark
    out = C.whole_image_crop(img)
    assert out.shape == (C.CROP_SIZE, C.CROP_SIZE) and out.dtype == np.uint8
    assert out.min() == 200
    rgb = np.stack([img] * 3, axis=-1)
    np.testing.assert_array_equal(C.whole_image_crop(rgb), out)


def test_fallback_crop_order(hopper, monkeypatch):
    grey = np.full((48, 48, 3), 128, np.uint8)
    assert C.fallback_crop(grey) == (None, None)  # no face and not a face-crop corpus
    crop, src = C.fallback_crop(grey, face_crops=True)
    assert src == C.FROM_IMAGE and crop.shape == (C.CROP_SIZE, C.CROP_SIZE)
    rgb, _ = hopper
    crop, src = C.fallback_crop(rgb)  # not a face crop: the detector
    assert src == C.FROM_DETECTOR
    np.testing.assert_array_equal(crop, C.crop_from_eyes(rgb, eyes_from_detector(rgb)))
    crop, src = C.fallback_crop(rgb, face_crops=True)  # a face crop: the image itself
    assert src == C.FROM_IMAGE
    np.testing.assert_array_equal(crop, C.whole_image_crop(rgb))


def test_evaluate_scores_images_without_landmarks(tmp_path, hopper, monkeypatch):
    """``mfer evaluate face``: an image without landmarks is scored by the CNN on the detector
    crop; with ``face_crops`` a blank one by the whole image; otherwise it stays an error."""
    from PIL import Image

    from multimodal_fer.face import evaluate
    from multimodal_fer.face import landmarks as L

    model = FaceModel.load()
    rgb, _ = hopper
    Image.fromarray(rgb).save(tmp_path / "hopper.jpg")
    Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    (tmp_path / "labels.csv").write_text("path,label\nhopper.jpg,neutral\ngrey.png,happiness\n")
    rep = evaluate.run(tmp_path / "labels.csv", model=model, quiet=True)
    assert rep["crop_sources"] == {"landmarks": 1, "detector": 0, "image": 0}
    assert rep["scored_rate"] == 0.5 and rep["files"][1]["prediction"] is None
    rep = evaluate.run(tmp_path / "labels.csv", model=model, quiet=True, face_crops=True)
    assert rep["crop_sources"] == {"landmarks": 1, "detector": 0, "image": 1}
    assert rep["scored_rate"] == 1.0 and rep["files"][1]["source"] == "image"
    p = np.array(list(rep["files"][1]["proba"].values()))
    assert rep["files"][1]["prediction"] is not None and abs(p.sum() - 1) < 1e-3
    # the mesh fails on hopper: the detector's crop is scored by the CNN alone
    monkeypatch.setattr(L, "landmarks_from_image", lambda image: None)
    rep = evaluate.run(tmp_path / "labels.csv", model=model, quiet=True)
    assert rep["crop_sources"] == {"landmarks": 0, "detector": 1, "image": 0}
    assert rep["face_found_rate"] == 0.0 and rep["scored_rate"] == 0.5
    jpg = evaluate.load_image(tmp_path / "hopper.jpg")  # as saved (JPEG)
    want = model.cnn_proba(C.crop_from_eyes(jpg, eyes_from_detector(jpg)))[0]
    got = np.array(list(rep["files"][0]["proba"].values()))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_evaluate_proba_counts_fallback_rows():
    from training.face import evaluate_proba

    y = np.array([0, 1, 2, 3])
    proba = np.full((4, 7), np.nan)
    proba[0, 0] = proba[1, 1] = proba[2, 2] = 1.0  # row 3 not scored
    found = np.array([True, True, False, False])
    scored = np.array([True, True, True, False])
    r = evaluate_proba(np.nan_to_num(proba), y, scored, found)
    assert r["7class"]["accuracy"] == 0.75 and r["7class"]["face_found_rate"] == 0.5
    assert r["7class"]["scored_rate"] == 0.75 and r["7class_found_only"]["accuracy"] == 1.0
    strict = evaluate_proba(np.nan_to_num(proba), y, found)
    assert strict["7class"]["accuracy"] == 0.5


def test_augment_erases_rectangles_of_noise():
    import torch

    x = torch.zeros(64, 1, 48, 48)
    kw = {"rot_deg": 0.0, "scale": 0.0, "shift": 0.0}
    gen = torch.Generator().manual_seed(0)
    plain = face_cnn.augment(x, gen, erase_p=0.0, **kw)
    assert torch.allclose(plain, plain[:, :, :, :1].expand_as(plain))  # constant rows: no erasing
    erased = face_cnn.augment(x, torch.Generator().manual_seed(0), erase_p=1.0, erase_area=(0.05, 0.05), **kw)
    changed = (erased != erased[:, :, :1, :1]).flatten(1).float().mean(1)
    assert ((changed > 0.02) & (changed < 0.09)).all()  # ~5 % of the pixels, every crop
    some = face_cnn.augment(x, torch.Generator().manual_seed(0), erase_p=0.5, **kw)
    hit = ((some != some[:, :, :1, :1]).flatten(1).float().mean(1) > 0.005).float().mean()
    assert 0.25 < hit < 0.75


@pytest.mark.parametrize("bf16", [False] + ([True] if face_cnn.bf16_supported() else []))
def test_cnn_training_precisions(bf16):
    """float32 and (where the CPU has it) bfloat16 training both learn a trivial pattern; the
    returned network is float32, contiguous and predicts without autocast."""
    rng = np.random.default_rng(1)
    n = 96
    y = np.arange(n) % 2
    crops = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    for i in range(n):
        crops[i, (slice(0, 24) if y[i] == 0 else slice(24, 48))] += 150
    seen = []
    net, hist = face_cnn.train_cnn(crops[:64], y[:64], val_crops=crops[64:], val_y=y[64:], epochs=8, batch=16,
                                   lr=1e-2, widths=(4, 8, 8), bf16=bf16, log=lambda *a: None,
                                   checkpoint=lambda ep, _n, h: seen.append(ep))
    assert seen == list(range(1, 9)) and all(h["bf16"] == bf16 for h in hist)
    assert hist[-1]["val_accuracy"] >= 0.9
    assert next(net.parameters()).dtype.is_floating_point and next(net.parameters()).dtype.itemsize == 4
    assert (cnn.predict_proba(net, crops[64:]).argmax(1) == y[64:]).mean() >= 0.9


@pytest.mark.shared_data
def test_evaluate_face_crops_on_fer2013_publictest_sample(tmp_path):
    """Every third-hundredth FER2013 PublicTest image through ``mfer evaluate face --face-crops``:
    all scored, the landmark rate below 1 where the mesh misses faces, accuracy far above chance
    (the full split: 0.681, docs/face.md)."""
    import pandas as pd

    from multimodal_fer.face import evaluate
    from tests.conftest import needs_shared

    root = needs_shared("faces", "fer2013")
    table = pd.read_csv(root / "labels.csv")
    table = table[table["usage"] == "PublicTest"].iloc[::12]  # ~300 images, every class
    table[["path", "label"]].to_csv(tmp_path / "labels.csv", index=False)
    rep = evaluate.run(tmp_path / "labels.csv", root=root, quiet=True, face_crops=True)
    assert rep["n"] == len(table) and rep["scored_rate"] == 1.0
    assert 0.85 < rep["face_found_rate"] < 1.0 and rep["crop_sources"]["image"] > 0
    assert sum(rep["crop_sources"].values()) == rep["n"]
    assert rep["accuracy"] > 0.55 and rep["accuracy_5class"] > 0.6
    plain = evaluate.run(tmp_path / "labels.csv", root=root, quiet=True)  # not told they are face crops
    assert plain["crop_sources"]["image"] == 0 and plain["face_found_rate"] == rep["face_found_rate"]
    assert plain["scored_rate"] == pytest.approx(plain["face_found_rate"] + plain["crop_sources"]["detector"] / plain["n"], abs=1e-4)
    assert plain["scored_rate"] < 1.0  # the detector misses some of the faces the mesh missed
