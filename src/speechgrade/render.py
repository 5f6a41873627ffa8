"""How the command line shows things: metric tables, extraction reports, scores as CSV or JSON Lines."""

from __future__ import annotations

import json
from typing import IO

from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from .evaluate import compared
from .output import write_csv
from .report import ROWS
from .results import Scores
from .usertext import shorten


def metrics_table(summary: dict, title: str = "Out-of-fold metrics (mean ± std over repeats)") -> Table:
    """A rich table of the model's metrics beside the baselines'."""
    others = compared(summary)
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    for name in others:
        table.add_column(name, justify="right")
    for key, name, _ in ROWS:
        table.add_row(name, f"{summary[key]:.3f} ± {summary[key + '_std']:.3f}",
                      *[f"{v[key]:.3f} ± {v[key + '_std']:.3f}" for v in others.values()])
    if "interval_coverage" in summary:
        table.add_row(f"{summary['interval_coverage_target']:.0%} interval: coverage",
                      f"{summary['interval_coverage']:.3f} (width {summary['interval_width']:.2f})",
                      *["" for _ in others])
    lo, hi = summary["pearson_ci95"]
    table.add_row("Pearson 95% CI", f"[{lo:.3f}, {hi:.3f}]",
                  *[f"[{v['pearson_ci95'][0]:.3f}, {v['pearson_ci95'][1]:.3f}]" for v in others.values()])
    return table


