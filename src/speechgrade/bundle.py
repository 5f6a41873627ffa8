"""Model bundles: a folder with manifest.json and native model files. No pickle anywhere."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import platform
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import BundleError, ConfigError, SpeechgradeError
from .card import write_card
from .output import recover_folder, replaceable_files, replaced_folder

log = logging.getLogger("speechgrade.bundle")
from .features import FEATURIZERS, Featurizer

KEY_ENV = "SPEECHGRADE_BUNDLE_KEY"  # a secret: bundles are signed with it, and only signed ones load
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_FILE_BYTES = 4 * 2**30
FORMAT = "speechgrade-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MULTI_LABEL = "multi-label"  # the manifest `kind` of a bundle with several labels
BASE_LIBRARIES = ("numpy", "scikit-learn")


def library_versions(libraries: Iterable[str] = ()) -> dict[str, str]:
    """Versions of speechgrade, numpy, scikit-learn and the given libraries (those installed)."""
    out = {"python": platform.python_version()}
    for name in dict.fromkeys(("speechgrade", *BASE_LIBRARIES, *libraries)):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def bundle_key(key: "str | bytes | None" = None) -> bytes | None:
    """The signing key: the one given, else $SPEECHGRADE_BUNDLE_KEY, else None (unsigned bundles)."""
    if key is None and KEY_ENV in os.environ and not os.environ[KEY_ENV]:
        log.warning("%s is set but empty: bundles are neither signed nor checked", KEY_ENV)
    key = key if key is not None else os.environ.get(KEY_ENV) or None
    return key.encode() if isinstance(key, str) else key


def _signature(checksum: str, key: bytes) -> str:
    return hmac.new(key, checksum.encode(), hashlib.sha256).hexdigest()


def _checksum(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k not in ("checksum", "signature")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_manifest(directory: Path, manifest: dict[str, Any], files: list[str],
                   libraries: Iterable[str] = ()) -> dict[str, Any]:
    """Complete the manifest (format, versions, file hashes, checksum) and write it."""
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "libraries": library_versions(libraries), **manifest}
    manifest["files"] = {f: _sha256(directory / f) for f in files}
    manifest["checksum"] = _checksum(manifest)
    key = bundle_key()
    if key:
        manifest["signature"] = _signature(manifest["checksum"], key)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def check_output_folder(directory: str | os.PathLike) -> None:
    """Refuse a bundle folder that exists and is neither empty nor a speechgrade model: a bundle is replaced
    whole, so any other folder (the audio folder, a project) would be lost."""
    d = Path(directory)
    entries = set(replaceable_files(d, "model") or ())
    if not entries:
        return
    if MANIFEST not in entries:
        raise ConfigError(f"{d} holds {len(entries)} files and no speechgrade model: choose a new or empty folder "
                          f"(a model folder is replaced whole)")
    try:
        listed = set(json.loads((d / MANIFEST).read_text(encoding="utf-8")).get("files") or {})
    except (ValueError, UnicodeDecodeError, AttributeError, OSError):
        listed = set()
    other = sorted(entries - listed - {MANIFEST})
    if other:
        raise ConfigError(f"{d} holds files that are not part of its model ({other[0]}, {len(other)} in all): "
                          f"choose a new or empty folder (a model folder is replaced whole)")


@contextmanager
def replacing(directory: str | os.PathLike) -> Iterator[Path]:
    """A new folder beside `directory` to write a bundle into, swapped in whole by the one writer (output.py): a
    reader sees the old bundle or the whole new one, never a mixture; a swap a crash left half done is finished
    first, keeping a complete model, and said."""
    with replaced_folder(directory, check=check_output_folder, on_recover=log.warning, complete=_complete) as tmp:
        yield tmp


def _complete(directory: Path) -> bool:
    """Whether `directory` holds a whole, verified bundle."""
    try:
        _verified_manifest(directory, None)
        return True
    except SpeechgradeError:
        return False


def recover(directory: str | os.PathLike) -> None:
    """When a crash interrupted the swap of a bundle, put the complete copy back in place (and say so)."""
    said = recover_folder(directory, _complete)
    if said:
        log.warning(said)


def _contents(directory: Path) -> dict[str, Path]:
    """Every file in a bundle folder by its relative name; links and special files are refused."""
    found = {}
    for root, dirs, names in os.walk(directory, followlinks=False):
        for name in dirs + names:
            path = Path(root) / name
            rel = path.relative_to(directory).as_posix()
            if path.is_symlink():
                raise BundleError(f"{directory}: {rel} is a symbolic link; bundles hold plain files only")
            if name in names:
                if not path.is_file():
                    raise BundleError(f"{directory}: {rel} is not a plain file")
                found[rel] = path
    return found


def read_manifest(directory: str | Path, key: "str | bytes | None" = None) -> dict[str, Any]:
    """Read and verify a bundle's manifest: format, version, checksum, signature (when a key is set), and
    exactly the files it lists, with their hashes: an extra file, a link or a missing file is refused. A bundle a
    crash left beside its folder mid-swap is restored first."""
    recover(directory)
    return _verified_manifest(Path(directory), key)


def _verified_manifest(directory: Path, key: "str | bytes | None") -> dict[str, Any]:
    if directory.is_symlink() and directory.resolve().is_dir():  # a link to a model folder (`current -> v3`)
        directory = directory.resolve()
    path = directory / MANIFEST
    if directory.is_symlink() or not path.is_file() or path.is_symlink():
        raise BundleError(f"{directory}: not a speechgrade model (no {MANIFEST})")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{path}: {path.stat().st_size / 2**20:.0f} MB is too large for a manifest")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{path}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not a speechgrade bundle manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format version {version!r} is not supported by this speechgrade "
                          f"(reads version {FORMAT_VERSION}); use the speechgrade version that made it")
    if manifest.get("checksum") != _checksum(manifest):
        raise BundleError(f"{path}: manifest was modified after saving (checksum mismatch)")
    key = bundle_key(key)
    if not key and manifest.get("signature"):
        log.warning("%s is signed, but %s is not set here: its signature was not checked", directory, KEY_ENV)
    if key:
        signature = manifest.get("signature")
        if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(manifest["checksum"], key)):
            raise BundleError(f"{path}: not signed with this key ({KEY_ENV}); the bundle may have been altered")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise BundleError(f"{path}: no valid list of model files")
    present = _contents(directory)
    extra = sorted(set(present) - set(files) - {MANIFEST})
    if extra:
        raise BundleError(f"{directory}: {extra[0]} is not part of the bundle ({len(extra)} unlisted files)")
    for name, digest in files.items():
        f = present.get(name)
        if f is None:
            raise BundleError(f"{directory}: model file {name} is missing")
        if f.stat().st_size > MAX_FILE_BYTES:
            raise BundleError(f"{f}: {f.stat().st_size / 2**30:.1f} GB is too large for a model file")
        if _sha256(f) != digest:
            raise BundleError(f"{f}: model file was modified after saving (hash mismatch)")
    return manifest


def _number(value: Any, finite: bool = True) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return ok and (math.isfinite(value) or not finite) and not math.isnan(value)


def manifest_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with the types of a manifest's fields (a bundle edited by hand or by an attacker), or None."""
    label = data.get("label")
    if not isinstance(label, dict) or not isinstance(label.get("name"), str):
        return "'label' must be an object with a text 'name'"
    if not (_number(label.get("min")) and _number(label.get("max")) and label["min"] <= label["max"]):
        return f"'label' needs finite numbers min <= max (got {label.get('min')!r}, {label.get('max')!r})"
    feats = data.get("featurizers")
    if not isinstance(feats, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str)
                                              and isinstance(f.get("config", {}), dict) for f in feats):
        return "'featurizers' must be a list of objects with a 'name' and a 'config'"
    columns = data.get("feature_columns")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return "'feature_columns' must be a list of names"
    for key in ("model", "config"):
        if not isinstance(data.get(key, {}), dict):
            return f"'{key}' must be an object"
    for key in ("tuning", "interval", "rubric", "abstain", "cv_metrics", "training_data"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"'{key}' must be an object or null"
    interval = data.get("interval") or {}
    coverage = interval.get("coverage")
    if coverage is not None and not (_number(coverage) and 0 < coverage < 1):
        return f"'interval.coverage' must lie between 0 and 1 (got {coverage!r})"
    if "halfwidth" in interval and not (_number(interval["halfwidth"], finite=False) and interval["halfwidth"] >= 0):
        return f"'interval.halfwidth' must be a number >= 0 (got {interval['halfwidth']!r})"
    rubric = data.get("rubric") or {}
    snap = rubric.get("snap")
    if snap is not None and snap != "auto" and not (_number(snap) and snap > 0):
        return f"'rubric.snap' must be a positive step, 'auto' or null (got {snap!r})"
    if "calibrate" in rubric and not isinstance(rubric["calibrate"], bool):
        return f"'rubric.calibrate' must be true or false (got {rubric['calibrate']!r})"
    return None


@dataclass
class Manifest:
    """What a bundle's manifest.json holds: the model's description; `meta` is what saving adds (format,
    versions, file hashes, checksum)."""

    label: dict[str, Any]
    featurizers: list[dict[str, Any]]
    feature_columns: list[str]
    model: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    tuning: dict[str, Any] | None = None
    interval: dict[str, Any] | None = None
    rubric: dict[str, Any] | None = None
    abstain: dict[str, Any] | None = None
    cv_metrics: dict[str, Any] | None = None
    training_data: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as one JSON object (meta's keys at the top level)."""
        body = asdict(self)
        return {**body.pop("meta"), **body}

    def save(self, directory: str | Path, files: list[str], libraries: Iterable[str] = ()) -> "Manifest":
        """Write manifest.json beside the model files it lists; `meta` gets what was written."""
        body = {k: v for k, v in self.to_dict().items() if k not in self.meta}
        written = write_manifest(Path(directory), body, files, libraries)
        self.meta = {k: v for k, v in written.items() if k not in body}
        return self

    @classmethod
    def load(cls, directory: str | Path) -> "Manifest":
        """Read and verify a bundle's manifest (see `read_manifest`)."""
        return cls.from_dict(read_manifest(directory), directory)

    @classmethod
    def from_dict(cls, data: dict[str, Any], directory: str | Path) -> "Manifest":
        """One label's manifest from a verified manifest body, its field types checked (`directory` names it)."""
        names = {f.name for f in fields(cls)} - {"meta"}
        missing = {"label", "featurizers", "feature_columns", "model"} - set(data)
        if missing:
            raise BundleError(f"{directory}: manifest lacks {', '.join(sorted(missing))}")
        problem = manifest_problem(data)
        if problem:
            raise BundleError(f"{directory}: manifest field {problem}")
        return cls(**{k: v for k, v in data.items() if k in names},
                   meta={k: v for k, v in data.items() if k not in names})


def write_bundle(directory: Path, members: dict[str, tuple[Manifest, Callable[[Path], list[str]], list[str]]],
                 libraries: Iterable[str] = (), overall: dict[str, float] | None = None) -> "Manifest | dict[str, Any]":
    """Write each label's model files (`members`: label -> its manifest, a function writing its files into a folder,
    and its libraries), the model card and the manifest into `directory`: one label's manifest at the root, or
    (kind `multi-label`) one manifest listing each label's files, kept in `label-<i>/`. Returns what was written."""
    libraries = list(libraries)
    if len(members) == 1:
        manifest, save_files, libs = next(iter(members.values()))
        libraries += libs
        files = save_files(directory)
        files.append(write_card(directory, manifest.to_dict(), library_versions(libraries)))
        return manifest.save(directory, files, libraries)
    body_members, files = {}, []
    for i, (label, (manifest, save_files, libs)) in enumerate(members.items()):
        sub = f"label-{i}"
        files += [f"{sub}/{f}" for f in save_files(directory / sub)]
        body_members[label] = {"folder": sub, **manifest.to_dict()}
        libraries += libs
    body = {"kind": MULTI_LABEL, "labels": list(members), "overall": overall, "members": body_members}
    files.append(write_card(directory, body, library_versions(libraries)))
    return write_manifest(directory, body, files, dict.fromkeys(libraries))


def bundle_members(body: dict[str, Any], directory: str | Path) -> dict[str, tuple[Manifest, Path]]:
    """Each label's checked manifest and the folder of its model files, from a verified manifest `body` (one
    label, or a `multi-label` one whose members must stay inside the bundle)."""
    directory = Path(directory)
    if body.get("kind") != MULTI_LABEL:
        manifest = Manifest.from_dict(body, directory)
        return {str(manifest.label["name"]): (manifest, directory)}
    try:
        out = {}
        for label in list(body["labels"]):
            member = dict(body["members"][label])
            folder = directory / str(member.pop("folder"))
            if not folder.resolve().is_relative_to(directory.resolve()):
                raise BundleError(f"{directory}: label '{label}' points outside the bundle")
            problem = manifest_problem(member)
            if problem:
                raise BundleError(f"{directory}: label '{label}': manifest field {problem}")
            names = {f.name for f in fields(Manifest)} - {"meta"}
            out[label] = (Manifest(**{k: v for k, v in member.items() if k in names}), folder)
        return out
    except SpeechgradeError:
        raise
    except Exception as exc:  # a manifest of the wrong shape: refused with a reason, never a crash
        raise BundleError(f"{directory}: malformed multi-label manifest ({type(exc).__name__}: {exc})") from None


def featurizers_from_manifest(manifest: "Manifest | dict[str, Any]") -> list[Featurizer]:
    """Rebuild the featurizers a bundle was trained with, or say clearly what is missing."""
    out = []
    idents = manifest.featurizers if isinstance(manifest, Manifest) else manifest["featurizers"]
    for ident in idents:
        name = ident["name"]
        cls = FEATURIZERS.get(name)
        if cls is None:
            raise BundleError(f"this model needs the '{name}' featurizer, which this speechgrade does not have")
        if str(cls.version) != str(ident["version"]):
            raise BundleError(f"this model was trained with {name} featurizer version {ident['version']}, "
                              f"this speechgrade has version {cls.version}: its features would differ")
        try:
            cls.check_available()
            out.append(cls.from_config(ident["config"]))
        except ConfigError as exc:
            raise BundleError(f"this model needs the '{name}' featurizer: {exc}") from None
    return out


def load_model(directory: str | Path, manifest: Manifest):
    """The fitted model a bundle holds, in its libraries' own formats (a ScoringModel or an EnsembleModel)."""
    from .models import ScoringModel
    from .models.ensemble import EnsembleModel

    m, columns = manifest.model, manifest.feature_columns
    try:
        if m.get("ensemble"):
            return EnsembleModel.load(Path(directory), m["regressor"], m["params"], columns, m["pca"], m["seed"])
        return ScoringModel.load(Path(directory), m["regressor"], m["params"], m["pca"], m["seed"], columns)
    except SpeechgradeError:
        raise
    except Exception as exc:  # whatever the files hold, a refusal with a reason, never a crash
        raise BundleError(f"{directory}: the model files cannot be loaded ({type(exc).__name__}: {exc})") from None


def scorer_config(manifest: Manifest, rubric: dict[str, Any], coverage: float | None, abstain: bool) -> dict[str, Any]:
    """The Scorer's constructor arguments as saved; bundles from before a setting existed get it from the rest
    of the manifest (older ones wrote `tuning_folds` for `folds`)."""
    m, config = manifest.model, dict(manifest.config)
    if "tuning_folds" in config:
        config["folds"] = config.pop("tuning_folds")
    found = {"featurizers": [f["spec"] for f in manifest.featurizers], "regressor": m["regressor"], "pca": m["pca"],
             "seed": m["seed"], "ensemble": m.get("ensemble"), "calibrate": rubric["calibrate"],
             "snap": rubric["snap"], "abstain": abstain, "coverage": 0.8 if coverage is None else coverage}
    return found | config


def describe(manifest: Manifest) -> str:
    """The model in words a user reads: what it scores, from what, how, and how well it did in CV."""
    from .models import REGRESSORS

    label = manifest.label
    sources = [getattr(FEATURIZERS.get(f["name"]), "title", "") or f["name"] for f in manifest.featurizers]
    regressors = manifest.model["regressor"]
    names = sorted(set(regressors.values())) if isinstance(regressors, dict) else [regressors]
    how = " and ".join(getattr(REGRESSORS.get(n), "title", "") or n for n in names)
    if manifest.model.get("ensemble"):
        how = f"one model per source ({how}), stacked"
    text = f"Scores {label['name']} on {label['min']:g}-{label['max']:g} from {', '.join(dict.fromkeys(sources))}; {how}"
    n = (manifest.training_data or {}).get("n")
    if n:
        text += f"; trained on {n} clips"
    cv = manifest.cv_metrics or {}
    if "pearson" in cv:
        text += f"; cross-validated r {cv['pearson']:.2f}, RMSE {cv['rmse']:.2f}"
    return text + "."
