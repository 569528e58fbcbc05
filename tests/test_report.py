"""``mfer report`` (multimodal_fer/report/): the cohort overview, patient and session pages.

The fast tests read the written HTML; the slow ones render it in headless Chromium as a person's
browser would (no console error, charts drawn, hover labels with the words), on a small synthetic
warehouse and on 100 patients × 10 sessions of 30 minutes (time and size budgets).
"""

from __future__ import annotations

import html
import json
import math
import re
import time

import duckdb
import numpy as np
import pandas as pd
import pytest

from multimodal_fer.cli import main
from multimodal_fer.report import build, data
from multimodal_fer.report.markup import sparkline
from tests import browser

LATEST_SQL = ("SELECT * FROM v_patient_longitudinal "
              "QUALIFY row_number() OVER (PARTITION BY patient_id ORDER BY session_index DESC) = 1")


def expected_order(con) -> list[str]:
    """Concern, computed here on its own: flags of the latest session (count), then its valence change, then id."""
    latest = con.execute(LATEST_SQL).df()
    latest[["flag_sustained_negative_shift", "flag_falling_engagement"]] = latest[
        ["flag_sustained_negative_shift", "flag_falling_engagement"]].fillna(False).astype(bool)
    key = {r.patient_id: (-(int(r.flag_sustained_negative_shift) + int(r.flag_falling_engagement)),
                          math.inf if pd.isna(r.valence_change) else r.valence_change, r.patient_id)
           for r in latest.itertuples()}
    return sorted(key, key=key.get)


@pytest.fixture(scope="module")
def report(synthetic_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report"
    assert main(["report", "--db", str(synthetic_db), "--out", str(out)]) == 0
    con = duckdb.connect(str(synthetic_db), read_only=True)
    yield out, con
    con.close()


def test_concern_order_puts_flags_first_then_the_largest_drop():
    cohort = pd.DataFrame({"patient_id": ["a", "b", "c", "d", "e"],
                           "flag_sustained_negative_shift": [False, True, False, True, False],
                           "flag_falling_engagement": [False, False, True, True, False],
                           "valence_change": [-0.5, -0.2, -0.3, 0.1, np.nan]})
    assert list(data.concern_order(cohort)["patient_id"]) == ["d", "c", "b", "a", "e"]


def test_speaking_bands_merge_consecutive_windows():
    start = np.arange(8.0)
    bands = data.speaking_bands(start, start + 1, np.array([0, 1, 1, 0, 0, 1, 0, 1], bool))
    assert bands == [[1.0, 3.0], [5.0, 6.0], [7.0, 8.0]]
    assert data.speaking_bands(start, start + 1, np.zeros(8, bool)) == []


def test_sparkline_has_a_point_per_session_within_its_box():
    svg = sparkline([0.5, np.nan, -1.5, 0.0], 0.2)
    points = [tuple(map(float, p.split(","))) for p in re.search(r"points='([^']*)'", svg).group(1).split()]
    assert len(points) == 3 and all(0 <= x <= 120 and 0 <= y <= 28 for x, y in points)
    assert points[1][1] > points[0][1]  # lower valence is drawn lower


def test_every_patient_and_session_has_a_page_in_concern_order(report):
    out, con = report
    index = (out / "index.html").read_text()
    listed = browser.rows(index, "cohort", "patient")
    assert listed == expected_order(con)
    assert set(listed) == {r[0] for r in con.execute("SELECT patient_id FROM patients").fetchall()}
    sessions = con.execute("SELECT patient_id, session_id FROM sessions").fetchall()
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("sessions/*/*.html")) == sorted(
        f"sessions/{p}/{s}.html" for p, s in sessions)
    assert sorted(p.stem for p in out.glob("patients/*.html")) == sorted(listed)
    flagged = con.execute(f"SELECT count(*) FROM ({LATEST_SQL}) WHERE flag_sustained_negative_shift "
                          "OR flag_falling_engagement").fetchone()[0]
    assert flagged >= 2 and index.count("class='flag'") >= flagged


