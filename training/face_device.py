"""The face CNN trained where a GPU is lent (issue #14): leave-one-corpus-out and a final network, one command.

Two steps, because the GPU machine sees only the repository (≤ 64 MiB with what it carries) and nothing of
``../shared/data``:

1. here, on the CPU, the aligned 48×48 crops of every face corpus with landmarks (the run-time's
   ``crop.aligned_crop``, cached by :mod:`training.face`) are packed as WebP into one file::

       OMP_NUM_THREADS=1 .venv/bin/python -m training.face_device pack      # -> .devicepack/faces.npz

   (≈ 20 min with a cold ``.cache/face``; the quality steps down until the pack fits ``--budget-mb``);
2. on the GPU machine (the ``run`` tool, ``carry: [".devicepack"]``; its ``python3`` holds torch, numpy,
   Pillow and OpenCV), one command trains a network per held-out corpus and one on every corpus, each
   for a fixed share of a time budget, and writes the metrics and the final weights under ``$OUT``::

       PYTHONUNBUFFERED=1 python3 -m training.face_device train --pack .devicepack/faces.npz --out $OUT

The network is :func:`multimodal_fer.face.cnn.build` with wider ``--widths`` (the run-time loads it with
``from_state(state, widths)``), the augmentation :func:`training.face_cnn.augment` on the GPU, the sampling
corpus- and class-balanced (:func:`training.face_cnn.balance_weights`). Every run draws the
same number of steps, so the held-out columns are comparable. Nothing is chosen on a held-out corpus: the
recipe is fixed before the run, and each held-out corpus is scored once by the network that never saw it.

``--smoke`` runs the whole command on a few images, 3 steps of 16 a run (the CPU test of this module).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import time
from pathlib import Path

import numpy as np


def _schemas_importable() -> None:
    """Where the project is not installed (the GPU machine runs a bare copy of the checkout), make ``schemas/``
    importable as ``multimodal_fer_schemas``, the name ``pyproject.toml`` gives it (``multimodal_fer`` is
    importable from the checkout's root as it is)."""
    import importlib.util
    import sys

    if importlib.util.find_spec("multimodal_fer_schemas") is not None:
        return
    folder = Path(__file__).resolve().parents[1] / "schemas"
    spec = importlib.util.spec_from_file_location(
        "multimodal_fer_schemas", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["multimodal_fer_schemas"] = module
    spec.loader.exec_module(module)


_schemas_importable()

from multimodal_fer.labels import EMOTIONS, N_EMOTIONS  # noqa: E402 - after the line above

PACK = Path(".devicepack") / "faces.npz"  # relative to the repository root (.gitignore: it travels as a carried path)
BUDGET_MB = 36.0  # the pack's share of the 64 MiB the device machine takes (the checkout is ≈ 25 MB)
QUALITIES = (70, 60, 50, 40, 30)  # WebP quality, tried in turn until the pack fits
TRAIN, TEST, HOLDOUT = 0, 1, 2  # a row's role: CNN training, the corpus's own test split, meta-model hold-out
LOCO = ("ckplus48", "muxspace", "sfew", "expw", "affectnet48")  # each held out in turn (issue #14)
TTA_ROTATIONS_DEG = (8.0, -8.0)  # degrees: the test-time views reported beside the plain ones (benchmarks/face_cnn_tta.py)
RECIPE = {  # fixed before any run; "steps" comes from the time budget, the same for every run of a call
    "widths": (64, 128, 256),
    "batch": 256,
    "lr": 2e-3,
    "weight_decay": 5e-4,
    "pct_start": 0.2,
    "label_smoothing": 0.1,
    "alpha": 0.5,  # corpus balance (balance_weights)
    "beta": 0.75,  # class balance
    "lowres_p": 0.3,
    "max_steps": 12_000,
    "seed": 0,
}


# ----------------------------------------------------------------------------- pack (CPU, here)
def encode(crops: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """WebP bytes of uint8 crops (N, S, S), concatenated, and their offsets (N + 1,) int64."""
    from PIL import Image

    blobs = []
    for c in crops:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(c)).save(buf, "WEBP", quality=quality, method=6)
        blobs.append(buf.getvalue())
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return np.frombuffer(b"".join(blobs), np.uint8), offsets


def decode(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The crops (N, S, S) uint8 of :func:`encode`'s output."""
    from PIL import Image

    raw = data.tobytes()
    return np.stack(
        [np.asarray(Image.open(io.BytesIO(raw[a:b])).convert("L")) for a, b in zip(offsets[:-1], offsets[1:])]
    )


def pack_rows(d: dict) -> dict:
    """Crops, labels, corpus index, group index and role (:data:`TRAIN` / :data:`TEST` / :data:`HOLDOUT`) of
    every face with landmarks in :func:`training.face_multicorpus.load_all`'s ``d``."""
    from training.face_multicorpus import ALL_CORPORA, training_rows

    out: dict[str, list] = {"crops": [], "y": [], "corpus": [], "group": [], "role": []}
    for i, name in enumerate(ALL_CORPORA):
        table, _, found, _, _ = d["corpora"][name]
        train, test = d["splits"][name]
        role = np.where(training_rows(d, name), TRAIN, np.where(test & ~train, TEST, HOLDOUT))
        keep = found & (train | test)
        _, group = np.unique(d["groups"][name], return_inverse=True)
        out["crops"].append(d["crops"][name][keep])
        out["y"].append(table["y"].to_numpy()[keep].astype(np.int8))
        out["corpus"].append(np.full(int(keep.sum()), i, np.int8))
        out["group"].append(group[keep].astype(np.int32))
        out["role"].append(role[keep].astype(np.int8))
    return {k: np.concatenate(v) for k, v in out.items()} | {"corpus_names": np.array(ALL_CORPORA)}


def write_pack(rows: dict, path: Path, *, budget_mb: float = BUDGET_MB, log=print) -> dict:
    """Encode ``rows['crops']`` at the best of :data:`QUALITIES` that fits ``budget_mb`` and save the pack."""
    for quality in QUALITIES:
        data, offsets = encode(rows["crops"], quality)
        log(f"WebP quality {quality}: {data.nbytes / 1e6:.1f} MB for {len(offsets) - 1} crops")
        if data.nbytes <= budget_mb * 1e6:
            break
    else:
        raise SystemExit(f"the crops do not fit {budget_mb} MB even at WebP quality {QUALITIES[-1]}")
    meta = {k: v for k, v in rows.items() if k != "crops"}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, data=data, offsets=offsets, quality=np.int16(quality), **meta)
    return {"path": str(path), "n": int(len(offsets) - 1), "mb": round(path.stat().st_size / 1e6, 1), "quality": quality}


# ----------------------------------------------------------------------------- train (GPU there)
def load_pack(path: Path, *, smoke: bool = False) -> dict:
    """The pack's arrays with the crops decoded; ``smoke``: 48 rows of each corpus and role."""
    with np.load(path) as z:
        p = {k: z[k] for k in z.files}
    if smoke:
        rng = np.random.default_rng(0)
        keep = np.zeros(len(p["y"]), bool)
        for c in np.unique(p["corpus"]):
            for r in (TRAIN, TEST, HOLDOUT):
                idx = np.flatnonzero((p["corpus"] == c) & (p["role"] == r))
                keep[rng.permutation(idx)[:48]] = True
        rows = np.flatnonzero(keep)
        p["offsets"] = np.stack([p["offsets"][rows], p["offsets"][rows + 1]], 1)
        for k in ("y", "corpus", "group", "role"):
            p[k] = p[k][rows]
        p["crops"] = np.stack([decode(p["data"], o) for o in p["offsets"]])[:, 0]
    else:
        p["crops"] = decode(p["data"], p["offsets"])
    p["sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    return p


def train_one(p: dict, rows: np.ndarray, *, steps: int, device, batch: int = RECIPE["batch"], log=print):
    """A network trained on the pack's ``rows`` for ``steps`` batches (one-cycle AdamW, bf16 on a GPU)."""
    import torch

    from multimodal_fer.face.cnn import build, standardise_tensor
    from training.face_cnn import augment, balance_weights

    torch.manual_seed(RECIPE["seed"])
    gen = torch.Generator(device=device).manual_seed(RECIPE["seed"])
    net = build(RECIPE["widths"]).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, RECIPE["lr"], total_steps=steps, pct_start=RECIPE["pct_start"])
    crops = torch.from_numpy(p["crops"][rows]).to(device)
    ys = torch.from_numpy(p["y"][rows].astype(np.int64)).to(device)
    w = balance_weights(p["y"][rows].astype(np.int64), p["corpus"][rows], RECIPE["alpha"], RECIPE["beta"])
    w = torch.from_numpy(w / w.sum()).to(device)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=RECIPE["label_smoothing"])
    bf16 = device.type == "cuda"
    net.train()
    for step in range(steps):
        idx = torch.multinomial(w, batch, replacement=True, generator=gen)
        x = augment(standardise_tensor(crops[idx]), gen, lowres_p=RECIPE["lowres_p"]).contiguous(
            memory_format=torch.channels_last
        )
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(net(x), ys[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 1000 == 0 or step == steps - 1:
            log(f"  step {step + 1}/{steps}: loss {loss.item():.3f}")
    return net.eval()


def predict(net, crops: np.ndarray, device, *, rotations_deg: tuple[float, ...] = ()) -> np.ndarray:
    """Softmax probabilities (N, 7), mean of each crop and its mirror image, as the run-time predicts; with
    ``rotations_deg``, also of the crop turned by each angle and its mirror (test-time views)."""
    import torch

    from multimodal_fer.face.cnn import standardise_tensor
    from training.face_cnn import fixed_view

    out = []
    with torch.inference_mode():
        for s in range(0, len(crops), 1024):
            x = standardise_tensor(torch.from_numpy(crops[s : s + 1024]).to(device))
            views = [x] + [fixed_view(x, rotation_deg=d) for d in rotations_deg]
            p = torch.stack([torch.softmax(net(v), 1) for x_ in views for v in (x_, torch.flip(x_, dims=[3]))]).mean(0)
            out.append(p.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, N_EMOTIONS), np.float32)


def scores(y: np.ndarray, proba: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class recall and the confusion matrix (rows: truth) over :data:`EMOTIONS`."""
    pred = proba.argmax(1)
    cm = np.zeros((N_EMOTIONS, N_EMOTIONS), np.int64)
    np.add.at(cm, (y, pred), 1)
    tp, support, called = np.diag(cm), cm.sum(1), cm.sum(0)
    recall = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
    precision = np.where(called > 0, tp / np.maximum(called, 1), 0.0)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    present = support > 0
    return {
        "n": int(len(y)),
        "accuracy": round(float((pred == y).mean()), 4) if len(y) else None,
        "macro_f1": round(float(f1[present].mean()), 4) if present.any() else None,
        "recall": {e: (None if math.isnan(r) else round(float(r), 4)) for e, r in zip(EMOTIONS, recall)},
        "confusion": cm.tolist(),
    }


def plan_steps(p: dict, budget_s: float, n_runs: int, device, *, log=print) -> int:
    """Steps per run that fit ``budget_s`` for ``n_runs`` runs: timed on 30 steps of a throwaway network."""
    import torch

    rows = np.flatnonzero(p["role"] == TRAIN)
    t0 = time.perf_counter()
    train_one(p, rows, steps=10, device=device, log=lambda _: None)  # warm-up (kernels, autotuning)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    train_one(p, rows, steps=30, device=device, log=lambda _: None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - t1) / 30
    steps = int(min(RECIPE["max_steps"], budget_s / n_runs / per_step))
    log(f"{per_step * 1000:.1f} ms a step (warm-up {t1 - t0:.1f} s): {steps} steps a run, {n_runs} runs")
    return max(steps, 1)


def run_all(p: dict, *, budget_s: float, device, smoke: bool, log=print) -> tuple[dict, object]:
    """Every held-out corpus of :data:`LOCO` and then all corpora: metrics per run, and the final network."""
    from training.face_cnn import adapt_batch_norm

    names = [str(n) for n in p["corpus_names"]]
    steps = 3 if smoke else plan_steps(p, budget_s, len(LOCO) + 1, device, log=log)
    batch = 16 if smoke else RECIPE["batch"]
    report: dict = {"steps": steps, "batch": batch, "loco": {}, "loco_tta": {}, "loco_adabn": {},
                    "tta_rotations_deg": TTA_ROTATIONS_DEG}
    for held in LOCO:
        c = names.index(held)
        t0 = time.perf_counter()
        log(f"held out: {held}")
        rows = np.flatnonzero((p["role"] == TRAIN) & (p["corpus"] != c))
        net = train_one(p, rows, steps=steps, device=device, batch=batch, log=log)
        test = np.flatnonzero(p["corpus"] == c)  # every face of the corpus: the network never saw it
        y_test = p["y"][test].astype(np.int64)
        report["loco"][held] = scores(y_test, predict(net, p["crops"][test], device))
        report["loco_tta"][held] = scores(y_test, predict(net, p["crops"][test], device, rotations_deg=TTA_ROTATIONS_DEG))
        adapted = adapt_batch_norm(net, p["crops"][test], batch=1024)  # the held-out corpus's own batch-norm statistics
        report["loco_adabn"][held] = scores(y_test, predict(adapted, p["crops"][test], device))
        report["loco"][held]["seconds"] = round(time.perf_counter() - t0, 1)
        log(f"  {held}: accuracy {report['loco'][held]['accuracy']} (with the test-time rotations "
            f"{report['loco_tta'][held]['accuracy']}, with its batch-norm statistics "
            f"{report['loco_adabn'][held]['accuracy']}), macro-F1 {report['loco'][held]['macro_f1']}")
    log("all corpora")
    net = train_one(p, np.flatnonzero(p["role"] == TRAIN), steps=steps, device=device, batch=batch, log=log)
    report["final"] = {}
    for i, name in enumerate(names):  # the final network on each corpus's own test split, where it has one
        test = np.flatnonzero((p["corpus"] == i) & (p["role"] == TEST))
        if len(test):
            report["final"][name] = scores(p["y"][test].astype(np.int64), predict(net, p["crops"][test], device))
    new = [n for n in ("sfew", "expw", "affectnet48") if report["loco"].get(n, {}).get("accuracy") is not None]
    for key in ("loco", "loco_tta", "loco_adabn"):  # as the run-time predicts; test-time rotations; AdaBN
        mean = np.mean([report[key][n]["accuracy"] for n in new])
        report[f"{key}_mean_accuracy_new_corpora"] = round(float(mean), 4)
    report["min_recall_loco"] = min(
        (r for n in report["loco"].values() for r in n["recall"].values() if r is not None), default=None
    )
    return report, net


def train_command(args) -> int:
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    p = load_pack(Path(args.pack), smoke=args.smoke)
    print(f"pack {p['sha256']}: {len(p['y'])} crops decoded in {time.perf_counter() - t0:.1f} s; device {device}")
    report, net = run_all(p, budget_s=args.budget_s, device=device, smoke=args.smoke, log=print)
    state = {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()}
    np.savez_compressed(out / "face_cnn_device.npz", **state)
    report |= {
        "recipe": {**RECIPE, "widths": list(RECIPE["widths"])},
        "pack": {"sha256": p["sha256"], "n": int(len(p["y"])), "quality": int(p["quality"])},
        "device": str(torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"),
        "torch": torch.__version__,
        "smoke": bool(args.smoke),
        "seconds": round(time.perf_counter() - t0, 1),
        "command": "python3 -m training.face_device train --pack .devicepack/faces.npz --out $OUT",
        "note": "faces with landmarks only (the crops the run-time's CNN sees); images without landmarks are "
        "not in the pack, so these accuracies are not the product path's (mfer evaluate face) numbers",
    }
    (out / "face_device.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k not in ("loco", "final")}, indent=1))
    return 0


def pack_command(args) -> int:
    from training.face_multicorpus import load_all

    d = load_all(Path(args.data))
    print(json.dumps(write_pack(pack_rows(d), Path(args.out), budget_mb=args.budget_mb)))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.face_device", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    pk = sub.add_parser("pack", help="crops of every face corpus -> one WebP pack (here, CPU)")
    pk.add_argument("--data", default="../shared/data/faces")
    pk.add_argument("--out", default=str(PACK))
    pk.add_argument("--budget-mb", type=float, default=BUDGET_MB)
    tr = sub.add_parser("train", help="leave-one-corpus-out and the final network (GPU machine)")
    tr.add_argument("--pack", default=str(PACK))
    tr.add_argument("--out", required=True)
    tr.add_argument("--budget-s", type=float, default=420.0, help="training time for all runs together, s")
    tr.add_argument("--smoke", action="store_true", help="a few images, 3 steps of 16 a run (a test of the command)")
    tr.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU is present")
    args = ap.parse_args(argv)
    return pack_command(args) if args.cmd == "pack" else train_command(args)


if __name__ == "__main__":
    raise SystemExit(main())
