"""A bucket a careless user or an attacker made, through the real flow: nothing lost, nothing silent.

Duplicates under two patients, a recording moved to the right patient, a dangling link, a named
pipe, a manifest that is not UTF-8, a truncated file; reruns that read no recording bytes.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime

import duckdb
import pytest

from multimodal_fer import bucket as bucket_lib
from tests.conftest import write_video

pytestmark = pytest.mark.slow
FPS = 1.0


def _run(bucket, db, **kw):
    from multimodal_fer.pipeline import PipelineOptions
    from multimodal_fer_flows.process_bucket import process_bucket

    return process_bucket(bucket=str(bucket), db=str(db), options=PipelineOptions(sample_fps=FPS), **kw)


def _rows(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    bucket = root / "bucket"
    video = write_video(root / "v.mp4", seconds=2.0, fps=5, size=32)
    for rel in ("P1/S1.mp4", "P2/S7.mp4"):  # the same bytes under two patients
        (bucket / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, bucket / rel)
    (bucket / "P1" / "S2.mp4").symlink_to(root / "gone.mp4")  # dangling link
    os.mkfifo(bucket / "P1" / "S3.mp4")  # a pipe with a video extension
    (bucket / "manifest.csv").write_bytes("patient_id,session_id,site\nP1,S1,Zürich\n".encode("latin-1"))
    (bucket / "P1" / os.fsdecode(b"S\xe9.mp4")).write_bytes(b"a Latin-1 file name")  # not UTF-8
    db = root / "w.duckdb"
    first = _run(bucket, db)
    return {"root": root, "bucket": bucket, "db": db, "first": first}


def test_bad_entries_are_quarantined_and_the_batch_goes_on(hostile):
    first, db = hostile["first"], hostile["db"]
    assert first["n_loaded"] == 1 and not first["quality_failures"]
    reasons = dict(_rows(db, "SELECT regexp_extract(source_uri, '[^/]+/[^/]+$'), reason FROM v_quarantine"))
    assert "symbolic link" in reasons["P1/S2.mp4"]
    assert "named pipe" in reasons["P1/S3.mp4"]
    assert "not UTF-8" in reasons["bucket/manifest"]
    assert "file name is not UTF-8" in reasons["P1/S\\xe9.mp4"]  # stored with the odd byte escaped


def test_the_same_bytes_twice_are_one_session_and_a_reported_duplicate(hostile):
    db = hostile["db"]
    assert _rows(db, "SELECT patient_id, session_id FROM sessions") == [("P1", "S1")]
    (row,) = _rows(db, "SELECT patient_id, session_id, reason, recording_sha256 FROM quarantine WHERE stage = 'plan'")
    assert row[:2] == ("P2", "S7") and "the same bytes as P1/S1" in row[2]
    assert row[3] == _rows(db, "SELECT recording_sha256 FROM sessions")[0][0]
    assert ("quarantined", 5) in _rows(db, "SELECT action, count(*) FROM audit GROUP BY 1")


def test_rerun_of_an_unchanged_bucket_reads_no_recording_bytes(hostile, monkeypatch):
    bucket, db = hostile["bucket"], hostile["db"]
    reads = []
    real = bucket_lib._open_regular
    monkeypatch.setattr(bucket_lib, "_open_regular", lambda uri: reads.append(uri) or real(uri))  # every byte read
    # new bytes of the same size under the old modification time: only a re-read would notice
    target = bucket / "P2" / "S7.mp4"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = _run(bucket, db)
    assert [u for u in reads if not u.endswith("manifest.csv")] == [] and again["n_hashed"] == 0
    assert again["n_loaded"] == 0 and again["n_quarantined"] == 0 and again["n_skipped"] == 1


def test_a_corrected_manifest_clears_its_quarantine_and_reaches_the_loaded_session(hostile):
    bucket, db = hostile["bucket"], hostile["db"]
    (bucket / "manifest.csv").write_text("patient_id,session_id,colour\nP1,S1,red\n")  # wrong in another way
    assert _run(bucket, db)["n_quarantined"] == 1  # a new reason is news: the row says what is wrong now
    (reason,) = [r for u, r in _rows(db, "SELECT source_uri, reason FROM quarantine") if u.endswith("/manifest")]
    assert "unknown columns ['colour']" in reason
    (bucket / "manifest.csv").write_text(
        "patient_id,session_id,site,recorded_at\nP1,S1,Zürich,2026-03-04T10:00:00+01:00\n", encoding="utf-8"
    )
    fixed = _run(os.path.relpath(bucket) + "/", db)  # the bucket written another way: the same manifest entry
    assert fixed["n_updated"] == 1 and fixed["n_loaded"] == 0 and fixed["n_quarantined"] == 0
    assert _rows(db, "SELECT site, recorded_at FROM sessions") == [("Zürich", datetime(2026, 3, 4, 9, 0))]
    assert _rows(db, "SELECT site FROM patients WHERE patient_id = 'P1'") == [("Zürich",)]
    assert [u for (u,) in _rows(db, "SELECT source_uri FROM quarantine") if u.endswith("/manifest")] == []
    assert ("updated", 1) in _rows(db, "SELECT action, count(*) FROM audit GROUP BY 1")
    assert _run(bucket, db)["n_updated"] == 0  # applied once


def test_a_moved_recording_is_rehomed_without_reanalysis(hostile):
    bucket, db = hostile["bucket"], hostile["db"]
    shutil.rmtree(bucket / "P2")
    (bucket / "P9").mkdir()
    (bucket / "P1" / "S1.mp4").rename(bucket / "P9" / "S1.mp4")  # misfiled under P1: belongs to P9
    sha = _rows(db, "SELECT recording_sha256 FROM sessions")[0][0]
    moved = _run(bucket, db)
    assert moved["n_rehomed"] == 1 and moved["n_loaded"] == 0
    assert _rows(db, "SELECT recording_sha256, patient_id, session_id FROM sessions") == [(sha, "P9", "S1")]
    assert _rows(db, "SELECT count(*) FROM frames WHERE recording_sha256 = ?".replace("?", f"'{sha}'"))[0][0] > 0
    assert ("rehomed", 1) in _rows(db, "SELECT action, count(*) FROM audit GROUP BY 1")
    assert _rows(db, "SELECT count(*) FROM v_patient_longitudinal WHERE patient_id = 'P9'") == [(1,)]


def test_a_truncated_recording_is_quarantined_not_shortened(tmp_path):
    bucket = tmp_path / "bucket"
    (bucket / "P1").mkdir(parents=True)
    whole = write_video(tmp_path / "w.mkv", seconds=6.0, fps=5, size=32).read_bytes()
    (bucket / "P1" / "S1.mkv").write_bytes(whole[: len(whole) // 5])  # a copy cut off at a fifth
    result = _run(bucket, tmp_path / "w.duckdb")
    assert result["n_loaded"] == 0 and result["n_quarantined"] == 1
    (reason,) = _rows(tmp_path / "w.duckdb", "SELECT reason FROM quarantine")[0]
    assert "truncated or still being written" in reason and "of the declared 6.0 s" in reason, reason


@pytest.mark.parametrize("fps", ["0", "-2", "nan", "1000"])
def test_an_impossible_frame_rate_is_refused_before_the_run(tmp_path, capsys, fps):
    from multimodal_fer_flows.cli import main

    (tmp_path / "bucket" / "P1").mkdir(parents=True)
    assert main(["run", str(tmp_path / "bucket"), "--db", str(tmp_path / "w.duckdb"), "--fps", fps]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sample_fps must be above 0" in err
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize("where", ["db", "staging"])
def test_a_run_that_could_not_write_where_it_is_told_is_refused_naming_the_option(tmp_path, capsys, where):
    from multimodal_fer_flows.cli import main

    (tmp_path / "bucket" / "P1").mkdir(parents=True)
    (tmp_path / "a-file").write_text("not a folder")
    db = tmp_path / ("no-such-folder" if where == "db" else ".") / "w.duckdb"
    staging = tmp_path / "a-file" / "staging" if where == "staging" else tmp_path / "staging"
    assert main(["run", str(tmp_path / "bucket"), "--db", str(db), "--staging", str(staging)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"mfer: error: --{where} "), err
    assert ("does not exist" if where == "db" else "cannot write there") in err
    assert not list(tmp_path.rglob("*.duckdb")) and not (tmp_path / "no-such-folder").exists()


@pytest.mark.parametrize("extra, message", [
    (["--dask", "local:0"], "must be a whole number of worker processes, 1 to"),
    (["--dask", "local:-1"], "must be a whole number of worker processes"),
    (["--dask", "local:x"], "must be a whole number of worker processes"),
    (["--staging", "{bucket}/staging"], "--staging {bucket}/staging: inside the bucket"),
    (["--db", "{tmp}"], "give the warehouse's file name, not a folder"),
])
def test_impossible_run_options_are_one_line_before_anything_starts(tmp_path, capsys, extra, message):
    from multimodal_fer_flows.cli import main

    bucket = tmp_path / "bucket"
    (bucket / "P1").mkdir(parents=True)
    extra = [x.format(bucket=bucket, tmp=tmp_path) for x in extra]
    argv = ["run", str(bucket), "--db", str(tmp_path / "w.duckdb"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message.format(bucket=bucket) in err, err
    assert not list(tmp_path.rglob("*.duckdb")) and not (bucket / "staging").exists()


def test_a_refused_run_creates_no_staging_folder(tmp_path, capsys, monkeypatch):
    from multimodal_fer_flows.cli import main

    (tmp_path / "bucket").mkdir()
    monkeypatch.setenv("MFER_PSEUDONYM_KEY", "")  # refused: an empty key
    assert main(["run", str(tmp_path / "bucket"), "--db", str(tmp_path / "w.duckdb"),
                 "--staging", str(tmp_path / "made" / "by" / "typo")]) == 2
    assert "set but empty" in capsys.readouterr().err and not (tmp_path / "made").exists()


@pytest.mark.parametrize("extra, message", [(["--timezone", "Mars/Base"], "--timezone 'Mars/Base': not a time zone"),
                                            (["--cron", "61 2 * * *"], "--cron '61 2 * * *': Invalid cron string")])
def test_serve_refuses_a_bad_schedule_before_a_server_starts(tmp_path, capsys, monkeypatch, extra, message):
    from multimodal_fer_flows import cli as flows_cli

    monkeypatch.setattr(flows_cli, "local_prefect_server", lambda: pytest.fail("a server was started"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    (tmp_path / "bucket").mkdir()
    assert flows_cli.main(["serve", str(tmp_path / "bucket"), "--db", str(tmp_path / "w.duckdb"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_serve_refuses_what_run_refuses_before_serving(tmp_path, capsys):
    from multimodal_fer_flows.cli import main

    (tmp_path / "bucket").mkdir()
    assert main(["serve", str(tmp_path / "bucket"), "--db", str(tmp_path / "typo" / "w.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("key", [None, "a-pseudonym-key-for-the-test"])
def test_of_two_copies_the_one_the_manifest_describes_is_loaded(tmp_path, monkeypatch, key):
    if key:
        monkeypatch.setenv("MFER_PSEUDONYM_KEY", key)
    else:
        monkeypatch.delenv("MFER_PSEUDONYM_KEY", raising=False)
    bucket = tmp_path / "bucket"
    video = write_video(tmp_path / "v.mp4", seconds=2.0, fps=5, size=32)
    for rel in ("P1/S1.mp4", "P9/S9.mp4"):  # P1/S1 sorts first; the manifest describes only P9/S9
        (bucket / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, bucket / rel)
    (bucket / "manifest.csv").write_text("patient_id,session_id,site\nP9,S9,Basel\n")
    result = _run(bucket, tmp_path / "w.duckdb")
    assert result["n_loaded"] == 1
    assert _rows(tmp_path / "w.duckdb", "SELECT site FROM sessions") == [("Basel",)]
    (reason,) = _rows(tmp_path / "w.duckdb", "SELECT reason FROM quarantine WHERE stage = 'plan'")[0]
    assert "the same bytes as" in reason and ("P9/S9" in reason) == (key is None)
