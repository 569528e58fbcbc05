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

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from multimodal_fer.manifest import (  # noqa: F401 - ids and manifest rules, re-exported as bucket.X
    ID_PATTERN,
    MANIFEST_COLUMNS,
    MANIFEST_NAMES,
    MAX_AUDIO_CHANNEL,
    MAX_MANIFEST_BYTES,
    BucketError,
    SessionMeta,
    parse_manifest,
    validate_id,
)
from multimodal_fer.pseudonyms import PSEUDONYM_KEY_ENV, Pseudonyms, pseudonym  # noqa: F401 - re-exported

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov", ".flv", ".avi", ".m4v")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".flac", ".ogg")
RECORDING_EXTENSIONS = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS
HASH_CHUNK = 1 << 20  # 1 MiB
READ_BLOCK = 8 << 20  # 8 MiB: object-store read-ahead, so big objects never sit in memory whole


@dataclass(frozen=True)
class Recording:
    uri: str  # full fsspec URL or local path of the file (raw ids: read from here, never stored)
    patient_id: str  # as the warehouse knows it (a pseudonym when a key is set)
    session_id: str  # as the warehouse knows it (a pseudonym when a key is set)
    size_bytes: int
    public_uri: str | None = None  # what the warehouse stores instead of ``uri`` (pseudonymised ids)
    modified: str = ""  # modification stamp: mtime in ns (folder) or ETag / last-modified (object store)

    @property
    def stored_uri(self) -> str:
        return self.public_uri or self.uri


@dataclass(frozen=True)
class Invalid:
    uri: str  # as stored (pseudonymised when a key is set)
    reason: str
    patient_id: str | None = None
    session_id: str | None = None


def _fs(bucket: str):
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(bucket))
    if _is_local(fs):  # one spelling per folder: `b`, `./b/` and `../x/b` name the same recordings
        return fs, os.path.normpath(root).rstrip("/")
    return fs, root.rstrip("/")


def _join_uri(bucket: str, fs, path: str) -> str:
    if "://" in str(bucket):
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        return f"{protocol}://{path}"
    return path


@dataclass(frozen=True)
class _Entry:
    rel: str  # key below the bucket root
    path: str  # filesystem path (fsspec's, for object stores)
    kind: str  # file, link, fifo, socket, device, other, error
    size: int = 0
    modified: str = ""
    error: str = ""


NOT_REGULAR = {
    "link": "a symbolic link (links are not followed: copy the recording into the bucket)",
    "fifo": "a named pipe, not a regular file",
    "socket": "a socket, not a regular file",
    "device": "a device file, not a regular file",
    "other": "not a regular file",
}


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "other"


