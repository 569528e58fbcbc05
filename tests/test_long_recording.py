"""A 2-hour recording is analysed in constant memory (issue 8): its peak RSS stays within 15% of a
10-minute recording's, and nothing is lost along the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).with_name("long_recording.py")


def _run(minutes: float, work: Path) -> dict:
    out = subprocess.run([sys.executable, str(SCRIPT), str(minutes), str(work)], capture_output=True, text=True,
                         env=dict(os.environ), timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_hours_in_the_memory_of_ten_minutes(tmp_path):
    short = _run(10, tmp_path)
    long = _run(120, tmp_path)
    for run in (short, long):
        n = int(run["seconds"])  # 1 fps sampling and 1-s windows: one row each per second
        assert run["frames"] == n and run["emotion_windows"] == n
        assert run["utterances"] == n // 300 and run["words"] >= 10 * run["utterances"]  # every sentence heard
    growth = long["peak_rss_mb"] / short["peak_rss_mb"] - 1
    print(f"peak RSS: 10 min {short['peak_rss_mb']:.0f} MB, 120 min {long['peak_rss_mb']:.0f} MB (+{100 * growth:.1f}%); "
          f"120 min analysed in {long['wall_s']} s")
    assert growth < 0.15, (short, long)
