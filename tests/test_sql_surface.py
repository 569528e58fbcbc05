"""The read-only SQL surface: `mfer sql` (and every read-only connection) touches nothing but the warehouse file.

Real hostile SQL through the real CLI and real DuckDB; each is refused with one line, exit status 2 and no
side effect. The same statements are also refused by the locked-down connection itself (defence in depth:
not only by `mfer sql`'s one-query rule).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time

import duckdb
import pytest

from multimodal_fer import cli, store
from multimodal_fer.store.warehouse import HARD_STOP_S
from tests.test_store import stage


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A warehouse with one loaded session (made once: staging runs the data-quality checks)."""
    tmp = tmp_path_factory.mktemp("template")
    db = tmp / "w.duckdb"
    con = store.connect(db)
    store.load_recording(con, stage(tmp / "staged", "a" * 64), run_id="r1")
    con.close()
    return db


@pytest.fixture
def warehouse(template, tmp_path):
    """A copy of the template warehouse, another DuckDB file beside it, and their contents' hashes."""
    db = tmp_path / "w.duckdb"
    shutil.copyfile(template, db)
    other = tmp_path / "other.duckdb"
    c = duckdb.connect(str(other))
    c.execute("CREATE TABLE t AS SELECT 42 AS answer")
    c.close()
    return {"db": db, "other": other, "tmp": tmp_path, "sha": _sha(db), "other_sha": _sha(other)}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hostile(w) -> dict[str, str]:
    tmp, db = w["tmp"], w["db"]
    return {
        "copy to a file": f"COPY (SELECT 1) TO '{tmp / 'x.csv'}'",
        "export database": f"EXPORT DATABASE '{tmp / 'd'}'",
        "copy over the warehouse": f"COPY sessions TO '{db}'",
        "attach another file and delete": f"ATTACH '{w['other']}' AS o; DELETE FROM o.t",
        "attach another file": f"ATTACH '{w['other']}' AS o",
        "read_text": "SELECT * FROM read_text('/etc/passwd')",
        "glob": "SELECT * FROM glob('/*')",
        "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
        "read_parquet": f"SELECT * FROM read_parquet('{tmp / '*.parquet'}')",
        "a path as a table": "SELECT * FROM '/etc/passwd'",
        "external access back on": "SET enable_external_access = true",
        "set a setting": "SET memory_limit = '1GB'",
        "reset a setting": "RESET memory_limit",
        "pragma a setting": "PRAGMA memory_limit = '1GB'",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "create": "CREATE TABLE x AS SELECT 1",
        "delete": "DELETE FROM sessions",
        "update": "UPDATE sessions SET duration_s = 0",
        "drop": "DROP VIEW v_session_summary",
        "checkpoint": "CHECKPOINT",
        "two statements": f"SELECT 1; COPY (SELECT 1) TO '{tmp / 'y.csv'}'",
        # found by probing (2026-12-01); the connection refuses these too
        "getenv (the pseudonym key)": "SELECT getenv('MFER_PSEUDONYM_KEY')",
        "query() running a COPY": "SELECT * FROM query('COPY (SELECT 1) TO ''" + str(tmp / "z.csv") + "''')",
        "read_blob": "SELECT * FROM read_blob('/etc/passwd')",
        "read_json": "SELECT * FROM read_json_auto('/etc/hostname')",
        "sniff_csv": "SELECT * FROM sniff_csv('/etc/passwd')",
        "parquet_metadata": f"SELECT * FROM parquet_metadata('{tmp / 'x.parquet'}')",
        "extensions directory": "SELECT * FROM duckdb_extensions()",
        "a URL as a table": "SELECT * FROM 'https://example.com/x.csv'",
        "a data: URL": "SELECT * FROM read_csv('data:text/csv,a')",
        # statements that are not a query: refused by the one-query rule
        "create secret": "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')",
        "prepare": "PREPARE p AS SELECT 1",
        "explain analyze": "EXPLAIN ANALYZE SELECT 1",
        "pivot (creates an enum first)": "PIVOT sessions ON site",
        "use": "USE memory",
        "detach": "DETACH w",
        "vacuum": "VACUUM",
        "begin": "BEGIN TRANSACTION",
    }


CASES = ["copy to a file", "export database", "copy over the warehouse", "attach another file and delete",
         "attach another file", "read_text", "glob", "read_csv", "read_parquet", "a path as a table",
         "external access back on", "set a setting", "reset a setting", "pragma a setting", "install", "load", "create",
         "delete", "update", "drop", "checkpoint", "two statements", "getenv (the pseudonym key)",
         "query() running a COPY", "read_blob", "read_json", "sniff_csv", "parquet_metadata", "extensions directory",
         "a URL as a table", "a data: URL", "create secret", "prepare", "explain analyze",
         "pivot (creates an enum first)", "use", "detach", "vacuum", "begin"]
