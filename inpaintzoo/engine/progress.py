"""Rich progress bars with a live info field (losses, throughput); silent when disabled."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress


class Progress:
    """`with Progress(enabled) as bar: t = bar.task(...); bar.advance(t, info=...)`."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self._bar = (
            RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=console or Console(stderr=True),
            )
            if enabled
            else None
        )

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def task(self, description: str, total: int, completed: int = 0) -> TaskID | None:
        if self._bar is None:
            return None
        return self._bar.add_task(description, total=total, completed=completed, info="")

    def advance(self, task: TaskID | None, info: str = "", by: int = 1) -> None:
        if self._bar is not None and task is not None:
            self._bar.update(task, advance=by, info=info)

    def print(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message)
