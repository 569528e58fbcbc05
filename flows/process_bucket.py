"""Flow: a bucket of recordings → analysed sessions in DuckDB, with data-quality checks.

discover (links, pipes and bad keys become quarantine entries, ids pseudonymised at once) →
hash only what the ``objects`` index does not know, on the task runner's workers → plan (skip,
re-home a moved recording, quarantine a duplicate, or process) → ``analyze_one`` for each
recording to process (workers write Parquet) → one loader writes DuckDB, one recording per
transaction → Great Expectations suites over the warehouse.
Runs with no Prefect server configured (Prefect starts a temporary local one). No task result is
persisted: Prefect's own storage never holds a recording's URI or ids.
"""

# No `from __future__ import annotations`: Prefect validates the parameters against these annotations
# (pydantic), and a deployment loads this file by path, where string annotations such as
# "PipelineOptions" cannot be resolved.
import shutil
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

import multimodal_fer_flows  # noqa: F401 - environment defaults
from multimodal_fer import bucket as bucket_lib
from multimodal_fer import planning, quality, store, workspace
from multimodal_fer.config import DEFAULT_DB, Settings
from multimodal_fer.pipeline import PipelineOptions, artefact_versions, version_of
from multimodal_fer.planning import Quarantined, Staged
from multimodal_fer.pseudonyms import Pseudonyms
from multimodal_fer_flows.process_recording import analyze_one, public_text
from multimodal_fer_flows.progress import progress

EPHEMERAL = {"persist_result": False, "cache_policy": NO_CACHE}  # nothing a task returns is written to disk


@task(name="discover-recordings", retries=2, retry_delay_seconds=2, **EPHEMERAL)
def discover_recordings(bucket: str, pseudonyms: Pseudonyms) -> dict:
    """List the bucket and read its manifest (keyed by the ids as stored); breaches are returned, not raised."""
    recordings, invalid = bucket_lib.discover(bucket, pseudonyms)
    manifest, manifest_error = {}, None
    try:
        raw = bucket_lib.read_manifest(bucket, pseudonyms)
        manifest = {(pseudonyms.patient(p), pseudonyms.session(p, s)): meta for (p, s), meta in raw.items()}
    except bucket_lib.BucketError as exc:
        manifest_error = str(exc)
    return {
        "recordings": recordings,
        "invalid": invalid,
        "manifest": manifest,
        "manifest_error": manifest_error,
        "manifest_uri": bucket_lib.manifest_uri(bucket),
    }


def _retry_io_error(task, task_run, state) -> bool:
    """Prefect's ``retry_condition_fn``: retry a failed try on an I/O error only (a refused pseudonym
    key or a schema problem fails the same way every time)."""
    import duckdb

    return isinstance(state.data, (OSError, duckdb.IOException))


@task(
    name="read-warehouse-state", retries=2, retry_delay_seconds=[1, 4], retry_condition_fn=_retry_io_error, **EPHEMERAL
)
def read_warehouse_state(db: str, version: str, fingerprint: str) -> dict:
    """Check the run's pseudonym key against the warehouse's; what is loaded, quarantined and already hashed."""
    con = store.connect(db)
    try:
        store.agree_pseudonyms(con, fingerprint)
        return {
            "loaded": store.loaded_locations(con),
            "quarantined": store.quarantined_keys(con, version),
            "objects": store.known_objects(con),
        }
    finally:
        con.close()


class UnreadableRecording(RuntimeError):
    """An I/O error while hashing, its message naming the recording only by its stored (public) form:
    Prefect logs the exception of every failed try."""


@task(name="hash-recording", retries=2, retry_delay_seconds=[1, 4], **EPHEMERAL)
def hash_recording(recording: bucket_lib.Recording) -> tuple[str | None, str | None]:
    """``(sha256, None)``, or ``(None, reason)`` when the recording changed while read.

    An I/O error is raised as :class:`UnreadableRecording` so that Prefect tries again (a network
    share or an object store may answer the next time); ``hash_all`` quarantines the recording
    when the last try fails too.
    """
    try:
        return bucket_lib.hash_recording(recording), None
    except bucket_lib.BucketError as exc:  # changed while read: the same on a second try of this run
        return None, f"cannot read the recording: {exc}"
    except OSError as exc:
        reason = f"cannot read the recording: {getattr(exc, 'strerror', None) or exc}"
        raise UnreadableRecording(public_text(reason, recording)) from None


