"""Group configs and the broker's version against the real broker, on every Kafka release
of the matrix (KAFKAPLAN_STACK_KAFKA_VERSION says which one runs; each test states what
each release answers).

- 3.9: no group configs (the plan says so with the version); the topic configs 4.0
  removed still work.
- 4.1: consumer group configs; share groups present but not enabled; no streams groups.
- 4.4: consumer, share and streams group configs.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka.admin import (
    AclOperation,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from tests.integration.conftest import (
    Project,
    eventually,
    grant,
    grant_lease,
    revoke,
    topic_configs,
)

pytestmark = [pytest.mark.integration, pytest.mark.matrix]

MakeProject = Callable[..., Project]


@pytest.fixture(scope="module")
def release(stack: dict[str, str]) -> tuple[int, int]:
    version = stack.get("KAFKAPLAN_STACK_KAFKA_VERSION", "")
    parts = version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        pytest.fail(
            f"KAFKAPLAN_STACK_KAFKA_VERSION is {version!r}: take the settings from "
            '`eval "$(scripts/stack env)"`',
            pytrace=False,
        )
    return int(parts[0]), int(parts[1])


def broker(stack: dict[str, str]) -> str:
    return stack["KAFKAPLAN_BOOTSTRAP_SERVERS"].split(",")[0]


def group_configs(admin: AdminClient, group_id: str) -> dict[str, str]:
    """The group's own values, as a plain admin client reads them."""
    resource = ConfigResource(ResourceType.GROUP, group_id)
    entries = admin.describe_configs([resource], request_timeout=10)[resource].result()
    return {key: e.value for key, e in entries.items() if e.source == 8}  # GROUP_CONFIG


def set_group_config(admin: AdminClient, group_id: str, key: str, value: str) -> None:
    resource = ConfigResource(
        ResourceType.GROUP,
        group_id,
        incremental_configs=[ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)],
    )
    admin.incremental_alter_configs([resource], request_timeout=10)[resource].result()


def consumer_spec(group_id: str, session: str = "50s") -> str:
    return f"""\
    groups:
      - id: {group_id}
        configs:
          consumer.session.timeout.ms: {session}
          consumer.heartbeat.interval.ms: 6s
    """


def test_group_configs_plan_apply_drift_and_import_round_trip(
    make_project: MakeProject,
    admin: AdminClient,
    stack: dict[str, str],
    release: tuple[int, int],
) -> None:
    project = make_project()
    group_id = f"{project.prefix}billing"
    project.specs(consumer_spec(group_id))

    plan = project.run("plan", "--detailed-exitcode")

    if release < (4, 0):
        # Kafka 3.9: a plan error naming the group and the version, no broker stack trace.
        assert plan.code == 1, plan.out + plan.err
        assert (
            f"group.{group_id}: group configs need Kafka 4.0 or newer; the broker at "
            f"{broker(stack)} runs Kafka 3.9"
        ) in plan.out + plan.err
        assert "Traceback" not in plan.out + plan.err
        drift = project.run("drift")
        assert "group configs need Kafka 4.0 or newer" in drift.out + drift.err
        return
    assert plan.code == 2, plan.out + plan.err
    assert f"~ group.{group_id}" in plan.out
    assert "configs.consumer.session.timeout.ms     (broker default) -> 50000 (50s)" in plan.out

    applied = project.run("apply", "--auto-approve")

    assert applied.code == 0, applied.out + applied.err
    assert f"✓ group.{group_id} (update) done" in applied.out
    # settle waited: the very next read shows the values.
    assert group_configs(admin, group_id) == {
        "consumer.session.timeout.ms": "50000",
        "consumer.heartbeat.interval.ms": "6000",
    }
    assert project.run("plan", "--detailed-exitcode").code == 0

    # Changed out of band: drift sees exactly that key.
    set_group_config(admin, group_id, "consumer.session.timeout.ms", "55000")

    def drifted() -> None:
        drift = project.run("drift")
        assert drift.code != 0, drift.out
        assert f"group.{group_id}" in drift.out
        assert "configs.consumer.session.timeout.ms" in drift.out
        assert "consumer.heartbeat.interval.ms" not in drift.out

    eventually(drifted)

    # Import of the live state plans back to nothing.
    imported = project.run(
        "import", "--out", str(project.root / "specs" / "imported"), "--prefix", project.prefix
    )
    assert imported.code == 0, imported.out + imported.err
    text = (project.root / "specs/imported/groups.yaml").read_text()
    assert f"  - id: {group_id}\n" in text
    assert "consumer.session.timeout.ms: 55s" in text
    (project.root / "specs/main.yaml").unlink()
    assert project.run("plan", "--detailed-exitcode").code == 0


def test_a_value_the_broker_refuses_fails_the_plan_not_the_apply(
    make_project: MakeProject, stack: dict[str, str], release: tuple[int, int]
) -> None:
    project = make_project()
    project.specs(consumer_spec(f"{project.prefix}billing", session="5s"))
    plan = project.run("plan")
    assert plan.code == 1, plan.out + plan.err
    refused = "the broker would refuse this group config update: consumer.session.timeout.ms"
    if release < (4, 0):
        expected = f"group configs need Kafka 4.0 or newer; the broker at {broker(stack)}"
    elif release < (4, 4):
        # The broker's own reason, from the validate-only request; its wording changed.
        expected = f"{refused} must be greater than or equal to group.consumer.min.session"
    else:
        expected = f"{refused} must be in the range 45000 to 60000 inclusive."
    assert expected in plan.out + plan.err


