"""Optional dependencies: one check that says which pip extra provides what is missing."""

from __future__ import annotations

import importlib.util
from typing import Sequence

from .errors import ConfigError


def installed(module: str) -> bool:
    """Whether `module` (dotted names too) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent of a dotted name is missing
        return False


def require(what: str, modules: Sequence[str], install: str) -> None:
    """ConfigError `<what> needs <modules>: pip install <install>` when any module is missing."""
    missing = [m for m in modules if not installed(m)]
    if missing:
        raise ConfigError(f"{what} needs {', '.join(missing)}: pip install {install}")
