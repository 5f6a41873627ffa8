"""The per-group audit finds a planted bias, and finds none without it."""

import numpy as np
import pandas as pd
import pytest

from speechgrade.audit import audit, audit_columns
from speechgrade.errors import ConfigError


def _predictions(bias: float, n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = [f"c{i}" for i in range(n)]
    group = np.where(np.arange(n) % 2 == 0, "a", "b")
    y = rng.uniform(1, 5, n)
    rows = []
    for r in range(3):
        p = y + rng.normal(0, 0.4, n) - np.where(group == "b", bias, 0.0)
        rows += [{"filename": names[i], "y_true": y[i], "repeat": r, "model": p[i], "inside_interval": True}
                 for i in range(n)]
    table = pd.DataFrame({"gender": group, "age": rng.integers(18, 60, n)}, index=pd.Index(names, name="filename"))
    return pd.DataFrame(rows), table


def test_a_planted_bias_is_found():
    preds, table = _predictions(bias=0.6)
    result = audit(preds, table, ["gender"], cut=3.0, n_boot=300)
    rows = {r["group"]: r for r in result["columns"]["gender"]}
    assert rows["b"]["std_difference"] < -0.15 and rows["b"]["std_difference_ci95"][1] < 0
    assert abs(rows["a"]["std_difference"]) < 0.15
    assert rows["a"]["impact_ratio"] == 1.0 and rows["b"]["impact_ratio"] < 0.8 and rows["b"]["four_fifths_fail"]
    assert any("lower than its raters" in f for f in rows["b"]["flag"])
    assert rows["b"]["selection_rate"] < rows["b"]["human_selection_rate"]
    assert rows["a"]["interval_coverage"] == 1.0 and rows["a"]["n"] == 100


def test_no_bias_no_flag():
    preds, table = _predictions(bias=0.0)
    result = audit(preds, table, ["gender"], cut=3.0, n_boot=300)
    for row in result["columns"]["gender"]:
        assert abs(row["std_difference"]) < 0.15 and not row["four_fifths_fail"] and not row["flag"]
        lo, hi = row["std_difference_ci95"]
        assert lo < 0 < hi or abs(row["std_difference"]) < 0.1


def test_missing_values_are_a_group_and_unknown_columns_are_refused():
    preds, table = _predictions(bias=0.0, n=20)
    table.loc["c0", "gender"] = None
    rows = {r["group"]: r for r in audit(preds, table, ["gender"], n_boot=50)["columns"]["gender"]}
    assert rows["(missing)"]["n"] == 1 and "std_difference" not in rows["(missing)"]
    with pytest.raises(ConfigError, match="no column 'sex'"):
        audit_columns("gender,sex", table)
