"""What the figures mean, in sentences a user reads: the verdict against the mean, shrinkage to the middle, an
ensemble that gave way to one family, and the labels of the figures shown beside the model's."""

from __future__ import annotations

from typing import Any

def plain_findings(summary: dict[str, Any]) -> list[str]:
    """Sentences a user should read beside the table: the verdict against the mean, and shrinkage to the middle."""
    if summary.get("label_std") == 0:
        return ["Every clip has the same label: there is nothing to learn, and Pearson r is undefined (shown as 0)."]
    out = [summary["against_mean"]["verdict"]] if "against_mean" in summary else []
    out += _member_findings(summary)
    ratio = summary.get("spread_ratio")
    if ratio is not None and ratio < 0.7:
        out.append(f"Predictions shrink to the middle: their spread is {ratio:.2f} of the labels' spread, so high "
                   f"scores come out too low and low scores too high.")
    return out


def _member_findings(summary: dict[str, Any]) -> list[str]:
    """How often the ensemble kept one family alone, and a family that alone beat the blend out of fold."""
    out = []
    kept = {k: v for k, v in summary.get("ensemble", {}).get("kept_alone", {}).items() if k != "(blend)"}
    if kept:
        n = sum(summary["ensemble"]["kept_alone"].values())
        tally = ", ".join(f"{k} {v}" for k, v in sorted(kept.items(), key=lambda kv: -kv[1]))
        out.append(f"The blend gave way to one family alone in {sum(kept.values())} of {n} training folds ({tally}).")
    members = summary.get("members", {})
    best = min(members, key=lambda m: members[m]["rmse"], default=None)
    if best is not None and members[best]["rmse"] < summary["rmse"]:
        out.append(f"The {best} family alone did better than the model out of fold (r {members[best]['pearson']:.3f} "
                   f"vs {summary['pearson']:.3f}, RMSE {members[best]['rmse']:.3f} vs {summary['rmse']:.3f}); "
                   f"`--features {best}` may serve you better (check it with `speechgrade evaluate`).")
    return out


def verdict(gain: dict[str, Any]) -> str:
    """One sentence on whether the model beats predicting the mean, from the gains' intervals."""
    lo, hi = gain["rmse_gain_ci95"]
    g = gain["rmse_gain"]
    figure = (f"its RMSE is {abs(g):.3f} {'lower' if g >= 0 else 'higher'} than the mean predictor's (gain "
              f"{g:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f})")
    if lo > 0:
        return f"The model is clearly better than predicting the mean: {figure}."
    if hi < 0:
        return f"The model is WORSE than predicting the mean: {figure}. Do not use it."
    return (f"The model is NOT clearly better than predicting the mean: {figure}; the interval includes no "
            f"improvement. Treat its scores as unproven.")


def compared(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures to show beside the model's: each ensemble member's (with its blend weight), then baselines."""
    weights = summary.get("ensemble", {}).get("weights", {})
    return {**{f"member: {m}" + (f" (w {weights[m]:.2f})" if m in weights else ""): v
               for m, v in summary.get("members", {}).items()},
            **{f"baseline: {b}": v for b, v in summary["baselines"].items()}}
