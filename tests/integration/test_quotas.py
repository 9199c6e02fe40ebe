"""Client quotas end to end against the real broker: create, update, remove a key, delete
an owned entity with --allow-deletes, drift after a change made with kafka-configs, the
import round trip, and the least privilege (DESCRIBE_CONFIGS / ALTER_CONFIGS on the
cluster) as a limited principal."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from kafkaplan.commands import connect, load_context
from tests.integration.conftest import LEASE_OPERATIONS, Project, eventually, kafka_tool
from tests.integration.test_security import (
    CAROL,
    Grants,
    append_project,
    as_carol,
    grants,
)

pytestmark = pytest.mark.integration

__all__ = ["grants"]  # the fixture, used by name

MakeProject = Callable[..., Project]


def configs_of(stack: dict[str, str], entity_args: list[str]) -> dict[str, float]:
    """What kafka-configs says of an entity's quotas (its own, independent reading)."""
    text = kafka_tool(stack, "kafka-configs", "--describe", *entity_args)
    return {key: float(value) for key, value in re.findall(r"(\w+)=([-0-9.E]+)", text)}


@pytest.fixture
def cleanup(stack: dict[str, str], make_project: MakeProject) -> Iterator[list[str]]:
    """Name prefixes whose quota entities are removed after the test (as admin)."""
    prefixes: list[str] = []
    yield prefixes
    if not prefixes:
        return
    project = make_project()
    context = load_context(project.root / "kafkaplan.yaml", None, specs=False)
    cluster = connect(context, read_only=False, environ=stack)
    try:
        mine = {
            entity: dict.fromkeys(keys)
            for entity, keys in cluster.describe_quotas().items()
            if any(name.startswith(tuple(prefixes)) for name in entity.names())
        }
        failed = {e: error for e, error in cluster.alter_quotas(mine).items() if error}
        assert not failed, failed
    finally:
        cluster.close()


