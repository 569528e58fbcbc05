"""Face stream: landmarks, features, model (fast; the shared-data test skips without data)."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from multimodal_fer.face import (
    FEATURE_NAMES,
    FaceModel,
    FaceTracker,
    head_pose,
    landmark_features,
    landmarks_from_image,
    mouth_opening,
)
from multimodal_fer.face import features as F
from multimodal_fer.labels import EMOTIONS, index_of
from multimodal_fer.paths import FACE_ARTEFACTS, SHARED_DATA

HOPPER_SIZE = (512, 600)  # (w, h) of matplotlib's grace_hopper.jpg


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return FaceModel.load()


def _rot_z(deg: float) -> np.ndarray:
    t = np.radians(deg)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])


# ----------------------------------------------------------------------------- features
def test_features_invariant_to_similarity_transform(hopper_obs):
    pts = hopper_obs.pixel_points.astype(np.float64)
    base = landmark_features(pts)
    assert base.shape == (len(FEATURE_NAMES),) and base.dtype == np.float32
    assert np.isfinite(base).all()
    centre = pts.mean(axis=0)
    for deg, scale, shift in [(30.0, 2.5, (40.0, -70.0)), (-50.0, 0.4, (-5.0, 300.0))]:
        moved = scale * ((pts - centre) @ _rot_z(deg).T) + centre + np.array([*shift, 0.0])
        np.testing.assert_allclose(landmark_features(moved), base, atol=1e-3, rtol=1e-3)
        yaw0, pitch0, roll0 = head_pose(pts)
        yaw1, pitch1, roll1 = head_pose(moved)
        assert roll1 - roll0 == pytest.approx(deg, abs=0.5)
        assert (yaw1, pitch1) == pytest.approx((yaw0, pitch0), abs=0.5)
    # normalised points + image size give the same features as pixel points
    np.testing.assert_allclose(landmark_features(hopper_obs.points, hopper_obs.image_size), base,
                               atol=1e-3, rtol=1e-3)
    # ...while a non-similarity (vertical stretch) does change them
    stretched = pts * np.array([1.0, 1.3, 1.0])
    assert np.abs(landmark_features(stretched) - base).max() > 0.05


def test_mouth_opening_grows_when_lower_lip_moves_down(hopper_obs):
    pts = hopper_obs.pixel_points.astype(np.float64)
    iod = np.linalg.norm(pts[[33, 133]].mean(0) - pts[[263, 362]].mean(0))
    lower = sorted(set(F.LOWER_LIP_INNER[1:-1] + F.LOWER_LIP_OUTER[1:-1]))
    values = []
    for drop in (0.0, 0.1, 0.2, 0.4):  # inter-ocular units
        moved = pts.copy()
        moved[lower, 1] += drop * iod
        values.append(mouth_opening(moved))
    assert all(v >= 0.0 for v in values)
    assert all(b > a for a, b in zip(values, values[1:]))
    assert values[-1] - values[0] == pytest.approx(0.4, abs=0.08)


# ----------------------------------------------------------------------------- landmarks
def test_real_face_through_still_and_tracker(hopper_rgb, hopper_obs, model):
    assert hopper_obs.points.shape == (478, 3) and hopper_obs.points.dtype == np.float32
    assert hopper_obs.image_size == HOPPER_SIZE and hopper_obs.n_faces == 1
    assert hopper_obs.points[:, :2].min() >= 0.0 and hopper_obs.points[:, :2].max() <= 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        hopper_obs.n_faces = 2  # type: ignore[misc]
    with FaceTracker() as tracker:
        tracked = [tracker.process(hopper_rgb) for _ in range(2)]
    for obs in tracked:
        assert obs is not None and obs.points.shape == (478, 3)
        assert np.abs(obs.points[:, :2] - hopper_obs.points[:, :2]).mean() < 0.02
    yaw, pitch, roll = head_pose(hopper_obs.points, hopper_obs.image_size)
    assert abs(yaw) < 25 and abs(roll) < 25 and abs(pitch) < 30
    proba = model.predict_proba(landmark_features(hopper_obs.points, hopper_obs.image_size)[None])
    assert proba.shape == (1, len(EMOTIONS))
    assert proba.sum() == pytest.approx(1.0, abs=1e-9) and (proba >= 0).all()


def test_small_crop_is_upscaled_and_mapped_back(hopper_rgb, hopper_obs):
    """A 48 x 48 crop of the face (FER2013-sized) still gives landmarks, in crop coordinates."""
    import cv2

    w, h = hopper_obs.image_size
    xy = hopper_obs.points[:, :2] * np.array([w, h])
    x0, y0 = xy.min(0)
    x1, y1 = xy.max(0)
    side = int(max(x1 - x0, y1 - y0) * 1.1)
    cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
    left, top = cx - side // 2, cy - side // 2
    crop = hopper_rgb[top:top + side, left:left + side]
    small = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA)
    obs = landmarks_from_image(small)
    assert obs is not None and obs.image_size == (48, 48)
    expected = (xy - np.array([left, top])) / side  # full-image landmarks, in crop units
    assert np.abs(obs.points[:, :2] - expected).mean() < 0.03


@pytest.mark.parametrize("kind", ["grey", "noise"])
def test_no_face_gives_none(kind):
    rng = np.random.default_rng(0)
    image = (np.full((240, 320, 3), 128, np.uint8) if kind == "grey"
             else rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    assert landmarks_from_image(image) is None
    assert landmarks_from_image(image[:48, :48, 0]) is None
    with FaceTracker() as tracker:
        assert tracker.process(image) is None


def _fake_result(faces: list[np.ndarray]):
    return SimpleNamespace(multi_face_landmarks=[
        SimpleNamespace(landmark=[SimpleNamespace(x=float(x), y=float(y), z=float(z)) for x, y, z in f])
        for f in faces] or None)


def _fake_face(cx: float, cy: float, size: float) -> np.ndarray:
    grid = np.linspace(-0.5, 0.5, 478)
    return np.stack([cx + size * grid, cy + size * grid[::-1], np.zeros(478)], 1).astype(np.float32)


def test_tracker_picks_largest_then_nearest():
    frames = [
        [_fake_face(0.2, 0.5, 0.1), _fake_face(0.7, 0.5, 0.3)],  # start: largest (right)
        [_fake_face(0.25, 0.5, 0.4), _fake_face(0.68, 0.5, 0.2)],  # nearest wins, not largest
        [],  # face lost
        [_fake_face(0.25, 0.5, 0.4), _fake_face(0.68, 0.5, 0.2)],  # after loss: largest again
    ]
    with FaceTracker() as tracker:
        tracker._mesh.close()
        queue = list(frames)
        tracker._mesh = SimpleNamespace(process=lambda _rgb: _fake_result(queue.pop(0)),
                                        close=lambda: None)
        blank = np.zeros((100, 100, 3), np.uint8)
        chosen = [tracker.process(blank) for _ in frames]
    centres = [None if o is None else round(float(o.points[:, 0].mean()), 2) for o in chosen]
    assert centres == [0.7, 0.68, None, 0.25]
    assert chosen[0].n_faces == 2 and chosen[0].image_size == (100, 100)


# ----------------------------------------------------------------------------- model
def test_model_shapes_and_version(model):
    assert model.version.startswith("face-lmk-") and "+" in model.version
    assert tuple(model.feature_names) == FEATURE_NAMES
    empty = model.predict_proba(np.zeros((0, len(FEATURE_NAMES)), np.float32))
    assert empty.shape == (0, len(EMOTIONS))
    rows = model.predict_proba(np.zeros((3, len(FEATURE_NAMES)), np.float32))
    assert rows.shape == (3, 7) and np.allclose(rows.sum(1), 1.0)
    with pytest.raises(ValueError):
        model.predict_proba(np.zeros((2, len(FEATURE_NAMES) - 1)))
    assert (FACE_ARTEFACTS / "face_model.joblib").stat().st_size < 10_000_000


def test_calibrated_rows_are_the_raw_rows_through_the_cross_corpus_calibration(model):
    from multimodal_fer.temperature import calibrate

    x = np.random.default_rng(0).normal(size=(5, len(FEATURE_NAMES))).astype(np.float32)
    raw = model.predict_proba(x, calibrated=False)
    shipped = model.predict_proba(x)
    np.testing.assert_allclose(raw.sum(1), 1.0)
    np.testing.assert_allclose(shipped, calibrate(raw, temperature=model.temperature, smoothing=model.smoothing))
    assert (shipped.argmax(1) == raw.argmax(1)).all() and not np.allclose(shipped, raw)
    np.testing.assert_allclose(model.combine(model.member_probabilities(x)), raw)  # landmark-only stack
    crops = np.random.default_rng(1).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    members = model.member_probabilities(x, crops)
    np.testing.assert_allclose(model.combine(members), model.predict_proba(x, crops, calibrated=False))
    assert not np.allclose(model.combine(members), raw)  # with the CNN the full meta-model decides


def test_cnn_member_is_the_mean_of_its_seeds_and_one_cnn_artefacts_still_load(model):
    import torch

    from multimodal_fer.face import cnn
    from training.face_cnn import to_state

    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(cnn.build((4, 8, 8), len(EMOTIONS)).eval())
    crops = np.random.default_rng(0).integers(0, 255, (6, 48, 48), dtype=np.uint8)
    singles = [cnn.predict_proba(net, crops) for net in nets]
    art = {k: v for k, v in model._artefact.items() if k != "cnn"}
    two = FaceModel({**art, "format": 3, "cnn": {"widths": [4, 8, 8], "states": [to_state(n) for n in nets]}}, "0" * 64)
    np.testing.assert_allclose(two.cnn_proba(crops), (singles[0] + singles[1]) / 2, atol=1e-6)
    assert not np.allclose(singles[0], singles[1], atol=1e-3)  # the seeds differ, so the mean is not either one
    one = FaceModel({**art, "format": 2, "cnn": {"widths": [4, 8, 8], "state": to_state(nets[0])}}, "0" * 64)
    np.testing.assert_allclose(one.cnn_proba(crops), singles[0], atol=1e-6)
    x = np.random.default_rng(1).normal(size=(6, len(FEATURE_NAMES)))
    assert np.allclose(two.predict_proba(x, crops).sum(1), 1.0)
    with pytest.raises(ValueError, match="format"):
        FaceModel({**art, "format": 1}, "0" * 64)


@pytest.mark.shared_data
def test_ckplus_held_out_subjects_well_above_chance(model):
    import pandas as pd
    from PIL import Image

    root = SHARED_DATA / "faces" / "ckplus48"
    if not (root / "labels.csv").exists():
        pytest.skip(f"shared data not found at {root}")
    split = json.loads((FACE_ARTEFACTS / "metrics.json").read_text())["splits"]["ckplus48"]
    table = pd.read_csv(root / "labels.csv")
    table = table[table["subject"].isin(split["test_subjects"]) & (table["label"] != "contempt")]
    table = table.iloc[:: max(1, len(table) // 60)]  # ~60 images, deterministic
    correct = []
    for rel, label in zip(table["path"], table["label"]):
        with Image.open(root / rel) as img:
            obs = landmarks_from_image(np.asarray(img.convert("RGB")))
        pred = -1 if obs is None else int(model.predict_proba(landmark_features(obs.points)[None]).argmax())
        correct.append(pred == index_of(label))
    assert len(correct) >= 40
    assert np.mean(correct) > 0.5  # chance: 1/7
