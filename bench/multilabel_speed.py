"""A four-label `train` against four single-label runs on the bundled sample (no cache: each run extracts).

Usage: python bench/multilabel_speed.py [--features acoustic]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

import speechgrade as sg  # noqa: E402

LABELS = ["accuracy", "fluency", "prosodic", "total"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", default="acoustic")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="speechgrade-multi-"))
    data = sg.datasets.sample(",".join(LABELS))
    print(f"machine: {machine()}")
    print(f"features: {args.features}; regressor: ridgecv; 79 clips; no cache (every run extracts)")
    started = time.perf_counter()
    sg.Scorer(featurizers=args.features, cache=False).fit(data).save(out / "multi")
    multi = time.perf_counter() - started
    started = time.perf_counter()
    for label in LABELS:
        sg.Scorer(args.features, cache=False).fit(data.with_label(label)).save(out / label)
    single = time.perf_counter() - started
    print("| run | wall s |")
    print("|---|---|")
    print(f"| one train, 4 labels (one extraction, one bundle) | {multi:.1f} |")
    print(f"| four single-label trains | {single:.1f} |")


if __name__ == "__main__":
    main()