ONE_QUERY_RULE_ONLY = ("checkpoint", "two statements", "create secret", "prepare", "explain analyze",
                       "pivot (creates an enum first)", "use", "detach", "vacuum", "begin")


def _no_side_effect(w) -> None:
    assert _sha(w["db"]) == w["sha"], "the warehouse file changed"
    assert _sha(w["other"]) == w["other_sha"], "the other DuckDB file changed"
    assert sorted(p.name for p in w["tmp"].iterdir()) == ["other.duckdb", "w.duckdb"]


@pytest.mark.parametrize("sql, named", [("INSTALL httpfs", "not INSTALL (a LOAD statement)"),
                                        ("PRAGMA memory_limit = '1GB'", "not PRAGMA (a SET statement)"),
                                        ("SET memory_limit = '1GB'", "not SET"), ("DELETE FROM sessions", "not DELETE")])
def test_a_refusal_names_the_statement_as_written(warehouse, capsys, sql, named):
    assert cli.main(["sql", sql, "--db", str(warehouse["db"])]) == 2
    assert capsys.readouterr().err.rstrip().endswith(named)


@pytest.mark.parametrize("case", CASES)
def test_mfer_sql_refuses_hostile_sql_in_one_line(warehouse, capsys, case):
    rc = cli.main(["sql", _hostile(warehouse)[case], "--db", str(warehouse["db"])])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == "" and err.count("\n") == 1 and err.startswith("mfer: error: "), err
    assert "Traceback" not in err and "root:" not in err
    _no_side_effect(warehouse)


@pytest.mark.parametrize("case", [c for c in CASES if c not in ONE_QUERY_RULE_ONLY])
def test_the_read_only_connection_itself_refuses_them(warehouse, case):
    """Without `mfer sql`'s one-query rule too: DuckDB refuses each (a status or report connection is as safe)."""
    con = store.connect_readonly(warehouse["db"])
    try:
        with pytest.raises(duckdb.Error):
            con.execute(_hostile(warehouse)[case]).fetchall()
        # the lock-down still holds after the refusal
        assert con.execute("SELECT current_setting('enable_external_access'), "
                           "current_setting('lock_configuration')").fetchone() == (False, True)
    finally:
        con.close()
    _no_side_effect(warehouse)


def test_what_the_read_only_connection_still_allows_is_harmless(warehouse):
    """Documented in docs/privacy.md: a no-op CHECKPOINT, and temporary objects in memory that die with it."""
    con = store.connect_readonly(warehouse["db"])
    try:
        con.execute("CHECKPOINT")
        con.execute("CREATE TEMP TABLE scratch AS SELECT * FROM sessions")
        assert con.execute("SELECT count(*) FROM scratch").fetchone()[0] == 1
        with pytest.raises(duckdb.Error):
            con.execute("ATTACH ':memory:' AS m")
    finally:
        con.close()
    _no_side_effect(warehouse)


def test_a_normal_query_still_answers(warehouse, capsys):
    assert cli.main(["sql", "select count(*) as n from v_session_summary", "--db", str(warehouse["db"])]) == 0
    assert capsys.readouterr().out.split() == ["n", "1"]
    assert cli.main(["sql", "describe sessions", "--db", str(warehouse["db"])]) == 0
    assert "recording_sha256" in capsys.readouterr().out
    _no_side_effect(warehouse)


def test_a_query_that_never_ends_is_stopped_in_one_line(warehouse, capsys):
    t0 = time.perf_counter()
    argv = ["sql", "SELECT count(*) FROM range(10000000000000)", "--db", str(warehouse["db"]), "--timeout", "1"]
    assert cli.main(argv) == 2
    assert time.perf_counter() - t0 < 30  # the 10**13-row count alone would take hours
    assert capsys.readouterr().err == "mfer: error: the query ran longer than 1 s and was stopped\n"
    _no_side_effect(warehouse)


def test_a_query_the_interrupt_cannot_stop_is_killed_at_the_limit(warehouse, capsys):
    # one row, one huge string: DuckDB checks its interrupt between chunks of rows, so this ran ~25 s past 1 s
    sql = "SELECT length(regexp_replace(repeat('ab', 50000000), 'a', 'cc', 'g')) AS n"
    t0 = time.perf_counter()
    assert cli.main(["sql", sql, "--db", str(warehouse["db"]), "--timeout", "1"]) == 2
    assert time.perf_counter() - t0 < 1 + HARD_STOP_S + 4
    assert capsys.readouterr().err == "mfer: error: the query ran longer than 1 s and was stopped\n"
    _no_side_effect(warehouse)


@pytest.mark.parametrize("option,value", [("--timeout", "inf"), ("--timeout", "nan"), ("--timeout", "-1"),
                                          ("--max-rows", "0"), ("--max-rows", "9223372036854775807")])
