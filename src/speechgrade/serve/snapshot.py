"""The bundle a server serves: one verified private copy, taken once before any server process starts.

Every server process (and every restart of one) loads the same copy, so what is served never depends on what
happens to the model folder later. The copy lives in the temp folder as `speechgrade-serve-<pid>-*`, named for
the process that owns it: it is removed when that server stops, and by the next server that starts if its owner
died without cleaning up (killed with SIGKILL, out of memory).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from ..bundle import read_manifest

PREFIX = "speechgrade-serve-"
_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)-")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_snapshots(folder: str | os.PathLike | None = None) -> list[Path]:
    """Remove the snapshots in `folder` (the temp folder) whose owning server process is gone; returns them."""
    root = Path(folder or tempfile.gettempdir())
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _OWNED.match(entry.name)
        if m is None or pid_alive(int(m.group(1))):
            continue
        try:
            if entry.is_symlink() or not entry.is_dir() or entry.stat().st_uid != os.getuid():
                continue  # only folders this user made; never follow a link
        except OSError:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def snapshot_bundle(model_dir: str | os.PathLike) -> Path:
    """A verified private copy of a bundle (`<snapshot folder>/model`), owned by this process; stale copies of
    dead servers are removed first. A bundle replaced or damaged on disk later is never served."""
    remove_stale_snapshots()
    read_manifest(model_dir)  # refuse a bad bundle before copying it
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    target = root / "model"
    try:
        shutil.copytree(model_dir, target, symlinks=True)
        read_manifest(target)  # the copy is what was verified (the folder may have changed in between)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return target


def remove_snapshot(model: str | os.PathLike) -> None:
    """Remove a snapshot taken by `snapshot_bundle` (its whole folder: the copy and the job table)."""
    root = Path(model).parent
    if root.name.startswith(PREFIX):  # never anything but a snapshot folder
        shutil.rmtree(root, ignore_errors=True)
