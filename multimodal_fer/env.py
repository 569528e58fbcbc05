"""Process-wide defaults for running offline and quietly (a user's own settings always win)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Literal

from multimodal_fer.config import Settings


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
    cache = Settings.from_env().cache
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache / "numba"))
    os.environ.setdefault("MPLCONFIGDIR", str(cache / "matplotlib"))


_LIBC: ctypes.CDLL | Literal[False] | None = None  # None: not looked up yet; False: not glibc


def trim_heap() -> None:
    """Give freed heap memory back to the operating system (glibc ``malloc_trim``).

    Long recordings are processed in blocks; the native libraries (CTranslate2, onnxruntime,
    TFLite, torch) free each block's buffers, but glibc keeps the pages, spread over several
    threads' arenas, and resident memory creeps up with the recording's length. Called after
    each block, it keeps the resident set flat. A no-op where glibc is not the C library.
    """
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


@contextlib.contextmanager
def one_library_thread():
    """One BLAS / OpenMP / torch thread per Python thread while the two paths run side by side.

    The face models (gradient boosting, MLP, CNN) would otherwise each start a thread per core
    and fight the speech recogniser for the same two cores.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(previous)
