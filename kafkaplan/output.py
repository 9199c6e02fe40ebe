"""Everything kafkaplan shows or writes goes through here: text, prompts, progress, files.

- Colour is decided once per stream, from ``--color``/``--no-color``, then ``NO_COLOR``,
  then whether the stream is a terminal (``use_color``). The same decision governs the
  plain text and the progress display.
- Every secret read so far is masked (``kafkaplan.secrets.redact``) on every path: lines,
  prompts, progress notes and files.
- Files are written atomically: a temporary file in the same folder, fsynced, then renamed
  over the target, so a crash or a failed write leaves the old file or none, never a torn one.

Progress of a long apply (``apply.apply_plan`` reports after every chunk of changes and
while a reassignment waits for replicas) is shown to suit the stream:

- a terminal with colour gets a rich progress bar (done / total, failures, what runs now),
  redrawn in place;
- a terminal without colour gets the same line redrawn with carriage returns only, no
  escape sequences;
- a pipe or a CI log gets a plain line whenever another 10% is done or ``interval``
  seconds passed since the last line, and a last one at the end, so the log shows the
  apply is alive without flooding it.

While a progress display is drawn on a terminal, lines written to that terminal are put
above it, so neither garbles the other; lines to a file or pipe go there unchanged.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

import click

from kafkaplan.errors import ProjectError
from kafkaplan.secrets import redact

PLAIN_INTERVAL = 10.0  # seconds between plain lines when nothing else triggers one
PLAIN_STEP = 0.10  # a plain line at least every 10% of the changes
LINE_BAR_WIDTH = 30  # characters of the bar drawn without colour


def use_color(stream: IO[str], flag: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only for a terminal, unless NO_COLOR is set or --color/--no-color says so."""
    if flag is not None:
        return flag
    if (os.environ if environ is None else environ).get("NO_COLOR"):
        return False
    return _isatty(stream)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def write_atomically(path: Path, text: str) -> None:
    """Write a file (secrets masked) so that a crash leaves the old file or the new one,
    never a torn one. When writing fails, the temporary file is removed, the old file (if
    any) is left as it was, and a ``ProjectError`` says why."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.resolve().parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(redact(text))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from exc
        raise


def _cannot_write(path: Path, error: OSError) -> ProjectError:
    return ProjectError(f"cannot write the file: {error.strerror or error}", resource=str(path))


class Display(Protocol):
    """A progress display that can put a line above itself."""

    def above(self, text: str, stream: IO[str]) -> None: ...


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
        what = f" - {redact(note)}" if note else ""
        self.stream.write(f"apply: {done}/{total} changes ({fraction:.0%}){suffix}{what}\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class LineProgress:
    """A bar on a terminal without colour: one line redrawn with carriage returns, no
    escape sequences, cut to the terminal's width.
    ``apply [############------------------] 200/450 changes, 2 failed 0:00:03 create topics``
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        width: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream
        self.width = width or _terminal_width(stream)
        self.clock = clock
        self._started: float | None = None
        self._line = ""

    def __call__(self, done: int, total: int, failed: int, *, note: str = "") -> None:
        now = self.clock()
        if self._started is None:
            self._started = now
        filled = LINE_BAR_WIDTH * done // total if total else LINE_BAR_WIDTH
        bar = "#" * filled + "-" * (LINE_BAR_WIDTH - filled)
        elapsed = int(now - self._started)
        clock = f"{elapsed // 3600}:{elapsed // 60 % 60:02}:{elapsed % 60:02}"
        shown_failed = f", {failed} failed" if failed else ""
        what = f" {redact(note)}" if note else ""
        line = f"apply [{bar}] {done}/{total} changes{shown_failed} {clock}{what}"
        self._draw(line[: max(self.width - 1, 1)])

    def _draw(self, line: str) -> None:
        padding = " " * max(len(self._line) - len(line), 0)
        self.stream.write(f"\r{line}{padding}")
        self.stream.flush()
        self._line = line

    def _clear(self) -> None:
        if self._line:
            self.stream.write("\r" + " " * len(self._line) + "\r")
            self.stream.flush()

    def above(self, text: str, stream: IO[str]) -> None:
        self._clear()
        stream.write(text)
        stream.flush()
        if self._line:
            self.stream.write(self._line)
            self.stream.flush()

    def close(self) -> None:
        if self._line:
            self.stream.write("\n")
            self.stream.flush()
            self._line = ""


def _terminal_width(stream: IO[str]) -> int:
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 80


class BarProgress:
    """A live rich progress bar on a terminal with colour."""

    def __init__(self, stream: IO[str], *, console: Any = None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        # Colour was decided by the caller: rich must not decide again from NO_COLOR.
        self.console = console or Console(
            file=stream, force_terminal=True, no_color=False, stderr=False
        )
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
            # Lines are put above the bar by ``above``, each to its own stream.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task: Any = None

    def __call__(self, done: int, total: int, failed: int, *, note: str = "") -> None:
        from rich.markup import escape

        shown_failed = f"[red]{failed} failed[/red]" if failed else ""
        shown_note = escape(redact(note))
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(
                "apply", total=total, failed=shown_failed, note=shown_note
            )
        self._progress.update(
            self._task, completed=done, total=total, failed=shown_failed, note=shown_note
        )

    def above(self, text: str, stream: IO[str]) -> None:
        from rich.text import Text

        if self._task is None:
            stream.write(text)
            stream.flush()
            return
        self.console.print(Text.from_ansi(text.removesuffix("\n")), soft_wrap=True, highlight=False)

    def close(self) -> None:
        if self._task is not None:
            self._progress.refresh()
            self._progress.stop()


class ProgressReporter:
    """The ``ProgressCallback`` of an apply, choosing the rendering for ``stream``: a bar
    on a terminal (with colour unless ``color`` is false), plain lines elsewhere."""

    def __init__(
        self,
        stream: IO[str],
        *,
        terminal: bool | None = None,
        color: bool = True,
        **plain: Any,
    ):
        is_terminal = _isatty(stream) if terminal is None else terminal
        self.stream = stream
        self._impl: PlainProgress | LineProgress | BarProgress
        if not is_terminal:
            self._impl = PlainProgress(stream, **plain)
        elif color:
            self._impl = BarProgress(stream)
        else:
            self._impl = LineProgress(stream)

    @property
    def display(self) -> Display | None:
        """What lines to the same terminal must be put above, if anything."""
        return None if isinstance(self._impl, PlainProgress) else self._impl

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


class Output:
    """The one writer of a command: its standard output and error, prompts, progress
    display and files. Colour is decided here, once per stream; secrets are masked on
    every path. Streams are looked up when written to (``sys.stdout``/``sys.stderr``)."""

    def __init__(self, color: bool | None = None, *, environ: Mapping[str, str] | None = None):
        self.color = use_color(sys.stdout, color, environ)
        self.err_color = use_color(sys.stderr, color, environ)
        self._display: Display | None = None

    def style(self, text: str, *, fg: str | None = None, bold: bool | None = None) -> str:
        """``text`` in colour for standard output, if it gets colour."""
        return click.style(text, fg=fg, bold=bold) if self.color else text

    def echo(self, text: str = "", *, err: bool = False, nl: bool = True) -> None:
        """Write ``text`` (secrets masked) to standard output, or standard error."""
        stream = sys.stderr if err else sys.stdout
        text = redact(text) + ("\n" if nl else "")
        if not (self.err_color if err else self.color):
            text = click.unstyle(text)
        if self._display is not None and _isatty(stream):
            self._display.above(text, stream)
            return
        stream.write(text)
        stream.flush()

    def error(self, text: str) -> None:
        self.echo(text, err=True)

    def write_file(self, path: Path, text: str) -> None:
        write_atomically(path, text)

    def interactive(self) -> bool:
        """Whether a question can be asked: standard input is a terminal."""
        return _isatty(sys.stdin)

    def ask(self, question: str) -> str:
        """Ask on the terminal; the answer, stripped (empty when none is given)."""
        answer: str = click.prompt(redact(question), default="", show_default=False)
        return answer.strip()

    @contextmanager
    def progress(self, **plain: Any) -> Iterator[ProgressReporter]:
        """A progress display on standard error for as long as the block runs."""
        reporter = ProgressReporter(sys.stderr, color=self.err_color, **plain)
        self._display = reporter.display
        try:
            with reporter:
                yield reporter
        finally:
            self._display = None
