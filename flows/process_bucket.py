"""Flow: a bucket of recordings → analysed sessions in DuckDB, with data-quality checks.

discover → hash and plan (skip what this pipeline version already loaded or quarantined) →
``process_recording`` for each new recording (workers write Parquet) → one loader writes
DuckDB, one recording per transaction → Great Expectations suites over the warehouse.
Runs with no Prefect server configured (Prefect starts a temporary local one).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

import flows  # noqa: F401 - environment defaults
from flows.process_recording import analyze_one
from multimodal_fer import bucket as bucket_lib
from multimodal_fer import quality, store
from multimodal_fer.pipeline import PipelineOptions, load_models, pipeline_version
from multimodal_fer.text.asr import AsrOptions


@task(name="discover-recordings", retries=2, retry_delay_seconds=2)
def discover_recordings(bucket: str) -> dict:
    """List the bucket and read its manifest; convention breaches are returned, not raised."""
    recordings, invalid = bucket_lib.discover(bucket)
    manifest, manifest_error = {}, None
    try:
        manifest = bucket_lib.read_manifest(bucket)
    except bucket_lib.BucketError as exc:
        manifest_error = str(exc)
    return {"recordings": recordings, "invalid": invalid, "manifest": manifest, "manifest_error": manifest_error}


@task(name="plan-work", retries=2, retry_delay_seconds=2)
def plan_work(db: str, recordings: list, version: str, retry_quarantined: bool) -> dict:
    """Hash every recording and decide what to process: new content, or made by another pipeline version."""
    con = store.connect(db)
    try:
        loaded = store.loaded_versions(con)
        quarantined = store.quarantined_keys(con, version)
    finally:
        con.close()
    todo, skipped = [], []
    for rec in recordings:
        sha = bucket_lib.sha256_of(rec.uri)
        if loaded.get(sha) == version or (not retry_quarantined and (rec.stored_uri, sha) in quarantined):
            skipped.append((rec, sha))
        else:
            todo.append((rec, sha))
    return {"todo": todo, "skipped": skipped, "quarantined": quarantined}


@task(name="analyze-recording")
def analyze_recording_task(recording: bucket_lib.Recording, sha256: str, meta: bucket_lib.SessionMeta, staging: str,
                           options: PipelineOptions) -> dict:
    """One recording → staged Parquet (runs wherever the task runner puts it: a thread, a Dask worker)."""
    return analyze_one(recording, sha256, meta, staging, options)


@task(name="load-warehouse")
def load_warehouse(db: str, results: list[dict], quarantines: list[dict], run_id: str, version: str,
                   model_versions: str) -> dict:
    """The single writer: load each staged recording in its own transaction, record quarantines and audit events."""
    con = store.connect(db)
    loaded = 0
    stamp = {"run_id": run_id, "pipeline_version": version, "model_versions": model_versions}
    try:
        for r in results:
            if r["status"] != "staged":
                continue
            uri = r["recording"]["public_uri"] or r["recording"]["uri"]
            try:
                store.load_recording(con, Path(r["staged_dir"]), run_id=run_id)
                store.audit(con, action="loaded", source_uri=uri, recording_sha256=r["sha256"], **stamp)
                loaded += 1
            except Exception as exc:  # noqa: BLE001
                quarantines.append({"source_uri": uri, "stage": "load",
                                    "reason": f"could not be loaded: {exc}", "error_type": type(exc).__name__,
                                    "recording_sha256": r["sha256"], "patient_id": r["recording"]["patient_id"],
                                    "session_id": r["recording"]["session_id"]})
        for q in quarantines:
            store.quarantine(con, pipeline_version=version, run_id=run_id, **q)
            store.audit(con, action="quarantined", source_uri=q["source_uri"], recording_sha256=q.get("recording_sha256"),
                        **stamp)
    finally:
        con.close()
    return {"loaded": loaded, "quarantined": len(quarantines)}


@task(name="validate-warehouse")
def validate_warehouse(db: str, run_id: str | None = None) -> list[str]:
    """Run every table's data-quality suite on the rows this run loaded (and the run-level tables
    whole); returns the failures. ``mfer validate`` checks every row."""
    con = store.connect(db, read_only=True)
    try:
        reports = quality.validate_warehouse(con, run_id=run_id)
    finally:
        con.close()
    failures = [f"{r.table}: {f}" for r in reports for f in r.failures]
    for r in reports:
        print(f"data quality {r.table:<18} {r.n_rows:>7} rows  {r.n_expectations:>3} expectations  "
              f"{'ok' if r.success else 'FAILED: ' + '; '.join(r.failures)}")
    return failures


@task(name="record-run")
def record_run(db: str, row: dict) -> None:
    con = store.connect(db)
    try:
        store.record_run(con, row)
    finally:
        con.close()


@flow(name="process-bucket", task_runner=ThreadPoolTaskRunner(max_workers=1))
def process_bucket(bucket: str, db: str = "warehouse.duckdb", staging: str | None = None, sample_fps: float = 5.0,
                   asr_model: str = "base", store_transcripts: bool = True, retry_quarantined: bool = False,
                   lock_timeout_s: float = 3600.0, redact_transcripts: bool = False) -> dict:
    """Process every new recording of a bucket into the warehouse.

    Parameters
    ----------
    bucket : str
        Folder or fsspec URL laid out as ``<patient_id>/<session_id>.<ext>``.
    db : str
        DuckDB file (created if missing).
    staging : str, optional
        Where workers write Parquet (default: a temporary folder).
    sample_fps, asr_model, store_transcripts, redact_transcripts
        Pipeline settings (they are part of the pipeline version). ``redact_transcripts`` stores
        names, phone numbers and dates as ``[NAME]``, ``[PHONE]``, ``[DATE]`` (the text model still
        reads the words as heard).
    retry_quarantined : bool
        Try again recordings that this pipeline version already quarantined.
    lock_timeout_s : float
        How long to wait for another run on the same database to finish (runs never overlap).

    Recordings are analysed by the flow's task runner: one at a time in this process by default;
    with ``process_bucket.with_options(task_runner=DaskTaskRunner(...))`` (``mfer run --dask``), on a
    Dask cluster. Loading stays in this process: one writer.

    Patient ids are pseudonymised (keyed HMAC) before anything is stored when the environment
    variable ``MFER_PSEUDONYM_KEY`` is set.
    """
    run_id = f"run-{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    with store.publishing(db, timeout_s=lock_timeout_s) as work:  # readers keep the last published state
        started = datetime.now()
        options = PipelineOptions(sample_fps=sample_fps, asr=AsrOptions(model=asr_model), store_transcripts=store_transcripts,
                                  redact_transcripts=redact_transcripts)
        models = load_models(options.asr)
        version = pipeline_version(options, models)
        model_versions = store.model_versions_json(models.versions)
        key = os.environ.get(bucket_lib.PSEUDONYM_KEY_ENV)
        found = discover_recordings(bucket)
        real_ids = {}
        recordings = []
        for rec in found["recordings"]:
            alias = bucket_lib.pseudonymise(rec, key)
            real_ids[alias.uri] = (rec.patient_id, rec.session_id)  # manifest rows use the real ids
            recordings.append(alias)
        quarantines = [{"source_uri": i.uri, "stage": "discover", "reason": i.reason, "error_type": "BucketError"}
                       for i in found["invalid"]]
        if found["manifest_error"]:
            quarantines.append({"source_uri": f"{bucket.rstrip('/')}/manifest", "stage": "discover",
                                "reason": f"manifest ignored: {found['manifest_error']}", "error_type": "BucketError"})
        plan = plan_work(work, recordings, version, retry_quarantined)
        if not retry_quarantined:  # convention breaches already on record for this version: nothing new to say
            quarantines = [q for q in quarantines if (q["source_uri"], None) not in plan["quarantined"]]
        todo = plan["todo"]
        print(f"{run_id}: {len(found['recordings'])} recording(s) in {bucket}, {len(todo)} to process, "
              f"{len(plan['skipped'])} already done, {len(found['invalid'])} not following the convention")
        results = []
        with tempfile.TemporaryDirectory(prefix="mfer-staging-") as tmp:
            staging_dir = staging or tmp
            futures = [analyze_recording_task.submit(rec, sha, found["manifest"].get(real_ids[rec.uri], bucket_lib.SessionMeta()),
                                                     staging_dir, options) for rec, sha in todo]
            for i, ((rec, sha), future) in enumerate(zip(todo, futures), start=1):
                result = future.result()
                seconds = sum((result.get("stage_seconds") or {}).values())
                print(f"[{i}/{len(todo)}] {rec.patient_id}/{rec.session_id} ({rec.size_bytes / 1e6:.1f} MB): "
                      + (f"analysed in {seconds:.1f} s" if result["status"] == "staged"
                         else f"quarantined at {result['stage']}: {result['reason']}"))
                if result["status"] == "quarantined":
                    quarantines.append({"source_uri": rec.stored_uri, "stage": result["stage"], "reason": result["reason"],
                                        "error_type": result["error_type"], "recording_sha256": sha,
                                        "patient_id": rec.patient_id, "session_id": rec.session_id})
                results.append(result)
            counts = load_warehouse(work, results, quarantines, run_id, version, model_versions)
        failures = validate_warehouse(work, run_id)
        summary = {"run_id": run_id, "bucket": bucket, "started_at": started, "finished_at": datetime.now(),
                   "n_discovered": len(found["recordings"]), "n_skipped": len(plan["skipped"]),
                   "n_loaded": counts["loaded"], "n_quarantined": counts["quarantined"], "pipeline_version": version}
        record_run(work, summary)
    print(f"{run_id}: loaded {counts['loaded']}, quarantined {counts['quarantined']}, skipped {len(plan['skipped'])}; "
          f"data quality {'ok' if not failures else 'FAILED'}")
    return {**summary, "quality_failures": failures,
            "stage_seconds": [r.get("stage_seconds") for r in results if r["status"] == "staged"]}
