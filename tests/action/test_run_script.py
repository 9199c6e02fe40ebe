"""The action's step script with a stand-in for kafkaplan: which arguments it passes, which
outputs and report it writes, which exit code it ends with. No Kafka needed."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import time
from pathlib import Path

import pytest

from tests.action.conftest import RUN_SH, ActionRun, action_env, run_action

# Lines as a YAML block scalar may leave them: indented, blank, with trailing blanks.
TARGETS = (
    "topic.orders.*\n"
    """  acl.User:CN=billing service,O=O'Reilly "Ops".topic.*\n"""
    "\t\n"
    "topic.[!x]*.v1   \n"
)


def run_fake(
    tmp_path: Path,
    fake: Path,
    inputs: dict[str, str],
    *,
    stdout: str = "",
    stderr: str = "",
    code: int = 0,
) -> tuple[ActionRun, list[str]]:
    argv = tmp_path / "argv"
    argv.unlink(missing_ok=True)
    base = {
        **os.environ,
        "KAFKAPLAN": str(fake),
        "FAKE_ARGV": str(argv),
        "FAKE_STDOUT": stdout,
        "FAKE_STDERR": stderr,
        "FAKE_CODE": str(code),
    }
    result = run_action(tmp_path, inputs, base)
    args = argv.read_bytes().split(b"\0")[:-1] if argv.exists() else []
    return result, [a.decode() for a in args]


def test_targets_and_args_reach_kafkaplan_one_line_one_argument(
    tmp_path: Path, fake_kafkaplan: Path
) -> None:
    result, argv = run_fake(
        tmp_path,
        fake_kafkaplan,
        {
            "command": "plan",
            "env": "production",
            "targets": TARGETS,
            "allow-deletes": "true",
            "max-destroy": "3",
            "args": "--debug\n  \n--project=my project/kafka plan.yaml\n",
        },
        stdout="### kafkaplan plan\n",
        code=2,
    )
    assert argv == [
        "--no-color",
        "plan",
        "--env",
        "production",
        "--format",
        "markdown",
        "--detailed-exitcode",
        "--target",
        "topic.orders.*",
        "--target",
        """acl.User:CN=billing service,O=O'Reilly "Ops".topic.*""",
        "--target",
        "topic.[!x]*.v1",
        "--allow-deletes",
        "--max-destroy",
        "3",
        "--debug",
        "--project=my project/kafka plan.yaml",
    ]
    assert result.code == 0, result.stderr
    assert result.outputs["exit-code"] == "2"
    assert result.outputs["has-changes"] == "true"


def test_a_glob_is_not_expanded_against_the_working_directory(
    tmp_path: Path, fake_kafkaplan: Path
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "topic.orders.created").touch()
    _, argv = run_fake(
        tmp_path,
        fake_kafkaplan,
        {"command": "plan", "targets": "topic.orders.*", "working-directory": str(folder)},
    )
    assert argv[argv.index("--target") + 1] == "topic.orders.*"


@pytest.mark.parametrize(
    ("command", "code", "step_code", "has_changes"),
    [
        ("plan", 0, 0, "false"),
        ("plan", 2, 0, "true"),
        ("plan", 1, 1, "false"),
        ("plan", 3, 3, "false"),
        ("drift", 2, 0, "true"),
        ("drift", 1, 1, "false"),
        ("validate", 1, 1, "false"),
        ("apply", 1, 1, "false"),
        ("apply", 130, 130, "false"),
    ],
)
def test_exit_codes_reach_the_outputs_and_the_step(
    tmp_path: Path,
    fake_kafkaplan: Path,
    command: str,
    code: int,
    step_code: int,
    has_changes: str,
) -> None:
    inputs = {"command": command}
    if command == "apply":
        inputs["auto-approve"] = "true"
    result, _ = run_fake(tmp_path, fake_kafkaplan, inputs, stdout="out\n", code=code)
    assert result.code == step_code
    assert result.outputs["exit-code"] == str(code)
    assert result.outputs["has-changes"] == has_changes
    if step_code:
        assert f"::error title=kafkaplan {command}::" in result.stderr


def test_fail_on_changes_fails_the_step_on_exit_code_2(
    tmp_path: Path, fake_kafkaplan: Path
) -> None:
    result, _ = run_fake(
        tmp_path, fake_kafkaplan, {"command": "drift", "fail-on-changes": "true"}, code=2
    )
    assert result.code == 2
    assert result.outputs["exit-code"] == "2"


def test_a_failed_plan_reports_why_with_its_error_output(
    tmp_path: Path, fake_kafkaplan: Path
) -> None:
    error = "specs/main.yaml:3: unknown key `partitons` (hint: did you mean ```partitions```?)\n"
    result, _ = run_fake(
        tmp_path,
        fake_kafkaplan,
        {"command": "plan", "env": "production"},
        stderr=error + "Error: 1 problem in the specs.",
        code=1,
    )
    assert result.code == 1
    markdown = result.markdown
    assert markdown.startswith("### ❌ kafkaplan plan failed (exit code 1)\n")
    assert "Environment: `production`" in markdown
    # The error output is fenced with more backticks than it holds itself.
    assert f"````text\n{error}Error: 1 problem in the specs.\n````\n" in markdown
    assert result.summary == markdown + "\n"
    # The error reached the log too.
    assert "unknown key `partitons`" in result.stderr