def hash_all(recordings: list[bucket_lib.Recording], known: dict) -> tuple[list, list[dict], list[Quarantined]]:
    """The SHA-256 of every recording: from the ``objects`` index when its size and stamp are unchanged, else
    read by ``hash-recording`` tasks on the task runner (threads, or the Dask workers)."""
    hashed, fresh, failed = [], [], []
    unknown = [
        r
        for r in recordings
        if known.get(r.stored_uri, (None, None))[:2] != (r.size_bytes, r.modified) or not r.modified
    ]
    futures = {r.stored_uri: hash_recording.submit(r) for r in unknown}
    for rec in recordings:
        if rec.stored_uri not in futures:
            hashed.append((rec, known[rec.stored_uri][2]))
            continue
        try:
            sha, reason = futures[rec.stored_uri].result()
        except UnreadableRecording as exc:  # every try failed
            sha, reason = None, str(exc)
        if sha is None:
            failed.append(
                Quarantined(rec.stored_uri, "plan", reason, "UnreadableRecording", None, rec.patient_id, rec.session_id)
            )
            continue
        hashed.append((rec, sha))
        fresh.append(
            {
                "source_uri": rec.stored_uri,
                "size_bytes": rec.size_bytes,
                "modified": rec.modified,
                "recording_sha256": sha,
            }
        )
    return hashed, fresh, failed


@task(name="load-warehouse", **EPHEMERAL)
def load_warehouse(
    db: str,
    results: list[Staged],
    quarantines: list[Quarantined],
    rehomes: list[planning.Rehome],
    skipped: list[tuple[bucket_lib.Recording, str]],
    objects: list[dict],
    manifest: dict,
    resolved: list[str],
    run_id: str,
    version: str,
    model_versions: str,
) -> dict:
    """The single writer: re-home moved recordings, give skipped sessions their corrected manifest metadata,
    load each staged recording in its own transaction, clear the quarantine entries of ``resolved`` URIs (a
    manifest that is valid again), record quarantines, the hashes read and the audit events; staged files
    are removed once loaded."""
    con = store.connect(db)
    loaded = updated = 0
    quarantines = list(quarantines)
    stamp = {"run_id": run_id, "pipeline_version": version, "model_versions": model_versions}
    try:
        for r in rehomes:
            meta = manifest.get((r.recording.patient_id, r.recording.session_id), bucket_lib.SessionMeta())
            store.rehome(
                con,
                r.sha256,
                patient_id=r.recording.patient_id,
                session_id=r.recording.session_id,
                source_uri=r.recording.stored_uri,
                recorded_at=meta.recorded_at,
                site=meta.site,
                trial_arm=meta.trial_arm,
                clinician_id=meta.clinician_id,
            )
            store.audit(con, action="rehomed", source_uri=r.recording.stored_uri, recording_sha256=r.sha256, **stamp)
        for rec, sha in skipped:  # a corrected manifest row: no re-analysis, the new metadata only
            meta = manifest.get((rec.patient_id, rec.session_id))
            if meta is not None and store.update_metadata(
                con,
                sha,
                recorded_at=meta.recorded_at,
                site=meta.site,
                trial_arm=meta.trial_arm,
                clinician_id=meta.clinician_id,
            ):
                updated += 1
                store.audit(con, action="updated", source_uri=rec.stored_uri, recording_sha256=sha, **stamp)
        for uri in resolved:
            store.clear_quarantine(con, uri)
        for r in results:
            failed = _load_one(con, r, stamp)
            loaded += failed is None
            quarantines += [failed] if failed else []
            shutil.rmtree(r.staged_dir, ignore_errors=True)
        for q in quarantines:
            store.quarantine(con, pipeline_version=version, run_id=run_id, **asdict(q))
            store.audit(
                con, action="quarantined", source_uri=q.source_uri, recording_sha256=q.recording_sha256, **stamp
            )
        store.remember_objects(con, objects, run_id=run_id)
    finally:
        con.close()
    return {"loaded": loaded, "quarantined": len(quarantines), "rehomed": len(rehomes), "updated": updated}


