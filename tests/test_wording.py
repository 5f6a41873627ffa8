"""The sentences beside the figures say what the figures say: the verdict against the mean needs both error gains,
a baseline that does better is named, a Pearson-Spearman gap is explained, and the scale is never silent."""

import numpy as np
import pytest

from speechgrade.metrics import rank_gap
from speechgrade.wording import baseline_findings, plain_findings, rank_gap_finding, scale_sentence, verdict


def _gain(rmse, rmse_ci, mae, mae_ci):
    return {"rmse_gain": rmse, "rmse_gain_ci95": list(rmse_ci), "mae_gain": mae, "mae_gain_ci95": list(mae_ci)}


def test_clearly_better_only_when_both_error_gains_exclude_zero():
    both = verdict(_gain(0.2, (0.1, 0.3), 0.15, (0.05, 0.25)))
    assert both.startswith("The model is clearly better than predicting the mean") and "MAE" in both
    rmse_only = verdict(_gain(0.107, (0.021, 0.192), 0.02, (-0.038, 0.091)))
    assert "clearly better" not in rmse_only and "on RMSE only" in rmse_only
    assert "95% CI -0.038 to +0.091" in rmse_only and "includes no improvement" in rmse_only
    assert "an interval wholly below 0: worse there" in verdict(_gain(0.1, (0.02, 0.2), -0.05, (-0.09, -0.01)))
    mae_only = verdict(_gain(0.01, (-0.05, 0.07), 0.1, (0.02, 0.2)))
    assert "on MAE only" in mae_only and "clearly better" not in mae_only
    neither = verdict(_gain(0.01, (-0.05, 0.07), 0.0, (-0.04, 0.05)))
    assert neither.startswith("The model is NOT clearly better than predicting the mean")
    assert "WORSE" in verdict(_gain(-0.2, (-0.3, -0.1), -0.1, (-0.2, -0.01))) and \
        "Do not use it" in verdict(_gain(-0.2, (-0.3, -0.1), 0.0, (-0.1, 0.1)))


def _summary(**figures):
    base = {"rmse": 0.663, "mae": 0.533, "pearson": 0.52, "spearman": 0.50, "qwk": 0.40, "exact": 0.297,
            "adjacent": 0.8, "within_0.5": 0.55, "within_1.0": 0.85, "spread_ratio": 0.9}
    return base | figures


def test_a_baseline_that_does_better_is_named():
    mean = _summary(rmse=0.770, mae=0.560, pearson=-0.2, spearman=-0.2, qwk=0.0, exact=0.380, adjacent=0.7,
                    **{"within_0.5": 0.60, "within_1.0": 0.80})
    summary = _summary(baselines={"mean": mean, "ridge": _summary()})
    said = baseline_findings(summary)
    assert said == ["The mean predictor does better on exact agreement (0.380 vs 0.297) and within 0.5."]
    # the mean's Pearson and Spearman are never compared (a constant per fold): only the figures that mean something
    prosodic = _summary(rmse=1.435, pearson=0.70, baselines={"ridge": _summary(rmse=1.307, pearson=0.74)})
    assert baseline_findings(prosodic) == [
        "The ridge baseline does better on RMSE (1.307 vs 1.435) and Pearson r: the model is not worth its "
        "complexity for this label."]
    # mapped scores give up RMSE by design: the sentence says so instead of judging the model on it
    mapped = baseline_findings(prosodic | {"scores": "mapped"})[0]
    assert "not worth its complexity" not in mapped and "compare the raw scores of the decisions table" in mapped
    # a figure the table shows equal (to 3 decimals) is no win
    assert baseline_findings(_summary(baselines={"ridge": _summary(rmse=0.6631)})) == []
    assert "The ridge baseline does better on RMSE" in " ".join(plain_findings(prosodic))


def test_a_pearson_spearman_gap_is_explained():
    rng = np.random.default_rng(0)
    y = np.r_[np.repeat([3.0, 3.5, 4.0], 30), [1.0, 1.0, 5.0, 5.0, 5.0]]  # most labels tied, a few extremes
    pred = np.r_[3.6 + rng.normal(0, 0.3, 90), [2.0, 2.1, 4.8, 4.9, 5.0]]  # the extremes alone carry r
    gap = rank_gap(y, pred[None])
    counts = np.array([30, 30, 30, 2, 3])
    assert gap["tied_label_pairs"] == pytest.approx((counts * (counts - 1)).sum() / (95 * 94))
    keep = np.argsort(np.abs(y - np.median(y)), kind="stable")[:90]  # the 5% farthest from the median left out
    assert gap["pearson_trimmed"] == pytest.approx(np.corrcoef(y[keep], pred[keep])[0, 1])
    r, rho = np.corrcoef(y, pred)[0, 1], 0.2
    said = rank_gap_finding({"pearson": r, "spearman": rho, "rank_gap": gap})
    assert said.startswith(f"Pearson r ({r:.2f}) is well above Spearman rho (0.20)")
    assert f"{gap['tied_label_pairs']:.0%} of clip pairs share a label" in said
    assert f"a few extreme clips carry r (r {gap['pearson_trimmed']:.2f} without the 5% most extreme labels)" in said
    assert rank_gap_finding({"pearson": 0.52, "spearman": 0.45, "rank_gap": gap}) is None  # within 0.1: no sentence
    assert "Spearman rho (0.60) is well above Pearson r (0.40)" in rank_gap_finding(
        {"pearson": 0.40, "spearman": 0.60, "rank_gap": gap})


def test_the_scale_says_where_it_came_from():
    y = np.array([2.0, 3.0, 4.5, 5.0])
    assert scale_sentence("grammar", None, y) == (
        "grammar: scale 2-5, taken from the training labels; pass --label-range 1,5 if the rubric is wider (scores "
        "are clipped to the scale).")
    assert scale_sentence("grammar", (1, 5), y) == "grammar: scale 1-5 from --label-range (the labels span 2-5)."
    assert scale_sentence("total", None, np.array([3.0, 9.0])).endswith("pass --label-range 0,10 if the rubric is "
                                                                        "wider (scores are clipped to the scale).")
    assert "--label-range MIN,MAX" in scale_sentence("x", None, np.array([-3.0, 300.0]))
    assert "--label-range MIN,MAX" in scale_sentence("x", None, np.array([1.0, 5.0]))  # fills 1-5: no guess
    assert scale_sentence("grammar", (2, 5), y) == "grammar: scale 2-5 from --label-range."
