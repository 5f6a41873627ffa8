"""`speechgrade demo`: evaluate, train and score on the bundled speechocean762 sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from . import datasets
from .errors import ConfigError
from .render import metrics_table
from .report import write_report
from .scorer import Scorer

HELD_OUT_SPEAKERS = 2


def split_speakers(dataset, n_held_out: int = HELD_OUT_SPEAKERS, seed: int = 0):
    """(train, held-out) datasets: whole speakers are held out, never single clips."""
    speakers = sorted(dataset.table["speaker"].astype(str).unique())
    held = set(np.random.default_rng(seed).choice(speakers, n_held_out, replace=False))
    is_held = dataset.table["speaker"].astype(str).isin(held).to_numpy()
    names = np.array(dataset.filenames)
    return dataset.subset(list(names[~is_held])), dataset.subset(list(names[is_held]))


def run_demo(label: str, output: Path, features: str, regressor: str, trials: int, repeats: int, cache,
             out: Console, console: Console) -> dict:
    """Run the demo and print what it finds; returns the evaluation summary."""
    if label not in datasets.SAMPLE_LABELS:
        raise ConfigError(f"--label must be one of {', '.join(datasets.SAMPLE_LABELS)} (got {label!r})")
    data = datasets.sample(label)
    train_set, held_out = split_speakers(data)
    console.print(f"[bold]speechgrade demo[/]: {len(data)} clips of non-native read English (speechocean762 "
                  f"sample, CC BY 4.0), label [bold]{label}[/] (0-10); {len(held_out)} clips of "
                  f"{HELD_OUT_SPEAKERS} speakers held out; features: {features}; regressor: {regressor}")
    scorer = Scorer(features, regressor, trials=trials, cache=cache, progress=True)
    prepared = scorer.prepare(train_set)
    with console.status("cross-validating (tuning nested in each fold)") as status:
        ev = scorer.evaluate(train_set, folds=5, repeats=repeats, prepared=prepared,
                             progress=lambda m: status.update(f"cross-validating: {m}"))
    out.print(metrics_table(ev.summary, f"{label}: out-of-fold metrics, {len(train_set)} clips, 5 folds x {repeats}"))
    with console.status("training the final model"):
        scorer.fit(train_set, prepared=prepared)
    model_dir = scorer.save(output / "model")
    page = write_report(ev, output / "report", label, ev.importance)
    scores = Scorer.load(model_dir, cache=cache).predict(held_out)
    table = Table(title="held-out speakers (never seen in training)")
    for col in ("clip", "speaker", "text", f"true {label}", "predicted"):
        table.add_column(col)
    for name, value in scores.items():
        row = held_out.table.loc[name]
        table.add_row(name, str(row["speaker"]), str(row["text"])[:40], f"{row[label]:g}", f"{value:.1f}")
    out.print(table)
    err = np.abs(scores.to_numpy() - held_out.y)
    out.print(f"held-out MAE {err.mean():.2f} over {len(err)} clips")
    out.print(f"model: {model_dir}")
    out.print(f"report: {page.resolve()}")
    return ev.summary
