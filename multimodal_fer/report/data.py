"""What the report shows, read from the warehouse's views (read-only queries, one per page kind or per patient).

The cohort is ordered **by concern**: patients whose latest session carries an active change flag of
``v_patient_longitudinal`` (``flag_sustained_negative_shift``, ``flag_falling_engagement``) first —
two flags before one — then by the latest session's drop of valence against the patient's own
baseline (``valence_change``, most negative first; none last), then by id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from multimodal_fer.labels import EMOTIONS

FLAGS = ("flag_sustained_negative_shift", "flag_falling_engagement")
STREAMS = ("fused", "face", "voice", "text")
SIGNALS = ("none", "face", "speech", "face+speech")

COHORT_SQL = """
with ranked as (
    select *, row_number() over (partition by patient_id order by session_index desc) as from_last
    from v_patient_longitudinal
),
per_patient as (
    select patient_id,
           count(*) as n_sessions,
           max(recorded_at) as last_recorded_at,
           avg(face_coverage) as face_coverage,
           avg(speech_coverage) as speech_coverage,
           list(valence_mean order by session_index) as valence_series
    from v_patient_longitudinal
    group by patient_id
),
quarantined as (
    select patient_id, count(distinct source_uri) as n_quarantined
    from quarantine where patient_id is not null group by patient_id
),
final as (
    select p.patient_id,
           coalesce(pt.site, l.site) as site,
           coalesce(pt.trial_arm, l.trial_arm) as trial_arm,
           p.n_sessions, p.last_recorded_at, l.session_id as last_session_id,
           l.baseline_valence, l.valence_mean as last_valence, l.valence_change,
           coalesce(l.flag_sustained_negative_shift, false) as flag_sustained_negative_shift,
           coalesce(l.flag_falling_engagement, false) as flag_falling_engagement,
           p.face_coverage, p.speech_coverage, p.valence_series,
           coalesce(q.n_quarantined, 0) as n_quarantined
    from per_patient as p
    join ranked as l on l.patient_id = p.patient_id and l.from_last = 1
    left join patients as pt on pt.patient_id = p.patient_id
    left join quarantined as q on q.patient_id = p.patient_id
)
select * from final
"""

SITES_SQL = """
with per_session as (
    select coalesce(site, '(no site)') as site, patient_id, face_coverage, speech_coverage from v_session_summary
),
quarantined as (
    select coalesce(p.site, '(no site)') as site, count(distinct q.source_uri) as n_quarantined
    from quarantine as q left join patients as p using (patient_id) group by 1
),
final as (
    select s.site, count(distinct s.patient_id) as patients, count(*) as sessions,
           avg(s.face_coverage) as face_coverage, avg(s.speech_coverage) as speech_coverage,
           count(*) filter (where s.face_coverage < 0.5) as sessions_face_below_half,
           coalesce(max(q.n_quarantined), 0) as n_quarantined
    from per_session as s left join quarantined as q using (site)
    group by s.site
)
select * from final order by face_coverage, site
"""


def concern_order(cohort: pd.DataFrame) -> pd.DataFrame:
    """The cohort sorted by concern (see the module docstring), with ``n_flags`` added."""
    df = cohort.copy()
    df["n_flags"] = df[list(FLAGS)].fillna(False).astype(int).sum(axis=1)
    change = pd.to_numeric(df["valence_change"], errors="coerce")
    df["_change"] = change.fillna(np.inf)
    df = df.sort_values(["n_flags", "_change", "patient_id"], ascending=[False, True, True], kind="stable")
    return df.drop(columns="_change").reset_index(drop=True)


def cohort(con, patient_id: str | None = None) -> pd.DataFrame:
    """One row per patient (or the one), ordered by concern."""
    df = con.execute(COHORT_SQL).df()
    for col in ("site", "trial_arm"):  # NULL as None, never NaN (which sorts against text and reads as 'nan')
        df[col] = pd.Series([text_or_none(v) for v in df[col]], index=df.index, dtype=object)  # not pandas' str
    if patient_id is not None:
        df = df[df["patient_id"] == patient_id]
    return concern_order(df)


def sites(con) -> pd.DataFrame:
    """Per site: patients, sessions, mean face and speech coverage, sessions with little face, quarantined."""
    return con.execute(SITES_SQL).df()


def orphan_quarantine(con) -> int:
    """Quarantined recordings of no loaded patient (unreadable ids, or patients whose every recording failed)."""
    return con.execute(
        "SELECT count(DISTINCT source_uri) FROM quarantine WHERE patient_id IS NULL "
        "OR patient_id NOT IN (SELECT patient_id FROM sessions)"
    ).fetchone()[0]


def patient(con, patient_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A patient's sessions (``v_patient_longitudinal`` + recording hash and duration) and quarantined recordings."""
    sessions = con.execute(
        "SELECT l.*, s.recording_sha256, s.duration_s FROM v_patient_longitudinal AS l "
        "JOIN sessions AS s USING (patient_id, session_id) WHERE l.patient_id = ? ORDER BY l.session_index",
        [patient_id],
    ).df()
    quarantined = con.execute(
        "SELECT quarantined_at, session_id, stage, reason FROM v_quarantine WHERE patient_id = ?", [patient_id]
    ).df()
    return sessions, quarantined


