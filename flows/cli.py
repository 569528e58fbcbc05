"""``mfer``, the console script: the commands that start flows, composed with the library's commands.

    mfer run BUCKET [--db warehouse.duckdb] [pipeline options] [--dask local:N | ADDRESS]
                                                process new recordings of a bucket
    mfer serve BUCKET [--db ...] [pipeline options] [--cron "0 2 * * *"] [--timezone UTC]
                                                the same on a schedule (Prefect serve)
    mfer sql | status | validate | evaluate | report | export | ddl ...
                                                the library commands (:mod:`multimodal_fer.cli`)

Pipeline options (:func:`pipeline_options` builds one :class:`~multimodal_fer.pipeline.PipelineOptions`
from them, the flow's ``options`` parameter): ``--fps``, ``--asr-model``, ``--no-transcripts``, ``--redact``
and the fusion knobs ``--window-s``, ``--face-weight-speaking``, ``--speaking-min-share``,
``--smooth-windows``, ``--pooling`` (unset: :class:`~multimodal_fer.fusion.FusionOptions`' defaults).
``python -m multimodal_fer_flows.cli ...`` is the same as ``mfer ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path

from multimodal_fer import cli as library_cli
from multimodal_fer.config import DEFAULT_ASR_MODEL, SAMPLE_FPS, Settings

#: ``--flag`` → FusionOptions field, type and help (the knobs a trial tunes; docs/fusion.md)
FUSION_FLAGS = {
    "window_s": (float, "fusion window length in seconds"),
    "face_weight_speaking": (float, "multiplier of the face weight while the patient speaks"),
    "speaking_min_share": (float, "share of a window the patient must speak for it to count as speaking"),
    "smooth_windows": (int, "centred moving mean of the fused result over this many windows (1 = off)"),
    "pooling": (str, "evidence (log-linear pool of each stream against its prior) or linear (weighted mean)"),
}


def pipeline_options(args: argparse.Namespace):
    """The run's :class:`~multimodal_fer.pipeline.PipelineOptions`, built once from the command line."""
    from multimodal_fer.fusion import FusionOptions
    from multimodal_fer.pipeline import PipelineOptions
    from multimodal_fer.text.asr import AsrOptions

    fusion = {k: getattr(args, k) for k in FUSION_FLAGS if getattr(args, k, None) is not None}
    return PipelineOptions(
        sample_fps=args.fps,
        asr=AsrOptions(model=args.asr_model),
        fusion=replace(FusionOptions(), **fusion),
        store_transcripts=not args.no_transcripts,
        redact_transcripts=args.redact,
    )


MAX_LOCAL_WORKERS = 256  # --dask local:N, N at most (each worker is a process holding the models)


def local_workers(spec: str) -> int:
    """N of ``--dask local:N``, or one line saying what N may be (0 workers would wait forever)."""
    text = spec.split(":", 1)[1]
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LOCAL_WORKERS:
        raise ValueError(
            f"--dask {spec}: N of local:N must be a whole number of worker processes, 1 to {MAX_LOCAL_WORKERS}"
        )
    return int(text)


#: What the scheduler of a ``--dask local:N`` cluster serves over HTTP: its health check only. Without a
#: dashboard, Dask still opens 127.0.0.1:8787 with its info, JSON and metrics pages (workers, their logs,
#: call stacks), readable by any user of the machine; a run does not need them.
LOCAL_SCHEDULER_HTTP_ROUTES = ("distributed.http.health",)


def local_cluster(**cluster_kwargs):
    """A ``distributed.LocalCluster`` whose scheduler serves :data:`LOCAL_SCHEDULER_HTTP_ROUTES` only and whose
    INFO lines (each start, connection and close) stay out of the console; Dask's warnings still show."""
    import logging

    import dask
    from distributed import LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)
    with dask.config.set({"distributed.scheduler.http.routes": list(LOCAL_SCHEDULER_HTTP_ROUTES)}):
        return LocalCluster(**cluster_kwargs)


def dask_runner(spec: str):
    """A Prefect DaskTaskRunner: ``local:N`` starts a local cluster of N worker processes
    (:func:`local_cluster`), else a scheduler address."""
    from prefect_dask import DaskTaskRunner

    if spec.startswith("local:"):
        n = local_workers(spec)
        return DaskTaskRunner(
            cluster_class=local_cluster,
            cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "processes": True, "dashboard_address": None},
        )
    return DaskTaskRunner(address=spec)


def _flow(dask: str | None):
    from multimodal_fer_flows.process_bucket import process_bucket

    return process_bucket.with_options(task_runner=dask_runner(dask)) if dask else process_bucket


def flow_parameters(args: argparse.Namespace) -> dict:
    """``process_bucket``'s parameters: the options as one parameter; never a secret (see docs/privacy.md)."""
    return {
        "bucket": args.bucket,
        "db": args.db,
        "options": pipeline_options(args),
        "staging": args.staging,
        "retry_quarantined": args.retry_quarantined,
    }