def _list_local(root: str) -> list[_Entry]:
    """Every entry below a local folder, with ``lstat``: links are reported, never followed."""
    entries: list[_Entry] = []

    def unlistable(exc: OSError) -> None:
        rel = os.path.relpath(exc.filename or root, root).replace(os.sep, "/")
        entries.append(_Entry(rel + "/", str(exc.filename), "error", error=f"cannot list this folder: {exc.strerror}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable, followlinks=False):
        for name in [*dirnames, *filenames]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            try:
                st = os.lstat(full)
            except OSError as exc:
                entries.append(_Entry(rel, full, "error", error=f"cannot be read: {exc.strerror}"))
                continue
            if not stat.S_ISDIR(st.st_mode):  # os.walk goes into real folders itself
                entries.append(_Entry(rel, full, _kind(st.st_mode), st.st_size, str(st.st_mtime_ns)))
    return entries


def _stamp(detail: dict) -> str:
    """An object store's change stamp: its ETag, else its modification time."""
    for key in ("ETag", "etag", "md5Hash", "LastModified", "last_modified", "mtime", "updated", "created"):
        if detail.get(key) is not None:
            return str(detail[key]).strip('"')
    return ""


def _is_local(fs) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return "file" in protocols or "local" in protocols


def _list(fs, root: str) -> list[_Entry]:
    if _is_local(fs):
        return _list_local(root)
    out = []
    for path, detail in fs.find(root, detail=True).items():
        kind = "file" if detail.get("type", "file") == "file" else "other"
        out.append(_Entry(path[len(root) :].lstrip("/"), path, kind, int(detail.get("size") or 0), _stamp(detail)))
    return out


def stamp_of(uri: str) -> tuple[int, str]:
    """``(size, modification stamp)`` of one recording now, as :func:`discover` reports them."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    if _is_local(fs):
        st = os.lstat(path)
        return st.st_size, str(st.st_mtime_ns)
    fs.invalidate_cache(path)
    detail = fs.info(path)
    return int(detail.get("size") or 0), _stamp(detail)


def printable(text: str) -> str:
    """``text`` as valid Unicode text: the bytes of a file name that are not UTF-8 (which Python reads as
    lone surrogates, ``'\\udce9'``) written as ``\\xe9`` escapes, so the name can be stored and printed."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


NOT_UTF8 = "the file name is not UTF-8 text (its odd bytes are shown as \\xNN): rename it"


def discover(bucket: str, pseudonyms: Pseudonyms = Pseudonyms()) -> tuple[list[Recording], list[Invalid]]:
    """List the recordings of a bucket.

    Parameters
    ----------
    bucket : str
        Folder or fsspec URL.
    pseudonyms : Pseudonyms
        How names leave the bucket: every stored URI, id and reason is written with them.

    Returns
    -------
    recordings : list of Recording
        Valid ``<patient_id>/<session_id>.<ext>`` regular files, sorted by key.
    invalid : list of Invalid
        Entries that break the convention (wrong depth, bad ids, a name that is not UTF-8, a
        session id twice with two extensions, links, named pipes and other special files,
        unlistable folders), each with a reason for the quarantine. Nothing here opens a file, so
        a pipe cannot block the listing.
    """
    fs, root = _fs(bucket)
    if printable(root) != root:
        raise BucketError(f"bucket path {printable(root)!r} is not UTF-8 text: rename the folder")
    if not fs.exists(root):
        raise BucketError(f"bucket not found: {bucket}")
    if _is_local(fs) and not os.path.isdir(root):
        raise BucketError(
            f"bucket is not a folder: {bucket} (give the folder that holds <patient_id>/<session_id>.<ext>)"
        )
    recordings: list[Recording] = []
    invalid: list[Invalid] = []
    seen: dict[tuple[str, str], str] = {}
    for e in sorted(_list(fs, root), key=lambda e: e.rel):
        name = e.rel.rstrip("/").rsplit("/", 1)[-1]
        if e.rel in MANIFEST_NAMES or name.startswith((".", "_")):
            continue
        problem = _entry_problem(e, pseudonyms)
        if problem is not None:  # the key below may hold a name that is not UTF-8: store its printable form
            invalid.append(Invalid(_join_uri(bucket, fs, f"{root}/{pseudonyms.relative(printable(e.rel))}"), problem))
            continue
        rec = _recording(bucket, fs, root, e, pseudonyms, seen, invalid)
        if rec is not None:
            recordings.append(rec)
    return recordings, invalid


def _entry_problem(e: _Entry, pseudonyms: Pseudonyms) -> str | None:
    """Why a bucket entry cannot be a recording, before its ids are read; ``None`` if it may be one."""
    if printable(e.rel) != e.rel:  # checked first: nothing may store, print or hash an unencodable name
        return NOT_UTF8 + (f"; {e.error}" if e.error else "")
    if e.kind == "error":
        return e.error
    ext = Path(e.rel.rstrip("/")).suffix.lower()
    if ext not in RECORDING_EXTENSIONS:
        return f"not a recording: extension {ext or '(none)'!r} is not one of {', '.join(RECORDING_EXTENSIONS)}"
    if len(e.rel.split("/")) != 2:
        return f"key {pseudonyms.relative(e.rel)!r} does not follow <patient_id>/<session_id>{ext}"
    return None


def _recording(bucket, fs, root, e: _Entry, pseudonyms: Pseudonyms, seen: dict, invalid: list) -> Recording | None:
    """The recording at a ``<patient>/<session>.<ext>`` key, or ``None`` with an :class:`Invalid` added."""
    patient_id, file_name = e.rel.split("/")
    session_id = Path(file_name).stem
    try:
        validate_id(patient_id, "patient id", shown=pseudonyms.name(patient_id))
        validate_id(session_id, "session id", shown=pseudonyms.name(session_id))
    except BucketError as exc:
        invalid.append(Invalid(_join_uri(bucket, fs, f"{root}/{pseudonyms.relative(e.rel)}"), str(exc)))
        return None
    public = _join_uri(bucket, fs, f"{root}/{pseudonyms.relative(e.rel, patient_id=patient_id, session_id=session_id)}")
    ids = (pseudonyms.patient(patient_id), pseudonyms.session(patient_id, session_id))
    if e.kind != "file":
        invalid.append(Invalid(public, NOT_REGULAR[e.kind], *ids))
        return None
    if (patient_id, session_id) in seen:
        invalid.append(
            Invalid(
                public, f"session {ids[0]}/{ids[1]} already has a recording: {seen[(patient_id, session_id)]}", *ids
            )
        )
        return None
    seen[(patient_id, session_id)] = public
    return Recording(
        _join_uri(bucket, fs, e.path),
        *ids,
        e.size,
        public_uri=public if pseudonyms.active else None,
        modified=e.modified,
    )


def _open_regular(uri: str):
    """A binary file object for a recording, refusing anything that is not a regular file.

    A local path is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat`` before a
    byte is read, so a link or a named pipe put in place of a file can neither redirect nor
    block the reader.
    """
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    if not _is_local(fs):
        return fs.open(path, "rb", block_size=READ_BLOCK)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BucketError("not a regular file")
    return os.fdopen(fd, "rb")


def sha256_of(uri: str) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    with _open_regular(uri) as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_recording(rec: Recording) -> str:
    """SHA-256 of a recording that did not change while it was read.

    Raises
    ------
    BucketError
        If its size or modification stamp changed since it was listed or while it was read: a
        file still being uploaded or written. It is tried again on the next run.
    OSError
        If it cannot be read.
    """
    sha = sha256_of(rec.uri)
    size, modified = stamp_of(rec.uri)
    if (size, modified) != (rec.size_bytes, rec.modified):
        raise BucketError(
            f"the recording changed while it was read ({rec.size_bytes} -> {size} bytes): "
            "still being written? It is tried again on the next run"
        )
    return sha


def fetch_local(uri: str, dest_dir: Path) -> Path:
    """A local path for a recording: the file itself if local, else a streamed copy in ``dest_dir``."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    if _is_local(fs):
        return Path(path)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / Path(path).name
    with _open_regular(uri) as src, open(dest, "wb") as dst:
        for chunk in iter(lambda: src.read(HASH_CHUNK), b""):
            dst.write(chunk)
    return dest


def manifest_uri(bucket: str) -> str:
    """The ``source_uri`` under which an invalid manifest of this bucket is quarantined (``<bucket root>/manifest``,
    the same however the bucket was written: relative or absolute, with or without a trailing slash)."""
    fs, root = _fs(bucket)
    return _join_uri(bucket, fs, f"{root}/manifest")


def read_manifest(bucket: str, pseudonyms: Pseudonyms = Pseudonyms()) -> dict[tuple[str, str], SessionMeta]:
    """Read ``manifest.csv`` / ``manifest.json`` of a bucket ({} when there is none).

    Keys are the raw ``(patient_id, session_id)``; messages name ids by ``pseudonyms``.

    Raises
    ------
    BucketError
        When the manifest is malformed: not a regular file, not UTF-8, missing required or
        unknown columns, bad ids, a bad or future date, or a session listed twice. The message
        names the row.
    """
    fs, root = _fs(bucket)
    is_link = getattr(fs, "islink", lambda _: False)  # a dangling link is a manifest that cannot be read
    present = [name for name in MANIFEST_NAMES if fs.exists(f"{root}/{name}") or is_link(f"{root}/{name}")]
    if len(present) > 1:  # which one holds the truth? never pick one silently
        raise BucketError(f"{' and '.join(present)} are both in the bucket: keep one")
    for name in present:
        path = f"{root}/{name}"
        try:
            with _open_regular(_join_uri(bucket, fs, path)) as fh:
                data = fh.read(MAX_MANIFEST_BYTES + 1)
        except (OSError, BucketError) as exc:
            raise BucketError(f"{name}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        if len(data) > MAX_MANIFEST_BYTES:
            raise BucketError(f"{name}: larger than {MAX_MANIFEST_BYTES >> 20} MiB")
        return parse_manifest(name, data, pseudonyms)
    return {}
