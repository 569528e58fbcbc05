"""The named fact views (warehouse/v_emotion_windows.sql, v_utterances.sql, v_frames.sql) and docs/queries.md."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from multimodal_fer import quality, store

FACT_VIEWS = {"v_emotion_windows": "emotion_windows", "v_utterances": "utterances", "v_frames": "frames"}
QUERIES = Path(__file__).resolve().parents[1] / "docs" / "queries.md"


@pytest.fixture(scope="module")
def con(synthetic_db):
    c = duckdb.connect(str(synthetic_db), read_only=True)
    yield c
    c.close()


@pytest.mark.parametrize("view,base", FACT_VIEWS.items())
def test_fact_view_has_every_row_of_its_table_with_who_when_where(con, view, base):
    n_base = con.execute(f"SELECT count(*) FROM {base}").fetchone()[0]
    assert n_base > 0
    assert con.execute(f"SELECT count(*) FROM {view}").fetchone()[0] == n_base
    wrong = con.execute(f"""SELECT count(*) FROM {view} v JOIN sessions s USING (recording_sha256)
        WHERE v.patient_id IS DISTINCT FROM s.patient_id OR v.session_id IS DISTINCT FROM s.session_id
           OR v.recorded_at IS DISTINCT FROM s.recorded_at OR v.site IS DISTINCT FROM s.site
           OR v.trial_arm IS DISTINCT FROM s.trial_arm""").fetchone()[0]
    assert wrong == 0
    cols = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
    assert cols[:5] == ["patient_id", "session_id", "recorded_at", "site", "trial_arm"]
    assert set(cols) >= {r[0] for r in con.execute(f"DESCRIBE {base}").fetchall()}


def test_quality_passes_on_the_views_and_fails_on_an_orphan_row(synthetic_db, tmp_path):
    con = duckdb.connect(str(synthetic_db), read_only=True)
    try:
        reports = {r.table: r for r in quality.validate_warehouse(con)}
    finally:
        con.close()
    assert set(FACT_VIEWS) <= set(reports)
    assert all(reports[v].success for v in FACT_VIEWS), [reports[v].failures for v in FACT_VIEWS]
    copy = tmp_path / "w.duckdb"
    shutil.copy(synthetic_db, copy)
    con = store.connect(copy)
    try:  # a window whose recording has no session: an orphan the views cannot place
        con.execute("INSERT INTO emotion_windows SELECT * REPLACE ('f' || recording_sha256[2:] AS recording_sha256) "
                    "FROM emotion_windows LIMIT 1")
        report = quality.validate_view(con, "v_emotion_windows")
    finally:
        con.close()
    assert not report.success
    assert any(f.startswith("patient_id: expect_column_values_to_not_be_null: 1 ") for f in report.failures)


def _doc_queries() -> list[tuple[str, str]]:
    return re.findall(r"^## (.+?)\n.*?```sql\n(.*?)```", QUERIES.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_docs_queries_use_the_views_and_answer(con):
    queries = _doc_queries()
    using = [title for title, sql in queries if re.search(r"\bv_(emotion_windows|utterances|frames)\b", sql)]
    assert len(using) >= 3, "docs/queries.md should answer questions through the fact views"
    for title, sql in queries:
        answer = con.execute(sql).df()
        if title in using:
            assert len(answer), title
