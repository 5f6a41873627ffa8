"""A rich progress bar for extraction (files/s, ETA), on stderr: stdout carries results."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text


class SpeedColumn(ProgressColumn):
    """Files per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} files/s" if speed else "- files/s")


class progress_bar:
    """A rich progress bar (files/s, ETA) that does nothing when disabled."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        self._bar = Progress(TextColumn("[bold]extracting"), BarColumn(), MofNCompleteColumn(), SpeedColumn(),
                             TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                             console=Console(stderr=True))  # stdout carries results (predict writes CSV there)
        self._bar.start()
        task = self._bar.add_task("extract", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.stop()
        return False
