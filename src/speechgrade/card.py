"""The model card every bundle carries (`README.md`, Hugging Face's layout): what the model scores and from
what, its intended use and its limits, the training data, the out-of-fold figures with their intervals (or a
plain note that they were never measured), the abstain rules and the library versions."""

from __future__ import annotations

import os
from typing import Any

from .features import FEATURIZERS
from .usertext import code, fence, markdown, yaml_block

CARD = "README.md"


def _f(value: Any, digits: int = 3) -> str:
    return "n/a" if not isinstance(value, (int, float)) or value != value else f"{value:.{digits}f}"


def _ci(pair: Any, digits: int = 3) -> str:
    return f" [{_f(pair[0], digits)}, {_f(pair[1], digits)}]" if isinstance(pair, (list, tuple)) and len(pair) == 2 else ""


def _label_section(m: dict[str, Any]) -> list[str]:
    """Training data and evaluation of one label, from its manifest."""
    label, train = m["label"], m.get("training_data") or {}
    lines = [f"### {markdown(label['name'])}", "",
             f"- Scale: {label['min']:g} to {label['max']:g}; scores are clipped to it."]
    if train:
        dist = train.get("label_distribution") or {}
        lines.append(f"- Training clips: {train.get('n', 'n/a')}" +
                     (f" from {train['groups']} groups (speakers and duplicate recordings kept together)"
                      if train.get("groups") else "") +
                     (f"; {train['augmented_copies']} augmented copies" if train.get("augmented_copies") else ""))
        if dist:
            counts = dist.get("counts")
            lines.append(f"- Labels: mean {_f(dist.get('mean'), 2)}, std {_f(dist.get('std'), 2)}, "
                         f"range {_f(dist.get('min'), 2)}-{_f(dist.get('max'), 2)}" +
                         ("; counts " + ", ".join(f"{markdown(k)}: {markdown(v)}" for k, v in counts.items()) if counts else ""))
        dups = train.get("duplicates")
        if dups is not None:
            lines.append(f"- Duplicate recordings found and grouped: {len(dups) if isinstance(dups, list) else dups}")
        if train.get("fingerprint"):
            lines.append(f"- Training data fingerprint: {code(train['fingerprint'])}")
    cv = m.get("cv_metrics")
    lines.append("")
    if not cv:
        lines += ["**Not measured.** This model was trained without a cross-validated evaluation, so nothing here",
                  "says how accurate it is. Run `speechgrade train ... --evaluate` (one extraction for both) or",
                  "`speechgrade evaluate` with the same options before relying on it.", ""]
        return lines
    lines += [f"Out-of-fold figures: {cv.get('folds')}-fold grouped cross-validation repeated {cv.get('repeats')} "
              f"times on {cv.get('n')} clips, tuning inside each training fold (mean over repeats; 95% bootstrap "
              f"intervals over clips):", "",
              "| metric | model | predicting the mean |", "|---|---:|---:|"]
    mean = (cv.get("baselines") or {}).get("mean", {})
    rows = [("Pearson r", "pearson", "pearson_ci95"), ("RMSE", "rmse", "rmse_ci95"), ("MAE", "mae", None),
            ("Spearman rho", "spearman", None), ("QWK (label step)", "qwk", None), ("exact agreement", "exact", None),
            ("adjacent agreement", "adjacent", None), ("spread ratio", "spread_ratio", None)]
    for name, key, ci in rows:
        if key in cv:
            lines.append(f"| {name} | {_f(cv[key])}{_ci(cv.get(ci)) if ci else ''} | "
                         f"{_f(mean.get(key)) if key in mean and key not in ('pearson', 'spearman') else ''} |")
    if "interval_coverage" in cv:
        lines.append(f"| {cv.get('interval_coverage_target', 0.8):.0%} interval coverage | "
                     f"{_f(cv['interval_coverage'])} (width {_f(cv.get('interval_width'), 2)}) | |")
    gain = cv.get("against_mean")
    if isinstance(gain, dict) and gain.get("verdict"):
        lines += ["", markdown(gain["verdict"])]
    return lines + [""]


def evaluation_card(summary: dict[str, Any], config: dict[str, Any], label: str, y: Any) -> str:
    """The card of what `evaluate` measured (no model is saved: no abstain rules or interval of a bundle)."""
    import numpy as np

    y = np.asarray(y, np.float64)
    lo, hi = config.get("label_range") or (float(y.min()), float(y.max()))
    specs = config.get("featurizers")
    specs = specs.split(",") if isinstance(specs, str) else list(specs or [])
    body = {"label": {"name": label, "min": lo, "max": hi},
            "featurizers": [{"spec": s, "name": s.split(":")[0].split("?")[0]} for s in specs],
            "model": {"regressor": config.get("regressor"), "ensemble": (summary.get("ensemble") or {}).get("method")},
            "cv_metrics": summary, "training_data": {"n": summary.get("n")}}
    return model_card(body, evaluation=True)


