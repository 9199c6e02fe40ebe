"""Shared fixtures: throwaway projects on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafkaplan import secrets

PROJECT = """\
specs: [specs]
default_environment: test
policy:
  max_retention: 30d
environments:
  test:
    kafka:
      bootstrap_servers: 127.0.0.1:1
    defaults:
      partitions: 3
      replication_factor: 1
    variables:
      rf: 1
"""

MakeProject = Callable[..., Path]


@pytest.fixture(autouse=True)
def forget_secrets() -> Iterator[None]:
    """The secrets a test read (kafkaplan remembers them for the process, to mask them)
    are forgotten after it, so that one test's password never masks another test's text."""
    with secrets._lock:
        before = set(secrets._known)
    yield
    with secrets._lock:
        secrets._known.intersection_update(before)


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a project file and spec files; returns the project file's path."""

    def make(specs: dict[str, str], project: str = PROJECT) -> Path:
        (tmp_path / "kafkaplan.yaml").write_text(textwrap.dedent(project))
        for name, text in specs.items():
            path = tmp_path / "specs" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        (tmp_path / "specs").mkdir(exist_ok=True)
        return tmp_path / "kafkaplan.yaml"

    return make


def run_cli(project: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process against a project file: (exit code, stdout, stderr)."""
    from kafkaplan.cli import main

    code = main(["--project", str(project), "--no-color", *args])
    out, err = capsys.readouterr()
    return code, out, err
