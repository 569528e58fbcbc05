"""Voice stream benchmark: the shipped model on CREMA-D (a corpus it never heard) and timings.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/voice_benchmark.py [--out benchmarks/results/voice_benchmark.json]

The cross-corpus table (leave-one-corpus-out over RAVDESS, nEMO and EMOVO), the RAVDESS
actor-independent CV, calibration and robustness come from the training run itself
(``python -m training.voice`` → ``benchmarks/results/voice_loco.json``).

1. CREMA-D cross-corpus check with the shipped artefact: the 6 MP3s of actor 1002 and the
   audio of the 6 FLV clips of actor 1001 (one per emotion), via ``mfer evaluate voice``'s
   :func:`multimodal_fer.voice.evaluate.run`.
2. Timings on one core: the shipped model on 3 s chunks (what the pipeline does per patient
   chunk) and prosody for 10 minutes of audio (RAVDESS sentences joined with pauses): VAD,
   ``frame_prosody`` + ``window_prosody`` (the pipeline's). Target: prosody < 30 s per 10 minutes.

Prints tables and writes JSON. Sections whose data is absent are skipped and say so.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from multimodal_fer.evaluation import write_json  # noqa: E402
from multimodal_fer.paths import SHARED_DATA  # noqa: E402

RAVDESS = SHARED_DATA / "speech" / "ravdess"
CREMAD = SHARED_DATA / "av" / "cremad"
RESULTS = ROOT / "benchmarks" / "results"


def cremad() -> dict:
    from multimodal_fer.voice.evaluate import run

    out = {}
    for name, sub, pattern in (("mp3_actor1002", "audio_mp3", "*.mp3"),
                               ("flv_actor1001", "video_flv", "*.flv")):
        files = sorted((CREMAD / sub).glob(pattern))
        if not files:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = Path(tmp) / "labels.csv"
            with open(csv_path, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["path", "label"])
                for f in files:
                    w.writerow([str(f), f.stem.split("_")[2]])
            print()
            rep = run(csv_path, out=None)
        out[name] = {k: rep[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1", "per_class",
                                         "seconds_per_file")}
        out[name]["files"] = [{"file": Path(f["path"]).name, "label": f["label"],
                               "prediction": f["prediction"]} for f in rep["files"]]
        print("  " + ", ".join(f"{f['file']}->{f['prediction']}" for f in out[name]["files"]))
    return out


def long_audio(minutes: float = 10.0) -> tuple[np.ndarray, str]:
    """~``minutes`` of real speech: RAVDESS sentences with 0.2-1.2 s pauses (synthetic if absent)."""
    rng = np.random.default_rng(0)
    n_target = int(minutes * 60 * 16000)
    if (RAVDESS / "labels.csv").exists():
        import pandas as pd
        import soundfile as sf

        paths = pd.read_csv(RAVDESS / "labels.csv")["path"].tolist()
        parts, n, i = [], 0, 0
        while n < n_target:
            y = sf.read(RAVDESS / paths[(i * 37) % len(paths)], dtype="float32")[0]
            gap = np.zeros(int(rng.uniform(0.2, 1.2) * 16000), np.float32)
            parts += [y, gap]
            n += len(y) + len(gap)
            i += 1
        return np.concatenate(parts)[:n_target], "RAVDESS sentences joined with pauses"
    t = np.arange(n_target) / 16000
    y = 0.3 * np.sin(2 * np.pi * (150 + 30 * np.sin(2 * np.pi * 0.5 * t)) * t)
    y *= (np.sin(2 * np.pi * 0.2 * t) > 0)
    return y.astype(np.float32), "synthetic voiced tone bursts (shared data absent)"


def timings() -> dict:
    from multimodal_fer.voice.model import VoiceModel, clip_features, speech_embedding
    from multimodal_fer.voice.prosody import frame_prosody, window_prosody
    from multimodal_fer.voice.vad import speech_segments

    y, source = long_audio(10.0)
    dur = len(y) / 16000
    out = {"audio_s": dur, "source": source}
    # warm up (imports, ONNX session, numba) on a short piece: not counted
    w = y[: 16000 * 5]
    speech_segments(w)
    window_prosody(frame_prosody(w), [(0.0, 5.0)], duration_s=5.0, window_s=1.0)
    t = time.perf_counter()
    segs = speech_segments(y)
    out["vad_s"] = time.perf_counter() - t
    t = time.perf_counter()
    window_prosody(frame_prosody(y), segs, duration_s=dur, window_s=1.0)
    out["pipeline_prosody_s"] = time.perf_counter() - t
    out["n_segments"] = len(segs)
    out["total_prosody_s"] = out["vad_s"] + out["pipeline_prosody_s"]
    # the emotion model per 3 s chunk (what the pipeline calls on patient speech)
    model = VoiceModel.load()
    chunks = [y[i * 48000:(i + 1) * 48000] for i in range(2, 42)]
    model.predict_proba(chunks[:2])
    t = time.perf_counter()
    model.predict_proba(chunks)
    dt = time.perf_counter() - t
    out["model_ms_per_3s_chunk"] = 1000 * dt / len(chunks)
    t = time.perf_counter()
    for c in chunks[:20]:
        clip_features(c)
    out["functionals_ms_per_3s_chunk"] = 1000 * (time.perf_counter() - t) / 20
    t = time.perf_counter()
    for c in chunks[:20]:
        speech_embedding(c)
    out["embedding_ms_per_3s_chunk"] = 1000 * (time.perf_counter() - t) / 20
    out["model_version"] = model.version
    print(f"\nTimings on one thread ({dur / 60:.1f} min of audio: {source})")
    for k in ("vad_s", "pipeline_prosody_s", "total_prosody_s"):
        print(f"  {k:<32}{out[k]:>8.2f} s")
    print(f"  prosody target < 30 s per 10 min: {'met' if out['total_prosody_s'] < 30 else 'NOT met'}")
    for k in ("model_ms_per_3s_chunk", "functionals_ms_per_3s_chunk", "embedding_ms_per_3s_chunk"):
        print(f"  {k:<32}{out[k]:>8.1f} ms")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "voice_benchmark.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    report: dict = {"machine": {"python": platform.python_version(), "cpu_threads": 1,
                                "cpus": os.cpu_count()}}
    if CREMAD.exists():
        report["cremad"] = cremad()
    else:
        print("CREMA-D absent: cross-corpus check skipped")
    report["timings"] = timings()
    report["seconds"] = time.perf_counter() - t0
    write_json(args.out, report)
    print(f"\nwrote {args.out} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
