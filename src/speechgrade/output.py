"""The one writer: every file and folder speechgrade writes goes through here.

Three promises, kept here and nowhere else:
- never over an input: `check_outputs` refuses, before any work starts, an output that is an input (the CSV,
  an audio file listed or found, a file of an input folder, the model folder being read) or a folder that
  holds one;
- whole or not at all: files are written under a temporary name and renamed into place; folders (reports,
  bundles) are built aside and swapped in whole, so an index and its pages always belong together, and a
  failure leaves the old folder as it was;
- ordinary modes: a file gets the mode a plain `open()` would give it under the user's umask.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

from .csvsafe import neutralise
from .errors import ConfigError

if TYPE_CHECKING:  # pandas loads on first use: the CLI imports this module
    import pandas as pd

REPORT_SUFFIXES = frozenset({".html", ".png", ".csv", ".md", ".json", ".jsonl", ".txt", ".svg"})
_NEW, _OLD = ".new-", ".old-"


class OutputError(ConfigError):
    """An output the product refuses to write (it is an input, or a folder it must not replace)."""


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0o666 less the umask."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """The mode `mkdir` gives a new folder: 0o777 less the umask."""
    return 0o777 & ~_umask()


# -- never over an input ---------------------------------------------------------------------------------------
def _resolved(path: "str | os.PathLike") -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a loop of links: compare it as written
        return Path(os.path.abspath(path))


def check_outputs(outputs: Mapping[str, "str | os.PathLike | None"], inputs: Iterable["str | os.PathLike"],
                  folders: Iterable["str | os.PathLike"] = ()) -> None:
    """OutputError, before any work, when an output would destroy an input.

    `outputs`: option name -> path (None: not asked for). `inputs`: files read (the CSV, every audio file). `folders`:
    folders read (the audio folder, a folder of recordings, the model folder): an output may be a new file inside
    one but not an existing file of it, and never the folder itself or a folder above it. Linear in the inputs."""
    files = {_resolved(p) for p in inputs}
    dirs = {_resolved(p) for p in folders}
    above: set[Path] = set()  # every folder that holds an input: an output folder there would replace it
    for p in files | dirs:
        above.update(p.parents)
    for option, raw in outputs.items():
        if raw is None:
            continue
        out = _resolved(raw)
        if out in files:
            why = "is an input file"
        elif out in dirs or out in above:
            why = "is or holds an input"
        elif out.exists() and any(parent in dirs for parent in out.parents):
            why = "is a file of an input folder"
        else:
            continue
        raise OutputError(f"{raw}: the output ({option}) {why}; nothing was written, write to another path")


def dataset_inputs(dataset, *paths: "str | os.PathLike | None") -> tuple[list[Path], list[Path]]:
    """(files, folders) a run over `dataset` reads: every audio file it found, and `paths` (the CSV, the audio
    folder, a model folder, folders of recordings) sorted by kind."""
    files: list[Path] = [Path(p) for p in dataset.table["path"].dropna()] if dataset is not None else []
    folders: list[Path] = []
    for p in paths:
        if p is not None:
            (folders if Path(p).is_dir() else files).append(Path(p))
    return files, folders


# -- whole or not at all ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_file(path: "str | os.PathLike", binary: bool = False) -> Iterator[IO]:
    """A file opened under a temporary name beside `path` and renamed to it once written whole (removed on error),
    with the mode a plain open() would give. Its folder is created when missing."""
    path = Path(path)
    _make_parent(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create its folder ({exc.strerror or exc})") from None


def write_text(path: "str | os.PathLike", text: str) -> Path:
    """Write `text` (UTF-8) whole or not at all."""
    with atomic_file(path) as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: "str | os.PathLike", data: bytes) -> Path:
    """Write `data` whole or not at all."""
    with atomic_file(path, binary=True) as fh:
        fh.write(data)
    return Path(path)


def write_with(path: "str | os.PathLike", write: Callable[[IO[bytes]], object]) -> Path:
    """Let `write(fh)` fill a binary file (a library's own writer: Parquet, PNG) whole or not at all."""
    with atomic_file(path, binary=True) as fh:
        write(fh)
    return Path(path)


def write_table(frame: "pd.DataFrame", path: "str | os.PathLike", index: bool = False) -> int:
    """A table by its suffix: `.csv` (cells a spreadsheet would run neutralised), else Parquet. Returns how many
    CSV cells were neutralised."""
    if Path(path).suffix.lower() == ".csv":
        return write_csv(frame, path, index)
    write_with(path, lambda fh: frame.to_parquet(fh, index=index if index else None))
    return 0


def write_csv(frame: "pd.DataFrame", target: "str | os.PathLike | IO[str]", index: bool = False) -> int:
    """Write `frame` as CSV with cells a spreadsheet would run neutralised (csvsafe.py), to a path (whole or not at
    all) or a stream. Returns how many cells were neutralised."""
    safe, changed = neutralise(frame, index)
    if isinstance(target, (str, os.PathLike)):
        write_text(target, safe.to_csv(index=index))
    else:
        target.write(safe.to_csv(index=index))
    return changed


# -- folders swapped in whole ----------------------------------------------------------------------------------
def _leftovers(target: Path, kind: str) -> list[Path]:
    prefix = f".{target.name[:100]}{kind}"
    try:
        return sorted(p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.is_dir()
                      and not p.is_symlink())
    except OSError:
        return []


def recover_folder(target: "str | os.PathLike", complete: Callable[[Path], bool] = lambda p: True) -> str | None:
    """Finish or undo a swap a crash interrupted: when `target` is missing but a complete copy waits beside it
    (the new one, else the old one), put it back; remove the other working copies. Returns what was done, to say."""
    target = Path(target)
    news, olds = _leftovers(target, _NEW), _leftovers(target, _OLD)
    if not news and not olds:
        return None
    said = None
    if not target.exists():
        for candidate, which in [*((p, "new") for p in reversed(news)), *((p, "old") for p in reversed(olds))]:
            if complete(candidate):
                os.replace(candidate, target)
                said = (f"{target}: restored the {'newly written' if which == 'new' else 'previous'} copy that an "
                        f"interrupted replacement left as {candidate.name}")
                break
    for p in news + olds:
        if p.exists():
            shutil.rmtree(p, ignore_errors=True)
    return said


@contextlib.contextmanager
def replaced_folder(target: "str | os.PathLike", check: Callable[[Path], None] | None = None,
                    on_recover: Callable[[str], None] | None = None,
                    complete: Callable[[Path], bool] = lambda p: True) -> Iterator[Path]:
    """A new folder beside `target` to build into; when the block succeeds it takes the place of `target` (an old
    one is removed only then), when it fails it is removed and `target` is as it was. A reader sees the old folder
    or the whole new one. `check(target)` refuses a folder that must not be replaced; a swap a crash left half
    done is finished first (`on_recover` is told)."""
    target = Path(target)
    said = recover_folder(target, complete)
    if said and on_recover:
        on_recover(said)
    if check is not None:
        check(target)
    _make_parent(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name[:100]}{_NEW}", dir=target.parent))
    os.chmod(tmp, folder_mode())
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.parent / f".{target.name[:100]}{_OLD}{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def replaceable_files(directory: "str | os.PathLike", what: str) -> list[str] | None:
    """The files (relative names) of a folder the writer is asked to replace whole; None when it does not exist.
    Refuses a link or a file there: `what` ("report", "model") names the folder in the message."""
    d = Path(directory)
    if d.is_symlink():
        raise OutputError(f"{d} is a symbolic link: give a real folder for the {what}")
    if not d.exists():
        return None
    if not d.is_dir():
        raise OutputError(f"{d} is a file, not a {what} folder: choose another path")
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if not p.is_dir())


def check_report_folder(directory: "str | os.PathLike") -> None:
    """Refuse a report folder that exists and holds anything but an earlier report (pages, plots, tables): a report
    is replaced whole, so any other folder would be lost."""
    files = replaceable_files(directory, "report") or []
    other = [f for f in files if Path(f).suffix.lower() not in REPORT_SUFFIXES]
    if other or (files and "index.html" not in files):
        raise OutputError(f"{directory} holds files that are not a speechgrade report: choose a new or empty folder "
                          f"(a report folder is replaced whole)")


@contextlib.contextmanager
def report_folder(directory: "str | os.PathLike") -> Iterator[Path]:
    """A report folder built aside and swapped in whole (see `replaced_folder`)."""
    with replaced_folder(directory, check=check_report_folder) as tmp:
        yield tmp
