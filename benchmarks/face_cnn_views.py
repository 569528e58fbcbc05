"""How face 0.4.0's CNN member was chosen: one seed or two, with or without the mirror image.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_cnn_views.py [--data DIR] \
        [--out benchmarks/results/face_cnn_views.json]

The CNN member alone (argmax of its probabilities), on

* the meta hold-out of ``training.face`` (2,948 training faces the CNNs never trained on; not a test split);
* the faces with landmarks of SFEW, ExpW and AffectNet-48, which no CNN of this project trained on
  (the leave-one-corpus-out test sets of ``benchmarks/face_loco.py``; the headline).

Variants, each a mean of softmax rows: the seed-0 CNN on the crop and its mirror image (face 0.3.0's
member), seed 1 the same way, both seeds on crop and mirror (4 passes a face: face 0.4.0), both seeds
with one view each (seed 0 on the crop, seed 1 on the mirror: 2 passes, face 0.3.0's cost) and both on
the crop alone (2 passes). The CNN weights come from the training cache (``python -m training.face``
trains them when absent: ≈ 45–65 min each on 2 cores). FER2013 PublicTest is not used here.
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

from multimodal_fer.paths import REPO_DIR, SHARED_DATA  # noqa: E402

LOCO = ("sfew", "expw", "affectnet48")
COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_cnn_views.py"


#: compared members: the per-view probabilities they average, ``"<seed><c|m>"`` (c: crop, m: mirror image);
#: each view is one CNN pass a face
VARIANTS = {"seed0_crop_mirror": ("0c", "0m"), "seed1_crop_mirror": ("1c", "1m"),
            "two_seeds_crop_mirror": ("0c", "0m", "1c", "1m"), "two_seeds_one_view_each": ("0c", "1m"),
            "two_seeds_crop_only": ("0c", "1c")}


def evaluation_sets(d: dict, tr: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{set: (crops (N, 48, 48) uint8, labels (N,))}``: the meta hold-out of ``training.face`` (``tr``:
    :func:`training.face.cnn_training_data`) and the faces with landmarks of each ``LOCO`` corpus (``d``:
    :func:`training.face_multicorpus.load_all`)."""
    sets = {"meta_holdout": (tr["ho_x"], tr["ho_y"])}
    for name in LOCO:
        table, _, found = d["corpora"][name][:3]
        sets[name] = (d["crops"][name][found], table["y"].to_numpy()[found])
    return sets


def cached_probabilities(cache: Path, compute, *args) -> dict[str, np.ndarray]:
    """The arrays saved in ``cache`` (an ``.npz``), or ``compute(*args)``'s, saved there first."""
    if cache.exists():
        return dict(np.load(cache))
    p = compute(*args)
    np.savez_compressed(cache, **p)
    return p


def shipped_cnns_and_sets(faces: Path) -> tuple[str, list, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The shipped face artefact's version, its CNN members (eval mode, one a seed) and :func:`evaluation_sets` of
    the corpora under ``faces`` (``../shared/data/faces``)."""
    import joblib

    from multimodal_fer.face import cnn
    from multimodal_fer.face.model import ARTEFACT_NAME, FACE_ARTEFACTS, FaceModel, cnn_states
    from multimodal_fer.labels import N_EMOTIONS
    from training import face as T
    from training import face_multicorpus as MC

    version = FaceModel.version_of_artefact(FACE_ARTEFACTS / ARTEFACT_NAME)
    spec = joblib.load(FACE_ARTEFACTS / ARTEFACT_NAME)["cnn"]
    nets = [cnn.from_state(s, tuple(spec["widths"]), N_EMOTIONS) for s in cnn_states(spec)]
    d = MC.load_all(faces, log=lambda *a: None)
    tr = T.cnn_training_data(d["corpora"], d["splits"], d["crops"])
    return version, nets, evaluation_sets(d, tr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "faces")
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "face_cnn_views.json")
    args = ap.parse_args(argv)
    from multimodal_fer.face import cnn
    from multimodal_fer.labels import N_EMOTIONS
    from training import face as T
    from training import face_multicorpus as MC

    t0 = time.perf_counter()
    d = MC.load_all(args.data, log=lambda *a: None)
    tr = T.cnn_training_data(d["corpora"], d["splits"], d["crops"])
    nets = [cnn.from_state(T.fit_cnn_member(tr["x"], tr["y"], tr["ho_x"], tr["ho_y"], seed=s)[0],
                           T.CNN_RECIPE["widths"], N_EMOTIONS) for s in T.CNN_SEEDS[:2]]
    sets = evaluation_sets(d, tr)
    results = {}
    for key, (x, y) in sets.items():
        p = {}
        for i, net in enumerate(nets):
            p[f"{i}c"] = cnn.predict_proba(net, x, mirror=False)
            p[f"{i}m"] = cnn.predict_proba(net, np.ascontiguousarray(x[:, :, ::-1]), mirror=False)
        results[key] = {"n": int(len(y)), **{k: round(float((np.mean([p[v] for v in views], axis=0).argmax(1) == y)
                                                             .mean()), 4) for k, views in VARIANTS.items()}}
        print(key, results[key], flush=True)
    loco_mean = {v: round(float(np.mean([results[k][v] for k in LOCO])), 4) for v in VARIANTS}
    payload = {"results": results, "loco_mean": loco_mean,
               "passes_per_face": {k: len(views) for k, views in VARIANTS.items()},
        "python": platform.python_version(), "command": COMMAND, "seconds": round(time.perf_counter() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print("LOCO mean (faces with landmarks):", loco_mean)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
