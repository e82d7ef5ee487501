"""How many cores other processes keep busy: the runtime's thread count for the next request.

llama.cpp's threads wait for each other at every step of a token. On an idle machine two
spinning threads decode fastest; with one core taken by another process (a build, a test run)
the second thread waits behind it, and one thread is several times faster (bench/decode.py
measures both, see ``THREADS_NOTE`` in runtime/__init__.py). So before each request the runtime
asks how busy the other processes were since the previous request, from /proc (Linux); where
/proc is missing it uses every core.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MIN_WINDOW_S = 0.2  # shorter windows are noise: keep the previous reading


def _total_busy_and_cores() -> tuple[float, int] | None:
    """Non-idle CPU seconds of the whole machine since boot, and the number of cores."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    return (sum(values[:8]) - idle - steal) / ticks, os.cpu_count() or 1


def _own_busy() -> float:
    """CPU seconds this process (all its threads) has used."""
    times = os.times()
    return times.user + times.system


class OtherLoad:
    """Cores kept busy by other processes between two readings."""

    def __init__(self) -> None:
        self._last = self._sample()
        self._busy_cores = 0.0

    def _sample(self) -> tuple[float, float, float] | None:
        total = _total_busy_and_cores()
        if total is None:
            return None
        return time.monotonic(), total[0], _own_busy()

    def busy_cores(self) -> float:
        """Average cores other processes used since the last reading (0 where unknown)."""
        now = self._sample()
        if now is None or self._last is None:
            return 0.0
        elapsed = now[0] - self._last[0]
        if elapsed >= MIN_WINDOW_S:
            others = (now[1] - self._last[1]) - (now[2] - self._last[2])
            self._busy_cores = max(0.0, others / elapsed)
            self._last = now
        return self._busy_cores

    def threads(self, cores: int | None = None) -> int:
        """Threads for the next request: the cores others leave free, at least one."""
        cores = cores or os.cpu_count() or 1
        return max(1, min(cores, round(cores - self.busy_cores())))
