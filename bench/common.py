"""Helpers shared by the benchmarks: synthetic 60 s clips, machine description, peak RSS."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from audiogen import speechlike, write  # noqa: E402


def machine() -> str:
    """CPU model, core count and memory, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_clips(folder: Path, n: int, seconds: float = 60.0, fmt: str = "wav") -> list[Path]:
    """`n` speech-like clips of `seconds` each (cached on disk between runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"clip{i:03d}_{int(seconds)}s.{ 'wav' if fmt in ('wav', 'aac') else fmt}"
        if fmt == "aac":
            path = path.with_name(path.stem + "_aac.wav")
        if not path.exists():
            write(path, speechlike(seconds, seed=i, syllables_per_s=3 + (i % 3)), fmt)
        out.append(path)
    return out
