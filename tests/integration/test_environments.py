"""Several environments in one `plan` run against the real broker: one report, a section
per environment, combined exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]

ENVIRONMENT = """\
  {name}:
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_BOOTSTRAP_SERVERS}}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: ${{env:KAFKAPLAN_SASL_USERNAME}}
      sasl_password_env: KAFKAPLAN_SASL_PASSWORD
      timeout: 20s
    defaults: {{partitions: 2, replication_factor: 1}}
    variables: {{prefix: {prefix}}}
"""


def fleet(make_project: MakeProject, names: list[str]) -> Project:
    """A project whose environments share the stack, each with its own topic prefix."""
    project = make_project()
    config = project.root / "kafkaplan.yaml"
    text = config.read_text()
    head, _, tail = text.partition("environments:\n")
    envs = "".join(
        ENVIRONMENT.format(name=name, prefix=f"{project.prefix}{name}") for name in names
    )
    lease = tail[tail.index("lease:") :]
    config.write_text(
        f"{head}environments:\n{envs}{lease}".replace("default_environment: it\n", "")
    )
    project.specs("topics:\n  - name: ${prefix}orders.events.v1\n")
    return project


def test_several_environments_plan_as_one_report_with_combined_exit_codes(
    make_project: MakeProject,
) -> None:
    names = ["dev", "stage", "prod"]
    project = fleet(make_project, names)
    created = project.run("apply", "--env", "dev", "--auto-approve")
    assert created.code == 0, created.err

    plan = project.run("plan", "--env", "dev", "--env", "stage", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert "kafkaplan plan for 2 environments" in plan.out
    assert "  dev    no changes\n  stage  1 to create, 0 to update, 0 to delete\n" in plan.out
    assert 'kafkaplan plan for environment "dev"' in plan.out
    assert f"+ topic.{project.prefix}stageorders.events.v1" in plan.out
    assert "prod" not in plan.out

    same = project.run("plan", "--env", "dev", "--detailed-exitcode")
    assert same.code == 0, "a single environment still plans as before"
    assert "environments" not in same.out

    document = json.loads(project.run("plan", "--all-envs", "--format", "json").out)
    assert document["kind"] == "plan-set"
    assert [p["environment"] for p in document["plans"]] == names
    assert [len(p["changes"]) for p in document["plans"]] == [0, 1, 1]

    markdown = project.run("plan", "--all-envs", "--format", "markdown").out
    assert markdown.startswith("## kafkaplan plan: 3 environments\n")
    assert "| `prod` | 1 to create, 0 to update, 0 to delete |" in markdown
    assert markdown.count("### kafkaplan plan `") == 3


def test_an_environment_that_cannot_be_planned_fails_the_run_and_the_others_are_shown(
    make_project: MakeProject,
) -> None:
    project = fleet(make_project, ["dev", "down"])
    config = project.root / "kafkaplan.yaml"
    text = config.read_text()
    start = text.index("  down:")
    broken = text[start:].replace("${env:KAFKAPLAN_BOOTSTRAP_SERVERS}", "127.0.0.1:1", 1)
    broken = broken.replace("timeout: 20s", "timeout: 2s\n      retries: 0", 1)
    config.write_text(text[:start] + broken)
    plan = project.run("plan", "--all-envs", "--detailed-exitcode")
    assert plan.code == 1
    assert "  dev   1 to create, 0 to update, 0 to delete\n  down  1 error(s)\n" in plan.out
    assert f"+ topic.{project.prefix}devorders.events.v1" in plan.out
