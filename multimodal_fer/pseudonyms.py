"""Keyed pseudonyms: how a bucket's patient and session ids appear anywhere outside the bucket.

With a key (``MFER_PSEUDONYM_KEY``), every id and every other name under the bucket root is
replaced by an HMAC-SHA256 alias *before* it is written or printed: warehouse rows, quarantine
reasons, audit events, log lines, staged files. The raw names stay only in the recording's own
URI, which is needed to read it and is never stored. Without a key the names pass unchanged.

Aliases are stable for one key (longitudinal views keep working) and not reversible without it.
A warehouse remembers the fingerprint of the key that built it (:meth:`Pseudonyms.fingerprint`),
so a run with another key, or none, cannot silently mix raw ids and pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from multimodal_fer.config import PSEUDONYM_KEY_ENV  # noqa: F401 - re-exported; read by config.Settings

ALIAS_HEX = 16  # hex digits of the HMAC kept in a patient or session alias
NAME_HEX = 12  # hex digits kept in the alias of any other path component
NO_KEY = "none"  # the fingerprint a warehouse built without pseudonyms records


def pseudonym(patient_id: str, key: str) -> str:
    """Keyed pseudonym of a patient id: ``p_`` + the first 16 hex digits of HMAC-SHA256(key, id)."""
    return "p_" + hmac.new(key.encode(), patient_id.encode(), hashlib.sha256).hexdigest()[:ALIAS_HEX]


def _hex(key: str, message: str, digits: int) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()[:digits]


@dataclass(frozen=True)
class Pseudonyms:
    """The names of one bucket as they may leave it; identity functions when ``key`` is empty."""

    key: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.key)

    def patient(self, patient_id: str) -> str:
        return pseudonym(patient_id, self.key) if self.key else patient_id

    def session(self, patient_id: str, session_id: str) -> str:
        """``s_`` + 16 hex digits of HMAC(key, ``patient/session``): two patients' S01 differ."""
        return "s_" + _hex(self.key, f"session:{patient_id}/{session_id}", ALIAS_HEX) if self.key else session_id

    def name(self, part: str) -> str:
        """Any other path component (a bad id, a stray file): ``x_`` + 12 hex digits, extension kept."""
        if not self.key:
            return part
        suffix = PurePosixPath(part).suffix
        suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""
        return "x_" + _hex(self.key, f"name:{part}", NAME_HEX) + suffix.lower()

    def relative(self, rel: str, *, patient_id: str | None = None, session_id: str | None = None) -> str:
        """A key below the bucket root with every component replaced by its alias.

        ``patient_id``/``session_id`` (the raw ids, when the key follows the convention) give the
        first component the patient alias and the file the session alias, so the stored URI of a
        recording is ``<bucket>/<patient alias>/<session alias><ext>``.
        """
        if not self.key:
            return rel
        parts = [p for p in rel.split("/") if p]
        if patient_id is not None and session_id is not None and len(parts) == 2:
            return f"{self.patient(patient_id)}/{self.session(patient_id, session_id)}{PurePosixPath(parts[1]).suffix}"
        return "/".join(self.name(p) for p in parts)

    def fingerprint(self) -> str:
        """What the warehouse records of the key: an HMAC of a constant, or ``none``."""
        return "k_" + _hex(self.key, "multimodal-fer key fingerprint", ALIAS_HEX) if self.key else NO_KEY


def scrub(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each raw name in ``replacements`` (raw → alias) replaced as a whole token, longest first.

    For messages that come from libraries (a decoder's error names the file it opened).
    """
    for raw in sorted(replacements, key=len, reverse=True):
        if raw:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(raw)}(?![A-Za-z0-9])", replacements[raw], text)
    return text
