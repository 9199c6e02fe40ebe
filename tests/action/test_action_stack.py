"""The action's step script running the real kafkaplan against the real local stack: targets
with globs, quotes and spaces reach kafkaplan intact, the outputs and the report say what
happened, and exit codes reach the step."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from tests.action.conftest import run_action
from tests.integration.conftest import Project, await_acls, eventually

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]


def principal_of(project: Project) -> str:
    """A principal as an mTLS client's distinguished name: spaces, quotes, commas."""
    return f"""User:CN={project.prefix} billing service,O=O'Reilly "Ops\""""


@pytest.fixture
def acl_cleanup(admin: AdminClient) -> Iterator[list[str]]:
    """Principals whose bindings on the broker are deleted after the test."""
    principals: list[str] = []
    yield principals
    anything: Any = None  # a wildcard; the stubs say str
    filters = [
        AclBindingFilter(
            ResourceType.ANY,
            anything,
            ResourcePatternType.ANY,
            principal,
            anything,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        for principal in principals
    ]
    if filters:
        for future in admin.delete_acls(filters, request_timeout=10).values():
            future.result()
        await_acls(admin, filters, present=False)


def write_specs(project: Project) -> tuple[str, str, str]:
    orders, payments = project.name("orders"), project.name("payments")
    principal = principal_of(project)
    project.specs(
        f"""\
        topics:
          - name: {orders}
          - name: {payments}
        acls:
          - principal: '{principal.replace("'", "''")}'
            resource_type: topic
            names: [{orders}]
            operations: [READ]
        """
    )
    return orders, payments, principal


def test_plan_with_quoted_targets_then_apply_the_saved_plan(
    make_project: MakeProject,
    tmp_path: Path,
    admin: AdminClient,
    acl_cleanup: list[str],
) -> None:
    project = make_project()
    orders, payments, principal = write_specs(project)
    acl_cleanup.append(principal)
    # The orders topic by a glob, its binding by an address with spaces and both kinds of
    # quote; the payments topic is left out. Split on spaces, or with its quotes lost, the
    # binding's pattern would not match and the plan would not show it.
    targets = f"topic.{project.prefix}ord*\n  acl.{principal}.topic.*  \n"
    result = run_action(
        tmp_path,
        {
            "command": "plan",
            "targets": targets,
            "plan-file": "plans/plan.json",
            "working-directory": str(project.root),
        },
    )
    assert result.code == 0, result.stderr
    assert result.outputs["exit-code"] == "2"
    assert result.outputs["has-changes"] == "true"
    markdown = result.markdown
    assert markdown.startswith("### kafkaplan plan `it`")
    assert "Plan: 2 to create, 0 to update, 0 to delete." in markdown
    assert f"topic.{orders}" in markdown
    assert f"ACLs of <code>{principal}</code>: 1 to create" in markdown
    assert payments not in markdown
    assert result.summary == markdown + "\n"

    plan_file = Path(result.outputs["plan-file"])
    assert plan_file == project.root / "plans" / "plan.json"
    saved = json.loads(plan_file.read_text())
    assert sorted(c["address"] for c in saved["changes"]) == sorted(
        [f"topic.{orders}", f"acl.{principal}.topic.literal.{orders}.READ.ALLOW.*"]
    )
    assert saved["targets"] == [f"topic.{project.prefix}ord*", f"acl.{principal}.topic.*"]

    applied = run_action(
        tmp_path,
        {"command": "apply", "plan-file": str(plan_file), "working-directory": str(project.root)},
    )
    assert applied.code == 0, applied.stdout + applied.stderr
    assert applied.outputs["exit-code"] == "0"
    assert applied.outputs["has-changes"] == "true"
    assert applied.outputs["plan-file"] == ""
    log = Path(applied.outputs["output-file"]).read_text()
    assert "Apply complete" in log
    # Streamed to the step's log, and kept for the report.
    assert "Apply complete" in applied.stdout
    assert "Apply complete" in applied.markdown
    topics = admin.list_topics(timeout=10).topics
    assert orders in topics
    assert payments not in topics

    def binding_present() -> None:
        found = admin.describe_acls(
            AclBindingFilter(
                ResourceType.TOPIC,
                orders,
                ResourcePatternType.LITERAL,
                principal,
                "*",
                AclOperation.READ,
                AclPermissionType.ALLOW,
            ),
            request_timeout=10,
        ).result()
        assert found

    eventually(binding_present)

    again = run_action(
        tmp_path,
        {"command": "plan", "targets": targets, "working-directory": str(project.root)},
    )
    assert again.code == 0, again.stderr
    assert again.outputs["exit-code"] == "0"
    assert again.outputs["has-changes"] == "false"
    assert "**No changes.**" in again.markdown
    assert again.outputs["plan-file"] == ""


def test_a_spec_error_fails_the_step_and_the_report_says_why(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project()
    project.specs(f"topics:\n  - name: {project.name('orders')}\n    partitons: 3\n")
    stale = project.root / "plan.json"
    stale.write_text("{}")
    result = run_action(
        tmp_path,
        {"command": "plan", "plan-file": "plan.json", "working-directory": str(project.root)},
    )
    assert result.code == 1
    assert result.outputs["exit-code"] == "1"
    assert result.outputs["has-changes"] == "false"
    assert result.outputs["plan-file"] == ""
    assert not stale.exists()
    markdown = result.markdown
    assert markdown.startswith("### ❌ kafkaplan plan failed (exit code 1)\n")
    assert "\n```text\nspecs/main.yaml:3: unknown key 'partitons'" in markdown
    assert markdown.endswith("Error: 1 error in the specs.\n```\n")
    assert result.summary == markdown + "\n"


def test_an_unreachable_cluster_fails_the_step_and_the_report_says_why(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project(timeout="3s")
    project.specs(f"topics:\n  - name: {project.name('orders')}\n")
    result = run_action(
        tmp_path,
        {"command": "drift", "env": "it", "working-directory": str(project.root)},
        {**os.environ, "KAFKAPLAN_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
    )
    assert result.code == 1, result.stdout
    assert result.outputs["exit-code"] == "1"
    markdown = result.markdown
    assert markdown.startswith("### ❌ kafkaplan drift failed (exit code 1)\n")
    assert "Environment: `it`" in markdown
    assert "```text\nError: kafka: no broker answered within 3s" in markdown


def test_drift_found_is_exit_code_2_and_a_report(make_project: MakeProject, tmp_path: Path) -> None:
    project = make_project()
    project.specs(f"topics:\n  - name: {project.name('orders')}\n")
    result = run_action(tmp_path, {"command": "drift", "working-directory": str(project.root)})
    assert result.code == 0, result.stderr
    assert result.outputs["exit-code"] == "2"
    assert result.outputs["has-changes"] == "true"
    assert project.name("orders") in result.markdown
