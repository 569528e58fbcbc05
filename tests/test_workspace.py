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
