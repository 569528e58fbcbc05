"""End to end: the bucket flow on generated recordings with real models, twice, plus bad files."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys

import duckdb
import pytest

from multimodal_fer import quality
from multimodal_fer_schemas import TABLES
from scripts.demo_bucket import make_demo_bucket
from tests.conftest import needs_shared

pytestmark = pytest.mark.slow


def _counts(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES if t != "runs"}
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from multimodal_fer_flows.process_bucket import process_bucket

    root = tmp_path_factory.mktemp("flow")
    bucket = make_demo_bucket(root / "bucket")
    (bucket / "P003").mkdir()
    (bucket / "P003" / "S01.mp4").write_bytes(b"this is not a video" * 100)
    (bucket / "P003" / "S02.mp4").write_bytes(b"")
    (bucket / "P003" / "bad name.mp4").write_bytes(b"x")
    db = root / "warehouse.duckdb"
    first = process_bucket(bucket=str(bucket), db=str(db), staging=str(root / "staging"))
    after_first = _counts(db)
    second = process_bucket(bucket=str(bucket), db=str(db))
    return {"db": db, "bucket": bucket, "first": first, "second": second, "after_first": after_first}


def test_first_run_loads_every_good_recording_and_quarantines_the_bad(demo_run):
    first = demo_run["first"]
    assert first["n_discovered"] == 6 and first["n_loaded"] == 4 and first["n_quarantined"] == 3
    assert first["quality_failures"] == []
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    reasons = dict(con.execute("SELECT session_id, reason FROM v_quarantine WHERE patient_id = 'P003' OR patient_id IS NULL").fetchall())
    assert "empty file" in reasons["S02"] and "not a readable" in reasons["S01"]
    assert any("invalid session id" in r for r in reasons.values())


def test_second_run_changes_nothing(demo_run):
    second = demo_run["second"]
    assert second["n_loaded"] == 0 and second["n_skipped"] == 6  # 4 loaded + 2 already quarantined
    assert second["n_quarantined"] == 0  # nothing new to quarantine: the bad name is already on record
    assert _counts(demo_run["db"]) == demo_run["after_first"]
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_each_session_has_every_stream(demo_run):
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    sessions = con.execute("SELECT recording_sha256, duration_s, n_frames, sample_fps, language, recorded_at, site "
                           "FROM sessions").fetchall()
    assert len(sessions) == 4
    for sha, duration, n_frames, fps, language, recorded_at, site in sessions:
        assert abs(n_frames - duration * fps) <= 2
        assert language == "en" and recorded_at is not None and site.startswith("site-")
        n_windows = con.execute("SELECT count(*) FROM emotion_windows WHERE recording_sha256 = ?", [sha]).fetchone()[0]
        assert n_windows == math.ceil(duration - 1e-9)
        face = con.execute("SELECT avg(face_found::INT) FROM frames WHERE recording_sha256 = ?", [sha]).fetchone()[0]
        assert face > 0.9
        speakers = dict(con.execute("SELECT speaker, count(*) FROM utterances WHERE recording_sha256 = ? GROUP BY 1", [sha]).fetchall())
        assert speakers.get("patient", 0) >= 1, speakers
        words = con.execute("SELECT count(*) FROM words WHERE recording_sha256 = ?", [sha]).fetchone()[0]
        assert words >= 8
    # the face is downweighted while the patient speaks
    w = con.execute("SELECT avg(w_face) FILTER (WHERE patient_speaking), avg(w_face) FILTER (WHERE NOT patient_speaking "
                    "AND signal <> 'none') FROM emotion_windows").fetchone()
    assert w[0] < w[1]


def test_clinician_speech_is_not_the_patients(demo_run):
    """In every demo session a clinician asks first (lips still), then the patient answers (lips move)."""
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    first = con.execute("SELECT speaker FROM utterances WHERE utterance_idx = 0").fetchall()
    assert sum(s == "other" for (s,) in first) >= 3, first
    # utterances follow turns: the clinician's rows never carry the patient's words
    patient_words = ("tired", "walking", "birthday", "furious")
    other = [t.lower() for (t,) in con.execute("SELECT text FROM utterances WHERE speaker = 'other'").fetchall()]
    assert other and not [t for t in other if any(w in t for w in patient_words)], other
    moments = [t.lower() for (t,) in con.execute("SELECT words FROM moments WHERE words IS NOT NULL").fetchall()]
    assert not [t for t in moments if any(w in t for w in ("feeling", "this month", "tell me", "happened at"))], moments


def test_views_answer(demo_run):
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    rows = con.execute("SELECT patient_id, session_index, valence_change FROM v_patient_longitudinal").fetchall()
    assert sorted((p, i) for p, i, _ in rows) == [("P001", 1), ("P001", 2), ("P002", 1), ("P002", 2)]
    assert con.execute("SELECT count(*) FROM v_session_summary").fetchone()[0] == 4


def test_warehouse_passes_data_quality_and_a_corrupted_copy_fails(demo_run, tmp_path):
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    assert all(r.success for r in quality.validate_warehouse(con)), [r.failures for r in quality.validate_warehouse(con)]
    con.close()
    bad = tmp_path / "bad.duckdb"
    shutil.copy(demo_run["db"], bad)
    c = duckdb.connect(str(bad))
    c.execute("UPDATE emotion_windows SET valence = 3.0 WHERE window_start_s = 0")
    c.close()
    out = subprocess.run([sys.executable, "-m", "multimodal_fer.cli", "validate", "--db", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "valence: expect_column_values_to_be_between" in out.stdout


def test_cli_sql_and_status_are_read_only(demo_run):
    out = subprocess.run([sys.executable, "-m", "multimodal_fer.cli", "sql", "select count(*) as n from sessions",
                          "--db", str(demo_run["db"])], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "4"
    out = subprocess.run([sys.executable, "-m", "multimodal_fer.cli", "sql", "delete from sessions", "--db",
                          str(demo_run["db"])], capture_output=True, text=True)
    assert out.returncode != 0 and "read-only" in (out.stderr + out.stdout).lower()
    out = subprocess.run([sys.executable, "-m", "multimodal_fer.cli", "status", "--db", str(demo_run["db"])],
                         capture_output=True, text=True, check=True)
    assert "quarantine" in out.stdout and "emotion_windows" in out.stdout


@pytest.mark.shared_data
def test_cremad_clips_as_one_patient(tmp_path):
    from multimodal_fer_flows.process_bucket import process_bucket

    src = needs_shared("av", "cremad", "video_flv")
    bucket = tmp_path / "bucket" / "1001"
    bucket.mkdir(parents=True)
    for clip in sorted(src.glob("*.flv")):
        shutil.copy(clip, bucket / clip.name)
    db = tmp_path / "w.duckdb"
    first = process_bucket(bucket=str(bucket.parent), db=str(db))
    assert first["n_loaded"] == 6 and first["n_quarantined"] == 0 and not first["quality_failures"]
    second = process_bucket(bucket=str(bucket.parent), db=str(db))
    assert second["n_loaded"] == 0 and second["n_skipped"] == 6
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(DISTINCT session_id) FROM sessions WHERE patient_id = '1001'").fetchone()[0] == 6
    assert con.execute("SELECT min(face_coverage) FROM session_summaries").fetchone()[0] > 0.9


def _doc_queries():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "queries.md").read_text()
    return re.findall(r"^## (.+?)\n.*?```sql\n(.*?)```", text, flags=re.S | re.M)


def test_docs_queries_answer_on_the_flow_warehouse(demo_run):
    queries = _doc_queries()
    assert len(queries) >= 6
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    answers = {title: con.execute(sql).df() for title, sql in queries}
    coverage = answers["Which sites have low face coverage?"]
    assert set(coverage.site) == {"site-a", "site-b"} and (coverage.mean_face_coverage > 0.9).all()
    declined = answers["Which patients declined over their last 4 sessions?"]
    assert "P002" in set(declined.patient_id)  # "It was wonderful…" then "I am furious…"
    arms = answers["How is the patient's expressed emotion distributed in each session?"]
    assert len(arms) == 4
    assert len(answers["Which recordings were not processed, and why?"]) == 3


def test_report_renders_in_a_browser(demo_run, tmp_path):
    """`mfer report` on the flow's warehouse: overview, patient and session pages render in headless Chromium
    with no error, the overview lists the warehouse's patients by concern, a session's hover shows its words."""
    from tests import browser
    from tests.test_report import expected_order

    out = tmp_path / "report"
    subprocess.run([sys.executable, "-m", "multimodal_fer.cli", "report", "--db", str(demo_run["db"]),
                    "--out", str(out)], check=True, capture_output=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")) == [
        "index.html", "patients/P001.html", "patients/P002.html", "sessions/P001/S01.html", "sessions/P001/S02.html",
        "sessions/P002/S01.html", "sessions/P002/S02.html"]
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    try:
        order = expected_order(con)
        start, end, words = con.execute("SELECT start_s, end_s, text FROM v_utterances WHERE patient_id = 'P002' "
                                        "AND session_id = 'S02' AND speaker = 'patient' ORDER BY start_s").fetchone()
    finally:
        con.close()
    profile = tmp_path / "chrome"
    dom = browser.check_page(out / "index.html", profile, charts=0)
    assert browser.rows(dom, "cohort", "patient") == order and set(order) == {"P001", "P002"}
    browser.check_page(out / "patients" / "P002.html", profile, charts=1)
    dom = browser.check_page(out / "sessions" / "P002" / "S02.html", profile, charts=1,
                             fragment=f"#t={(start + end) / 2:.1f}")
    label = browser.hover_text(dom)
    assert "voice:" in label and " ".join(words.split()[:3]) in label
