"""The progress bar of the long data jobs (``prepare``, ``sources.teacher_gen``): tqdm on stderr,
redrawn every second on a terminal and every minute in a log file; None without tqdm."""

from __future__ import annotations

import sys


def progress_bar(total: int, unit: str, smoothing: float):
    """A ``tqdm`` bar for ``total`` items of ``unit``, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit=unit, mininterval=1 if sys.stderr.isatty() else 60, smoothing=smoothing)
