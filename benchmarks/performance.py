"""End-to-end speed and memory of the real pipeline on generated recordings of 1, 10 and 60 minutes.

    .venv/bin/python benchmarks/performance.py [--minutes 1 10 60] [--profiles default fast]

Recordings are made like the demo (an animated public-domain portrait, a clinician and a patient
speaking with espeak-ng), repeated to the length asked, and cached in .cache/bench/. Every
(recording, profile) runs in a fresh process, so peak RSS is that run's own. For each it
measures: wall time of the whole analysis, realtime factor (recording seconds per wall second),
per-stage seconds, and the time of the face path alone and of the audio path alone (the slowest
single stage bounds what concurrency can reach). Prints a table, writes
benchmarks/results/performance.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHORT_S = 300.0  # s: recordings shorter than this are timed REPEATS_SHORT times (median)
REPEATS_SHORT = 3
PROFILES = {"default": {"fps": 5.0, "asr_model": "base"}, "fast": {"fps": 2.0, "asr_model": "tiny.en"}}


def make_long(minutes: float, cache: Path) -> Path:
    from scripts.demo_bucket import SESSIONS, DemoSession, make_recording

    path = cache / f"long_{minutes:g}min.mp4"
    if path.exists():
        return path
    turns, seconds = [], 0.0
    base = [t for s in SESSIONS[:2] for t in s.turns]
    while seconds < minutes * 60:
        turns.extend(base)
        seconds += 24.0  # ≈ length of the two demo sessions' turns with their gaps
    session = DemoSession("P001", f"long{minutes:g}", "2026-01-01T00:00:00", "site-a", "arm", "C01", tuple(turns))
    cache.mkdir(parents=True, exist_ok=True)
    make_recording(path, session)
    return path


def measure(path: str, profile: str) -> dict:
    """Run in a fresh process (see main): analysis, then each path alone."""
    import tempfile

    import multimodal_fer_flows  # noqa: F401 - offline defaults
    from multimodal_fer import bucket, media
    from multimodal_fer.face.stream import run_face
    from multimodal_fer.pipeline import PipelineOptions, analyze_recording, load_models
    from multimodal_fer.text.asr import AsrOptions, compute_device, transcribe_wav
    from multimodal_fer.voice.stream import voice_activity_prosody

    p = PROFILES[profile]
    options = PipelineOptions(sample_fps=p["fps"], asr=AsrOptions(model=p["asr_model"]))
    t0 = time.perf_counter()
    models = load_models(options.asr)
    load_s = time.perf_counter() - t0
    duration = media.probe(path).duration_s
    rec = bucket.Recording(path, "bench", Path(path).stem, Path(path).stat().st_size)
    repeats = REPEATS_SHORT if duration < SHORT_S else 1
    walls, faces, audios = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):  # short runs are noisy: the median of a few
            t0 = time.perf_counter()
            result = analyze_recording(Path(path), recording=rec, sha256="b" * 64, meta=bucket.SessionMeta(),
                                       staged_dir=Path(tmp) / f"s{i}", options=options, models=models)
            walls.append(time.perf_counter() - t0)
            if i == 0:
                rss_pipeline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for _ in range(repeats):
            t0 = time.perf_counter()
            run_face(Path(path), fps=options.sample_fps, model=models.face)
            faces.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            audio_s = media.extract_audio(path, Path(tmp) / "a.wav")
            segments, _, _ = voice_activity_prosody(Path(tmp) / "a.wav")
            transcribe_wav(Path(tmp) / "a.wav", segments, options.asr, duration_s=audio_s)
            audios.append(time.perf_counter() - t0)
    wall, face_alone, audio_alone = (float(np.median(v)) for v in (walls, faces, audios))
    return {"profile": profile, "recording_s": round(duration, 1), "wall_s": round(wall, 1),
            "realtime_factor": round(duration / wall, 2), "face_alone_s": round(face_alone, 1),
            "audio_alone_s": round(audio_alone, 1),
            "wall_over_slowest": round(wall / max(face_alone, audio_alone), 2),
            "peak_rss_mb": round(rss_pipeline), "repeats": repeats, "model_load_s": round(load_s, 1), "stage_seconds": result["stage_seconds"],
            "device": {"speech (CTranslate2)": compute_device(), "face and text (torch)": "cpu"}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "performance.json"))
    ap.add_argument("--measure", nargs=2, metavar=("PATH", "PROFILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0
    rows = []
    for minutes in args.minutes:
        path = make_long(minutes, REPO / ".cache" / "bench")
        for profile in args.profiles:
            out = subprocess.run([sys.executable, __file__, "--measure", str(path), profile], capture_output=True,
                                 text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{minutes:g} min {profile}: {row['realtime_factor']}x realtime, {row['peak_rss_mb']} MB", flush=True)
    print(f"\n{'recording':>10} {'profile':<8}{'wall s':>8}{'x RT':>7}{'face alone':>11}{'audio alone':>12}"
          f"{'wall/slowest':>13}{'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['recording_s']:>9}s {r['profile']:<8}{r['wall_s']:>8}{r['realtime_factor']:>7}{r['face_alone_s']:>11}"
              f"{r['audio_alone_s']:>12}{r['wall_over_slowest']:>13}{r['peak_rss_mb']:>12}")
    if rows:
        print("devices: " + ", ".join(f"{k}: {v}" for k, v in rows[-1].get("device", {}).items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "cores": 2}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
