"""CSV the product writes: cells a spreadsheet would run as formulas are neutralised; files appear whole or not at all.

OWASP's rule for CSV injection: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets
a leading `'`. Numbers stay numbers. `SPEECHGRADE_RAW_CSV=1` writes cells as they are.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator

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


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """A text file opened under a temporary name and renamed to `path` once written whole (removed on error)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_csv(frame: "pd.DataFrame", target: "str | os.PathLike | IO[str]", index: bool = False) -> int:
    """Write `frame` as CSV, neutralised; a path is written to a temporary file renamed into place, so an
    interrupted write leaves the old file. Returns how many cells were neutralised."""
    safe, changed = neutralise(frame, index)
    if not isinstance(target, (str, os.PathLike)):
        target.write(safe.to_csv(index=index))
        return changed
    with atomic_text(Path(target)) as fh:
        fh.write(safe.to_csv(index=index))
    return changed
