"""What defines a Scorer's model (`ScorerConfig`) and how this run computes it (`Runtime`), as frozen, validated
dataclasses. Each bounded setting declares its range and help once, in its field's metadata: the Python API checks
them and the CLI builds its options from them."""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError

AUGMENT_OPS = ("stretch", "pitch", "noise", "gain", "telephone")  # every augmentation, in its drawing order


def setting(default: Any, help: str, low: float | None = None, high: float | None = None, whole: bool = False,
            open_range: bool = False) -> Any:
    """A dataclass field with its help text and range: `low <= value <= high` (`low < value < high` with
    `open_range`), a whole number with `whole`; None passes when it is the default."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, "whole": whole,
                                            "open": open_range})


def _check_number(name: str, value: Any, meta: dict[str, Any], optional: bool) -> None:
    """Raise a ConfigError naming `name` when `value` is outside the range its metadata declares."""
    if value is None and optional:
        return
    low, high, whole, open_ = meta["low"], meta["high"], meta["whole"], meta["open"]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (not whole or float(value).is_integer())
    ok = ok and (low is None or (value > low if open_ else value >= low))
    ok = ok and (high is None or (value < high if open_ else value <= high))
    if not ok:
        raise ConfigError(f"{name} must be {describe_range(meta)} (got {value!r})")


def describe_range(meta: dict[str, Any]) -> str:
    """The range a field's metadata declares, in words ("a whole number from 2 to 1000")."""
    kind = "a whole number" if meta["whole"] else "a number"
    low, high = meta["low"], meta["high"]
    if low is not None and high is not None:
        return f"{kind} strictly between {low:g} and {high:g}" if meta["open"] else f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind} above {low:g}" if meta["open"] else f"{kind} of at least {low:g}"
    return kind


def _check_ranges(obj: Any) -> None:
    for f in fields(obj):
        if "low" in f.metadata:
            _check_number(f.name, getattr(obj, f.name), f.metadata, optional=f.default is None)


def check_snap(snap: Any) -> None:
    """Raise a ConfigError unless `snap` is None, 'auto' or a positive finite step."""
    if snap is None or snap == "auto":
        return
    if isinstance(snap, bool) or not isinstance(snap, (int, float)) or not math.isfinite(snap) or snap <= 0:
        raise ConfigError(f"snap must be a positive step such as 0.5, or 'auto' (got {snap!r})")



def check_label_range(label_range, y: np.ndarray | None = None, label: str = "label") -> tuple[float, float] | None:
    """The rubric's (min, max) as floats, checked: finite, min < max, and (given labels `y`) holding every label."""
    if label_range is None:
        return None
    try:
        lo, hi = (float(v) for v in label_range)
    except (TypeError, ValueError):
        raise ConfigError(f"--label-range takes two numbers, min,max (got {label_range!r})") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ConfigError(f"--label-range needs finite min < max (got {lo:g},{hi:g})")
    if y is not None and len(y) and (np.min(y) < lo or np.max(y) > hi):
        raise ConfigError(f"label '{label}' has values {np.min(y):g}..{np.max(y):g} outside --label-range {lo:g},{hi:g}")
    return lo, hi

