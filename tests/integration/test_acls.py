"""ACLs planned and applied against the real broker, checked with real SASL clients.

The broker runs the StandardAuthorizer with allow.everyone.if.no.acl.found=false, and alice,
bob and carol have no ACLs but what tests grant. Every test owns only the bindings on its own
unique prefix (its ownership scope is alice's and bob's bindings on that prefix), so tests
running in parallel against the same broker never see each other's ACLs; what a test creates
out of band it deletes again with exact filters.
"""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from tests.integration.conftest import Project, all_acls, client_config, eventually, exact

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]

AUTHORIZATION_ERRORS = {
    "TOPIC_AUTHORIZATION_FAILED",
    "GROUP_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
}


def produce(stack: dict[str, str], user: str, topic: str, value: bytes) -> str | None:
    """Produce one record as ``user`` with an idempotent producer (librdkafka's
    enable.idempotence): None when it was written, else the error's name."""
    errors: list[KafkaError] = []
    delivered: list[KafkaError | None] = []
    producer = Producer(
        {
            **client_config(stack, user),
            "enable.idempotence": True,
            "message.timeout.ms": 8000,
            "error_cb": errors.append,
        }
    )
    producer.produce(topic, value, on_delivery=lambda err, _msg: delivered.append(err))
    producer.flush(12)
    if delivered and delivered[0] is None:
        return None
    found = [e for e in [*delivered, *errors] if e is not None]
    return found[0].name() if found else "no delivery report"


