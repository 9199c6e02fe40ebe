"""Plans as artifacts against the real broker: JSON schema, deletes with message counts,
--target, --max-destroy, and saved-plan refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from tests.integration.conftest import Project, client_config

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]
PLAN_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "plan.schema.json").read_text()
)


def owned_project(make_project: MakeProject) -> Project:
    project = make_project()
    config = project.root / "kafkaplan.yaml"
    config.write_text(
        config.read_text() + f"owned_topic_prefixes: ['{project.prefix}']\nmax_destroy: 1\n"
    )
    return project


def produce(stack: dict[str, str], topic: str, count: int) -> None:
    producer = Producer(client_config(stack))
    for i in range(count):
        producer.produce(topic, key=str(i % 7).encode(), value=b"x" * 10)
    assert producer.flush(30) == 0


def test_json_plan_follows_the_documented_schema(make_project: MakeProject) -> None:
    project = make_project()
    project.specs(f"topics:\n  - name: {project.name('a')}\n    configs: {{retention.ms: 1d}}\n")
    result = project.run("plan", "--format", "json")
    assert result.code == 0
    document = json.loads(result.out)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert document["environment"] == "it"
    assert document["cluster_id"]
    assert document["changes"][0]["after"]["configs"] == {"retention.ms": "86400000"}


def test_deletes_are_opt_in_and_show_what_is_lost(
    make_project: MakeProject, admin: AdminClient, stack: dict[str, str]
) -> None:
    project = owned_project(make_project)
    keep, doomed = project.name("keep"), project.name("doomed")
    project.specs(f"topics:\n  - name: {keep}\n  - name: {doomed}\n")
    assert project.run("apply", "--auto-approve").code == 0
    produce(stack, doomed, 25)
    project.specs(f"topics:\n  - name: {keep}\n")

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert f"topic.{doomed}: in the owned topic scope but in no spec: kept" in plan.out
    assert project.run("apply", "--auto-approve").code == 0
    assert doomed in admin.list_topics(timeout=10).topics

    plan = project.run("plan", "--allow-deletes", "--format", "json")
    [change] = json.loads(plan.out)["changes"]
    assert change["action"] == "delete"
    assert change["risks"][0]["label"] == "data-loss"
    assert "25 message(s) in 2 partition(s)" in change["risks"][0]["message"]

    applied = project.run("apply", "--auto-approve", "--allow-deletes")
    assert applied.code == 0, applied.out
    assert f"✓ topic.{doomed} (delete) done" in applied.out
    assert doomed not in admin.list_topics(timeout=10).topics
    assert keep in admin.list_topics(timeout=10).topics


def test_max_destroy(make_project: MakeProject, admin: AdminClient) -> None:
    project = owned_project(make_project)
    names = [project.name(f"t{i}") for i in range(3)]
    project.specs("topics:\n" + "".join(f"  - name: {n}\n" for n in names))
    assert project.run("apply", "--auto-approve").code == 0
    project.specs("topics: []\n")
    refused = project.run("apply", "--auto-approve", "--allow-deletes")
    assert refused.code == 1
    assert "this plan deletes 3 resources, more than the limit of 1" in refused.out
    assert all(n in admin.list_topics(timeout=10).topics for n in names)
    allowed = project.run("apply", "--auto-approve", "--allow-deletes", "--max-destroy", "3")
    assert allowed.code == 0, allowed.out
    assert not any(n in admin.list_topics(timeout=10).topics for n in names)


def test_target_limits_plan_and_apply(make_project: MakeProject, admin: AdminClient) -> None:
    project = make_project()
    first, second = project.name("first"), project.name("second")
    project.specs(f"topics:\n  - name: {first}\n  - name: {second}\n")
    plan = project.run("plan", "--target", f"topic.{project.prefix}first.*")
    assert "Plan: 1 to create, 0 to update, 0 to delete." in plan.out
    assert project.run("apply", "--auto-approve", "--target", f"topic.{first}").code == 0
    topics = admin.list_topics(timeout=10).topics
    assert first in topics
    assert second not in topics


@pytest.mark.matrix
def test_saved_plan_for_another_cluster_or_version(make_project: MakeProject) -> None:
    project = make_project()
    project.specs(f"topics:\n  - name: {project.name('a')}\n")
    planfile = project.root / "plan.json"
    assert project.run("plan", "--out", str(planfile)).code == 0
    saved = json.loads(planfile.read_text())
    for field, value, expected in [
        ("cluster_id", "elsewhere", "plan was made for cluster elsewhere, but this is cluster"),
        ("kafkaplan_version", "9.9.9", "plan was made by kafkaplan 9.9.9"),
    ]:
        planfile.write_text(json.dumps({**saved, field: value}))
        result = project.run("apply", str(planfile))
        assert result.code == 1
        assert expected in result.err
    planfile.write_text(json.dumps(saved))
    assert project.run("apply", str(planfile)).code == 0
