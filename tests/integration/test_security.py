"""Secrets never leak; PLAIN works against the real broker; a principal with exactly the
permissions of docs/permissions.md can run each command, and one without a permission gets
an error naming it.

The least-privilege tests run as `carol`, an ordinary SASL user with no ACLs but those a test
grants: on its own topic prefix and lease topic, and (for ACL management) on the cluster.
Every grant is revoked again, exactly, when the test ends, whether it passed or not. Only
the ACL test grants carol anything on the cluster, so the tests never widen each other's
permissions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from kafkaplan.errors import LeaseLost
from tests.integration.conftest import (
    LEASE_OPERATIONS,
    Project,
    all_acls,
    authorized,
    await_acls,
    client_config,
    eventually,
    exact,
    grant_lease,
    lease_topic,
    revoke,
)
from tests.integration.test_lease import other_run

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


def test_a_value_equal_to_a_secret_is_masked_in_every_output(
    make_project: MakeProject, admin: AdminClient
) -> None:
    """The second line of defence: a value equal to a secret the project names (here the
    password of another environment, which no command of this one reads to connect) is
    masked wherever it would appear: plan text, Markdown and JSON file, errors, the drift
    report and its --out file, and the files import writes. The secret is a topic name
    that exists on the cluster, so it reaches every one of those paths."""
    project = make_project()
    root, p = project.root, project.prefix
    secret, kept = project.name("leak"), project.name("kept")
    config = root / "kafkaplan.yaml"
    config.write_text(
        config.read_text().replace(
            "environments:\n",
            "environments:\n  prod:\n    kafka:\n      bootstrap_servers: 127.0.0.1:1\n"
            "      security_protocol: SASL_PLAINTEXT\n      sasl_mechanism: SCRAM-SHA-512\n"
            "      sasl_username: deploy\n      sasl_password_env: EDGES_PROD_PASSWORD\n",
            1,
        )
    )
    for future in admin.create_topics([NewTopic(secret, 1, 1), NewTopic(kept, 1, 1)]).values():
        future.result()
    project.specs(f"topics:\n  - name: {kept}\n    configs: {{retention.ms: 2d}}\n")
    env = {**os.environ, "EDGES_PROD_PASSWORD": secret}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kafkaplan", "--project", str(config), "--no-color", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
            check=False,
        )

    imported = root / "imported"
    results = {
        "plan": run("plan"),
        "markdown": run("plan", "--format", "markdown", "--out", str(root / "plan.json")),
        "json": run("plan", "--format", "json"),
        "drift": run("drift", "--format", "markdown", "--out", str(root / "drift.md")),
        "drift-json": run("drift", "--format", "json", "--out", str(root / "drift.json")),
        "import": run("import", "--out", str(imported), "--prefix", p, "--resources", "topics"),
    }
    project.specs(f"topics:\n  - name: {kept}\n    configs: {{retention.ms: {secret}}}\n")
    results["error"] = run("validate")
    results["plan-error"] = run("plan", "--target", f"topic.{secret}")
    for name, result in results.items():
        assert "Traceback" not in result.stderr, (name, result.stderr[-2000:])
        assert secret not in result.stdout + result.stderr, (name, result.stdout, result.stderr)
    written = {
        path: path.read_text()
        for path in root.rglob("*")
        if path.is_file() and path.parent != root / "specs"  # the test's own spec
    }
    assert [path for path, text in written.items() if secret in text] == []
    # Each path really carried the value, masked.
    assert "? topic.***" in results["plan"].stdout, results["plan"].stdout
    assert "`topic.***`" in results["markdown"].stdout
    assert '"topic.***"' in results["json"].stdout
    assert "topic.***" in written[root / "plan.json"]
    assert "`topic.***`" in written[root / "drift.md"]
    assert '"address": "topic.***"' in written[root / "drift.json"]
    assert any("name: '***'" in t or "name: ***" in t for t in written.values()), [
        str(path) for path in written
    ]
    assert "retention.ms: '***' is not a duration" in results["error"].stderr
    assert results["error"].returncode == 1


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


@dataclass
class Grants:
    """ACLs granted to the test's principal: every one is revoked, exactly, at the end."""

    admin: AdminClient
    filters: list[AclBindingFilter] = field(default_factory=list)
    # Principals (User:<prefix>...) whose bindings the test's applies create or delete.
    principal_prefixes: list[str] = field(default_factory=list)

    def create(self, bindings: list[AclBinding]) -> None:
        futures = self.admin.create_acls(bindings, request_timeout=10)
        self.filters.extend(exact(b) for b in bindings)
        for future in futures.values():
            future.result()
        await_acls(self.admin, [exact(b) for b in bindings], present=True)

    def topics(self, principal: str, prefix: str, *operations: str) -> None:
        self.create(topic_acls(principal, prefix, *operations))

    def lease(self, principal: str, prefix: str, *operations: str) -> None:
        self.filters.extend(grant_lease(self.admin, principal, prefix, operations))

    def cluster(self, principal: str, *operations: str) -> None:
        self.create(cluster_acls(principal, *operations))

    def revoke(self, bindings: list[AclBinding]) -> None:
        revoke(self.admin, [exact(b) for b in bindings])


