"""Batch-norm statistics of the target faces (AdaBN) for face 0.4.0's CNN member: does it transfer?

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/face_cnn_adabn.py [--data DIR] \
        [--out benchmarks/results/face_cnn_adabn.json] [--plot docs/img/face_adabn.png] [--plot-only]

Every convolution of the CNN is followed by batch normalisation, whose mean and variance were estimated on
the training faces (mostly FER2013). *AdaBN* (Li et al., 2016) re-estimates them on unlabelled faces of the
target domain and changes nothing else: no labels, no training. A site's recordings, or one session's frames,
would be such faces. Variants (all fixed before the first run), the CNN member alone (both seeds, crop and
mirror image, argmax of the mean of its softmax rows, as :func:`multimodal_fer.face.cnn.predict_proba`):

* ``plain``: face 0.4.0 as shipped;
* ``corpus``: statistics of the whole target set (every face, crop and mirror);
* ``corpus_half``: the mean of the training and the target statistics;
* ``chunk_256`` / ``chunk_64``: the target set in random chunks (seed 0) of 256 / 64 faces (a remainder joins
  the last chunk), each chunk adapted on itself alone: a site's small batch, or a session's frames;
* ``label_shift_em`` (added after the first run, reported, outside the rule): no change to the network, the class
  prior of the target estimated by EM from the plain probabilities (:func:`label_shift_em`; the source prior: the
  mean plain probability on the meta hold-out) and the posteriors re-weighted to it.

Part 1, corpora no CNN of this project saw: the faces with landmarks of SFEW, ExpW and AffectNet-48 (the
headline; leave-one-corpus-out sets of ``benchmarks/face_cnn_views.py``), and the meta hold-out of
``training.face`` (2,948 training faces the CNNs never trained on: an in-domain check that adapting costs
nothing at home). Rule, fixed before the run: a variant helps if it raises the mean of the three unseen corpora
by at least one point, lowers none of them and costs the meta hold-out at most half a point.

Part 2, sessions of one person: the stand-in CNN of ``benchmarks/face_calibration.py`` (trained on FER2013
alone, so CK+48 and muxspace people are new to it) and the shipped CNN (which saw the CK+48 / muxspace training
subjects, not the held-out ones), each subject's faces with landmarks as one session, adapted on itself when it
has at least ``MIN_FACES`` faces (``full`` and ``half`` as above; smaller sessions unchanged); and single-emotion
pseudo-sessions (``SINGLE_SIZE`` training faces of one emotion, ``SINGLE_REPEATS`` per emotion, seed 0) for the
stand-in, the case where normalising on the session could take the emotion away.

Part 3, posed corpora as a whole: every CK+48 and muxspace face with landmarks, which the stand-in never saw,
scored plain and adapted on the whole corpus (all its people and emotions, as a site's recordings would be),
7 and 5 classes (``EMOTIONS_5``) and the share predicted *neutral*: the nearest this data comes to the issue's
posed-face corpora. Nothing is chosen on parts 2 and 3. FER2013 PublicTest is not read.
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

from benchmarks.face_cnn_views import LOCO, shipped_cnns_and_sets  # noqa: E402
from multimodal_fer.labels import EMOTIONS  # noqa: E402
from multimodal_fer.paths import REPO_DIR, SHARED_DATA  # noqa: E402

COMMAND = "OMP_NUM_THREADS=2 .venv/bin/python benchmarks/face_cnn_adabn.py"
BATCH = 256  # crops per forward pass
SEED = 0
CHUNKS = (256, 64)  # faces per adapted chunk
EM_ITERATIONS = 100  # label-shift EM (Saerens et al. 2002), part 1's last row
MIN_FACES = 8  # a subject's session is adapted from this many faces on
SINGLE_SIZE = 12  # faces per single-emotion pseudo-session (as benchmarks/face_calibration.py)
SINGLE_REPEATS = 20  # pseudo-sessions per emotion and corpus
SUBJECT_CORPORA = ("ckplus48", "muxspace")
VARIANTS = ("plain", "corpus", "corpus_half", *(f"chunk_{n}" for n in CHUNKS))


def adapted(net, crops: np.ndarray):
    """:func:`training.face_cnn.adapt_batch_norm` in batches of ``BATCH``: a copy of ``net`` with the batch-norm
    statistics of ``crops`` and their mirror images."""
    from training.face_cnn import adapt_batch_norm

    return adapt_batch_norm(net, crops, batch=BATCH)


def full_and_half(nets, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CNN member's probabilities (N, 7) with the crops' own batch-norm statistics (full) and with half the
    networks' own, half theirs (half); the statistics are estimated once for both."""
    from training.face_cnn import blend_batch_norm

    full = [adapted(n, crops) for n in nets]
    half = [blend_batch_norm(n, f, keep=0.5) for n, f in zip(nets, full)]
    return member_proba(full, crops), member_proba(half, crops)


