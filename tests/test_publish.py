"""Publish/read model: a run writes a private working copy and publishes it in one rename, so a reader
held open in another process never blocks or breaks a load, and keeps reading a consistent state."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import pytest

from multimodal_fer import store
from multimodal_fer_flows import cli as flows_cli
from tests.conftest import write_video
from tests.test_store import stage

READER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)  # a DuckDB shell or a BI tool: plain read-only DuckDB
    query = "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM runs), (SELECT count(*) FROM audit)"
    print("ready", *con.execute(query).fetchone(), flush=True)
    for line in sys.stdin:  # one query per line received, until stdin closes
        print("again", *con.execute(query).fetchone(), flush=True)
""")


class Reader:
    """A read-only DuckDB connection held open in another process."""

    def __init__(self, db):
        self.proc = subprocess.Popen([sys.executable, "-c", READER, str(db)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first = self._answer("ready")

    def _answer(self, tag):
        line = self.proc.stdout.readline().split()
        assert line and line[0] == tag, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        return tuple(int(v) for v in line[1:])

    def again(self):
        self.proc.stdin.write("query\n")
        self.proc.stdin.flush()
        return self._answer("again")

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0, self.proc.stderr.read()


def _state(db):
    con = store.connect_readonly(db)
    try:
        return con.execute("SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM runs), "
                           "(SELECT count(*) FROM audit)").fetchone()
    finally:
        con.close()


def _load(work, staged, run_id):
    con = store.connect(work)
    try:
        store.load_recording(con, staged, run_id=run_id)
    finally:
        con.close()


def _only_published(db):
    """Nothing but the published file and the run lock: no working copy, no WAL."""
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name)) == [db.name, f"{db.name}.lock"]


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("staged")
    return {name: stage(tmp, name * 64, session=f"S{i}") for i, name in enumerate("ab")}


def test_a_reader_in_another_process_neither_blocks_nor_sees_a_half_run(tmp_path, staged):
    db = tmp_path / "w.duckdb"
    with store.publishing(db, timeout_s=5) as work:
        _load(work, staged["a"], "r1")
    reader = Reader(db)
    try:
        assert reader.first == (1, 0, 0)
        with store.publishing(db, timeout_s=5) as work:
            _load(work, staged["b"], "r2")
            con = store.connect(work)
            store.record_run(con, {"run_id": "r2", "bucket": "b", "started_at": "2026-01-01",
                                   "finished_at": "2026-01-01", "n_discovered": 1, "n_skipped": 0, "n_loaded": 1, "n_quarantined": 0,
                                   "pipeline_version": "v1"})
            con.close()
            assert reader.again() == (1, 0, 0)  # mid-run: the published state
        assert reader.again() == (1, 0, 0)  # after: still its old, consistent state
    finally:
        reader.close()
    assert _state(db) == (2, 1, 0)  # a new reader sees the new state
    _only_published(db)


def test_a_killed_runs_working_copy_is_discarded(tmp_path, staged):
    db = tmp_path / "w.duckdb"
    with store.publishing(db, timeout_s=5) as work:
        _load(work, staged["a"], "r1")
    published = db.read_bytes()
    store.working_path(db).write_bytes(b"garbage left by a killed run" * 1000)
    (tmp_path / "w.duckdb.next.wal").write_bytes(b"more garbage" * 100)
    assert db.read_bytes() == published and _state(db) == (1, 0, 0)
    with store.publishing(db, timeout_s=5) as work:
        _load(work, staged["b"], "r2")
    assert _state(db) == (2, 0, 0)
    _only_published(db)


def test_the_published_file_keeps_its_permissions(tmp_path, staged):
    db = tmp_path / "w.duckdb"
    with store.publishing(db, timeout_s=5) as work:
        _load(work, staged["a"], "r1")
    db.chmod(0o640)  # an administrator's choice: not readable by others
    with store.publishing(db, timeout_s=5) as work:
        _load(work, staged["b"], "r2")
    assert db.stat().st_mode & 0o777 == 0o640 and _state(db) == (2, 0, 0)


