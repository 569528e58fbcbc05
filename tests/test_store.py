"""The loader: idempotent, one transaction per recording, replacement of re-recorded sessions."""

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from multimodal_fer import quality, store
from multimodal_fer.fusion import FACE_COLS, fuse
from multimodal_fer.summary import notable_moments, summarize
from multimodal_fer_schemas.tables import PER_RECORDING


def stage(tmp_path, sha, patient="P1", session="S1", seconds=4.0):
    frames = pd.DataFrame({"t_s": np.arange(0, seconds, 0.2), "face_found": True, "n_faces": 1, "mouth_open": 0.05})
    for c in FACE_COLS:
        frames[c] = 1 / 7
    empty_voice = pd.DataFrame(columns=["start_s", "end_s"] + [c.replace("face", "voice") for c in FACE_COLS])
    utts = pd.DataFrame(columns=["start_s", "end_s", "speaker", "n_words"] + [c.replace("face", "text") for c in FACE_COLS])
    windows = fuse(frames, empty_voice, utts, [], None, duration_s=seconds)
    tables = {
        "sessions": pd.DataFrame([{"patient_id": patient, "session_id": session, "source_uri": f"/b/{patient}/{session}.mp4",
                                   "duration_s": seconds, "has_video": True, "has_audio": False, "sample_fps": 5.0,
                                   "n_frames": len(frames), "pipeline_version": "v1", "model_versions": "{}",
                                   "processed_at": datetime.now(), "run_id": "staged"}]),
        "frames": frames, "emotion_windows": windows,
        "utterances": utts.drop(columns=[]).iloc[0:0], "words": pd.DataFrame(),
        "session_summaries": pd.DataFrame([summarize(windows, frames, utts, [], duration_s=seconds)]),
        "moments": notable_moments(windows, pd.DataFrame()),
    }
    out = tmp_path / sha
    tmp_path.mkdir(parents=True, exist_ok=True)  # the run's staging folder (write_staged creates only out)
    for name in PER_RECORDING:
        df = tables[name].copy()
        df["recording_sha256"] = sha
        rows = store.conform(name, df)
        assert quality.validate_frame(name, rows.to_pandas()).success, name
        store.write_staged(out, name, rows)
    return out


def counts(con):
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("sessions", "frames", "emotion_windows", "patients")}


