"""The recording bucket: ``<bucket>/<patient_id>/<session_id>.<ext>`` plus an optional manifest.

Files whose name starts with ``.`` or ``_`` are ignored (notes, temporary uploads).
A bucket is a local folder or any fsspec URL (``file://``, ``s3://``, ``memory://`` …).
Ids are validated so that a key cannot escape the bucket or smuggle odd characters into the
warehouse. Every recording is identified by the SHA-256 of its bytes.

Manifest (optional): ``<bucket>/manifest.csv`` or ``<bucket>/manifest.json`` with one row per
session and the columns ``patient_id, session_id`` (required) and ``recorded_at, site,
trial_arm, clinician_id, patient_channel`` (optional; ``patient_channel`` is the index of the
audio channel that carries only the patient's microphone, e.g. 0 = left).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov", ".flv", ".avi", ".m4v")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".flac", ".ogg")
RECORDING_EXTENSIONS = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS
MANIFEST_NAMES = ("manifest.csv", "manifest.json")
MANIFEST_COLUMNS = ("patient_id", "session_id", "recorded_at", "site", "trial_arm", "clinician_id", "patient_channel")
MAX_AUDIO_CHANNEL = 63  # highest channel index a manifest may name
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
HASH_CHUNK = 1 << 20  # 1 MiB
READ_BLOCK = 8 << 20  # 8 MiB: object-store read-ahead, so big objects never sit in memory whole


class BucketError(ValueError):
    """A key, id or manifest that violates the bucket convention."""


@dataclass(frozen=True)
class Recording:
    uri: str  # full fsspec URL or local path of the file
    patient_id: str
    session_id: str
    size_bytes: int
    public_uri: str | None = None  # what the warehouse stores instead of ``uri`` (pseudonymised ids)

    @property
    def stored_uri(self) -> str:
        return self.public_uri or self.uri


@dataclass(frozen=True)
class Invalid:
    uri: str
    reason: str


@dataclass(frozen=True)
class SessionMeta:
    recorded_at: datetime | None = None
    site: str | None = None
    trial_arm: str | None = None
    clinician_id: str | None = None
    patient_channel: int | None = None  # audio channel of the patient's own microphone (None: mixed audio)


def validate_id(value: str, what: str) -> str:
    """Return ``value`` if it is a safe id, else raise :class:`BucketError`.

    Safe ids are 1–128 ASCII letters, digits, ``_``, ``.`` and ``-``, starting with a letter
    or digit (so no ``..``, no slashes, no hidden files, no odd unicode).
    """
    if not isinstance(value, str) or not ID_PATTERN.match(value) or ".." in value:
        raise BucketError(f"invalid {what} {value!r}: use 1-128 characters from A-Z a-z 0-9 _ . - starting with a letter or digit")
    return value


def _fs(bucket: str):
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(bucket))
    return fs, root.rstrip("/")


def _join_uri(bucket: str, fs, path: str) -> str:
    if "://" in str(bucket):
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        return f"{protocol}://{path}"
    return path


def discover(bucket: str) -> tuple[list[Recording], list[Invalid]]:
    """List the recordings of a bucket.

    Returns
    -------
    recordings : list of Recording
        Valid ``<patient_id>/<session_id>.<ext>`` keys, sorted by (patient, session).
    invalid : list of Invalid
        Recording-like files that break the convention (wrong depth, bad ids, duplicates
        of a session id with another extension), each with a reason for the quarantine.
    """
    fs, root = _fs(bucket)
    if not fs.exists(root):
        raise BucketError(f"bucket not found: {bucket}")
    recordings: list[Recording] = []
    invalid: list[Invalid] = []
    seen: dict[tuple[str, str], str] = {}
    for path, detail in sorted(fs.find(root, detail=True).items()):
        rel = path[len(root):].lstrip("/")
        name = rel.rsplit("/", 1)[-1]
        if rel in MANIFEST_NAMES or name.startswith((".", "_")):
            continue
        uri = _join_uri(bucket, fs, path)
        ext = Path(name).suffix.lower()
        if ext not in RECORDING_EXTENSIONS:
            invalid.append(Invalid(uri, f"not a recording: extension {ext or '(none)'!r} is not one of {', '.join(RECORDING_EXTENSIONS)}"))
            continue
        parts = rel.split("/")
        if len(parts) != 2:
            invalid.append(Invalid(uri, f"key {rel!r} does not follow <patient_id>/<session_id>{ext}"))
            continue
        try:
            patient_id = validate_id(parts[0], "patient id")
            session_id = validate_id(Path(parts[1]).stem, "session id")
        except BucketError as exc:
            invalid.append(Invalid(uri, str(exc)))
            continue
        key = (patient_id, session_id)
        if key in seen:
            invalid.append(Invalid(uri, f"session {patient_id}/{session_id} already has a recording: {seen[key]}"))
            continue
        seen[key] = uri
        recordings.append(Recording(uri, patient_id, session_id, int(detail.get("size") or 0)))
    return recordings, invalid


PSEUDONYM_KEY_ENV = "MFER_PSEUDONYM_KEY"


def pseudonym(patient_id: str, key: str) -> str:
    """Keyed pseudonym of a patient id: ``p_`` + the first 16 hex digits of HMAC-SHA256(key, id).

    Stable for one key (longitudinal views keep working), not reversible without the key.
    """
    import hmac

    return "p_" + hmac.new(key.encode(), patient_id.encode(), hashlib.sha256).hexdigest()[:16]


def pseudonymise(rec: Recording, key: str | None) -> Recording:
    """The recording as the warehouse will know it: patient id (and stored URI) pseudonymised when a key is set."""
    if not key:
        return rec
    alias = pseudonym(rec.patient_id, key)
    head, _, tail = rec.uri.rpartition(f"/{rec.patient_id}/")
    public = f"{head}/{alias}/{tail}" if head else f"{alias}/{Path(rec.uri).name}"
    return Recording(rec.uri, alias, rec.session_id, rec.size_bytes, public_uri=public)


def sha256_of(uri: str) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory)."""
    import fsspec

    digest = hashlib.sha256()
    fs, path = fsspec.core.url_to_fs(uri)
    with fs.open(path, "rb", block_size=READ_BLOCK) as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_local(uri: str, dest_dir: Path) -> Path:
    """A local path for a recording: the file itself if local, else a streamed copy in ``dest_dir``."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    if "file" in protocols or "local" in protocols:
        return Path(path)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / Path(path).name
    with fs.open(path, "rb", block_size=READ_BLOCK) as src, open(dest, "wb") as dst:
        for chunk in iter(lambda: src.read(HASH_CHUNK), b""):
            dst.write(chunk)
    return dest


def _parse_time(value: str | None) -> datetime | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError as exc:
        raise BucketError(f"manifest: recorded_at {value!r} is not an ISO date/time") from exc


def _parse_channel(value) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or int(text) > MAX_AUDIO_CHANNEL:
        raise BucketError(f"manifest: patient_channel {value!r} is not a channel index 0-{MAX_AUDIO_CHANNEL}")
    return int(text)


def read_manifest(bucket: str) -> dict[tuple[str, str], SessionMeta]:
    """Read ``manifest.csv`` / ``manifest.json`` of a bucket ({} when there is none).

    Raises
    ------
    BucketError
        When the manifest is malformed: missing required columns, unknown columns, bad ids,
        a bad date, or a session listed twice. The message names the row.
    """
    import fsspec

    fs, root = _fs(bucket)
    for name in MANIFEST_NAMES:
        path = f"{root}/{name}"
        if not fs.exists(path):
            continue
        with fsspec.open(_join_uri(bucket, fs, path), "rb") as fh:
            raw = fh.read().decode("utf-8-sig")
        try:
            if name.endswith(".csv"):
                rows = list(csv.DictReader(io.StringIO(raw)))
            else:
                loaded = json.loads(raw)
                rows = loaded.get("sessions", loaded) if isinstance(loaded, dict) else loaded
                if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                    raise BucketError(f"{name}: expected a list of objects (or {{'sessions': [...]}})")
        except (csv.Error, json.JSONDecodeError) as exc:
            raise BucketError(f"{name}: cannot be parsed ({exc})") from exc
        out: dict[tuple[str, str], SessionMeta] = {}
        for i, row in enumerate(rows, start=1):
            unknown = set(row) - set(MANIFEST_COLUMNS)
            if unknown:
                raise BucketError(f"{name} row {i}: unknown columns {sorted(unknown)}; allowed: {', '.join(MANIFEST_COLUMNS)}")
            if not row.get("patient_id") or not row.get("session_id"):
                raise BucketError(f"{name} row {i}: patient_id and session_id are required")
            key = (validate_id(str(row["patient_id"]), "patient id"), validate_id(str(row["session_id"]), "session id"))
            if key in out:
                raise BucketError(f"{name} row {i}: session {key[0]}/{key[1]} is listed twice")
            clean = {k: (str(v).strip() or None) if v is not None else None for k, v in row.items()}
            out[key] = SessionMeta(_parse_time(clean.get("recorded_at")), clean.get("site"),
                                   clean.get("trial_arm"), clean.get("clinician_id"),
                                   _parse_channel(clean.get("patient_channel")))
        return out
    return {}
