"""Drift of ACLs and subjects changed by another client: Kafka's own AclCommand and plain
HTTP to the registry. Drift must report exactly those changes, and plan + apply must
restore the declared state. A principal that may not read ACLs gets them reported as not
checked while its topics are still checked.

Each test owns only its prefix: its principals are ``User:<prefix>...``, its topics,
groups and subjects start with the prefix; what it creates it deletes again, exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import (
    AclOperation,
    AdminClient,
    NewTopic,
)

from tests.integration.conftest import (
    Project,
    Registry,
    all_acls,
    call,
    eventually,
    exact,
    grant,
    kafka_tool,
    quote,
    revoke,
)

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]


@pytest.fixture(scope="session")
def registry(stack: dict[str, str]) -> Registry:
    return Registry(stack["KAFKAPLAN_SCHEMA_REGISTRY_URL"])


@pytest.fixture
def cleanup(admin: AdminClient, registry: Registry) -> Iterator[list[str]]:
    """Delete, exactly, every binding of the registered prefixes' principals or on their
    resources, and purge their subjects."""
    prefixes: list[str] = []
    global_level = registry.level()
    yield prefixes
    found = all_acls(admin)
    mine = [
        acl
        for acl in found
        if acl.name.startswith(tuple(prefixes))
        or acl.principal.startswith(tuple(f"User:{p}" for p in prefixes))
    ]
    if mine:
        for future in admin.delete_acls([exact(a) for a in mine], request_timeout=10).values():
            future.result()
    for prefix in prefixes:
        registry.purge(prefix)
    assert registry.level() == global_level


def schema(*extra: dict[str, Any]) -> str:
    fields = [{"name": "id", "type": "string"}, *extra]
    return json.dumps({"type": "record", "name": "Order", "namespace": "it", "fields": fields})


@pytest.mark.matrix
def test_drift_of_acls_and_subjects_changed_by_another_client(
    make_project: MakeProject,
    stack: dict[str, str],
    registry: Registry,
    cleanup: list[str],
) -> None:
    project = make_project()
    p = project.prefix
    cleanup.append(p)
    app, topic, group = f"User:{p}app", project.name("orders"), f"{p}app"
    subject = f"{topic}-value"
    with (project.root / "kafkaplan.yaml").open("a") as file:
        file.write(
            f"schemas:\n  owned_subjects: ['{p}']\n"
            f"acls:\n  ownership:\n    - team: it\n      principals: [{app}]\n"
        )
    project.write("specs/order.avsc", schema())
    project.specs(
        f"""\
        topics:
          - name: {topic}
            value_schema: order.avsc
        acls:
          - principal: {app}
            role: consumer
            topics: [{topic}]
            group: {group}
        """
    )
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err

    def clean() -> None:
        result = project.run("drift", "--format", "json")
        report = json.loads(result.out)
        assert [i for i in report["items"] if p in i["address"]] == []

    eventually(clean)

    # Out of band: a declared binding removed and one added inside the owned scope, with
    # Kafka's own AclCommand; a new schema version registered with plain HTTP.
    acl_command = "kafka-acls"
    kafka_tool(
        stack,
        acl_command,
        "--remove",
        "--force",
        "--allow-principal",
        app,
        "--operation",
        "Describe",
        "--topic",
        topic,
    )
    kafka_tool(
        stack,
        acl_command,
        "--add",
        "--allow-principal",
        app,
        "--operation",
        "Write",
        "--topic",
        topic,
    )
    note = {"name": "note", "type": ["null", "string"], "default": None}
    status, answer = call(
        f"{registry.url}/subjects/{quote(subject)}/versions", "POST", {"schema": schema(note)}
    )
    assert status == 200, answer

    removed = f"acl.{app}.topic.literal.{topic}.DESCRIBE.ALLOW.*"
    added = f"acl.{app}.topic.literal.{topic}.WRITE.ALLOW.*"

    def reports_exactly_those() -> dict[str, Any]:
        result = project.run("drift", "--format", "json")
        assert result.code == 2, result.out + result.err
        report = json.loads(result.out)
        mine = [(i["kind"], i["address"]) for i in report["items"] if p in i["address"]]
        assert mine == [
            ("changed", f"subject.{subject}"),
            ("missing", removed),
            ("unmanaged", added),
        ]
        return dict(report)

    report = eventually(reports_exactly_those)
    changed = next(i for i in report["items"] if i["address"] == f"subject.{subject}")
    assert changed["fields"] == [
        {"path": "fields.note", "before": "null | string = null", "after": None}
    ]
    text = project.run("drift").out
    assert f"+ {removed}: declared but absent" in text
    assert f"? {added}: in an owned scope but in no spec" in text

    # Without --allow-deletes the plan restores the binding, keeps the others and says why.
    plan = project.run("plan")
    assert plan.code == 0, plan.out + plan.err
    assert f"+ {removed}" in plan.out
    assert "1 ACL binding in the owned scope is in no spec: kept" in plan.out
    assert (
        f"specs/main.yaml:3: subject.{subject}: the declared schema is version 1 of this subject; version 2 was "
        "registered outside the specs: kept, because deletes are not enabled for this run"
    ) in plan.out
    plan = project.run("plan", "--allow-deletes")
    assert "Plan: 1 to create, 1 to update, 1 to delete." in plan.out, plan.out
    assert re.search(r"~ version +2 -> 1 \(rollback\)", plan.out), plan.out
    assert "schema-break: soft-deletes version 2, registered outside the specs" in plan.out
    applied = project.run("apply", "--auto-approve", "--allow-deletes")
    assert applied.code == 0, applied.out + applied.err
    assert (
        f"✓ subject.{subject} (update) done: version 1 is the latest again "
        "(soft-deleted versions [2])" in applied.out
    )
    assert registry.versions(subject) == [1]
    assert json.loads(registry.latest(subject)["schema"]) == json.loads(schema())

    def restored() -> None:
        result = project.run("drift", "--format", "json")
        assert result.code == 0, result.out
        assert [i for i in json.loads(result.out)["items"] if p in i["address"]] == []

    eventually(restored)
    again = project.run("plan", "--allow-deletes", "--detailed-exitcode")
    assert again.code == 0, again.out


def test_acls_not_readable_are_not_checked_while_topics_are(
    make_project: MakeProject, admin: AdminClient, cleanup: list[str]
) -> None:
    project = make_project(username="alice", password_env="KAFKAPLAN_STACK_PASSWORD_ALICE")
    p = project.prefix
    cleanup.append(p)
    project.env["KAFKAPLAN_STACK_PASSWORD_ALICE"] = "alice-secret"
    topic = project.name("orders")
    for future in admin.create_topics(
        [NewTopic(topic, 1, 1, config={"retention.ms": "86400000"})]
    ).values():
        future.result()
    # alice may see the prefix's topics and their configs, but not the cluster's ACLs.
    filters = grant(admin, "User:alice", p, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS)
    with (project.root / "kafkaplan.yaml").open("a") as file:
        file.write(f"acls:\n  ownership:\n    - team: it\n      principals: [User:{p}app]\n")
    project.specs(
        f"""\
        topics:
          - name: {topic}
            partitions: 1
            configs: {{retention.ms: 7d}}
        acls:
          - principal: User:{p}app
            role: producer
            topics: [{topic}]
        """
    )
    try:

        def partly_checked() -> None:
            result = project.run("drift")
            assert result.code == 2, result.out + result.err
            assert f"~ topic.{topic}: differs from its spec: configs.retention.ms" in result.out
            assert "acl" not in result.out.split("Not checked")[0].replace(topic, "")
            assert (
                "! acl: not checked: permission denied (CLUSTER_AUTHORIZATION_FAILED)" in result.out
            )
            assert "(kafkaplan needs DESCRIBE on the cluster to read ACLs)" in result.out
            assert (
                "Drift: 1 changed, 0 missing, 0 unmanaged; 1 not checked: the report is "
                "incomplete." in result.out
            )

        eventually(partly_checked)
    finally:
        revoke(admin, filters)
