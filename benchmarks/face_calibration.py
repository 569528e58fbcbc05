"""Per-session face calibration (:mod:`multimodal_fer.face.calibration`): choose its settings on
training subjects, then measure plain vs calibrated on held-out subjects and on the CREMA-D clips.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_calibration.py [--data DIR] [--out benchmarks/results/face_calibration.json]

Data (``../shared/data``): CK+48 and muxspace with their subject ids, split exactly as
``training.face`` splits them (``GroupShuffleSplit`` by subject, seed 0; landmarks, features and
crops from its cache ``.cache/face/``, built here when missing); the real CREMA-D clips
(``av/cremad/video_flv``, one actor, emotion in the file name) through the pipeline's face stream.

A *session* is all images of one subject (one recording for a clip); calibration applies to
sessions of at least ``min_frames`` faces and leaves the others as they are.

The committed model has seen the CK+48 / muxspace training subjects, so on them a person's own bias
is learnt away and calibration has nothing to remove; on new people it has. Settings are therefore
chosen on a **stand-in** that has never seen any of these people (:func:`proxy_cnn`: the CNN member's
recipe, shorter, trained on the committed CNN's FER2013 faces alone; the CNN carries most of the
ensemble's weight).

1. ``REFERENCE_CLR``: mean centred log-ratio of a model over faces it never trained on
   (``REFERENCE_CORPUS``, ``REFERENCE_PER_CLASS`` per emotion; no person ids, so it cannot be used to
   choose anything else), for the stand-in and for the committed model each.
2. Selection, on the stand-in's probabilities of the **training** subjects only: every grid setting is
   scored by the accuracy gain on their sessions, provided single-emotion pseudo-sessions
   (``SINGLE_SIZE`` training faces of one emotion) lose nothing. Ties: the weakest setting. Plain
   centring on the session mean (assumes every emotion equally often) is reported for comparison.
3. Report (never used for choosing): plain vs calibrated on the held-out subjects (committed model
   and stand-in) and on the CREMA-D clips (each clip a session as in the pipeline, and the six clips
   of the actor as one session).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from multimodal_fer.evaluation import classification_metrics  # noqa: E402
from multimodal_fer.face import calibration as CAL  # noqa: E402
from multimodal_fer.labels import EMOTIONS, N_EMOTIONS, to_canonical  # noqa: E402
from multimodal_fer.paths import REPO_DIR, SHARED_DATA  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_calibration.py"
GRID = {"strength": (0.5, 1.0), "max_shift": (0.5, 1.0, 2.0), "prior_frames": (0.0, 8.0), "min_frames": (4, 8)}
SUBJECT_CORPORA = ("ckplus48", "muxspace")  # the corpora with person ids
SINGLE_SIZE = 12  # faces per single-emotion pseudo-session
SINGLE_REPEATS = 20  # pseudo-sessions per emotion and corpus
SEED = 0
REFERENCE_CORPUS = "expw"  # faces the model never trained on (no person ids): the reference population
REFERENCE_PER_CLASS = 100  # images per emotion drawn from it (seed SEED)
PROXY_EPOCHS = 20  # epochs of the out-of-sample stand-in CNN (the committed members: 70)
CREMAD_CODES = {"ANG": "angry", "DIS": "disgusted", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}


@functools.cache
def corpus(data: Path, name: str) -> tuple:
    """One corpus's table, landmark features, landmark mask and aligned crops (``training.face``'s caches), read
    once for both models."""
    from training import face as T

    table, x, found, _, _ = T.corpus_features(data / name)
    return table, x, found, T.corpus_crops(data / name)


def corpus_probabilities(data: Path, name: str, model) -> dict:
    """The committed model's probabilities (NaN rows: not scored) of one corpus, its labels, subjects and split."""
    from training import face as T

    table, x, found, crops = corpus(data, name)
    fb_crops, fb_source = T.corpus_fallback(data / name)
    proba = np.full((len(x), N_EMOTIONS), np.nan)
    proba[found] = model.predict_proba(x[found], crops[found])
    fb_p, fb_rows = T.fallback_probabilities(model, found, fb_crops, fb_source)
    proba[fb_rows] = fb_p[fb_rows]
    train, test = T.subject_split(table)
    return {"proba": proba, "y": table["y"].to_numpy(), "subject": table["subject"].astype(str).to_numpy(),
            "train": train, "test": test}


