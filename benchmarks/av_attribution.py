"""Speaker attribution on real talking faces: the on-camera person's own speech vs someone else's dubbed over.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/av_attribution.py [--out benchmarks/results/av_attribution.json]

Cases, from the 6 real CREMA-D audio-visual clips of actor 1001 (../shared/data/av/cremad):

* ``own``: each clip with its own audio (the on-camera person speaks) -> should be ``patient``;
* ``dubbed_other_speaker``: each clip with actor 1002's recording of the same emotion dubbed over
  (another person speaks while this face is on camera, the same sentence: the hardest case);
* ``dubbed_same_speaker``: each clip with the audio of each of the actor's 5 other clips.

Scored: (1) the pipeline's rule (:func:`multimodal_fer.speakers.attribute_segments`, lip motion in
speech vs in silence, at the pipeline's 5 frames per second) per VAD segment: recall of ``patient``
on ``own`` and precision against the dubbed cases; (2) the audio-visual synchrony a better rule would
use: the best Pearson correlation over lags of ±0.1 s between the mouth opening and the log speech
envelope (40 ms RMS) at the sampled frames, as levels and as first differences, at 5, 15 and 30 fps,
with the separation between own and dubbed (the share of dubbed cases scoring at least the weakest
own case); (3) a dense mouth signal the pipeline could afford (``dense_luma``): the luma (Y plane) of
every decoded frame, cropped at the outer-lip box of the 5 fps landmarks (interpolated between them),
turned into three mouth proxies (vertical optical flow of the lips, the dark gap of the vertical
intensity profile, the mouth region's darkness, and flow+gap combined), scored like (2), with their
cost in ms per frame and a synchrony rule per voice segment whose thresholds come from a significance
test (not fitted to the clips), alone and combined with the pipeline's rule. The parameters of (3) were
fixed before scoring; the padding's sensitivity is reported. A measurement, not a rule: docs/fusion.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import multimodal_fer_flows  # noqa: E402,F401 - offline environment defaults
from multimodal_fer import media  # noqa: E402
from multimodal_fer.paths import SHARED_DATA  # noqa: E402

CREMAD = SHARED_DATA / "av" / "cremad"
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
SR = 16_000  # Hz
LAGS_S = np.arange(-0.10, 0.101, 0.02)  # audio-visual lags tried, seconds
ENVELOPE_WIN_S = 0.04  # RMS window of the speech envelope, seconds
FPS = (5.0, 15.0, 30.0)  # face sampling rates compared (the pipeline samples 5)


def _audio(path: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "a.wav"
        media.extract_audio(path, wav)
        return media.load_wav(wav)


def _envelope(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    half = int(ENVELOPE_WIN_S * SR / 2)
    idx = np.clip((t * SR).astype(int), 0, len(y) - 1)
    return np.log(np.array([np.sqrt(np.mean(np.square(y[max(0, i - half) : i + half + 1]))) for i in idx]) + 1e-4)


def best_correlation(t: np.ndarray, m: np.ndarray, y: np.ndarray, *, diff: bool) -> float:
    """Best Pearson correlation over :data:`LAGS_S` of a mouth signal ``m`` at times ``t`` (s) and the
    log envelope of ``y`` (as levels, or as first differences); -1 when it is undefined."""
    best = -1.0
    for lag in LAGS_S:
        e = _envelope(y, t + lag)
        a, b = (np.diff(m), np.diff(e)) if diff else (m, e)
        if a.size > 2 and a.std() > 1e-9 and b.std() > 1e-9:
            best = max(best, float(np.corrcoef(a, b)[0, 1]))
    return best


def synchrony(frames, y: np.ndarray, *, diff: bool) -> float:
    """Best correlation over :data:`LAGS_S` of mouth opening and log envelope at the face frames."""
    f = frames[frames["face_found"]]
    return best_correlation(f["t_s"].to_numpy(), f["mouth_open"].to_numpy(dtype=np.float64), y, diff=diff)


# --- a dense mouth signal from the luma of every decoded frame (the pipeline decodes them all anyway)
# Fixed before the clips were scored (not tuned on them); the sensitivity to the padding is reported.
DENSE_GRID = (32, 24)  # (width, height) px the mouth crop is resampled to (INTER_AREA)
MOUTH_PAD = 0.25  # padding of the outer-lip landmarks' box, fraction of its width / height on each side
PAD_SENSITIVITY = (0.1, 0.25, 0.5)  # paddings the combined proxy is also scored with
FLOW_ARGS = (0.5, 2, 7, 3, 5, 1.1, 0)  # Farneback: pyr_scale, levels, winsize px, iterations, poly_n, poly_sigma, flags
SEGMENT_MARGIN_S = 0.2  # s of face track taken each side of a voice segment (onset / offset movements)
ALPHAS = (0.05, 0.01)  # one-sided significance levels of the synchrony test (Bonferroni over the lags)
DETECTABLE_R = 0.5  # correlation the test must detect with POWER to decide "other" (Cohen's "large")
POWER = 0.8  # below it a segment is "unknown"
BARTLETT_LAGS = 10  # autocorrelation lags (frames) in the effective number of frames
SESSION_FRAMES = 18_000  # frames in 10 minutes at 30 fps: the cost per session
KINDS = ("own", "dubbed_other_speaker", "dubbed_same_speaker")  # the benchmark's cases, see the module docstring


def luma_plane(frame) -> np.ndarray:
    """The Y plane of a decoded planar YUV frame as a (H, W) uint8 view (no conversion), else FFmpeg's grey."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"):
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    return frame.to_ndarray(format="gray")


