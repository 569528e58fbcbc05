"""One recording → staged Parquet (or a quarantine entry saying why it can't be).

:func:`analyze_one` is what ``process_bucket``'s ``analyze-recording`` task runs, on any Prefect task
runner (threads by default, Dask workers when configured). There is no per-recording flow: Prefect
stores a flow run's parameters, and a recording's parameters carry its raw location; a task run's
inputs are not stored (``persist_result=False``, no cache key).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import multimodal_fer_flows  # noqa: F401 - environment defaults
from multimodal_fer import bucket as bucket_lib
from multimodal_fer import workspace
from multimodal_fer.pipeline import PipelineOptions, StageError, analyze_recording, load_models
from multimodal_fer.planning import Quarantined, Staged
from multimodal_fer.pseudonyms import scrub

CHANGED_WHILE_READ = (
    "the file changed while the run read it (still being written, or replaced): the next run analyses what it "
    "holds then"
)
FETCH_ATTEMPTS = 3  # tries to read a recording from its bucket
FETCH_BACKOFF_S = 2.0  # seconds, doubled after each failed try


def fetch_with_retries(uri: str, work_dir: Path) -> Path:
    """A local path for the recording (object-store keys are streamed to ``work_dir``), retrying I/O errors.

    A plain loop, not a Prefect task with ``retries``: it runs inside the ``analyze-recording`` task
    (on a Dask worker too), in that task's temporary folder, and a Prefect retry logs the failed try's
    exception, whose text names the raw location. The final error is quarantined by
    :func:`analyze_one` through :func:`public_text`.
    """
    delay = FETCH_BACKOFF_S
    for attempt in range(1, FETCH_ATTEMPTS + 1):
        try:
            return bucket_lib.fetch_local(uri, work_dir)
        except OSError:
            if attempt == FETCH_ATTEMPTS:
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def public_text(text: str, recording: bucket_lib.Recording, local: Path | None = None) -> str:
    """``text`` (an error message) with the recording's raw location and ids replaced by their stored
    (pseudonymised) forms; unchanged when ids are not pseudonymised."""
    if recording.public_uri is None or not text:
        return text
    raw = Path(recording.uri)
    swaps = {
        recording.uri: recording.public_uri,
        str(local or recording.uri): recording.public_uri,
        raw.parent.name: recording.patient_id,
        raw.stem: recording.session_id,
        raw.name: Path(recording.public_uri).name,
    }
    return scrub(text, swaps)


def analyze_one(
    recording: bucket_lib.Recording, sha256: str, meta: bucket_lib.SessionMeta, staging: str, options: PipelineOptions
) -> Staged | Quarantined:
    """Fetch and analyse one recording into ``<staging>/<sha256>/``; its outcome, never an exception.

    Reasons name the recording only by its stored URI and ids (pseudonyms when a key is set).
    """
    staged_dir = Path(staging) / sha256

    def quarantined(stage: str, reason: str, error_type: str) -> Quarantined:
        return Quarantined(
            recording.stored_uri, stage, reason, error_type, sha256, recording.patient_id, recording.session_id
        )

    with workspace.temp_dir("fetch-") as work:
        try:
            local = fetch_with_retries(recording.uri, Path(work))
        except Exception as exc:  # noqa: BLE001 - I/O failed after retries
            reason = f"cannot read the recording: {getattr(exc, 'strerror', None) or exc}"
            return quarantined("split", public_text(reason, recording), type(exc).__name__)
        try:
            result = analyze_recording(
                local,
                recording=recording,
                sha256=sha256,
                meta=meta,
                staged_dir=staged_dir,
                options=options,
                models=load_models(options.asr),
            )
        except StageError as exc:
            shutil.rmtree(staged_dir, ignore_errors=True)
            return quarantined(exc.stage, public_text(str(exc), recording, local), type(exc.__cause__ or exc).__name__)
        if bucket_lib.sha256_of(str(local)) != sha256:  # not the bytes that were hashed: never stored under that hash
            shutil.rmtree(staged_dir, ignore_errors=True)
            return quarantined("split", CHANGED_WHILE_READ, "ChangedWhileRead")
    return Staged(recording, sha256, result["staged_dir"], result["stage_seconds"], result["pipeline_version"])
