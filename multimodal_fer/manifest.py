"""A bucket's manifest and id rules: ``manifest.csv`` / ``manifest.json`` parsed and checked row by row.

Reading the file is :func:`multimodal_fer.bucket.read_manifest`'s job (through the bucket's one reader of
objects); this module only turns its bytes into ``{(patient_id, session_id): SessionMeta}``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from multimodal_fer.pseudonyms import Pseudonyms

MANIFEST_NAMES = ("manifest.csv", "manifest.json")
MANIFEST_COLUMNS = ("patient_id", "session_id", "recorded_at", "site", "trial_arm", "clinician_id", "patient_channel")
MAX_AUDIO_CHANNEL = 63  # highest channel index a manifest may name
CHANNEL_PATTERN = re.compile(r"[0-9]{1,3}")  # ASCII digits only
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MISSING = {"", "nan", "null", "none", "n/a", "na"}  # manifest cells that mean "not given" (any case)
MAX_FUTURE_S = 86_400.0  # 1 day: a recorded_at further ahead than this (clock skew allowed) is an error
MAX_MANIFEST_BYTES = 64 << 20  # 64 MiB


class BucketError(ValueError):
    """A key, id or manifest that violates the bucket convention."""


@dataclass(frozen=True)
class SessionMeta:
    recorded_at: datetime | None = None
    site: str | None = None
    trial_arm: str | None = None
    clinician_id: str | None = None
    patient_channel: int | None = None  # audio channel of the patient's own microphone (None: mixed audio)


def validate_id(value: str, what: str, *, shown: str | None = None) -> str:
    """Return ``value`` if it is a safe id, else raise :class:`BucketError`.

    Safe ids are 1–128 ASCII letters, digits, ``_``, ``.`` and ``-``, starting with a letter
    or digit (so no ``..``, no slashes, no hidden files, no odd unicode). ``shown`` is how the
    message names the value (its alias when ids are pseudonymised).
    """
    if not isinstance(value, str) or not ID_PATTERN.match(value) or ".." in value:
        raise BucketError(
            f"invalid {what} {shown if shown is not None else value!r}: use 1-128 characters from "
            "A-Z a-z 0-9 _ . - starting with a letter or digit"
        )
    return value


def _clean(value) -> str | None:
    """A manifest cell as text, or ``None`` for a missing value (empty, NaN, null, ``nan``)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return None if text.lower() in MISSING else text


def _parse_time(value: str | None) -> datetime | None:
    """An ISO date/time as naive UTC: an offset is applied (``+02:00`` → two hours earlier), a time
    without one is taken as UTC. Dates more than a day in the future are refused."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BucketError(f"recorded_at {value!r} is not an ISO date/time") from exc
    try:
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:00-05:00: UTC is outside years 1-9999
        raise BucketError(f"recorded_at {value!r} is outside the years 1-9999 in UTC") from None
    if (parsed - datetime.now(UTC).replace(tzinfo=None)).total_seconds() > MAX_FUTURE_S:
        raise BucketError(f"recorded_at {value!r} is in the future")
    return parsed


def _parse_channel(value: str | None) -> int | None:
    if value is None:
        return None
    if not CHANNEL_PATTERN.fullmatch(value) or int(value) > MAX_AUDIO_CHANNEL:  # not str.isdigit: '²' is a digit
        raise BucketError(f"patient_channel {value!r} is not a channel index 0-{MAX_AUDIO_CHANNEL}")
    return int(value)


NO_HEADER = "no patient_id and session_id columns: the first line must be the header, e.g. patient_id,session_id,site"


def _manifest_rows(name: str, data: bytes) -> list[dict]:
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BucketError(f"{name}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    try:
        if name.endswith(".csv"):
            reader = csv.DictReader(io.StringIO(raw))
            if not {"patient_id", "session_id"} <= set(reader.fieldnames or ()):  # never echo the first line
                raise BucketError(f"{name}: {NO_HEADER}")
            return list(reader)
        loaded = json.loads(raw)
    except (csv.Error, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; deep nesting
        raise BucketError(f"{name}: cannot be parsed ({exc})") from exc
    rows = loaded.get("sessions", loaded) if isinstance(loaded, dict) else loaded
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BucketError(f"{name}: expected a list of objects (or {{'sessions': [...]}})")
    return rows


def parse_manifest(name: str, data: bytes, pseudonyms: Pseudonyms) -> dict[tuple[str, str], SessionMeta]:
    """``{(patient_id, session_id): SessionMeta}`` from a manifest file's bytes; :class:`BucketError` names the row."""
    out: dict[tuple[str, str], SessionMeta] = {}
    for i, row in enumerate(_manifest_rows(name, data), start=1):
        try:
            key, meta = _manifest_row(row, out, pseudonyms)
        except BucketError as exc:
            raise BucketError(f"{name} row {i}: {exc}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # a case no rule foresaw: still one line, no value
            raise BucketError(f"{name} row {i}: cannot be read ({type(exc).__name__})") from None
        out[key] = meta
    return out


def _manifest_row(row: dict, seen: dict, pseudonyms: Pseudonyms) -> tuple[tuple[str, str], SessionMeta]:
    if "patient_id" not in row or "session_id" not in row:  # a JSON row without them
        raise BucketError(NO_HEADER)
    unknown = set(row) - set(MANIFEST_COLUMNS)
    if unknown:  # a column name may be an id (a JSON row keyed by one): named as any other bucket name
        shown = sorted(pseudonyms.name(str(c)) for c in unknown)
        raise BucketError(f"unknown columns {shown}; allowed: {', '.join(MANIFEST_COLUMNS)}")
    nested = sorted(k for k, v in row.items() if isinstance(v, (dict, list, bool)))
    if nested:
        raise BucketError(f"{', '.join(nested)}: a JSON object, list or true/false where text belongs")
    clean = {k: _clean(v) for k, v in row.items()}
    pid, sid = clean.get("patient_id"), clean.get("session_id")
    if not pid or not sid:
        raise BucketError("patient_id and session_id are required")
    key = (
        validate_id(pid, "patient id", shown=pseudonyms.name(pid)),
        validate_id(sid, "session id", shown=pseudonyms.name(sid)),
    )
    if key in seen:
        raise BucketError(f"session {pseudonyms.patient(pid)}/{pseudonyms.session(pid, sid)} is listed twice")
    return key, SessionMeta(
        _parse_time(clean.get("recorded_at")),
        clean.get("site"),
        clean.get("trial_arm"),
        clean.get("clinician_id"),
        _parse_channel(clean.get("patient_channel")),
    )