def multi_table(ev) -> Table:
    """One row per label: the model's figures beside the ridge baseline's r."""
    table = Table(title="Out-of-fold metrics per label (mean ± std over repeats)")
    for col in ("label", "n", "Pearson r", "Spearman", "RMSE", "MAE", "within 0.5", "within 1.0", "QWK", "exact",
                "adjacent", "spread", "coverage", "ridge baseline r"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, row in ev.table().iterrows():
        def f(key, digits=3):
            value = row.get(key)
            return "" if value is None or value != value else f"{value:.{digits}f}"
        table.add_row(esc(shorten(label)), f"{row['n']:.0f}", f"{f('pearson')} ± {f('pearson_std')}", f("spearman"), f("rmse"),
                      f("mae"), f("within_0.5", 2), f("within_1.0", 2), f("qwk"), f("exact", 2), f("adjacent", 2),
                      f("spread_ratio", 2), f("interval_coverage", 2),
                      f("baseline_ridge_pearson"))
    return table


DECISION_NAMES = {"raw": "raw scores", "mapped": "mapped to the raters' mean and SD"}


def decisions_table(result: dict, label: str | None = None) -> Table:
    """Raw and mapped out-of-fold scores side by side: r, RMSE, QWK, spread, then at each cut score how many clips
    the scores select and how many of those the raters select too (mean over repeats, lowest-highest)."""
    cuts = ", ".join(f"{c:g}" for c in result["cut_scores"])
    table = Table(title=(f"{esc(shorten(label))}: " if label else "") +
                  f"Decisions at cut scores {cuts} ({result['cut_source']}; out of fold, counts of {result['n']} clips: "
                  f"mean over repeats, lowest-highest)")
    table.add_column("figure")
    for name in result["scores"]:
        used = " (the model's scores)" if name == result.get("model_scores") else ""
        table.add_column(DECISION_NAMES.get(name, name) + used, justify="right")
    figures = result["scores"].values()
    for key, title in (("pearson", "Pearson r"), ("rmse", "RMSE"), ("qwk", "QWK"), ("spread_ratio", "spread ratio")):
        table.add_row(title, *[f"{s[key]:.3f}" for s in figures])
    for i, (cut, raters) in enumerate(zip(result["cut_scores"], result["raters"])):
        rows = [s["cuts"][i] for s in figures]
        table.add_row(f">= {cut:g}: selected (raters select {raters})",
                      *[f"{r['selected']:.1f} ({r['selected_range'][0]}-{r['selected_range'][1]})" for r in rows])
        table.add_row(f">= {cut:g}: of them, the raters' too",
                      *[f"{r['both']:.1f} ({r['both_range'][0]}-{r['both_range'][1]})" for r in rows])
    return table


def audit_tables(result: dict) -> list[Table]:
    """One table per audit column: each group's figures with their 95% intervals, and why it is flagged."""
    tables = []
    cut = result.get("cut_score")
    for column, rows in result["columns"].items():
        table = Table(title=f"By {esc(shorten(column))} (out of fold; 95% intervals)" +
                      (f"; selected: predicted >= {cut:g}" if cut is not None else ""))
        heads = ["group", "n", "human mean", "predicted mean", "std diff", "r", "RMSE", "MAE", "coverage"]
        heads += ["selected", "raters would select", "impact ratio"] if cut is not None else []
        for h in heads + ["flag"]:
            table.add_column(h, justify="left" if h in ("group", "flag") else "right")

        def ci(row, key, digits=2):
            if key not in row or row[key] != row[key]:
                return ""
            text = f"{row[key]:.{digits}f}"
            return text + (f" [{row[key + '_ci95'][0]:.{digits}f}, {row[key + '_ci95'][1]:.{digits}f}]"
                           if key + "_ci95" in row else "")

        for row in rows:
            cells = [esc(shorten(row["group"])), str(row["n"]), ci(row, "human_mean"), ci(row, "predicted_mean"),
                     ci(row, "std_difference"), ci(row, "pearson"), ci(row, "rmse"), ci(row, "mae"),
                     ci(row, "interval_coverage")]
            if cut is not None:
                cells += [ci(row, "selection_rate"), ci(row, "human_selection_rate"), ci(row, "impact_ratio")]
            flags = row.get("flag") or []
            cells.append(("[yellow]" + esc("; ".join(flags)) + "[/]") if flags else
                         ("" if row["n"] >= 2 else "too few clips"))
            table.add_row(*cells)
        tables.append(table)
    return tables


def print_findings(console: Console, ev) -> None:
    """Each label's plain sentences (better than the mean or not, shrinkage), one line each."""
    from .evaluate import plain_findings

    for label, sub in ev.labels.items():
        for sentence in plain_findings(sub.summary):
            console.print(esc((f"{shorten(label)}: " if len(ev.labels) > 1 else "") + sentence))


def corr_table(corr, title: str) -> Table:
    """A correlation matrix as a table."""
    table = Table(title=title)
    table.add_column("")
    for c in corr.columns:
        table.add_column(esc(shorten(c)), justify="right")
    for name, row in corr.iterrows():
        table.add_row(esc(shorten(name)), *[f"{v:.2f}" for v in row])
    return table


def print_extract_report(console: Console, report, n_rows: int, listed=()) -> None:
    """Counts, then every skipped and failed file with its reason (except the problems already `listed`)."""
    listed = set(listed)  # a set: 20,000 missing rows were 20,000 scans of a 20,000-item list
    console.print(f"[bold]{n_rows}[/] usable clips: {report.processed} computed, {report.cached} from cache, "
                  f"{len(report.skipped)} skipped, {len(report.failed)} failed")
    counts = getattr(report, "by_featurizer", {})
    if report.processed and counts:  # which featurizers did the work ("computed" may be the screen alone)
        console.print("  " + "; ".join(f"{esc(name)}: {c['computed']} computed, {c['cached']} from cache"
                                       for name, c in counts.items()))
    if report.damaged:
        console.print(f"  [yellow]{report.damaged} damaged cache entries[/] were treated as missing and recomputed")
    for kind, items in (("skipped", report.skipped), ("failed", report.failed)):
        for p in items:
            if p not in listed:
                console.print(f"  [yellow]{kind}[/] {esc(shorten(p.filename))}: {esc(p.reason)}")


def print_problems(console: Console, dataset) -> None:
    """CSV rows left out, with their reasons."""
    if dataset.problems:
        console.print(f"[yellow]{len(dataset.problems)} CSV rows left out:")
        for p in dataset.problems:
            console.print(f"  {esc(shorten(p.filename))}: {esc(p.reason)}")


def print_duplicates(console: Console, clusters) -> None:
    """Duplicate recording clusters kept in one fold each."""
    if clusters:
        console.print(f"[yellow]{len(clusters)} duplicate recording clusters kept in one fold each:")
        for c in clusters:
            console.print(esc(f"  {', '.join(shorten(n) for n in c)}"))


def write_json(scores: Scores, stream: IO[str]) -> None:
    """JSON Lines: one object per input, one line each, in the record shape every front end uses."""
    for record in scores.records():
        stream.write(json.dumps(record) + "\n")


def write_scores_csv(scores: Scores, target, intervals: bool, abstain: bool, explain: bool = True) -> tuple[int, int]:
    """`filename,<labels>[,overall][,_lo,_hi][,abstain,abstain_reason][,explain.*]` rows to a path (written whole or
    not at all) or a stream; returns (rows, cells neutralised)."""
    table = scores.table(intervals, abstain, explain).round(4).reset_index()
    return len(table), write_csv(table, target)  # not rich: it would wrap long rows


def print_failures(console: Console, scores: Scores) -> None:
    """Files not scored and clips flagged by the abstain rules, one line each, on stderr."""
    for name, reason in scores.problems.items():
        console.print(f"[red]not scored[/] {esc(shorten(name))}: {esc(reason)}")
    for name, reason in scores.flagged().items():
        console.print(f"[yellow]flagged[/] {esc(shorten(name))}: {esc(reason)}")
