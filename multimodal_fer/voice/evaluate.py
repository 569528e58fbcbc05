"""Evaluate the shipped voice emotion model on labelled audio or video files.

Usage::

    mfer evaluate voice LABELS.csv [--root DIR] [--out metrics.json]
    .venv/bin/python -m multimodal_fer.voice.evaluate LABELS.csv [--root DIR] [--out FILE]

``LABELS.csv`` has the columns ``path,label`` (other columns are ignored). ``path`` is any file
PyAV can decode (WAV, FLAC, MP3, MP4, FLV, ...), absolute or relative to ``--root`` (default:
the CSV's folder); its audio is decoded to 16 kHz mono with
:func:`multimodal_fer.media.extract_audio`. ``label`` is an emotion name of any corpus the
project knows (``neutral``, ``calm``, ``ANG``, ``happiness``, ...), mapped by
:func:`multimodal_fer.labels.to_canonical`; rows whose label has no canonical class
(e.g. *contempt*) are skipped and counted, unknown names are an error.

Each file is scored the way the pipeline scores a patient's speech: files up to
:data:`WHOLE_CLIP_MAX_S` are one clip; longer files are cut into VAD speech chunks of at most
``voice.stream.VOICE_CHUNK_S`` (3 s) whose 7-class probabilities are averaged. A file with no
audio gets no prediction (it counts as an error). Speaker normalisation is off (the
pipeline's default; files of a labels CSV are not one speaker's session).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from multimodal_fer.evaluation import (
    Progress,
    calibration_error,
    check_rows,
    classification_metrics,
    print_report,
    read_labels_csv,
    resolve,
    write_json,
)
from multimodal_fer.labels import EMOTIONS, to_canonical, valence_arousal

WHOLE_CLIP_MAX_S = 8.0  # s, files up to this long are scored as one utterance
CHUNK_S = 3.0  # s, longest chunk of speech scored at once for longer files (as the pipeline)


def load_audio(path: str | Path) -> np.ndarray:
    """Decode any audio/video file's audio to 16 kHz mono float32, shape (n,) (empty if none)."""
    from multimodal_fer.media import extract_audio, load_wav

    with tempfile.TemporaryDirectory(prefix="mfer-voice-eval-") as tmp:
        wav = Path(tmp) / "audio.wav"
        if extract_audio(path, wav) <= 0.0 or not wav.exists():
            return np.zeros(0, dtype=np.float32)
        return load_wav(wav)


def speech_chunks(audio: np.ndarray, *, chunk_s: float = CHUNK_S) -> list[np.ndarray]:
    """VAD speech segments cut into pieces of at most ``chunk_s`` (pieces < 0.25 s dropped)."""
    from multimodal_fer.voice.prosody import SR
    from multimodal_fer.voice.vad import speech_segments

    out = []
    for s, e in speech_segments(audio, sr=SR):
        t = s
        while t < e - 1e-9:
            u = min(e, t + chunk_s)
            if u - t >= 0.25:
                out.append(audio[int(t * SR) : int(u * SR)])
            t = u
    return out


def score_audio(model, audio: np.ndarray) -> np.ndarray | None:
    """7-class probabilities of one file's audio (``None`` when there is no audio)."""
    from multimodal_fer.voice.prosody import SR

    if audio.size == 0 or not np.any(audio):
        return None
    if audio.size / SR <= WHOLE_CLIP_MAX_S:
        return model.predict_proba([audio])[0]
    chunks = speech_chunks(audio)
    if not chunks:
        return model.predict_proba([audio[: int(WHOLE_CLIP_MAX_S * SR)]])[0]
    return model.predict_proba(chunks).mean(axis=0)