def unique_ip() -> str:
    """An address no other test uses (IP entities are global)."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2] or 1}"


def owned(project: Project) -> None:
    append_project(
        project,
        "quotas:\n  ownership:\n    - team: it\n"
        "      entity_types: [user, user+client-id]\n"
        f"      prefixes: [{project.prefix}]\n",
    )


@pytest.mark.matrix
def test_quotas_are_created_updated_and_deleted(
    make_project: MakeProject, stack: dict[str, str], cleanup: list[str]
) -> None:
    project = make_project()
    owned(project)
    user, client, ip = f"{project.prefix}-app", f"{project.prefix}-cli", unique_ip()
    user_args = ["--entity-type", "users", "--entity-name", user]
    pair_args = [*user_args, "--entity-type", "clients", "--entity-name", client]
    ip_args = ["--entity-type", "ips", "--entity-name", ip]
    cleanup.extend([project.prefix, ip])
    project.specs(
        f"""\
        quotas:
          - user: {user}
            producer_byte_rate: 10MiB/s
            consumer_byte_rate: 20MiB/s
          - user: {user}
            client_id: {client}
            request_percentage: 25.5
          - ip: {ip}
            connection_creation_rate: 15
        """
    )

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err
    assert f"  + quota.user={user}   (specs/main.yaml:2)" in plan.out
    assert "producer_byte_rate  10485760 (10MiB/s)" in plan.out
    assert "Plan: 3 to create, 0 to update, 0 to delete." in plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert f"  ✓ quota.user={user},client-id={client} (create) done" in applied.out
    assert configs_of(stack, user_args) == {
        "producer_byte_rate": 10485760,
        "consumer_byte_rate": 20971520,
    }
    assert configs_of(stack, pair_args) == {"request_percentage": 25.5}
    assert configs_of(stack, ip_args) == {"connection_creation_rate": 15}
    # Apply waited until DescribeClientQuotas shows the changes: the plan right after is empty.
    again = project.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err

    # Update one key, remove another (null), leave an undeclared one alone.
    kafka_tool(
        stack, "kafka-configs", "--alter", *user_args, "--add-config", "request_percentage=40"
    )
    project.specs(
        f"""\
        quotas:
          - user: {user}
            producer_byte_rate: 5MiB/s
            consumer_byte_rate: null
          - user: {user}
            client_id: {client}
            request_percentage: 25.5
          - ip: {ip}
            connection_creation_rate: 15
        """
    )
    update = project.run("plan", "--format", "json")
    assert update.code == 0, update.err
    (change,) = json.loads(update.out)["changes"]
    assert change["action"] == "update"
    assert change["operation"]["values"] == {
        "consumer_byte_rate": None,
        "producer_byte_rate": 5242880.0,
    }
    assert project.run("apply", "--auto-approve").code == 0
    assert configs_of(stack, user_args) == {
        "producer_byte_rate": 5242880,
        "request_percentage": 40,
    }

    # Out of the spec: kept without --allow-deletes, removed with it.
    project.specs(
        f"""\
        quotas:
          - ip: {ip}
            connection_creation_rate: 15
        """
    )
    kept = project.run("plan", "--detailed-exitcode")
    assert kept.code == 0, kept.out
    assert "2 quota entities in the owned scope are in no spec: kept" in kept.out
    deleting = project.run("plan", "--allow-deletes")
    assert f"  - quota.user={user}" in deleting.out
    assert "Plan: 0 to create, 0 to update, 2 to delete." in deleting.out
    done = project.run("apply", "--auto-approve", "--allow-deletes")
    assert done.code == 0, done.out + done.err
    assert configs_of(stack, pair_args) == {}
    assert configs_of(stack, user_args) == {}
    assert project.run("plan", "--allow-deletes", "--detailed-exitcode").code == 0


@pytest.mark.matrix
def test_drift_after_kafka_configs_and_import_round_trip(
    make_project: MakeProject, stack: dict[str, str], cleanup: list[str]
) -> None:
    project = make_project()
    owned(project)
    user = f"{project.prefix}-svc"
    user_args = ["--entity-type", "users", "--entity-name", user]
    pair_args = [*user_args, "--entity-type", "clients", "--entity-default"]
    cleanup.append(project.prefix)
    project.specs(
        f"""\
        quotas:
          - user: {user}
            producer_byte_rate: 1MiB/s
            controller_mutation_rate: 2.5
        """
    )
    assert project.run("apply", "--auto-approve").code == 0

    kafka_tool(
        stack, "kafka-configs", "--alter", *user_args, "--add-config", "producer_byte_rate=1024"
    )

    def drifted() -> None:
        drift = project.run("drift", "--format", "json")
        report = json.loads(drift.out)
        assert [(i["kind"], i["address"]) for i in report["items"]] == [
            ("changed", f"quota.user={user}")
        ], drift.out
        assert report["items"][0]["fields"] == [
            {"path": "quotas.producer_byte_rate", "before": 1024, "after": 1048576}
        ]

    eventually(drifted)

    # A user's default client quota set by hand: import brings both back as specs.
    kafka_tool(
        stack, "kafka-configs", "--alter", *pair_args, "--add-config", "request_percentage=7"
    )
    out = project.root / "imported"

    def imports() -> None:
        imported = project.run(
            "import",
            "--out",
            str(out),
            "--resources",
            "quotas",
            "--prefix",
            project.prefix,
            "--force",
        )
        assert imported.code == 0, imported.out + imported.err
        text = (out / "quotas.yaml").read_text()
        assert "client_id: <default>" in text, text

    eventually(imports)
    text = (out / "quotas.yaml").read_text()
    assert (
        f"  - user: {user}\n    producer_byte_rate: 1KiB/s\n    controller_mutation_rate: 2.5\n"
        f"  - user: {user}\n    client_id: <default>\n    request_percentage: 7\n"
    ) in text, text
    (project.root / "specs" / "main.yaml").unlink()
    (project.root / "specs" / "quotas.yaml").write_text(text)
    fmt = project.run("fmt", "--check")
    assert fmt.code == 0, fmt.out + fmt.err
    clean = project.run("plan", "--allow-deletes", "--detailed-exitcode")
    assert clean.code == 0, clean.out + clean.err


def test_least_privilege_for_quotas(
    make_project: MakeProject, grants: Grants, stack: dict[str, str], cleanup: list[str]
) -> None:
    """Reading quotas needs DESCRIBE_CONFIGS on the cluster, changing them ALTER_CONFIGS;
    without the first the plan fails in one clear line, without the second it warns that
    it could not dry-run and the apply fails naming the permission."""
    project = as_carol(make_project)
    user = f"{project.prefix}-lim"
    user_args = ["--entity-type", "users", "--entity-name", user]
    cleanup.append(project.prefix)
    project.specs(f"quotas:\n  - user: {user}\n    consumer_byte_rate: 2MiB/s\n")

    denied = project.run("plan")
    assert denied.code == 1, denied.out + denied.err
    errors = [line for line in denied.err.splitlines() if line.strip()]
    assert errors == [
        "Error: quota: permission denied (CLUSTER_AUTHORIZATION_FAILED) reading client quotas "
        "(hint: grant DESCRIBE_CONFIGS on the cluster: reading client quotas needs it)"
    ], denied.err

    grants.lease(CAROL, project.prefix, *LEASE_OPERATIONS)
    grants.cluster(CAROL, "DESCRIBE_CONFIGS")

    def plans_with_a_warning() -> None:
        plan = project.run("plan", "--detailed-exitcode")
        assert plan.code == 2, plan.out + plan.err
        assert "could not dry-run the quota change (no ALTER_CONFIGS permission" in plan.out

    eventually(plans_with_a_warning)
    refused = project.run("apply", "--auto-approve")
    assert refused.code == 1, refused.out + refused.err
    assert (
        f"  ✗ quota.user={user} (create) failed: permission denied "
        "(CLUSTER_AUTHORIZATION_FAILED) changing client quotas (hint: grant ALTER_CONFIGS on "
        "the cluster: changing client quotas needs it)"
    ) in refused.out.splitlines()
    assert configs_of(stack, user_args) == {}

    grants.cluster(CAROL, "ALTER_CONFIGS")

    def applies() -> None:
        applied = project.run("apply", "--auto-approve")
        assert applied.code == 0, applied.out + applied.err

    eventually(applies)
    assert configs_of(stack, user_args) == {"consumer_byte_rate": 2097152}
    assert project.run("plan", "--detailed-exitcode").code == 0
