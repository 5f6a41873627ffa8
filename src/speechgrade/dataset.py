"""A dataset is a manifest: CSV rows resolved to audio files, with labels, groups and problems."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .audio import AUDIO_EXTENSIONS, AudioInfo
from .errors import DatasetError
from .usertext import shorten


@dataclass(frozen=True)
class Problem:
    """One row or file that was left out, and why."""

    filename: str
    reason: str

    def __str__(self) -> str:
        return f"{self.filename}: {self.reason}"


@dataclass
class Dataset:
    """Rows indexed by filename with a `path` column, an optional label and group, extra columns kept."""

    table: pd.DataFrame
    label: str | None = None
    problems: list[Problem] = field(default_factory=list)
    order: list[str] | None = None  # every input name (rows and problems) in input order, when known
    labels: list[str] | None = None  # several label columns (a row may lack some of them: NaN there)
    rows: list[str] | None = None  # every CSV row's name, repeats included (predict writes one row per input row)

    def __post_init__(self):
        if self.labels is None:
            self.labels = [self.label] if self.label is not None else []

    def with_label(self, label: str) -> "Dataset":
        """The rows that have this label, with it as the dataset's label (the same table, not a copy)."""
        keep = self.table[label].notna().to_numpy()
        table = self.table if keep.all() else self.table[keep]
        return Dataset(table, label, list(self.problems), self.order, [label])

    def __len__(self) -> int:
        return len(self.table)

    @property
    def filenames(self) -> list[str]:
        """Row names, as written in the CSV."""
        return [str(i) for i in self.table.index]

    @property
    def input_order(self) -> list[str]:
        """All names given (usable rows and problems), in the order they were given."""
        if self.order is not None:
            return list(self.order)
        return self.filenames + [p.filename for p in self.problems if p.filename not in self.table.index]

    @property
    def paths(self) -> list[Path]:
        """Resolved audio paths, in row order."""
        return [Path(p) for p in self.table["path"]]

    @property
    def y(self) -> np.ndarray:
        """Labels as float64 (raises if the dataset has no label)."""
        if self.label is None:
            raise DatasetError("this dataset has no label column")
        return self.table[self.label].to_numpy(dtype=np.float64)

    @property
    def groups(self) -> np.ndarray | None:
        """The user's `group` column (e.g. speaker) as strings, if there is one."""
        if "group" not in self.table.columns:
            return None
        return self.table["group"].astype(str).to_numpy()

    def subset(self, names: Sequence[str]) -> "Dataset":
        """The rows with these filenames, in this order."""
        return Dataset(self.table.loc[list(names)].copy(), self.label, list(self.problems), None, list(self.labels))

    @classmethod
    def from_paths(cls, paths: Iterable[str | os.PathLike]) -> "Dataset":
        """A label-less dataset of audio files (for predict); a folder stands for its audio files (sorted, not
        recursive); missing files become problems."""
        rows, problems, seen, order = [], [], set(), []
        for p in expand_folders(paths):
            path = Path(p)
            name = path.name
            if name in seen:
                name = str(path)
            seen.add(name)
            try:
                is_file, is_dir = path.is_file(), path.is_dir()
                reason = "a folder with no audio files" if is_dir else \
                    "not a regular file" if _special(path) else "file not found"
            except OSError as exc:  # a name too long for the file system...
                is_file, reason = False, f"cannot be opened ({exc.strerror or type(exc).__name__})"
            if not is_file:
                problems.append(Problem(str(p), reason))
            order.append(name if is_file else str(p))
            rows.append({"filename": name, "path": str(path)})
        table = pd.DataFrame(rows, columns=["filename", "path"]).set_index("filename")
        missing = {pr.filename for pr in problems}
        table = table[[str(p) not in missing for p in table["path"]]]
        return cls(table, None, problems, order)

    def to_jsonl(self, path: str | os.PathLike) -> None:
        """Write the manifest as JSON lines (one row per clip)."""
        from .output import atomic_file

        with atomic_file(path) as fh:
            for name, row in self.table.iterrows():
                fh.write(json.dumps({"filename": name, **{k: _jsonable(v) for k, v in row.items()}}) + "\n")


