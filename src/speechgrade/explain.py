"""Per-prediction explanations: each feature family's additive contribution to a raw score."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from . import columns as cols


def family_contributions(model, X: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame | None:
    """Contribution of each feature family to each row's raw score, plus `base`; None for models without
    attributions (e.g. svr)."""
    contrib = model.contributions(X[list(columns)].to_numpy(np.float64))
    if contrib is None:
        return None
    families = pd.Index([cols.family(c) for c in columns])
    per_family = pd.DataFrame(contrib[:, :-1], index=X.index, columns=families).T.groupby(level=0).sum().T
    per_family["base"] = contrib[:, -1]
    return per_family
