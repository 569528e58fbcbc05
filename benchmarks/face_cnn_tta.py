"""Test-time views for face 0.4.0's CNN member: does averaging shifted, zoomed or rotated copies transfer?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_cnn_tta.py [--data DIR] \
        [--out benchmarks/results/face_cnn_tta.json]

The CNNs were trained with random rotation (±15°), zoom (±12 %) and shift (±8 % of the side), so a
face seen through a few fixed such views is still a face they know; the mean of their softmax rows is
the usual test-time augmentation. The CNN member alone (argmax of the mean of its probabilities, both
seeds of the shipped artefact, each view with its mirror image) is scored on the same sets as
``benchmarks/face_cnn_views.py``: the meta hold-out of ``training.face`` (2,948 training faces the CNNs
never trained on; where a variant is *chosen*) and the faces with landmarks of SFEW, ExpW and
AffectNet-48, which no CNN of this project trained on (the headline, reported, not used to choose).
FER2013 PublicTest is not used.

Views (``GEOMETRY``: zoom, rotation in degrees, shift x / y as a fraction of the half-side, as
``torch.nn.functional.affine_grid`` takes them; border padding as in training). Each variant is the
mean over its passes (views, mostly each with its mirror image) × 2 seeds; ``passes_per_face`` is its
cost in CNN passes (face 0.4.0: 4). The per-view probabilities are cached in ``.cache/face`` under the artefact's version, so a
rerun with another variant takes seconds; ≈ 35 min on 2 cores without it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.face_cnn_views import LOCO, cached_probabilities, shipped_cnns_and_sets  # noqa: E402
from multimodal_fer.paths import REPO_DIR, SHARED_DATA  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_cnn_tta.py"
BATCH = 256  # crops per forward pass
SHIFT = 0.08  # of the half-side: ≈ 2 px of the 48 px crop
ZOOM = 0.10  # ± 10 %
ROTATE_DEG = 8.0  # ± 8 degrees

#: view name -> (zoom, rotation in degrees, shift x, shift y)
GEOMETRY = {"crop": (1.0, 0.0, 0.0, 0.0),
            "shift_x+": (1.0, 0.0, SHIFT, 0.0), "shift_x-": (1.0, 0.0, -SHIFT, 0.0),
            "shift_y+": (1.0, 0.0, 0.0, SHIFT), "shift_y-": (1.0, 0.0, 0.0, -SHIFT),
            "zoom_in": (1.0 + ZOOM, 0.0, 0.0, 0.0), "zoom_out": (1.0 - ZOOM, 0.0, 0.0, 0.0),
            "rotate+": (1.0, ROTATE_DEG, 0.0, 0.0), "rotate-": (1.0, -ROTATE_DEG, 0.0, 0.0)}


def both_sides(*views: str) -> tuple[str, ...]:
    """``"<view>/<side>"`` of each view, with its mirror image."""
    return tuple(f"{v}/{side}" for v in views for side in ("crop", "mirror"))


#: variant -> the ``"<view>/<crop|mirror>"`` passes every seed makes (the last two: rotations at face 0.4.0's cost)
VARIANTS = {"crop_mirror (0.4.0)": both_sides("crop"),
            "shifts": both_sides("crop", "shift_x+", "shift_x-", "shift_y+", "shift_y-"),
            "zooms": both_sides("crop", "zoom_in", "zoom_out"),
            "rotations": both_sides("crop", "rotate+", "rotate-"),
            "zooms_rotations": both_sides("crop", "zoom_in", "zoom_out", "rotate+", "rotate-"),
            "all_nine": both_sides(*GEOMETRY),
            "rotations_no_mirror": ("rotate+/crop", "rotate-/crop"),
            "rotation_mirror_pair": ("rotate+/crop", "rotate-/mirror")}


def view(x, geometry: tuple[float, float, float, float]):
    """One fixed view (``GEOMETRY``'s zoom, rotation, shift x, shift y) of a batch (N, 1, S, S) of standardised
    crops: :func:`training.face_cnn.fixed_view` (the identity returns ``x``)."""
    from training.face_cnn import fixed_view

    zoom, deg, dx, dy = geometry
    return fixed_view(x, zoom=zoom, rotation_deg=deg, shift_x=dx, shift_y=dy)


def view_probabilities(nets, crops: np.ndarray) -> dict[str, np.ndarray]:
    """``{"<seed>/<view>/<crop|mirror>": (N, 7)}`` softmax rows of every network, view and mirror."""
    import torch

    from multimodal_fer.face import cnn

    out: dict[str, list] = {}
    with torch.inference_mode():
        for s in range(0, len(crops), BATCH):
            xb = cnn.standardise(crops[s : s + BATCH])
            for name, g in GEOMETRY.items():
                v = view(xb, g)
                for side, vv in (("crop", v), ("mirror", torch.flip(v, dims=[3]))):
                    for i, net in enumerate(nets):
                        out.setdefault(f"{i}/{name}/{side}", []).append(torch.softmax(net(vv), 1).double().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def ms_per_pass(nets, crops: np.ndarray) -> float:
    """Median milliseconds of one CNN pass a face on one thread, in the run-time's batches
    (``cnn.INFER_BATCH``), after one warm-up pass (five timings)."""
    import torch

    from multimodal_fer.face import cnn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = cnn.standardise(crops[: cnn.INFER_BATCH])
        times = []
        with torch.inference_mode():
            nets[0](x)
            for _ in range(5):
                t0 = time.perf_counter()
                nets[0](x)
                times.append((time.perf_counter() - t0) * 1000 / len(x))
    finally:
        torch.set_num_threads(threads)
    return round(float(np.median(times)), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "faces")
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "face_cnn_tta.json")
    args = ap.parse_args(argv)
    from training import face as T

    t0 = time.perf_counter()
    version, nets, sets = shipped_cnns_and_sets(args.data)
    results: dict[str, dict] = {}
    recall: dict[str, dict] = {k: {} for k in sets}  # lowest class recall of each variant
    for key, (x, y) in sets.items():
        p = cached_probabilities(T.CACHE_DIR / f"tta-{version}-{key}-{len(y)}.npz", view_probabilities, nets, x)
        results[key] = {"n": int(len(y))}
        for variant, views in VARIANTS.items():
            q = np.mean([p[f"{i}/{v}"] for i in range(len(nets)) for v in views], axis=0)
            pred = q.argmax(1)
            results[key][variant] = round(float((pred == y).mean()), 4)
            recall[key][variant] = round(min(float((pred[y == k] == k).mean()) for k in np.unique(y)), 4)
        print(key, results[key], flush=True)
    loco_mean = {v: round(float(np.mean([results[k][v] for k in LOCO])), 4) for v in VARIANTS}
    chosen = max(VARIANTS, key=lambda v: results["meta_holdout"][v])
    payload = {"model_version": version, "results": results, "loco_mean": loco_mean,
               "lowest_class_recall": recall,
               "chosen_on_meta_holdout": chosen,
               "geometry": {k: dict(zip(("zoom", "rotation_deg", "shift_x", "shift_y"), g)) for k, g in GEOMETRY.items()},
               "variants": {k: list(v) for k, v in VARIANTS.items()},
               "passes_per_face": {k: len(nets) * len(v) for k, v in VARIANTS.items()},
               "ms_per_pass_one_thread": ms_per_pass(nets, sets["meta_holdout"][0]),
               "python": platform.python_version(), "command": COMMAND,
               "seconds": round(time.perf_counter() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print("LOCO mean (faces with landmarks):", loco_mean, "| chosen on the meta hold-out:", chosen)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
