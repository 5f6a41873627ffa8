"""Peak memory of extract and predict against clip length (1, 10, 30 minutes): it should stay nearly flat.

Each measurement runs in a fresh process (its peak RSS, VmHWM). Features: acoustic (+ screen and the
duplicate fingerprint, which every run computes); predict uses a ridge model trained on the bundled sample.
Usage: python bench/memory.py [--minutes 1,10,30] [--features acoustic]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, make_clips  # noqa: E402

CODE = """
import sys, time
import speechgrade as sg
mode, features, model, clip, cache = sys.argv[1:6]
started = time.perf_counter()
if mode == "extract":
    table = sg.extract([clip], features, cache=False)
    ok = len(table) == 1
else:
    ok = bool(sg.Scorer.load(model, cache=False).score([clip]).frame.iloc[:, 0].notna().all())
# VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the parent's peak across fork and exec
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(f"{peak:.0f} {time.perf_counter() - started:.1f} {ok}")
"""


def run(mode: str, features: str, model: Path, clip: Path, cache: Path) -> tuple[float, float]:
    """(peak RSS MiB, seconds) of one extract or predict of `clip` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", CODE, mode, features, str(model), str(clip), str(cache)],
                         capture_output=True, text=True, check=True, timeout=3600).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", default="1,10,30")
    ap.add_argument("--features", default="acoustic")
    args = ap.parse_args()
    import speechgrade as sg

    work = Path(tempfile.mkdtemp(prefix="speechgrade-memory-"))
    sample = sg.datasets.sample("total")
    model = sg.Scorer(args.features, "ridge", trials=0, cache=work / "cache").fit(sample).save(work / "model")
    print(f"machine: {machine()}")
    print(f"features: {args.features}; every figure from a fresh process (peak RSS)")
    print("| clip | extract peak MiB | extract s | predict peak MiB | predict s |")
    print("|---|---|---|---|---|")
    for minutes in (float(m) for m in args.minutes.split(",")):
        clip = make_clips(work / "clips", 1, seconds=60 * minutes)[0]
        ex, ex_s = run("extract", args.features, model, clip, work / "cache")
        pr, pr_s = run("predict", args.features, model, clip, work / "cache")
        print(f"| {minutes:g} min | {ex:.0f} | {ex_s:.1f} | {pr:.0f} | {pr_s:.1f} |")


if __name__ == "__main__":
    main()