def proxy_cnn(data: Path, *, log=print):
    """A stand-in for the committed model on people it has never seen: the CNN member's recipe
    (``training.face.CNN_RECIPE``, shorter: ``PROXY_EPOCHS``) trained on the FER2013 Training faces the
    committed CNN trained on, **without** CK+48 and muxspace, so its output on their subjects is out of
    sample. Cached in ``.cache/face`` like the member; returns the network (eval mode)."""
    from multimodal_fer.face import cnn
    from training import face as T

    table, _, found, _, _ = T.corpus_features(data / "fer2013")
    crops = T.corpus_crops(data / "fer2013")
    train = (table["usage"] == "Training").to_numpy()
    holdout = T.meta_holdout(table, train)
    fit, val, y = train & ~holdout & found, holdout & found, table["y"].to_numpy()
    recipe = {**T.CNN_RECIPE, "version": "cnn-v2-proxy", "epochs": PROXY_EPOCHS}
    state, history = T.fit_cnn_member(crops[fit], y[fit], crops[val], y[val], recipe=recipe, log=log)
    log(f"proxy cnn: {len(history)} epochs, FER2013 meta hold-out accuracy {history[-1].get('val_accuracy')}")
    return cnn.from_state(state, recipe["widths"])


def reference_draw(table) -> np.ndarray:
    """Row positions of the reference images in a table of ``REFERENCE_CORPUS``'s canonical labels (in
    ``labels.csv`` order): ``REFERENCE_PER_CLASS`` per emotion, seed ``SEED``; the same images for either model."""
    positions = table.assign(_row=np.arange(len(table)))
    drawn = positions.groupby(positions["label"].map(to_canonical), group_keys=False).apply(
        lambda t: t.sample(min(len(t), REFERENCE_PER_CLASS), random_state=SEED))
    return drawn["_row"].to_numpy()


def reference_probabilities(data: Path, model) -> np.ndarray:
    """The model's probabilities of the :func:`reference_draw` images that have landmarks."""
    import pandas as pd

    from multimodal_fer.face.evaluate import score_images

    table = pd.read_csv(data / REFERENCE_CORPUS / "labels.csv")
    table = table[table["label"].map(to_canonical).notna()]
    sample = table.iloc[reference_draw(table)]
    proba, found, _ = score_images(model, [data / REFERENCE_CORPUS / p for p in sample["path"]], fallback=False)
    return proba[found]


def calibrate_groups(proba: np.ndarray, groups: np.ndarray, options: CAL.CalibrationOptions) -> np.ndarray:
    """The run-time's per-session calibration (``mfer evaluate face --group-column``) of each group's scored rows."""
    from multimodal_fer.face.evaluate import calibrate_groups as per_group

    scored = np.isfinite(proba).all(axis=1)
    return per_group(proba, scored, [str(g) for g in groups], options=options)[0]


def accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    """Accuracy; a NaN row (no face) is an error."""
    ok = np.isfinite(proba).all(axis=1)
    return float(np.mean(ok & (np.nan_to_num(proba).argmax(axis=1) == y)))


