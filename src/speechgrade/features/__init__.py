"""Featurizers, registered by name: one class per module."""

from .base import FEATURIZERS, Featurizer, get_featurizer, parse_spec, register_featurizer, split_specs
from . import acoustic, ssl  # noqa: F401  (registration)

__all__ = ["FEATURIZERS", "Featurizer", "get_featurizer", "parse_spec", "register_featurizer", "split_specs"]


def default_features(announce=None) -> str:
    """The best feature set this machine can compute offline (acoustic needs nothing extra)."""
    return "acoustic"
