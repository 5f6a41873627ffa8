"""`speechgrade demo`: evaluate, train and score on the bundled speechocean762 sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from . import datasets
from .errors import ConfigError
from .output import report_folder
from .render import audit_tables, corr_table, metrics_table, multi_table, print_findings
from .report import write_multi_report, write_report
from .scorer import Scorer

HELD_OUT_SPEAKERS = 2


def split_speakers(dataset, n_held_out: int = HELD_OUT_SPEAKERS, seed: int = 0):
    """(train, held-out) datasets: whole speakers are held out, never single clips."""
    speakers = sorted(dataset.table["speaker"].astype(str).unique())
    held = set(np.random.default_rng(seed).choice(speakers, n_held_out, replace=False))
    is_held = dataset.table["speaker"].astype(str).isin(held).to_numpy()
    names = np.array(dataset.filenames)
    return dataset.subset(list(names[~is_held])), dataset.subset(list(names[is_held]))


DEMO_CUT = 7.0  # a pass mark on the sample's 0-10 scale, for the audit's selection rates


def add_age_band(data) -> None:
    """An `age_band` column (children and adults) from the speakers' ages, for the audit."""
    age = pd.to_numeric(data.table["age"], errors="coerce")
    child, adult = age[age < 18], age[age >= 18]
    data.table["age_band"] = np.where(age < 18, f"child ({child.min():g}-{child.max():g})" if len(child) else "child",
                                      f"adult ({adult.min():g}-{adult.max():g})" if len(adult) else "adult")


def run_demo(label: str, output: Path, features: str, regressor: str, trials: int, repeats: int, cache,
             out: Console, console: Console) -> dict:
    """Run the demo and print what it finds; returns the evaluation summary (per label with `all`)."""
    labels = list(datasets.SAMPLE_LABELS) if label == "all" else [label]
    if any(lb not in datasets.SAMPLE_LABELS for lb in labels):
        raise ConfigError(f"--label must be all or one of {', '.join(datasets.SAMPLE_LABELS)} (got {label!r})")
    data = datasets.sample(",".join(labels))
    train_set, held_out = split_speakers(data)
    console.print(f"[bold]speechgrade demo[/]: {len(data)} clips of non-native read English (speechocean762 "
                  f"sample, CC BY 4.0), {'labels' if len(labels) > 1 else 'label'} [bold]{', '.join(labels)}[/] "
                  f"(0-10); {len(held_out)} clips of {HELD_OUT_SPEAKERS} speakers held out; features: {features}; "
                  f"regressor: {regressor}")
    options = dict(featurizers=features, regressor=regressor, trials=trials, cache=cache, progress=True,
                   ensemble="auto")  # as `speechgrade evaluate` and `train` do by default
    scorer = Scorer(**options)
    prepared = scorer.prepare(train_set)
    with console.status("cross-validating (tuning nested in each fold)") as status:
        ev = scorer.evaluate(train_set, folds=5, repeats=repeats, prepared=prepared,
                             progress=lambda m: status.update(f"cross-validating: {m}"))
    add_age_band(train_set)
    with console.status("auditing per group (gender, age band)"):
        ev.audit(train_set, ["gender", "age_band"], cut_score=DEMO_CUT)
    if len(labels) > 1:
        out.print(multi_table(ev))
        out.print(corr_table(ev.human_corr, "Human sub-scores: correlation"))
        out.print(corr_table(ev.predicted_corr, "Predicted sub-scores (out of fold): correlation"))
        with report_folder(output / "report") as tmp:
            write_multi_report(ev, tmp)
    else:
        out.print(metrics_table(ev.summary, f"{label}: out-of-fold metrics, {len(train_set)} clips, 5 folds x {repeats}"))
        with report_folder(output / "report") as tmp:
            write_report(ev.first, tmp, label, ev.importance)
    page = output / "report" / "index.html"
    print_findings(out, ev)
    shown = "total" if "total" in ev.labels else next(iter(ev.labels))
    out.print(f"[bold]Per-group audit of {shown}[/] (out of fold; selected = predicted >= {DEMO_CUT:g}, as if it "
              f"were a pass mark; the sample has {train_set.table['speaker'].nunique()} speakers, so intervals are wide)")
    for table in audit_tables(ev.labels[shown].extra["audit"]):
        out.print(table)
    with console.status("training the final model"):
        scorer.fit(train_set, prepared=prepared, evaluation=ev)
    model_dir = scorer.save(output / "model")
    console.print(f"scoring the {len(held_out)} held-out clips with the saved model (as `speechgrade predict` would)")
    predicted = Scorer.load(model_dir, cache=cache, progress=True).predict(held_out)
    predicted = predicted.to_frame() if isinstance(predicted, pd.Series) else predicted
    table = Table(title="held-out speakers (never seen in training): true / predicted")
    for col in ("clip", "speaker", "text", *labels):
        table.add_column(col)
    for name in predicted.index:
        row = held_out.table.loc[name]
        table.add_row(name, str(row["speaker"]), str(row["text"])[:40],
                      *[f"{row[lb]:g} / {predicted.loc[name, lb]:.1f}" for lb in labels])
    out.print(table)
    for lb in labels:
        err = np.abs(predicted[lb].to_numpy() - held_out.table.loc[predicted.index, lb].to_numpy(np.float64))
        out.print(f"held-out MAE {lb}: {err.mean():.2f} over {len(err)} clips")
    out.print(f"model: {model_dir}")
    out.print(f"report: {page.resolve()}")
    return {lb: e.summary for lb, e in ev.labels.items()} if len(labels) > 1 else ev.summary