def single_emotion_sessions(d: dict, rng) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-sessions of ``SINGLE_SIZE`` training faces of one emotion: probabilities (S, SINGLE_SIZE, 7), labels (S,)."""
    ok = np.isfinite(d["proba"]).all(axis=1) & d["train"]
    sessions, labels = [], []
    for k in range(N_EMOTIONS):
        rows = np.flatnonzero(ok & (d["y"] == k))
        if len(rows) < SINGLE_SIZE:
            continue
        for _ in range(SINGLE_REPEATS):
            sessions.append(d["proba"][rng.choice(rows, SINGLE_SIZE, replace=False)])
            labels.append(k)
    return np.array(sessions), np.array(labels)


def proxy_corpus(data: Path, name: str, net, *, rows: np.ndarray | None = None) -> dict:
    """The stand-in CNN's probabilities of one corpus's landmark faces (crop and mirror; NaN where no
    landmarks), put through the committed face calibration (``multimodal_fer.temperature``) as the
    pipeline's are; labels, subjects and ``training.face``'s split as :func:`corpus_probabilities`."""
    from multimodal_fer.face import cnn
    from multimodal_fer.temperature import SMOOTHING_FACE, TEMPERATURE_FACE, calibrate
    from training import face as T

    table, _, found, crops = corpus(data, name)
    rows = np.flatnonzero(found) if rows is None else rows
    proba = np.full((len(table), N_EMOTIONS), np.nan)
    proba[rows] = calibrate(cnn.predict_proba(net, crops[rows]), temperature=TEMPERATURE_FACE,
                            smoothing=SMOOTHING_FACE)
    out = {"proba": proba, "y": table["y"].to_numpy()}
    if "subject" in table:
        train, test = T.subject_split(table)
        out.update(subject=table["subject"].astype(str).to_numpy(), train=train, test=test)
    return out


def proxy_reference(data: Path, net) -> np.ndarray:
    """The stand-in's probabilities of the same reference images as :func:`reference_probabilities` (those
    with landmarks)."""
    table, _, found, _ = corpus(data, REFERENCE_CORPUS)
    rows = reference_draw(table)
    rows = rows[found[rows]]
    return proxy_corpus(data, REFERENCE_CORPUS, net, rows=rows)["proba"][rows]


def centre_groups(proba: np.ndarray, groups: np.ndarray, min_frames: int) -> np.ndarray:
    """Plain centring, for comparison only: each session's mean centred log-ratio subtracted from every
    frame (assumes a session shows every emotion equally); sessions under ``min_frames`` unchanged."""
    out = proba.copy()
    for g in np.unique(groups):
        rows = np.flatnonzero((groups == g) & np.isfinite(proba).all(axis=1))
        if len(rows) >= min_frames:
            z = CAL.centred_log_ratio(proba[rows])
            z -= z.mean(axis=0)
            e = np.exp(z - z.max(axis=1, keepdims=True))
            out[rows] = e / e.sum(axis=1, keepdims=True)
    return out


def selection_scores(corpora: dict, options: CAL.CalibrationOptions) -> dict:
    """Measurements of one setting on the stand-in's out-of-sample training subjects (module docstring)."""
    out = {}
    for name, d in corpora.items():
        rng = np.random.default_rng(SEED)
        tr = d["train"]
        p, y, g = d["proba"][tr], d["y"][tr], d["subject"][tr]
        single, single_y = single_emotion_sessions(d, rng)
        single_cal = np.array([CAL.calibrate_session(s, options=options) for s in single])

        def hits(q: np.ndarray, single_y: np.ndarray = single_y) -> float:
            return float(np.mean(q.argmax(axis=2) == single_y[:, None]))

        out[name] = {
            "plain": round(accuracy(p, y), 4),
            "calibrated": round(accuracy(calibrate_groups(p, g, options), y), 4),
            "single_emotion_plain": round(hits(single), 4),
            "single_emotion_calibrated": round(hits(single_cal), 4),
        }
    return out


def score(measured: dict) -> tuple[float, bool]:
    """Mean accuracy gain over the corpora, and whether single-emotion sessions lose nothing."""
    gain = np.mean([m["calibrated"] - m["plain"] for m in measured.values()])
    safe = all(m["single_emotion_calibrated"] >= m["single_emotion_plain"] for m in measured.values())
    return float(gain), safe


def metrics_pair(proba: np.ndarray, cal: np.ndarray, y: np.ndarray) -> dict:
    """Plain and calibrated accuracy, macro-F1 and per-class recall."""
    names = [EMOTIONS[k] for k in y]
    out = {}
    for key, q in (("plain", proba), ("calibrated", cal)):
        ok = np.isfinite(q).all(axis=1)
        pred = [EMOTIONS[int(np.argmax(r))] if f else None for r, f in zip(q, ok)]
        m = classification_metrics(names, pred, EMOTIONS)
        out[key] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                    "recall": {e: v["recall"] for e, v in m["per_class"].items() if v["support"]}}
    out["n"] = int(len(y))
    return out


def cremad(model, clips_dir: Path) -> dict:
    """Per-frame probabilities (face frames) and labels of the CREMA-D clips via the pipeline's face stream."""
    from multimodal_fer import media
    from multimodal_fer.face.stream import FACE_RAW_COLS, run_face

    out = {}
    for path in sorted(clips_dir.glob("*.flv")):
        label = CREMAD_CODES.get(path.stem.split("_")[2])
        if label is None:
            continue
        frames = run_face(path, fps=5.0, model=model, info=media.probe(path))
        frames = frames[frames["face_found"]]
        out[path.stem] = (frames[FACE_RAW_COLS].to_numpy(float), EMOTIONS.index(label))
    return out


