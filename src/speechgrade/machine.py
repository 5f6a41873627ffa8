"""What this process may use of the machine."""

from __future__ import annotations

import os


def cpu_count() -> int:
    """Cores this process may use (its CPU affinity where the OS has one); at least 1."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