def test_load_is_idempotent(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    staged = stage(tmp_path, "a" * 64)
    store.load_recording(con, staged, run_id="r1")
    first = counts(con)
    store.load_recording(con, staged, run_id="r2")
    assert counts(con) == first == {"sessions": 1, "frames": 20, "emotion_windows": 4, "patients": 1}
    assert con.execute("SELECT run_id FROM sessions").fetchone()[0] == "r2"


def test_new_content_for_the_same_session_replaces_it(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    store.load_recording(con, stage(tmp_path, "a" * 64), run_id="r1")
    store.load_recording(con, stage(tmp_path, "b" * 64, seconds=6.0), run_id="r2")
    store.load_recording(con, stage(tmp_path, "c" * 64, session="S2"), run_id="r2")
    rows = con.execute("SELECT session_id, recording_sha256 FROM sessions ORDER BY 1").fetchall()
    assert rows == [("S1", "b" * 64), ("S2", "c" * 64)]
    assert con.execute("SELECT count(*) FROM frames WHERE recording_sha256 = ?", ["a" * 64]).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM emotion_windows").fetchone()[0] == 6 + 4


def test_a_failing_load_leaves_nothing_half_loaded(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    staged = stage(tmp_path, "d" * 64)
    (staged / "moments.parquet").write_bytes(b"corrupt")  # the last table to load fails
    with pytest.raises(duckdb.Error, match="moments.parquet"):
        store.load_recording(con, staged, run_id="r1")
    assert counts(con) == {"sessions": 0, "frames": 0, "emotion_windows": 0, "patients": 0}


def test_conform_rejects_unknown_and_missing_columns():
    with pytest.raises(ValueError, match="not in the schema"):
        store.conform("runs", pd.DataFrame({"nope": [1]}))
    with pytest.raises(ValueError, match="required column"):
        store.conform("quarantine", pd.DataFrame({"source_uri": ["x"]}))


def test_quarantine_is_recorded_once_per_version(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    for _ in range(2):
        store.quarantine(con, source_uri="/b/P1/S1.mp4", stage="split", reason="empty file (0 bytes)",
                         error_type="MediaError", pipeline_version="v1", run_id="r", recording_sha256="e" * 64)
    assert con.execute("SELECT count(*) FROM v_quarantine").fetchone()[0] == 1
    assert store.quarantined_keys(con, "v1") == {("/b/P1/S1.mp4", "e" * 64): "empty file (0 bytes)"}
    assert store.quarantined_keys(con, "v2") == {}


def test_read_only_connection_cannot_write(tmp_path):
    store.connect(tmp_path / "w.duckdb").close()
    con = store.connect(tmp_path / "w.duckdb", read_only=True)
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM sessions")
    with pytest.raises(FileNotFoundError):
        store.connect(tmp_path / "missing.duckdb", read_only=True)


def test_validation_after_a_run_checks_that_runs_rows(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    store.load_recording(con, stage(tmp_path, "a" * 64), run_id="r1")
    store.load_recording(con, stage(tmp_path, "b" * 64, session="S2", seconds=6.0), run_id="r2")
    con.execute(f"UPDATE frames SET mouth_open = -1 WHERE recording_sha256 = '{'a' * 64}' AND t_s = 0")  # r1's row
    by_table = {r.table: r for r in quality.validate_warehouse(con, run_id="r2")}
    assert all(r.success for r in by_table.values()), [r.failures for r in by_table.values()]
    assert by_table["frames"].n_rows == 30 and by_table["sessions"].n_rows == 1  # only r2's recording
    failing = {r.table: r for r in quality.validate_warehouse(con, run_id="r1") if not r.success}
    assert list(failing) == ["frames"] and "mouth_open: expect_column_values_to_be_between" in failing["frames"].failures[0]
    assert not all(r.success for r in quality.validate_warehouse(con))  # mfer validate: every row


def test_a_session_without_metadata_never_stores_nan_or_overwrites_a_site(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    store.load_recording(con, stage(tmp_path, "a" * 64, session="S1"), run_id="r1")  # no site, no arm
    assert con.execute("SELECT site, trial_arm FROM patients").fetchall() == [(None, None)]
    con.execute("UPDATE patients SET site = 'site-a'")
    store.load_recording(con, stage(tmp_path, "b" * 64, session="S2"), run_id="r2")
    assert con.execute("SELECT site, trial_arm FROM patients").fetchall() == [("site-a", None)]
    assert con.execute("SELECT count(*) FROM sessions WHERE site = 'nan' OR trial_arm = 'nan'").fetchone()[0] == 0


def test_rehome_moves_a_session_without_touching_its_rows(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    store.load_recording(con, stage(tmp_path, "a" * 64, patient="P1", session="S1"), run_id="r1")
    store.load_recording(con, stage(tmp_path, "b" * 64, patient="P2", session="S1"), run_id="r1")  # older one there
    before = con.execute("SELECT count(*) FROM frames WHERE recording_sha256 = ?", ["a" * 64]).fetchone()[0]
    old = store.rehome(con, "a" * 64, patient_id="P2", session_id="S1", source_uri="/b/P2/S1.mp4", site="site-b")
    assert (old.patient_id, old.session_id) == ("P1", "S1")
    assert con.execute("SELECT recording_sha256, patient_id, session_id, source_uri, site FROM sessions").fetchall() == [
        ("a" * 64, "P2", "S1", "/b/P2/S1.mp4", "site-b")]
    assert con.execute("SELECT count(*) FROM frames WHERE recording_sha256 = ?", ["a" * 64]).fetchone()[0] == before
    assert con.execute("SELECT count(*) FROM frames WHERE recording_sha256 = ?", ["b" * 64]).fetchone()[0] == 0
    with pytest.raises(KeyError):
        store.rehome(con, "c" * 64, patient_id="P3", session_id="S1", source_uri="/b/P3/S1.mp4")


def test_update_metadata_changes_only_what_a_manifest_row_gives(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    store.load_recording(con, stage(tmp_path, "a" * 64), run_id="r1")
    frames = counts(con)
    when = datetime(2026, 3, 4, 9, 0)
    assert store.update_metadata(con, "a" * 64, recorded_at=when, site="site-a", clinician_id="C1")
    assert con.execute("SELECT recorded_at, site, trial_arm, clinician_id FROM sessions").fetchall() == [
        (when, "site-a", None, "C1")]
    assert con.execute("SELECT site FROM patients").fetchall() == [("site-a",)]
    assert not store.update_metadata(con, "a" * 64, site="site-a")  # nothing new: no change reported
    assert not store.update_metadata(con, "a" * 64)  # empty cells keep the stored values
    assert store.update_metadata(con, "a" * 64, trial_arm="arm-b")
    assert con.execute("SELECT site, trial_arm FROM sessions").fetchall() == [("site-a", "arm-b")]
    assert not store.update_metadata(con, "f" * 64, site="x")  # not loaded: nothing to update
    assert counts(con) == frames  # the analysis is untouched


def test_clear_quarantine_removes_only_that_source(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    for uri in ("/b/manifest", "/b/P1/S9.mp4"):
        store.quarantine(con, source_uri=uri, stage="discover", reason="r", error_type="BucketError",
                         pipeline_version="v1", run_id="r1")
    assert store.clear_quarantine(con, "/b/manifest") == 1 and store.clear_quarantine(con, "/b/manifest") == 0
    assert con.execute("SELECT source_uri FROM quarantine").fetchall() == [("/b/P1/S9.mp4",)]


def test_a_warehouse_keeps_to_one_pseudonym_key(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    store.agree_pseudonyms(con, "k_1")
    store.agree_pseudonyms(con, "k_1")
    for other in ("none", "k_2"):
        with pytest.raises(store.SettingsMismatch):
            store.agree_pseudonyms(con, other)
    legacy = store.connect(tmp_path / "legacy.duckdb")  # raw ids loaded before fingerprints were recorded
    store.load_recording(legacy, stage(tmp_path, "a" * 64, patient="P1"), run_id="r1")
    with pytest.raises(store.SettingsMismatch, match="new warehouse"):
        store.agree_pseudonyms(legacy, "k_1")
    store.agree_pseudonyms(legacy, "none")
    assert legacy.execute("SELECT value FROM settings").fetchall() == [("none",)]


def _quarantine(con, uri: str, reason: str) -> None:
    store.quarantine(
        con, source_uri=uri, stage="split", reason=reason, error_type="MediaError", pipeline_version="v1", run_id="r1"
    )


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_transaction_keeps_all_of_its_changes_or_none(tmp_path, error):
    from multimodal_fer.store.warehouse import transaction

    con = store.connect(tmp_path / "w.duckdb")
    with transaction(con):
        _quarantine(con, "b/P1/S1.mp4", "kept")
    with pytest.raises(error), transaction(con):
        _quarantine(con, "b/P1/S2.mp4", "rolled back")
        raise error
    assert [r[0] for r in con.execute("SELECT reason FROM quarantine").fetchall()] == ["kept"]
    with transaction(con):  # the connection is usable again
        con.execute("DELETE FROM quarantine")
    assert con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


def test_a_removed_staging_folder_is_never_brought_back_by_a_late_worker(tmp_path):
    run_folder = tmp_path / "mfer-run-1"
    run_folder.mkdir()
    staged = stage(run_folder, "e" * 64)  # a worker staged a recording in the run's folder
    assert (staged / "sessions.parquet").exists()
    import shutil

    shutil.rmtree(run_folder)  # the run stopped (Ctrl-C) and removed its folder; the worker is still writing
    rows = store.conform("moments", pd.DataFrame(columns=["recording_sha256"]).assign(recording_sha256=[]))
    with pytest.raises(FileNotFoundError):
        store.write_staged(staged, "moments", rows)
    assert not run_folder.exists()
