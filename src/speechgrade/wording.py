"""What the figures mean, in sentences a user reads: the verdict against the mean, where the mean or the ridge
baseline does better, shrinkage to the middle, a Pearson-Spearman gap, an ensemble that gave way to one family,
the label scale and where it came from, and the labels of the figures shown beside the model's."""

from __future__ import annotations

from typing import Any

import numpy as np

from .rubric import check_label_range

# figures a baseline can beat the model on, as the tables name them; Pearson and Spearman of the mean predictor
# are meaningless (a constant per fold), so the mean is compared on the others only
HIGHER = {"pearson": "Pearson r", "spearman": "Spearman rho", "qwk": "QWK", "exact": "exact agreement",
          "adjacent": "adjacent agreement", "within_0.5": "within 0.5", "within_1.0": "within 1.0"}
LOWER = {"rmse": "RMSE", "mae": "MAE"}
RANK_GAP = 0.1  # a Pearson-Spearman difference worth a sentence


def plain_findings(summary: dict[str, Any]) -> list[str]:
    """Sentences a user should read beside the table: the verdict against the mean, the figures a baseline does
    better on, what the ensemble kept, shrinkage to the middle, and a Pearson-Spearman gap."""
    if summary.get("label_std") == 0:
        return ["Every clip has the same label: there is nothing to learn, and Pearson r is undefined (shown as 0)."]
    out = [summary["against_mean"]["verdict"]] if "against_mean" in summary else []
    out += baseline_findings(summary)
    out += _member_findings(summary)
    ratio = summary.get("spread_ratio")
    if ratio is not None and ratio < 0.7:
        out.append(f"Predictions shrink to the middle: their spread is {ratio:.2f} of the labels' spread, so high "
                   f"scores come out too low and low scores too high.")
    gap = rank_gap_finding(summary)
    return out + ([gap] if gap else [])


def _wins(summary: dict[str, Any], other: dict[str, Any], keys: list[str]) -> list[str]:
    """The figures among `keys` on which `other` beats the model as the tables show them (to 3 decimals)."""
    out = []
    for key in keys:
        if key not in other or key not in summary:
            continue
        a, b = round(summary[key], 3), round(other[key], 3)
        if (b > a) if key in HIGHER else (b < a):
            out.append(key)
    return out


def _listed(summary: dict[str, Any], other: dict[str, Any], keys: list[str]) -> str:
    """"exact agreement (0.380 vs 0.297) and within 0.5": the first figure with both values, the rest by name."""
    names = {**LOWER, **HIGHER}
    items = [f"{names[keys[0]]} ({other[keys[0]]:.3f} vs {summary[keys[0]]:.3f})", *[names[k] for k in keys[1:]]]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def baseline_findings(summary: dict[str, Any]) -> list[str]:
    """Where the mean predictor or the ridge baseline does better than the model on a figure the table shows."""
    out = []
    baselines = summary.get("baselines") or {}
    mean = baselines.get("mean")
    if mean:
        wins = _wins(summary, mean, [k for k in (*LOWER, *HIGHER) if k not in ("pearson", "spearman")])
        if wins:
            out.append(f"The mean predictor does better on {_listed(summary, mean, wins)}.")
    ridge = baselines.get("ridge")
    if ridge:
        wins = _wins(summary, ridge, [*LOWER, *HIGHER])
        if wins:
            tail = ": the model is not worth its complexity for this label" if "rmse" in wins else ""
            if summary.get("scores") == "mapped" and {"rmse", "mae"} & set(wins):
                # mapped scores give up RMSE and MAE by design: judge the model on its raw scores
                tail = ("; the model's scores are mapped to the raters' mean and SD, which costs RMSE and MAE by "
                        "design, while the baseline's are not: compare the raw scores of the decisions table")
            out.append(f"The ridge baseline does better on {_listed(summary, ridge, wins)}{tail}.")
    return out


