"""The one configuration surface: shared defaults, and the ``MFER_*`` environment read in one place.

* Defaults used in several modules are defined here once (each with its unit) and imported elsewhere.
* :class:`Settings` is the process environment (``MFER_*`` variables); :meth:`Settings.from_env` is the
  only reader of those variables. What a run analyses and how (frame rate, speech model, fusion) is
  :class:`multimodal_fer.pipeline.PipelineOptions`, built once by the CLI and passed to the flow as one
  parameter.
* Secrets (the pseudonym key) are never flow parameters: the flow reads them here, in its own process,
  so Prefect never stores them.

Light on purpose (standard library only): the CLI, the flows and every worker import it first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_FPS = 5.0  # frames per second sampled from the video for the face stream
AUDIO_SR = 16_000  # Hz, mono: the rate the voice models and Whisper expect
DEFAULT_DB = "warehouse.duckdb"  # DuckDB file, relative to the working directory
DEFAULT_ASR_MODEL = "base"  # packaged multilingual Whisper base

DB_ENV = "MFER_DB"  # default warehouse of the CLI's commands
PSEUDONYM_KEY_ENV = "MFER_PSEUDONYM_KEY"  # secret key of the keyed-HMAC pseudonyms (unset: ids kept as given)
CACHE_ENV = "MFER_CACHE"  # writable cache (joined Whisper model, numba, matplotlib)
SHARED_DATA_ENV = "MFER_SHARED_DATA"  # training and evaluation material (never committed)

_REPO_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """The process's ``MFER_*`` environment. The key is kept out of ``repr`` (logs, tracebacks)."""

    db: str = DEFAULT_DB
    pseudonym_key: str | None = field(default=None, repr=False)
    cache: Path = Path.home() / ".cache" / "multimodal-fer"
    shared_data: Path = _REPO_DIR.parent / "shared" / "data"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); unset or empty variables take the defaults, except
        the pseudonym key, kept as given (an empty key is an error of :meth:`checked_pseudonym_key`, not "no key")."""
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            db=env.get(DB_ENV) or default.db,
            pseudonym_key=env.get(PSEUDONYM_KEY_ENV),
            cache=Path(env.get(CACHE_ENV) or default.cache),
            shared_data=Path(env.get(SHARED_DATA_ENV) or default.shared_data),
        )

    def checked_pseudonym_key(self) -> str | None:
        """The pseudonym key, or ``None`` when ``MFER_PSEUDONYM_KEY`` is unset.

        Raises
        ------
        ValueError
            If the variable is set but empty or blank (a secret that failed to reach the deployment:
            running on would store raw ids), or is not UTF-8 text.
        """
        key = self.pseudonym_key
        if key is None:
            return None
        if not key.strip():
            raise ValueError(
                f"{PSEUDONYM_KEY_ENV} is set but empty: set the key, or unset the variable to keep ids as given"
            )
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{PSEUDONYM_KEY_ENV} is not UTF-8 text: give the key as UTF-8") from None
        return key