def _load_one(con, staged: Staged, stamp: dict) -> Quarantined | None:
    """Load one staged recording; the quarantine entry if it cannot be loaded."""
    rec = staged.recording
    try:
        store.load_recording(con, Path(staged.staged_dir), run_id=stamp["run_id"])
        store.audit(con, action="loaded", source_uri=rec.stored_uri, recording_sha256=staged.sha256, **stamp)
        return None
    except Exception as exc:  # noqa: BLE001 - one recording's load never stops the others
        return Quarantined(
            rec.stored_uri,
            "load",
            f"could not be loaded: {exc}",
            type(exc).__name__,
            staged.sha256,
            rec.patient_id,
            rec.session_id,
        )


@task(name="validate-warehouse", **EPHEMERAL)
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
        progress(
            f"data quality {r.table:<18} {r.n_rows:>7} rows  {r.n_expectations:>3} expectations  "
            f"{'ok' if r.success else 'FAILED: ' + '; '.join(r.failures)}"
        )
    return failures


@task(name="record-run", **EPHEMERAL)
def record_run(db: str, row: dict) -> None:
    con = store.connect(db)
    try:
        store.record_run(con, row)
    finally:
        con.close()


def _discovery_quarantines(found: dict) -> list[Quarantined]:
    out = [
        Quarantined(i.uri, "discover", i.reason, "BucketError", None, i.patient_id, i.session_id)
        for i in found["invalid"]
    ]
    if found["manifest_error"]:
        out.append(
            Quarantined(
                found["manifest_uri"],
                "discover",
                f"manifest ignored: {found['manifest_error']}",
                "BucketError",
            )
        )
    return out


def _analyse(
    todo: list, manifest: dict, staging_dir: str, options: PipelineOptions
) -> tuple[list[Staged], list[Quarantined]]:
    """Submit every recording to the task runner; report each as it finishes (ids as stored)."""
    futures = [
        analyze_recording_task.submit(
            rec, sha, manifest.get((rec.patient_id, rec.session_id), bucket_lib.SessionMeta()), staging_dir, options
        )
        for rec, sha in todo
    ]
    staged, quarantines = [], []
    for i, ((rec, _), future) in enumerate(zip(todo, futures, strict=True), start=1):
        outcome = future.result()
        if isinstance(outcome, Staged):
            staged.append(outcome)
            said = f"analysed in {sum(outcome.stage_seconds.values()):.1f} s"
        else:
            quarantines.append(outcome)
            said = f"quarantined at {outcome.stage}: {outcome.reason}"
        progress(f"[{i}/{len(todo)}] {rec.patient_id}/{rec.session_id} ({rec.size_bytes / 1e6:.1f} MB): {said}")
    return staged, quarantines


@task(name="analyze-recording", **EPHEMERAL)
def analyze_recording_task(
    recording: bucket_lib.Recording, sha256: str, meta: bucket_lib.SessionMeta, staging: str, options: PipelineOptions
) -> Staged | Quarantined:
    """One recording → staged Parquet (runs wherever the task runner puts it: a thread, a Dask worker)."""
    return analyze_one(recording, sha256, meta, staging, options)


