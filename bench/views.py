"""Each feature family alone, all of them in one ridge, and the per-family stack, on one labelled set with
grouped, repeated CV: does the default ever lose to its best view?

Run: python bench/views.py CSV AUDIO_DIR LABEL [--cache DIR] [--folds 5] [--repeats 3] [--families a,b,...]
Prints one row per configuration: Pearson r and RMSE (mean +- std over repeats), and the stack's weights.
"""

from __future__ import annotations

import argparse
import json
import sys



def main() -> None:
    import speechgrade as sg

    ap = argparse.ArgumentParser()
    ap.add_argument("csv"), ap.add_argument("audio"), ap.add_argument("label")
    ap.add_argument("--cache"), ap.add_argument("--folds", type=int, default=5), ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--families", default=None)
    ap.add_argument("--only", default=None, help="comma-separated: singles, default, stack")
    args = ap.parse_args()
    data = sg.load_dataset(args.csv, args.audio, args.label)
    fams = (args.families or sg.default_features()).split(",")
    runs = [(f"{f} alone", f, None, "singles") for f in fams]
    runs += [("all families, one ridgecv (--ensemble none)", ",".join(fams), None, "default"),
             ("per-family stack, non-negative ridge (--ensemble stack / auto)", ",".join(fams), "stack", "stack")]
    only = set(args.only.split(",")) if args.only else None
    runs = [r[:3] for r in runs if only is None or r[3] in only]
    print(f"{len(data)} clips, label {args.label}, {args.folds}x{args.repeats} grouped CV")
    for title, features, how in runs:
        scorer = sg.Scorer(features, "ridgecv", cache=args.cache, ensemble=how)
        s = scorer.evaluate(data, folds=args.folds, repeats=args.repeats).summary
        weights = s.get("ensemble", {}).get("weights")
        kept = s.get("ensemble", {}).get("kept_alone")
        print(json.dumps({"run": title, "pearson": round(s["pearson"], 3), "pearson_std": round(s["pearson_std"], 3),
                          "rmse": round(s["rmse"], 3), "rmse_std": round(s["rmse_std"], 3),
                          **({"weights": weights} if weights else {}), **({"kept_alone": kept} if kept else {})}),
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
