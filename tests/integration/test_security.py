"""Secrets never leak; PLAIN works against the real broker; a principal with exactly the
permissions of docs/permissions.md can plan and apply topics, and one without a permission
gets an error naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from tests.integration.conftest import Project, eventually, exact, grant_lease, lease_topic

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]

# Distinctive secrets; the real admin password of the stack is one of them too.
SECRETS = {
    "KP_WRONG_PASSWORD": "kp-wrong-pw-4d4d9e",
    "KP_KEY_PASSWORD": "kp-keypass-3f9c1e",
    "KP_OAUTH_SECRET": "kp-oauth-c0ffee77",
    "KP_REGISTRY_PASSWORD": "kp-regpass-81d2aa",
    "KP_REGISTRY_TOKEN": "kp-token-55e0b7",
}

SECRET_PROJECT = """\
specs: [specs]
default_environment: it
lease: {{topic: {lease}}}
environments:
  it:
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_BOOTSTRAP_SERVERS}}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: admin
      sasl_password_env: KAFKAPLAN_SASL_PASSWORD
      timeout: 10s
    schema_registry:
      url: ${{env:KAFKAPLAN_SCHEMA_REGISTRY_URL}}
      username: kafkaplan
      password_env: KP_REGISTRY_PASSWORD
    defaults: {{partitions: 1, replication_factor: 1}}
  wrong:
    kafka:
      bootstrap_servers: ${{env:KAFKAPLAN_BOOTSTRAP_SERVERS}}
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: PLAIN
      sasl_username: admin
      sasl_password_env: KP_WRONG_PASSWORD
      timeout: 5s
    defaults: {{partitions: 1, replication_factor: 1}}
  unreachable:
    kafka:
      bootstrap_servers: 127.0.0.1:1
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: admin
      sasl_password_env: KAFKAPLAN_SASL_PASSWORD
      timeout: 2s
      retries: 0
    schema_registry:
      url: http://127.0.0.1:1
      bearer_token_env: KP_REGISTRY_TOKEN
    defaults: {{partitions: 1, replication_factor: 1}}
  tls:
    kafka:
      bootstrap_servers: 127.0.0.1:1
      security_protocol: SSL
      ssl_key_location: /nonexistent/client.key
      ssl_certificate_location: /nonexistent/client.pem
      ssl_key_password_env: KP_KEY_PASSWORD
      timeout: 2s
      retries: 0
    defaults: {{partitions: 1, replication_factor: 1}}
  oauth:
    kafka:
      bootstrap_servers: 127.0.0.1:1
      security_protocol: SASL_PLAINTEXT
      sasl_mechanism: OAUTHBEARER
      oauth_token_endpoint_url: http://127.0.0.1:1/token
      oauth_client_id: kafkaplan
      oauth_client_secret_env: KP_OAUTH_SECRET
      timeout: 2s
      retries: 0
    defaults: {{partitions: 1, replication_factor: 1}}
