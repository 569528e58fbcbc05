"""Scratch space: a killed process's folder is reclaimed by the next one, a live one's never."""

import subprocess
import sys

from multimodal_fer import workspace

CHILD = ("from multimodal_fer import workspace; import time; d = workspace.process_dir(); "
         "(d / 'audio.wav').write_bytes(b'words'); print(d, flush=True); time.sleep(120)")


def test_a_killed_process_leaves_nothing_for_good(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(workspace.tempfile, "tempdir", None)
    monkeypatch.setattr(workspace, "_held", None)  # as a fresh process
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True,
                             env={**__import__("os").environ, "TMPDIR": str(tmp_path)})
    try:
        folder = child.stdout.readline().strip()
        assert folder.startswith(str(tmp_path / "mfer-work"))
        assert folder not in map(str, workspace.reclaim())  # alive: kept
        assert (workspace.root() / folder.rsplit("/", 1)[-1] / "audio.wav").exists()
    finally:
        child.kill()
        child.wait()
    assert folder in map(str, workspace.reclaim())  # killed: reclaimed
    with workspace.temp_dir("x-") as tmp:
        assert tmp.startswith(str(workspace.process_dir()))
    assert [p.name for p in workspace.root().iterdir()] == [workspace.process_dir().name]


OWNER = ("from multimodal_fer import workspace; import sys, time, pathlib; "
         "ctx = workspace.owned_dir(pathlib.Path(sys.argv[1]), 'mfer-run-1', prefix='mfer-run-'); d = ctx.__enter__(); "
         "(d / 'sessions.parquet').write_bytes(b'ids'); print(d, flush=True); time.sleep(120)")


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run_and_nothing_else(tmp_path):
    staging = tmp_path / "staging"
    (staging / "users-own-folder").mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", OWNER, str(staging)], stdout=subprocess.PIPE, text=True)
    try:
        left = child.stdout.readline().strip()
        with workspace.owned_dir(staging, "mfer-run-2", prefix="mfer-run-") as mine:
            assert (staging / "mfer-run-1" / "sessions.parquet").exists()  # its owner is alive: kept
            assert mine.is_dir()
    finally:
        child.kill()
        child.wait()
    assert not mine.exists()  # removed at the end of the block
    with workspace.owned_dir(staging, "mfer-run-3", prefix="mfer-run-"):
        assert not (staging / left.rsplit("/", 1)[-1]).exists()  # its owner was killed: reclaimed
    assert [p.name for p in staging.iterdir()] == ["users-own-folder"]
