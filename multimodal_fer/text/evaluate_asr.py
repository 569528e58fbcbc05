"""Evaluate speech recognition (word error rate and speed) on transcribed audio or video files.

Usage::

    mfer evaluate asr LABELS.csv [--root DIR] [--out metrics.json]
    .venv/bin/python -m multimodal_fer.text.evaluate_asr LABELS.csv [--root DIR] [--out FILE]

``LABELS.csv`` has the columns ``path,transcript``; ``path`` is any file PyAV decodes,
absolute or relative to ``--root`` (default: the CSV's folder).

Text normalisation (:func:`normalise_text`, applied to reference and hypothesis alike):
Unicode NFKC, lower case, curly apostrophes made straight, hyphens / slashes / underscores
become spaces, integers 0-999,999 (digits, optionally with thousands commas) are spelt out in
words (``42`` -> ``forty two``; ``%`` -> ``percent``), every other character that is not a
letter, a digit, an apostrophe inside a word or a space is removed, whitespace collapsed.
Contractions are not expanded and British/American spellings are not unified (the Whisper
English normaliser does both; ours is the simple, documented subset).

WER = (substitutions + deletions + insertions) / reference words, summed over all files
(corpus WER; per-file WER is reported too). The realtime factor is transcription time
(model loaded and warmed up on the first file) / audio duration. Whisper pads every input
to 30 s and, with ``language=None`` (the default), runs one extra encoder pass to detect the
language, so short clips have a much higher realtime factor than long recordings.
"""

from __future__ import annotations

import re
import sys
import time
import unicodedata
from pathlib import Path

from multimodal_fer.evaluation import Progress, check_rows, read_labels_csv, resolve, write_json

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """Spell a non-negative integer below one million in English words (no "and")."""
    if n < 0 or n >= 1_000_000:
        raise ValueError("only 0 <= n < 1,000,000 is spelt out")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    rest = n % 1000
    return number_to_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_to_words(rest))


def _spell(match: re.Match) -> str:
    digits = match.group(0).replace(",", "")
    n = int(digits)
    return f" {number_to_words(n)} " if n < 1_000_000 else f" {digits} "


