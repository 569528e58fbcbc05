"""The report's three page kinds: the cohort overview, a patient, a session (HTML strings)."""

from __future__ import annotations

import pandas as pd

from multimodal_fer.report.data import FLAGS, text_or_none
from multimodal_fer.report.markup import (
    date,
    esc,
    flags,
    fmt,
    json_script,
    mmss,
    num,
    page,
    safe_name,
    sparkline,
    table,
)

#: Filters of the overview: hide the rows whose site / trial arm is not the one chosen (small inline JS).
FILTER_JS = """(function(){var s=document.getElementById('f-site'),a=document.getElementById('f-arm');
function apply(){var n=0;document.querySelectorAll('#cohort tbody tr').forEach(function(tr){
var ok=(!s.value||tr.dataset.site===s.value)&&(!a.value||tr.dataset.arm===a.value);
tr.style.display=ok?'':'none';if(ok)n++;});document.getElementById('f-count').textContent=n;}
s.addEventListener('change',apply);a.addEventListener('change',apply);apply();})();"""

COHORT_HEADERS = [
    "#",
    "patient",
    "site",
    "trial arm",
    "sessions",
    "last session",
    "valence per session",
    "latest valence vs baseline",
    "active flags",
    "face coverage",
    "speech coverage",
    "quarantined",
]


def patient_href(pid: str) -> str:
    return f"patients/{safe_name(pid)}.html"


def session_href(pid: str, sid: str) -> str:
    return f"sessions/{safe_name(pid)}/{safe_name(sid)}.html"


def _select(id_: str, label: str, values) -> str:
    opts = "".join(f"<option value='{esc(v)}'>{esc(v)}</option>" for v in sorted({v for v in values if v}))
    return f"<label>{label} <select id='{id_}'><option value=''>all</option>{opts}</select></label>"


def _cohort_row(i: int, r) -> str:
    active = [f for f in FLAGS if bool(getattr(r, f))]
    return (
        f"<tr data-patient='{esc(r.patient_id)}' data-site='{esc(r.site or '')}' "
        f"data-arm='{esc(r.trial_arm or '')}'>"
        f"<td class='num'>{i}</td><td><a href='{esc(patient_href(r.patient_id))}'>{esc(r.patient_id)}</a></td>"
        f"<td>{esc(r.site or '–')}</td><td>{esc(r.trial_arm or '–')}</td><td class='num'>{int(r.n_sessions)}</td>"
        f"<td>{date(r.last_recorded_at)}</td>"
        f"<td>{sparkline(list(r.valence_series), r.baseline_valence, flagged=bool(active))}</td>"
        f"{num(r.valence_change, '{:+.2f}', low=-0.15)}<td>{flags(active)}</td>"
        f"{num(r.face_coverage, '{:.0%}', low=0.5)}{num(r.speech_coverage, '{:.0%}')}"
        f"<td class='num'>{int(r.n_quarantined)}</td></tr>"
    )


def _site_rows(sites: pd.DataFrame) -> list[str]:
    return [
        f"<tr><td>{esc(r.site)}</td><td class='num'>{int(r.patients)}</td><td class='num'>{int(r.sessions)}</td>"
        f"{num(r.face_coverage, '{:.0%}', low=0.5)}{num(r.speech_coverage, '{:.0%}')}"
        f"<td class='num'>{int(r.sessions_face_below_half)}</td><td class='num'>{int(r.n_quarantined)}</td></tr>"
        for r in sites.itertuples()
    ]


def overview_page(cohort: pd.DataFrame, sites: pd.DataFrame, *, orphans: int, generated: str) -> str:
    """One row per patient, most concerning first, with site / arm filters; coverage per site."""
    n_flagged = int((cohort[list(FLAGS)].fillna(False).any(axis=1)).sum())
    body = (
        "<h1>Cohort overview</h1>"
        f"<p class='meta'>{len(cohort)} patients, {int(cohort['n_sessions'].sum())} sessions; "
        f"{n_flagged} with an active change flag on their latest session. Generated {esc(generated)}.</p>"
        "<p class='meta'>Sorted by concern: active flags on the latest session first, then the largest drop of the "
        "latest session's valence against the patient's own baseline (the mean of their first two sessions).</p>"
        f"<div class='filters'>{_select('f-site', 'site', cohort['site'])}"
        f"{_select('f-arm', 'trial arm', cohort['trial_arm'])}<span id='f-count'></span> shown</div>"
        + table(COHORT_HEADERS, [_cohort_row(i + 1, r) for i, r in enumerate(cohort.itertuples())], attrs="id='cohort'")
        + "<h2>Coverage per site</h2>"
        "<p class='meta'>Face coverage: share of sampled frames with the patient's face; speech coverage: share of "
        "the session with voice activity. Low face coverage means the face stream says little.</p>"
        + table(
            [
                "site",
                "patients",
                "sessions",
                "face coverage",
                "speech coverage",
                "sessions with face < 50%",
                "quarantined recordings",
            ],
            _site_rows(sites),
            attrs="id='sites'",
        )
        + (
            f"<p class='meta'>{orphans} quarantined recording(s) belong to no loaded patient: see "
            '<code>mfer sql "select * from v_quarantine"</code>.</p>'
            if orphans
            else ""
        )
    )
    return page("multimodal-fer: cohort overview", body, root="", inline_js=FILTER_JS)


