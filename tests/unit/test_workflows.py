"""The composite action and the workflows: every action pinned by commit, every input of
the action reaching its step script."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "action.yml"
RUN_SH = REPO / "scripts" / "action" / "run.sh"
WORKFLOWS = sorted(
    [*REPO.glob(".github/workflows/*.yml"), *REPO.glob(".github/examples/workflows/*.yml")]
)
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.M)
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
TAG_COMMENT = re.compile(r"^\s+# v\d+\.\d+\.\d+$")


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_tag_in_a_comment(path: Path) -> None:
    found = USES.findall(path.read_text())
    assert found, f"{path} uses no action"
    for reference, comment in found:
        assert PINNED.match(reference), f"{path}: {reference} is not pinned by a full commit"
        assert TAG_COMMENT.match(comment), f"{path}: {reference} lacks its `# vX.Y.Z` tag"


def test_each_action_is_pinned_to_one_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in [ACTION, *WORKFLOWS]:
        for reference, comment in USES.findall(path.read_text()):
            name, _, commit = reference.partition("@")
            pins.setdefault(name, set()).add(f"{commit}{comment}")
    assert {name: refs for name, refs in pins.items() if len(refs) > 1} == {}


def action() -> dict[str, Any]:
    loaded = yaml.safe_load(ACTION.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_every_input_reaches_the_step_script_and_the_script_documents_it() -> None:
    inputs = action()["inputs"]
    [step] = [s for s in action()["runs"]["steps"] if s.get("id") == "run"]
    assert step["run"] == '"${GITHUB_ACTION_PATH}/scripts/action/run.sh"'
    script = RUN_SH.read_text()
    handled_elsewhere = {"python-version", "install"}
    for name in inputs.keys() - handled_elsewhere:
        variable = "INPUT_" + name.upper().replace("-", "_")
        assert step["env"].get(variable) == f"${{{{ inputs.{name} }}}}", name
        assert f"#   {variable} " in script, f"{variable} is not described in run.sh"
    documented = set(re.findall(r"^#   (INPUT_\w+) ", script, re.M))
    assert documented == set(step["env"])


def test_every_output_is_one_the_step_script_writes() -> None:
    script = RUN_SH.read_text()
    written = set(re.findall(r'echo "([\w-]+)=\$', script))
    outputs = action()["outputs"]
    assert set(outputs) == written
    for name, output in outputs.items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
