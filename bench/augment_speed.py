"""How fast augmented copies are made: `python bench/augment_speed.py` (10 synthetic 60 s clips, 2 copies each)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import machine, make_clips

from speechgrade.augment import Augmenter


def main() -> None:
    clips = make_clips(Path(tempfile.gettempdir()) / "sg-bench-clips", 10, 60.0)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        for i, clip in enumerate(clips):
            Augmenter(2).copies_of(clip, f"bench-{i}", Path(folder))  # all five operations
        took = time.perf_counter() - start
    print(f"# {machine()}")
    print(f"{2 * len(clips)} copies of 60 s clips in {took:.1f} s: {2 * len(clips) * 60 / took:.0f}x real time")


if __name__ == "__main__":
    main()
