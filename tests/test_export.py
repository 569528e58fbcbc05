"""``mfer export`` (multimodal_fer/export.py): round trips, refusals, the audit row, through the real CLI."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from multimodal_fer.cli import main


@pytest.fixture
def db(synthetic_db, tmp_path):
    """A private copy of the synthetic warehouse (exports write their audit row into it)."""
    copy = tmp_path / "w.duckdb"
    shutil.copy(synthetic_db, copy)
    return copy


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns[:2]) + ["recording_sha256", "utterance_idx"]).reset_index(drop=True)


def _audit(db) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT * FROM audit WHERE action = 'exported' ORDER BY \"at\"").df()
    finally:
        con.close()


def test_view_round_trips_to_parquet_and_is_audited(db, tmp_path, capsys):
    out = tmp_path / "utterances.parquet"
    assert main(["export", "--db", str(db), "--view", "v_utterances", "--out", str(out)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        expected = con.execute("SELECT * FROM v_utterances").df()
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'v_utterances'").fetchall())
    finally:
        con.close()
    got = pq.read_table(out).to_pandas()
    assert len(expected) > 100 and list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(_sorted(got), _sorted(expected), check_dtype=False)
    assert types["recorded_at"].startswith("TIMESTAMP") and str(got["recorded_at"].dtype).startswith("datetime64")
    audit = _audit(db)
    assert len(audit) == 1
    row = audit.iloc[0]
    assert row["source_uri"] == "view:v_utterances" and row["target_uri"] == str(out) and row["n_rows"] == len(expected)
    assert row["recording_sha256"] is None or pd.isna(row["recording_sha256"])
    assert f"exported {len(expected)} rows of view:v_utterances" in capsys.readouterr().out


def test_refuses_to_overwrite_without_force(db, tmp_path, capsys):
    out = tmp_path / "sessions.csv"
    out.write_text("precious\n")
    assert main(["export", "--db", str(db), "--table", "sessions", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "exists" in err and "--force" in err
    assert out.read_text() == "precious\n" and _audit(db).empty
    assert main(["export", "--db", str(db), "--table", "sessions", "--out", str(out), "--force"]) == 0
    got = pd.read_csv(out)
    assert len(got) == 60 and set(got["patient_id"]) == {f"P{i:03d}" for i in range(1, 13)}
    assert len(_audit(db)) == 1


@pytest.mark.parametrize("suffix", ["", ".wal", ".lock", ".csv"])
def test_never_writes_over_the_warehouse_or_its_files_even_with_force(db, capsys, suffix):
    target = db.with_name(db.name + suffix)
    before = db.read_bytes()
    assert main(["export", "--db", str(db), "--table", "sessions", "--out", str(target), "--force"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "warehouse" in err
    assert db.read_bytes() == before and (suffix == "" or not target.exists())
    assert _audit(db).empty


def test_per_patient_writes_one_file_each_and_refuses_a_folder_it_did_not_write(db, tmp_path, capsys):
    folder = tmp_path / "windows"
    args = ["export", "--db", str(db), "--view", "v_emotion_windows", "--out", str(folder), "--per-patient",
            "--format", "parquet"]
    assert main(args) == 0
    files = sorted(p.name for p in folder.iterdir())
    assert files == [f"P{i:03d}.parquet" for i in range(1, 13)]
    one = pq.read_table(folder / "P004.parquet").to_pandas()
    assert set(one["patient_id"]) == {"P004"} and len(one) == 5 * 120
    assert main(args) == 2 and "exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0  # a folder of exports may be replaced
    (folder / "notes.txt").write_text("mine")
    assert main(args + ["--force"]) == 2  # … but not one holding anything else
    assert (folder / "notes.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


@pytest.mark.parametrize("option,value,message", [
    ("--table", "sessions; DROP TABLE sessions", "no table"),
    ("--table", "v_utterances", "no table"),  # a view is not a table
    ("--view", "sessions", "no view"),
    ("--query", "DELETE FROM sessions", "one SELECT"),
    ("--query", "COPY sessions TO 'x.csv'", "one SELECT"),
    ("--query", "SELECT 1; DROP TABLE sessions", "one SELECT"),
])
def test_refuses_unknown_names_and_statements_that_are_not_one_select(db, tmp_path, capsys, option, value, message):
    out = tmp_path / "x.csv"
    assert main(["export", "--db", str(db), option, value, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and _audit(db).empty
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == 60
    con.close()


def test_query_to_csv_and_per_patient_needs_patient_id(db, tmp_path, capsys):
    out = tmp_path / "arms.csv"
    sql = "SELECT trial_arm, count(*) AS n FROM v_emotion_windows GROUP BY 1 ORDER BY 1"
    assert main(["export", "--db", str(db), "--query", sql, "--out", str(out)]) == 0
    got = pd.read_csv(out)
    assert list(got["trial_arm"]) == ["control", "intervention"] and got["n"].sum() == 60 * 120
    assert _audit(db).iloc[0]["source_uri"] == f"query:{sql}"
    assert main(["export", "--db", str(db), "--table", "runs", "--out", str(tmp_path / "runs"), "--per-patient"]) == 2
    assert "patient_id" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    assert main(["export", "--db", str(db), "--table", "runs", "--out", str(tmp_path / "no" / "runs.csv")]) == 2


def test_force_never_replaces_a_folder_with_one_file_nor_a_pipe(db, tmp_path, capsys):
    import os

    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "P001.csv").write_text("a\n1\n")  # only exports inside: a --per-patient export may replace it
    assert main(["export", "--db", str(db), "--table", "patients", "--out", str(folder), "--force"]) == 2
    assert "never replaces a folder" in capsys.readouterr().err and (folder / "P001.csv").exists()
    os.mkfifo(tmp_path / "pipe.csv")
    assert main(["export", "--db", str(db), "--table", "patients", "--out", str(tmp_path / "pipe.csv"), "--force"]) == 2
    assert "not a regular file" in capsys.readouterr().err and (tmp_path / "pipe.csv").is_fifo()
    assert _audit(db).empty


def test_a_query_ending_in_a_comment_exports_per_patient(db, tmp_path):
    sql = "SELECT patient_id, count(*) AS n FROM v_emotion_windows GROUP BY 1 -- every patient"
    assert main(["export", "--db", str(db), "--query", sql, "--out", str(tmp_path / "per"), "--per-patient"]) == 0
    assert len(list((tmp_path / "per").glob("*.csv"))) > 1


def test_a_killed_exports_hidden_copy_is_removed_by_the_next_export(db, tmp_path):
    from multimodal_fer.export import EXPORT_PREFIX

    left = tmp_path / f"{EXPORT_PREFIX}dead0000"  # what a SIGKILL leaves: no process holds its lock
    left.mkdir()
    (left / "export").write_text("patient_id,transcript\nP001,private words\n")
    assert main(["export", "--db", str(db), "--table", "patients", "--out", str(tmp_path / "p.csv")]) == 0
    assert not left.exists() and (tmp_path / "p.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_files_of_a_linked_warehouse_are_refused_by_both_names(db, tmp_path, capsys):
    link = tmp_path / "current.duckdb"
    link.symlink_to(db)
    for out in (link.with_name("current.duckdb.lock"), db.with_name(db.name + ".next")):
        assert main(["export", "--db", str(link), "--table", "patients", "--out", str(out), "--force"]) == 2
        assert "is the warehouse or one of its files" in capsys.readouterr().err


def test_ctrl_c_during_an_export_query_says_interrupted(db, tmp_path, monkeypatch, capsys):
    from multimodal_fer import export

    def interrupted(*args, **kwargs):
        raise duckdb.InterruptException("INTERRUPT Error: Query interrupted")  # what DuckDB raises on SIGINT

    monkeypatch.setattr(export, "export", interrupted)
    assert main(["export", "--db", str(db), "--table", "patients", "--out", str(tmp_path / "p.csv")]) == 130
    assert capsys.readouterr().err.strip() == "mfer: interrupted"


def test_a_format_the_extension_contradicts_and_an_empty_patient_id(db, tmp_path, capsys):
    from multimodal_fer.export import file_name

    out = tmp_path / "x.csv"
    assert main(["export", "--db", str(db), "--table", "patients", "--out", str(out), "--format", "parquet"]) == 2
    assert "--format parquet but --out ends in .csv" in capsys.readouterr().err and not out.exists()
    assert main(["export", "--db", str(db), "--table", "patients", "--out", str(tmp_path / "x"), "--format",
                 "parquet"]) == 0  # no extension: the format says it
    assert file_name("", "csv") == "_.csv" and not file_name("", "csv").startswith(".")


COUNTING = "SELECT 'p' AS patient_id, count(*) AS n FROM range(1000000000000)"  # minutes before the first row
STREAMING = "SELECT i, md5(repeat('x', 2000) || i::VARCHAR) AS h FROM range(100000000) t(i)"  # rows flow all along


@pytest.mark.parametrize("slow, per_patient", [(COUNTING, False), (COUNTING, True), (STREAMING, False)])
def test_an_export_past_its_time_limit_is_stopped_writes_nothing_and_is_not_audited(db, tmp_path, capsys, slow,
                                                                                     per_patient):
    import time

    out = tmp_path / ("slow" if per_patient else "slow.csv")
    start = time.monotonic()
    args = ["export", "--db", str(db), "--query", slow, "--out", str(out), "--timeout", "1"]
    assert main(args + (["--per-patient"] if per_patient else [])) == 2
    assert time.monotonic() - start < 30
    err = capsys.readouterr().err.strip()
    assert err.startswith("mfer export: the export ran longer than 1 s and was stopped") and "\n" not in err
    assert not out.exists() and list(tmp_path.glob(".mfer-export-*")) == [] and _audit(db).empty


def test_the_export_time_limit_is_checked(db, tmp_path, capsys):
    for bad in ("-1", "nan", "1e9"):
        assert main(["export", "--db", str(db), "--table", "patients", "--out", str(tmp_path / "p.csv"),
                     "--timeout", bad]) == 2
        assert "--timeout must be 0 (no time limit)" in capsys.readouterr().err
    assert main(["export", "--db", str(db), "--table", "patients", "--out", str(tmp_path / "p.csv"), "--timeout", "0"]) == 0