def test_share_and_streams_group_configs_follow_the_release(
    make_project: MakeProject,
    admin: AdminClient,
    stack: dict[str, str],
    release: tuple[int, int],
) -> None:
    project = make_project()
    shares, streams = f"{project.prefix}shares", f"{project.prefix}app"
    project.specs(
        f"""\
        groups:
          - id: {shares}
            configs:
              share.record.lock.duration.ms: 45s
          - id: {streams}
            configs:
              streams.num.standby.replicas: 1
        """
    )
    plan = project.run("plan", "--detailed-exitcode")
    out = plan.out + plan.err
    runs = f"the broker at {broker(stack)} runs Kafka {release[0]}.{release[1]}"
    if release < (4, 0):
        assert plan.code == 1, out
        assert f"group.{shares}: group configs need Kafka 4.0 or newer; {runs}" in out
        assert f"group.{streams}: group configs need Kafka 4.0 or newer; {runs}" in out
    elif release < (4, 2):
        # 4.1 lists share.* and streams.* keys, but has no streams groups and does not
        # enable share groups by default.
        assert plan.code == 1, out
        assert f"group.{streams}: streams groups (KIP-1071) need Kafka 4.2 or newer; {runs}" in out
        assert (
            f"group.{shares}: share groups (KIP-932) are not enabled on the cluster: "
            f"share.version is not finalized ({runs})"
        ) in out
    else:
        assert plan.code == 2, out
        assert project.run("apply", "--auto-approve").code == 0
        assert group_configs(admin, shares) == {"share.record.lock.duration.ms": "45000"}
        assert group_configs(admin, streams) == {"streams.num.standby.replicas": "1"}
        assert project.run("plan", "--detailed-exitcode").code == 0


def test_topic_configs_removed_in_4_0_follow_the_release(
    make_project: MakeProject,
    admin: AdminClient,
    stack: dict[str, str],
    release: tuple[int, int],
) -> None:
    project = make_project()
    topic = project.name("legacy")
    project.specs(
        f"""\
        topics:
          - name: {topic}
            partitions: 1
            configs:
              message.downconversion.enable: false
        """
    )
    plan = project.run("plan")
    out = plan.out + plan.err
    if release < (4, 0):
        assert plan.code == 0, out
        assert project.run("apply", "--auto-approve").code == 0
        assert topic_configs(admin, topic)["message.downconversion.enable"] == (
            "false",
            "DYNAMIC_TOPIC_CONFIG",
        )
        assert project.run("plan", "--detailed-exitcode").code == 0
    else:
        assert plan.code == 1, out
        assert (
            f"topic.{topic}: topic config 'message.downconversion.enable' was removed in "
            f"Kafka 4.0 (brokers no longer down-convert records); the broker at "
            f"{broker(stack)} runs Kafka {release[0]}.{release[1]}"
        ) in out
        assert "specs/main.yaml:5" in out
        # And indeed the broker does not know it any more.
        assert topic not in admin.list_topics(timeout=10).topics


def test_a_limited_principal_needs_describe_and_alter_configs_on_the_group(
    make_project: MakeProject, admin: AdminClient, release: tuple[int, int]
) -> None:
    """docs/permissions.md: DESCRIBE_CONFIGS on the group to plan, ALTER_CONFIGS to dry-run
    and apply."""
    project = make_project(username="alice", password_env="KAFKAPLAN_STACK_PASSWORD_ALICE")
    project.env["KAFKAPLAN_STACK_PASSWORD_ALICE"] = "alice-secret"
    group_id = f"{project.prefix}billing"
    project.specs(consumer_spec(group_id))
    if release < (4, 0):
        # No group resource to grant on: the version is the answer, for any principal.
        plan = project.run("plan")
        assert plan.code == 1
        assert "group configs need Kafka 4.0" in plan.out + plan.err
        return
    denied = project.run("plan")
    assert denied.code == 1, denied.out + denied.err
    assert "permission denied (GROUP_AUTHORIZATION_FAILED)" in denied.out + denied.err
    assert "grant DESCRIBE_CONFIGS on the managed groups" in denied.out + denied.err
    filters = grant(
        admin,
        "User:alice",
        project.prefix,
        AclOperation.DESCRIBE_CONFIGS,
        resource_type=ResourceType.GROUP,
    )
    filters += grant_lease(admin, "User:alice", project.prefix)
    try:

        def plans_with_a_warning() -> None:
            plan = project.run("plan", "--detailed-exitcode")
            assert plan.code == 2, plan.out + plan.err
            assert "could not dry-run the group config update" in plan.out + plan.err

        eventually(plans_with_a_warning)
        refused = project.run("apply", "--auto-approve")
        assert refused.code == 1
        assert f"✗ group.{group_id} (update) failed" in refused.out
        assert "grant ALTER_CONFIGS on the managed groups" in refused.out + refused.err
        filters += grant(
            admin,
            "User:alice",
            project.prefix,
            AclOperation.ALTER_CONFIGS,
            resource_type=ResourceType.GROUP,
        )

        def plans_cleanly() -> None:
            plan = project.run("plan", "--detailed-exitcode")
            assert plan.code == 2, plan.out + plan.err
            assert "could not dry-run" not in plan.out + plan.err

        eventually(plans_cleanly)
        applied = project.run("apply", "--auto-approve")
        assert applied.code == 0, applied.out + applied.err
        assert group_configs(admin, group_id)["consumer.session.timeout.ms"] == "50000"
    finally:
        revoke(admin, filters)
