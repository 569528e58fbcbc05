"""Prefect flows that compose the ``multimodal_fer`` library into batch jobs.

One flow per file: :mod:`flows.process_recording` (one recording) and
:mod:`flows.process_bucket` (discover → analyse each new recording → load → validate).
"""

import os
from pathlib import Path

# Offline, quiet, self-contained defaults (a user's own settings win).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe / TFLite C++ logs: errors only
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_cache = Path(os.environ.get("MFER_CACHE", Path.home() / ".cache" / "multimodal-fer"))
os.environ.setdefault("NUMBA_CACHE_DIR", str(_cache / "numba"))
os.environ.setdefault("MPLCONFIGDIR", str(_cache / "matplotlib"))
