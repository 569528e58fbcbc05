"""Fine-tune the top layers of all-MiniLM-L6-v2 for the 7 emotions, on CPU, single-threaded.

Used by :mod:`training.text` (``python -m training.text``), which
selects between candidates on the validation split carved from MELD *train*; MELD dev is only
used for the final report. Runs alone too, for one configuration::

    python -m training.text_finetune --layers 4 --context --epochs 3 --out /tmp/ft

(writes ``finetuned.safetensors`` and ``finetune_log.json`` to ``--out``; reports validation
numbers only).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from multimodal_fer.paths import REPO_DIR, SHARED_DATA

SEED = 0


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning candidate."""

    train_layers: int = 4  # top transformer layers trained (of 6); 4 layers ~ 14 MB in float16
    use_context: bool = False  # previous utterances of the dialogue as segment B
    context_tokens: int = 48  # tokens of context kept (its end: the latest turns)
    max_len: int = 96  # tokens in all
    sources: tuple[str, ...] = ("meld",)  # meld, emorynlp, goemotions
    aux_weight: float = 0.3  # loss weight of a non-MELD example relative to a MELD one
    aux_max: int = 4000  # at most this many examples per extra corpus (random, seeded)
    class_weight: str = "sqrt"  # none | sqrt | balanced
    epochs: int = 3
    lr: float = 8e-5  # encoder layers
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06  # share of the steps with linear warm-up, then linear decay
    batch_size: int = 32
    dropout: float = 0.1
    seed: int = SEED


def _class_weights(y: np.ndarray, mode: str) -> np.ndarray:
    from training.text import _class_weights as cw

    return cw(y, mode)