def model_card(body: dict[str, Any], libraries: dict[str, str] | None = None, evaluation: bool = False) -> str:
    """The card as Markdown, from a bundle's manifest (one label, or `multi-label` with `members`); with
    `evaluation`, the card of a cross-validated configuration (`evaluate --report`), not of a saved model."""
    members = [m for m in body["members"].values()] if body.get("kind") == "multi-label" else [body]
    first = members[0]
    names = [m["label"]["name"] for m in members]
    shown = ", ".join(markdown(n) for n in names)  # a label is a CSV header: text, never Markdown or HTML
    feats = first.get("featurizers") or []
    sources = [f"{code(f.get('spec', f.get('name')))}: {markdown(getattr(FEATURIZERS.get(f.get('name')), 'title', ''))}"
               for f in feats]
    model = first.get("model") or {}
    regressor = model.get("regressor")
    regressor = ", ".join(sorted(set(regressor.values()))) if isinstance(regressor, dict) else regressor
    libraries = libraries or body.get("libraries") or {}
    measured = all(m.get("cv_metrics") for m in members)
    front = ["---", *yaml_block(_front_matter(names, members, measured)), "---"]
    lines = front + ["", f"# speechgrade {'evaluation' if evaluation else 'model'}: {shown}", "",
                     f"Scores {shown} of spoken English answers from the recording alone.", "",
                     "## Model details", "",
                     *[f"- Feature source {s}" for s in sources],
                     f"- Regressor: {markdown(regressor)}" + (f", one per feature family, {markdown(model['ensemble'])}ed"
                                                     if model.get("ensemble") else ""),
                     f"- Features: {len(first.get('feature_columns') or [])} columns",
                     f"- Written by speechgrade {markdown(libraries.get('speechgrade', 'n/a'))}", "",
                     "## Intended use", "",
                     "One input, beside trained human raters, to decisions about spoken English answers like the",
                     "training clips (same kind of task, prompts, speakers and recording conditions). Report the",
                     "score with its interval; review flagged (abstained) clips by hand.", "",
                     "## Out of scope and limits", "",
                     "- Not the sole basis of a hiring, admission or placement decision.",
                     "- Not validated for other languages, tasks, age groups, accents or recording set-ups than the",
                     "  training data's; accuracy there is unknown.",
                     "- Transcripts come from Whisper, which tidies speech (drops fillers, fixes small slips): grammar",
                     "  errors it did not write down cannot count.",
                     "- Check that it treats groups alike on your own data: `speechgrade evaluate ... --audit-column",
                     "  gender,age_band --cut-score S` (standardised differences and impact ratios per group).",
                     "- Predictions shrink towards the middle of the scale; see the spread ratio below.", "",
                     "## Training data and evaluation", ""]
    for m in members:
        lines += _label_section(m)
    if body.get("overall"):
        lines += [f"Composite `overall`: weights {markdown(body['overall'])}.", ""]
    if evaluation:
        return "\n".join(lines + ["This card describes a cross-validated configuration; `speechgrade train ... "
                                   "--evaluate` saves the model with these figures in its own card."]) + "\n"
    abstain = first.get("abstain")
    lines += ["## Abstaining", ""]
    if abstain:
        lines += ["Clips are flagged, not silently scored, when the screen measures say they cannot be scored",
                  "(too little speech, noise, not English when the model checks the language, unreadable audio):",
                  "", fence(_json(abstain), "json"), ""]
    else:
        lines += ["This model does not flag unscoreable clips.", ""]
    interval = first.get("interval") or {}
    if interval.get("coverage"):
        lines += ["## Uncertainty", "",
                  f"Each score has a split-conformal {interval['coverage']:.0%} interval (half-width "
                  f"{_f(interval.get('halfwidth'), 2)}) from out-of-fold residuals.", ""]
    lines += ["## How to use", "", "```bash", "speechgrade predict MODEL answers.csv --audio-dir wav/ --out scores.csv",
              "speechgrade serve MODEL --port 8000", "```", "", "## Library versions", ""]
    lines += [f"- {markdown(k)}: {markdown(v)}" for k, v in sorted(libraries.items())] or ["- n/a"]
    return "\n".join(lines) + "\n"


def _front_matter(names: list[str], members: list[dict[str, Any]], measured: bool) -> dict[str, Any]:
    """Hugging Face's metadata: tags, and with out-of-fold figures a `model-index` (written by `yaml_block`, so a
    label such as `Task 1: grammar` or one with a newline stays one string)."""
    front: dict[str, Any] = {"library_name": "speechgrade",
                             "tags": ["speech", "audio", "spoken-language-assessment", "regression"], "language": ["en"]}
    if measured:
        results = [{"task": {"type": "audio-regression"},
                    "dataset": {"name": "training data", "type": m["label"]["name"]},
                    "metrics": [{"type": "pearsonr", "value": _number(m["cv_metrics"].get("pearson"))},
                                {"type": "rmse", "value": _number(m["cv_metrics"].get("rmse"))}]} for m in members]
        front["model-index"] = [{"name": ", ".join(names), "results": results}]
    return front


def _number(value: Any) -> float | None:
    return round(float(value), 3) if isinstance(value, (int, float)) and value == value else None


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=1, default=str)


def write_card(directory: "str | os.PathLike", body: dict[str, Any], libraries: dict[str, str] | None = None) -> str:
    """Write the model card of a manifest `body` beside its model files; its name (a file the manifest lists and
    hashes)."""
    from pathlib import Path

    (Path(directory) / CARD).write_text(model_card(body, libraries), encoding="utf-8")
    return CARD
