"""ASR benchmark: WER and realtime factor of the default speech recogniser on RAVDESS sentences.

    .venv/bin/python benchmarks/asr_benchmark.py [--clips 40] [--out benchmarks/results/asr_benchmark.json]

The default ``AsrOptions()`` (packaged Whisper base, int8, greedy, temperature 0, VAD filter,
language detected) transcribes

* ``--clips`` RAVDESS clips one by one (two per actor, one of each sentence, emotions rotated
  over actors so all eight appear, 16 kHz FLAC), and
* the same clips joined into one recording with 0.6 s pauses (reference: the sentences joined),

each with ``cpu_threads=2`` and ``cpu_threads=1``, through :func:`multimodal_fer.text.
evaluate_asr.run` (WER after its normaliser; realtime factor = transcription time / audio
time, model loaded and warmed up first). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from multimodal_fer.evaluation import write_json  # noqa: E402
from multimodal_fer.paths import SHARED_DATA  # noqa: E402

RAVDESS = SHARED_DATA / "speech" / "ravdess"
RESULTS = ROOT / "benchmarks" / "results"
EMOTIONS8 = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")


def select(n_clips: int):
    import pandas as pd

    lab = pd.read_csv(RAVDESS / "labels.csv")
    rows = []
    for k in range(n_clips):
        actor = k % 20 + 1
        sentence = (k // 20) % 2
        emotion = EMOTIONS8[(actor + 3 * (k // 20)) % 8]
        sel = lab[(lab.actor == actor) & (lab.emotion == emotion)]
        sentences = sorted(sel.transcript.unique())
        sel = sel[sel.transcript == sentences[sentence % len(sentences)]]
        rows.append(sel.sort_values(["intensity", "repetition"]).iloc[0])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--out", type=Path, default=RESULTS / "asr_benchmark.json")
    args = ap.parse_args()
    if not (RAVDESS / "labels.csv").exists():
        print(f"shared data absent ({RAVDESS}): nothing to benchmark")
        return 0
    import soundfile as sf

    from multimodal_fer.text.asr import AsrOptions
    from multimodal_fer.text.evaluate_asr import run

    t0 = time.perf_counter()
    rows = select(args.clips)
    tmp = tempfile.TemporaryDirectory(prefix="mfer-asr-bench-")
    clips_csv = Path(tmp.name) / "clips.csv"
    with open(clips_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "transcript"])
        for r in rows:
            w.writerow([str(RAVDESS / r.path), r.transcript])
    pause = np.zeros(int(0.6 * 16000), np.float32)
    joined = np.concatenate([np.concatenate([sf.read(RAVDESS / r.path, dtype="float32")[0], pause])
                             for r in rows])
    sf.write(Path(tmp.name) / "joined.wav", joined, 16000)
    joined_csv = Path(tmp.name) / "joined.csv"
    with open(joined_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "transcript"])
        w.writerow(["joined.wav", ". ".join(r.transcript for r in rows)])
    results = {}
    for threads in (2, 1):
        options = AsrOptions(cpu_threads=threads)
        for name, path in (("clips", clips_csv), ("joined", joined_csv)):
            rep = run(path, options=options, quiet=False)
            results[f"{name}_{threads}t"] = {k: rep[k] for k in (
                "n", "wer", "substitutions", "deletions", "insertions", "ref_words", "audio_s",
                "transcribe_s", "realtime_factor", "model_load_s")}
            results[f"{name}_{threads}t"]["errors"] = [
                {k: f[k] for k in ("path", "reference", "hypothesis", "wer")}
                for f in rep["files"] if f["wer"] > 0]
    print(f"\nASR ({AsrOptions().model}, {AsrOptions().compute_type}, temperature "
          f"{AsrOptions().temperature}, vad_filter {AsrOptions().vad_filter}) on RAVDESS")
    print(f"  {'input':<34}{'threads':>8}{'WER':>8}{'RTF':>8}{'audio s':>9}")
    for key, r in results.items():
        name, threads = key.rsplit("_", 1)
        label = (f"{r['n']} clips, one by one" if name == "clips"
                 else f"{len(rows)} clips joined ({r['audio_s'] / 60:.1f} min)")
        print(f"  {label:<34}{threads[:-1]:>8}{r['wer']:>8.3f}{r['realtime_factor']:>8.3f}"
              f"{r['audio_s']:>9.1f}")
    report = {"options": dataclasses.asdict(AsrOptions()), "clips": [r.path for r in rows],
              "results": results, "seconds": time.perf_counter() - t0,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
              "normaliser": "multimodal_fer.text.evaluate_asr.normalise_text"}
    write_json(args.out, report)
    print(f"wrote {args.out} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
