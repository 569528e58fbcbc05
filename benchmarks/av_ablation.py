"""Fusion ablation on the real CREMA-D audio-visual clips in ../shared/data/av/cremad.

    .venv/bin/python benchmarks/av_ablation.py [--out benchmarks/results/av_ablation.json] [--cache DIR]

Writes a labels CSV for the clips (emotion from the file name, e.g. 1001_DFA_ANG_XX → angry),
runs ``mfer evaluate av`` on it (the whole pipeline per clip) and prints the table: face only,
voice only, text only, equal-weight fusion, the previous certainty-weighted speaking-aware rule
and the pipeline's speaking-aware fusion, clip- and window-level.

``--cache DIR`` keeps each clip's stream outputs in DIR (e.g. ``.cache/av``) and, on later runs,
only fuses them again: seconds instead of minutes, for trying fusion options. The published
numbers are made without it (every clip through the whole pipeline).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import multimodal_fer_flows  # noqa: E402,F401 - offline environment defaults
from multimodal_fer.evaluate_av import run  # noqa: E402
from multimodal_fer.paths import SHARED_DATA  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=str(SHARED_DATA / "av" / "cremad" / "video_flv"))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "av_ablation.json"))
    ap.add_argument("--cache", default=None, help="keep / reuse per-clip stream outputs here (default: none)")
    args = ap.parse_args()
    clips = sorted(Path(args.clips).glob("*.flv"))
    if not clips:
        print(f"no clips in {args.clips}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / "labels.csv"
        with open(labels, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "label"])
            for c in clips:
                w.writerow([str(c), c.stem.split("_")[2]])  # ANG, DIS, FEA, HAP, NEU, SAD
        run(labels, out=Path(args.out), cache_dir=Path(args.cache) if args.cache else None)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