def test_pages_carry_the_note_and_load_nothing_from_the_network(report):
    out, _ = report
    pages = list(out.rglob("*.html"))
    assert len(pages) > 60
    for page in pages:
        text = html.unescape(page.read_text())
        assert "not the patient's inner state, and it is not a diagnosis" in text, page
        assert not re.search(r"(src|href)=['\"](https?:)?//", text), page
    assert [p.name for p in out.rglob("plotly*.js")] == ["plotly.min.js"]  # the bundle once, in assets/
    assert "assets/plotly.min.js" in (out / "patients" / "P001.html").read_text()


def test_a_session_page_holds_only_its_own_rows(report):
    out, con = report
    sha, n = con.execute("SELECT recording_sha256, n_windows FROM session_summaries JOIN sessions USING "
                         "(recording_sha256) WHERE patient_id = 'P003' AND session_id = 'S02'").fetchone()
    page = (out / "sessions" / "P003" / "S02.html").read_text()
    timeline = json.loads(re.search(r"id='mfer-data'>(.*?)</script>", page).group(1).replace("<\\/", "</"))["timeline"]
    assert len(timeline["start"]) == n and all(len(col) == n for col in timeline["fused"])
    words = [r[0] for r in con.execute("SELECT text FROM utterances WHERE recording_sha256 = ? ORDER BY utterance_idx",
                                       [sha]).fetchall()]
    assert [u[3] for u in timeline["utterances"]] == words
    assert page.count("<tr class=") == len(words)  # the utterance table: this session's rows only


def test_pseudonymised_warehouse_shows_only_pseudonyms(tmp_path):
    from scripts.synthetic_warehouse import build as build_warehouse

    db = build_warehouse(tmp_path / "w.duckdb", n_patients=3, n_sessions=3, minutes=1.0, pseudonym_key="k" * 32)
    out = tmp_path / "report"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    listed = browser.rows((out / "index.html").read_text(), "cohort", "patient")
    assert len(listed) == 3 and all(re.fullmatch(r"p_[0-9a-f]{16}", p) for p in listed)
    assert sorted(p.stem for p in out.glob("patients/*.html")) == sorted(listed)
    assert not any(re.search(r"P00[1-3]", p.read_text()) for p in out.rglob("*.html"))


def test_sessions_without_manifest_metadata_still_report(tmp_path):
    """A bucket without a manifest: no recorded_at, site or arm anywhere (NULL, NaT in pandas)."""
    from scripts.synthetic_warehouse import build as build_warehouse

    db = build_warehouse(tmp_path / "w.duckdb", n_patients=2, n_sessions=3, minutes=1.0)
    con = duckdb.connect(str(db))
    con.execute("UPDATE sessions SET recorded_at = NULL, site = NULL, trial_arm = NULL")
    con.execute("UPDATE patients SET site = NULL, trial_arm = NULL")
    con.close()
    out = tmp_path / "report"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    assert len(browser.rows((out / "index.html").read_text(), "cohort", "patient")) == 2
    assert len(list(out.glob("sessions/*/*.html"))) == 6


def test_a_cohort_where_only_some_patients_have_a_site_reports(tmp_path):
    """A manifest that covers part of the bucket: some sites and arms NULL, others text."""
    from scripts.synthetic_warehouse import build as build_warehouse

    db = build_warehouse(tmp_path / "w.duckdb", n_patients=3, n_sessions=2, minutes=1.0)
    con = duckdb.connect(str(db))
    first = con.execute("SELECT min(patient_id) FROM patients").fetchone()[0]
    for table in ("sessions", "patients"):
        con.execute(f"UPDATE {table} SET site = NULL, trial_arm = NULL WHERE patient_id <> ?", [first])
    con.close()
    out = tmp_path / "report"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    index = (out / "index.html").read_text()
    assert len(browser.rows(index, "cohort", "patient")) == 3 and ">nan<" not in index and "'nan'" not in index