@pytest.fixture
def grants(admin: AdminClient) -> Iterator[Grants]:
    granted = Grants(admin)
    yield granted
    if granted.filters:
        revoke(admin, granted.filters)
    if granted.principal_prefixes:
        made = [
            acl
            for acl in all_acls(admin)
            if acl.principal.startswith(tuple(granted.principal_prefixes))
        ]
        if made:
            revoke(admin, [exact(acl) for acl in made])


def topic_acls(principal: str, prefix: str, *operations: str) -> list[AclBinding]:
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


def cluster_acls(principal: str, *operations: str) -> list[AclBinding]:
    return [
        AclBinding(
            ResourceType.BROKER,
            "kafka-cluster",
            ResourcePatternType.LITERAL,
            principal,
            "*",
            AclOperation[operation],
            AclPermissionType.ALLOW,
        )
        for operation in operations
    ]


def as_carol(make_project: MakeProject) -> Project:
    project = make_project(username="carol", password_env="KAFKAPLAN_STACK_PASSWORD_CAROL")
    project.env["KAFKAPLAN_STACK_PASSWORD_CAROL"] = "carol-secret"
    return project


def append_project(project: Project, text: str) -> None:
    with (project.root / "kafkaplan.yaml").open("a") as file:
        file.write(text)


CAROL = "User:carol"
# docs/permissions.md, for topics under the project's prefix and for its lease topic.
PLAN_TOPICS = ("DESCRIBE", "DESCRIBE_CONFIGS")
APPLY_TOPICS = ("CREATE", "ALTER_CONFIGS", "ALTER")


