"""A synthetic warehouse for report and export tests: rows made directly with the schemas, no models run.

    python scripts/synthetic_warehouse.py OUT.duckdb [--patients 100] [--sessions 10] [--minutes 30]

Every table's rows are shaped by ``schemas/tables.py`` (:func:`schemas.arrow_schema`, :func:`store.conform`)
and inserted into a warehouse made by :func:`multimodal_fer.store.connect`, so the views, the data-quality
suites and the report see what they see after real runs. Patients follow one of four courses so that the
longitudinal flags fire: steady, declining valence (every 5th patient: ``flag_sustained_negative_shift``),
withdrawing (every 7th: speaks far less, ``flag_falling_engagement``), improving. Every ``quarantine_every``-th
patient has one quarantined recording. The numbers are synthetic: they describe no one.
"""

from __future__ import annotations

import argparse
import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from multimodal_fer import store
from multimodal_fer.labels import AROUSAL_VECTOR, EMOTIONS, VALENCE_VECTOR
from multimodal_fer_schemas import TABLES, arrow_schema

SITES = ("site-a", "site-b", "site-c")
ARMS = ("control", "intervention")
PHRASES = {
    1: ("it was a good week", "I enjoyed the walk with my daughter", "I feel better about the new routine",
        "the garden is doing well", "we laughed a lot on Sunday"),
    0: ("I went to the shop", "the weather was grey", "I took the tablets as usual", "nothing much happened",
        "I watched the news"),
    -1: ("I could not sleep again", "everything feels heavy", "I am so tired of this", "nobody called me",
         "I was angry at the doctor"),
}
START = datetime(2026, 1, 5, 9, 0)


def course(i: int) -> str:
    """The course of patient ``i`` (0-based)."""
    if i % 5 == 1:
        return "declining"
    if i % 7 == 3:
        return "withdrawing"
    return "improving" if i % 4 == 0 else "steady"


