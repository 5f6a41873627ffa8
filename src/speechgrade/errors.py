"""Errors that speechgrade raises: one line that names the file and the reason."""

from __future__ import annotations


class SpeechgradeError(Exception):
    """Base class for every error the CLI turns into a one-line message."""


class AudioError(SpeechgradeError):
    """An audio file could not be decoded or is not usable (names the file)."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DatasetError(SpeechgradeError):
    """A dataset CSV or audio folder cannot be used at all."""


class ModelNotFoundError(SpeechgradeError):
    """Pretrained weights are not available locally and cannot be fetched."""


class BundleError(SpeechgradeError):
    """A saved model bundle is missing, tampered with, or of an unknown format."""


class ConfigError(SpeechgradeError):
    """An option or feature specification is invalid."""