def test_least_privilege_for_topics(
    make_project: MakeProject, grants: Grants, stack: dict[str, str]
) -> None:
    project = as_carol(make_project)
    topic = project.name("least")
    spec = "topics:\n  - name: {topic}\n    partitions: {partitions}\n    configs: {{retention.ms: {retention}}}\n"
    project.specs(spec.format(topic=topic, partitions=1, retention="1d"))

    # A read-only planner (DESCRIBE, DESCRIBE_CONFIGS): the plan works, and says the broker's
    # dry run of the creation needs CREATE.
    grants.topics(CAROL, project.prefix, *PLAN_TOPICS)

    def plans_read_only() -> None:
        plan = project.run("plan", "--detailed-exitcode")
        assert plan.code == 2, plan.out + plan.err
        assert (
            f"topic.{topic}: could not dry-run the creation (no CREATE permission for this "
            "principal); the broker validates it at apply"
        ) in plan.out

    eventually(plans_read_only)

    # The lease first: once the broker applies the later grants, it has applied these.
    grants.lease(CAROL, project.prefix, *LEASE_OPERATIONS)
    grants.topics(CAROL, project.prefix, *APPLY_TOPICS)

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

    # Without ALTER_CONFIGS, a config change fails naming the missing permission. The apply
    # waits until the broker no longer allows it: one that ran before would succeed.
    grants.revoke(topic_acls(CAROL, project.prefix, "ALTER_CONFIGS"))
    eventually(lambda: _absent("ALTER_CONFIGS", authorized(stack, "carol", topic)))
    project.specs(spec.format(topic=topic, partitions=2, retention="3d"))

    def refused() -> None:
        plan = project.run("plan")
        assert plan.code == 0, plan.out + plan.err
        assert (
            f"topic.{topic}: could not dry-run the config update (no ALTER_CONFIGS permission "
            "for this principal); the broker validates it at apply"
        ) in plan.out
        result = project.run("apply", "--auto-approve")
        assert result.code == 1, result.out + result.err
        assert (
            f"✗ topic.{topic} (update) failed: configs: permission denied "
            "(TOPIC_AUTHORIZATION_FAILED) changing the topic's configs (hint: grant "
            "ALTER_CONFIGS on the managed topics)"
        ) in result.out

    eventually(refused)

    # Without the lease permissions, apply stops before any change, naming them.
    grants.revoke(
        [
            AclBinding(
                ResourceType.TOPIC,
                lease_topic(project.prefix),
                ResourcePatternType.LITERAL,
                CAROL,
                "*",
                AclOperation[operation],
                AclPermissionType.ALLOW,
            )
            for operation in LEASE_OPERATIONS
        ]
    )

    def no_lease() -> None:
        result = project.run("apply", "--auto-approve")
        assert result.code == 1
        assert "permission denied (TOPIC_AUTHORIZATION_FAILED)" in result.err
        assert "on the lease topic (see docs/permissions.md))" in result.err
        assert "Apply" not in result.out  # stopped before any change

    eventually(no_lease)


def _absent(operation: str, operations: set[str]) -> None:
    assert operation not in operations, operations


def test_least_privilege_for_topic_deletes(
    make_project: MakeProject, admin: AdminClient, grants: Grants, stack: dict[str, str]
) -> None:
    """`plan --allow-deletes` (which counts the doomed topic's messages) and
    `apply --allow-deletes` need DESCRIBE, DESCRIBE_CONFIGS and DELETE on the owned prefix,
    and the lease: nothing else. Without DELETE the deletion fails, naming it."""
    project = as_carol(make_project)
    append_project(project, f"owned_topic_prefixes: ['{project.prefix}']\n")
    kept, doomed = project.name("kept"), project.name("doomed")
    for future in admin.create_topics([NewTopic(kept, 1, 1), NewTopic(doomed, 1, 1)]).values():
        future.result()
    producer = Producer(client_config(stack))
    for value in (b"one", b"two"):
        producer.produce(doomed, value)
    assert producer.flush(30) == 0
    project.specs(f"topics:\n  - name: {kept}\n    partitions: 1\n")
    grants.lease(CAROL, project.prefix, *LEASE_OPERATIONS)
    grants.topics(CAROL, project.prefix, *PLAN_TOPICS)

    def plans_the_deletion() -> None:
        plan = project.run("plan", "--allow-deletes", "--detailed-exitcode")
        assert plan.code == 2, plan.out + plan.err
        assert f"  - topic.{doomed}\n" in plan.out
        assert "data-loss: deletes the topic with 2 message(s) in 1 partition(s)" in plan.out
        assert "Plan: 0 to create, 0 to update, 1 to delete." in plan.out

    eventually(plans_the_deletion)

    # carol was never granted DELETE: the apply fails, naming the topic and the permission.
    # (Polled: the first apply creates the lease topic, which the KRaft controller
    # authorizes, and its view of the lease grants may lag the broker's. Nothing else can
    # change, so trying again is safe.)
    def refused() -> None:
        result = project.run("apply", "--auto-approve", "--allow-deletes")
        assert result.code == 1, result.out + result.err
        assert (
            f"  ✗ topic.{doomed} (delete) failed: permission denied "
            "(TOPIC_AUTHORIZATION_FAILED) deleting the topic (hint: grant DELETE on the owned "
            "topics)\n"
        ) in result.out
        assert "Apply finished with failures: 0 of 1 changes applied, 1 failed." in result.out

    eventually(refused)
    assert doomed in admin.list_topics(timeout=10).topics

    grants.topics(CAROL, project.prefix, "DELETE")

    def deletes() -> None:
        result = project.run("apply", "--auto-approve", "--allow-deletes")
        assert result.code == 0, result.out + result.err
        assert f"  ✓ topic.{doomed} (delete) done" in result.out
        assert "Apply complete: 1 of 1 changes applied." in result.out

    eventually(deletes)

    def gone() -> None:
        assert doomed not in admin.list_topics(timeout=10).topics
        plan = project.run("plan", "--allow-deletes", "--detailed-exitcode")
        assert plan.code == 0, plan.out + plan.err

    eventually(gone)
    assert kept in admin.list_topics(timeout=10).topics


