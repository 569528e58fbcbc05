"""Flow: analyse one recording and stage its rows as Parquet (or say why it can't be)."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

from prefect import flow, task

import flows  # noqa: F401 - environment defaults
from multimodal_fer import bucket as bucket_lib
from multimodal_fer.pipeline import PipelineOptions, StageError, analyze_recording, load_models


@task(name="fetch-recording", retries=2, retry_delay_seconds=2)
def fetch_recording(uri: str, work_dir: str) -> str:
    """A local path for the recording (object-store keys are streamed to ``work_dir``)."""
    return str(bucket_lib.fetch_local(uri, Path(work_dir)))


@task(name="analyze-recording")
def analyze(local_path: str, recording: bucket_lib.Recording, sha256: str, meta: bucket_lib.SessionMeta,
            staged_dir: str, options: PipelineOptions) -> dict:
    """Run the library pipeline; a :class:`StageError` becomes a quarantine decision, not a crash."""
    try:
        result = analyze_recording(Path(local_path), recording=recording, sha256=sha256, meta=meta,
                                   staged_dir=Path(staged_dir), options=options, models=load_models(options.asr),
                                   progress=print)
        return {"status": "staged", **result}
    except StageError as exc:
        return {"status": "quarantined", "stage": exc.stage, "reason": str(exc),
                "error_type": type(exc.__cause__ or exc).__name__}


@flow(name="process-recording")
def process_recording(recording: bucket_lib.Recording, sha256: str, meta: bucket_lib.SessionMeta,
                      staging: str, options: PipelineOptions = PipelineOptions()) -> dict:
    """Analyse one recording into ``<staging>/<sha256>/``; returns a status dict (staged or quarantined)."""
    staged_dir = str(Path(staging) / sha256)
    with tempfile.TemporaryDirectory(prefix="mfer-fetch-") as work:
        try:
            local = fetch_recording(recording.uri, work)
        except Exception as exc:  # noqa: BLE001 - I/O failed after retries
            return {"status": "quarantined", "stage": "split", "reason": f"cannot read the recording: {exc}",
                    "error_type": type(exc).__name__}
        result = analyze(local, recording, sha256, meta, staged_dir, options)
    return {**result, "recording": asdict(recording), "sha256": sha256}
