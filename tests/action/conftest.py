"""Running the action's step script (scripts/action/run.sh) the way the runner does: inputs
as INPUT_* variables, outputs and the job summary in files named by GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY, temporary files under RUNNER_TEMP."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The integration fixtures, for the tests that run kafkaplan against the real stack.
from tests.integration.conftest import admin, make_project, stack

__all__ = ["admin", "make_project", "stack"]

REPO = Path(__file__).resolve().parents[2]
RUN_SH = REPO / "scripts" / "action" / "run.sh"
# The kafkaplan console script installed beside the interpreter running the tests.
KAFKAPLAN_BIN = Path(sys.executable).parent


@dataclass
class ActionRun:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    @property
    def markdown(self) -> str:
        return Path(self.outputs["markdown-file"]).read_text()


def parse_outputs(text: str) -> dict[str, str]:
    """`name=value` lines as the runner reads them (the script writes no multi-line values);
    a name written twice would be a bug, so it fails here."""
    outputs: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        assert sep, f"not a name=value line: {line!r}"
        assert name not in outputs, f"output {name} written twice"
        outputs[name] = value
    return outputs


def action_env(tmp_path: Path, inputs: dict[str, str], base: dict[str, str]) -> dict[str, str]:
    runner = tmp_path / "runner"
    runner.mkdir(exist_ok=True)
    # The runner gives each step its own, empty, files.
    (runner / "output").write_text("")
    (runner / "summary").write_text("")
    env = {
        key: value
        for key, value in base.items()
        if not key.startswith(("INPUT_", "GITHUB_", "RUNNER_"))
    }
    env.update(
        {
            "PATH": f"{KAFKAPLAN_BIN}{os.pathsep}{base.get('PATH', os.defpath)}",
            "RUNNER_TEMP": str(runner / "temp"),
            "GITHUB_OUTPUT": str(runner / "output"),
            "GITHUB_STEP_SUMMARY": str(runner / "summary"),
        }
    )
    (runner / "temp").mkdir(exist_ok=True)
    env.update({f"INPUT_{key.upper().replace('-', '_')}": value for key, value in inputs.items()})
    return env


def run_action(
    tmp_path: Path, inputs: dict[str, str], base: dict[str, str] | None = None
) -> ActionRun:
    """Run the step script with these action inputs (names as in action.yml)."""
    env = action_env(tmp_path, inputs, dict(os.environ) if base is None else base)
    done = subprocess.run(
        [str(RUN_SH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return ActionRun(
        done.returncode,
        done.stdout,
        done.stderr,
        parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text()),
        Path(env["GITHUB_STEP_SUMMARY"]).read_text(),
    )


@pytest.fixture
def fake_kafkaplan(tmp_path: Path) -> Path:
    """A stand-in for kafkaplan that records its arguments (NUL-separated, so any character
    survives) and prints and exits as FAKE_STDOUT, FAKE_STDERR and FAKE_CODE say."""
    fake = tmp_path / "fake-kafkaplan"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        "set -euo pipefail\n"
        'printf "%s\\0" "$@" >"$FAKE_ARGV"\n'
        'printf "%s" "${FAKE_STDOUT:-}"\n'
        'printf "%s" "${FAKE_STDERR:-}" >&2\n'
        'exit "${FAKE_CODE:-0}"\n'
    )
    fake.chmod(0o755)
    return fake