def options_of(g: dict, reference: tuple[float, ...]) -> CAL.CalibrationOptions:
    """The :class:`CalibrationOptions` of one grid entry."""
    return CAL.CalibrationOptions(strength=g["strength"], max_shift=g["max_shift"], prior_frames=g["prior_frames"],
                                  min_frames=g["min_frames"], reference=reference)


def reference_of(proba: np.ndarray) -> tuple[float, ...]:
    """Mean centred log-ratio of a reference population's probabilities, rounded as ``REFERENCE_CLR``."""
    return tuple(round(float(v), 3) for v in CAL.centred_log_ratio(proba).mean(axis=0))


def choose(proxy: dict, reference: tuple[float, ...]) -> tuple[list, dict, dict]:
    """Score every grid setting on the stand-in's training subjects; the grid, the choice and the best active one."""
    grid = []
    off = {"strength": 0.0, "max_shift": GRID["max_shift"][0], "prior_frames": GRID["prior_frames"][0],
           "min_frames": CAL.MIN_FRAMES}
    for g in [off] + [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())]:
        measured = selection_scores(proxy, options_of(g, reference))
        gain, safe = score(measured)
        grid.append({**g, "gain": round(gain, 4), "single_emotion_safe": safe, "training_subjects": measured})
        print(f"  {g}: gain {gain:+.4f} safe {safe}", flush=True)

    # best gain among the safe settings; ties: the weakest (smallest strength x max_shift, then largest prior, min_frames)
    def rank(g: dict) -> tuple:
        return g["gain"], -g["strength"] * g["max_shift"], g["prior_frames"], g["min_frames"]

    best = max((g for g in grid if g["single_emotion_safe"]), key=rank)
    active_ones = [g for g in grid if g["strength"] > 0]  # for information: the best safe one, else the best
    active = max([g for g in active_ones if g["single_emotion_safe"]] or active_ones, key=rank)
    return grid, best, active


def main() -> int:
    from multimodal_fer.face.model import FaceModel

    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--data", type=Path, default=SHARED_DATA)
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "face_calibration.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    faces = args.data / "faces"
    net = proxy_cnn(faces)
    proxy = {name: proxy_corpus(faces, name, net) for name in SUBJECT_CORPORA}
    proxy_ref = reference_of(proxy_reference(faces, net))
    grid, best, active = choose(proxy, proxy_ref)
    print(f"chosen: {best}", flush=True)
    centring = {f"{name}_{part}": {"plain": round(accuracy(d["proba"][d[part]], d["y"][d[part]]), 4),
                                   "centred": round(accuracy(centre_groups(d["proba"][d[part]], d["subject"][d[part]],
                                                                           CAL.MIN_FRAMES), d["y"][d[part]]), 4)}
                for name, d in proxy.items() for part in ("train", "test")}
    print(f"stand-in, plain centring (sessions of {CAL.MIN_FRAMES}+ faces): {centring}", flush=True)

    model = FaceModel.load()
    committed = {name: corpus_probabilities(faces, name, model) for name in SUBJECT_CORPORA}
    ref_proba = reference_probabilities(faces, model)
    reference_t = reference_of(ref_proba)  # the committed model's (REFERENCE_CLR)
    print(f"reference_clr {dict(zip(EMOTIONS, reference_t))}", flush=True)
    chosen, candidate = options_of(best, reference_t), options_of(active, reference_t)
    matches_code = CAL.CalibrationOptions() == chosen
    held_out = {"chosen": held_out_report(committed, chosen), "best_active": held_out_report(committed, candidate),
                "stand_in_chosen": held_out_report(proxy, options_of(best, proxy_ref)),
                "stand_in_best_active": held_out_report(proxy, options_of(active, proxy_ref))}
    clips = cremad(model, args.data / "av" / "cremad" / "video_flv")
    cremad_report = {"chosen": cremad_report_of(clips, chosen), "best_active": cremad_report_of(clips, candidate)}
    report = {
        "model_version": model.version, "command": COMMAND,
        "rule": "shift = clip(strength * n/(n+prior_frames) * (mean clr of the session's faces - reference_clr), "
                "+-max_shift), zero-sum; every face frame's clr minus the shift, softmax; frames reading the "
                "session's plurality label moved only as far as they keep it; sessions under min_frames faces "
                "unchanged",
        "reference_clr": dict(zip(EMOTIONS, reference_t)),
        "reference_population": f"{REFERENCE_CORPUS}: {REFERENCE_PER_CLASS} images per emotion (seed {SEED}), "
                                f"{len(ref_proba)} with landmarks",
        "stand_in": {"what": f"the CNN member's recipe, {PROXY_EPOCHS} epochs, trained on the committed CNN's "
                             "FER2013 Training faces only (no CK+48, no muxspace): out of sample on their subjects; "
                             "crop + mirror, then the committed face temperature and smoothing",
                     "reference_clr": dict(zip(EMOTIONS, proxy_ref)),
                     "plain_centring": centring},
        "grid": grid,
        "chosen": {k: best[k] for k in GRID} | {"gain_on_training_subjects": best["gain"]},
        "best_active": {k: active[k] for k in GRID} | {"gain_on_training_subjects": active["gain"],
                                                        "single_emotion_safe": active["single_emotion_safe"]},
        "shipped_defaults_match_chosen": matches_code,
        "selection": "the stand-in's probabilities of the training subjects of CK+48 and muxspace (GroupShuffleSplit "
                     "of training.face), each subject a session: accuracy gain over plain, provided single-emotion "
                     f"pseudo-sessions ({SINGLE_SIZE} faces) lose nothing; strength 0 = off",
        "held_out_subjects": held_out,
        "cremad": cremad_report,
        "python": platform.python_version(), "seconds": round(time.perf_counter() - t0, 1),
    }
    for key in held_out:
        for name, r in held_out[key].items():
            print(f"{key} {name} held-out: {r['all_images']['plain']['accuracy']} -> "
                  f"{r['all_images']['calibrated']['accuracy']}", flush=True)
    for key, c in cremad_report.items():
        print(f"{key} CREMA-D frames, each clip a session: {c['each_clip_a_session']['plain']['accuracy']} -> "
              f"{c['each_clip_a_session']['calibrated']['accuracy']}; the actor one session: "
              f"{c['actor_one_session']['calibrated']['accuracy']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} (shipped defaults match the choice: {matches_code})")
    return 0