def every_frame(path: Path, info):
    """Yield ``(t, frame, sampled)`` for every decoded video frame: its time in s from the recording's
    origin (>= 0), the PyAV frame, and whether the pipeline samples it (``media.iter_frames``' rule at
    :data:`~multimodal_fer.config.SAMPLE_FPS`)."""
    import av

    from multimodal_fer.config import SAMPLE_FPS

    next_t, last_t = 0.0, -1.0
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            if frame.time is None:
                continue
            t = float(frame.time) - info.origin_s
            sampled = t + 1e-6 >= next_t and t > last_t
            if sampled:
                last_t = t
                next_t = (np.floor(t * SAMPLE_FPS + 1e-6) + 1) / SAMPLE_FPS
            yield max(t, 0.0), frame, sampled


def dense_pass(path: Path, info) -> dict:
    """Every frame's luma, and the outer-lip box from landmarks at the pipeline's 5 fps sampled frames.

    Returns ``t`` (n,) s, ``y`` list of (H, W) uint8 and ``box`` (n, 4) normalised x0, y0, x1, y1,
    linearly interpolated between the sampled frames with a face.
    """
    from multimodal_fer.face.features import LOWER_LIP_OUTER, UPPER_LIP_OUTER
    from multimodal_fer.face.landmarks import FaceTracker

    lips = sorted(set(UPPER_LIP_OUTER + LOWER_LIP_OUTER))
    ts, ys, at, boxes = [], [], [], []
    with FaceTracker() as tracker:
        for t, frame, sampled in every_frame(path, info):
            ts.append(t)
            ys.append(luma_plane(frame).copy())
            if sampled:
                obs = tracker.process(frame.to_ndarray(format="rgb24"))
                if obs is not None:
                    p = obs.points[lips, :2]
                    at.append(len(ts) - 1)
                    boxes.append([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])
    t_all = np.array(ts)
    b = np.array(boxes)
    box = np.stack([np.interp(t_all, t_all[at], b[:, j]) for j in range(4)], axis=1)
    return {"t": t_all, "y": ys, "box": box}