def session_targets(kind: str, n_sessions: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Per-session target valence bias and speaking share of a course."""
    k = np.arange(n_sessions)
    bias = np.full(n_sessions, 0.6) + rng.normal(0, 0.08, n_sessions)
    speak = np.full(n_sessions, 0.45) + rng.normal(0, 0.03, n_sessions)
    if kind == "declining":
        bias = np.where(k >= max(2, n_sessions - 4), -1.6, bias)
    elif kind == "withdrawing":
        speak = np.where(k >= max(2, n_sessions - 3), 0.08, speak)
    elif kind == "improving":
        bias = bias + 0.1 * k
    return bias, np.clip(speak, 0.02, 0.9)


def _probs(rng, n: int, bias: np.ndarray | float, noise: float = 1.0) -> np.ndarray:
    """``n`` rows of probabilities over EMOTIONS, leaning to positive valence with ``bias`` (negative: negative)."""
    logits = 1.2 * np.asarray(bias, float).reshape(-1, 1) * VALENCE_VECTOR + rng.normal(0, noise, (n, len(EMOTIONS)))
    logits[:, 0] += 0.8  # neutral is the most common expression
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _speech_segments(rng, duration_s: float, share: float) -> list[tuple[float, float, str]]:
    """Alternating speech turns ``(start, end, speaker)``: the patient speaks about ``share`` of the time."""
    out, t, patient = [], 1.0, True
    while t < duration_s - 2:
        length = float(rng.uniform(3, 14)) * (share / 0.45 if patient else 1.0)
        length = max(1.0, min(length, duration_s - t - 0.5))
        out.append((t, t + length, "patient" if patient else "other"))
        t += length + float(rng.uniform(0.4, 2.5))
        patient = not patient
    return out


def _windows(rng, sha: str, duration_s: float, bias: float, segments, window_s: float) -> pd.DataFrame:
    n = int(duration_s // window_s)
    start = np.arange(n) * window_s
    mid = start + window_s / 2
    speaking = np.zeros(n, bool)
    speech = np.zeros(n, bool)
    for s, e, who in segments:
        inside = (mid >= s) & (mid < e)
        speech |= inside
        speaking |= inside & (who == "patient")
    drift = bias + 0.6 * np.sin(mid / max(duration_s, 1) * 2 * np.pi * rng.uniform(1, 4))  # slow swings
    face = rng.random(n) > 0.06
    if rng.random() < 0.5:  # sometimes the patient is off screen for a while
        gap = int(rng.integers(0, n))
        face[gap:gap + 20] = False
    p = {"face": _probs(rng, n, drift, 0.9), "voice": _probs(rng, n, drift, 1.3), "text": _probs(rng, n, drift, 1.1)}
    w_face = np.where(face, np.where(speaking, 0.3, 1.0), 0.0)
    w_voice = np.where(speaking, np.where(face, 0.35, 0.5), 0.0)
    w_text = np.where(speaking, np.where(face, 0.35, 0.5), 0.0)
    fused = (w_face[:, None] * p["face"] + w_voice[:, None] * p["voice"] + w_text[:, None] * p["text"])
    total = fused.sum(axis=1, keepdims=True)
    signal = np.select([face & speaking, face, speaking], ["face+speech", "face", "speech"], "none")
    none = signal == "none"
    fused = np.where(none[:, None], np.nan, fused / np.where(total == 0, 1, total))
    cols = {"recording_sha256": sha, "window_start_s": start, "window_end_s": start + window_s,
            "face_present": face.astype(float), "speech_ratio": speech.astype(float), "patient_speaking": speaking,
            "mouth_open_mean": np.where(face, rng.uniform(0.02, 0.3, n), np.nan),
            "f0_mean_hz": np.where(speaking, rng.normal(170, 20, n), np.nan),
            "rms_mean_db": np.where(speech, rng.normal(-25, 4, n), -60.0)}
    for name, block, keep in (("face", p["face"], face), ("voice", p["voice"], speaking),
                              ("text", p["text"], speaking), ("fused", fused, ~none)):
        for j, e in enumerate(EMOTIONS):
            cols[f"p_{name}_{e}"] = np.where(keep, block[:, j], np.nan)
    cols.update({"w_face": w_face, "w_voice": w_voice, "w_text": w_text, "signal": signal})
    best = np.nan_to_num(fused).argmax(axis=1)
    cols["fused_label"] = np.where(none, None, np.asarray(EMOTIONS, object)[best])
    cols["fused_confidence"] = np.where(none, np.nan, np.nan_to_num(fused).max(axis=1))
    cols["valence"] = np.clip(fused @ VALENCE_VECTOR, -1, 1)
    cols["arousal"] = np.clip(fused @ AROUSAL_VECTOR, -1, 1)
    return pd.DataFrame(cols)


def _utterances(rng, sha: str, segments, windows: pd.DataFrame) -> pd.DataFrame:
    rows = []
    mid = (windows["window_start_s"] + windows["window_end_s"]).to_numpy() / 2
    valence = windows["valence"].to_numpy()
    for i, (s, e, who) in enumerate(segments):
        inside = valence[(mid >= s) & (mid < e)]
        inside = inside[~np.isnan(inside)]
        v = float(inside.mean()) if len(inside) else 0.0
        mood = 0 if abs(v) < 0.1 else int(np.sign(v))
        text = str(rng.choice(PHRASES[mood] if who == "patient" else PHRASES[0]))
        p = _probs(rng, 1, 2.0 * mood, 0.5)[0]
        row = {"recording_sha256": sha, "utterance_idx": i, "start_s": s, "end_s": e, "text": text,
               "n_words": len(text.split()), "speaker": who, "speaker_confidence": float(rng.uniform(0.6, 0.99)),
               "avg_logprob": float(-rng.uniform(0.1, 0.6)), "text_label": EMOTIONS[int(p.argmax())],
               "vader_valence": float(np.clip(0.5 * mood + rng.normal(0, 0.1), -1, 1))}
        row.update({f"p_text_{e}": float(p[j]) for j, e in enumerate(EMOTIONS)})
        rows.append(row)
    return pd.DataFrame(rows)


def _frames(rng, sha: str, windows: pd.DataFrame, fps: float) -> pd.DataFrame:
    step = max(1, round(1 / fps / (windows["window_end_s"].iloc[0] - windows["window_start_s"].iloc[0])))
    w = windows.iloc[::step]
    found = w["face_present"].to_numpy() > 0
    cols = {"recording_sha256": sha, "t_s": w["window_start_s"].to_numpy(), "face_found": found,
            "n_faces": found.astype(int)}
    probs = w[[f"p_face_{e}" for e in EMOTIONS]].to_numpy()
    for j, e in enumerate(EMOTIONS):
        cols[f"p_face_{e}"] = probs[:, j]
    for j, e in enumerate(EMOTIONS):
        cols[f"p_face_raw_{e}"] = probs[:, j]  # no calibration in synthetic data: raw = calibrated
    cols["face_label"] = np.where(found, np.asarray(EMOTIONS, object)[np.nan_to_num(probs).argmax(axis=1)], None)
    cols["face_confidence"] = np.where(found, np.nan_to_num(probs).max(axis=1), np.nan)
    cols["mouth_open"] = w["mouth_open_mean"].to_numpy()
    for c in ("yaw_deg", "pitch_deg", "roll_deg"):
        cols[c] = np.where(found, rng.normal(0, 8, len(w)), np.nan)
    return pd.DataFrame(cols)


def _summary(sha: str, windows: pd.DataFrame, utts: pd.DataFrame, frames: pd.DataFrame) -> dict:
    sig = windows[windows["signal"] != "none"]
    shares = sig["fused_label"].value_counts(normalize=True)
    patient = utts[utts["speaker"] == "patient"]
    gaps = (utts["start_s"].to_numpy()[1:] - utts["end_s"].to_numpy()[:-1])
    gaps = gaps[gaps >= 0.3]
    speaking_s = float((patient["end_s"] - patient["start_s"]).sum())
    row = {"recording_sha256": sha, **{f"share_{e}": float(shares.get(e, 0.0)) for e in EMOTIONS},
           "dominant_emotion": shares.index[0] if len(shares) else None,
           "valence_mean": sig["valence"].mean(), "valence_std": sig["valence"].std(),
           "arousal_mean": sig["arousal"].mean(), "arousal_std": sig["arousal"].std(),
           "expressivity_mean": float(1 - windows["p_face_neutral"].mean()),
           "speaking_time_s": speaking_s, "speech_time_s": float((utts["end_s"] - utts["start_s"]).sum()),
           "n_turns": len(patient), "pause_count": len(gaps), "pause_mean_s": float(gaps.mean()) if len(gaps) else None,
           "speech_rate_wps": float(patient["n_words"].sum() / speaking_s) if speaking_s else None,
           "f0_mean_hz": windows["f0_mean_hz"].mean(), "f0_std_hz": windows["f0_mean_hz"].std(),
           "face_coverage": float(frames["face_found"].mean()),
           "speech_coverage": float(windows["speech_ratio"].mean()),
           "n_windows": len(windows), "n_windows_signal": len(sig)}
    return row


def _moments(sha: str, windows: pd.DataFrame, utts: pd.DataFrame, n: int = 3) -> list[dict]:
    v = windows["valence"].rolling(5, center=True, min_periods=3).mean()
    out = []
    for kind, order in (("negative", v.sort_values()), ("positive", v.sort_values(ascending=False))):
        taken: list[float] = []
        for idx in order.dropna().index:
            t = float(windows.at[idx, "window_start_s"])
            if any(abs(t - u) < 20 for u in taken):
                continue
            taken.append(t)
            s, e = max(0.0, t - 2), t + 3
            said = utts[(utts["speaker"] == "patient") & (utts["end_s"] > s) & (utts["start_s"] < e)]["text"]
            label = windows.loc[max(0, idx - 2):idx + 2, "fused_label"].dropna()
            out.append({"recording_sha256": sha, "kind": kind, "rank": len(taken), "start_s": s, "end_s": e,
                        "valence": float(np.clip(order[idx], -1, 1)),
                        "label": label.mode()[0] if len(label) else "neutral",
                        "words": " / ".join(said) or None})
            if len(taken) == n:
                break
    return out


def _insert(con, name: str, df: pd.DataFrame) -> None:
    """Rows of one table, shaped by its schema (Arrow types, order, nullability), into the warehouse."""
    t = TABLES[name]
    if len(df) < 100:
        arrow = store.conform(name, df)
    else:
        arrow = pa.Table.from_pandas(df[list(t.column_names)], schema=arrow_schema(t), preserve_index=False)
    con.register("_rows", arrow)
    try:
        con.execute(f"INSERT INTO {name} SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def _session(rng, pid: str, k: int, *, bias: float, speak: float, minutes: float, window_s: float,
             frame_fps: float, site: str, arm: str) -> dict[str, pd.DataFrame]:
    """Every per-recording table's rows of one synthetic session."""
    sid = f"S{k + 1:02d}"
    sha = hashlib.sha256(f"synthetic/{pid}/{sid}".encode()).hexdigest()
    duration = minutes * 60.0
    segments = _speech_segments(rng, duration, speak)
    windows = _windows(rng, sha, duration, bias, segments, window_s)
    utts = _utterances(rng, sha, segments, windows)
    frames = _frames(rng, sha, windows, frame_fps)
    session = {"recording_sha256": sha, "patient_id": pid, "session_id": sid,
               "source_uri": f"synthetic://bucket/{pid}/{sid}.mp4", "recorded_at": START + timedelta(days=14 * k),
               "site": site, "trial_arm": arm, "clinician_id": f"C{1 + k % 3}", "duration_s": duration,
               "has_video": True, "has_audio": True, "sample_fps": frame_fps, "n_frames": len(frames),
               "language": "en", "pipeline_version": "synthetic", "model_versions": '{"synthetic": "1"}',
               "processed_at": datetime.now(), "run_id": "synthetic", "speaker_attribution": "lip_sync"}
    return {"sessions": pd.DataFrame([session]), "emotion_windows": windows, "utterances": utts, "frames": frames,
            "session_summaries": pd.DataFrame([_summary(sha, windows, utts, frames)]),
            "moments": pd.DataFrame(_moments(sha, windows, utts))}


def _quarantine_row(pid: str, now: datetime) -> dict:
    return {"source_uri": f"synthetic://bucket/{pid}/S99.mp4", "recording_sha256": None, "patient_id": pid,
            "session_id": "S99", "stage": "split", "reason": "not a readable video (synthetic example)",
            "error_type": "InvalidDataError", "pipeline_version": "synthetic", "quarantined_at": now,
            "run_id": "synthetic"}


def build(db: str | Path, *, n_patients: int = 100, n_sessions: int = 10, minutes: float = 30.0,
          window_s: float = 1.0, frame_fps: float = 1.0, quarantine_every: int = 6, seed: int = 0,
          pseudonym_key: str | None = None) -> Path:
    """Write a synthetic warehouse at ``db`` (which must not exist yet); returns its path.

    Patient ``P001`` … with ``n_sessions`` sessions of ``minutes`` each, 1-s windows and face frames sampled
    at ``frame_fps`` (1 by default, not the pipeline's 5, to keep 100 × 10 × 30 min small). With
    ``pseudonym_key`` the warehouse holds keyed pseudonyms instead, as a run with ``MFER_PSEUDONYM_KEY`` would.
    """
    from multimodal_fer.bucket import pseudonym

    db = Path(db)
    if db.exists():
        raise FileExistsError(f"{db} exists")
    rng = np.random.default_rng(seed)
    con = store.connect(db)
    now = datetime.now()
    try:
        for i in range(n_patients):
            pid, site, arm = f"P{i + 1:03d}", SITES[i % len(SITES)], ARMS[(i // len(SITES)) % len(ARMS)]
            pid = pseudonym(pid, pseudonym_key) if pseudonym_key else pid
            bias, speak = session_targets(course(i), n_sessions, rng)
            parts = [_session(rng, pid, k, bias=bias[k], speak=speak[k], minutes=minutes, window_s=window_s,
                              frame_fps=frame_fps, site=site, arm=arm) for k in range(n_sessions)]
            for name in parts[0]:
                _insert(con, name, pd.concat([p[name] for p in parts], ignore_index=True))
            _insert(con, "patients", pd.DataFrame([{"patient_id": pid, "site": site, "trial_arm": arm,
                                                    "first_loaded_at": now}]))
            if quarantine_every and i % quarantine_every == quarantine_every - 1:
                _insert(con, "quarantine", pd.DataFrame([_quarantine_row(pid, now)]))
        _insert(con, "runs", pd.DataFrame([{"run_id": "synthetic", "bucket": "synthetic://bucket", "started_at": now,
                                            "finished_at": datetime.now(), "n_discovered": n_patients * n_sessions,
                                            "n_skipped": 0, "n_loaded": n_patients * n_sessions,
                                            "n_quarantined": n_patients // quarantine_every if quarantine_every else 0,
                                            "pipeline_version": "synthetic"}]))
    finally:
        con.close()
    return db


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db")
    p.add_argument("--patients", type=int, default=100)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    build(args.db, n_patients=args.patients, n_sessions=args.sessions, minutes=args.minutes, seed=args.seed)
    print(f"wrote {args.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
