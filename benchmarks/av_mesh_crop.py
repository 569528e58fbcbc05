"""A 30 fps mouth track at a cost the pipeline can hold? MediaPipe's mesh model run on every frame's face crop.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/av_mesh_crop.py [--out benchmarks/results/av_mesh_crop.json]

docs/fusion.md found that audio-visual synchrony separates the on-camera speaker's own speech from
dubbed speech only with a mouth track at ≈ 30 fps (landmarks at 30 fps: 3 % of dubbed cases at or above
the weakest own case; at the pipeline's 5 fps: 28 %), and that the full face chain (detection, tracking,
decoding to RGB: ≈ 7 ms a frame) at 30 fps costs ≈ 40 s per 10-minute session, beyond the budget. The
idea left untried there: keep the face chain at 5 fps and run only MediaPipe's **mesh model**
(``face_landmark.tflite``, shipped inside the mediapipe wheel) on every frame in between, on the face
crop placed by the 5 fps landmarks (linearly interpolated), as MediaPipe's own tracker would place it.

Same cases and scoring as ``benchmarks/av_attribution.py`` (the 6 real CREMA-D clips of actor 1001: own
audio 6, actor 1002's dubbed 6, the actor's other clips dubbed 30; best correlation over ±0.1 s lags
of first differences of mouth opening and log speech envelope; the significance-test rule per voice
segment). The mouth opening is the inner-lip gap over the eye-corner distance, in the crop's own
frame. Nothing was tuned on the clips. A measurement, not a rule.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.av_attribution import (  # noqa: E402
    ALPHAS,
    CREMAD,
    KINDS,
    RESULTS,
    SESSION_FRAMES,
    _audio,
    _cases,
    _separation,
    best_correlation,
    dense_rule_scores,
    every_frame,
    rule_labels,
)
from multimodal_fer.face.features import INNER_LIP_MID as INNER_LIP  # noqa: E402 - mesh indices, inner lips

COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/av_mesh_crop.py"
EYE_CORNERS = (33, 263)  # mesh indices: outer eye corners


def mesh_mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap over the eye-corner distance of one mesh output, shape (468, 3) in crop pixels."""
    gap = np.linalg.norm(landmarks[INNER_LIP[1], :2] - landmarks[INNER_LIP[0], :2])
    eyes = np.linalg.norm(landmarks[EYE_CORNERS[1], :2] - landmarks[EYE_CORNERS[0], :2])
    return float(gap / max(eyes, 1e-6))


