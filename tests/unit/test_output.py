"""The one writer: colour decided once, secrets masked on every path, files atomic."""

from __future__ import annotations

import io
import os
from pathlib import Path

import click
import pytest

from kafkaplan import secrets
from kafkaplan.errors import ProjectError
from kafkaplan.output import (
    BarProgress,
    LineProgress,
    Output,
    PlainProgress,
    ProgressReporter,
    use_color,
    write_atomically,
)

SECRET = "pa55-Xy7q"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def known_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_known", {SECRET})


def terminals(monkeypatch: pytest.MonkeyPatch) -> tuple[Terminal, Terminal]:
    """Standard output and error both on (stand-ins for) terminals. Set in the test body:
    pytest puts its own capture in place after the fixtures ran."""
    out, err = Terminal(), Terminal()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    return out, err


def test_colour_from_the_flag_then_no_color_then_the_terminal() -> None:
    assert use_color(Terminal(), None, {}) is True
    assert use_color(io.StringIO(), None, {}) is False
    assert use_color(Terminal(), None, {"NO_COLOR": "1"}) is False
    assert use_color(Terminal(), None, {"NO_COLOR": ""}) is True  # empty means unset
    assert use_color(Terminal(), False, {}) is False
    assert use_color(io.StringIO(), True, {"NO_COLOR": "1"}) is True


def test_output_decides_colour_once_per_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = terminals(monkeypatch)
    assert Output(None, environ={}).color is True
    assert Output(False, environ={}).err_color is False
    plain = Output(None, environ={"NO_COLOR": "1"})
    assert (plain.color, plain.err_color) == (False, False)
    assert plain.style("x", fg="red") == "x"
    # Text styled elsewhere loses its escapes when its stream gets no colour.
    plain.echo(click.style("red", fg="red"))
    coloured = Output(True, environ={})
    coloured.echo(click.style("red", fg="red"), err=True)
    assert out.getvalue() == "red\n"
    assert err.getvalue() == "\x1b[31mred\x1b[0m\n"


def test_secrets_are_masked_in_lines_progress_and_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out, err = terminals(monkeypatch)
    output = Output(False, environ={})
    output.echo(f"token {SECRET}")
    output.error(f"Error: {SECRET} refused")
    output.write_file(tmp_path / "f.txt", f"value: {SECRET}\n")
    plain = io.StringIO()
    PlainProgress(plain)(1, 2, 0, note=f"waiting on {SECRET}")
    line = Terminal()
    LineProgress(line, width=200, clock=Clock())(1, 2, 0, note=f"waiting on {SECRET}")
    assert out.getvalue() == "token ***\n"
    assert err.getvalue() == "Error: *** refused\n"
    assert (tmp_path / "f.txt").read_text() == "value: ***\n"
    assert plain.getvalue() == "apply: 1/2 changes (50%) - waiting on ***\n"
    assert SECRET not in line.getvalue()


def test_line_progress_redraws_one_line_without_escapes() -> None:
    stream, clock = Terminal(), Clock()
    bar = LineProgress(stream, width=80, clock=clock)
    bar(0, 400, 0, note="create topics")
    clock.now += 65
    bar(200, 400, 2, note="update topics: waiting for new replicas to catch up")
    bar.close()
    assert stream.getvalue() == (
        "\rapply [------------------------------] 0/400 changes 0:00:00 create topics"
        # cut to the terminal's width, less one column (no wrap at the last one)
        "\rapply [###############---------------] 200/400 changes, 2 failed 0:01:05 update"
        "\n"
    )


def test_lines_go_above_the_bar_on_the_same_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = terminals(monkeypatch)
    output = Output(False, environ={})
    with output.progress() as progress:
        output.echo("before the bar")
        progress(1, 2, 0, note="create topics")
        output.echo("  ✓ topic.a (create) done")
        progress(2, 2, 0, note="create topics")
    output.echo("after")
    # The line is cleared, the outcome written, the bar drawn again where it was.
    assert out.getvalue() == "before the bar\n  ✓ topic.a (create) done\nafter\n"
    bar1 = "apply [###############---------------] 1/2 changes 0:00:00 create topics"
    assert err.getvalue().startswith("\r" + bar1 + "\r" + " " * len(bar1) + "\r" + bar1 + "\r")
    assert err.getvalue().endswith("\n")


def test_lines_to_a_pipe_are_not_touched_by_the_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err = io.StringIO(), Terminal()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    output = Output(False, environ={})
    with output.progress() as progress:
        progress(1, 2, 0, note="create topics")
        output.echo("  ✓ topic.a (create) done")
    assert out.getvalue() == "  ✓ topic.a (create) done\n"
    assert "✓" not in err.getvalue()


def test_reporter_follows_the_colour_decision() -> None:
    assert isinstance(ProgressReporter(Terminal(), color=True)._impl, BarProgress)
    assert isinstance(ProgressReporter(Terminal(), color=False)._impl, LineProgress)
    assert isinstance(ProgressReporter(io.StringIO(), color=True)._impl, PlainProgress)


def test_colour_bar_puts_lines_above_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    stream = Terminal()
    console = Console(file=stream, force_terminal=True, width=100, color_system="standard")
    bar = BarProgress(stream, console=console)
    bar(1, 2, 0, note="[not markup] create topics")
    bar.above(click.style("  ✓ topic.a (create) done", fg="green") + "\n", stream)
    bar.close()
    text = stream.getvalue()
    assert "  ✓ topic.a (create) done" in text
    assert "[not markup] create topics" in text


def test_atomic_write_replaces_or_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "plan.json"
    write_atomically(target, "one\n")
    write_atomically(target, "two\n")
    assert target.read_text() == "two\n"

    def refuse(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ProjectError, match="cannot write the file: Permission denied"):
        write_atomically(target, "three\n")
    assert target.read_text() == "two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_atomic_write_into_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="cannot write the file: No such file or directory"):
        write_atomically(tmp_path / "nope" / "plan.json", "x")
