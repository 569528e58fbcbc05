"""MODEL_CARD.md of the voice model, from the training report (:mod:`training.voice_report`)."""

from __future__ import annotations

from training.voice_corpora import CORPORA


def _ece_rows(report: dict) -> str:
    c = report["leave_one_corpus_out_ece"]
    lines = ["| held-out corpus | n | ECE before | temperature, smoothing (fitted on the other two) | ECE after |",
             "|---|---|---|---|---|"]
    for n in CORPORA:
        r = c["per_group"][n]
        lines.append(f"| {n} | {r['n']} | {r['ece_before']:.3f} | {r['temperature_from_others']:.2f}, "
                     f"{r.get('smoothing_from_others', 0.0):.2f} | {r['ece_after']:.3f} |")
    lines.append(f"| **mean** | | **{c['ece_before_mean']:.3f}** | shipped: **{c['temperature']:.2f}, "
                 f"{c.get('smoothing', 0.0):.2f}** (all three) | **{c['ece_after_loo_mean']:.3f}** |")
    return "\n".join(lines)


def _recalibrated(report: dict) -> str:
    r = report.get("recalibrated")
    if not r:
        return ""
    acc = ", ".join(f"{n} {a:.3f}" for n, a in r["leave_one_corpus_out_accuracy"].items())
    return (f"\nRecalibrated {r['date']} (`{r['command']}`): {r['note']} The leave-one-corpus-out models of that "
            f"run scored {acc}; the leave-one-corpus-out and RAVDESS tables of this card are the training run's"
            + (", the robustness table this run's.\n" if r.get("robustness_recomputed") else ", and so is the "
               "robustness table.\n"))


def model_card(report: dict, loco_rows: str, recall_rows: str, robust_rows: str) -> str:
    loco, cv = report["leave_one_corpus_out"], report["ravdess_actor_cv"]
    base = report.get("baseline") or {}
    data_rows = "\n".join(
        f"| {n} | {d['n_clips']} | {d['n_speakers']} | {', '.join(d['classes'])} |" for n, d in report["data"].items()
    )
    gain = ""
    if base:
        new = (loco["nemo"]["accuracy"] + loco["emovo"]["accuracy"]) / 2
        old = (base["nemo"]["accuracy"] + base["emovo"]["accuracy"]) / 2
        gain = (f"\nOn the two corpora voice 0.2.0 never heard (nEMO, EMOVO), mean accuracy **{new:.3f}** against "
                f"**{old:.3f}** ({100 * (new - old):+.1f} points).\n")
    h = report["hyper"]
    return f"""# Model card: voice emotion (`{report['version']}`)

**What it measures:** the emotion a voice *expresses* (acoustic cues: pitch, loudness, timbre,
voice quality, timing, and a learned acoustic embedding), from one utterance of 16 kHz mono
audio. It is not given the words (the embedding comes from a speech recogniser's encoder, so it
may carry some phonetic content), and it does not measure what a person feels. Intended use: an
aggregate, reviewable signal in telehealth batch analytics (`multimodal-fer`), alongside face and
text, read by clinicians who know its limits. Not for diagnosis, not for decisions about an
individual on its own, not for deception or lie detection.

## Output
`VoiceModel.predict_proba(clips)` -> (N, 7) probabilities over `labels.EMOTIONS`; internally 8
classes (RAVDESS order, `predict_proba_8`, the classifier's own), *calm* folded into *neutral*. The 7
probabilities are **calibrated**: `(1 − s)·softmax(log p / T) + s/7` with T = {report['temperature']:.2f},
s = {report.get('smoothing', 0.0):.2f}, fitted on out-of-corpus predictions of the 7 classes (see Calibration). The pipeline uses this global model; there is no per-speaker head any more.

## Data
| corpus | clips | speakers | classes |
|---|---|---|---|
{data_rows}

RAVDESS (English, acted, FLAC; CC BY-NC-SA 4.0), nEMO (Polish, acted, Ogg Opus ~19 kb/s;
CC BY-NC-SA 4.0), EMOVO (Italian, acted, Ogg Opus ~19 kb/s; research use). Derived models
inherit the non-commercial restriction. A corpus without a class (nEMO: no disgust; only
RAVDESS has calm) contributes no example of it; nothing is dropped. No audio is stored here.

## Features and model
{report['n_features']} values per clip (feature version `{report['feature_version']}`): 182 acoustic
functionals and the mean / standard deviation of the packaged Whisper-base encoder's last layer
(see docs/voice.md). Classifier: median imputation, standardisation, then the average of a
multinomial logistic regression (C = {h['lr_C']}) and {h['mlp_members']} one-hidden-layer MLPs ({h['mlp_hidden']} ReLU
units, L2 {h['mlp_alpha']}), LR weight {h['lr_weight']}; plain numpy arrays (`voice_model.npz`,
{report['artefact_bytes'] / 1e6:.2f} MB, no pickle). Training rows are **balanced**: every corpus
has the same total weight and every class the same share inside it ({report['weights']}).

## Headline: leave-one-corpus-out
Train on two corpora, test on the third, scored on the classes the test corpus has (the argmax
is taken over those classes; chance = its majority class).

{loco_rows}

Mean over the three held-out corpora: **{loco['mean_accuracy']:.3f}**; Cohen's κ pooled over all
out-of-corpus predictions: **{loco['kappa_pooled']:.3f}** (the fusion's voice reliability).
{gain}
Recall per class on each held-out corpus:

{recall_rows}

**How the recipe was chosen** (on these cross-corpus means, never on one split): unweighted
training 0.356, corpus- and class-balanced weights 0.366, embedding only 0.352, functionals only
0.309; balanced + narrow-band and −20 dB copies of every training clip 0.381; + noise and
reverberation copies 0.404 (shipped). The per-speaker normalised head of 0.2.0
needs a session's statistics and was dropped. Several recipes were compared on the same held-out
corpora, so the table is mildly optimistic.

## RAVDESS actor-independent (secondary)
5 folds by actor (actors k, k+5, k+10, k+15 held out), nEMO and EMOVO always in training:
8 classes accuracy **{cv['classes_8']['accuracy']:.3f}** (macro-F1 {cv['classes_8']['macro_f1']:.3f}),
7 classes {cv['classes_7']['accuracy']:.3f}. (voice 0.2.0, RAVDESS only: 0.686 / 0.706.)

## Calibration
Expected calibration error (top label, 15 bins) of the out-of-corpus probabilities, each held-out
corpus with a temperature and a share of the uniform distribution fitted (negative log-likelihood) on the
other two held-out corpora:

{_ece_rows(report)}
{_recalibrated(report)}

## Telehealth audio robustness
Accuracy of each corpus's leave-one-corpus-out model on a fixed sample of it, degraded
(`training/audio_degrade.py`): Opus at 12 and 24 kb/s, 8 kHz narrow band, pink noise at 10 dB
SNR, a synthetic room (RT60 0.5 s), and −20 dB level. nEMO and EMOVO are already Opus-coded, so
their "clean" is a call's codec already.

{robust_rows}

Training also uses a degraded copy of every clip under each of {', '.join(report.get('augment') or ['(none)'])}
(`training/augment.py`, sharing the clip's weight): chosen because it raised the leave-one-corpus-out mean
(see "How the recipe was chosen") and the narrow-band column.

## Reproduce
`{report['command']}` ({report['train_seconds']:.0f} s on this machine, features cached in
`.cache/voice/`; extracting them for the 6,269 clips takes about 10 minutes on one core).
Environment: {report['env']}.
"""
