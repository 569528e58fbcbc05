"""The product works installed from its wheel, with no checkout anywhere on the path (issue 17).

The test builds the wheel (offline: no build isolation), creates a fresh virtual environment in
``tmp_path``, installs the wheel into it with ``--no-deps`` and runs ``mfer run`` on a one-recording
bucket, then ``mfer sql`` on a view and ``mfer report``, from a working directory outside the repository.

The project's dependencies (torch, mediapipe, ...) are not installed again: the new environment sees
them through a ``.pth`` line naming a *filtered* copy of this interpreter's site-packages folders
(symbolic links to every entry except multimodal-fer's own: its package folders, its dist-info and the
editable install's ``__editable__*`` finder and ``.pth`` files). A ``.pth`` line only adds a folder to
``sys.path``; the ``.pth`` files inside that folder are not run, so no editable finder is installed
there. The test checks that ``multimodal_fer``, ``multimodal_fer_schemas``, ``multimodal_fer_flows`` and
``multimodal_fer_warehouse`` are imported from the new environment and that the generic names
``schemas`` and ``flows`` are not importable at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import write_video

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
OWN = ("multimodal_fer", "__editable__", "_multimodal_fer", "__editable___multimodal_fer")
PACKAGES = {"multimodal_fer", "multimodal_fer_schemas", "multimodal_fer_flows", "multimodal_fer_warehouse"}
#: What the wheel must never hold: checkout-only code and generic top-level names.
NOT_PACKAGED = ("schemas/", "flows/", "warehouse/", "training/", "scripts/", "tests/", "benchmarks/")
#: Not copied into the source tree the wheel is built from (caches, environments, outputs).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".cache", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".mypy_cache", ".ruff_cache", "demo", "out", "bucket",
                                    "*.duckdb", "*.duckdb.wal")


def _dependency_dirs() -> list[Path]:
    """The site-packages folders this interpreter imports the dependencies from (venv, and any ``.pth``-added)."""
    dirs = [Path(sysconfig.get_paths()["purelib"])]
    dirs += [Path(p) for p in sys.path if p.endswith("site-packages")]
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [s.resolve() for s in seen]:
            seen.append(d)
    return seen


def _filtered_site(dest: Path) -> Path:
    """Symbolic links to every dependency, without multimodal-fer itself and without any ``.pth`` file."""
    dest.mkdir()
    for folder in _dependency_dirs():
        for entry in folder.iterdir():
            name = entry.name
            if name.startswith(OWN) or name.endswith(".pth") or (dest / name).exists():
                continue
            (dest / name).symlink_to(entry)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the checkout (so the build leaves no build/ or egg-info in the repo)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=NOT_SOURCE, symlinks=True)
    out = tmp_path / "wheelhouse"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, cwd=tmp_path, timeout=600)
    (wheel,) = out.glob("multimodal_fer-*.whl")
    return wheel


def _venv(tmp_path: Path, wheel: Path) -> tuple[Path, dict[str, str]]:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = _filtered_site(tmp_path / "deps")
    Path(purelib, "mfer_dependencies.pth").write_text(f"{deps}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               MFER_CACHE=os.environ.get("MFER_CACHE", str(REPO / ".cache" / "mfer")),
               PREFECT_HOME=str(tmp_path / "prefect"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, cwd=tmp_path, env=env, timeout=600)
    return venv, env


def test_wheel_holds_one_namespace_and_the_run_time_assets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == PACKAGES
    assert not [n for n in names if n.startswith(NOT_PACKAGED)]
    views = sorted(p.name for p in (REPO / "warehouse").glob("v_*.sql"))
    assert views and all(f"multimodal_fer_warehouse/{v}" in names for v in views)
    assert "multimodal_fer/report/assets/report.js" in names
    for family, artefact in (("face", "face_model.joblib"), ("voice", "voice_model.npz"), ("text", "head.npz")):
        assert f"multimodal_fer/{family}/artefacts/{artefact}" in names
    packages = {str(p.parent.relative_to(REPO)) for p in (REPO / "multimodal_fer").rglob("__init__.py")}
    assert all(f"{p}/__init__.py" in names for p in packages), "a subpackage is missing from pyproject's list"


def test_installed_wheel_runs_a_bucket_end_to_end_views_included(wheel, tmp_path):
    venv, env = _venv(tmp_path, wheel)
    outside = tmp_path / "elsewhere"  # not the repository: nothing is imported from a checkout by accident
    outside.mkdir()

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.util as u, multimodal_fer as a, multimodal_fer_schemas as b, multimodal_fer_flows as c, "
         "multimodal_fer_warehouse as d; print(a.__file__, b.__file__, c.__file__, d.__file__); "
         "print(u.find_spec('schemas'), u.find_spec('flows'))"],
        check=True, capture_output=True, text=True, cwd=outside, env=env).stdout.splitlines()
    files = [Path(f) for f in where[0].split()]
    assert all(f.resolve().is_relative_to(venv.resolve()) for f in files), files
    assert where[1] == "None None"

    write_video(tmp_path / "bucket" / "P001" / "S01.mp4", seconds=2.0)
    # recorded_at: the report cannot yet show a session without one ("NaTType does not support strftime")
    manifest = "patient_id,session_id,recorded_at\nP001,S01,2026-01-05T10:00:00\n"
    (tmp_path / "bucket" / "manifest.csv").write_text(manifest)
    db = tmp_path / "w.duckdb"
    mfer = str(venv / "bin" / "mfer")
    run = subprocess.run([mfer, "run", str(tmp_path / "bucket"), "--db", str(db), "--fps", "1"],
                         capture_output=True, text=True, cwd=outside, env=env, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr

    sql = subprocess.run([mfer, "sql", "select count(*) as n_sessions from v_session_summary", "--db", str(db)],
                         capture_output=True, text=True, cwd=outside, env=env, timeout=300)
    assert sql.returncode == 0, sql.stdout + sql.stderr
    assert sql.stdout.split()[-1] == "1", sql.stdout

    report = subprocess.run([mfer, "report", "--db", str(db), "--out", str(tmp_path / "report")],
                            capture_output=True, text=True, cwd=outside, env=env, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    assert (tmp_path / "report" / "assets" / "report.js").read_bytes() == (
        REPO / "multimodal_fer" / "report" / "assets" / "report.js").read_bytes()
