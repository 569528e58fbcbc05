"""The objects index (what each bucket object was when last hashed), re-homing a loaded recording that moved,
and the settings a warehouse was built with (the pseudonym key's fingerprint)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from multimodal_fer.store.loader import _upsert_patient, clear_quarantine, conform, delete_recordings, recordings_where
from multimodal_fer.store.warehouse import connect, transaction


@dataclass(frozen=True)
class Location:
    """Where a loaded recording's rows say it is."""

    patient_id: str
    session_id: str
    source_uri: str
    pipeline_version: str


def loaded_locations(con) -> dict[str, Location]:
    """``{recording_sha256: Location}`` of every loaded session."""
    rows = con.execute("SELECT recording_sha256, patient_id, session_id, source_uri, pipeline_version FROM sessions")
    return {sha: Location(p, s, u, v) for sha, p, s, u, v in rows.fetchall()}


def known_objects(con) -> dict[str, tuple[int, str, str]]:
    """``{source_uri: (size_bytes, modified, recording_sha256)}``: what each object was when last hashed."""
    rows = con.execute("SELECT source_uri, size_bytes, modified, recording_sha256 FROM objects").fetchall()
    return {u: (int(n), m, sha) for u, n, m, sha in rows}


def remember_objects(con, rows: list[dict], *, run_id: str) -> None:
    """Record (or update) the hash of each object read in this run: ``source_uri, size_bytes, modified,
    recording_sha256`` per row."""
    if not rows:
        return
    frame = pd.DataFrame(rows).assign(hashed_at=datetime.now(), run_id=run_id)
    con.register("_o", conform("objects", frame))
    try:
        con.execute("INSERT OR REPLACE INTO objects SELECT * FROM _o")
    finally:
        con.unregister("_o")


def rehome(
    con,
    sha: str,
    *,
    patient_id: str,
    session_id: str,
    source_uri: str,
    recorded_at=None,
    site=None,
    trial_arm=None,
    clinician_id=None,
) -> Location:
    """Move a loaded recording to the patient and session of the folder it now lies in (one transaction).

    The analysis does not change, only where it belongs: its ``sessions`` row takes the new ids,
    URI and (where given) manifest metadata; an older recording loaded at the new place is
    replaced, as a new recording there would replace it; the new place's quarantine entries are
    cleared. Returns where it was.
    """
    with transaction(con):
        old = con.execute(
            "SELECT patient_id, session_id, source_uri, pipeline_version FROM sessions WHERE recording_sha256 = ?",
            [sha],
        ).fetchone()
        if old is None:
            raise KeyError(f"recording {sha[:12]} is not loaded")
        stale = recordings_where(
            con, "patient_id = ? AND session_id = ? AND recording_sha256 <> ?", [patient_id, session_id, sha]
        )
        delete_recordings(con, stale)
        con.execute(
            "UPDATE sessions SET patient_id = ?, session_id = ?, source_uri = ? WHERE recording_sha256 = ?",
            [patient_id, session_id, source_uri, sha],
        )
        _set_metadata(con, sha, [recorded_at, site, trial_arm, clinician_id])
        _upsert_patient(con, _PATIENT_SQL, [patient_id, site, trial_arm])
        clear_quarantine(con, source_uri)
    return Location(*old)


METADATA = ("recorded_at", "site", "trial_arm", "clinician_id")  # the manifest's columns a sessions row holds
_PATIENT_SQL = "SELECT ?::VARCHAR AS patient_id, ?::VARCHAR AS site, ?::VARCHAR AS trial_arm"


def _set_metadata(con, sha: str, values: list) -> int:
    """Set a session's :data:`METADATA` (``None`` keeps the stored value); the number of rows that changed."""
    given = ", ".join(f"{c} = COALESCE(?, {c})" for c in METADATA)
    differs = " OR ".join(f"{c} IS DISTINCT FROM COALESCE(?, {c})" for c in METADATA)
    (n,) = con.execute(
        f"UPDATE sessions SET {given} WHERE recording_sha256 = ? AND ({differs})", [*values, sha, *values]
    ).fetchone()
    return int(n)


