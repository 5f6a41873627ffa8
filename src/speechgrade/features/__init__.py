"""Featurizers, registered by name: one class per module, one import line here registers it."""

from .base import (FEATURIZERS, Featurizer, as_featurizers, get_featurizer, parse_spec, register_featurizer,
                   split_specs)
from . import acoustic, grammar, screen, ssl, text, whisper, whisper_encoder  # noqa: F401  (registration)

__all__ = ["FEATURIZERS", "Featurizer", "as_featurizers", "default_features", "get_featurizer", "parse_spec",
           "register_featurizer", "split_specs"]


def default_features(announce=None) -> str:
    """The best feature set this machine can compute offline: every featurizer with a `default_rank`, in rank
    order, dropping (and saying so once) what an uninstalled extra or missing model rules out."""
    from ..errors import SpeechgradeError

    chosen, missing = [], []
    ranked = sorted((cls for cls in FEATURIZERS.values() if cls.default_rank is not None),
                    key=lambda cls: cls.default_rank)
    for cls in ranked:
        try:
            cls.check_default()
            chosen.append(cls.name)
        except SpeechgradeError as exc:
            missing.append(f"{cls.name} ({exc})")
    if missing and announce:
        announce("default features: " + ", ".join(chosen) + "; not available: " + "; ".join(missing))
    return ",".join(chosen)