def member_proba(nets, crops: np.ndarray) -> np.ndarray:
    """Mean softmax rows (N, 7) of the networks on the crops and their mirror images (the run-time's CNN member)."""
    from multimodal_fer.face import cnn

    return cnn.predict_proba(list(nets), crops)


def chunks_of(n: int, size: int, rng) -> list[np.ndarray]:
    """Random disjoint chunks of ``size`` row positions of ``range(n)``; a remainder joins the last chunk."""
    order = rng.permutation(n)
    k = max(1, n // size)
    return [order[i * size : (i + 1) * size] if i < k - 1 else order[i * size :] for i in range(k)]


def variant_probas(nets, crops: np.ndarray, variants: tuple[str, ...] = VARIANTS) -> dict[str, np.ndarray]:
    """The CNN member's probabilities (N, 7) of each of ``variants`` (``VARIANTS`` entries)."""
    out = {}
    if "plain" in variants:
        out["plain"] = member_proba(nets, crops)
    if {"corpus", "corpus_half"} & set(variants):
        out["corpus"], out["corpus_half"] = full_and_half(nets, crops)
    for size in CHUNKS:
        if f"chunk_{size}" in variants:
            p = np.zeros((len(crops), 7))
            for rows in chunks_of(len(crops), size, np.random.default_rng(SEED)):
                p[rows] = member_proba([adapted(n, crops[rows]) for n in nets], crops[rows])
            out[f"chunk_{size}"] = p
    return {v: out[v] for v in variants}


def scores(p: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy and each present class's recall."""
    pred = p.argmax(1)
    return {"accuracy": round(float((pred == y).mean()), 4),
            "recall": {int(k): round(float((pred[y == k] == k).mean()), 4) for k in np.unique(y)}}


def unseen_corpora(nets, sets: dict, version: str, cache_dir: Path) -> dict:
    """Part 1: every variant on every set (probabilities cached in ``cache_dir`` under the artefact's version)."""
    out = {}
    for key, (x, y) in sets.items():
        cache = cache_dir / f"adabn-{version}-{key}-{len(y)}.npz"
        p = dict(np.load(cache)) if cache.exists() else {}
        missing = tuple(v for v in VARIANTS if v not in p)
        if missing:
            t = time.perf_counter()
            p.update(variant_probas(nets, x, missing))
            print(f"  {key} {', '.join(missing)}: {time.perf_counter() - t:.0f} s", flush=True)
            np.savez_compressed(cache, **p)
        out[key] = {"n": int(len(y)), **{v: scores(p[v], y) for v in VARIANTS}}
        if key == "meta_holdout":  # the model's own class prior, on training faces it never trained on
            prior = p["plain"].mean(axis=0)
        q, estimated = label_shift_em(p["plain"], prior=prior)
        out[key]["label_shift_em"] = {**scores(q, y), "estimated_prior": [round(float(v), 3) for v in estimated],
                                      "true_shares": [round(float(v), 3) for v in np.bincount(y, minlength=7) / len(y)]}
        print(key, {v: out[key][v]["accuracy"] for v in (*VARIANTS, "label_shift_em")}, flush=True)
    return out


def label_shift_em(p: np.ndarray, *, prior: np.ndarray, iters: int = EM_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """Saerens et al. (2002): the target's class prior by expectation-maximisation over unlabelled rows, and the
    posteriors (N, K) re-weighted to it, ``p · (w / prior)`` renormalised; ``p`` (N, K) posteriors under ``prior``
    (K,). Exact when ``p`` is calibrated and only the class shares differ between source and target."""
    w = prior.copy()
    q = p
    for _ in range(iters):
        q = p * (w / prior)
        q = q / q.sum(axis=1, keepdims=True)
        w = q.mean(axis=0)
    return q, w


def subject_sessions(nets, crops: np.ndarray, y: np.ndarray, subjects: np.ndarray) -> dict:
    """Part 2: accuracy with each subject's session (>= ``MIN_FACES`` faces) adapted on itself, full and half."""
    plain = member_proba(nets, crops)
    full, half = plain.copy(), plain.copy()
    adapted_rows = np.zeros(len(y), bool)
    for s in np.unique(subjects):
        rows = np.flatnonzero(subjects == s)
        if len(rows) >= MIN_FACES:
            full[rows], half[rows] = full_and_half(nets, crops[rows])
            adapted_rows[rows] = True
    acc = {k: round(float((q.argmax(1) == y).mean()), 4) for k, q in (("plain", plain), ("full", full), ("half", half))}
    on_adapted = {k: round(float((q[adapted_rows].argmax(1) == y[adapted_rows]).mean()), 4)
                  for k, q in (("plain", plain), ("full", full), ("half", half))} if adapted_rows.any() else {}
    return {"faces": int(len(y)), "sessions": int(len(np.unique(subjects))),
            "adapted_faces": int(adapted_rows.sum()), "accuracy": acc, "accuracy_adapted_sessions": on_adapted}


def single_emotion(nets, crops: np.ndarray, y: np.ndarray) -> dict:
    """Part 2: accuracy of single-emotion pseudo-sessions (``SINGLE_SIZE`` faces of one emotion), each adapted on itself."""
    rng = np.random.default_rng(SEED)
    hits: dict[str, list] = {"plain": [], "full": [], "half": []}
    for k in np.unique(y):
        pool = np.flatnonzero(y == k)
        if len(pool) < SINGLE_SIZE:
            continue
        for _ in range(SINGLE_REPEATS):
            rows = rng.choice(pool, SINGLE_SIZE, replace=False)
            full, half = full_and_half(nets, crops[rows])
            for name, q in (("plain", member_proba(nets, crops[rows])), ("full", full), ("half", half)):
                hits[name].append(q.argmax(1) == k)
    return {k: round(float(np.mean(v)), 4) for k, v in hits.items()}


def people(data: Path, shipped: list, stand_in) -> dict:
    """Part 2 for both networks on the subject corpora (training subjects: new to the stand-in only)."""
    from benchmarks import face_calibration as FC
    from training import face as T

    out: dict = {}
    for name in SUBJECT_CORPORA:
        table, _, found, crops = FC.corpus(data, name)
        train, test = T.subject_split(table)
        y, subj = table["y"].to_numpy(), table["subject"].astype(str).to_numpy()
        out[name] = {}
        for label, nets, parts in (("stand_in", [stand_in], (("training_subjects", train), ("held_out_subjects", test))),
                                   ("face_0.4.0", shipped, (("held_out_subjects", test),))):
            for part, mask in parts:
                rows = np.flatnonzero(mask & found)
                out[name][f"{label}/{part}"] = subject_sessions(nets, crops[rows], y[rows], subj[rows])
                print(name, label, part, out[name][f"{label}/{part}"]["accuracy"], flush=True)
        rows = np.flatnonzero(train & found)
        out[name]["stand_in/single_emotion_sessions"] = single_emotion([stand_in], crops[rows], y[rows])
        print(name, "single emotion", out[name]["stand_in/single_emotion_sessions"], flush=True)
    return out


PLOTTED = (("plain", "face 0.4.0"), ("corpus", "whole corpus's statistics"), ("corpus_half", "half own, half corpus"))


def plot(payload: dict, path: Path) -> None:
    """Per-class recall on each unseen corpus, plain and adapted (``PLOTTED``), as bars: ``path`` (PNG)."""
    import os

    os.environ.setdefault("MPLCONFIGDIR", str(REPO_DIR / ".cache" / "matplotlib"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    emotions = payload["emotions_by_index"]
    fig, axes = plt.subplots(1, len(LOCO), figsize=(12, 3.6), sharey=True)
    width = 0.8 / len(PLOTTED)
    for ax, corpus in zip(axes, LOCO):
        res = payload["unseen_corpora"][corpus]
        for j, (variant, label) in enumerate(PLOTTED):
            recall = res[variant]["recall"]
            xs = [i + (j - (len(PLOTTED) - 1) / 2) * width for i in range(len(emotions))]
            ax.bar(xs, [recall.get(str(i), 0.0) for i in range(len(emotions))], width, color=f"C{j}",
                   label=f"{label} ({res[variant]['accuracy']:.3f})")
        ax.axhline(0.30, color="k", lw=0.8, ls="--")
        ax.set_xticks(range(len(emotions)), emotions, rotation=45, fontsize=8)
        ax.set_title(f"{corpus} ({res['n']} faces)", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", title="accuracy", title_fontsize=7)
    axes[0].set_ylabel("recall (dashed: the issue's 0.30 floor)")
    axes[0].set_ylim(0, 1.3)
    fig.suptitle("CNN member on corpora it never saw: its own batch-norm statistics vs the target's (AdaBN)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def five_class_accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Accuracy over ``EMOTIONS_5`` as ``mfer evaluate face`` counts it (rows labelled with one of the five, argmax
    over those five columns)."""
    from multimodal_fer.face.evaluate import _accuracy_5class

    return _accuracy_5class([EMOTIONS[k] for k in y], p, np.ones(len(y), bool))[0]


def posed_corpora(data: Path, stand_in) -> dict:
    """Part 3: every face with landmarks of each subject corpus, which the stand-in never saw, as one whole
    corpus (all its people and emotions, like a site's recordings): plain, and adapted on the whole corpus."""
    from benchmarks import face_calibration as FC

    out = {}
    for name in SUBJECT_CORPORA:
        table, _, found, crops = FC.corpus(data, name)
        x, y = crops[found], table["y"].to_numpy()[found]
        out[name] = {"n": int(len(y))}
        for variant, p in variant_probas([stand_in], x, ("plain", "corpus", "corpus_half")).items():
            out[name][variant] = {**scores(p, y), "accuracy_5": five_class_accuracy(p, y),
                                  "share_predicted_neutral": round(float((p.argmax(1) == 0).mean()), 4)}
        print(name, "whole corpus, stand-in", {v: out[name][v]["accuracy"] for v in ("plain", "corpus", "corpus_half")},
              flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA)
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "face_cnn_adabn.json")
    ap.add_argument("--plot", type=Path, default=REPO_DIR / "docs" / "img" / "face_adabn.png")
    ap.add_argument("--plot-only", action="store_true", help="redraw --plot from the --out JSON (seconds)")
    args = ap.parse_args(argv)
    if args.plot_only:
        plot(json.loads(args.out.read_text()), args.plot)
        print(f"wrote {args.plot}")
        return 0

    from benchmarks import face_calibration as FC
    from training import face as T

    t0 = time.perf_counter()
    version, nets, sets = shipped_cnns_and_sets(args.data / "faces")
    unseen = unseen_corpora(nets, sets, version, T.CACHE_DIR)
    loco_mean = {v: round(float(np.mean([unseen[k][v]["accuracy"] for k in LOCO])), 4)
                 for v in (*VARIANTS, "label_shift_em")}
    helps = {v: bool(loco_mean[v] - loco_mean["plain"] >= 0.01
                     and all(unseen[k][v]["accuracy"] >= unseen[k]["plain"]["accuracy"] for k in LOCO)
                     and unseen["meta_holdout"][v]["accuracy"] >= unseen["meta_holdout"]["plain"]["accuracy"] - 0.005)
             for v in VARIANTS[1:]}
    print("LOCO mean (faces with landmarks):", loco_mean, "| helps:", helps, flush=True)
    stand_in = FC.proxy_cnn(args.data / "faces", log=lambda *a: None)
    sessions = people(args.data / "faces", nets, stand_in)
    posed = posed_corpora(args.data / "faces", stand_in)
    payload = {"model_version": version, "unseen_corpora": unseen, "loco_mean": loco_mean, "helps": helps,
               "sessions": sessions,
        "posed_corpora_stand_in": posed, "variants": list(VARIANTS), "chunks": list(CHUNKS), "min_faces": MIN_FACES,
               "single_size": SINGLE_SIZE, "single_repeats": SINGLE_REPEATS, "emotions_by_index": list(EMOTIONS),
               "python": platform.python_version(), "command": COMMAND,
               "seconds": round(time.perf_counter() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    plot(json.loads(args.out.read_text()), args.plot)  # as --plot-only draws it (JSON keys are strings)
    print(f"wrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
