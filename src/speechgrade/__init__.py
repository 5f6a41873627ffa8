"""speechgrade: score spoken English from audio."""

from . import datasets
from .audio import decode_audio
from .dataset import Dataset, load_dataset
from .errors import SpeechgradeError
from .evaluate import Evaluation
from .extract import extract
from .scorer import Scorer

__version__ = "0.1.0"
__all__ = ["Dataset", "Evaluation", "Scorer", "SpeechgradeError", "datasets", "decode_audio", "extract",
           "load_dataset"]
