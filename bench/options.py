"""What each modelling option does on the bundled sample: `Scorer.evaluate`, 5 folds x 3 repeats, nested tuning.

Usage: python bench/options.py [--label total] [--only NAME ...]
Prints one markdown row per option (mean ± std over repeats) for README.md and bench/RESULTS.md, and a
held-out check: the option trained on the sample minus two speakers, scored on those speakers' clips.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import machine

import speechgrade as sg
from speechgrade.demo import split_speakers

DEFAULT = "whisper,whisper-encoder,text-embedding,acoustic"
# name -> Scorer arguments (features, regressor, other options)
OPTIONS: dict[str, dict] = {
    "acoustic only, ridge": {"featurizers": "acoustic", "regressor": "ridge"},
    "default features, ridge": {"featurizers": DEFAULT, "regressor": "ridge"},
    "default features, svr": {"featurizers": DEFAULT, "regressor": "svr"},
    "default features, lightgbm (tuned)": {"featurizers": DEFAULT, "regressor": "lightgbm"},
    "whisper-encoder mean+std pooling, ridge": {
        "featurizers": "whisper,whisper-encoder?pooling=mean%2Bstd,text-embedding,acoustic", "regressor": "ridge"},
    "whisper-encoder pooling=learned, ridge": {
        "featurizers": "whisper,whisper-encoder?pooling=learned,text-embedding,acoustic", "regressor": "ridge"},
    "whisper-encoder alone, mean pooling, ridge": {"featurizers": "whisper-encoder", "regressor": "ridge"},
    "whisper-encoder alone, pooling=learned, ridge": {"featurizers": "whisper-encoder?pooling=learned",
                                                      "regressor": "ridge"},
    "--ensemble mean (ridge per family)": {"featurizers": DEFAULT, "regressor": "ridge", "ensemble": "mean"},
    "--ensemble stack (ridge per family)": {"featurizers": DEFAULT, "regressor": "ridge", "ensemble": "stack"},
    "--ensemble stack (svr per family)": {"featurizers": DEFAULT, "regressor": "svr", "ensemble": "stack"},
    "-r ridge,svr (chosen by tuning CV, in the folds)": {"featurizers": DEFAULT, "regressor": "ridge,svr"},
    "--ensemble stack, -r ridge,svr (chosen per member)": {"featurizers": DEFAULT, "regressor": "ridge,svr",
                                                           "ensemble": "stack"},
    "--calibrate (ridge)": {"featurizers": DEFAULT, "regressor": "ridge", "calibrate": True},
    "--snap auto (ridge; labels are integers)": {"featurizers": DEFAULT, "regressor": "ridge", "snap": "auto"},
    "--augment 1 (ridge)": {"featurizers": DEFAULT, "regressor": "ridge", "augment": 1},
    "--augment 2 (ridge)": {"featurizers": DEFAULT, "regressor": "ridge", "augment": 2},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="total")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    data = sg.datasets.sample(args.label)
    print(f"# {machine()}; sample: {len(data)} clips, label {args.label}; 5 folds x 3 repeats, {args.trials} trials")
    train, held = split_speakers(data)
    print(f"# held-out check: trained on {len(train)} clips, scored on {len(held)} clips of 2 unseen speakers")
    print("| option | Pearson r | Spearman | RMSE | MAE | 80% interval coverage | held-out r / MAE | time (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, kwargs in OPTIONS.items():
        if args.only and not any(o in name for o in args.only):
            continue
        start = time.perf_counter()
        scorer = sg.Scorer(trials=args.trials, **kwargs)
        s = scorer.evaluate(data, folds=5, repeats=3).summary
        took = time.perf_counter() - start
        pred = sg.Scorer(trials=args.trials, **kwargs).fit(train).predict(held).to_numpy()
        r, mae = np.corrcoef(pred, held.y)[0, 1], np.mean(np.abs(pred - held.y))
        print(f"| {name} | {s['pearson']:.3f} ± {s['pearson_std']:.3f} | {s['spearman']:.3f} ± {s['spearman_std']:.3f} "
              f"| {s['rmse']:.3f} ± {s['rmse_std']:.3f} | {s['mae']:.3f} ± {s['mae_std']:.3f} "
              f"| {s['interval_coverage']:.2f} | {r:.2f} / {mae:.2f} | {took:.0f} |", flush=True)
        for member, m in s.get("members", {}).items():
            w = s["ensemble"]["weights"][member]
            print(f"| &nbsp;&nbsp;member {member} (weight {w:.2f}) | {m['pearson']:.3f} ± {m['pearson_std']:.3f} | "
                  f"{m['spearman']:.3f} ± {m['spearman_std']:.3f} | {m['rmse']:.3f} ± {m['rmse_std']:.3f} | "
                  f"{m['mae']:.3f} ± {m['mae_std']:.3f} | | | |", flush=True)


if __name__ == "__main__":
    main()
