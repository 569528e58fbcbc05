"""Issue 7: S3 buckets, a Dask cluster, concurrent runs, schedules."""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
import time
import tracemalloc

import duckdb
import pytest
import yaml

from multimodal_fer import bucket as bucket_lib
from multimodal_fer.pipeline import PipelineOptions
from scripts.demo_bucket import SESSIONS, make_demo_bucket
from tests.conftest import write_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """An S3-compatible server (moto, its own process) on 127.0.0.1; credentials come from the environment only."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    env = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    fs.mkdir("mfer-bucket")
    yield fs
    server.terminate()
    server.wait(timeout=30)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_s3_listing_and_streaming_reads(s3, tmp_path):
    big = os.urandom(96 << 20)  # 96 MiB
    s3.pipe("mfer-bucket/big/P1/S1.mp4", big)
    recs, invalid = bucket_lib.discover("s3://mfer-bucket/big")
    assert [(r.patient_id, r.session_id, r.size_bytes) for r in recs] == [("P1", "S1", len(big))] and not invalid
    assert recs[0].uri == "s3://mfer-bucket/big/P1/S1.mp4"
    import hashlib

    tracemalloc.start()
    sha = bucket_lib.sha256_of(recs[0].uri)
    local = bucket_lib.fetch_local(recs[0].uri, tmp_path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sha == hashlib.sha256(big).hexdigest() and local.stat().st_size == len(big)
    assert peak < 40 << 20, f"peak {peak / 2**20:.0f} MiB: the object was not streamed"


@pytest.mark.slow
def test_flow_on_an_s3_bucket(s3, tmp_path, monkeypatch):
    from multimodal_fer_flows.process_bucket import process_bucket

    local = make_demo_bucket(tmp_path / "local", sessions=SESSIONS[:2], progress=lambda m: None)
    for path in local.rglob("*"):
        if path.is_file():
            s3.put(str(path), f"mfer-bucket/demo/{path.relative_to(local)}")
    db = tmp_path / "w.duckdb"
    first = process_bucket(bucket="s3://mfer-bucket/demo", db=str(db), options=PipelineOptions(sample_fps=2.0))
    assert first["n_loaded"] == 2 and first["n_quarantined"] == 0 and not first["quality_failures"]
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT source_uri, site FROM sessions ORDER BY 1").fetchall()
    assert rows == [("s3://mfer-bucket/demo/P001/S01.mp4", "site-a"), ("s3://mfer-bucket/demo/P001/S02.mp4", "site-a")]
    con.close()
    reads = []
    real = bucket_lib._open_regular
    monkeypatch.setattr(bucket_lib, "_open_regular", lambda uri: reads.append(uri) or real(uri))  # every byte read
    again = process_bucket(bucket="s3://mfer-bucket/demo", db=str(db), options=PipelineOptions(sample_fps=2.0))
    assert again["n_loaded"] == 0 and again["n_skipped"] == 2
    assert [u for u in reads if not u.endswith("manifest.csv")] == [] and again["n_hashed"] == 0  # objects index


def _table(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_dask_cluster_gives_the_same_rows(tmp_path):
    from multimodal_fer_flows.cli import dask_runner
    from multimodal_fer_flows.process_bucket import process_bucket

    bucket = make_demo_bucket(tmp_path / "bucket", sessions=SESSIONS[:3], progress=lambda m: None)
    ref, dask_db = tmp_path / "ref.duckdb", tmp_path / "dask.duckdb"
    process_bucket(bucket=str(bucket), db=str(ref), options=PipelineOptions(sample_fps=2.0))
    result = process_bucket.with_options(task_runner=dask_runner("local:2"))(bucket=str(bucket), db=str(dask_db), options=PipelineOptions(sample_fps=2.0))
    assert result["n_loaded"] == 3 and not result["quality_failures"]
    q_sessions = "SELECT recording_sha256, patient_id, session_id, n_frames, language, pipeline_version FROM sessions ORDER BY 1"
    assert _table(ref, q_sessions) == _table(dask_db, q_sessions)
    q_windows = ("SELECT recording_sha256, window_start_s, signal, patient_speaking, fused_label, round(valence, 4) "
                 "FROM emotion_windows ORDER BY 1, 2")
    assert _table(ref, q_windows) == _table(dask_db, q_windows)
    q_words = "SELECT recording_sha256, word_idx, word FROM words ORDER BY 1, 2"
    assert _table(ref, q_words) == _table(dask_db, q_words)


def test_local_cluster_serves_only_its_health_check_and_keeps_quiet(caplog):
    """``--dask local:N`` opens no info / JSON / metrics pages (workers, their logs, call stacks) on the machine and
    prints none of Dask's INFO lines; the health check still answers."""
    import logging
    import urllib.error
    import urllib.request

    from multimodal_fer_flows.cli import dask_runner, local_cluster

    assert dask_runner("local:2").cluster_class is local_cluster
    with local_cluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        base = f"http://127.0.0.1:{cluster.scheduler_info['services']['dashboard']}"
        with urllib.request.urlopen(base + "/health", timeout=10) as reply:
            assert reply.read() == b"ok"
        for path in ("/info/main/workers.html", "/json/counts.json", "/metrics", "/status"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=10)
            assert refused.value.code == 404, path
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("distributed") and r.levelno < logging.WARNING]
    assert not chatter, chatter[:3]


