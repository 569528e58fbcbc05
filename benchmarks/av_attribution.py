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
own case). This is a measurement, not a rule: see docs/fusion.md.
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


def synchrony(frames, y: np.ndarray, *, diff: bool) -> float:
    """Best correlation over :data:`LAGS_S` of mouth opening and log envelope at the face frames."""
    f = frames[frames["face_found"]]
    t, m = f["t_s"].to_numpy(), f["mouth_open"].to_numpy(dtype=np.float64)
    best = -1.0
    for lag in LAGS_S:
        e = _envelope(y, t + lag)
        a, b = (np.diff(m), np.diff(e)) if diff else (m, e)
        if a.size > 2 and a.std() > 1e-9 and b.std() > 1e-9:
            best = max(best, float(np.corrcoef(a, b)[0, 1]))
    return best


def _cases(names: list[str], audio: dict) -> list[tuple[str, str, np.ndarray]]:
    cases = [(n, "own", audio[n]) for n in names]
    cases += [(n, "dubbed_other_speaker", audio[n.replace("1001", "1002")]) for n in names]
    cases += [(n, "dubbed_same_speaker", audio[o]) for n in names for o in names if o != n]
    return cases


def rule_scores(frames5: dict, cases) -> dict:
    from multimodal_fer.speakers import attribute_segments
    from multimodal_fer.voice.vad import speech_segments

    out: dict = {}
    for kind in ("own", "dubbed_other_speaker", "dubbed_same_speaker"):
        labels = [a.speaker for n, k, y in cases if k == kind for a in attribute_segments(frames5[n], speech_segments(y))]
        out[kind] = {s: labels.count(s) for s in ("patient", "other", "unknown")}
    own, dub = out["own"], [out[k] for k in ("dubbed_other_speaker", "dubbed_same_speaker")]
    tp, fp = own["patient"], sum(d["patient"] for d in dub)
    out["patient_recall"] = tp / max(1, sum(own.values()))
    out["patient_precision_vs_dubbed"] = tp / max(1, tp + fp)
    out["patient_precision_vs_dubbed_other_speaker"] = tp / max(1, tp + dub[0]["patient"])
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
    frames = {fps: {f.stem: face_stream(f, fps=fps, model=model, info=media.probe(f)).frames for f in flvs} for fps in FPS}
    cases = _cases(names, audio)
    report: dict = {"clips": names, "n_cases": {k: sum(c[1] == k for c in cases) for k in ("own", "dubbed_other_speaker", "dubbed_same_speaker")},
                    "pipeline_rule_5fps": rule_scores(frames[5.0], cases), "synchrony": {}}
    print(f"pipeline rule at 5 fps: {report['pipeline_rule_5fps']}")
    print(f"\n{'fps':>4} {'feature':<12}{'own (min..max)':<18}{'dubbed p90':>11}{'dubbed max':>11}{'dubbed >= weakest own':>23}")
    for fps in FPS:
        for diff in (False, True):
            s = {k: [synchrony(frames[fps][n], y, diff=diff) for n, kk, y in cases if kk == k] for k in report["n_cases"]}
            own, dub = np.array(s["own"]), np.array(s["dubbed_other_speaker"] + s["dubbed_same_speaker"])
            row = {"own": own.round(3).tolist(), "dubbed_p90": float(np.percentile(dub, 90)),
                   "dubbed_max": float(dub.max()), "dubbed_at_least_weakest_own": float((dub >= own.min()).mean())}
            report["synchrony"][f"{fps:g}fps_{'diff' if diff else 'level'}"] = row
            print(f"{fps:>4g} {'difference' if diff else 'level':<12}{f'{own.min():.2f}..{own.max():.2f}':<18}"
                  f"{row['dubbed_p90']:>11.2f}{row['dubbed_max']:>11.2f}{row['dubbed_at_least_weakest_own']:>23.2f}")
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
