"""Load: a batch of 100 short generated recordings processes with bounded memory; run counts match the bucket."""

from __future__ import annotations

import resource
import subprocess
import sys

import duckdb
import pytest

from tests.conftest import write_video

pytestmark = pytest.mark.slow
N_GOOD, N_BAD = 95, 5
MAX_RSS_MB = 3000  # the whole flow process, models included


def test_hundred_recordings(tmp_path):
    bucket = tmp_path / "bucket"
    template = write_video(tmp_path / "template.mp4", seconds=1.0, fps=5, size=32, tone_hz=330.0)
    data = template.read_bytes()
    for i in range(N_GOOD):
        p = bucket / f"P{i % 10:03d}" / f"S{i:03d}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        # distinct content per recording (its hash is its identity): append an ignored trailing byte pattern
        p.write_bytes(data + i.to_bytes(4, "big"))
    for i in range(N_BAD):
        (bucket / "P900").mkdir(exist_ok=True)
        (bucket / "P900" / f"bad{i}.mp4").write_bytes(b"not a video %d" % i)
    db = tmp_path / "w.duckdb"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-m", "multimodal_fer_flows.cli", "run", str(bucket), "--db", str(db), "--fps", "1"],
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mb < MAX_RSS_MB or before / 1024 >= MAX_RSS_MB, f"peak RSS {peak_mb:.0f} MB"
    con = duckdb.connect(str(db), read_only=True)
    run = con.execute("SELECT n_discovered, n_skipped, n_loaded, n_quarantined FROM runs").fetchall()
    assert run == [(N_GOOD + N_BAD, 0, N_GOOD, N_BAD)]
    assert con.execute("SELECT count(*), count(DISTINCT recording_sha256) FROM sessions").fetchone() == (N_GOOD, N_GOOD)
    assert con.execute("SELECT count(*) FROM patients").fetchone()[0] == 10
    assert con.execute("SELECT count(*) FROM audit").fetchone()[0] == N_GOOD + N_BAD