def check_run(args: argparse.Namespace) -> None:
    """What a run would refuse, refused before it starts: bad options (``--dask local:N`` too), a ``--db``
    that cannot be written or is not a warehouse, a warehouse built with another pseudonym key (or none),
    a ``--staging`` that cannot be written or lies in the bucket. Nothing is created here."""
    from multimodal_fer import store
    from multimodal_fer.pseudonyms import Pseudonyms

    pipeline_options(args)
    if args.dask and args.dask.startswith("local:"):
        local_workers(args.dask)
    check_db_path(args.db)
    store.check_pseudonyms(args.db, Pseudonyms(Settings.from_env().checked_pseudonym_key()).fingerprint())
    if args.staging:
        check_staging(args.staging, bucket=args.bucket)


def _probe_writable(folder: Path) -> None:
    """Create and remove a file in ``folder``: an ``OSError`` if this process cannot write there."""
    import tempfile

    with tempfile.NamedTemporaryFile(dir=folder, prefix=".mfer-probe-"):
        pass


def check_db_path(db: str) -> None:
    """``--db`` names a file in a folder this process can write, or one line saying what is wrong.

    A ``--db`` in a folder that does not exist is refused rather than created: a mistyped path would
    otherwise start a new, empty warehouse and analyse every recording again.
    """
    path = Path(db).absolute()
    if not db or path.is_dir():
        raise ValueError(f"--db {db!r}: give the warehouse's file name, not a folder")
    if not path.parent.is_dir():
        raise ValueError(
            f"--db {db}: the folder {path.parent} does not exist (create it for a new warehouse, or check the path)"
        )
    try:
        _probe_writable(path.parent)
    except OSError as exc:
        raise ValueError(f"--db {db}: cannot write in {path.parent} ({exc.strerror or exc})") from None