def update_metadata(con, sha: str, *, recorded_at=None, site=None, trial_arm=None, clinician_id=None) -> bool:
    """Give a loaded session the metadata of its (corrected) manifest row, without analysing it again.

    A value not given (``None``: an empty cell) keeps the stored one; the patient's site and arm
    follow. Returns whether anything changed.
    """
    with transaction(con):
        changed = _set_metadata(con, sha, [recorded_at, site, trial_arm, clinician_id]) > 0
        if changed:
            (patient_id,) = con.execute("SELECT patient_id FROM sessions WHERE recording_sha256 = ?", [sha]).fetchone()
            _upsert_patient(con, _PATIENT_SQL, [patient_id, site, trial_arm])
    return changed


class SettingsMismatch(ValueError):
    """A run whose settings disagree with what the warehouse was built with."""


PSEUDONYM_SETTING = "pseudonym_key_fingerprint"
ALIAS_PATTERN = "^p_[0-9a-f]{16}$"  # a patient pseudonym (multimodal_fer.pseudonyms)


def agree_pseudonyms(con, fingerprint: str, *, record: bool = True) -> None:
    """Refuse a run whose pseudonym key (by fingerprint; ``'none'`` without a key) is not the one
    the warehouse was built with, so raw ids and pseudonyms, or two keys' pseudonyms, never mix.

    The first run records its fingerprint (``record``). A warehouse from before fingerprints were
    recorded is judged by its patient ids: all pseudonyms (a key was used) or none (no key).

    Raises
    ------
    SettingsMismatch
        With a message that says which key the warehouse needs.
    """
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    row = (
        con.execute("SELECT value FROM settings WHERE name = ?", [PSEUDONYM_SETTING]).fetchone()
        if "settings" in tables
        else None
    )
    if row is not None:
        if row[0] != fingerprint:
            raise SettingsMismatch(_mismatch(row[0], fingerprint))
        return
    n, aliases = (
        con.execute(
            "SELECT count(*), count(*) FILTER (WHERE regexp_matches(patient_id, ?)) FROM sessions", [ALIAS_PATTERN]
        ).fetchone()
        if "sessions" in tables
        else (0, 0)
    )
    have = None if n == 0 else "pseudonymised" if aliases == n else "none" if aliases == 0 else "mixed"
    if have not in (None, "none" if fingerprint == "none" else "pseudonymised"):
        raise SettingsMismatch(_mismatch(have, fingerprint))
    if record:
        con.execute("INSERT INTO settings VALUES (?, ?, ?)", [PSEUDONYM_SETTING, fingerprint, datetime.now()])


def check_pseudonyms(db_path: str | Path, fingerprint: str) -> None:
    """:func:`agree_pseudonyms` on the published warehouse, read-only (nothing to check when there is none yet):
    lets a command refuse a mismatched key in one line before a run starts."""
    if Path(db_path).exists():
        con = connect(db_path, read_only=True)
        try:
            agree_pseudonyms(con, fingerprint, record=False)
        finally:
            con.close()


def _mismatch(have: str, want: str) -> str:
    if have == "none":
        return (
            "this warehouse stores patient and session ids as they are; a run with MFER_PSEUDONYM_KEY would mix "
            "them with pseudonyms: use a new warehouse (--db) for pseudonymised data"
        )
    if want == "none":
        return (
            "this warehouse stores pseudonymised ids; set MFER_PSEUDONYM_KEY to the key it was built with "
            "(a run without it would store raw ids beside the pseudonyms)"
        )
    return (
        "MFER_PSEUDONYM_KEY is not the key this warehouse was built with (its pseudonyms would not match): "
        "set the original key, or use a new warehouse (--db)"
    )
