"""The blast radius against the real broker: real producers, real consumer groups that
consume and commit, the in-use refusal and its override, exact counts of a retention cut."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from tests import clients
from tests.integration.conftest import Project, all_acls, eventually, exact

MakeProject = Callable[..., Project]
DAY_MS = 86_400_000


@pytest.fixture
def cleanup(admin: AdminClient, stack: dict[str, str]) -> Iterator[dict[str, list[Any]]]:
    """Readers to close, groups and ACL bindings (by resource prefix) to delete at the end."""
    made: dict[str, list[Any]] = {"readers": [], "groups": [], "prefixes": []}
    yield made
    for reader in made["readers"]:
        reader.close()
    clients.delete_groups(stack, made["groups"])
    prefixes = tuple(made["prefixes"])
    if prefixes:
        mine = [acl for acl in all_acls(admin) if acl.name.startswith(prefixes)]
        if mine:
            for future in admin.delete_acls([exact(a) for a in mine], request_timeout=10).values():
                future.result()


def test_blast_radius_in_use_refusal_and_exact_retention_cut(
    make_project: MakeProject,
    admin: AdminClient,
    stack: dict[str, str],
    cleanup: dict[str, list[Any]],
) -> None:
    project = make_project()
    prefix = project.prefix
    cleanup["prefixes"].append(prefix)
    with (project.root / "kafkaplan.yaml").open("a") as file:
        file.write(f"owned_topic_prefixes: [{prefix}]\n")
    kept, doomed = project.name("orders"), project.name("legacy")
    writer, reader_principal = f"User:{prefix}-writer", f"User:{prefix}-reader"
    group, idle, live = f"{prefix}-billing", f"{prefix}-audit", f"{prefix}-report"
    acls = (
        "acls:\n"
        f"  - principal: {writer}\n    role: producer\n    topics: [{kept}]\n"
        f"  - principal: {reader_principal}\n    role: consumer\n    topics: [{kept}]\n"
        f"    group: {group}\n"
    )

    def specs(retention: str, with_doomed: bool) -> None:
        text = (
            "topics:\n"
            f"  - name: {kept}\n    partitions: 1\n    owner: team-orders\n"
            f"    configs:\n      retention.ms: {retention}\n"
        )
        if with_doomed:
            text += f"  - name: {doomed}\n    partitions: 1\n"
        project.specs(text + acls)

    specs("30d", with_doomed=True)
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    # A binding made elsewhere, prefixed: a consumer the specs do not know.
    legacy = AclBinding(
        ResourceType.TOPIC,
        prefix,
        ResourcePatternType.PREFIXED,
        f"User:{prefix}-legacy",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    for future in admin.create_acls([legacy], request_timeout=10).values():
        future.result()

    now = int(time.time() * 1000)
    # 4 records three days old, then 2 just written.
    clients.produce_at(stack, kept, 0, [now - 3 * DAY_MS] * 4 + [now - 60_000] * 2)
    clients.produce_at(stack, doomed, 0, [now - 60_000] * 2)
    cleanup["groups"].extend([group, idle, live])
    # billing reads 3 records and stays; audit read 1 of the doomed topic and left;
    # report is a live member of the doomed topic.
    cleanup["readers"].append(
        clients.consume_and_commit(stack, group, kept, 3, client_id=f"{prefix}-billing-1")
    )
    clients.consume_and_commit(stack, idle, doomed, 1, client_id=f"{prefix}-audit-1").close()
    cleanup["readers"].append(
        clients.consume_and_commit(stack, live, doomed, 0, client_id=f"{prefix}-report-1")
    )

    specs("1d", with_doomed=False)

    def refused() -> Any:
        result = project.run("plan", "--allow-deletes", "--format", "json")
        assert result.code == 1, result.out + result.err
        return json.loads(result.out)

    plan = eventually(refused, timeout=30)
    [error] = [e for e in plan["errors"] if e["address"] == f"topic.{doomed}"]
    assert "still in use by consumer group(s)" in error["message"]
    assert f"{idle} (no live members, read recently, lag 1)" in error["message"]
    assert f"{live} (members {prefix}-report-1@" in error["message"]
    assert "--allow-in-use-deletes" in error["hint"]

    change = next(c for c in plan["changes"] if c["address"] == f"topic.{kept}")
    affected = change["affected"]
    assert affected["owner"] == "team-orders"
    assert [(p["principal"], p["role"], p["declared"]) for p in affected["producers"]] == [
        (writer, "producer", True)
    ]
    consumers = {(p["principal"], p["role"], p["declared"]) for p in affected["consumers"]}
    assert consumers == {
        (reader_principal, "consumer", True),
        (f"User:{prefix}-legacy", None, False),
    }
    [billing] = affected["groups"]
    assert billing["group"] == group
    assert billing["state"] == "STABLE"
    assert [m.split("@")[0] for m in billing["members"]] == [f"{prefix}-billing-1"]
    assert billing["lag"] == 3
    assert billing["active"]
    # The cut to 1 day deletes the 4 old records; billing has not read one of them.
    assert affected["messages_lost"] == 4
    assert billing["unread_lost"] == 1
    assert any("4 message(s) older than 1d are deleted" in r["message"] for r in change["risks"])

    overridden = project.run(
        "plan", "--allow-deletes", "--allow-in-use-deletes", "--format", "json"
    )
    assert overridden.code == 0, overridden.out + overridden.err
    document = json.loads(overridden.out)
    assert document["in_use_override"] is True
    assert not document["errors"]
    assert any(
        w["address"] == f"topic.{doomed}" and "deleted anyway" in w["message"]
        for w in document["warnings"]
    )
    markdown = project.run(
        "plan", "--allow-deletes", "--allow-in-use-deletes", "--format", "markdown"
    )
    assert markdown.code == 0
    assert "`--allow-in-use-deletes`" in markdown.out
    assert f"{group} (STABLE, 1 member(s): {prefix}-billing-1@" in markdown.out
    text = project.run("plan", "--allow-deletes")
    assert text.code == 1
    assert "      owner      team-orders" in text.out
    assert "      loses      4 message(s)" in text.out
    # Bytes: the deleted topic's size on disk (its leader's replica), exactly; the cut's at
    # most the size of its one partition, which loses records.
    sizes = clients.partition_sizes(stack, [(doomed, 0), (kept, 0)])
    doomed_change = next(c for c in document["changes"] if c["address"] == f"topic.{doomed}")
    assert doomed_change["affected"]["bytes_lost"] == sizes[(doomed, 0)] > 0
    assert doomed_change["affected"]["bytes_upper_bound"] is False
    kept_change = next(c for c in document["changes"] if c["address"] == f"topic.{kept}")
    assert kept_change["affected"]["bytes_lost"] == sizes[(kept, 0)] > sizes[(doomed, 0)]
    assert kept_change["affected"]["bytes_upper_bound"] is True
    assert f"bytes      up to {sizes[(kept, 0)]:,} bytes" in text.out


def test_removing_access_in_use_is_refused_unless_allowed(
    make_project: MakeProject,
    stack: dict[str, str],
    cleanup: dict[str, list[Any]],
) -> None:
    project = make_project()
    prefix = project.prefix
    cleanup["prefixes"].append(prefix)
    topic = project.name("orders")
    writer, reader = f"User:{prefix}-writer", f"User:{prefix}-reader"
    group = f"{prefix}-billing"
    with (project.root / "kafkaplan.yaml").open("a") as file:
        file.write(
            f"acls:\n  ownership:\n    - team: orders\n      principals: [{writer}, {reader}]\n"
        )
    topics = f"topics:\n  - name: {topic}\n    partitions: 1\n"
    project.specs(
        topics + "acls:\n"
        f"  - principal: {writer}\n    role: producer\n    topics: [{topic}]\n"
        f"  - principal: {reader}\n    role: consumer\n    topics: [{topic}]\n"
        f"    group: {group}\n"
    )
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    clients.produce_at(stack, topic, 0, [int(time.time() * 1000) - 60_000] * 3)
    cleanup["groups"].append(group)
    cleanup["readers"].append(
        clients.consume_and_commit(stack, group, topic, 2, client_id=f"{prefix}-billing-1")
    )
    # Both roles go: the reader's last READ on the topic and on its group, the writer's
    # last WRITE on a topic written a minute ago.
    project.specs(topics)

    def refused() -> Any:
        result = project.run("plan", "--allow-deletes", "--format", "json")
        assert result.code == 1, result.out + result.err
        return json.loads(result.out)

    plan = eventually(refused, timeout=30)
    in_use = {
        (u["principal"], u["operation"], u["resource"]): u
        for c in plan["changes"]
        for u in c["in_use"]
    }
    read_topic = in_use[(reader, "READ", f"topic {topic}")]
    [billing] = read_topic["groups"]
    assert billing["group"] == group
    assert [m.split("@")[0] for m in billing["members"]] == [f"{prefix}-billing-1"]
    assert billing["lag"] == 1
    assert in_use[(reader, "READ", f"group {group}")]["groups"][0]["state"] == "STABLE"
    assert in_use[(writer, "WRITE", f"topic {topic}")]["written"] == 3
    messages = [e["message"] for e in plan["errors"]]
    assert any(f"{reader} loses READ on topic {topic}" in m for m in messages)
    assert any(
        f"{writer} loses WRITE on topic {topic}, written 3 message(s)" in m for m in messages
    )
    assert all("--allow-in-use-deletes" in e["hint"] for e in plan["errors"])

    allowed = project.run("plan", "--allow-deletes", "--allow-in-use-deletes")
    assert allowed.code == 0, allowed.out + allowed.err
    assert f"access-loss: {reader} loses READ on topic {topic}" in allowed.out
    assert "deleted anyway: --allow-in-use-deletes" in allowed.out