def luma_cost_ms(path: Path, *, repeats: int = 3) -> dict:
    """Extra ms per decoded frame of reading its luma: the Y plane (a view, copied) or FFmpeg's grey at
    half size (``to_ndarray``, a scaler per frame), over decoding alone; the fastest of ``repeats`` passes."""
    import time

    import av

    readers = {
        "decode_only": None,
        "luma_plane": lambda f: luma_plane(f).copy(),
        "luma_gray_half_size": lambda f: f.to_ndarray(format="gray", width=f.width // 4 * 2, height=f.height // 4 * 2),
    }
    best = {}
    for name, read in readers.items():
        best[name] = np.inf
        for _ in range(repeats):
            with av.open(str(path)) as container:
                n, t0 = 0, time.perf_counter()
                for frame in container.decode(container.streams.video[0]):
                    if read is not None:
                        read(frame)
                    n += 1
                best[name] = min(best[name], 1000 * (time.perf_counter() - t0) / max(n, 1))
    return {k: float(v - best["decode_only"]) if k != "decode_only" else float(v) for k, v in best.items()}


def mouth_crops(clip: dict, *, pad: float) -> np.ndarray:
    """(n, DENSE_GRID[1], DENSE_GRID[0]) uint8 mouth crops: the interpolated box padded by ``pad``."""
    import cv2

    out = []
    for y, (x0, y0, x1, y1) in zip(clip["y"], clip["box"]):
        h, w = y.shape
        dx, dy = pad * (x1 - x0), pad * (y1 - y0)
        c0, c1 = int(max(0.0, (x0 - dx) * w)), int(min(w, np.ceil((x1 + dx) * w)))
        r0, r1 = int(max(0.0, (y0 - dy) * h)), int(min(h, np.ceil((y1 + dy) * h)))
        out.append(cv2.resize(y[r0:r1, c0:c1], DENSE_GRID, interpolation=cv2.INTER_AREA))
    return np.stack(out)


def mouth_proxies(crops: np.ndarray) -> tuple[dict, dict]:
    """Per-frame mouth-opening proxies from the crops, and their cost in ms per frame.

    * ``flow``: vertical optical flow of the lower half minus the upper half (central half of the
      columns), integrated over frames: the opening's velocity, summed;
    * ``gap``: the dark gap of the vertical intensity profile (central third of the columns): the
      area below the profile's median, relative to it;
    * ``dark``: the central region's darkness relative to the crop's mean luma;
    * ``flow+gap``: the sum of the z-scored first differences of ``flow`` and ``gap``, integrated.
    """
    import time

    import cv2

    n, h, w = crops.shape
    t0 = time.perf_counter()
    v = [0.0]
    for i in range(1, n):
        fy = cv2.calcOpticalFlowFarneback(crops[i - 1], crops[i], None, *FLOW_ARGS)[..., 1]
        v.append(float(fy[h // 2 :, w // 4 : 3 * w // 4].mean() - fy[: h // 2, w // 4 : 3 * w // 4].mean()))
    t1 = time.perf_counter()
    c = crops.astype(np.float32)
    profile = c[:, :, w // 3 : 2 * w // 3].mean(axis=2)
    median = np.median(profile, axis=1, keepdims=True)
    gap = np.clip(median - profile, 0.0, None).sum(axis=1) / median[:, 0]
    dark = -c[:, h // 4 : 3 * h // 4, w // 3 : 2 * w // 3].mean(axis=(1, 2)) / c.mean(axis=(1, 2))
    t2 = time.perf_counter()

    def z(x: np.ndarray) -> np.ndarray:
        d = np.diff(x)
        return (d - d.mean()) / (d.std() + 1e-9)

    flow = np.cumsum(v)
    combined = np.r_[0.0, np.cumsum(z(flow) + z(gap))]
    return {"flow": flow, "gap": gap, "dark": dark, "flow+gap": combined}, {
        "flow": 1000 * (t1 - t0) / n,
        "gap+dark": 1000 * (t2 - t1) / n,
    }


def _n_eff(a: np.ndarray, b: np.ndarray) -> float:
    """Bartlett's effective number of independent pairs of two autocorrelated series."""
    n = a.size
    s = 0.0
    for k in range(1, min(BARTLETT_LAGS, n // 4) + 1):
        s += float(np.corrcoef(a[:-k], a[k:])[0, 1] * np.corrcoef(b[:-k], b[k:])[0, 1])
    return float(np.clip(n / max(1.0 + 2.0 * s, 1e-3), 2.0, n))


def sync_decision(t: np.ndarray, m: np.ndarray, y: np.ndarray, segment: tuple[float, float], *, alpha: float) -> str:
    """``patient`` / ``other`` / ``unknown`` for one voice segment from the synchrony of first differences.

    The best correlation ``r`` over the :data:`LAGS_S` lags is tested against independence: critical
    value ``tanh(z_{1-alpha/L} / sqrt(n_eff - 3))`` (Fisher, Bonferroni over the L lags, ``n_eff``
    Bartlett's). ``r`` above it -> ``patient``. Below it -> ``other`` only when the segment is long
    enough for the test to detect a true correlation of :data:`DETECTABLE_R` with :data:`POWER`,
    else ``unknown``. Nothing here is fitted to the clips.
    """
    from statistics import NormalDist

    sel = (t >= segment[0] - SEGMENT_MARGIN_S) & (t < segment[1] + SEGMENT_MARGIN_S)
    ts, ms = t[sel], m[sel]
    if ts.size < 8:
        return "unknown"
    r = best_correlation(ts, ms, y, diff=True)
    n_eff = _n_eff(np.diff(ms), np.diff(_envelope(y, ts)))
    z_a = NormalDist().inv_cdf(1 - alpha / len(LAGS_S))
    if n_eff > 3 and r >= np.tanh(z_a / np.sqrt(n_eff - 3)):
        return "patient"
    needed = ((z_a + NormalDist().inv_cdf(POWER)) / np.arctanh(DETECTABLE_R)) ** 2 + 3
    return "other" if n_eff >= needed else "unknown"


def _precision_recall(counts: dict) -> dict:
    own, dub = counts["own"], [counts[k] for k in ("dubbed_other_speaker", "dubbed_same_speaker")]
    tp, fp = own["patient"], sum(d["patient"] for d in dub)
    return {"patient_recall": tp / max(1, sum(own.values())), "patient_precision_vs_dubbed": tp / max(1, tp + fp)}


def dense_rule_scores(tracks: dict, cases, rule5: list[list[str]], *, alpha: float) -> dict:
    """Counts per case kind of :func:`sync_decision` alone and combined with the pipeline's rule (its
    ``other`` / ``unknown`` kept, its ``patient`` replaced by the synchrony decision when decided)."""
    from multimodal_fer.voice.vad import speech_segments

    out: dict = {"sync_alone": {}, "combined": {}}
    for kind in KINDS:
        alone, combined = [], []
        for (n, k, y), labels in zip(cases, rule5):
            if k != kind:
                continue
            t, m = tracks[n]
            for seg, old in zip(speech_segments(y), labels):
                d = sync_decision(t, m, y, seg, alpha=alpha)
                alone.append(d)
                combined.append(d if old == "patient" and d != "unknown" else old)
        out["sync_alone"][kind] = {s: alone.count(s) for s in ("patient", "other", "unknown")}
        out["combined"][kind] = {s: combined.count(s) for s in ("patient", "other", "unknown")}
    for key in ("sync_alone", "combined"):
        out[key].update(_precision_recall(out[key]))
    return out


def _separation(scores: dict) -> dict:
    own = np.array(scores["own"])
    dub = np.array(scores["dubbed_other_speaker"] + scores["dubbed_same_speaker"])
    return {
        "own": own.round(3).tolist(),
        "dubbed_p90": float(np.percentile(dub, 90)),
        "dubbed_max": float(dub.max()),
        "dubbed_at_least_weakest_own": float((dub >= own.min()).mean()),
    }


def _cases(names: list[str], audio: dict) -> list[tuple[str, str, np.ndarray]]:
    cases = [(n, "own", audio[n]) for n in names]
    cases += [(n, "dubbed_other_speaker", audio[n.replace("1001", "1002")]) for n in names]
    cases += [(n, "dubbed_same_speaker", audio[o]) for n in names for o in names if o != n]
    return cases


def rule_labels(frames5: dict, cases) -> list[list[str]]:
    """The pipeline rule's speaker per voice segment, per case (5 fps face frames)."""
    from multimodal_fer.speakers import attribute_segments
    from multimodal_fer.voice.vad import speech_segments

    return [[a.speaker for a in attribute_segments(frames5[n], speech_segments(y))] for n, _, y in cases]


def rule_scores(labels: list[list[str]], cases) -> dict:
    out: dict = {}
    for kind in KINDS:
        flat = [s for case, lab in zip(cases, labels) if case[1] == kind for s in lab]
        out[kind] = {s: flat.count(s) for s in ("patient", "other", "unknown")}
    own, dub = out["own"], [out[k] for k in ("dubbed_other_speaker", "dubbed_same_speaker")]
    tp, fp = own["patient"], sum(d["patient"] for d in dub)
    out["patient_recall"] = tp / max(1, sum(own.values()))
    out["patient_precision_vs_dubbed"] = tp / max(1, tp + fp)
    out["patient_precision_vs_dubbed_other_speaker"] = tp / max(1, tp + dub[0]["patient"])
    return out


def dense_report(flvs: list[Path], frames30: dict, cases, labels5: list[list[str]]) -> dict:
    """The dense luma proxies: separation, cost, and the synchrony rule per voice segment."""
    import time

    clips = {f.stem: dense_pass(f, media.probe(f)) for f in flvs}
    out: dict = {
        "grid_px": list(DENSE_GRID),
        "mouth_pad": MOUTH_PAD,
        "segment_margin_s": SEGMENT_MARGIN_S,
        "synchrony": {},
        "pad_sensitivity_flow+gap": {},
        "ms_per_frame": {},
        "rule": {},
    }
    proxies, cost = {}, []
    for n, clip in clips.items():
        t0 = time.perf_counter()
        crops = mouth_crops(clip, pad=MOUTH_PAD)
        crop_ms = 1000 * (time.perf_counter() - t0) / len(crops)
        proxies[n], ms = mouth_proxies(crops)
        cost.append({**luma_cost_ms(next(f for f in flvs if f.stem == n)), "crop_resize": crop_ms, **ms})
    out["ms_per_frame"] = {k: float(np.mean([c[k] for c in cost])) for k in cost[0]}
    cheapest = out["ms_per_frame"]["luma_plane"] + out["ms_per_frame"]["crop_resize"]
    out["s_per_10min_at_30fps"] = {
        "gap_or_dark": SESSION_FRAMES * (cheapest + out["ms_per_frame"]["gap+dark"]) / 1000,
        "flow+gap": SESSION_FRAMES * (cheapest + out["ms_per_frame"]["flow"] + out["ms_per_frame"]["gap+dark"]) / 1000,
    }
    print("\ndense luma proxies (every decoded frame, mouth box from the 5 fps landmarks), first differences:")
    for name in ("flow", "gap", "dark", "flow+gap"):
        s = {
            k: [best_correlation(clips[n]["t"], proxies[n][name], y, diff=True) for n, kk, y in cases if kk == k]
            for k in KINDS
        }
        out["synchrony"][name] = row = _separation(s)
        print(
            f"  {name:<9} own {min(row['own']):.2f}..{max(row['own']):.2f}  dubbed p90 {row['dubbed_p90']:.2f}"
            f"  dubbed >= weakest own {row['dubbed_at_least_weakest_own']:.2f}"
        )
    for pad in PAD_SENSITIVITY:
        prox = {n: mouth_proxies(mouth_crops(c, pad=pad))[0]["flow+gap"] for n, c in clips.items()}
        s = {
            k: [best_correlation(clips[n]["t"], prox[n], y, diff=True) for n, kk, y in cases if kk == k] for k in KINDS
        }
        out["pad_sensitivity_flow+gap"][f"{pad:g}"] = _separation(s)["dubbed_at_least_weakest_own"]
    tracks = {"landmarks_30fps": {}, "luma_flow+gap": {}}
    for n in clips:
        f = frames30[n][frames30[n]["face_found"]]
        tracks["landmarks_30fps"][n] = (f["t_s"].to_numpy(), f["mouth_open"].to_numpy(dtype=np.float64))
        tracks["luma_flow+gap"][n] = (clips[n]["t"], proxies[n]["flow+gap"])
    for track, by_clip in tracks.items():
        for alpha in ALPHAS:
            out["rule"][f"{track}_alpha{alpha:g}"] = r = dense_rule_scores(by_clip, cases, labels5, alpha=alpha)
            print(f"  rule {track} alpha {alpha:g}: alone {r['sync_alone']}\n      combined {r['combined']}")
    print(f"  ms per frame: {out['ms_per_frame']}; s per 10 min at 30 fps: {out['s_per_10min_at_30fps']}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "av_attribution.json")
    args = ap.parse_args()
    flvs = sorted((CREMAD / "video_flv").glob("*.flv"))
    if not flvs:
        print(f"no clips in {CREMAD}: nothing to measure")
        return 0
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.face.stream import face_stream

    model = FaceModel.load()
    names = [f.stem for f in flvs]
    audio = {f.stem: _audio(f) for f in flvs}
    audio.update({p.stem: _audio(p) for p in sorted((CREMAD / "audio_mp3").glob("*.mp3"))})
    frames = {
        fps: {f.stem: face_stream(f, fps=fps, model=model, info=media.probe(f)).frames for f in flvs} for fps in FPS
    }
    cases = _cases(names, audio)
    labels5 = rule_labels(frames[5.0], cases)
    report: dict = {
        "clips": names,
        "n_cases": {k: sum(c[1] == k for c in cases) for k in KINDS},
        "pipeline_rule_5fps": rule_scores(labels5, cases),
        "synchrony": {},
    }
    print(f"pipeline rule at 5 fps: {report['pipeline_rule_5fps']}")
    print(
        f"\n{'fps':>4} {'feature':<12}{'own (min..max)':<18}{'dubbed p90':>11}{'dubbed max':>11}"
        f"{'dubbed >= weakest own':>23}"
    )
    for fps in FPS:
        for diff in (False, True):
            s = {
                k: [synchrony(frames[fps][n], y, diff=diff) for n, kk, y in cases if kk == k] for k in report["n_cases"]
            }
            own = np.array(s["own"])
            row = _separation(s)
            report["synchrony"][f"{fps:g}fps_{'diff' if diff else 'level'}"] = row
            print(
                f"{fps:>4g} {'difference' if diff else 'level':<12}{f'{own.min():.2f}..{own.max():.2f}':<18}"
                f"{row['dubbed_p90']:>11.2f}{row['dubbed_max']:>11.2f}{row['dubbed_at_least_weakest_own']:>23.2f}"
            )
    report["dense_luma"] = dense_report(flvs, frames[30.0], cases, labels5)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