@dataclass(frozen=True)
class ScorerConfig:
    """Everything that defines the model a Scorer fits (JSON-able, recorded in the bundle): `Scorer(**config)`
    rebuilds it. Checked when made: a setting outside its range is a ConfigError naming it."""

    featurizers: Any = field(default="acoustic", metadata={"help": "Comma-separated featurizers, or a list."})
    regressor: Any = field(default="ridgecv", metadata={"help": "A registered regressor, or several to choose from."})
    trials: int = setting(10, "Optuna trials per tuning (0 = default parameters).", 0, 100000, whole=True)
    timeout: float | None = setting(None, "Stop each tuning after this many seconds.", 0, None, open_range=True)
    folds: int = setting(5, "Number of CV folds.", 2, 1000, whole=True)
    pca: int | None = setting(None, "Project standardised features on N principal components.", 1, None, whole=True)
    seed: int = field(default=0, metadata={"help": "Random seed for folds and models."})
    group_duplicates: bool = field(default=True, metadata={"help": "Keep duplicate recordings in one fold."})
    study: str | None = field(default=None, metadata={
        "help": "Optuna storage, e.g. `sqlite:///study.db` (resumable, inspectable)."})
    inner_folds: int = setting(3, "Tuning CV folds inside each outer training fold.", 2, 1000, whole=True)
    coverage: float = setting(0.8, "Target coverage of the prediction intervals (split-conformal).", 0, 1,
                              open_range=True)
    ensemble: str | None = field(default=None, metadata={"help": "`stack`, `mean`, `auto` or None."})
    calibrate: bool = field(default=False, metadata={
        "help": "Map raw scores through an isotonic fit of out-of-fold predictions to labels."})
    snap: float | str | None = field(default=None, metadata={
        "help": "Round scores to the label grid: a step such as `0.5`, or `auto` (the smallest gap between "
                "labels). Fitted inside the folds."})
    rescale: bool = field(default=False, metadata={
        "help": "Map scores linearly to the raters' mean and SD (fitted on out-of-fold predictions inside the "
                "folds), then clip to the scale and snap: the number selected at a cut score comes close to the "
                "raters'. Ignored with --calibrate (the isotonic map already maps to the labels)."})
    abstain: bool = field(default=True, metadata={"help": "Fit abstain rules on the screen measures."})
    augment: int = setting(0, "Add N augmented copies of each training clip (time stretch, pitch, noise, gain, "
                              "telephone), kept in their source's fold; never at prediction.", 0, 20, whole=True)
    augment_ops: Sequence[str] = field(default=AUGMENT_OPS, metadata={
        "help": "Which augmentations the copies draw from (comma-separated)."})
    overall: Any = field(default=None, metadata={"help": "`mean` or weights per label: the composite."})
    label_range: Any = field(default=None, metadata={
        "help": "The rubric's scale, `min,max` (e.g. `1,5`): scores are clipped to it and the bundle, page and "
                "intervals use it. Default: the lowest and highest training labels."})
    asr: str | None = field(default=None, metadata={"help": "The Whisper model of every featurizer that uses one."})

    def __post_init__(self) -> None:
        # sequences as tuples: a configuration compares equal to the one its JSON form rebuilds
        object.__setattr__(self, "augment_ops", tuple(self.augment_ops))
        if isinstance(self.label_range, list):
            object.__setattr__(self, "label_range", tuple(self.label_range))
        _check_ranges(self)
        check_snap(self.snap)
        check_label_range(self.label_range)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the bundle's `config`): featurizer objects by their spec, tuples as lists."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        feats = self.featurizers
        out["featurizers"] = feats if isinstance(feats, str) else [f if isinstance(f, str) else f.spec for f in feats]
        out["augment_ops"] = list(self.augment_ops)
        out["label_range"] = None if self.label_range is None else list(self.label_range)
        return out


@dataclass(frozen=True)
class Runtime:
    """How this process computes features (not part of the model): the cache, the progress bar, the batch size
    and the extraction engine with its options."""

    cache: Any = None
    progress: bool = False
    batch_size: int = setting(8, "Clips per featurizer batch.", 1, 100000, whole=True)
    engine: str = "local"
    engine_options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_ranges(self)

    def to_dict(self) -> dict[str, Any]:
        """The settings as keyword arguments."""
        return asdict(self)


CONFIG_FIELDS = {f.name: f for f in fields(ScorerConfig)}
RUNTIME_FIELDS = {f.name: f for f in fields(Runtime)}


def default_of(name: str) -> Any:
    """The default value of a ScorerConfig (or Runtime) field."""
    f = CONFIG_FIELDS.get(name) or RUNTIME_FIELDS[name]
    return f.default if f.default is not MISSING else f.default_factory()


def split_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments split into the model's configuration and the runtime's; an unknown name is a TypeError
    (as a misspelt keyword argument always was)."""
    unknown = [k for k in settings if k not in CONFIG_FIELDS and k not in RUNTIME_FIELDS]
    if unknown:
        raise TypeError(f"Scorer() got an unexpected keyword argument '{unknown[0]}'")
    return ({k: v for k, v in settings.items() if k in CONFIG_FIELDS},
            {k: v for k, v in settings.items() if k in RUNTIME_FIELDS})
