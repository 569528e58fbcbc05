"""Crash safety and privacy: kill the flow mid-batch, rerun, nothing lost, nothing duplicated, ids pseudonymised."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import duckdb
import pytest

from multimodal_fer.pseudonyms import Pseudonyms
from scripts.demo_bucket import SESSIONS, make_demo_bucket

pytestmark = pytest.mark.slow
KEY = "test-pseudonym-key"


def _run(bucket, db, env, *, kill_after: str | None = None, timeout: float = 600):
    """``mfer run`` in its own process: (exit code, everything it printed)."""
    cmd = [sys.executable, "-m", "multimodal_fer_flows.cli", "run", str(bucket), "--db", str(db), "--fps", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    lines = []
    deadline = time.time() + timeout
    for line in proc.stdout:
        lines.append(line)
        if kill_after and kill_after in line:
            time.sleep(1.0)  # let it get into the analysis of that recording
            os.killpg(proc.pid, signal.SIGKILL)
            break
        assert time.time() < deadline, "flow run took too long"
    proc.wait(timeout=60)
    return proc.returncode, "".join(lines)


def _every_file_under(*roots):
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                yield os.path.join(dirpath, name)


def test_kill_mid_batch_then_rerun(tmp_path):
    # session ids long enough that no binary file (Prefect's SQLite WAL holds random UUID bytes) can contain
    # one by chance: a 3-character id like S09 turned up once in 4.5 MB of UUIDs
    sessions = [replace(s, session_id=f"visit-{s.session_id}-{s.recorded_at[:10]}") for s in SESSIONS[:3]]
    bucket = make_demo_bucket(tmp_path / "bucket", sessions=sessions, progress=lambda m: None)
    (bucket / "P001" / "broken-upload-09.mp4").write_bytes(b"not a video")  # a quarantined one names its ids too
    (bucket / "P001" / "dangling-link-08.mp4").symlink_to(tmp_path / "gone.mp4")
    db = tmp_path / "w.duckdb"
    prefect_home, scratch = tmp_path / "prefect", tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "MFER_PSEUDONYM_KEY": KEY, "PREFECT_HOME": str(prefect_home), "TMPDIR": str(scratch)}
    rc, out1 = _run(bucket, db, env, kill_after="[2/4]")
    assert rc == -signal.SIGKILL, out1
    killed = [p for p in _every_file_under(scratch / "mfer-work") if not p.endswith(".owner.lock")]
    assert any(p.endswith(".parquet") for p in killed), killed  # the staged rows of the first recording
    rc, out2 = _run(bucket, db, env)
    assert rc == 0, out2
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT patient_id, session_id, count(*) FROM sessions GROUP BY ALL ORDER BY 1, 2").fetchall()
    alias = Pseudonyms(KEY)
    expected = sorted((alias.patient(s.patient_id), alias.session(s.patient_id, s.session_id), 1) for s in sessions)
    assert rows == expected  # every session once, under its pseudonym
    for table in ("frames", "emotion_windows", "session_summaries"):
        dup = con.execute(f"SELECT count(*) - count(DISTINCT (recording_sha256, "
                          f"{'t_s' if table == 'frames' else 'window_start_s' if table == 'emotion_windows' else '1'})) "
                          f"FROM {table}").fetchone()[0]
        assert dup == 0, table
    audit = con.execute("SELECT action, count(*) FROM audit GROUP BY 1 ORDER BY 1").fetchall()
    assert audit == [("loaded", 3), ("quarantined", 2)]
    assert con.execute("SELECT count(DISTINCT host), min(length(os_user)) FROM audit").fetchone()[0] == 1
    # the manifest metadata still reached the pseudonymised sessions
    assert con.execute("SELECT count(*) FROM sessions WHERE site IS NOT NULL AND recorded_at IS NOT NULL").fetchone()[0] == 3
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    dump = " ".join(str(v) for t in tables for row in con.execute(f"SELECT * FROM {t}").fetchall() for v in row)
    con.close()
    raw_ids = {s.patient_id for s in sessions} | {s.session_id for s in sessions}
    raw_ids |= {"broken-upload-09", "dangling-link-08"}
    # the killed run's scratch files (audio, staged rows with ids and words) were reclaimed by the next run
    assert not [p for p in killed if os.path.exists(p)]
    assert [p for p in _every_file_under(scratch / "mfer-work") if not p.endswith(".owner.lock")] == []
    # no raw id in any table, in anything the runs printed, or in Prefect's storage
    leftovers = [p for p in _every_file_under(prefect_home) if os.path.isfile(p)]
    assert leftovers
    for raw in raw_ids:
        assert raw not in dump, raw
        assert raw not in out1 + out2, (raw, out1 + out2)
        for path in leftovers:
            with open(path, "rb") as fh:
                assert raw.encode() not in fh.read(), (raw, path)


def test_a_run_with_another_key_or_none_is_refused(tmp_path):
    bucket = make_demo_bucket(tmp_path / "bucket", sessions=SESSIONS[:1], progress=lambda m: None)
    db = tmp_path / "w.duckdb"
    assert _run(bucket, db, {**os.environ, "MFER_PSEUDONYM_KEY": KEY})[0] == 0
    plain = {k: v for k, v in os.environ.items() if k != "MFER_PSEUDONYM_KEY"}
    for env, words in ((plain, "set MFER_PSEUDONYM_KEY to the key it was built with"),
                       ({**os.environ, "MFER_PSEUDONYM_KEY": "another"}, "not the key this warehouse was built with")):
        rc, out = _run(bucket, db, env)
        assert rc != 0 and words in out, out
        assert "Traceback" not in out, out
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), min(patient_id) FROM sessions").fetchone() == (1, Pseudonyms(KEY).patient("P001"))
    con.close()
