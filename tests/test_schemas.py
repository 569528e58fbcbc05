"""schemas/ is the single source: the DDL, the Parquet schema, the suites and the docs must agree with it."""

from pathlib import Path

import duckdb
import pytest

from multimodal_fer import quality, store
from multimodal_fer_schemas import TABLES, arrow_schema
from scripts.tables_doc import tables_doc

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tables.md"


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect(":memory:")
    store.init_db(c)
    yield c
    c.close()


@pytest.mark.parametrize("name", list(TABLES))
def test_ddl_matches_schema(con, name):
    t = TABLES[name]
    rows = con.execute(f"DESCRIBE {name}").fetchall()
    assert [r[0] for r in rows] == list(t.column_names)
    for (col, typ, null, _key, *_), c in zip(rows, t.columns):
        assert typ == c.type, col
        assert (null == "YES") == c.nullable or col in t.primary_key, col
    pk = {r[0] for r in rows if r[3] == "PRI"}
    assert pk == set(t.primary_key)


@pytest.mark.parametrize("name", list(TABLES))
def test_parquet_schema_matches(name):
    schema = arrow_schema(TABLES[name])
    assert schema.names == list(TABLES[name].column_names)
    assert [f.nullable for f in schema] == [c.nullable for c in TABLES[name].columns]


@pytest.mark.parametrize("name", list(TABLES))
def test_suite_covers_every_column(name):
    t = TABLES[name]
    suite = quality.build_suite(name)
    covered = {e.column for e in suite.expectations if getattr(e, "column", None)}
    assert set(t.column_names) <= covered
    not_null = {e.column for e in suite.expectations if e.expectation_type == "expect_column_values_to_not_be_null"}
    assert not_null == {c.name for c in t.columns if not c.nullable}
    ranged = {e.column for e in suite.expectations if e.expectation_type == "expect_column_values_to_be_between"}
    assert {c.name for c in t.columns if c.min is not None or c.max is not None} <= ranged


def test_docs_are_generated_from_schemas():
    assert DOCS.read_text() == tables_doc(), "run: python -m scripts.tables_doc > docs/tables.md"


def test_views_exist(con):
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert {"v_session_summary", "v_patient_longitudinal", "v_quarantine", "v_emotion_windows", "v_utterances",
            "v_frames"} <= views
    for v in views:
        con.execute(f"SELECT * FROM {v}").fetchall()  # binds on empty tables