@pytest.mark.slow
def test_two_runs_at_once_never_double_process(tmp_path):
    bucket = tmp_path / "bucket"
    template = write_video(tmp_path / "t.mp4", seconds=1.0, fps=5, size=32).read_bytes()
    for i in range(4):
        p = bucket / "P1" / f"S{i}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(template + bytes([i]))
    db = tmp_path / "w.duckdb"
    cmd = [sys.executable, "-m", "multimodal_fer_flows.cli", "run", str(bucket), "--db", str(db), "--fps", "1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert any("waiting for another run" in o for o in outs), outs
    runs = sorted(_table(db, "SELECT n_loaded, n_skipped FROM runs"))
    assert runs == [(0, 4), (4, 0)]
    assert _table(db, "SELECT count(*), count(DISTINCT recording_sha256) FROM sessions") == [(4, 4)]


def test_prefect_yaml_deployments_match_the_flow():
    from prefect.schedules import Cron

    from multimodal_fer_flows.process_bucket import process_bucket

    with open(os.path.join(REPO, "prefect.yaml")) as f:
        spec = yaml.safe_load(f)
    params = set(inspect.signature(process_bucket.fn).parameters)
    assert {d["name"] for d in spec["deployments"]} == {"nightly", "hourly-fast"}
    for d in spec["deployments"]:
        path, name = d["entrypoint"].split(":")
        assert os.path.exists(os.path.join(REPO, path)) and name == "process_bucket"
        assert set(d["parameters"]) <= params
        for s in d["schedules"]:
            Cron(s["cron"], timezone=s["timezone"])  # valid cron and time zone


@pytest.mark.slow
def test_serve_starts_a_scheduled_run_and_stops_on_sigterm(tmp_path):
    """`mfer serve` with an every-minute cron creates and runs a flow run that loads the bucket; SIGTERM then
    ends it and everything it started (flow-run processes, the local Prefect server) within a bounded time."""
    import psutil

    from multimodal_fer_flows.cli import STOP_GRACE_S

    bucket = tmp_path / "bucket"
    (bucket / "P1").mkdir(parents=True)
    write_video(bucket / "P1" / "S1.mp4", seconds=1.0, fps=5, size=32)
    db = tmp_path / "w.duckdb"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    log = tmp_path / "serve.log"  # a file, not a pipe: a full pipe would block the server's logging
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "multimodal_fer_flows.cli", "serve", str(bucket), "--db",
                                 str(db), "--fps", "1", "--cron", "* * * * *", "--name", "test-serve"],
                                stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
    descendants: list = []
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            if db.exists() and os.path.exists(f"{db}.lock"):
                try:
                    if _table(db, "SELECT count(*) FROM runs")[0][0] >= 1:
                        break
                except duckdb.Error:
                    pass  # the run is writing
            assert proc.poll() is None, log.read_text()
            time.sleep(3)
        else:
            pytest.fail("no scheduled run within 4 minutes")
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert descendants, "the local Prefect server is a child of `mfer serve`"
    finally:
        stop = time.time()
        proc.terminate()
        proc.wait(timeout=STOP_GRACE_S + 40)
    assert time.time() - stop < STOP_GRACE_S + 40
    gone, alive = psutil.wait_procs(descendants, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    assert _table(db, "SELECT n_loaded FROM runs")[0] == (1,)
    text = log.read_text()
    assert "SIGTERM: stopping" in text, text[-3000:]
    # Prefect's own SIGTERM handler left `Runner.astop` un-awaited and raised SystemExit through the loop
    assert "never awaited" not in text and "Traceback" not in text, text[-3000:]


@pytest.mark.slow
def test_prefect_deploy_all_registers_the_scheduled_deployments(tmp_path):
    """`prefect deploy --all` against a local `prefect server start` registers prefect.yaml's deployments."""
    import asyncio

    from multimodal_fer_flows.cli import local_prefect_server

    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    old_home = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = env["PREFECT_HOME"]
    try:
        server, url = local_prefect_server()
    finally:
        if old_home is None:
            os.environ.pop("PREFECT_HOME")
        else:
            os.environ["PREFECT_HOME"] = old_home
    env.update({"PREFECT_API_URL": url, "MFER_HOME": REPO, "MFER_BUCKET": str(tmp_path / "bucket"),
                "MFER_DB": str(tmp_path / "w.duckdb"), "MFER_FAST_DB": str(tmp_path / "f.duckdb")})
    prefect = os.path.join(os.path.dirname(sys.executable), "prefect")
    try:
        subprocess.run([prefect, "work-pool", "create", "mfer-process", "--type", "process"], env=env, check=True,
                       capture_output=True, timeout=120)
        out = subprocess.run([prefect, "--no-prompt", "deploy", "--all"], env=env, cwd=REPO, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]

        async def deployments():
            from prefect.client.orchestration import PrefectClient

            async with PrefectClient(api=url) as client:
                return {d.name: d for d in await client.read_deployments()}

        found = asyncio.run(deployments())
        assert set(found) == {"nightly", "hourly-fast"}
        nightly = found["nightly"].schedules[0]
        assert (nightly.schedule.cron, nightly.schedule.timezone, nightly.active) == ("0 2 * * *", "Europe/London", True)
        assert found["nightly"].parameters["db"] == env["MFER_DB"] and found["nightly"].work_pool_name == "mfer-process"
    finally:
        server.terminate()
        server.wait(timeout=60)