def held_out_report(corpora: dict, chosen: CAL.CalibrationOptions) -> dict:
    """Plain vs calibrated on the held-out subjects of each corpus (a subject = a session)."""
    held_out = {}
    for name, d in corpora.items():
        te = d["test"]
        p, y, g = d["proba"][te], d["y"][te], d["subject"][te]
        sizes = {s: int(np.sum(g == s)) for s in np.unique(g)}
        big = np.array([sizes[s] >= chosen.min_frames for s in g])
        cal = calibrate_groups(p, g, chosen)
        held_out[name] = {"subjects": len(sizes), "subjects_calibrated": sum(n >= chosen.min_frames
                                                                             for n in sizes.values()),
                          "all_images": metrics_pair(p, cal, y),
                          "images_of_calibrated_subjects": metrics_pair(p[big], cal[big], y[big])}
    return held_out


def cremad_report_of(clips: dict, chosen: CAL.CalibrationOptions) -> dict:
    """Plain vs calibrated on the CREMA-D frames: each clip a session (the pipeline), and the actor's clips as one."""
    per_clip_p, per_clip_c, ys, clip_rows = [], [], [], {}
    for stem, (p, k) in clips.items():
        c = CAL.calibrate_session(p, options=chosen)
        per_clip_p.append(p), per_clip_c.append(c), ys.append(np.full(len(p), k))
        clip_rows[stem] = {"label": EMOTIONS[k], "frames": int(len(p)),
                           "plain_clip_label": EMOTIONS[int(np.argmax(np.bincount(p.argmax(1), minlength=7)))],
                           "calibrated_clip_label": EMOTIONS[int(np.argmax(np.bincount(c.argmax(1), minlength=7)))]}
    p_all, y_all = np.concatenate(per_clip_p), np.concatenate(ys)
    actor = CAL.calibrate_session(p_all, options=chosen)
    return {"clips": clip_rows,
            "each_clip_a_session": metrics_pair(p_all, np.concatenate(per_clip_c), y_all),
            "actor_one_session": metrics_pair(p_all, actor, y_all)}


if __name__ == "__main__":
    sys.exit(main())
