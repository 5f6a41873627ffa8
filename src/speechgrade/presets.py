"""Named recipes: features, regressor and ensemble in one word (`--preset large`, `sg.Scorer(**preset(...))`).

`large` is the public best recipe for spoken-grammar scoring: verbatim transcripts from a large Whisper
(fluency, language and grammar measures), chosen middle-to-top layers of two large frozen encoders
(Whisper-large-v3 blocks 29-32, WavLM-large 18-23) pooled by mean and std, one ridge per view, blended by
a non-negative stack fitted on out-of-fold predictions. It needs the weights (a model hub or local copies)
and, in practice, a GPU; see the README for memory and time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Preset:
    """A recipe: the `--features` spec, the regressor and the ensemble method."""

    name: str
    features: str
    regressor: str
    ensemble: str

    def scorer_options(self) -> dict[str, Any]:
        """Keyword arguments for `Scorer(...)`."""
        return {"featurizers": self.features, "regressor": self.regressor, "ensemble": self.ensemble}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return asdict(self)


def large(asr: str = "large-v3", encoder: str = "openai/whisper-large-v3", ssl: str = "microsoft/wavlm-large",
          encoder_layers: str = "29-32", ssl_layers: str = "18-23") -> Preset:
    """The large recipe; each model can be a hub id or a local folder (`asr`: a CTranslate2 Whisper for
    transcripts; `encoder`, `ssl`: Hugging Face encoders whose `layers` are hidden-state indices)."""
    views = [f"whisper:{asr}", f"grammar?asr={asr}",
             f"ssl:{encoder}?layers={encoder_layers}&pooling=mean+std",
             f"ssl:{ssl}?layers={ssl_layers}&pooling=mean+std"]
    return Preset("large", ",".join(views), "ridgecv", "stack")


def default() -> Preset:
    """What `Scorer()` and the CLI use with no preset: the default feature set, ridgecv, the automatic ensemble."""
    from .features import default_features

    return Preset("default", default_features(), "ridgecv", "auto")


PRESETS = {"large": large, "default": default}


def preset(name: str, **models: str) -> Preset:
    """The preset called `name` (`large` takes model overrides: asr, encoder, ssl, encoder_layers, ssl_layers)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    try:
        return PRESETS[name](**models)
    except TypeError as exc:
        raise ConfigError(f"preset '{name}': {exc}") from None


def feature_spec(features: str | None = None, asr: str | None = None, announce=None) -> str:
    """The feature spec to use: the one given, else the best set installed (said through `announce`); with `asr`,
    every featurizer that uses Whisper uses that model."""
    from .features import as_featurizers, default_features

    specs = features or default_features(announce=announce)
    return specs if asr is None else ",".join(f.spec for f in as_featurizers(specs, asr))


def scorer_options(features: str | None = None, preset_name: str | None = None, asr: str | None = None,
                   ensemble: str | None = "auto", announce=None) -> dict[str, Any]:
    """A Scorer's `featurizers` and `ensemble` from a command's choices: a preset's recipe (its ensemble unless
    another than `auto` is given; `asr` sets the large recipe's Whisper) or the features given; `none` is no
    ensemble."""
    if preset_name is not None:
        if features is not None:
            raise ConfigError("give --preset or --features, not both")
        recipe = preset(preset_name, **({"asr": asr} if asr and preset_name == "large" else {}))
        features = recipe.features
        ensemble = recipe.ensemble if ensemble in (None, "auto") else ensemble
    return {"featurizers": feature_spec(features, asr, announce), "ensemble": None if ensemble == "none" else ensemble}
