"""Featurizers, registered by name: one class per module."""

from .base import FEATURIZERS, Featurizer, get_featurizer, parse_spec, register_featurizer, split_specs
from . import acoustic, screen, ssl, text, whisper, whisper_encoder  # noqa: F401  (registration)

__all__ = ["FEATURIZERS", "Featurizer", "get_featurizer", "parse_spec", "register_featurizer", "split_specs"]


def default_features(announce=None) -> str:
    """The best feature set this machine can compute offline: whisper + whisper-encoder + text-embedding
    + acoustic, dropping (and saying so once) what an uninstalled extra or missing model rules out."""
    from ..errors import SpeechgradeError

    chosen, missing = [], []
    for spec in ("whisper", "whisper-encoder", "text-embedding", "acoustic"):
        try:
            f = get_featurizer(spec)
            if spec != "acoustic":
                from ..transcribe import resolve_whisper_model

                resolve_whisper_model(getattr(f, "model", None) if spec == "whisper-encoder" else "base")
            chosen.append(spec)
        except SpeechgradeError as exc:
            missing.append(f"{spec} ({exc})")
    if missing and announce:
        announce("default features: " + ", ".join(chosen) + "; not available: " + "; ".join(missing))
    return ",".join(chosen)