def interpolate_points(t: np.ndarray, t_known: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Landmarks ``points`` (k, 478, 3) known at ``t_known`` (k,), linearly interpolated to ``t`` (n,)."""
    flat = points.reshape(len(points), -1)
    out = np.stack([np.interp(t, t_known, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape(len(t), *points.shape[1:])


class MeshMouth:
    """MediaPipe's mesh model on a face crop -> mouth opening (one thread)."""

    def __init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        from benchmarks.face_transfer_probes import mesh_model_path

        self._it = Interpreter(model_path=str(mesh_model_path()), num_threads=1)
        self._it.allocate_tensors()
        self._input = self._it.get_input_details()[0]["index"]
        self._output = next(o["index"] for o in self._it.get_output_details() if o["shape"][-1] == 1404)

    def __call__(self, crop: np.ndarray) -> float:
        self._it.set_tensor(self._input, crop.astype(np.float32)[None] / 255.0)
        self._it.invoke()
        return mesh_mouth_opening(self._it.get_tensor(self._output).reshape(468, 3))


def mesh_track(path: Path, info) -> dict:
    """Mouth opening at every decoded frame from the mesh model on the crop placed by 5 fps landmarks,
    and the cost per frame (ms) of each step: RGB conversion, crop, mesh model.

    Two passes over the clip: the pipeline's landmarks at its sampled frames, then every frame (as a
    streaming implementation would, nothing kept but the mouth opening).
    """
    from benchmarks.face_transfer_probes import mesh_roi
    from multimodal_fer.face.landmarks import FaceTracker

    ts, at, pts = [], [], []
    with FaceTracker() as tracker:
        for t, frame, sampled in every_frame(path, info):
            ts.append(t)
            if sampled and (obs := tracker.process(frame.to_ndarray(format="rgb24"))) is not None:
                at.append(len(ts) - 1)
                pts.append(obs.points)
    t_all = np.array(ts)
    points = interpolate_points(t_all, t_all[at], np.array(pts))
    mouth = MeshMouth()
    m = np.empty(len(t_all))
    spent = np.zeros(3)  # s: RGB conversion, crop, mesh model
    for i, (_, frame, _) in enumerate(every_frame(path, info)):
        t0 = time.perf_counter()
        image = frame.to_ndarray(format="rgb24")
        t1 = time.perf_counter()
        crop = mesh_roi(image, points[i])
        t2 = time.perf_counter()
        m[i] = mouth(crop)
        spent += (t1 - t0, t2 - t1, time.perf_counter() - t2)
    ms = dict(zip(("rgb", "crop", "mesh"), (1000 * spent / len(t_all)).tolist()))
    return {"t": t_all, "mouth": m, "ms": ms}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "av_mesh_crop.json")
    args = ap.parse_args(argv)
    flvs = sorted((CREMAD / "video_flv").glob("*.flv"))
    if not flvs:
        print(f"no clips in {CREMAD}: nothing to measure")
        return 0
    from multimodal_fer import media
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.face.stream import face_stream

    model = FaceModel.load()
    info = {f.stem: media.probe(f) for f in flvs}
    audio = {f.stem: _audio(f) for f in flvs}
    audio.update({p.stem: _audio(p) for p in sorted((CREMAD / "audio_mp3").glob("*.mp3"))})
    cases = _cases([f.stem for f in flvs], audio)
    frames = {fps: {f.stem: face_stream(f, fps=fps, model=model, info=info[f.stem]).frames for f in flvs}
              for fps in (5.0, 30.0)}
    labels5 = rule_labels(frames[5.0], cases)
    tracks: dict = {"mesh_on_crop_30fps": {}, "landmarks_30fps": {}}
    cost = []
    for f in flvs:
        clip = mesh_track(f, info[f.stem])
        tracks["mesh_on_crop_30fps"][f.stem] = (clip["t"], clip["mouth"])
        cost.append(clip["ms"])
        g = frames[30.0][f.stem][frames[30.0][f.stem]["face_found"]]
        tracks["landmarks_30fps"][f.stem] = (g["t_s"].to_numpy(), g["mouth_open"].to_numpy(dtype=np.float64))
    ms = {k: float(np.mean([c[k] for c in cost])) for k in cost[0]}
    report: dict = {"clips": [f.stem for f in flvs], "command": COMMAND, "ms_per_frame": ms,
                    "s_per_10min_at_30fps": SESSION_FRAMES * sum(ms.values()) / 1000,
                    "synchrony": {}, "rule": {}}
    for track, by_clip in tracks.items():
        s = {k: [best_correlation(*by_clip[n], y, diff=True) for n, kk, y in cases if kk == k] for k in KINDS}
        report["synchrony"][track] = row = _separation(s)
        print(f"{track:<20} own {min(row['own']):.2f}..{max(row['own']):.2f}  dubbed p90 {row['dubbed_p90']:.2f}"
              f"  dubbed >= weakest own {row['dubbed_at_least_weakest_own']:.2f}")
        for alpha in ALPHAS:
            report["rule"][f"{track}_alpha{alpha:g}"] = r = dense_rule_scores(by_clip, cases, labels5, alpha=alpha)
            print(f"  rule alpha {alpha:g}: alone {r['sync_alone']}\n      combined {r['combined']}")
    print(f"ms per frame {ms}; s per 10 min at 30 fps {report['s_per_10min_at_30fps']:.1f}")
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
