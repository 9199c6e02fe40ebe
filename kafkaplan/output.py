"""Progress of a long apply: a live bar on a terminal, periodic plain lines elsewhere.

``apply.apply_plan`` reports after every chunk of changes (and while a reassignment waits
for replicas); ``progress_reporter`` turns that into what suits the output:

- a terminal gets a rich progress bar (done / total, failures, what runs now), redrawn in
  place;
- a pipe or a CI log gets a plain line whenever another 10% is done or ``interval``
  seconds passed since the last line, and a last one at the end, so the log shows the
  apply is alive without flooding it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

PLAIN_INTERVAL = 10.0  # seconds between plain lines when nothing else triggers one
PLAIN_STEP = 0.10  # a plain line at least every 10% of the changes


class PlainProgress:
    """Plain lines: ``apply: 400/1000 changes (40%), 2 failed - create topics``."""

    def __init__(
        self,
        stream: IO[str],
        *,
        interval: float = PLAIN_INTERVAL,
        step: float = PLAIN_STEP,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream
        self.interval = interval
        self.step = step
        self.clock = clock
        self._last_time: float | None = None
        self._last_fraction = -1.0
        self._finished = False

    def __call__(self, done: int, total: int, failed: int, *, note: str = "") -> None:
        now = self.clock()
        fraction = done / total if total else 1.0
        due = (
            self._last_time is None
            or fraction >= self._last_fraction + self.step
            or now - self._last_time >= self.interval
            or (done >= total and not self._finished)
        )
        if not due:
            return
        self._finished = done >= total
        self._last_time = now
        self._last_fraction = fraction
        suffix = f", {failed} failed" if failed else ""
        what = f" - {note}" if note else ""
        self.stream.write(f"apply: {done}/{total} changes ({fraction:.0%}){suffix}{what}\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class BarProgress:
    """A live rich progress bar on a terminal."""

    def __init__(self, stream: IO[str], *, console: Any = None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console or Console(file=stream, force_terminal=True, stderr=False)
        self._progress = Progress(
            TextColumn("[bold]apply[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("changes"),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=self.console,
            transient=False,
            refresh_per_second=8,
        )
        self._task: Any = None

    def __call__(self, done: int, total: int, failed: int, *, note: str = "") -> None:
        shown_failed = f"[red]{failed} failed[/red]" if failed else ""
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(
                "apply", total=total, failed=shown_failed, note=note
            )
        self._progress.update(
            self._task, completed=done, total=total, failed=shown_failed, note=note
        )

    def close(self) -> None:
        if self._task is not None:
            self._progress.refresh()
            self._progress.stop()


class ProgressReporter:
    """The ``ProgressCallback`` of an apply, choosing the rendering for ``stream``."""

    def __init__(self, stream: IO[str], *, terminal: bool | None = None, **plain: Any):
        is_terminal = stream.isatty() if terminal is None else terminal
        self._impl: PlainProgress | BarProgress = (
            BarProgress(stream) if is_terminal else PlainProgress(stream, **plain)
        )

    def __call__(self, done: int, total: int, failed: int, *, note: str = "") -> None:
        self._impl(done, total, failed, note=note)

    def close(self) -> None:
        self._impl.close()

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