def file_record(*, path: str, label: str, proba: np.ndarray | None, duration_s: float) -> dict:
    """One file's row of the report.

    Parameters
    ----------
    path : str
        The file as the CSV names it.
    label : str
        Canonical true class.
    proba : np.ndarray, shape (7,), or None
        Probabilities over :data:`~multimodal_fer.labels.EMOTIONS` (``None``: no audio, no prediction).
    duration_s : float
        Length of the file's audio in s.

    Returns
    -------
    dict
        ``path``, ``label``, ``prediction``, ``duration_s`` (ms resolution) and, with a
        prediction, ``proba`` (per class), ``valence`` and ``arousal`` (4 decimals).
    """
    pred = EMOTIONS[int(np.argmax(proba))] if proba is not None else None
    rec: dict = {"path": path, "label": label, "prediction": pred, "duration_s": round(duration_s, 3)}
    if proba is not None:
        v, a = valence_arousal(proba)
        rec.update(
            {
                "proba": {e: round(float(p), 4) for e, p in zip(EMOTIONS, proba, strict=True)},
                "valence": round(float(v), 4),
                "arousal": round(float(a), 4),
            }
        )
    return rec


def score_rows(rows: list[dict], *, model, root: str | Path | None, labels_csv: str | Path) -> tuple[list[dict], int]:
    """Score the files of a labels CSV's rows.

    Parameters
    ----------
    rows : list of dict
        ``path`` and ``label`` of each file (:func:`~multimodal_fer.evaluation.read_labels_csv`).
    model : VoiceModel
    root, labels_csv : path
        Relative paths are resolved against ``root`` (default: the CSV's folder).

    Returns
    -------
    files : list of dict
        :func:`file_record` of every row with a canonical label, in order.
    skipped : int
        Rows whose label has no canonical class.
    """
    files, skipped = [], 0
    progress = Progress(len(rows))
    for i, row in enumerate(rows):
        progress(i)
        label = to_canonical(row["label"])
        if label is None:
            skipped += 1
            continue
        audio = load_audio(resolve(row["path"], root, labels_csv))
        proba = score_audio(model, audio)
        files.append(file_record(path=row["path"], label=label, proba=proba, duration_s=audio.size / 16000))
    return files, skipped


def run(
    labels_csv: str | Path,
    *,
    root: str | Path | None = None,
    out: str | Path | None = None,
    model=None,
    quiet: bool = False,
) -> dict:
    """Score every file of a ``path,label`` CSV and report classification metrics.

    Parameters
    ----------
    labels_csv : path
        CSV with ``path`` and ``label`` columns.
    root : path, optional
        Folder that relative paths are resolved against (default: the CSV's folder).
    out : path, optional
        Where to write the JSON report.
    model : VoiceModel, optional
        Default: the committed artefact.
    quiet : bool
        Do not print the table.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``per_class``, ``confusion``
        (from :func:`multimodal_fer.evaluation.classification_metrics` over
        :data:`~multimodal_fer.labels.EMOTIONS`), ``ece``, ``mean_confidence``, ``n_calibration``
        (:func:`multimodal_fer.evaluation.calibration_error`), ``skipped`` (rows with no canonical class),
        ``model_version``, ``seconds_per_file`` and ``files`` (one row per file: path, label,
        prediction, probabilities, valence, arousal).
    """
    from multimodal_fer.voice.model import VoiceModel

    rows = check_rows(read_labels_csv(labels_csv, ["path", "label"]), root=root, labels_csv=labels_csv)
    model = model or VoiceModel.load()
    t0 = time.perf_counter()
    files, skipped = score_rows(rows, model=model, root=root, labels_csv=labels_csv)
    elapsed = time.perf_counter() - t0
    y_true, y_pred = [f["label"] for f in files], [f["prediction"] for f in files]
    proba = np.array([[f["proba"][e] for e in EMOTIONS] if "proba" in f else [np.nan] * len(EMOTIONS) for f in files])
    metrics = classification_metrics(y_true, y_pred, EMOTIONS) | calibration_error(y_true, proba)
    per_file = round(elapsed / max(len(files), 1), 4)
    report = metrics | {"skipped": skipped, "model_version": model.version, "seconds_per_file": per_file}
    report |= {"labels_csv": str(labels_csv), "files": files}
    if not quiet:
        extra = {k: report[k] for k in ("ece", "mean_confidence", "skipped")} | {"s/file": round(per_file, 3)}
        print_report(f"voice emotion ({model.version}) on {labels_csv}", metrics, extra=extra)
    write_json(out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    from multimodal_fer.evaluation import cli_main

    return cli_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