def check_staging(staging: str, *, bucket: str | None = None) -> None:
    """``--staging`` writable (its nearest existing folder, if it does not exist yet: the run creates it), and
    not inside a local bucket: staged rows hold ids and transcripts, and the next run would list them."""
    target = Path(staging).resolve()  # as the run will take it: a literal '~' is a folder of that name
    local_bucket = Path(bucket).resolve() if bucket and "://" not in bucket else None
    if local_bucket is not None and target.is_relative_to(local_bucket):
        raise ValueError(f"--staging {staging}: inside the bucket (staged rows would be listed as recordings)")
    existing = next(p for p in (target, *target.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "not a folder")
        _probe_writable(existing)
    except OSError as exc:
        raise ValueError(f"--staging {staging}: cannot write there ({exc.strerror or exc})") from None


def _not_a_failure_record(record) -> bool:
    """Console filter: drop Prefect's records of a failed task or flow (the error again, with its traceback)."""
    import logging

    return record.levelno < logging.ERROR or not record.name.startswith(("prefect.flow_runs", "prefect.task_runs"))


def _console_failure_records(show: bool) -> None:
    """Show Prefect's failure records on the console (``--debug``) or not: ``mfer`` prints the error as one line.

    Only the console handlers change; Prefect's API handler (a server's UI) always gets the records.
    """
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [
        logging.getLogger(),
        *(x for x in logging.Logger.manager.loggerDict.values() if isinstance(x, logging.Logger)),
    ]
    for handler in {h for x in loggers for h in x.handlers if isinstance(h, PrefectConsoleHandler)}:
        (handler.removeFilter if show else handler.addFilter)(_not_a_failure_record)  # addFilter adds it once


def cmd_run(args) -> int:
    check_run(args)
    flow = _flow(args.dask)
    _console_failure_records(show=getattr(args, "debug", False))
    result = flow(**flow_parameters(args))
    return 1 if result["quality_failures"] else 0


def local_prefect_server(port: int = 0, *, timeout_s: float = 120.0):
    """Start ``prefect server start`` on 127.0.0.1 (schedules need a real server); returns (process, api_url)."""
    import socket
    import subprocess
    import time
    import urllib.request

    if not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("prefect")
    proc = subprocess.Popen(
        [str(exe), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("prefect server start exited early")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(1.0)
    proc.terminate()
    raise TimeoutError(f"prefect server did not answer on {url} within {timeout_s:.0f} s")


#: seconds ``mfer serve`` waits after SIGTERM for Prefect's graceful stop before it ends the in-flight run itself
#: (a killed run is safe: the warehouse is published atomically and the next run reclaims its scratch)
STOP_GRACE_S = 20.0


def _end_process_tree(server) -> None:
    """Kill this process's children (the in-flight flow run) and the local Prefect server, then exit 0."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()
    if server is not None:
        with contextlib.suppress(OSError):
            os.killpg(server.pid, 9)
    print(f"stopped: the in-flight run did not end within {STOP_GRACE_S:.0f} s of SIGTERM and was ended", flush=True)
    os._exit(0)


def _serve(flow, *, name: str, schedule, parameters: dict, server) -> None:
    """``flow.serve`` with a bounded stop: SIGTERM ends the process within :data:`STOP_GRACE_S` seconds."""
    import asyncio
    import threading

    from prefect.runner import Runner

    stopping: list = []  # holds the stop task while it runs

    class BoundedRunner(Runner):
        def handle_sigterm(self, *args, **kwargs) -> None:
            # Prefect's own handler calls the sync ``stop()`` from inside the loop (an un-awaited coroutine:
            # nothing stops) and then raises SystemExit through the loop; schedule ``astop()`` on it instead
            timer = threading.Timer(STOP_GRACE_S, _end_process_tree, args=(server,))
            timer.daemon = True
            timer.start()
            print("SIGTERM: stopping (a flow run in flight is cancelled; safe to rerun)", flush=True)
            loop = asyncio.get_running_loop()  # a Python signal handler runs on the main thread, the loop's
            loop.call_soon_threadsafe(lambda: stopping.append(loop.create_task(self.astop())))  # wakes its select

    runner = BoundedRunner(name=name, pause_on_shutdown=True)
    runner.add_flow(flow, name=name, schedule=schedule, parameters=parameters)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        print("interrupted: stopped serving", flush=True)


def _schedule(cron: str, timezone: str):
    """Prefect's cron schedule, or one line naming the option: checked before a server starts."""
    import zoneinfo

    from prefect.schedules import Cron

    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--timezone {timezone!r}: not a time zone name (e.g. UTC, Europe/Zurich)") from None
    try:
        return Cron(cron, timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"--cron {cron!r}: {str(exc).splitlines()[0]}") from None


def cmd_serve(args) -> int:
    check_run(args)  # refused now, not at the first scheduled run
    schedule = _schedule(args.cron, args.timezone)
    server = None
    if not os.environ.get("PREFECT_API_URL"):  # Prefect's own setting, not an MFER_* one
        print("no PREFECT_API_URL: starting a local Prefect server for the scheduler ...")
        server, url = local_prefect_server()
        os.environ["PREFECT_API_URL"] = url
        print(f"Prefect server (UI and API) on {url.removesuffix('/api')}")
    print(f"serving process-bucket/{args.name}: cron {args.cron!r} ({args.timezone}) on {args.bucket} -> {args.db}")
    print("SIGTERM or Ctrl-C stops; a run still going after", f"{STOP_GRACE_S:.0f} s is ended (safe to rerun)")
    try:
        _serve(
            _flow(args.dask),
            name=args.name,
            schedule=schedule,
            parameters=flow_parameters(args),
            server=server,
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    return 0


def _pipeline_args(sp) -> None:
    sp.add_argument(
        "--fps", type=float, default=SAMPLE_FPS, help="face frames sampled per second (default %(default)g)"
    )
    sp.add_argument("--asr-model", default=DEFAULT_ASR_MODEL, help="base (default), tiny.en, or a model path")
    sp.add_argument("--no-transcripts", action="store_true", help="do not store words and transcripts")
    sp.add_argument(
        "--redact", action="store_true", help="store transcripts with names, phone numbers and dates redacted"
    )
    fusion = sp.add_argument_group("fusion (default: FusionOptions' defaults, docs/fusion.md)")
    for name, (kind, text) in FUSION_FLAGS.items():
        choices = ("evidence", "linear") if name == "pooling" else None
        fusion.add_argument("--" + name.replace("_", "-"), type=kind, choices=choices, help=text)


def flow_commands(sub) -> None:
    """``mfer run`` and ``mfer serve`` (the same options, plus a schedule)."""
    r = sub.add_parser("run", help="process the new recordings of a bucket into the warehouse")
    r.add_argument("bucket", help="folder or fsspec URL: <bucket>/<patient_id>/<session_id>.<ext>")
    library_cli.db_arg(r)
    _pipeline_args(r)
    r.add_argument("--staging", help="folder for the workers' Parquet (default: temporary)")
    r.add_argument("--retry-quarantined", action="store_true", help="try quarantined recordings again")
    r.add_argument("--dask", help="analyse on Dask: local:N (N local worker processes) or a scheduler address")
    r.set_defaults(func=cmd_run)

    sv = sub.add_parser("serve", help="run the bucket flow on a cron schedule (Prefect serve; Ctrl-C stops)")
    for action in r._actions[1:]:  # the same options as `run`
        sv._add_action(action)
    sv.add_argument("--cron", default="0 2 * * *", help="cron schedule (default: every day at 02:00)")
    sv.add_argument("--timezone", default="UTC", help="time zone of the schedule (default %(default)s)")
    sv.add_argument("--name", default="nightly", help="deployment name (default %(default)s)")
    sv.set_defaults(func=cmd_serve)


def main(argv: list[str] | None = None) -> int:
    """``mfer``: the flow commands and the library commands (errors as :func:`multimodal_fer.cli.main`)."""
    return library_cli.main(
        argv, commands=flow_commands, description="mfer: run the bucket flow, query the warehouse, check its state."
    )


if __name__ == "__main__":
    sys.exit(main())