"""


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafkaplan", "--project", str(root / "kafkaplan.yaml"), *args],
        env={**os.environ, **SECRETS},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        check=False,
    )


def test_no_command_reveals_a_secret(make_project: MakeProject, stack: dict[str, str]) -> None:
    project = make_project()
    root = project.root
    (root / "kafkaplan.yaml").write_text(SECRET_PROJECT.format(lease=lease_topic(project.prefix)))
    project.specs(f"topics:\n  - name: {project.name('s')}\n    configs: {{retention.ms: 1d}}\n")
    planfile = root / "plan.json"
    commands: list[tuple[str, ...]] = [
        ("validate",),
        ("plan",),
        ("plan", "--format", "json"),
        ("plan", "--format", "markdown"),
        ("--debug", "plan", "--out", str(planfile)),
        ("--debug", "apply", str(planfile)),
        ("--debug", "apply", "--auto-approve"),
        ("unlock", "--force"),
        ("--debug", "plan", "--env", "wrong"),
        ("--debug", "apply", "--auto-approve", "--env", "wrong"),
        ("--debug", "plan", "--env", "unreachable"),
        ("--debug", "plan", "--env", "tls"),
        ("--debug", "plan", "--env", "oauth"),
        ("--debug", "unlock", "--force", "--env", "unreachable"),
    ]
    secrets = [*SECRETS.values(), stack["KAFKAPLAN_SASL_PASSWORD"]]
    outputs = []
    codes = {}
    for args in commands:
        result = cli(root, *args)
        codes[args] = result.returncode
        outputs.append(result.stdout + result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])
    written = [p.read_text(errors="replace") for p in root.rglob("*") if p.is_file()]
    leaks = [secret for secret in secrets for text in [*outputs, *written] if secret in text]
    assert leaks == [], leaks
    # the commands really ran their paths: success first, then each kind of failure
    assert [codes[c] for c in commands[:8]] == [0, 0, 0, 0, 0, 0, 0, 0], outputs
    assert all(codes[c] == 1 for c in commands[8:]), outputs
    assert "authentication failed" in outputs[8]
    assert "no broker answered within 2s" in outputs[10]
    print(f"{len(commands)} commands, {len(written)} files, {len(secrets)} secrets: 0 leaks")


def test_plain_mechanism(make_project: MakeProject) -> None:
    project = make_project()
    config = project.root / "kafkaplan.yaml"
    config.write_text(
        config.read_text().replace("sasl_mechanism: SCRAM-SHA-512", "sasl_mechanism: PLAIN")
    )
    project.specs(f"topics:\n  - name: {project.name('p')}\n")
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert project.run("plan", "--detailed-exitcode").code == 0


def acls(principal: str, prefix: str, *operations: str) -> list[AclBinding]:
    return [
        AclBinding(
            ResourceType.TOPIC,
            prefix,
            ResourcePatternType.PREFIXED,
            principal,
            "*",
            AclOperation[operation],
            AclPermissionType.ALLOW,
        )
        for operation in operations
    ]


def as_filters(bindings: list[AclBinding]) -> list[AclBindingFilter]:
    return [exact(b) for b in bindings]


# docs/permissions.md, for topics under the project's prefix.
PLAN_TOPICS = ("DESCRIBE", "DESCRIBE_CONFIGS")
APPLY_TOPICS = (*PLAN_TOPICS, "CREATE", "ALTER_CONFIGS", "ALTER")


def test_least_privilege_for_topics(make_project: MakeProject, admin: AdminClient) -> None:
    project = make_project(username="carol", password_env="KAFKAPLAN_STACK_PASSWORD_CAROL")
    project.env["KAFKAPLAN_STACK_PASSWORD_CAROL"] = "carol-secret"
    topic = project.name("least")
    spec = "topics:\n  - name: {topic}\n    partitions: {partitions}\n    configs: {{retention.ms: {retention}}}\n"
    project.specs(spec.format(topic=topic, partitions=1, retention="1d"))
    granted = acls("User:carol", project.prefix, *APPLY_TOPICS)
    for future in admin.create_acls(granted).values():
        future.result()
    filters = as_filters(granted) + grant_lease(admin, "User:carol", project.prefix)
    try:

        def plans() -> None:
            plan = project.run("plan", "--detailed-exitcode")
            assert plan.code == 2, plan.out + plan.err
            assert "could not dry-run" not in plan.out

        eventually(plans)
        applied = project.run("apply", "--auto-approve")
        assert applied.code == 0, applied.out + applied.err
        project.specs(spec.format(topic=topic, partitions=2, retention="2d"))
        updated = project.run("apply", "--auto-approve")
        assert updated.code == 0, updated.out + updated.err
        assert project.run("plan", "--detailed-exitcode").code == 0

        # Without ALTER_CONFIGS, a config change fails naming the missing permission.
        revoke = as_filters(acls("User:carol", project.prefix, "ALTER_CONFIGS"))
        for future in admin.delete_acls(revoke).values():
            future.result()
        project.specs(spec.format(topic=topic, partitions=2, retention="3d"))

        def refused() -> None:
            result = project.run("apply", "--auto-approve")
            assert result.code == 1, result.out + result.err
            assert "permission denied (TOPIC_AUTHORIZATION_FAILED)" in result.out
            assert "grant ALTER_CONFIGS on the managed topics" in result.out

        eventually(refused)

        # Without the lease permissions, apply stops before any change, naming them.
        for future in admin.delete_acls(filters[len(granted) :]).values():
            future.result()

        def no_lease() -> None:
            result = project.run("apply", "--auto-approve")
            assert result.code == 1
            assert "apply needs" in result.err
            assert "on the lease topic" in result.err

        eventually(no_lease)
    finally:
        for future in admin.delete_acls(filters).values():
            future.result()
