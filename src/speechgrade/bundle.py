"""Model bundles: a folder with manifest.json and native model files. No pickle anywhere."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import BundleError, ConfigError
from .features import FEATURIZERS, Featurizer

FORMAT = "speechgrade-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LIBRARIES = ("numpy", "scikit-learn", "lightgbm", "xgboost-cpu", "catboost", "torch", "transformers",
             "faster-whisper", "ctranslate2")


def library_versions() -> dict[str, str]:
    """Versions of the installed libraries a model may depend on."""
    out = {"python": platform.python_version()}
    for name in ("speechgrade", *LIBRARIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checksum(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_manifest(directory: Path, manifest: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """Complete the manifest (format, versions, file hashes, checksum) and write it."""
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "libraries": library_versions(), **manifest}
    manifest["files"] = {f: _sha256(directory / f) for f in files}
    manifest["checksum"] = _checksum(manifest)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Read and verify a bundle's manifest: format, version, checksum and model-file hashes."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise BundleError(f"{directory}: not a speechgrade model (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not a speechgrade bundle manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format version {version!r} is not supported by this speechgrade "
                          f"(reads version {FORMAT_VERSION}); use the speechgrade version that made it")
    if manifest.get("checksum") != _checksum(manifest):
        raise BundleError(f"{path}: manifest was modified after saving (checksum mismatch)")
    for name, digest in manifest.get("files", {}).items():
        f = directory / name
        if not f.is_file():
            raise BundleError(f"{directory}: model file {name} is missing")
        if _sha256(f) != digest:
            raise BundleError(f"{f}: model file was modified after saving (hash mismatch)")
    return manifest


def featurizers_from_manifest(manifest: dict[str, Any]) -> list[Featurizer]:
    """Rebuild the featurizers a bundle was trained with, or say clearly what is missing."""
    out = []
    for ident in manifest["featurizers"]:
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
