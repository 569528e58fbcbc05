"""training.face_device: the pack round-trips, and the train command runs end to end on a tiny synthetic pack."""

import json

import numpy as np
import pytest

from multimodal_fer.labels import EMOTIONS

fd = pytest.importorskip("training.face_device")


def _rows(n_per: int = 60) -> dict:
    """Six corpora of synthetic 48x48 crops: a bright blob whose position depends on the class."""
    rng = np.random.default_rng(0)
    names = ("fer2013", "ckplus48", "muxspace", "sfew", "expw", "affectnet48")
    crops, y, corpus, role = [], [], [], []
    for c in range(len(names)):
        for i in range(n_per):
            k = i % len(EMOTIONS)
            img = rng.integers(0, 60, (48, 48)).astype(np.uint8)
            img[6 * k : 6 * k + 8, 10:38] = 220
            crops.append(img), y.append(k), corpus.append(c), role.append((fd.TRAIN, fd.TEST, fd.HOLDOUT)[i % 3])
    return {"crops": np.stack(crops), "y": np.array(y, np.int8), "corpus": np.array(corpus, np.int8),
            "group": np.arange(len(y), dtype=np.int32), "role": np.array(role, np.int8),
            "corpus_names": np.array(names)}


def test_the_pack_round_trips_within_the_budget(tmp_path):
    rows = _rows(10)
    info = fd.write_pack(rows, tmp_path / "p.npz", budget_mb=1.0, log=lambda _: None)
    assert info["n"] == len(rows["y"]) and info["quality"] in fd.QUALITIES
    back = fd.load_pack(tmp_path / "p.npz")
    assert back["crops"].shape == rows["crops"].shape and back["crops"].dtype == np.uint8
    assert np.abs(back["crops"].astype(int) - rows["crops"]).mean() < 12  # lossy, but the same faces
    assert (back["y"] == rows["y"]).all() and list(back["corpus_names"]) == list(rows["corpus_names"])
    with pytest.raises(SystemExit, match="do not fit"):
        fd.write_pack(rows, tmp_path / "q.npz", budget_mb=1e-4, log=lambda _: None)


def test_scores_count_a_confusion():
    y = np.array([0, 0, 1, 1])
    proba = np.eye(len(EMOTIONS))[[0, 1, 1, 1]]
    s = fd.scores(y, proba)
    assert s["accuracy"] == 0.75 and s["recall"]["neutral"] == 0.5 and s["recall"]["sad"] is None
    assert np.array(s["confusion"]).sum() == 4


def test_the_train_command_writes_metrics_and_weights_on_the_cpu(tmp_path, capsys):
    fd.write_pack(_rows(), tmp_path / "p.npz", log=lambda _: None)
    assert fd.main(["train", "--pack", str(tmp_path / "p.npz"), "--out", str(tmp_path / "out"), "--smoke", "--cpu"]) == 0
    report = json.loads((tmp_path / "out" / "face_device.json").read_text())
    assert set(report["loco"]) == set(fd.LOCO) and report["smoke"] and report["steps"] == 3
    for held in report["loco"].values():
        assert held["n"] > 0 and 0 <= held["accuracy"] <= 1 and len(held["confusion"]) == len(EMOTIONS)
    assert "fer2013" in report["final"] and 0 <= report["loco_mean_accuracy_new_corpora"] <= 1
    for key in ("loco_tta", "loco_adabn"):  # the same faces, scored with the test-time rotations / AdaBN too
        assert set(report[key]) == set(fd.LOCO) and 0 <= report[f"{key}_mean_accuracy_new_corpora"] <= 1
        for held, other in report[key].items():
            assert other["n"] == report["loco"][held]["n"] and 0 <= other["accuracy"] <= 1
    from multimodal_fer.face.cnn import from_state, predict_proba

    with np.load(tmp_path / "out" / "face_cnn_device.npz") as z:  # the run-time loads the weights as they are
        net = from_state({k: z[k] for k in z.files}, widths=fd.RECIPE["widths"])
    p = predict_proba(net, _rows(2)["crops"])
    assert np.allclose(p.sum(1), 1.0) and (p >= 0).all()


def test_the_train_command_runs_from_a_bare_copy_of_the_checkout(tmp_path):
    """The GPU machine has torch, numpy, Pillow, OpenCV and pyarrow but not this project installed."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(fd.__file__).resolve().parents[1]
    bare = tmp_path / "checkout"
    for folder in ("multimodal_fer", "schemas", "training"):
        shutil.copytree(repo / folder, bare / folder, ignore=shutil.ignore_patterns("artefacts", "__pycache__"))
    fd.write_pack(_rows(30), bare / "p.npz", log=lambda _: None)
    no_install = (  # the editable install's import finder removed: imports come from the copy alone
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
        "import multimodal_fer, training.face_device as fd, multimodal_fer_schemas\n"
        "print(multimodal_fer.__file__, multimodal_fer_schemas.__file__)\n"
        "sys.exit(fd.main(['train', '--pack', 'p.npz', '--out', 'out', '--smoke', '--cpu']))\n"
    )
    out = subprocess.run([sys.executable, "-c", no_install], cwd=bare, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == f"{bare / 'multimodal_fer' / '__init__.py'} {bare / 'schemas' / '__init__.py'}"
    assert (bare / "out" / "face_device.json").exists() and (bare / "out" / "face_cnn_device.npz").exists()


def test_predict_averages_the_test_time_rotations_only_when_asked():
    import torch

    from multimodal_fer.face.cnn import build

    torch.manual_seed(0)
    net = build((4, 8, 8)).eval()
    crops = _rows(3)["crops"]
    cpu = torch.device("cpu")
    plain, turned = fd.predict(net, crops, cpu), fd.predict(net, crops, cpu, rotations_deg=fd.TTA_ROTATIONS_DEG)
    assert np.allclose(plain.sum(1), 1.0, atol=1e-5) and np.allclose(turned.sum(1), 1.0, atol=1e-5)
    from multimodal_fer.face.cnn import predict_proba

    assert np.allclose(plain, predict_proba(net, crops), atol=1e-5)  # as the run-time predicts
    assert not np.allclose(plain, turned, atol=1e-6)
