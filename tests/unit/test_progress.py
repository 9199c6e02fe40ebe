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


def test_cli_apply_under_a_pseudo_terminal(make_project: MakeProject) -> None:
    """The real command, its stderr on a pty: the bar is drawn; in a pipe: plain lines."""
    specs = "topics:\n" + "".join(f"  - name: bulk.t{i:04}.v1\n" for i in range(450))
    project = make_project({"bulk.yaml": specs})
    script = textwrap.dedent(
        f"""
        import sys
        from kafkaplan import cli
        from tests.fakes import MemoryCluster
        fake = MemoryCluster(brokers=1)
        cli.connect = lambda context, read_only: fake
        sys.exit(cli.main(["--project", {str(project)!r}, "--no-color", "apply", "--auto-approve"]))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    primary, secondary = pty.openpty()
    try:
        process = subprocess.run(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=secondary,
            env=env,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(primary)
    assert process.returncode == 0, process.stdout
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in terminal
    assert "450/450" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal)
    assert "apply: " not in terminal, "no plain lines on a terminal"
    assert "Apply complete: 450 of 450 changes applied." in process.stdout.decode()

    piped = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        env=env,
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
