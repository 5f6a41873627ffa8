"""speechgrade: score spoken English from audio.

    import speechgrade as sg
    data = sg.load_dataset("scores.csv", "wav/", label_column="grammar")
    print(sg.Scorer("acoustic,whisper", "ridge").evaluate(data).summary["pearson"])
    sg.Scorer("acoustic,whisper", "ridge").fit(data).save("grammar-model")
    sg.Scorer.load("grammar-model").predict(["answer.m4a"])

Names are imported on first use, so `import speechgrade` (and the CLI's `--help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Clip": "extraction", "Dataset": "dataset", "Evaluation": "evaluate", "Scorer": "scorer", "Scores": "results",
    "SpeechgradeError": "errors", "decode_audio": "audio", "extract": "extraction", "load_dataset": "dataset",
    "default_features": "features", "ScorerConfig": "config", "Runtime": "config",
}
__all__ = [*_EXPORTS, "datasets"]

if TYPE_CHECKING:
    from . import datasets
    from .audio import decode_audio
    from .config import Runtime, ScorerConfig
    from .dataset import Dataset, load_dataset
    from .errors import SpeechgradeError
    from .evaluate import Evaluation
    from .extraction import Clip, extract
    from .features import default_features
    from .results import Scores
    from .scorer import Scorer


def __getattr__(name: str) -> Any:
    if name == "datasets":
        return importlib.import_module(".datasets", __name__)
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    try:  # a submodule (`sg.features`), as a plain package would have it once imported
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError:
        raise AttributeError(f"module 'speechgrade' has no attribute {name!r}") from None