def _batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar lengths (shuffle, sort within chunks of 50 batches, shuffle)."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for s in range(0, len(order), chunk):
        part = order[s: s + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i: i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def finetune(train_sets: list, val, cfg: FinetuneConfig, *, encoder_dir: str | None = None,
             log=lambda m: print(m, file=sys.stderr, flush=True), save_to: Path | None = None,
             meta: dict | None = None) -> dict:
    """Fine-tune on ``train_sets`` (list of train.Corpus, the first one is the main corpus).

    Evaluates on ``val`` after every epoch; keeps the epoch with the best validation
    weighted-F1 (saved to ``save_to`` when given). Returns a log dict.
    """
    import torch

    from multimodal_fer.text.emotion import _resolve_encoder, clean
    from training.text import scores
    from training.text_finetuned import FineTunedClassifier

    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    enc = _resolve_encoder(encoder_dir)
    model = FineTunedClassifier(enc, train_layers=cfg.train_layers, use_context=cfg.use_context,
                                max_len=cfg.max_len, context_tokens=cfg.context_tokens, dropout=cfg.dropout)
    texts, contexts, ys, aux = [], [], [], []
    for k, c in enumerate(train_sets):
        idx = np.arange(len(c.y))
        if k > 0 and len(idx) > cfg.aux_max:
            idx = np.sort(rng.choice(idx, cfg.aux_max, replace=False))
        texts += [clean(c.texts[i]) for i in idx]
        contexts += [clean(c.contexts[i]) for i in idx]
        ys.append(c.y[idx])
        aux.append(np.full(len(idx), k > 0))
    y = np.concatenate(ys)
    aux = np.concatenate(aux)
    w = _class_weights(y, cfg.class_weight) * np.where(aux, cfg.aux_weight, 1.0)
    lengths = np.array([len(t) + (len(c) if cfg.use_context else 0) for t, c in zip(texts, contexts)])
    val_texts = [clean(t) for t in val.texts]
    val_ctx = [clean(c) for c in val.contexts]

    head_params = list(model.head.parameters())
    enc_params = [p for p in model.bert.parameters() if p.requires_grad]
    decay = lambda ps: [p for p in ps if p.ndim > 1]  # noqa: E731
    no_decay = lambda ps: [p for p in ps if p.ndim <= 1]  # noqa: E731
    opt = torch.optim.AdamW([
        {"params": decay(enc_params), "lr": cfg.lr, "weight_decay": cfg.weight_decay},
        {"params": no_decay(enc_params), "lr": cfg.lr, "weight_decay": 0.0},
        {"params": head_params, "lr": cfg.head_lr, "weight_decay": 0.0},
    ])
    steps_per_epoch = math.ceil(len(y) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    yt = torch.as_tensor(y)
    wt = torch.as_tensor(w, dtype=torch.float32)
    history, best = [], None
    t_all = time.perf_counter()
    log(f"fine-tune {asdict(cfg)}: {len(y)} examples, {steps_per_epoch} steps/epoch")
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        model.bert.embeddings.eval()  # frozen parts: no dropout noise below the trained layers
        n_layers = len(model.bert.encoder.layer)
        for layer in model.bert.encoder.layer[: n_layers - cfg.train_layers]:
            layer.eval()
        t0 = time.perf_counter()
        running = 0.0
        for step, idx in enumerate(_batches(lengths, cfg.batch_size, rng), 1):
            batch = model.tokenize([texts[i] for i in idx], [contexts[i] for i in idx])
            logits = model(batch)
            loss = (torch.nn.functional.cross_entropy(logits, yt[idx], reduction="none") * wt[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(enc_params + head_params, 1.0)
            opt.step()
            sched.step()
            running += float(loss.detach())
            if step % 50 == 0:
                el = time.perf_counter() - t0
                log(f"  epoch {epoch} step {step}/{steps_per_epoch} loss {running / step:.4f} "
                    f"({el:.0f} s, eta epoch {el / step * (steps_per_epoch - step):.0f} s)")
        train_s = time.perf_counter() - t0
        logits = model.predict_logits(val_texts, val_ctx if cfg.use_context else None)
        s = scores(val.y, logits)
        row = {"epoch": epoch, "train_loss": round(running / steps_per_epoch, 4), "train_seconds": round(train_s, 1),
               "val_weighted_f1": s["weighted_f1"], "val_macro_f1": s["macro_f1"], "val_accuracy": s["accuracy"]}
        history.append(row)
        log(f"  {row}")
        if best is None or s["weighted_f1"] > best["val_weighted_f1"]:
            best = {**row, "val": s}
            if save_to is not None:
                model.save(save_to, {"config": {**asdict(cfg), "sources": list(cfg.sources)},
                                     "epoch": epoch, **(meta or {})})
    return {"config": {**asdict(cfg), "sources": list(cfg.sources)}, "history": history,
            "best_epoch": best["epoch"], "val_weighted_f1": best["val_weighted_f1"],
            "val_macro_f1": best["val_macro_f1"], "val_accuracy": best["val_accuracy"], "val": best["val"],
            "n_train": int(len(y)), "seconds": round(time.perf_counter() - t_all, 1)}


FT_CACHE = REPO_DIR / ".cache" / "text" / "ft"  # unchanged by the move out of multimodal_fer/text/


def candidate_dir(cfg: FinetuneConfig, cache: Path = FT_CACHE) -> Path:
    """Cache folder of one candidate (keyed by its configuration)."""
    import hashlib

    key = json.dumps({**asdict(cfg), "sources": list(cfg.sources)}, sort_keys=True)
    return cache / hashlib.sha256(key.encode()).hexdigest()[:12]


def run_candidate(cfg: FinetuneConfig, data: Path = SHARED_DATA, *, cache: Path = FT_CACHE,
                  log=lambda m: print(m, file=sys.stderr, flush=True)) -> tuple[dict, Path]:
    """Fine-tune one candidate on the MELD-train fit split (validation: the carved split),
    or reuse its cached result. Returns (log dict, path of its finetuned.safetensors)."""
    from training import text as T

    d = candidate_dir(cfg, cache)
    weights, result = d / "finetuned.safetensors", d / "result.json"
    if weights.is_file() and result.is_file():
        log(f"reusing fine-tuned candidate {d.name}")
        return json.loads(result.read_text()), weights
    sets, val = T.selection_sets(data, cfg.sources)
    out = finetune(sets, val, cfg, save_to=weights, log=log)
    result.write_text(json.dumps(out, indent=2) + "\n")
    return out, weights


def main(argv: list[str] | None = None) -> int:
    from training import text as T

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--layers", type=int, default=FinetuneConfig.train_layers)
    p.add_argument("--context", action="store_true")
    p.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    p.add_argument("--lr", type=float, default=FinetuneConfig.lr)
    p.add_argument("--class-weight", default=FinetuneConfig.class_weight)
    p.add_argument("--sources", default="meld", help="comma separated: meld,emorynlp,goemotions")
    p.add_argument("--aux-weight", type=float, default=FinetuneConfig.aux_weight)
    p.add_argument("--limit", type=int, default=0, help="train on the first N MELD examples (timing runs)")
    args = p.parse_args(argv)
    cfg = FinetuneConfig(train_layers=args.layers, use_context=args.context, epochs=args.epochs, lr=args.lr,
                         class_weight=args.class_weight, sources=tuple(args.sources.split(",")),
                         aux_weight=args.aux_weight)
    sets, val = T.selection_sets(args.data, cfg.sources)
    if args.limit:
        sets[0] = T.subset(sets[0], np.arange(len(sets[0].y)) < args.limit)
    out = finetune(sets, val, cfg, save_to=args.out / "finetuned.safetensors")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "finetune_log.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("best_epoch", "val_weighted_f1", "val_macro_f1", "val_accuracy",
                                          "seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
