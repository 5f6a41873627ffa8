"""Stretch scores: the model's score of each stretch of an answer alone, so a rater can hear what pulled it down.

An embedding (the Whisper encoder's pooled states, a self-supervised encoder, a sentence embedding) gives a score no
list of measures explains; what a person can check is *where* the answer sounds weaker. `stretch_scores` cuts the
decoded answer into windows (10 s long, one every 5 s by default; the last one runs to the end of the clip) and
scores each one alone through the Scorer's public path on `Clip`s: the model's own featurizers, model and
post-processing, in an in-memory cache (a window is never written to the feature cache).

How they relate to the clip's score: each is the model's score of that stretch *alone*. The clip's score is in
general not their mean: pooling over the whole clip is not the mean of pooled windows, the model need not be
linear, windows overlap, and scores are clipped to the label scale. `stretch_summary` reports, beside the clip's
score, their duration-weighted mean (each stretch weighted by its length in seconds, as reported). The two are equal
only for a linear model (no rubric, nothing clipped) on features that are means over the samples, with windows
that do not overlap (`hop_s == window_s`): then the clip's features are the duration-weighted mean of the
windows' features (tests/test_stretches.py checks both statements).

Cost is bounded: at most `max_stretches` windows (12), widened (window and hop in proportion) for long clips, so the
work is about twice the clip's own. A clip shorter than one window plus one hop has no stretches (an empty list):
its only stretch would be the clip itself.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .audio import SAMPLE_RATE

WINDOW_S = 10.0
HOP_S = 5.0
MAX_STRETCHES = 12
EMBEDDING_FAMILIES = frozenset({"whisper-encoder", "ssl", "text-embedding"})  # featurizer names


def stretch_bounds(n_samples: int, window_s: float = WINDOW_S, hop_s: float = HOP_S,
                   max_stretches: int = MAX_STRETCHES, sample_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """(start, end) sample indices of each stretch: a window every `hop_s`, the last one running to the end; window
    and hop widened in proportion when more than `max_stretches` would fit; none when fewer than two fit."""
    if not (window_s > 0 and hop_s > 0 and max_stretches >= 2):
        raise ValueError("stretches need window_s > 0, hop_s > 0 and max_stretches >= 2")
    ratio = window_s / hop_s
    hop = max(int(round(hop_s * sample_rate)), 1)
    size = max(int(round(ratio * hop)), 1)
    if n_samples < size + hop:
        return []
    if (n_samples - size) // hop + 1 > max_stretches:
        hop = max(int(math.ceil(n_samples / (max_stretches - 1 + ratio))), 1)
        size = int(round(ratio * hop))
        while (n_samples - size) // hop + 1 > max_stretches:  # rounding: at most a step or two
            hop += 1
            size = int(round(ratio * hop))
    count = (n_samples - size) // hop + 1
    bounds = [(k * hop, k * hop + size) for k in range(count)]
    bounds[-1] = (bounds[-1][0], n_samples)  # the tail (shorter than a hop) joins the last stretch
    return bounds


def _headline(record: dict[str, Any]) -> tuple[str | None, float | None]:
    """(what the score is of, the score) of a record: its headline score (the only label's, or `overall`), else,
    with several labels and no composite, the first label's."""
    scores = record.get("scores") or {}
    if len(scores) == 1 or record.get("overall") is not None:
        return (next(iter(scores), None) if len(scores) == 1 else "overall"), record.get("score")
    first = next(iter(scores), None)
    return first, (scores.get(first) or {}).get("score") if first is not None else None


def stretch_scores(scorer, audio: np.ndarray, window_s: float = WINDOW_S, hop_s: float = HOP_S,
                   max_stretches: int = MAX_STRETCHES) -> list[dict[str, Any]]:
    """The score of each stretch of a decoded clip (16 kHz mono) alone: [{start_s, end_s, score}] (score None where
    a stretch could not be scored, e.g. silent; with several labels each also has `scores` per label)."""
    from .extraction import Clip

    bounds = stretch_bounds(len(audio), window_s, hop_s, max_stretches)
    if not bounds:
        return []
    clips = [Clip(f"stretch-{i}", np.ascontiguousarray(audio[a:b])) for i, (a, b) in enumerate(bounds)]
    # cache=False: an in-memory cache for this call, so windows never fill the feature cache on disk; the local
    # engine: a dozen windows are not worth a cluster, and its workers could not share that memory
    scored = scorer.score(clips, intervals=False, explain=False, details=False, cache=False, progress=False,
                          engine="local", engine_options=None)
    out = []
    for clip, (a, b) in zip(clips, bounds):
        record = scored.record(clip.name)
        item: dict[str, Any] = {"start_s": round(a / SAMPLE_RATE, 3), "end_s": round(b / SAMPLE_RATE, 3),
                                "score": _headline(record)[1]}
        if len(record.get("scores") or {}) > 1:
            item["scores"] = {label: sub.get("score") for label, sub in record["scores"].items()}
        out.append(item)
    return out


def weighted_mean(stretches: list[dict[str, Any]]) -> float | None:
    """The mean of the stretches' scores weighted by their duration (end_s - start_s); None when none is scored."""
    scored = [(s["end_s"] - s["start_s"], s["score"]) for s in stretches if s.get("score") is not None]
    total = sum(d for d, _ in scored)
    return round(sum(d * v for d, v in scored) / total, 4) if total > 0 else None


def used_families(scorer) -> list[str]:
    """The featurizer names behind the feature families the fitted models use (a stacked ensemble that keeps one
    member alone uses that family only)."""
    from .columns import families, prefixes
    from .models.ensemble import EnsembleModel

    names = dict(zip(prefixes(f.name for f in scorer.featurizers_), (f.name for f in scorer.featurizers_)))
    used: dict[str, None] = {}
    for model in scorer.models_.values():
        fitted = model.model
        kept = [f for f, w in fitted.weights().items() if w > 0] if isinstance(fitted, EnsembleModel) \
            else list(families(model.columns))
        used |= {names.get(family, family): None for family in kept}
    return list(used)


def score_story(scorer) -> str | None:
    """In words, where the score comes from when only embeddings drive it (None otherwise: the families'
    contributions say it then)."""
    used = used_families(scorer)
    if not used or not set(used) <= EMBEDDING_FAMILIES:
        return None
    titles = {f.name: f.title or f.name for f in scorer.featurizers_}
    what = " and ".join(dict.fromkeys(titles.get(u, u) for u in used))
    return (f"This score comes from how the answer sounds to the encoder ({what}): the model reads the encoder's "
            f"summary of the whole recording, not measures a person can check one by one. The scores of its "
            f"stretches show where it sounds stronger or weaker; listen to the lowest one.")


def stretch_summary(scorer, stretches: list[dict[str, Any]], record: dict[str, Any],
                    window_s: float = WINDOW_S, hop_s: float = HOP_S) -> dict[str, Any]:
    """What a record carries as `stretches`: the windows, the clip's score beside their duration-weighted mean
    (they differ in general: see this module), the lowest stretch, and the story in words when embeddings drive
    the score."""
    label, clip_score = _headline(record)
    scored = [i for i, s in enumerate(stretches) if s.get("score") is not None]
    lowest = min(scored, key=lambda i: stretches[i]["score"]) if scored else None
    story = score_story(scorer)
    return {"label": label, "window_s": window_s, "hop_s": hop_s, "windows": stretches, "clip_score": clip_score,
            "weighted_mean": weighted_mean(stretches), "lowest": lowest,
            "embedding": story is not None, "story": story,
            "note": "each stretch is scored alone by the same model; the clip's score is not their mean in general "
                    "(pooling over the whole clip is not the mean of pooled windows): their duration-weighted mean "
                    "is shown beside it"}


def stretch_record(scorer, audio: np.ndarray, record: dict[str, Any], window_s: float = WINDOW_S,
                   hop_s: float = HOP_S, max_stretches: int = MAX_STRETCHES) -> dict[str, Any]:
    """`stretch_summary` of a clip's stretches: what the front ends put in the record's `stretches` field."""
    found = stretch_scores(scorer, audio, window_s, hop_s, max_stretches)
    if found:  # the window and hop actually used (widened for long clips); there are two stretches at least
        window_s = round(found[0]["end_s"] - found[0]["start_s"], 3)
        hop_s = round(found[1]["start_s"] - found[0]["start_s"], 3)
    return stretch_summary(scorer, found, record, window_s, hop_s)


def add_stretches(scorer, scores, audio_of: Callable[[str], np.ndarray], window_s: float = WINDOW_S,
                  hop_s: float = HOP_S, max_stretches: int = MAX_STRETCHES):
    """Put each scored input's `stretch_record` into `scores.stretches` (its record's `stretches` field);
    `audio_of(name)` gives the input's decoded clip. Returns `scores`."""
    for name in scores.frame.index:
        if name not in scores.problems:
            scores.stretches[name] = stretch_record(scorer, audio_of(name), scores.record(name), window_s, hop_s,
                                                    max_stretches)
    return scores