def test_impossible_sql_options_are_one_line(warehouse, capsys, option, value):
    assert cli.main(["sql", "SELECT 1", "--db", str(warehouse["db"]), option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mfer: error: {option} must be") and err.count("\n") == 1


def test_errors_come_back_from_the_querys_process(warehouse, capsys):
    assert cli.main(["sql", "selec 1", "--db", str(warehouse["db"])]) == 2
    assert capsys.readouterr().err.startswith("mfer: error: Parser Error: syntax error")
    assert cli.main(["sql", "SELECT * FROM read_csv('/etc/passwd')", "--db", str(warehouse["db"])]) == 2
    assert "mfer: error:" in capsys.readouterr().err


def test_only_the_rows_shown_are_fetched(warehouse, capsys):
    # three billion rows as a DataFrame would be 24 GB: only --max-rows + 1 of them are fetched
    argv = ["sql", "SELECT range AS n FROM range(3000000000)", "--db", str(warehouse["db"]), "--max-rows", "3"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.strip() for line in out[:4]] == ["n", "0", "1", "2"]
    assert out[4].startswith("(first 3 rows shown; the query has more")
    assert cli.main(["sql", "SELECT 1 AS one", "--db", str(warehouse["db"]), "--max-rows", "3"]) == 0
    assert "first 3 rows" not in capsys.readouterr().out  # a result that fits says nothing more


def test_a_reader_that_stops_early_is_no_error(warehouse):
    """`mfer sql ... | head -1`: the pipe closes while mfer writes (more than a pipe's 64 kB): no error line."""
    cmd = [sys.executable, "-m", "multimodal_fer.cli", "sql", "SELECT range AS n FROM range(100000)",
           "--max-rows", "100000", "--db", str(warehouse["db"])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "n"
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1 and err == "", err


def test_a_bad_query_is_one_line_and_debug_shows_the_traceback(warehouse):
    cmd = [sys.executable, "-m", "multimodal_fer.cli", "sql", "selec 1", "--db", str(warehouse["db"])]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == 'mfer: error: Parser Error: syntax error at or near "selec"\n', out.stderr
    out = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback (most recent call last)" in out.stderr
    assert "duckdb.duckdb.ParserException" in out.stderr or "ParserException" in out.stderr


def test_every_subcommand_reports_an_error_in_one_line(tmp_path, capsys):
    missing = str(tmp_path / "missing.duckdb")
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"not a duckdb file" * 100)
    calls = [["sql", "select 1", "--db", missing], ["status", "--db", missing], ["validate", "--db", missing],
             ["report", "--db", missing, "--out", str(tmp_path / "r")], ["status", "--db", str(garbage)],
             ["sql", "select 1", "--db", str(garbage)], ["evaluate", "text", str(tmp_path / "missing.csv")]]
    for argv in calls:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("mfer: error: ") and "Traceback" not in err, (argv, err)
    with pytest.raises(FileNotFoundError):
        cli.main(["--debug", "status", "--db", missing])
    assert not (tmp_path / "missing.duckdb").exists() and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_failed_run_is_one_line_too(tmp_path):
    """`mfer run` on a missing bucket: one line, not the flow's and Prefect's tracebacks (they are --debug's)."""
    cmd = [sys.executable, "-m", "multimodal_fer_flows.cli", "run", str(tmp_path / "no-bucket"),
           "--db", str(tmp_path / "w.duckdb")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2
    assert out.stderr == f"mfer: error: bucket not found: {tmp_path / 'no-bucket'}\n", out.stderr


@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["status"], ["validate"]])
def test_a_file_that_is_not_duckdb_is_refused_before_duckdb_reads_it(tmp_path, capsys, command):
    import sqlite3

    path = tmp_path / "w.duckdb"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()  # DuckDB would look for sqlite_scanner
    before = path.read_bytes()
    assert cli.main([*command, "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a DuckDB database" in err and "extension" not in err.lower(), err
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["status"], ["validate"], ["run", "{bucket}"]])
def test_another_programs_duckdb_file_is_refused_not_adopted(tmp_path, capsys, command):
    from multimodal_fer_flows.cli import main as flows_main

    path = tmp_path / "plain.duckdb"
    c = duckdb.connect(str(path))
    c.execute("CREATE TABLE foo AS SELECT 1 AS x")
    c.close()
    (tmp_path / "bucket").mkdir()
    argv = [x.format(bucket=tmp_path / "bucket") for x in command]
    assert flows_main([*argv, "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a DuckDB database but not a warehouse" in err, err
    c = duckdb.connect(str(path), read_only=True)
    assert [r[0] for r in c.execute("SELECT table_name FROM information_schema.tables").fetchall()] == ["foo"]
    c.close()


def test_a_huge_value_is_printed_cut(warehouse, capsys):
    assert cli.main(["sql", "SELECT repeat('x', 1000000) AS big", "--db", str(warehouse["db"])]) == 0
    out = capsys.readouterr().out
    assert len(out) < 500 and "xxx..." in out