def test_least_privilege_for_acls(
    make_project: MakeProject, admin: AdminClient, grants: Grants, stack: dict[str, str]
) -> None:
    """ACL management: plan needs DESCRIBE on the cluster, apply ALTER. Without ALTER the
    ACL changes fail, each naming the permission, while the rest of the apply is done and
    reported as done; nothing is left half-applied unreported."""
    project = as_carol(make_project)
    p = project.prefix
    app, old = f"User:{p}app", f"User:{p}old"
    grants.principal_prefixes.append(f"User:{p}")
    # The test's own principals, on its own prefix: no other binding is ever in scope.
    append_project(
        project,
        "acls:\n  ownership:\n    - team: it\n"
        f"      principals: [{app}, {old}]\n      resource_prefixes: [{p}]\n",
    )
    topic = project.name("orders")
    project.specs(
        f"""\
        topics:
          - name: {topic}
            partitions: 1
        acls:
          - principal: {app}
            role: producer
            topics: [{topic}]
        """
    )
    # A binding in the owned scope that no spec declares, made by someone else.
    stray = AclBinding(
        ResourceType.TOPIC,
        topic,
        ResourcePatternType.LITERAL,
        old,
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    grants.create([stray])
    created = {f"acl.{app}.topic.literal.{topic}.{op}.ALLOW.*" for op in ("DESCRIBE", "WRITE")}
    deleted = f"acl.{old}.topic.literal.{topic}.READ.ALLOW.*"

    # The documented ACLs for the lease and the topics, and DESCRIBE on the cluster, in this
    # order: the broker and the controller apply them in the order of the metadata log, so
    # a plan that reads the ACLs and dry-runs the topic's creation (which the path that
    # creates the lease topic authorizes too) shows that all of them are in effect.
    grants.lease(CAROL, p, *LEASE_OPERATIONS)
    grants.topics(CAROL, p, *PLAN_TOPICS, "CREATE")
    grants.cluster(CAROL, "DESCRIBE")

    def plans() -> None:
        plan = project.run("plan", "--allow-deletes", "--detailed-exitcode")
        assert plan.code == 2, plan.out + plan.err
        assert "could not dry-run" not in plan.out
        assert f"ACLs of {app}: 2 to create" in plan.out
        assert f"ACLs of {old}: 1 to delete" in plan.out
        assert "Plan: 3 to create, 0 to update, 1 to delete." in plan.out

    eventually(plans)

    # carol was never granted ALTER on the cluster: every ACL change fails naming it, the
    # topic is still created, and the report says which is which.
    refused = project.run("apply", "--auto-approve", "--allow-deletes")
    assert refused.code == 1, refused.out + refused.err
    lines = refused.out.splitlines()
    assert f"  ✓ topic.{topic} (create) done" in lines
    reason = (
        "permission denied (CLUSTER_AUTHORIZATION_FAILED) {doing} the ACL binding (hint: "
        "kafkaplan needs ALTER on the cluster to change ACLs)"
    )
    for address in sorted(created):
        assert f"  ✗ {address} (create) failed: {reason.format(doing='creating')}" in lines
    assert f"  ✗ {deleted} (delete) failed: {reason.format(doing='deleting')}" in lines
    assert "Apply finished with failures: 1 of 4 changes applied, 3 failed." in lines
    assert "Re-run `kafkaplan plan` to see what is left" in refused.err
    assert _bindings_of(admin, p) == {(old, "READ")}
    assert topic in admin.list_topics(timeout=10).topics
    left = project.run("plan", "--allow-deletes", "--detailed-exitcode")
    assert left.code == 2, left.out + left.err
    assert "Plan: 2 to create, 0 to update, 1 to delete." in left.out

    grants.cluster(CAROL, "ALTER")

    def converges() -> None:
        result = project.run("apply", "--auto-approve", "--allow-deletes")
        assert result.code == 0, result.out + result.err
        assert "Apply complete" in result.out

    eventually(converges)
    assert _bindings_of(admin, p) == {(app, "DESCRIBE"), (app, "WRITE")}
    clean = project.run("plan", "--allow-deletes", "--detailed-exitcode")
    assert clean.code == 0, clean.out + clean.err
    # drift reads the same: DESCRIBE on the topics and on the cluster. (carol's own grants
    # are outside the owned scope: not drift.)
    drift = project.run("drift")
    assert drift.code == 0, drift.out + drift.err
    assert "No drift. The live state matches the specs." in drift.out
    assert "not checked" not in drift.out
    assert f"User:{p}" not in drift.out
    # So does import of ACLs: the app's bindings come back as its role (and carol's own
    # three grants on the prefix as raw bindings).
    imported = project.root / "imported"
    result = project.run(
        "import", "--out", str(imported), "--prefix", p, "--resources", "topics,acls"
    )
    assert result.code == 0, result.out + result.err
    assert "Imported 1 topic, 5 ACL bindings (as 2 entries) into 3 file(s)." in result.out
    assert (
        f"  - principal: {app}\n    role: producer\n    topics: [{topic}]\n"
        in (imported / "acls" / f"{p}app.yaml").read_text()
    )


def _bindings_of(admin: AdminClient, prefix: str) -> set[tuple[str, str]]:
    """(principal, operation) of the live bindings of the test's own principals."""
    return {
        (acl.principal, acl.operation.name)
        for acl in all_acls(admin)
        if acl.principal.startswith(f"User:{prefix}")
    }


def test_least_privilege_for_unlock(make_project: MakeProject, grants: Grants) -> None:
    """unlock needs DESCRIBE, READ and WRITE on the lease topic; without WRITE it fails
    naming it, and releases nothing."""
    project = as_carol(make_project)
    holder = other_run(project, "stuck@ci (pid 3)", ttl=300)
    holder.acquire(wait=0)  # as admin; this also creates the lease topic
    grants.lease(CAROL, project.prefix, "DESCRIBE", "READ")

    def refused() -> None:
        result = project.run("unlock", "--force")
        assert result.code == 1, result.out + result.err
        assert "The apply lease is held by stuck@ci (pid 3) since" in result.out
        assert (
            f"Error: topic.{lease_topic(project.prefix)}: permission denied "
            "(TOPIC_AUTHORIZATION_FAILED) writing to the lease topic (hint: apply and unlock "
            "need WRITE on the lease topic (see docs/permissions.md))"
        ) in result.err.splitlines()

    eventually(refused)
    assert holder.read().held

    grants.lease(CAROL, project.prefix, "WRITE")

    def released() -> None:
        result = project.run("unlock", "--force")
        assert result.code == 0, result.out + result.err
        assert "Released the apply lease." in result.out

    eventually(released)
    holder._renewed_at = 0  # as if a third of its ttl had passed
    with pytest.raises(LeaseLost, match="lost"):
        holder.keep()
