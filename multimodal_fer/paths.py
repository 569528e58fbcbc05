"""Where the project keeps its artefacts and caches."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: Committed, trained model artefacts live next to the code of their model family.
FACE_ARTEFACTS = PACKAGE_DIR / "face" / "artefacts"
VOICE_ARTEFACTS = PACKAGE_DIR / "voice" / "artefacts"
TEXT_ARTEFACTS = PACKAGE_DIR / "text" / "artefacts"
#: ``../shared/data`` beside the repository (training and evaluation material; never committed).
REPO_DIR = PACKAGE_DIR.parent
SHARED_DATA = Path(os.environ.get("MFER_SHARED_DATA", REPO_DIR.parent / "shared" / "data"))


def cache_dir() -> Path:
    """Writable cache (joined Whisper model, etc.): ``$MFER_CACHE`` or ``~/.cache/multimodal-fer``."""
    path = Path(os.environ.get("MFER_CACHE", Path.home() / ".cache" / "multimodal-fer"))
    path.mkdir(parents=True, exist_ok=True)
    return path
