"""Generate a long recording and analyse it in this process; print the peak RSS and row counts as JSON.

    python tests/long_recording.py MINUTES WORKDIR

The recording: 64×64 video at 2 fps (no face), 16 kHz mono audio of quiet room noise with one
espeak-ng sentence every 5 minutes. Cheap to make and to analyse (1 fps sampling, tiny.en), so
that a test can compare the peak memory of a 2-hour run with a 10-minute one.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

SR = 16000  # Hz
FPS = 2  # video frames per second
EVERY_S = 300.0  # s between sentences
SENTENCE = "I have been sleeping badly lately, but the walks with my friends help."


def make(path: Path, minutes: float) -> float:
    import av

    from scripts.demo_bucket import _espeak

    speech = 0.5 * _espeak(SENTENCE, ("en-us", 160, 50))
    rng = np.random.default_rng(0)
    seconds = minutes * 60.0
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width = vs.height = 64
        vs.pix_fmt = "yuv420p"
        st = c.add_stream("aac", rate=SR)
        st.layout = "mono"
        frame = np.full((64, 64, 3), 90, np.uint8)
        block = 10 * SR  # audio written 10 s at a time: the generator is flat in memory too
        for k, s in enumerate(range(0, int(seconds * SR), block)):
            n = min(block, int(seconds * SR) - s)
            y = (0.002 * rng.standard_normal(n)).astype(np.float32)
            t0 = s / SR
            if t0 % EVERY_S < 10.0 and t0 % EVERY_S + speech.size / SR <= 10.0 + 1e-9:
                y[: speech.size] += speech[: n]
            for i in range(0, n, 1024):
                fr = av.AudioFrame.from_ndarray(y[i:i + 1024].reshape(1, -1), format="flt", layout="mono")
                fr.sample_rate, fr.pts = SR, s + i
                for p in st.encode(fr):
                    c.mux(p)
            for j in range(FPS * 10):
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                vf.pts = k * FPS * 10 + j
                for p in vs.encode(vf):
                    c.mux(p)
        for stream in (st, vs):
            for p in stream.encode():
                c.mux(p)
    return seconds


def main() -> int:
    minutes, work = float(sys.argv[1]), Path(sys.argv[2])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import pandas as pd

    import multimodal_fer_flows  # noqa: F401 - offline defaults
    from multimodal_fer import bucket
    from multimodal_fer.pipeline import PipelineOptions, analyze_recording, load_models
    from multimodal_fer.text.asr import AsrOptions

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"long_{minutes:g}.mp4"
    seconds = make(path, minutes)
    options = PipelineOptions(sample_fps=1.0, asr=AsrOptions(model="tiny.en"))
    models = load_models(options.asr)
    rss_models = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    rec = bucket.Recording(str(path), "P1", path.stem, path.stat().st_size)
    staged = work / f"staged_{minutes:g}"
    analyze_recording(path, recording=rec, sha256="a" * 64, meta=bucket.SessionMeta(), staged_dir=staged,
                      options=options, models=models)
    wall = time.perf_counter() - t0
    counts = {name: len(pd.read_parquet(staged / f"{name}.parquet"))
              for name in ("frames", "emotion_windows", "utterances", "words")}
    print(json.dumps({"minutes": minutes, "seconds": seconds, "wall_s": round(wall, 1),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_after_models_mb": rss_models, **counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