def patient_streams(con, patient_id: str) -> dict[str, pd.DataFrame]:
    """Every window, utterance and notable moment of a patient's sessions, read through the fact views."""
    probs = ", ".join(f"p_{s}_{e}" for s in STREAMS for e in EMOTIONS)
    windows = con.execute(
        f"SELECT recording_sha256, window_start_s, window_end_s, patient_speaking, signal, valence, {probs} "
        "FROM v_emotion_windows WHERE patient_id = ? ORDER BY recording_sha256, window_start_s",
        [patient_id],
    ).df()
    utterances = con.execute(
        "SELECT recording_sha256, utterance_idx, start_s, end_s, speaker, text, text_label, vader_valence "
        "FROM v_utterances WHERE patient_id = ? ORDER BY recording_sha256, utterance_idx",
        [patient_id],
    ).df()
    moments = con.execute(
        "SELECT m.* FROM moments AS m JOIN sessions AS s USING (recording_sha256) WHERE s.patient_id = ? "
        "ORDER BY m.recording_sha256, m.kind, m.rank",
        [patient_id],
    ).df()
    return {"windows": windows, "utterances": utterances, "moments": moments}


def _percent(block: np.ndarray) -> list[list[int]]:
    """Probabilities as whole percents per emotion (-1: no value), compact in JSON."""
    return np.where(np.isnan(block), -1, np.rint(block * 100)).astype(int).T.tolist()


def speaking_bands(start: np.ndarray, end: np.ndarray, speaking: np.ndarray) -> list[list[float]]:
    """Runs of consecutive windows in which the patient speaks, as ``[start, end]`` seconds."""
    s = np.asarray(speaking, bool)
    if not s.any():
        return []
    edges = np.diff(np.concatenate([[0], s.astype(int), [0]]))
    firsts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [[round(float(start[a]), 2), round(float(end[b]), 2)] for a, b in zip(firsts, lasts, strict=True)]


def _none_if_nan(values) -> list:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values]


def text_or_none(value) -> str | None:
    """A VARCHAR cell as read by pandas (NULL may come back as None or NaN)."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def timeline_payload(windows: pd.DataFrame, utterances: pd.DataFrame, moments: pd.DataFrame) -> dict:
    """One session's chart data: windows (fused and per-stream percents, valence), speaking bands, words, moments."""
    start = windows["window_start_s"].to_numpy(float)
    end = windows["window_end_s"].to_numpy(float)
    valence = windows["valence"].to_numpy(float)
    probs = windows[[f"p_{s}_{e}" for s in STREAMS for e in EMOTIONS]].to_numpy(float)  # one copy, sliced below
    n = len(EMOTIONS)
    return {
        "emotions": list(EMOTIONS),
        "start": np.round(start, 2).tolist(),
        "end": np.round(end, 2).tolist(),
        "signal": windows["signal"].map({s: i for i, s in enumerate(SIGNALS)}).fillna(0).astype(int).tolist(),
        "valence": [None if np.isnan(v) else round(float(v), 3) for v in valence],
        **{s: _percent(probs[:, i * n : (i + 1) * n]) for i, s in enumerate(STREAMS)},
        "bands": speaking_bands(start, end, windows["patient_speaking"].to_numpy(bool)),
        "utterances": [
            [round(float(r.start_s), 2), round(float(r.end_s), 2), r.speaker, text_or_none(r.text)]
            for r in utterances.itertuples()
        ],
        "moments": [
            [
                r.kind,
                int(r.rank),
                round(float(r.start_s), 2),
                round(float(r.end_s), 2),
                round(float(r.valence), 3),
                r.label,
                text_or_none(r.words),
            ]
            for r in moments.itertuples()
        ],
        "signals": list(SIGNALS),
    }


def trend_payload(sessions: pd.DataFrame, links: list[str]) -> dict:
    """A patient's chart data: valence per session against baseline, rolling mean, flags, speaking share."""
    s = sessions
    return {
        "index": s["session_index"].astype(int).tolist(),
        "session": s["session_id"].astype(str).tolist(),
        "date": [None if pd.isna(d) else pd.Timestamp(d).strftime("%Y-%m-%d") for d in s["recorded_at"]],
        "valence": _none_if_nan(s["valence_mean"].astype(float).round(3).tolist()),
        "rolling3": _none_if_nan(s["valence_rolling3"].astype(float).round(3).tolist()),
        "change": _none_if_nan(s["valence_change"].astype(float).round(3).tolist()),
        "baseline": None if s["baseline_valence"].isna().all() else round(float(s["baseline_valence"].iloc[0]), 3),
        "speaking": _none_if_nan(s["speaking_share"].astype(float).round(3).tolist()),
        "dominant": [None if pd.isna(v) else str(v) for v in s["dominant_emotion"]],
        "flags": [[f for f in FLAGS if bool(r[f]) is True] for _, r in s[list(FLAGS)].fillna(False).iterrows()],
        "links": links,
    }
