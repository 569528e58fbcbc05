"""Text-emotion benchmark: MELD dev and GoEmotions dev tables, and throughput on 2 threads.

    .venv/bin/python benchmarks/text_benchmark.py [--kind auto|finetuned|head] [--threads 2]
        [--n 1000] [--data ../shared/data] [--out benchmarks/results/text_benchmark.json]

* MELD dev: 7 classes, with each utterance's dialogue context (previous utterances) when the
  model reads context.
* GoEmotions dev: examples whose labels map (Ekman grouping) to exactly one of the 7; no context.
* Throughput: ``predict_proba`` on ``--n`` MELD dev utterances (with contexts when the model
  reads them), after one warm-up call, with ``--threads`` torch threads; the target is < 20 s
  for 1,000 utterances on 2 threads.

Prints tables (:func:`multimodal_fer.evaluation.print_report`) and writes JSON. Exit status 1
when the throughput target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from multimodal_fer.evaluation import print_report, write_json  # noqa: E402
from multimodal_fer.paths import SHARED_DATA  # noqa: E402

TARGET_S_PER_1000 = 20.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="auto", choices=("auto", "finetuned", "head"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1000, help="utterances for the throughput run")
    ap.add_argument("--data", type=Path, default=SHARED_DATA)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "text_benchmark.json")
    args = ap.parse_args(argv)

    import torch

    from multimodal_fer.text.emotion import TextEmotionModel
    from training.text import load_goemotions, load_meld, scores

    t0 = time.perf_counter()
    model = TextEmotionModel.load(kind=args.kind, threads=args.threads)
    load_s = time.perf_counter() - t0
    torch.set_num_threads(args.threads)

    meld = load_meld(args.data, "dev")
    go = load_goemotions(args.data, "dev")
    ctx = list(meld.contexts) if model.use_context else None

    t0 = time.perf_counter()
    meld_m = scores(meld.y, model.predict_proba(list(meld.texts), ctx))
    meld_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    go_m = scores(go.y, model.predict_proba(list(go.texts)))
    go_s = time.perf_counter() - t0

    # throughput: the first n MELD dev utterances (repeated if fewer), after a warm-up call
    texts = [meld.texts[i % len(meld.texts)] for i in range(args.n)]
    contexts = [meld.contexts[i % len(meld.texts)] for i in range(args.n)] if model.use_context else None
    model.predict_proba(texts[:32], None if contexts is None else contexts[:32])
    t0 = time.perf_counter()
    model.predict_proba(texts, contexts)
    thr_s = time.perf_counter() - t0
    s_per_1000 = thr_s * 1000 / max(args.n, 1)

    print_report(f"MELD dev ({model.version}, context={model.use_context})", meld_m)
    print()
    print_report(f"GoEmotions dev single-label ({model.version})", go_m)
    print()
    ok = s_per_1000 < TARGET_S_PER_1000
    print(f"{'measure':<44}{'value':>12}")
    for name, value in [
        ("model load (s)", load_s),
        (f"MELD dev, {meld_m['n']} utterances (s)", meld_s),
        (f"GoEmotions dev, {go_m['n']} texts (s)", go_s),
        (f"throughput: {args.n} utterances, {args.threads} threads (s)", thr_s),
        ("utterances / s", args.n / thr_s),
    ]:
        print(f"{name:<44}{value:>12.2f}")
    print(f"target < {TARGET_S_PER_1000:.0f} s per 1,000 utterances on 2 threads: {'met' if ok else 'MISSED'}")

    summary = lambda m: {k: m[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1", "per_class")}  # noqa: E731
    write_json(args.out, {
        "model_version": model.version, "model_kind": model.kind, "context": model.use_context,
        "threads": args.threads, "meld_dev": summary(meld_m), "goemotions_dev_single_label": summary(go_m),
        "seconds": {"load": round(load_s, 2), "meld_dev": round(meld_s, 2), "goemotions_dev": round(go_s, 2)},
        "throughput": {"utterances": args.n, "seconds": round(thr_s, 2),
                       "utterances_per_s": round(args.n / thr_s, 1), "seconds_per_1000": round(s_per_1000, 2),
                       "target_seconds_per_1000": TARGET_S_PER_1000, "met": ok},
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()},
    })
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