def test_the_report_never_writes_over_a_file_or_into_a_folder_of_other_files(synthetic_db, tmp_path, capsys):
    import shutil

    synthetic_db = shutil.copy(synthetic_db, tmp_path / "w.duckdb")  # a private copy: no shared connection
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.html").write_text("<html>my own page</html>")
    for out, message in ((tmp_path / "a-file", "is a file"), (tmp_path / "mine", "holds files that are not a report")):
        assert main(["report", "--db", str(synthetic_db), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
    assert (tmp_path / "mine" / "index.html").read_text() == "<html>my own page</html>"
    out = tmp_path / "report"
    assert main(["report", "--db", str(synthetic_db), "--out", str(out)]) == 0
    assert main(["report", "--db", str(synthetic_db), "--out", str(out)]) == 0  # over an earlier report: fine
    assert main(["report", "--db", str(synthetic_db), "--out", str(out), "--patient", ""]) == 2
    assert "no sessions for ''" in capsys.readouterr().err


@pytest.mark.slow
def test_pages_render_in_chromium_without_errors(report, tmp_path):
    out, con = report
    profile = tmp_path / "chrome"
    dom = browser.check_page(out / "index.html", profile, charts=0)
    assert browser.rows(dom, "cohort", "patient") == expected_order(con)
    assert re.search(r"id=\"f-count\">12<", dom), "the site / arm filter script did not run"
    first = expected_order(con)[0]
    browser.check_page(out / "patients" / f"{first}.html", profile, charts=1)
    start, end, words = con.execute(
        "SELECT start_s, end_s, text FROM v_utterances WHERE patient_id = ? AND session_id = 'S05' "
        "AND speaker = 'patient' AND end_s - start_s > 3 ORDER BY start_s LIMIT 1", [first]).fetchone()
    dom = browser.check_page(out / "sessions" / first / "S05.html", profile, charts=1,
                             fragment=f"#t={(start + end) / 2:.1f}")
    label = browser.hover_text(dom)
    assert all(f"{s}:" in label for s in ("fused", "face", "voice", "text")) and words in label


@pytest.mark.slow
def test_100_patients_build_within_budget_and_render(tmp_path):
    from scripts.synthetic_warehouse import build as build_warehouse

    db = build_warehouse(tmp_path / "w.duckdb", n_patients=100, n_sessions=10, minutes=30.0)
    con = duckdb.connect(str(db), read_only=True)
    try:
        started = time.perf_counter()
        done = build(con, tmp_path / "report")
        seconds = time.perf_counter() - started
        order = expected_order(con)
    finally:
        con.close()
    out = tmp_path / "report"
    sizes = {p: p.stat().st_size for p in out.rglob("*.html")}
    print(f"100 x 10 x 30 min: {seconds:.1f} s, overview {sizes[out / 'index.html'] / 1e3:.0f} kB, largest session "
          f"page {max(v for p, v in sizes.items() if 'sessions' in p.parts) / 1e3:.0f} kB, {len(sizes)} pages")
    assert done.n_patients == 100 and done.n_sessions == 1000 and len(sizes) == 1 + 100 + 1000
    assert seconds < 120, f"report took {seconds:.0f} s"
    assert sizes[out / "index.html"] < 5e6
    assert max(v for p, v in sizes.items() if "sessions" in p.parts) < 1.5e6
    profile = tmp_path / "chrome"
    dom = browser.check_page(out / "index.html", profile, charts=0)
    assert browser.rows(dom, "cohort", "patient") == order
    browser.check_page(out / "patients" / f"{order[0]}.html", profile, charts=1)
    browser.check_page(out / "sessions" / order[0] / "S10.html", profile, charts=1, fragment="#t=900")
