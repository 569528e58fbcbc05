"""Seconds spent in each stage of one recording (:class:`Clock`, used by :mod:`multimodal_fer.pipeline`)."""

from __future__ import annotations

import contextlib
import time


class Clock:
    """Seconds spent in each stage of one recording (``timings``, read by the benchmarks)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        """Seconds since the previous lap (or the start), recorded as stage ``name``."""
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 3)
        self._last = now

    @contextlib.contextmanager
    def concurrent(self, name: str):
        """Time a stage of the second thread (not a lap of this one); recorded when it succeeds."""
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
