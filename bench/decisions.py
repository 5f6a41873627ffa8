"""The decisions a cut score makes with raw scores and with scores mapped to the raters' mean and SD, from one
grouped, repeated CV (both score sets come from the same fold models; the map is fitted inside each training fold
on its out-of-fold predictions).

Run: python bench/decisions.py CSV AUDIO_DIR LABEL --cache DIR [--cut-scores 3.0,3.5,4.0] [--folds 5] [--repeats 3]
     [--label-range MIN,MAX] [--rescale]
Prints, for raw and mapped scores, Pearson r, RMSE, QWK and the spread ratio, then at each cut score how many clips
the raters select (label >= cut), the scores select and both (mean over repeats, lowest-highest); then the
model's findings (with --rescale, those of the mapped scores: the verdict against the mean included).
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> None:
    import speechgrade as sg

    ap = argparse.ArgumentParser()
    ap.add_argument("csv"), ap.add_argument("audio"), ap.add_argument("label")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--cut-scores", default="3.0,3.5,4.0")
    ap.add_argument("--folds", type=int, default=5), ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--label-range", default=None)
    ap.add_argument("--rescale", action="store_true", help="configure the model with rescale (the findings' scores)")
    args = ap.parse_args()
    data = sg.load_dataset(args.csv, args.audio, args.label)
    label_range = tuple(float(v) for v in args.label_range.split(",")) if args.label_range else None
    cuts = [float(c) for c in args.cut_scores.split(",")]
    start = time.perf_counter()
    scorer = sg.Scorer(sg.default_features(), "ridgecv", ensemble="auto", label_range=label_range,
                       rescale=args.rescale, cache=args.cache)
    ev = scorer.evaluate(data, folds=args.folds, repeats=args.repeats)
    result = ev.decisions(cuts)[args.label]
    took = time.perf_counter() - start
    print(f"{len(data)} clips, label {args.label}, {args.folds}x{args.repeats} grouped CV, default features "
          f"({took:.0f} s); {ev.extra['scale']['note']}")
    print("| scores | Pearson r | RMSE | QWK | spread | " +
          " | ".join(f">= {c:g}: raters / model / both" for c in result["cut_scores"]) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(cuts))
    for name, s in result["scores"].items():
        cells = [f"{row['raters']} / {row['selected']:.1f} ({row['selected_range'][0]}-{row['selected_range'][1]}) / "
                 f"{row['both']:.1f} ({row['both_range'][0]}-{row['both_range'][1]})" for row in s["cuts"]]
        print(f"| {name} | {s['pearson']:.3f} | {s['rmse']:.3f} | {s['qwk']:.3f} | {s['spread_ratio']:.2f} | "
              + " | ".join(cells) + " |")
    summary = ev.summary
    print(f"model ({'mapped' if args.rescale else 'raw'}): MAE {summary['mae']:.3f}, exact {summary['exact']:.3f}, "
          f"Spearman {summary['spearman']:.3f}")
    for sentence in sg.evaluate.plain_findings(summary):
        print("-", sentence)


if __name__ == "__main__":
    sys.exit(main())
