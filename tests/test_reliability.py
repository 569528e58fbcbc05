"""Crash safety and privacy: kill the flow mid-batch, rerun, nothing lost, nothing duplicated, ids pseudonymised."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from multimodal_fer.bucket import pseudonym
from multimodal_fer.demo import SESSIONS, make_demo_bucket

pytestmark = pytest.mark.slow
KEY = "test-pseudonym-key"


def _run(bucket, db, env, *, kill_after: str | None = None, timeout: float = 600):
    cmd = [sys.executable, "-m", "multimodal_fer.cli", "run", str(bucket), "--db", str(db), "--fps", "2"]
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


def test_kill_mid_batch_then_rerun(tmp_path):
    bucket = make_demo_bucket(tmp_path / "bucket", sessions=SESSIONS[:3], progress=lambda m: None)
    db = tmp_path / "w.duckdb"
    env = {**os.environ, "MFER_PSEUDONYM_KEY": KEY}
    rc, out = _run(bucket, db, env, kill_after="[2/3]")
    assert rc == -signal.SIGKILL, out
    rc, out = _run(bucket, db, env)
    assert rc == 0, out
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT patient_id, session_id, count(*) FROM sessions GROUP BY ALL ORDER BY 1, 2").fetchall()
    expected = sorted((pseudonym(s.patient_id, KEY), s.session_id, 1) for s in SESSIONS[:3])
    assert rows == expected  # every session once, under its pseudonym
    for table in ("frames", "emotion_windows", "session_summaries"):
        dup = con.execute(f"SELECT count(*) - count(DISTINCT (recording_sha256, "
                          f"{'t_s' if table == 'frames' else 'window_start_s' if table == 'emotion_windows' else '1'})) "
                          f"FROM {table}").fetchone()[0]
        assert dup == 0, table
    # nothing in the warehouse names the real patients
    for table in ("sessions", "patients", "audit", "quarantine"):
        text = " ".join(str(v) for row in con.execute(f"SELECT * FROM {table}").fetchall() for v in row)
        assert "P001" not in text and "P002" not in text, table
    audit = con.execute("SELECT action, count(*) FROM audit GROUP BY 1").fetchall()
    assert audit == [("loaded", 3)]
    assert con.execute("SELECT count(DISTINCT host), min(length(os_user)) FROM audit").fetchone()[0] == 1
    # the manifest metadata still reached the pseudonymised sessions
    assert con.execute("SELECT count(*) FROM sessions WHERE site IS NOT NULL AND recorded_at IS NOT NULL").fetchone()[0] == 3
