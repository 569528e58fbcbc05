"""Process-wide defaults for running offline and quietly (a user's own settings always win)."""

from __future__ import annotations

import os
from pathlib import Path


def apply_defaults() -> None:
    """Set offline, quiet, self-contained environment defaults before heavy libraries are imported."""
    defaults = {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "GLOG_minloglevel": "2",  # MediaPipe / TFLite C++ logs: errors only
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    cache = Path(os.environ.get("MFER_CACHE", Path.home() / ".cache" / "multimodal-fer"))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache / "numba"))
    os.environ.setdefault("MPLCONFIGDIR", str(cache / "matplotlib"))