def rank_gap_finding(summary: dict[str, Any]) -> str | None:
    """One sentence on a Pearson-Spearman gap over `RANK_GAP`: tied labels, and whether a few extreme clips carry r."""
    gap, r, rho = summary.get("rank_gap"), summary.get("pearson"), summary.get("spearman")
    if not gap or r is None or rho is None or abs(r - rho) <= RANK_GAP:
        return None
    share = f"{gap['trimmed_share']:.0%}"
    trimmed = gap["pearson_trimmed"]
    ties = f"{gap['tied_label_pairs']:.0%} of clip pairs share a label, which a ranking cannot order"
    if r > rho:
        carried = r - trimmed > RANK_GAP / 2
        extreme = (f"a few extreme clips carry r (r {trimmed:.2f} without the {share} most extreme labels)" if carried
                   else f"r does not rest on a few extreme clips ({trimmed:.2f} without the {share} most extreme labels)")
        return f"Pearson r ({r:.2f}) is well above Spearman rho ({rho:.2f}): {ties}, and {extreme}."
    return (f"Spearman rho ({rho:.2f}) is well above Pearson r ({r:.2f}): the ranking is better than the linear fit "
            f"(r {trimmed:.2f} without the {share} most extreme labels; {ties}).")


def scale_sentence(label: str, label_range: Any, y: np.ndarray) -> str:
    """Which scale a command uses for `label` and where it came from; when the rubric was not named, how to name it."""
    y = np.asarray(y, np.float64)
    low, high = (float(np.min(y)), float(np.max(y))) if len(y) else (float("nan"), float("nan"))
    given = check_label_range(label_range)
    if given is not None:
        lo, hi = given
        reach = "" if (low, high) == (lo, hi) else f" (the labels span {low:g}-{high:g})"
        return f"{label}: scale {lo:g}-{hi:g} from --label-range{reach}."
    return (f"{label}: scale {low:g}-{high:g}, taken from the training labels; pass --label-range "
            f"{_guess_rubric(low, high)} if the rubric is wider (scores are clipped to the scale).")


def _guess_rubric(low: float, high: float) -> str:
    """A likely rubric around labels of `low`-`high` for the hint (1-5, 0-10, 0-100), else MIN,MAX."""
    for lo, hi in ((1, 5), (0, 10), (0, 100)):
        if lo <= low and high <= hi:  # the smallest common rubric that holds the labels (none when they fill it)
            return "MIN,MAX" if (low, high) == (lo, hi) else f"{lo},{hi}"
    return "MIN,MAX"


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


def _gain(gain: dict[str, Any], name: str) -> str:
    lo, hi = gain[f"{name}_gain_ci95"]
    g = gain[f"{name}_gain"]
    return (f"its {name.upper()} is {abs(g):.3f} {'lower' if g >= 0 else 'higher'} than the mean predictor's (gain "
            f"{g:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f})")


def _held(hi: float) -> str:
    """What a gain's interval that does not exclude 0 from below says."""
    return "an interval that includes no improvement" if hi >= 0 else "an interval wholly below 0: worse there"


def verdict(gain: dict[str, Any]) -> str:
    """One sentence on whether the model beats predicting the mean: "clearly better" only where the RMSE and the
    MAE gains' intervals both exclude 0; otherwise which of the two holds."""
    rmse_lo, rmse_hi = gain["rmse_gain_ci95"]
    mae_lo, mae_hi = gain.get("mae_gain_ci95", (rmse_lo, rmse_hi))
    rmse, mae = _gain(gain, "rmse"), _gain(gain, "mae") if "mae_gain" in gain else None
    both = f"{rmse}, and {mae}" if mae else rmse
    if rmse_lo > 0 and mae_lo > 0:
        return f"The model is clearly better than predicting the mean: {both}."
    if rmse_hi < 0 and mae_hi < 0:
        return f"The model is WORSE than predicting the mean: {both}. Do not use it."
    if rmse_lo > 0:
        return (f"The model is better than predicting the mean on RMSE only: {rmse}; but {mae}, {_held(mae_hi)}: "
                f"it avoids the mean's large misses more than it comes closer on a typical clip.")
    if mae_lo > 0:
        return (f"The model is better than predicting the mean on MAE only: {mae}; but {rmse}, {_held(rmse_hi)}: "
                f"a few large misses offset its closer typical score.")
    if rmse_hi < 0 or mae_hi < 0:
        return f"The model is WORSE than predicting the mean on {'RMSE' if rmse_hi < 0 else 'MAE'}: {both}. Do not use it."
    return (f"The model is NOT clearly better than predicting the mean: {both}; the intervals include no "
            f"improvement. Treat its scores as unproven.")


def compared(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures to show beside the model's: each ensemble member's (with its blend weight), then baselines."""
    weights = summary.get("ensemble", {}).get("weights", {})
    return {**{f"member: {m}" + (f" (w {weights[m]:.2f})" if m in weights else ""): v
               for m, v in summary.get("members", {}).items()},
            **{f"baseline: {b}": v for b, v in summary["baselines"].items()}}