def _session_row(r, pid: str) -> str:
    active = [f for f in FLAGS if bool(getattr(r, f)) is True]
    return (
        f"<tr data-session='{esc(r.session_id)}'><td class='num'>{int(r.session_index)}</td>"
        f"<td><a href='../{esc(session_href(pid, r.session_id))}'>{esc(r.session_id)}</a></td>"
        f"<td>{date(r.recorded_at)}</td><td>{esc(text_or_none(r.dominant_emotion) or '–')}</td>"
        f"{num(r.valence_mean)}{num(r.valence_change, '{:+.2f}', low=-0.15)}{num(r.valence_rolling3)}"
        f"{num(r.speaking_share, '{:.0%}')}{num(r.face_coverage, '{:.0%}', low=0.5)}"
        f"{num(r.speech_coverage, '{:.0%}')}<td>{flags(active)}</td></tr>"
    )


def patient_page(row, sessions: pd.DataFrame, quarantined: pd.DataFrame, trend: dict) -> str:
    """Trend chart (valence per session against baseline, speaking share) and the session table."""
    pid = row.patient_id
    rows = [_session_row(r, pid) for r in sessions.fillna({f: False for f in FLAGS}).itertuples()]
    q_rows = [
        f"<tr><td>{date(r.quarantined_at)}</td><td>{esc(r.session_id)}</td><td>{esc(r.stage)}</td>"
        f"<td>{esc(r.reason)}</td></tr>"
        for r in quarantined.itertuples()
    ]
    body = (
        f"<p class='crumbs'><a href='../index.html'>cohort</a> › patient {esc(pid)}</p>"
        f"<h1>Patient {esc(pid)}</h1>"
        f"<p class='meta'>site {esc(row.site or '–')} · trial arm {esc(row.trial_arm or '–')} · "
        f"{int(row.n_sessions)} sessions · baseline valence {fmt(row.baseline_valence)} "
        f"{flags([f for f in FLAGS if bool(getattr(row, f))])}</p>"
        "<div class='chart' data-chart='trend' id='chart-trend'></div>"
        "<p class='meta'>Hover a session for its numbers; click it to open the session. The camera icon "
        "downloads the chart as PNG.</p><h2>Sessions</h2>"
        + table(
            [
                "#",
                "session",
                "recorded",
                "dominant",
                "valence",
                "change vs baseline",
                "rolling mean (3)",
                "speaking share",
                "face coverage",
                "speech coverage",
                "flags",
            ],
            rows,
            attrs="id='sessions'",
        )
        + ("<h2>Quarantined recordings</h2>" + table(["when", "session", "stage", "reason"], q_rows) if q_rows else "")
        + json_script({"trend": trend})
    )
    return page(f"multimodal-fer: patient {pid}", body, root="../", charts=True)


def _at(start: float, end: float) -> str:
    """A time span that, clicked, shows the chart's hover label in its middle."""
    return f"<a href='#t={(float(start) + float(end)) / 2:.1f}'>{mmss(start)}–{mmss(end)}</a>"


def _utterance_rows(utterances: pd.DataFrame) -> list[str]:
    return [
        f"<tr class='{esc(r.speaker)}'><td>{_at(r.start_s, r.end_s)}</td><td>{esc(r.speaker)}</td>"
        f"<td class='words'>{esc(text_or_none(r.text) or '(not stored)')}</td>"
        f"<td>{esc(text_or_none(r.text_label) or '–')}</td>"
        f"{num(r.vader_valence)}</tr>"
        for r in utterances.itertuples()
    ]


def _moment_rows(moments: pd.DataFrame) -> list[str]:
    return [
        f"<tr><td>{esc(r.kind)}</td><td class='num'>{int(r.rank)}</td><td>{_at(r.start_s, r.end_s)}</td>"
        f"{num(r.valence)}<td>{esc(r.label)}</td><td class='words'>{esc(text_or_none(r.words) or '–')}</td></tr>"
        for r in moments.itertuples()
    ]  # ordered by kind and rank when read


def session_page(pid: str, s, timeline: dict, utterances: pd.DataFrame, moments: pd.DataFrame) -> str:
    """Timeline of fused emotion with speaking bands, notable moments with the words, the utterances behind it."""
    body = (
        f"<p class='crumbs'><a href='../../index.html'>cohort</a> › "
        f"<a href='../../{esc(patient_href(pid))}'>patient {esc(pid)}</a> › session {esc(s.session_id)}</p>"
        f"<h1>Patient {esc(pid)} · session {esc(s.session_id)}</h1>"
        f"<p class='meta'>recorded {date(s.recorded_at)} · site {esc(text_or_none(s.site) or '–')} · trial arm "
        f"{esc(text_or_none(s.trial_arm) or '–')} · {mmss(s.duration_s)} · dominant expressed emotion "
        f"{esc(text_or_none(s.dominant_emotion) or '–')} · mean valence {fmt(s.valence_mean)}</p>"
        "<div class='chart' data-chart='timeline' id='chart-timeline' style='min-height:520px'></div>"
        "<p class='meta'>Top: fused expressed emotion per window (stacked; blank where neither the face nor the "
        "patient's speech gave a signal). Bottom: valence; blue bands: the patient speaks; red / green: notable "
        "negative / positive moments. Hover (or click a time in the tables) for the per-stream probabilities and "
        "the words at that moment; the camera icon downloads the chart as PNG.</p>"
        "<h2>Notable moments</h2>"
        + table(
            ["kind", "rank", "time", "valence", "label", "the patient's words"],
            _moment_rows(moments),
            attrs="id='moments'",
        )
        + "<h2>Utterances (transcript stream)</h2>"
        + table(
            ["time", "speaker", "words", "text emotion", "VADER valence"],
            _utterance_rows(utterances),
            attrs="id='utterances'",
        )
        + json_script({"timeline": timeline})
    )
    return page(f"multimodal-fer: {pid} / {s.session_id}", body, root="../../", charts=True)
