"""What a run does with each recording of a bucket: a pure function of the listing and the warehouse.

A recording's identity is *what* it is (the SHA-256 of its bytes) **and where** it is (its patient
and session). From the two:

- same bytes, same place, loaded by this pipeline version: **skip** (nothing is re-read when the
  object's size and modification stamp are those recorded in ``objects``);
- same bytes loaded under another place that is no longer in the bucket: the file was **moved**
  (a misfiled recording put right): its rows are **re-homed** to the new place, no re-analysis;
- same bytes in two places of the bucket at once: the place already loaded (else the first the
  manifest describes, else the first in key order) is the recording; every other place is
  **quarantined as a duplicate**, naming the original, so it is visible and queryable, never
  silently dropped;
- anything else new or made by another pipeline version: **process**.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from multimodal_fer.bucket import Recording
from multimodal_fer.store import Location


@dataclass(frozen=True)
class Quarantined:
    """A recording (or bucket entry) that is not processed, with the reason stored in ``quarantine``."""

    source_uri: str
    stage: str
    reason: str
    error_type: str
    recording_sha256: str | None = None
    patient_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class Staged:
    """A recording analysed into Parquet under ``staged_dir``, waiting for the loader.

    Attributes
    ----------
    recording : Recording
        Where it is (ids as stored).
    sha256 : str
        SHA-256 of its bytes.
    staged_dir : str
        The folder of its per-recording tables (``<table>.parquet``).
    stage_seconds : dict of str to float
        Seconds spent in each stage of :func:`multimodal_fer.pipeline.analyze_recording`.
    pipeline_version : str
        The pipeline version that made the rows.
    """

    recording: Recording
    sha256: str
    staged_dir: str
    stage_seconds: dict[str, float]
    pipeline_version: str


#: What analysing one recording comes to: its rows staged, or the reason it is quarantined.
Outcome = Staged | Quarantined


@dataclass(frozen=True)
class Rehome:
    recording: Recording
    sha256: str
    old: Location


@dataclass
class Plan:
    todo: list[tuple[Recording, str]] = field(default_factory=list)
    skipped: list[tuple[Recording, str]] = field(default_factory=list)
    rehome: list[Rehome] = field(default_factory=list)
    duplicates: list[Quarantined] = field(default_factory=list)


def _canonical(
    hashed: list[tuple[Recording, str]], loaded: dict[str, Location], in_manifest: Collection[tuple[str, str]]
) -> dict[str, Recording]:
    """For each content hash, the place that holds the recording: the loaded place if it is still
    in the bucket, else the first place the manifest describes, else the first place in key order."""
    out: dict[str, Recording] = {}
    rank: dict[str, int] = {}
    for rec, sha in hashed:
        at, key = loaded.get(sha), (rec.patient_id, rec.session_id)
        r = 2 if at is not None and (at.patient_id, at.session_id) == key else 1 if key in in_manifest else 0
        if sha not in out or r > rank[sha]:
            out[sha], rank[sha] = rec, r
    return out


def plan(
    hashed: list[tuple[Recording, str]],
    *,
    loaded: dict[str, Location],
    quarantined: Collection[tuple[str, str | None]],
    version: str,
    retry_quarantined: bool = False,
    in_manifest: Collection[tuple[str, str]] = (),
) -> Plan:
    """Decide, for each ``(recording, sha256)`` of the bucket (ids as stored), what the run does.

    Parameters
    ----------
    hashed : list of (Recording, str)
        The bucket's recordings with the SHA-256 of their bytes, in key order.
    loaded : dict
        ``{sha256: Location}`` of the sessions in the warehouse.
    quarantined : collection of (str, str or None)
        ``(source_uri, sha256)`` already quarantined by this pipeline version.
    version : str
        This run's pipeline version.
    retry_quarantined : bool
        Process again what this version already quarantined.
    in_manifest : collection of (str, str)
        ``(patient_id, session_id)`` of the recordings the manifest describes: of two copies of the same
        bytes, the described one is the recording (unless the other is already loaded).
    """
    canonical = _canonical(hashed, loaded, frozenset(in_manifest))
    out = Plan()
    for rec, sha in hashed:
        first = canonical[sha]
        at = loaded.get(sha)
        if first is not rec:
            out.duplicates.append(
                Quarantined(
                    rec.stored_uri,
                    "plan",
                    f"the same bytes as {first.patient_id}/{first.session_id} "
                    f"({first.stored_uri}): a copy is not analysed twice; remove it, or remove the other if this is "
                    f"where the recording belongs",
                    "DuplicateRecording",
                    sha,
                    rec.patient_id,
                    rec.session_id,
                )
            )
        elif (
            at is not None
            and (at.patient_id, at.session_id) != (rec.patient_id, rec.session_id)
            and at.pipeline_version == version
        ):
            out.rehome.append(Rehome(rec, sha, at))
        elif (at is not None and at.pipeline_version == version) or (
            not retry_quarantined and (rec.stored_uri, sha) in quarantined
        ):
            out.skipped.append((rec, sha))
        else:
            out.todo.append((rec, sha))
    return out
