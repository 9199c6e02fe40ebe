"""Progress of long applies: plain lines in a pipe, a live bar on a terminal."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from rich.console import Console

from kafkaplan.apply.runner import DEFAULT_BATCH_SIZE as CHUNK
from kafkaplan.apply.runner import Targets, apply_plan
from kafkaplan.live.read import read_live
from kafkaplan.output import BarProgress, PlainProgress, ProgressReporter
from kafkaplan.plan.compute import compute_plan
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from tests.conftest import MakeProject
from tests.fakes import MemoryCluster

ROOT = Path(__file__).resolve().parents[2]


def many(count: int) -> DesiredState:
    return DesiredState(
        topics={
            f"bulk.t{i:05}.v1": DesiredTopic(f"bulk.t{i:05}.v1", 1, 1, {}, Source("s.yaml", i))
            for i in range(count)
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_creates_run_in_chunks_and_report_each() -> None:
    cluster = MemoryCluster()
    state = many(CHUNK * 3 + 10)
    seen: list[tuple[int, int, int, str]] = []

    def progress(done: int, total: int, failed: int, *, note: str = "") -> None:
        seen.append((done, total, failed, note))

    apply_plan(compute_plan(state, read_live(cluster, state)), Targets(cluster), progress=progress)
    assert [c for c in cluster.calls if c.startswith("create_topics")] == [
        f"create_topics:{CHUNK}:False"
    ] * 3 + ["create_topics:10:False"]
    assert seen == [
        (CHUNK, 610, 0, "create topics"),
        (2 * CHUNK, 610, 0, "create topics"),
        (3 * CHUNK, 610, 0, "create topics"),
        (610, 610, 0, "create topics"),
    ]


def test_plain_lines_every_ten_percent_or_interval() -> None:
    out = io.StringIO()
    clock = Clock()
    plain = PlainProgress(out, interval=10, clock=clock)
    for done in range(0, 1001, 20):  # 2% steps
        plain(done, 1000, done // 500, note="create topics")
    lines = out.getvalue().splitlines()
    assert lines[0] == "apply: 0/1000 changes (0%) - create topics"
    assert lines[1] == "apply: 100/1000 changes (10%) - create topics"
    assert lines[-1] == "apply: 1000/1000 changes (100%), 2 failed - create topics"
    assert len(lines) == 11
    # No progress but time passes: a line at most every interval.
    out.truncate(0)
    out.seek(0)
    plain = PlainProgress(out, interval=10, clock=clock)
    for second in range(35):
        clock.now = float(second)
        plain(5, 10, 0, note="update topics: waiting for new replicas to catch up")
    assert len(out.getvalue().splitlines()) == 4


def test_reporter_picks_plain_for_a_pipe() -> None:
    out = io.StringIO()
    with ProgressReporter(out) as progress:
        progress(1, 2, 0, note="create topics")
        progress(2, 2, 1, note="update topics")
    assert out.getvalue() == (
        "apply: 1/2 changes (50%) - create topics\n"
        "apply: 2/2 changes (100%), 1 failed - update topics\n"
    )


def test_bar_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system="standard")
    bar = BarProgress(out, console=console)
    bar(0, 400, 0, note="create topics")
    bar(200, 400, 0, note="create topics")
    bar(400, 400, 3, note="update topics")
    bar.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "\x1b[" in out.getvalue(), "drawn with terminal control sequences"
    assert "apply" in text
    assert "400/400" in text
    assert "3 failed" in text
    assert "━" in text  # the bar itself


ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CLOCK = re.compile(r"\d+:\d\d:\d\d")


def bulk_script(project: Path, *flags: str) -> str:
    """A child process running `apply --auto-approve` of 450 topics on in-memory doubles."""
    return textwrap.dedent(
        f"""
        import sys
        from kafkaplan import cli, commands
        from tests.fakes import MemoryCluster
        fake = MemoryCluster(brokers=1)
        commands.connect = lambda context, read_only: fake
        sys.exit(cli.main(["--project", {str(project)!r}, *{list(flags)!r}, "apply", "--auto-approve"]))
        """
    )


def bulk_project(make_project: MakeProject) -> Path:
    specs = "topics:\n" + "".join(f"  - name: bulk.t{i:04}.v1\n" for i in range(450))
    return make_project({"bulk.yaml": specs})


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "TERM": "xterm", **extra}
    if "NO_COLOR" not in extra:
        env.pop("NO_COLOR", None)
    return env


def on_pty(script: str, env: dict[str, str], *, stdout_too: bool = False) -> tuple[int, str, str]:
    """Run ``script`` with its standard error (and, with ``stdout_too``, its standard
    output) on a pseudo-terminal: (exit code, what the terminal got, what the pipe got)."""
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=secondary if stdout_too else subprocess.PIPE,
            stderr=secondary,
            env=env,
            cwd=ROOT,
        )
        os.close(secondary)
        chunks = []
        while True:  # read while it runs: a full terminal buffer would block the child
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        piped = process.stdout.read().decode() if process.stdout is not None else ""
        code = process.wait(timeout=60)
    finally:
        os.close(primary)
    return code, b"".join(chunks).decode("utf-8", "replace"), piped


def test_cli_apply_bar_on_a_colour_terminal(make_project: MakeProject) -> None:
    """The real command, its stderr on a pty: the rich bar is drawn; outcomes stay on stdout."""
    script = bulk_script(bulk_project(make_project))
    code, terminal, piped = on_pty(script, child_env())
    assert code == 0, piped
    assert "\x1b[" in terminal
    assert "450/450" in ESCAPE.sub("", terminal)
    assert "━" in terminal
    assert "apply: " not in terminal, "no plain lines on a terminal"
    assert "✓" not in terminal, "outcomes go to standard output, not the bar's stream"
    assert piped.count("✓") == 450
    assert piped.endswith("\nApply complete: 450 of 450 changes applied.\n")


def test_cli_apply_without_colour_on_a_terminal(make_project: MakeProject) -> None:
    """--no-color and NO_COLOR=1: the bar is redrawn with carriage returns only, never an
    escape sequence (colour, cursor movement or otherwise)."""
    project = bulk_project(make_project)
    frames = [
        f"\rapply [{'#' * n}{'-' * (30 - n)}] {done}/450 changes H:MM:SS create topics"
        for n, done in ((13, 200), (26, 400), (30, 450))
    ]
    for script, env in (
        (bulk_script(project, "--no-color"), child_env()),
        (bulk_script(project), child_env(NO_COLOR="1")),
    ):
        code, terminal, piped = on_pty(script, env)
        assert code == 0, piped
        assert "\x1b" not in terminal
        assert CLOCK.sub("H:MM:SS", terminal) == "".join(frames) + "\r\n"
        assert piped.count("✓") == 450
        assert "\x1b" not in piped


def test_cli_apply_lines_above_the_bar_on_one_terminal(make_project: MakeProject) -> None:
    """Standard output on the same terminal: each outcome line is put above the bar, and
    without colour still no escape sequence is written."""
    project = bulk_project(make_project)
    code, terminal, _ = on_pty(bulk_script(project, "--no-color"), child_env(), stdout_too=True)
    assert code == 0
    assert "\x1b" not in terminal
    lines = terminal.replace("\r\n", "\n").split("\n")
    outcomes = [line.split("\r")[-1] for line in lines if "✓" in line]
    assert outcomes[0] == "  ✓ topic.bulk.t0000.v1 (create) done"
    assert len(outcomes) == 450
    assert "Apply complete: 450 of 450 changes applied." in lines

    code, terminal, _ = on_pty(bulk_script(project), child_env(), stdout_too=True)
    assert code == 0
    text = ESCAPE.sub("", terminal)
    assert text.count("✓ topic.bulk.") == 450
    assert "450/450" in text
    assert "Apply complete: 450 of 450 changes applied." in text


def test_cli_apply_plain_lines_in_a_pipe(make_project: MakeProject) -> None:
    piped = subprocess.run(
        [sys.executable, "-c", bulk_script(bulk_project(make_project))],
        capture_output=True,
        env=child_env(),
        cwd=ROOT,
        timeout=60,
        check=False,
        text=True,
    )
    assert piped.returncode == 0
    assert piped.stderr.splitlines() == [
        "apply: 200/450 changes (44%) - create topics",
        "apply: 400/450 changes (89%) - create topics",
        "apply: 450/450 changes (100%) - create topics",
    ]
