"""Where the project keeps its artefacts and caches."""

from __future__ import annotations

from pathlib import Path

from multimodal_fer.config import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
#: Committed, trained model artefacts live next to the code of their model family.
FACE_ARTEFACTS = PACKAGE_DIR / "face" / "artefacts"
VOICE_ARTEFACTS = PACKAGE_DIR / "voice" / "artefacts"
TEXT_ARTEFACTS = PACKAGE_DIR / "text" / "artefacts"
#: ``../shared/data`` beside the repository (training and evaluation material; never committed).
REPO_DIR = PACKAGE_DIR.parent
SHARED_DATA = Settings.from_env().shared_data


def cache_dir() -> Path:
    """Writable cache (joined Whisper model, etc.): ``$MFER_CACHE`` or ``~/.cache/multimodal-fer``."""
    path = Settings.from_env().cache
    path.mkdir(parents=True, exist_ok=True)
    return path
