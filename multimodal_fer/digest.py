"""SHA-256 of a local file, read in 1 MiB blocks (constant memory): artefact versions, cache keys, checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK_BYTES = 1 << 20  # 1 MiB


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            h.update(block)
    return h.hexdigest()