def normalise_text(text: str) -> str:
    """Normalise a transcript for WER (see the module docstring for the exact rules)."""
    t = unicodedata.normalize("NFKC", str(text)).lower()
    t = t.replace("\u2019", "'").replace("\u2018", "'").replace("%", " percent ")
    t = re.sub(r"[-\u2010-\u2015/_]", " ", t)
    t = re.sub(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+", _spell, t)
    t = re.sub(r"[^\w\s']", " ", t)
    t = re.sub(r"(?<![a-z0-9])'|'(?![a-z0-9])", " ", t)  # quotes, not apostrophes in words
    return " ".join(t.split())


def word_errors(reference: str, hypothesis: str, *, normalise: bool = True) -> dict:
    """Word-level Levenshtein alignment counts.

    Returns
    -------
    dict
        ``substitutions``, ``deletions``, ``insertions``, ``ref_words``, ``hyp_words``,
        ``wer`` (errors / reference words; ``hyp_words > 0`` against an empty reference gives
        ``inf``, both empty 0.0).
    """
    ref = (normalise_text(reference) if normalise else reference).split()
    hyp = (normalise_text(hypothesis) if normalise else hypothesis).split()
    n, m = len(ref), len(hyp)
    # cost table with (cost, subs, dels, ins) per cell, first minimising cost
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            c, s, d, k = prev[j - 1]
            diag = (c, s, d, k) if ref[i - 1] == hyp[j - 1] else (c + 1, s + 1, d, k)
            c, s, d, k = prev[j]
            up = (c + 1, s, d + 1, k)
            c, s, d, k = cur[j - 1]
            left = (c + 1, s, d, k + 1)
            cur.append(min(diag, up, left))
        prev = cur
    cost, subs, dels, ins = prev[m]
    wer = cost / n if n else (0.0 if m == 0 else float("inf"))
    return {"substitutions": subs, "deletions": dels, "insertions": ins, "ref_words": n, "hyp_words": m, "wer": wer}


def transcribe_rows(
    rows: list[dict], *, options, root: str | Path | None, labels_csv: str | Path, warm_up: bool
) -> tuple[list[dict], dict[str, int], float, float]:
    """Transcribe and score the files of a labels CSV's rows, timing each transcription.

    Parameters
    ----------
    rows : list of dict
        ``path`` and ``transcript`` (the reference) of each file.
    options : multimodal_fer.text.asr.AsrOptions
    root, labels_csv : path
        Relative paths are resolved against ``root`` (default: the CSV's folder).
    warm_up : bool
        Transcribe the first file once, untimed, first.

    Returns
    -------
    files : list of dict
        Per file: ``path``, ``reference``, ``hypothesis``, ``wer``, ``duration_s``, ``seconds``.
    totals : dict of int
        ``substitutions``, ``deletions``, ``insertions``, ``ref_words`` summed over the files.
    audio_s, busy_s : float
        Audio duration and transcription time summed over the files, in s.
    """
    from multimodal_fer.text.asr import transcribe
    from multimodal_fer.voice.evaluate import load_audio

    files = []
    totals = {"substitutions": 0, "deletions": 0, "insertions": 0, "ref_words": 0}
    audio_s = busy_s = 0.0
    progress = Progress(len(rows))
    for i, row in enumerate(rows):
        progress(i)
        audio = load_audio(resolve(row["path"], root, labels_csv))
        if i == 0 and warm_up:  # one-off initialisation (VAD model, first decode) is not timed
            transcribe(audio, options)
        t = time.perf_counter()
        hyp = transcribe(audio, options).text
        dt = time.perf_counter() - t
        errs = word_errors(row["transcript"], hyp)
        for k in totals:
            totals[k] += errs[k]
        dur = audio.size / 16000
        audio_s += dur
        busy_s += dt
        files.append(
            {
                "path": row["path"],
                "reference": row["transcript"],
                "hypothesis": hyp,
                "wer": round(errs["wer"], 4),
                "duration_s": round(dur, 3),
                "seconds": round(dt, 3),
            }
        )
    return files, totals, audio_s, busy_s


def corpus_summary(*, files: list[dict], totals: dict[str, int], audio_s: float, busy_s: float) -> dict:
    """Corpus WER and speed from :func:`transcribe_rows`' output.

    Returns
    -------
    dict
        ``n`` files, ``wer`` (errors / reference words, NaN without reference words; 4
        decimals), the ``totals``, ``audio_s`` and ``transcribe_s`` (s, 3 decimals) and
        ``realtime_factor`` (transcription time / audio duration, NaN without audio).
    """
    errors = totals["substitutions"] + totals["deletions"] + totals["insertions"]
    wer = errors / totals["ref_words"] if totals["ref_words"] else float("nan")
    return {
        "n": len(files),
        "wer": round(wer, 4),
        **totals,
        "audio_s": round(audio_s, 3),
        "transcribe_s": round(busy_s, 3),
        "realtime_factor": round(busy_s / audio_s, 4) if audio_s else float("nan"),
    }


def print_asr_report(report: dict, *, options, labels_csv: str | Path, audio_s: float) -> None:
    """Print the corpus WER, the realtime factor and the (up to) 5 worst files with errors."""
    print(
        f"ASR ({options.backend} {options.model} {options.compute_type}, "
        f"{options.cpu_threads} thread(s)) on {labels_csv}"
    )
    print(
        f"  n={report['n']}  wer={report['wer']:.4f}  (S={report['substitutions']} "
        f"D={report['deletions']} I={report['insertions']} N={report['ref_words']})  "
        f"realtime_factor={report['realtime_factor']:.4f}  audio={audio_s:.1f}s"
    )
    worst = sorted(report["files"], key=lambda f: -f["wer"])[:5]
    for f in worst:
        if f["wer"] > 0:
            print(f"  {f['wer']:.3f}  {f['path']}: {f['reference']!r} -> {f['hypothesis']!r}")


def _with_transcripts(rows: list[dict], labels_csv) -> list[dict]:
    """``rows``, if each has a reference transcript (a word error rate needs reference words)."""
    blank = [i for i, row in enumerate(rows, start=2) if not (row.get("transcript") or "").strip()]
    if blank:
        raise ValueError(f"{labels_csv}: no transcript on line(s) {', '.join(map(str, blank[:10]))}")
    return rows


def run(
    labels_csv: str | Path,
    *,
    root: str | Path | None = None,
    out: str | Path | None = None,
    options=None,
    quiet: bool = False,
    warm_up: bool = True,
) -> dict:
    """Transcribe every file of a ``path,transcript`` CSV; report WER and the realtime factor.

    Parameters
    ----------
    labels_csv : path
        CSV with ``path`` and ``transcript`` columns.
    root : path, optional
        Folder that relative paths are resolved against (default: the CSV's folder).
    out : path, optional
        Where to write the JSON report.
    options : multimodal_fer.text.asr.AsrOptions, optional
        Default: ``AsrOptions()`` (what the pipeline uses).
    quiet : bool
        Do not print the table.
    warm_up : bool
        Transcribe the first file once, untimed, before timing (excludes one-off set-up from
        the realtime factor).

    Returns
    -------
    dict
        ``n``, ``wer``, ``substitutions``, ``deletions``, ``insertions``, ``ref_words``,
        ``audio_s``, ``transcribe_s``, ``realtime_factor``, ``model_load_s``, ``options``,
        ``normaliser``, ``files`` (path, reference, hypothesis, wer, duration_s, seconds).
    """
    from dataclasses import asdict

    from multimodal_fer.text.asr import AsrOptions, load_asr_model

    options = options or AsrOptions()
    rows = _with_transcripts(read_labels_csv(labels_csv, ["path", "transcript"]), labels_csv)
    check_rows(rows, root=root, labels_csv=labels_csv, label=None)
    t0 = time.perf_counter()
    load_asr_model(options)
    load_s = time.perf_counter() - t0
    files, totals, audio_s, busy_s = transcribe_rows(
        rows, options=options, root=root, labels_csv=labels_csv, warm_up=warm_up
    )
    report = {
        **corpus_summary(files=files, totals=totals, audio_s=audio_s, busy_s=busy_s),
        "model_load_s": round(load_s, 3),
        "options": asdict(options),
        "normaliser": "multimodal_fer.text.evaluate_asr.normalise_text (lower case, NFKC, "
        "punctuation stripped, integers < 1e6 spelt out)",
        "labels_csv": str(labels_csv),
        "files": files,
    }
    if not quiet:
        print_asr_report(report, options=options, labels_csv=labels_csv, audio_s=audio_s)
    write_json(out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    from multimodal_fer.evaluation import cli_main

    return cli_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
