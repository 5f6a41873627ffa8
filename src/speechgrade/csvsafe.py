"""CSV the product writes: cells a spreadsheet would run as formulas are neutralised.

OWASP's rule for CSV injection: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets
a leading `'`. Numbers stay numbers. `SPEECHGRADE_RAW_CSV=1` writes cells as they are.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads on first use: the CLI imports this module
    import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """`value` with a leading `'` when it is text a spreadsheet would read as a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(TRIGGERS) else value


def neutralise(frame: "pd.DataFrame", index: bool = True) -> "tuple[pd.DataFrame, int]":
    """(a copy of frame with every text cell, column name and index label neutralised, how many changed)."""
    if os.environ.get("SPEECHGRADE_RAW_CSV") == "1":
        return frame, 0
    changed = 0

    def fix(value: object) -> object:
        nonlocal changed
        out = neutralise_cell(value)
        changed += out is not value
        return out

    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):  # pandas 3 has a str dtype
            out[column] = out[column].map(fix)
    out.columns = [fix(c) for c in out.columns]
    if index:
        out.index = pd.Index([fix(i) for i in out.index], name=out.index.name)
    return out, changed