@flow(name="process-bucket", task_runner=ThreadPoolTaskRunner(max_workers=1), persist_result=False)
def process_bucket(
    bucket: str,
    db: str = DEFAULT_DB,
    options: PipelineOptions = PipelineOptions(),
    staging: str | None = None,
    retry_quarantined: bool = False,
    lock_timeout_s: float = 3600.0,
) -> dict:
    """Process every new recording of a bucket into the warehouse.

    Parameters
    ----------
    bucket : str
        Folder or fsspec URL laid out as ``<patient_id>/<session_id>.<ext>``.
    db : str
        DuckDB file (created if missing; ``mfer run`` refuses one in a folder that does not exist).
    staging : str, optional
        Where workers write Parquet, in a folder ``mfer-<run id>`` of its own (default: this process's
        scratch folder). Each recording's staged files are removed once it is loaded, the run's folder at
        its end, and a killed run's folder by the next run.
    options : PipelineOptions
        What to analyse and how: frame rate, speech model (``AsrOptions``), fusion (``FusionOptions``),
        whether to store (redacted) transcripts. One parameter, built once by the CLI (``mfer run``
        options); a deployment gives it as a mapping, e.g. ``{sample_fps: 2.0, asr: {model: tiny.en}}``
        (prefect.yaml). It is part of the pipeline version.
    retry_quarantined : bool
        Try again recordings that this pipeline version already quarantined.
    lock_timeout_s : float
        How long to wait for another run on the same database to finish (runs never overlap).

    Recordings are analysed by the flow's task runner: one at a time in this process by default;
    with ``process_bucket.with_options(task_runner=DaskTaskRunner(...))`` (``mfer run --dask``), on a
    Dask cluster. Loading stays in this process: one writer.

    Patient and session ids are pseudonymised (keyed HMAC) before anything is stored, printed or
    logged when the environment variable ``MFER_PSEUDONYM_KEY`` is set; a warehouse refuses a run
    whose key (or lack of one) differs from the key it was built with. The key is read here, in the
    flow's process (``Settings.from_env()``), never passed as a parameter: Prefect stores parameters.
    """
    run_id = f"run-{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    pseudonyms = Pseudonyms(Settings.from_env().checked_pseudonym_key())
    with store.publishing(db, timeout_s=lock_timeout_s) as work:  # readers keep the last published state
        started = datetime.now()
        versions = artefact_versions(options.asr)  # from the artefact files: the models load on the workers
        version = version_of(options, versions)
        model_versions = store.model_versions_json(versions)
        state = read_warehouse_state(work, version, pseudonyms.fingerprint())
        found = discover_recordings(bucket, pseudonyms)
        hashed, fresh, unreadable = hash_all(found["recordings"], state["objects"])
        plan = planning.plan(
            hashed,
            loaded=state["loaded"],
            quarantined=state["quarantined"],
            version=version,
            retry_quarantined=retry_quarantined,
            in_manifest=[
                (r.patient_id, r.session_id) for r, _ in hashed if (r.patient_id, r.session_id) in found["manifest"]
            ],
        )
        quarantines = _discovery_quarantines(found) + unreadable + plan.duplicates
        if not retry_quarantined:  # on record for this version with the same reason: nothing new to say
            on_record = state["quarantined"]
            quarantines = [
                q
                for q in quarantines
                if on_record.get((q.source_uri, q.recording_sha256)) != q.reason[: store.MAX_REASON]
            ]
        progress(
            f"{run_id}: {len(found['recordings'])} recording(s) in {bucket}, {len(plan.todo)} to process, "
            f"{len(plan.skipped)} already done, {len(plan.rehome)} moved, {len(plan.duplicates)} duplicate(s), "
            f"{len(found['invalid'])} not following the convention, {len(fresh)} read to hash"
        )
        with workspace.owned_dir(
            Path(staging) if staging else workspace.process_dir(), f"mfer-{run_id}", prefix="mfer-run-"
        ) as staging_dir:
            results, failed = _analyse(plan.todo, found["manifest"], str(staging_dir), options)
            counts = load_warehouse(
                work,
                results,
                quarantines + failed,
                plan.rehome,
                plan.skipped,
                fresh,
                found["manifest"],
                [] if found["manifest_error"] else [found["manifest_uri"]],
                run_id,
                version,
                model_versions,
            )
        failures = validate_warehouse(work, run_id)
        summary = {
            "run_id": run_id,
            "bucket": bucket,
            "started_at": started,
            "finished_at": datetime.now(),
            "n_discovered": len(found["recordings"]),
            "n_skipped": len(plan.skipped),
            "n_loaded": counts["loaded"],
            "n_quarantined": counts["quarantined"],
            "pipeline_version": version,
        }
        record_run(work, summary)
    progress(
        f"{run_id}: loaded {counts['loaded']}, quarantined {counts['quarantined']}, skipped {len(plan.skipped)}, "
        f"re-homed {counts['rehomed']}, metadata updated {counts['updated']}; "
        f"data quality {'ok' if not failures else 'FAILED'}"
    )
    return {
        **summary,
        "quality_failures": failures,
        "n_rehomed": counts["rehomed"],
        "n_updated": counts["updated"],
        "n_hashed": len(fresh),
        "stage_seconds": [r.stage_seconds for r in results],
    }