def expand_folders(paths: Iterable[str | os.PathLike]) -> list[str | os.PathLike]:
    """Paths with every folder replaced by the audio files in it (by extension, sorted by name)."""
    out: list[str | os.PathLike] = []
    for p in paths:
        path = Path(p)
        try:
            is_dir = path.is_dir()
        except OSError:  # reported as the file's problem by the caller
            is_dir = False
        if is_dir:
            found = sorted((c for c in path.iterdir() if c.is_file() and c.suffix.lower() in AUDIO_EXTENSIONS),
                           key=lambda c: c.name)
            out += found or [p]
        else:
            out.append(p)
    return out


def _jsonable(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _index_audio_dir(audio_dir: Path) -> dict[str, list[str]]:
    """Map each file stem in the folder to its file names (one directory scan)."""
    index: dict[str, list[str]] = defaultdict(list)
    with os.scandir(audio_dir) as it:
        for entry in it:
            if entry.is_file():
                index[os.path.splitext(entry.name)[0]].append(entry.name)
    return index


def _special(path: Path) -> bool:
    """Whether `path` exists but is no regular file nor folder (a FIFO, a device, a link to one)."""
    try:
        return path.exists() and not path.is_file() and not path.is_dir()
    except OSError:
        return False


def _not_found(name: str, audio_dir: Path) -> str:
    """Why no audio file was found for a CSV name: a FIFO or device is said as such, never read."""
    stem = os.path.splitext(name)[0]
    if any(_special(audio_dir / n) for n in (name, f"{stem}.wav")):
        return "not a regular file"
    return f"audio file not found in {audio_dir}"


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` (links followed) lies inside `folder`."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


def resolve_audio(name: str, audio_dir: Path, index: dict[str, list[str]]) -> Path | None:
    """Find the audio file for a CSV filename: as written, then `.wav`, then any audio file with that stem."""
    direct = audio_dir / name
    if os.path.splitext(name)[1] and direct.is_file():
        return direct
    stem = name
    if os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
        stem = os.path.splitext(name)[0]
    if "/" in stem or os.sep in stem:
        for ext in AUDIO_EXTENSIONS:
            candidate = audio_dir / f"{stem}{ext}"
            if candidate.is_file():
                return candidate
        return None
    candidates = index.get(stem, [])
    if f"{stem}.wav" in candidates:
        return audio_dir / f"{stem}.wav"
    for ext in AUDIO_EXTENSIONS:
        for c in candidates:
            if c.lower().endswith(ext):
                return audio_dir / c
    return None


METADATA = {"filename", "group", "speaker", "path", "text", "transcript", "id", "split", "prompt", "duration",
            "duration_s", "gender", "sex", "age", "age_band", "race", "ethnicity", "l1", "country"}  # audit columns


def label_columns(spec: "str | list[str]", frame: pd.DataFrame) -> list[str]:
    """The label columns a spec names: `grammar`, `grammar,fluency`, a list, or `all` (every numeric column
    that is not a known metadata column)."""
    if isinstance(spec, str) and spec.strip() == "all":
        return [c for c in frame.columns if c.lower() not in METADATA
                and pd.to_numeric(frame[c], errors="coerce").notna().any()]
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s) for s in spec]
    return [n for n in names if n]


LABEL_LIMIT = 1e6  # larger labels are typos or overflow bait, never a rubric


def label_problem(raw: object) -> str | None:
    """Why a label cell cannot be trained on (empty, non-numeric, not finite, absurdly large), or None."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
        return "empty"
    value = pd.to_numeric(pd.Series([raw]), errors="coerce").iloc[0]
    if pd.isna(value):
        return f"non-numeric ({str(raw)[:40]!r})"
    if not np.isfinite(value):
        return f"not a finite number ({str(raw)[:40]!r})"
    if abs(value) > LABEL_LIMIT:
        return f"out of range ({str(raw)[:40]!r}: labels must lie within +-{LABEL_LIMIT:,.0f})"
    return None


def load_dataset(csv_path: str | os.PathLike, audio_dir: str | os.PathLike | None = None,
                 label_column: "str | list[str] | None" = "label", require_label: bool = True) -> Dataset:
    """Read a CSV (`filename` + label columns) and resolve each row to a file in `audio_dir`.

    `label_column` names one label, several (`"grammar,fluency"` or a list) or `"all"`. With several, a row
    needs at least one of them; the ones it lacks are NaN (that label is trained without the row).

    Missing files, duplicate filenames and empty or non-numeric labels are left out and listed
    in `dataset.problems`; a dataset with no usable row is an error.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: CSV file not found")
    audio_dir = Path(audio_dir) if audio_dir is not None else csv_path.parent
    if not audio_dir.is_dir():
        raise DatasetError(f"{audio_dir}: audio folder not found")
    try:
        # only an empty cell is missing: "NA" or "N/A" is a value (a filename; for a label, a non-numeric one)
        frame = pd.read_csv(csv_path, dtype={"filename": str, "group": str}, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{csv_path}: not a readable CSV ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if "filename" not in frame.columns:
        raise DatasetError(f"{csv_path}: no 'filename' column (columns: {', '.join(frame.columns)})")
    labels = label_columns(label_column, frame) if label_column is not None else []
    absent = [c for c in labels if c not in frame.columns]
    if absent or (label_column is not None and not labels):
        if require_label:
            raise DatasetError(f"{csv_path}: no label column '{absent[0] if absent else label_column}' "
                               f"(columns: {', '.join(frame.columns)}; choose one with --label-column)")
        labels = []
    label_column = labels[0] if labels else None

    index = _index_audio_dir(audio_dir)
    problems: list[Problem] = []
    rows: list[dict] = []
    seen: set[str] = set()
    order: list[str] = []
    every_row: list[str] = []
    for row, record in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
        name = str(record.get("filename") or "").strip()
        if not name or name == "nan":
            problems.append(Problem(f"<line {row}>", "empty filename"))
            continue
        where = name
        if os.path.isabs(name) or ".." in Path(name).parts:  # fine when it still points inside the folder
            where = os.path.relpath(os.path.normpath(audio_dir.resolve() / name), audio_dir.resolve())
            if where == os.curdir or where.startswith(os.pardir) or os.path.isabs(where):
                problems.append(Problem(name, f"outside the audio folder {audio_dir} (absolute path or '..')"))
                continue
        if name in seen:
            if labels:  # for training, one row per file; for scoring, a repeat gets the first row's score
                problems.append(Problem(name, "duplicate filename in the CSV (first row kept)"))
            else:
                every_row.append(name)
            continue
        seen.add(name)
        order.append(name)
        every_row.append(name)
        bad = {}
        for label in labels:
            reason = label_problem(record[label])
            if reason:
                bad[label] = reason
            record[label] = np.nan if reason else float(record[label])
        if labels and len(bad) == len(labels):
            problems.append(Problem(name, "; ".join(f"label '{k}' is {v}" for k, v in bad.items())))
            continue
        try:
            path = resolve_audio(where, audio_dir, index)
        except OSError as exc:  # a name too long for the file system, a permission denied...
            problems.append(Problem(name, f"cannot be opened ({exc.strerror or type(exc).__name__})"))
            continue
        if path is None:
            problems.append(Problem(name, _not_found(where, audio_dir)))
            continue
        if not inside(path, audio_dir):
            problems.append(Problem(name, f"outside the audio folder {audio_dir} (a link leads out of it)"))
            continue
        record["path"] = str(path)
        rows.append(record)
    if not rows:
        detail = "; ".join(f"{shorten(p.filename)}: {p.reason}" for p in problems[:5])
        raise DatasetError(f"{csv_path}: no usable rows ({len(problems)} problems: {detail})")
    table = pd.DataFrame(rows).set_index("filename")
    if "group" in table.columns:
        table["group"] = table["group"].astype(str)
    for label in labels[1:] if len(labels) > 1 else []:
        table[label] = table[label].astype(np.float64)
    return Dataset(table, label_column, problems, order, labels, every_row if len(every_row) > len(order) else None)


@dataclass
class Clip:
    """A clip already decoded to mono 16 kHz float32 (an upload, a microphone), scored like a file."""

    name: str
    audio: np.ndarray
    info: AudioInfo | None = None


def as_dataset(data: Any) -> tuple[Dataset, dict[str, Clip]]:
    """A Dataset (decoded clips get a row each, with an empty path) and the clips by name."""
    if isinstance(data, Dataset):
        return data, {}
    data = list(data)
    if data and all(isinstance(c, Clip) for c in data):
        clips = {c.name: c for c in data}
        table = pd.DataFrame({"path": [""] * len(clips)}, index=pd.Index(list(clips), name="filename"))
        return Dataset(table, order=list(clips)), clips
    return Dataset.from_paths(data), {}
