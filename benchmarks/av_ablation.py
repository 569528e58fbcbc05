"""Fusion ablation on the real CREMA-D audio-visual clips in ../shared/data/av/cremad.

    .venv/bin/python benchmarks/av_ablation.py [--out benchmarks/results/av_ablation.json] [--cache DIR]
    .venv/bin/python benchmarks/av_ablation.py --dubbed   # -> benchmarks/results/av_ablation_dubbed.json

Writes a labels CSV for the clips (emotion from the file name, e.g. 1001_DFA_ANG_XX → angry),
runs ``mfer evaluate av`` on it (the whole pipeline per clip) and prints the table: face only,
voice only, text only, equal-weight fusion, the previous certainty-weighted speaking-aware rule
and the pipeline's speaking-aware fusion, clip- and window-level.

``--cache DIR`` keeps each clip's stream outputs in DIR (e.g. ``.cache/av``) and, on later runs,
only fuses them again: seconds instead of minutes, for trying fusion options. The published
numbers are made without it (every clip through the whole pipeline).

``--dubbed`` evaluates the attribution benchmark's *dubbed* cases instead (``benchmarks/av_attribution.py``):
each clip's video with actor 1002's recording of the same emotion as its audio (packets copied, not
re-encoded), so the face is one person and the voice and words another, both acting the clip's label.
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

CREMAD = SHARED_DATA / "av" / "cremad"
RESULTS = Path(__file__).parent / "results"


def dub(video: Path, audio: Path, out: Path) -> Path:
    """Write ``video``'s video stream with ``audio``'s audio stream into ``out`` (packets copied)."""
    import av

    with av.open(str(video)) as vin, av.open(str(audio)) as ain, av.open(str(out), "w", format="flv") as dst:
        v_in, a_in = vin.streams.video[0], ain.streams.audio[0]
        v_out = dst.add_stream_from_template(v_in, opaque=True)  # no VP6 encoder needed: packets are copied
        a_out = dst.add_stream_from_template(a_in, opaque=True)
        for src, stream in ((vin, v_in), (ain, a_in)):
            for packet in src.demux(stream):
                if packet.dts is None:
                    continue
                packet.stream = v_out if stream is v_in else a_out
                dst.mux(packet)
    return out


def dubbed_clips(clips: list[Path], folder: Path) -> list[Path]:
    """Each 1001 clip with 1002's audio of the same emotion (clips without one are left out)."""
    out = []
    for c in clips:
        audio = CREMAD / "audio_mp3" / f"{c.stem.replace('1001', '1002')}.mp3"
        if audio.exists():
            out.append(dub(c, audio, folder / f"{c.stem}_dub1002.flv"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=str(CREMAD / "video_flv"))
    ap.add_argument("--out", default=None, help="default benchmarks/results/av_ablation[_dubbed].json")
    ap.add_argument("--cache", default=None, help="keep / reuse per-clip stream outputs here (default: none)")
    ap.add_argument("--dubbed", action="store_true", help="each clip's video with actor 1002's audio of its emotion")
    args = ap.parse_args()
    args.out = args.out or str(RESULTS / ("av_ablation_dubbed.json" if args.dubbed else "av_ablation.json"))
    clips = sorted(Path(args.clips).glob("*.flv"))
    if not clips:
        print(f"no clips in {args.clips}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        if args.dubbed:
            clips = dubbed_clips(clips, Path(tmp))
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