def test_a_failure_that_printed_nothing_still_has_a_report(
    tmp_path: Path, fake_kafkaplan: Path
) -> None:
    result, _ = run_fake(tmp_path, fake_kafkaplan, {"command": "plan"}, code=3)
    assert result.code == 3
    assert "kafkaplan plan failed (exit code 3)" in result.markdown
    assert "printed nothing" in result.markdown


def test_a_missing_kafkaplan_is_a_failure_with_a_report(tmp_path: Path) -> None:
    result = run_action(
        tmp_path,
        {"command": "plan"},
        {**os.environ, "KAFKAPLAN": str(tmp_path / "no-such-kafkaplan")},
    )
    assert result.code == 127
    assert result.outputs["exit-code"] == "127"
    assert "no-such-kafkaplan" in result.markdown


def test_a_saved_plan_is_applied_as_it_was_planned(tmp_path: Path, fake_kafkaplan: Path) -> None:
    result, argv = run_fake(
        tmp_path,
        fake_kafkaplan,
        {"command": "apply", "plan-file": "plan.json", "lease-wait": "5m"},
        stdout="Apply complete: 1 done.\n",
    )
    assert argv == ["--no-color", "apply", "plan.json", "--lease-wait", "5m"]
    assert result.code == 0
    assert result.outputs["has-changes"] == "true"
    assert "Apply complete: 1 done." in Path(result.outputs["output-file"]).read_text()


def test_a_new_plan_is_checked_against_the_reviewed_one(
    tmp_path: Path, fake_kafkaplan: Path
) -> None:
    result, argv = run_fake(
        tmp_path,
        fake_kafkaplan,
        {"command": "apply", "expect-plan": "reviewed/plan.json", "auto-approve": "true"},
        stdout="Apply complete: 1 done.\n",
    )
    assert argv == ["--no-color", "apply", "--expect", "reviewed/plan.json", "--auto-approve"]
    assert result.code == 0


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": ""}, "the command input is required"),
        ({"command": "plan", "expect-plan": "p.json"}, "expect-plan input applies to apply"),
        (
            {"command": "apply", "plan-file": "plan.json", "expect-plan": "p.json"},
            "expect-plan checks a new plan against a reviewed one",
        ),
        ({"command": "plan; rm -rf /"}, "unknown command"),
        ({"command": "plan", "format": "html"}, "unknown format 'html'"),
        ({"command": "apply", "format": "json"}, "the format input applies to plan and drift"),
        ({"command": "drift", "targets": "topic.*"}, "apply to plan and apply, not drift"),
        (
            {"command": "apply", "plan-file": "plan.json", "targets": "topic.*"},
            "a saved plan-file is applied as it was planned",
        ),
        ({"command": "plan", "allow-deletes": "maybe"}, "expected true or false"),
        ({"command": "plan", "working-directory": "/no/such/folder"}, "no such working directory"),
    ],
)
def test_wrong_inputs_fail_before_running_kafkaplan(
    tmp_path: Path, fake_kafkaplan: Path, inputs: dict[str, str], message: str
) -> None:
    result, argv = run_fake(tmp_path, fake_kafkaplan, inputs)
    assert argv == []
    assert result.code == 1
    assert message in result.stderr
    if inputs["command"] in ("plan", "apply", "drift"):
        assert result.outputs["exit-code"] == "1"
        assert message in result.markdown


def test_output_cannot_issue_workflow_commands(tmp_path: Path, fake_kafkaplan: Path) -> None:
    result, _ = run_fake(
        tmp_path,
        fake_kafkaplan,
        {"command": "plan"},
        stdout="- `topic.x` description: ::add-mask::x\n",
        code=0,
    )
    stop = re.search(r"^::stop-commands::(\S+)$", result.stdout, re.M)
    assert stop is not None, result.stdout
    token = stop.group(1)
    before, _, after = result.stdout.partition(stop.group(0))
    assert "::add-mask::" not in before
    assert after.index("::add-mask::") < after.index(f"::{token}::")


def test_apply_output_is_shown_while_apply_runs(tmp_path: Path) -> None:
    """The stand-in prints one line and then waits until the test has seen that line in the
    step's log: a step that printed apply's output only at the end would never show it."""
    go = tmp_path / "go"
    fake = tmp_path / "slow-kafkaplan"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        "set -euo pipefail\n"
        "echo '  ✓ topic.orders.created.v1 (create) done'\n"
        f"for _ in $(seq 600); do [[ -e '{go}' ]] && break; sleep 0.1; done\n"
        f"[[ -e '{go}' ]] || exit 9\n"
        "echo 'Apply complete: 1 done.'\n"
    )
    fake.chmod(0o755)
    env = action_env(
        tmp_path,
        {"command": "apply", "auto-approve": "true"},
        {**os.environ, "KAFKAPLAN": str(fake)},
    )
    process = subprocess.Popen(
        [str(RUN_SH)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        # os.read, not readline: a buffered reader can hold the awaited line (read with the
        # one before it) after the selector has found the pipe empty.
        while b"(create) done" not in seen and time.monotonic() < deadline:
            if selector.select(timeout=1):
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                seen += chunk
    go.touch()
    out, err = process.communicate(timeout=60)
    shown, rest, errors = seen.decode(), out.decode(), err.decode()
    assert "(create) done" in shown, shown + rest + errors
    assert "Apply complete" not in shown
    assert process.returncode == 0, errors
    assert "Apply complete: 1 done." in rest
