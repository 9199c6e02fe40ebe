"""The pre-commit hook (.pre-commit-hooks.yaml) runs a console script this package installs."""

from __future__ import annotations

import shlex
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import yaml

from kafkaplan.cli import cli
from kafkaplan.launch import run

REPO = Path(__file__).resolve().parents[2]


def hooks() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(loaded, list)
    return loaded


def test_the_validate_hook_runs_the_console_script_on_the_whole_project() -> None:
    [hook] = [h for h in hooks() if h["id"] == "kafkaplan-validate"]
    assert hook["language"] == "python"
    # validate PATHS replaces the project's specs: given only the changed files, it would
    # miss duplicates and references across files.
    assert hook["pass_filenames"] is False
    script, command, *rest = shlex.split(hook["entry"])
    assert rest == []
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[script] == "kafkaplan.launch:run"
    [installed] = entry_points(group="console_scripts", name=script)
    assert installed.load() is run
    assert isinstance(cli.commands[command], click.Command)


def test_every_hook_has_the_keys_pre_commit_requires() -> None:
    for hook in hooks():
        assert {"id", "name", "entry", "language"} <= hook.keys(), hook
        assert isinstance(hook["files"], str)


def test_the_fmt_hook_formats_the_whole_project_with_the_fmt_command() -> None:
    [hook] = [h for h in hooks() if h["id"] == "kafkaplan-fmt"]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    script, command, *rest = shlex.split(hook["entry"])
    assert (script, command, rest) == ("kafkaplan", "fmt", [])
    assert isinstance(cli.commands[command], click.Command)
