"""Per-stage time of the real pipeline on recordings, with realtime factor and peak memory.

    .venv/bin/python benchmarks/pipeline_stages.py [FILES ...] [--fps 5] [--asr-model base] [--out benchmarks/results/pipeline_stages.json]

Without FILES it builds the synthetic demo bucket in a temporary folder and uses its recordings.
Prints a table and writes the numbers as JSON. Models are loaded once (load time reported apart).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import multimodal_fer_flows  # noqa: E402,F401 - environment defaults (offline, caches)
from multimodal_fer import bucket, media  # noqa: E402
from multimodal_fer.pipeline import PipelineOptions, analyze_recording, load_models  # noqa: E402
from multimodal_fer.text.asr import AsrOptions  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--asr-model", default="base")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "pipeline_stages.json"))
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="mfer-bench-")
    files = [Path(f) for f in args.files]
    if not files:
        from scripts.demo_bucket import make_demo_bucket

        root = make_demo_bucket(Path(tmp.name) / "bucket", progress=lambda m: None)
        files = sorted(root.glob("*/*.mp4"))
    options = PipelineOptions(sample_fps=args.fps, asr=AsrOptions(model=args.asr_model))
    t0 = time.perf_counter()
    models = load_models(options.asr)
    load_s = time.perf_counter() - t0
    rows = []
    for f in files:
        rec = bucket.Recording(str(f), "bench", f.stem, f.stat().st_size)
        duration = media.probe(f).duration_s
        t0 = time.perf_counter()
        result = analyze_recording(f, recording=rec, sha256=bucket.sha256_of(str(f)), meta=bucket.SessionMeta(),
                                   staged_dir=Path(tmp.name) / "staged" / f.stem, options=options, models=models)
        wall = time.perf_counter() - t0
        rows.append({"file": str(f), "duration_s": round(duration, 2), "wall_s": round(wall, 2),
                     "realtime_factor": round(duration / wall, 2), "stage_seconds": result["stage_seconds"]})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stages = list(rows[0]["stage_seconds"]) if rows else []
    header = f"{'recording':<28}{'dur s':>7}{'wall s':>8}{'x RT':>6}" + "".join(f"{s[:12]:>13}" for s in stages)
    print(header)
    for r in rows:
        print(f"{Path(r['file']).parent.name + '/' + Path(r['file']).name:<28}{r['duration_s']:>7}{r['wall_s']:>8}"
              f"{r['realtime_factor']:>6}" + "".join(f"{r['stage_seconds'].get(s, 0):>13}" for s in stages))
    print(f"model load {load_s:.1f} s (once per worker); peak RSS {peak_mb:.0f} MB; {platform.processor() or platform.machine()}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"fps": args.fps, "asr_model": args.asr_model, "model_load_s": round(load_s, 2),
                               "peak_rss_mb": round(peak_mb), "recordings": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
