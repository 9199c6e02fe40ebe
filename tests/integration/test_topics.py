"""Topics planned and applied end to end against the real broker."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from confluent_kafka.admin import (
    AclOperation,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from kafkaplan.errors import AuthenticationFailed
from kafkaplan.live.cluster import KafkaCluster
from kafkaplan.spec.project import KafkaConnection
from tests.integration.conftest import (
    PROJECT,
    Project,
    eventually,
    grant,
    grant_lease,
    partition_count,
    revoke,
    topic_configs,
)

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]


def alter(admin: AdminClient, topic: str, key: str, value: str | None) -> None:
    """An out-of-band config change, made with plain confluent-kafka."""
    op = AlterConfigOpType.DELETE if value is None else AlterConfigOpType.SET
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry(key, value, incremental_operation=op)],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result()


@pytest.mark.matrix
def test_create_then_no_changes(make_project: MakeProject, admin: AdminClient) -> None:
    project = make_project()
    orders, audit = project.name("orders"), project.name("audit")
    project.specs(
        f"""\
        topics:
          - name: {orders}
            partitions: 3
            configs:
              retention.ms: 7d
              cleanup.policy: delete
              compression.type: zstd
          - name: {audit}
            configs:
              cleanup.policy: compact
              segment.bytes: 256MiB
        """
    )
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert f"+ topic.{orders}" in plan.out
    assert re.search(r"configs\.retention\.ms +604800000 \(7d\)", plan.out)
    assert "Plan: 2 to create, 0 to update, 0 to delete." in plan.out

    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert f"✓ topic.{orders} (create) done" in applied.out
    assert "Apply complete: 2 of 2 changes applied." in applied.out

    assert partition_count(admin, orders) == 3
    assert partition_count(admin, audit) == 2  # the environment default
    configs = topic_configs(admin, orders)
    assert configs["retention.ms"] == ("604800000", "DYNAMIC_TOPIC_CONFIG")
    assert configs["compression.type"] == ("zstd", "DYNAMIC_TOPIC_CONFIG")
    assert topic_configs(admin, audit)["segment.bytes"] == ("268435456", "DYNAMIC_TOPIC_CONFIG")

    again = project.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "No changes." in again.out
    reapply = project.run("apply", "--auto-approve")
    assert reapply.code == 0
    assert "No changes." in reapply.out
    assert "Apply complete" not in reapply.out


@pytest.mark.matrix
def test_config_change_and_partition_increase(
    make_project: MakeProject, admin: AdminClient
) -> None:
    project = make_project()
    topic = project.name("payments")
    spec = """\
        topics:
          - name: {topic}
            partitions: {partitions}
            configs:
              retention.ms: {retention}
        """
    project.specs(spec.format(topic=topic, partitions=2, retention="7d"))
    assert project.run("apply", "--auto-approve").code == 0

    project.specs(spec.format(topic=topic, partitions=4, retention="1d"))
    plan = project.run("plan", "--format", "json")
    assert plan.code == 0, plan.err
    [change] = json.loads(plan.out)["changes"]
    assert change["action"] == "update"
    assert {(f["path"], f["before"], f["after"]) for f in change["fields"]} == {
        ("partitions", 2, 4),
        ("configs.retention.ms", "604800000", "86400000"),
    }
    assert sorted(r["label"] for r in change["risks"]) == ["data-loss", "ordering"]

    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert partition_count(admin, topic) == 4
    assert topic_configs(admin, topic)["retention.ms"][0] == "86400000"
    assert project.run("plan", "--detailed-exitcode").code == 0


def test_no_perpetual_diffs_from_spelling_or_defaults(
    make_project: MakeProject, admin: AdminClient
) -> None:
    project = make_project()
    topic = project.name("spelling")
    project.specs(
        f"""\
        topics:
          - name: {topic}
            configs:
              retention.ms: 7d
              cleanup.policy: [delete, compact]
              unclean.leader.election.enable: false
              min.cleanable.dirty.ratio: 0.5
        """
    )
    assert project.run("apply", "--auto-approve").code == 0
    # The same values spelled the way Kafka stores them, in another order, plus a config
    # declared at its broker default that was never set on the topic.
    project.specs(
        f"""\
        topics:
          - name: {topic}
            configs:
              retention.ms: 604800000
              cleanup.policy: compact,delete
              unclean.leader.election.enable: "false"
              min.cleanable.dirty.ratio: "0.50"
              max.message.bytes: 1048588
        """
    )
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert "No changes." in plan.out


def test_out_of_band_changes(make_project: MakeProject, admin: AdminClient) -> None:
    project = make_project()
    topic = project.name("drifty")
    project.specs(
        f"""\
        topics:
          - name: {topic}
            configs:
              retention.ms: 7d
              segment.ms: null
        """
    )
    assert project.run("apply", "--auto-approve").code == 0
    alter(admin, topic, "retention.ms", "3600000")  # a declared config: drift
    alter(admin, topic, "max.message.bytes", "2000000")  # undeclared: left alone
    alter(admin, topic, "segment.ms", "7200000")  # declared as "no override": removed

    plan = project.run("plan", "--format", "json")
    [change] = json.loads(plan.out)["changes"]
    assert [(f["path"], f["before"], f["after"]) for f in change["fields"]] == [
        ("configs.retention.ms", "3600000", "604800000"),
        ("configs.segment.ms", "7200000", None),
    ]
    assert project.run("apply", "--auto-approve").code == 0
    configs = topic_configs(admin, topic)
    assert configs["retention.ms"] == ("604800000", "DYNAMIC_TOPIC_CONFIG")
    assert configs["max.message.bytes"] == ("2000000", "DYNAMIC_TOPIC_CONFIG")
    assert configs["segment.ms"][1] != "DYNAMIC_TOPIC_CONFIG"
    assert project.run("plan", "--detailed-exitcode").code == 0


def test_impossible_changes_are_plan_errors(make_project: MakeProject, admin: AdminClient) -> None:
    project = make_project()
    topic = project.name("fixed")
    project.specs(f"topics:\n  - name: {topic}\n    partitions: 3\n")
    assert project.run("apply", "--auto-approve").code == 0
    project.specs(f"topics:\n  - name: {topic}\n    partitions: 2\n    replication_factor: 2\n")

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 1
    assert "partitions cannot decrease (3 -> 2)" in plan.out
    assert "replication factor 2 needs at least that many brokers; the cluster has 1" in plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 1
    assert "Nothing was applied." in applied.err
    assert partition_count(admin, topic) == 3


def test_broker_refusal_is_caught_at_plan_time(
    make_project: MakeProject, admin: AdminClient
) -> None:
    project = make_project()
    topic = project.name("toobig")
    project.specs(f"topics:\n  - name: {topic}\n    replication_factor: 3\n")
    plan = project.run("plan")
    assert plan.code == 1
    assert "replication factor 3 needs at least that many brokers; the cluster has 1" in plan.out
    assert topic not in admin.list_topics(timeout=10).topics


def test_config_update_the_broker_refuses_fails_the_plan(
    make_project: MakeProject, admin: AdminClient
) -> None:
    """The stack's broker has no tiered storage: enabling remote storage on an existing
    topic is refused. The dry run at plan time says so, instead of every apply failing."""
    project = make_project()
    topic, grown = project.name("remote"), project.name("grown")
    project.specs(f"topics:\n  - name: {topic}\n  - name: {grown}\n    partitions: 2\n")
    assert project.run("apply", "--auto-approve").code == 0
    project.specs(
        f"""\
        topics:
          - name: {topic}
            configs:
              remote.storage.enable: true
              retention.ms: 2d
          - name: {grown}
            partitions: 4
        """
    )
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 1, plan.out + plan.err
    assert (
        f"specs/main.yaml:2: topic.{topic}: the broker would refuse this config update: "
        "Tiered Storage functionality is disabled in the broker"
    ) in plan.out
    assert f"topic.{grown}: the broker would refuse" not in plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 1, applied.out + applied.err
    configs = topic_configs(admin, topic)
    assert "remote.storage.enable" not in configs or configs["remote.storage.enable"][0] == "false"
    assert configs["retention.ms"][1] != "DYNAMIC_TOPIC_CONFIG", "the dry run changed nothing"
    assert partition_count(admin, grown) == 2


@pytest.mark.matrix
def test_saved_plan_applies_and_refuses_when_stale(
    make_project: MakeProject, admin: AdminClient
) -> None:
    project = make_project()
    topic = project.name("saved")
    project.specs(f"topics:\n  - name: {topic}\n    configs:\n      retention.ms: 2d\n")
    assert project.run("apply", "--auto-approve").code == 0
    project.specs(f"topics:\n  - name: {topic}\n    configs:\n      retention.ms: 3d\n")
    planfile = str(project.root / "plan.json")
    assert project.run("plan", "--out", planfile).code == 0

    alter(admin, topic, "retention.ms", "3600000")  # someone changes it in between
    stale = project.run("apply", planfile)
    assert stale.code == 1
    assert f"saved plan is stale: topic.{topic} changed since it was planned" in stale.err
    assert topic_configs(admin, topic)["retention.ms"][0] == "3600000"

    assert project.run("plan", "--out", planfile).code == 0
    fresh = project.run("apply", planfile)
    assert fresh.code == 0, fresh.err
    assert topic_configs(admin, topic)["retention.ms"][0] == str(3 * 86_400_000)


@pytest.mark.parametrize("command", [("plan",), ("drift",), ("apply", "--auto-approve")])
def test_unreachable_broker(
    make_project: MakeProject, command: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kafkaplan.live.retry")
    project = make_project(timeout="2s")
    project.env["KAFKAPLAN_BOOTSTRAP_SERVERS"] = "127.0.0.1:1"
    topic = project.name("x")
    # The bindings are read alongside the metadata, the topic's configs too.
    project.specs(
        f"topics:\n  - name: {topic}\n"
        f"acls:\n  - principal: User:alice\n    role: consumer\n    topics: [{topic}]\n"
        f"    group: {project.name('g')}\n"
    )
    result = project.run("--debug", *command)
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == (
        "Error: kafka: no broker answered within 2s (tried bootstrap_servers 127.0.0.1:1); "
        "last reported: sasl_plaintext://127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 "
        "failed: Connection refused (hint: check bootstrap_servers and that the cluster is up)"
    )
    # One timeout, not one per attempt, for every read sent: a cluster never reached is
    # not retried.
    assert "retrying" not in result.err
    assert [r.getMessage() for r in caplog.records if r.name == "kafkaplan.live.retry"] == []


@pytest.mark.parametrize(
    ("address", "protocol", "said"),
    [
        # A host name that does not resolve (the resolver's words follow its name).
        (
            "kafka-1.invalid:9092",
            "SASL_PLAINTEXT",
            "(hint: check the host names in bootstrap_servers)",
        ),
        # The registry's port: an HTTP server answers.
        (
            "{registry}",
            "SASL_PLAINTEXT",
            "last reported: sasl_plaintext://{registry}/bootstrap: the answer began with 'HTTP' "
            "(hint: "
            "something answers at that address, but not as a Kafka broker does: check the "
            "port in bootstrap_servers)",
        ),
        # The broker's SASL listener, spoken to without SASL: it drops every connection.
        (
            "{broker}",
            "PLAINTEXT",
            "(hint: check bootstrap_servers, that the cluster is up, and that "
            "security_protocol and sasl_mechanism match the broker's listener)",
        ),
    ],
    ids=["unresolved", "http", "plaintext-to-sasl"],
)
def test_a_broker_that_does_not_answer_is_reported_with_the_clients_reason(
    make_project: MakeProject, stack: dict[str, str], address: str, protocol: str, said: str
) -> None:
    registry = stack["KAFKAPLAN_SCHEMA_REGISTRY_URL"].split("/")[2]
    broker = stack["KAFKAPLAN_BOOTSTRAP_SERVERS"]
    address = address.format(registry=registry, broker=broker)
    text = PROJECT.replace("security_protocol: SASL_PLAINTEXT", f"security_protocol: {protocol}")
    if protocol == "PLAINTEXT":
        text = "\n".join(line for line in text.splitlines() if "sasl_" not in line) + "\n"
    project = make_project(timeout="2s", project=text)
    project.env["KAFKAPLAN_BOOTSTRAP_SERVERS"] = address
    project.specs(f"topics:\n  - name: {project.name('x')}\n")
    result = project.run("plan")
    assert result.code == 1
    last = result.err.strip().splitlines()[-1]
    assert last.startswith(
        f"Error: kafka: no broker answered within 2s (tried bootstrap_servers {address})"
    ), last
    assert last.endswith(said.format(registry=registry)), last
    if address.endswith(".invalid:9092"):
        assert f"; last reported: sasl_plaintext://{address}/bootstrap: Failed to resolve" in last


def test_wrong_password(make_project: MakeProject, stack: dict[str, str]) -> None:
    project = make_project(password_env="KAFKAPLAN_WRONG_PASSWORD")
    project.env["KAFKAPLAN_WRONG_PASSWORD"] = "not-the-password"
    project.specs(f"topics:\n  - name: {project.name('x')}\n")
    result = project.run("--debug", "plan")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("Error: kafka: authentication failed"), result.err
    assert "retrying" not in result.err, "a refusal is never retried"
    assert "not-the-password" not in result.out + result.err


def test_more_partitions_than_the_controller_takes_in_one_request_are_planned_in_several(
    make_project: MakeProject, admin: AdminClient
) -> None:
    """A KRaft controller refuses a request of more than 10,000 metadata records, every
    topic in it: 200 topics of 50 partitions, or 60 partitions more for each of 200, must be
    asked in several requests, or a plan that is fine topic by topic shows every topic
    refused ("Excessively large number of partitions per request")."""
    project = make_project()
    grown = [project.name(f"grown{i:03d}") for i in range(200)]
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in grown]).values():
        future.result()
    new = [project.name(f"new{i:03d}") for i in range(200)]
    project.specs(
        "topics:\n"
        + "".join(f"  - name: {t}\n    partitions: 61\n" for t in grown)
        + "".join(f"  - name: {t}\n    partitions: 50\n" for t in new)
    )
    result = project.run("plan", "--detailed-exitcode")
    assert result.code == 2, result.out + result.err
    assert "Errors" not in result.out, result.out[:3000]
    assert "Plan: 200 to create, 200 to update, 0 to delete." in result.out


def test_a_refused_login_ends_every_read_waiting_for_an_answer(stack: dict[str, str]) -> None:
    """Reads sent together before the broker has answered (a plan's bindings and configs,
    sent alongside its metadata) fail with the refusal as soon as the client reports it,
    not after the request timeout: without that, a wrong password would take a minute here."""
    connection = KafkaConnection(
        bootstrap_servers=stack["KAFKAPLAN_BOOTSTRAP_SERVERS"],
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="admin",
        sasl_password_env="KAFKAPLAN_WRONG_PASSWORD",
        timeout="60s",
    )
    cluster = KafkaCluster(
        connection, {"KAFKAPLAN_WRONG_PASSWORD": "not-the-password"}, read_only=True
    )
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            reads: list[Future[object]] = [
                pool.submit(cluster.describe_acls),
                pool.submit(cluster.describe_topic_configs, ["any.topic.v1"]),
            ]
        for read in reads:
            with pytest.raises(AuthenticationFailed, match="authentication failed"):
                read.result()
    finally:
        cluster.close()


def test_missing_permission_and_partial_failure(
    make_project: MakeProject, admin: AdminClient
) -> None:
    """alice may change one topic's configs but not the other's: the allowed change is
    applied, the other fails naming the missing permission, and a re-run by a principal
    with the permission converges."""
    project = make_project(username="alice", password_env="KAFKAPLAN_STACK_PASSWORD_ALICE")
    project.env["KAFKAPLAN_STACK_PASSWORD_ALICE"] = "alice-secret"
    allowed, guarded = project.name("allowed"), project.name("guarded")
    for future in admin.create_topics([NewTopic(allowed, 1, 1), NewTopic(guarded, 1, 1)]).values():
        future.result()
    filters = grant(
        admin, "User:alice", project.prefix, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS
    )
    filters += grant(admin, "User:alice", allowed, AclOperation.ALTER_CONFIGS)
    filters += grant_lease(admin, "User:alice", project.prefix)
    try:
        project.specs(
            f"""\
            topics:
              - name: {allowed}
                partitions: 1
                configs: {{retention.ms: 1d}}
              - name: {guarded}
                partitions: 1
                configs: {{retention.ms: 1d}}
            """
        )

        def sees_both() -> None:
            plan = project.run("plan", "--detailed-exitcode")
            assert plan.code == 2, plan.out + plan.err
            assert "Plan: 0 to create, 2 to update, 0 to delete." in plan.out

        eventually(sees_both)
        result = project.run("apply", "--auto-approve")
        assert result.code == 1
        assert f"✓ topic.{allowed} (update) done" in result.out
        assert (
            f"✗ topic.{guarded} (update) failed: configs: permission denied (TOPIC_AUTHORIZATION_FAILED)"
            in result.out
        )
        assert "grant ALTER_CONFIGS on the managed topics" in result.out
        assert "Apply finished with failures: 1 of 2 changes applied, 1 failed." in result.out
        assert "Traceback" not in result.out + result.err
        assert topic_configs(admin, allowed)["retention.ms"][0] == "86400000"
        assert topic_configs(admin, guarded)["retention.ms"][1] != "DYNAMIC_TOPIC_CONFIG"
    finally:
        revoke(admin, filters)

    # The admin finishes the job: only the failed change is left.
    project.env.clear()
    (project.root / "kafkaplan.yaml").write_text(
        (project.root / "kafkaplan.yaml")
        .read_text()
        .replace("sasl_username: alice", "sasl_username: admin")
        .replace("KAFKAPLAN_STACK_PASSWORD_ALICE", "KAFKAPLAN_SASL_PASSWORD")
    )
    plan = project.run("plan")
    assert "Plan: 0 to create, 1 to update, 0 to delete." in plan.out
    assert f"~ topic.{guarded}" in plan.out
    assert project.run("apply", "--auto-approve").code == 0
    assert project.run("plan", "--detailed-exitcode").code == 0