def consume(
    stack: dict[str, str], user: str, topic: str, group: str, timeout: float = 15.0
) -> tuple[list[bytes], str | None]:
    """Read ``topic`` from the start in ``group`` as ``user``: the first record's value, or the
    authorization error that stopped it."""
    consumer = Consumer(
        {
            **client_config(stack, user),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "error_cb": lambda _error: None,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.name() in AUTHORIZATION_ERRORS:
                    return [], error.name()
                continue
            value = message.value()
            return [value if isinstance(value, bytes) else b""], None
        return [], "timed out"
    finally:
        consumer.close()


def live_acls(admin: AdminClient, prefix: str) -> set[tuple[str, str, str, str, str]]:
    """Bindings on resources of this test's prefix: (principal, type, pattern, name, op)."""
    found = all_acls(admin)
    return {
        (
            acl.principal,
            acl.restype.name,
            acl.resource_pattern_type.name,
            acl.name,
            acl.operation.name,
        )
        for acl in found
        if acl.name.startswith(prefix)
    }


@pytest.fixture
def acl_cleanup(admin: AdminClient) -> Iterator[list[str]]:
    """Delete, exactly, every binding left on the prefixes a test registers."""
    prefixes: list[str] = []
    yield prefixes
    if not prefixes:
        return
    found = all_acls(admin)
    mine = [acl for acl in found if acl.name.startswith(tuple(prefixes))]
    if mine:
        for future in admin.delete_acls([exact(a) for a in mine], request_timeout=10).values():
            future.result()


def own(project: Project, *principals: str) -> None:
    """Scope the project's ACL ownership to these principals' bindings on its prefix."""
    with (project.root / "kafkaplan.yaml").open("a") as file:
        file.write(
            "acls:\n"
            "  ownership:\n"
            "    - team: it\n"
            f"      principals: [{', '.join(principals)}]\n"
            f"      resource_prefixes: [{project.prefix}]\n"
        )


@pytest.mark.matrix
def test_roles_grant_and_revoke_real_access(
    make_project: MakeProject,
    admin: AdminClient,
    stack: dict[str, str],
    out_of_band: Callable[[list[AclBinding]], None],
    acl_cleanup: list[str],
) -> None:
    project = make_project()
    acl_cleanup.append(project.prefix)
    own(project, "User:alice", "User:bob")
    topic, group = project.name("orders"), f"{project.prefix}billing"
    topic_spec = f"topics:\n  - name: {topic}\n    partitions: 1\n"
    project.specs(topic_spec)
    assert project.run("apply", "--auto-approve").code == 0

    # Bindings outside the owned scope, made by someone else: carol's on our topic (another
    # principal) and alice's on a resource outside our prefix.
    elsewhere = f"u{uuid.uuid4().hex[:10]}.other.v1"
    unmanaged = [
        AclBinding(
            ResourceType.TOPIC,
            topic,
            ResourcePatternType.LITERAL,
            "User:carol",
            "*",
            AclOperation.READ,
            AclPermissionType.ALLOW,
        ),
        AclBinding(
            ResourceType.TOPIC,
            elsewhere,
            ResourcePatternType.LITERAL,
            "User:alice",
            "*",
            AclOperation.DESCRIBE,
            AclPermissionType.ALLOW,
        ),
    ]
    out_of_band(unmanaged)

    def unmanaged_survive() -> None:
        assert ("User:carol", "TOPIC", "LITERAL", topic, "READ") in live_acls(admin, topic)
        assert ("User:alice", "TOPIC", "LITERAL", elsewhere, "DESCRIBE") in live_acls(
            admin, elsewhere
        )

    # Before: neither may use the topic.
    assert produce(stack, "alice", topic, b"early") in AUTHORIZATION_ERRORS
    assert consume(stack, "bob", topic, group, timeout=10)[1] in AUTHORIZATION_ERRORS

    roles = textwrap.dedent(
        f"""\
        acls:
          - principal: User:alice
            role: producer
            topics: [{topic}]
          - principal: User:bob
            role: consumer
            topics: [{topic}]
            group: {group}
        """
    )
    project.specs(topic_spec + roles)
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err
    assert "ACLs of User:alice: 2 to create" in plan.out
    assert "ACLs of User:bob: 3 to create" in plan.out
    assert f"+ acl.User:bob.group.literal.{group}.READ.ALLOW.*" in plan.out
    assert f"? acl.User:carol.topic.literal.{topic}.READ.ALLOW.*" in plan.out
    assert f"? acl.User:alice.topic.literal.{elsewhere}.DESCRIBE.ALLOW.*" in plan.out

    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert "Apply complete: 5 of 5 changes applied." in applied.out
    unmanaged_survive()

    # After: alice's idempotent producer writes (WRITE on the topic is all it needs), bob
    # reads it back in his group. ACLs reach the broker through the metadata log: poll.
    eventually(lambda: _assert_equal(produce(stack, "alice", topic, b"order-1"), None))
    values, error = consume(stack, "bob", topic, group)
    assert (values, error) == ([b"order-1"], None)

    again = project.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "No changes." in again.out
    reapply = project.run("apply", "--auto-approve")
    assert reapply.code == 0
    assert "Apply complete" not in reapply.out
    unmanaged_survive()

    # A binding in the owned scope that no spec declares is planned for deletion, which
    # needs deletes to be enabled.
    out_of_band(
        [
            AclBinding(
                ResourceType.TOPIC,
                topic,
                ResourcePatternType.LITERAL,
                "User:alice",
                "*",
                AclOperation.DESCRIBE_CONFIGS,
                AclPermissionType.ALLOW,
            )
        ]
    )
    kept = project.run("apply", "--auto-approve")
    assert kept.code == 0
    assert "1 ACL binding in the owned scope is in no spec: kept" in kept.out
    assert f"acl.User:alice.topic.literal.{topic}.DESCRIBE_CONFIGS.ALLOW.*" in kept.out
    assert ("User:alice", "TOPIC", "LITERAL", topic, "DESCRIBE_CONFIGS") in live_acls(admin, topic)

    # bob's role goes: with deletes enabled his bindings (and the stray one) are deleted, and
    # he loses access; alice keeps hers; carol's and the other prefix's survive.
    project.specs(topic_spec + roles.split("  - principal: User:bob")[0])
    revoked = project.run("apply", "--auto-approve", "--allow-deletes")
    assert revoked.code == 0, revoked.out + revoked.err
    assert "ACLs of User:bob: 3 to delete" in revoked.out
    assert "access-loss: User:bob loses READ on topic" in revoked.out
    assert "Apply complete: 4 of 4 changes applied." in revoked.out
    assert {acl for acl in live_acls(admin, topic) if acl[0] != "User:carol"} == {
        ("User:alice", "TOPIC", "LITERAL", topic, "WRITE"),
        ("User:alice", "TOPIC", "LITERAL", topic, "DESCRIBE"),
    }
    unmanaged_survive()
    eventually(
        lambda: _assert_in(consume(stack, "bob", topic, group, timeout=8)[1], AUTHORIZATION_ERRORS)
    )
    assert produce(stack, "alice", topic, b"order-2") is None
    assert project.run("plan", "--detailed-exitcode").code == 0


def _assert_equal(value: object, expected: object) -> None:
    assert value == expected


def _assert_in(value: object, expected: set[str]) -> None:
    assert value in expected


def test_transactional_producer_role(
    make_project: MakeProject,
    stack: dict[str, str],
    acl_cleanup: list[str],
) -> None:
    """A transactional producer needs WRITE/DESCRIBE on its transactional id besides the
    topic; the role grants both."""
    project = make_project()
    acl_cleanup.append(project.prefix)
    own(project, "User:alice")
    topic, txid = project.name("payments"), f"{project.prefix}gateway-0"
    project.specs(
        f"""\
        topics:
          - name: {topic}
            partitions: 1
        acls:
          - principal: User:alice
            role: transactional-producer
            topics: [{topic}]
            transactional_id_prefix: {project.prefix}gateway-
        """
    )
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert (
        f"+ acl.User:alice.transactional-id.prefixed.{project.prefix}gateway-.WRITE.ALLOW.*"
        in applied.out
    )

    def commits() -> None:
        producer = Producer(
            {
                **client_config(stack, "alice"),
                "transactional.id": txid,
                "transaction.timeout.ms": 10000,
                "error_cb": lambda _error: None,
            }
        )
        try:
            producer.init_transactions(10)
            producer.begin_transaction()
            producer.produce(topic, b"payment-1")
            producer.commit_transaction(10)
        except Exception as exc:
            raise AssertionError(f"transaction failed: {exc}") from exc

    eventually(commits, timeout=30)


def test_saved_plan_is_stale_after_an_out_of_band_grant(
    make_project: MakeProject,
    admin: AdminClient,
    out_of_band: Callable[[list[AclBinding]], None],
    acl_cleanup: list[str],
) -> None:
    project = make_project()
    acl_cleanup.append(project.prefix)
    own(project, "User:bob")
    group = f"{project.prefix}reporting"
    project.specs(
        f"""\
        acls:
          - principal: User:bob
            resource_type: group
            names: [{group}]
            operations: [READ]
        """
    )
    planfile = str(project.root / "plan.json")
    assert project.run("plan", "--out", planfile).code == 0
    saved = json.loads((project.root / "plan.json").read_text())
    address = f"acl.User:bob.group.literal.{group}.READ.ALLOW.*"
    assert saved["resource_fingerprints"] == {address: "absent"}

    out_of_band(
        [
            AclBinding(
                ResourceType.GROUP,
                group,
                ResourcePatternType.LITERAL,
                "User:bob",
                "*",
                AclOperation.READ,
                AclPermissionType.ALLOW,
            )
        ]
    )
    stale = project.run("apply", planfile)
    assert stale.code == 1
    assert f"saved plan is stale: {address} changed since it was planned" in stale.err
    assert project.run("plan", "--detailed-exitcode").code == 0


def test_an_apply_of_many_bindings_waits_until_the_broker_shows_each(
    make_project: MakeProject, admin: AdminClient, acl_cleanup: list[str]
) -> None:
    """More bindings than settle asks for one by one (apply.settle.EXACT_ACL_READS): the
    apply waits for the last one, then reads them all; the plan right after is empty, and
    deleting them all is awaited the same way."""
    project = make_project()
    acl_cleanup.append(project.prefix)
    own(project, "User:alice")
    topics = [project.name(f"t{i:02d}") for i in range(40)]
    project.specs(
        "topics:\n"
        + "".join(f"  - name: {t}\n    partitions: 1\n" for t in topics)
        + "acls:\n  - principal: User:alice\n    resource_type: topic\n"
        + "    operations: [READ, WRITE]\n"
        + f"    names: [{', '.join(topics)}]\n"
    )

    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert "Apply complete: 120 of 120 changes applied." in applied.out
    assert "does not report" not in applied.err
    live = live_acls(admin, project.prefix)
    assert {(t, op) for _, _, _, t, op in live} == {
        (t, op) for t in topics for op in ("READ", "WRITE")
    }
    again = project.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err

    project.specs("topics:\n" + "".join(f"  - name: {t}\n    partitions: 1\n" for t in topics))
    revoked = project.run("apply", "--auto-approve", "--allow-deletes", "--max-destroy", "80")
    assert revoked.code == 0, revoked.out + revoked.err
    assert "Apply complete: 80 of 80 changes applied." in revoked.out
    assert "does not report" not in revoked.err
    assert live_acls(admin, project.prefix) == set()
