"""Feature column names, built and parsed in one place: `<family>.<feature>`.

A family is one featurizer's output (its name, numbered when a name repeats: `ssl`, `ssl-2`). Frame
summaries for learned pooling are features named `l<layer>.t<segment>.d<dim>`.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

SEP = "."
FRAME_FEATURE = re.compile(r"^l(?P<l>\d+)\.t(?P<t>\d+)\.d(?P<d>\d+)$")


def prefixes(names: Iterable[str]) -> list[str]:
    """Family name per featurizer name: the name, numbered when it repeats (`ssl`, `ssl-2`)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def column(family: str, feature: str) -> str:
    """The column name of `feature` in `family`."""
    return f"{family}{SEP}{feature}"


def family(column_name: str) -> str:
    """The family a column belongs to (the part before the first dot)."""
    return str(column_name).split(SEP, 1)[0]


def feature(column_name: str) -> str:
    """The feature name inside its family (the part after the first dot)."""
    return str(column_name).split(SEP, 1)[-1]


def families(columns: Sequence[str]) -> dict[str, list[int]]:
    """Column indices of each family, in column order."""
    out: dict[str, list[int]] = {}
    for i, c in enumerate(columns):
        out.setdefault(family(c), []).append(i)
    return out


def of_families(columns: Sequence[str], wanted: Iterable[str]) -> list[str]:
    """The columns that belong to any of these families, in column order."""
    wanted = set(wanted)
    return [c for c in columns if family(c) in wanted]


def frame_features(layers: Sequence[int], segments: int, dim: int) -> list[str]:
    """Feature names of a frame-summary block, layer-major then segment then dimension."""
    return [f"l{l}.t{t}.d{d}" for l in layers for t in range(segments) for d in range(dim)]


def parse_frame(column_name: str) -> tuple[str, int, int, int] | None:
    """(family, layer, segment, dim) of a frame-summary column, or None for any other column."""
    m = FRAME_FEATURE.match(feature(column_name))
    if m is None or SEP not in str(column_name):
        return None
    return family(column_name), int(m["l"]), int(m["t"]), int(m["d"])