def test_a_link_to_the_warehouse_publishes_the_file_it_points_to(tmp_path, staged):
    real = tmp_path / "data" / "w.duckdb"
    real.parent.mkdir()
    with store.publishing(real, timeout_s=5) as work:
        _load(work, staged["a"], "r1")
    link = tmp_path / "current.duckdb"
    link.symlink_to(real)
    with store.publishing(link, timeout_s=5) as work:  # a run given the link
        assert work == store.working_path(real)  # one working copy (and one lock) for the link and its target
        _load(work, staged["b"], "r2")
    assert link.is_symlink() and link.resolve() == real  # the link stays a link
    assert _state(real) == (2, 0, 0) and _state(link) == (2, 0, 0)
    _only_published(real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.duckdb", "data"]


def test_an_exception_still_publishes_the_committed_recordings(tmp_path, staged):
    db = tmp_path / "w.duckdb"
    with pytest.raises(RuntimeError, match="the batch broke"), store.publishing(db, timeout_s=5) as work:
        _load(work, staged["a"], "r1")
        raise RuntimeError("the batch broke")
    assert _state(db) == (1, 0, 0)
    _only_published(db)


def test_a_broken_working_copy_is_not_published(tmp_path, staged):
    db = tmp_path / "w.duckdb"
    with store.publishing(db, timeout_s=5) as work:
        _load(work, staged["a"], "r1")
    published = db.read_bytes()
    with pytest.raises((duckdb.Error, ValueError)), store.publishing(db, timeout_s=5) as work:
        work.write_bytes(b"\0" * 10_000)
    assert db.read_bytes() == published and _state(db) == (1, 0, 0)


def test_a_wal_left_by_an_older_version_is_folded_in_first(tmp_path, staged):
    db = tmp_path / "w.duckdb"
    con = store.connect(db)  # the old way: writing the published file in place, then killed before a checkpoint
    con.execute("PRAGMA disable_checkpoint_on_shutdown")
    store.load_recording(con, staged["a"], run_id="r1")
    con.close()
    assert (tmp_path / "w.duckdb.wal").exists()
    with store.publishing(db, timeout_s=5) as work:
        _load(work, staged["b"], "r2")
    assert _state(db) == (2, 0, 0)
    _only_published(db)


LOOPING_READER = textwrap.dedent("""
    import json, os, sys, duckdb
    seen = set()
    print("ready", flush=True)
    while not os.path.exists(sys.argv[2]):  # open, read, close, as fast as it can, while runs publish
        con = duckdb.connect(sys.argv[1], read_only=True)
        seen.add(con.execute("SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM patients)").fetchone())
        con.close()
    print(json.dumps(sorted(seen)))
""")


def test_readers_opening_during_publishes_always_see_a_whole_state(tmp_path, staged):
    db = tmp_path / "w.duckdb"
    with store.publishing(db, timeout_s=5) as work:
        _load(work, staged["a"], "r1")
    stop = tmp_path / "stop"
    proc = subprocess.Popen([sys.executable, "-c", LOOPING_READER, str(db), str(stop)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    for i in range(8):  # each publish adds or replaces the second session: 1 or 2 sessions, never in between
        with store.publishing(db, timeout_s=5) as work:
            if i % 2:
                _load(work, staged["b"], f"r{i}")
            else:
                con = store.connect(work)
                con.execute("DELETE FROM sessions WHERE session_id = 'S1'")
                con.close()
    stop.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out) == [[1, 1], [2, 1]], out  # both states seen, nothing else


@pytest.mark.slow
def test_mfer_run_completes_while_a_reader_holds_the_warehouse_open(tmp_path):
    """A real run (real models) through the CLI while another process holds a read-only connection."""
    bucket = tmp_path / "bucket"
    write_video(bucket / "P001" / "S01.mp4", seconds=1.0, fps=5, size=32, tone_hz=330.0)
    db = tmp_path / "w.duckdb"
    store.connect(db).close()  # an empty warehouse, as published
    reader = Reader(db)
    try:
        assert reader.first == (0, 0, 0)
        assert flows_cli.main(["run", str(bucket), "--db", str(db), "--fps", "1"]) == 0
        assert reader.again() == (0, 0, 0)  # its old consistent state
    finally:
        reader.close()
    assert _state(db) == (1, 1, 1)  # the session, the run's row, its audit event
    con = store.connect_readonly(db)
    assert con.execute("SELECT n_discovered, n_loaded, n_quarantined FROM runs").fetchall() == [(1, 1, 0)]
    con.close()
    _only_published(db)
