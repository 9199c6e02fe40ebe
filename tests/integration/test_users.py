"""SCRAM users on the real broker: created with the password of their variable (proven by
authenticating as the user over the SASL_SSL listener), rotated only when asked, changed
out of band and seen by drift, imported and planned back to nothing, deleted only with
--allow-deletes; least privilege as a limited principal; and no password in any output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from tests.integration.conftest import (
    LEASE_OPERATIONS,
    Project,
    eventually,
    kafka_tool,
    revoke,
)
from tests.integration.test_security import Grants, append_project, as_carol

MakeProject = Callable[..., Project]

PASSWORD = "first-Pw-6c1d9e"
ROTATED = "second-Pw-b74a02"


def authenticates(stack: dict[str, str], user: str, password: str, mechanism: str) -> bool:
    """Whether ``user`` can log in with ``password`` over the stack's SASL_SSL listener (a
    plain AdminClient listing topics: authentication is all it needs). A refused login is
    reported through the client's error callback; the listing then fails as a transport
    failure."""
    errors: list[KafkaError] = []
    config: dict[str, Any] = {
        "bootstrap.servers": stack["KAFKAPLAN_STACK_SASL_SSL_BOOTSTRAP"],
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": stack["KAFKAPLAN_STACK_CA"],
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        "error_cb": errors.append,
        "log_level": 0,
    }
    client = AdminClient(config)
    try:
        client.list_topics(timeout=15)
    except KafkaException as exc:
        client.poll(1)  # serves the error callback
        if any(e.code() == KafkaError._AUTHENTICATION for e in errors):
            return False
        raise AssertionError(f"no answer yet: {exc}") from exc
    return True


def credentials(admin: AdminClient, user: str) -> dict[str, int]:
    future = admin.describe_user_scram_credentials()
    assert isinstance(future, Future)
    described = future.result(10)
    if user not in described:
        return {}
    return {c.mechanism.name: c.iterations for c in described[user].scram_credential_infos}


def await_login(stack: dict[str, str], user: str, password: str, mechanism: str, ok: bool) -> None:
    """The controller answers AlterUserScramCredentials once committed; the broker's SCRAM
    cache follows its metadata image a moment later."""

    def check() -> None:
        assert authenticates(stack, user, password, mechanism) is ok, (user, mechanism, ok)

    eventually(check, timeout=60)


@pytest.mark.matrix
def test_users_are_created_rotated_drifted_imported_and_deleted(
    make_project: MakeProject, stack: dict[str, str], admin: AdminClient
) -> None:
    project = make_project()
    p = project.prefix
    svc, both = f"{p}-svc", f"{p}-both"
    append_project(project, f"owned_user_prefixes: [{p}-]\n")
    spec = f"""\
        users:
          - name: {svc}
            password_env: SVC_PASSWORD
          - name: {both}
            mechanism: [SCRAM-SHA-256, SCRAM-SHA-512]
            iterations: 8192
            password_env: BOTH_PASSWORD
        """
    project.specs(spec)
    outputs: list[str] = []

    def run(*args: str) -> tuple[int, str]:
        result = project.run(*args)
        outputs.extend((result.out, result.err))
        return result.code, result.out + result.err

    try:
        # Without the variables the users cannot be created: a plan error naming them.
        code, out = run("plan")
        assert code == 1
        assert (
            f"user '{svc}' needs its password (it is created), but environment variable SVC_PASSWORD is not set"
            in out
        )
        project.env.update({"SVC_PASSWORD": PASSWORD, "BOTH_PASSWORD": PASSWORD + "2"})
        code, out = run("plan")
        assert code == 0, out
        assert f"+ user.{svc}" in out
        assert "set from $SVC_PASSWORD" in out

        code, out = run("--debug", "apply", "--auto-approve")
        assert code == 0, out
        await_login(stack, svc, PASSWORD, "SCRAM-SHA-512", True)
        await_login(stack, both, PASSWORD + "2", "SCRAM-SHA-512", True)
        assert not authenticates(stack, svc, "wrong", "SCRAM-SHA-512")
        # The stack's listeners enable SCRAM-SHA-512 only: the SHA-256 credential is seen
        # through DescribeUserScramCredentials.
        assert credentials(admin, both) == {"SCRAM_SHA_256": 8192, "SCRAM_SHA_512": 8192}
        assert credentials(admin, svc) == {"SCRAM_SHA_512": 4096}
        code, out = run("plan", "--detailed-exitcode")
        assert code == 0, out

        # A new value in the variable changes nothing until rotation is asked for.
        project.env["SVC_PASSWORD"] = ROTATED
        code, out = run("apply", "--auto-approve")
        assert code == 0, out
        assert "No changes." in out
        assert authenticates(stack, svc, PASSWORD, "SCRAM-SHA-512")
        code, out = run("apply", "--auto-approve", "--rotate-passwords", "--target", f"user.{svc}")
        assert code == 0, out
        assert f"~ user.{svc}" in out
        assert "access-loss" in out
        await_login(stack, svc, PASSWORD, "SCRAM-SHA-512", False)
        await_login(stack, svc, ROTATED, "SCRAM-SHA-512", True)
        assert authenticates(stack, both, PASSWORD + "2", "SCRAM-SHA-512")

        # Out of band: kafka-configs changes the iterations; drift sees it, plan puts it back.
        kafka_tool(
            stack,
            "kafka-configs",
            "--alter",
            "--entity-type",
            "users",
            "--entity-name",
            svc,
            "--add-config",
            "SCRAM-SHA-512=[iterations=4500,password=out-of-band]",
        )

        def drifted() -> str:
            _code, out = run("drift")
            assert f"user.{svc}" in out, out
            assert "mechanisms.SCRAM-SHA-512" in out, out
            return out

        out = eventually(drifted, timeout=60)
        assert "4500" in out
        assert f"user.{both}" not in out
        code, out = run("apply", "--auto-approve")
        assert code == 0, out
        await_login(stack, svc, ROTATED, "SCRAM-SHA-512", True)

        # Import writes placeholders; with the imported specs the plan is empty.
        imported = project.root / "imported"
        code, out = run("import", "--out", str(imported), "--resources", "users", "--prefix", p)
        assert code == 0, out
        text = (imported / "users.yaml").read_text()
        assert f"password_env: KAFKAPLAN_PASSWORD_{p.upper()}_SVC" in text
        project.specs(text, file="specs/main.yaml")
        code, out = run("plan", "--detailed-exitcode")
        assert code == 0, out

        # Deleting: only with --allow-deletes.
        project.specs(
            f"users:\n  - name: {both}\n    mechanism: [SCRAM-SHA-256, SCRAM-SHA-512]\n    iterations: 8192\n    password_env: BOTH_PASSWORD\n"
        )
        code, out = run("apply", "--auto-approve")
        assert code == 0, out
        assert f"user.{svc}: in the owned user scope but in no spec" in out
        assert authenticates(stack, svc, ROTATED, "SCRAM-SHA-512")
        code, out = run("apply", "--auto-approve", "--allow-deletes")
        assert code == 0, out
        assert f"- user.{svc}" in out
        await_login(stack, svc, ROTATED, "SCRAM-SHA-512", False)
        assert authenticates(stack, both, PASSWORD + "2", "SCRAM-SHA-512")
    finally:
        project.specs("topics: []\n")
        run("apply", "--auto-approve", "--allow-deletes")
    assert credentials(admin, svc) == {}
    shown = "\n".join(outputs)
    for secret in (PASSWORD, ROTATED, PASSWORD + "2"):
        assert secret not in shown


@pytest.fixture
def grants(admin: AdminClient) -> Iterator[Grants]:
    granted = Grants(admin)
    yield granted
    if granted.filters:
        revoke(admin, granted.filters)


def test_least_privilege_for_users(
    make_project: MakeProject, grants: Grants, stack: dict[str, str]
) -> None:
    """Reading users needs DESCRIBE on the cluster, changing them ALTER on the cluster
    (docs/permissions.md), as carol, a principal the stack grants nothing."""
    project = as_carol(make_project)
    p = project.prefix
    user = f"{p}-app"
    project.specs(f"users:\n  - name: {user}\n    password_env: APP_PASSWORD\n")
    project.env["APP_PASSWORD"] = PASSWORD
    grants.lease("User:carol", p, *LEASE_OPERATIONS)

    refused = project.run("plan")
    assert refused.code == 1
    assert "permission denied" in refused.err
    assert "DESCRIBE on the cluster" in refused.err

    grants.cluster("User:carol", "DESCRIBE")
    planned = eventually(lambda: _succeeds(project.run("plan")), timeout=60)
    assert f"+ user.{user}" in planned
    denied = project.run("apply", "--auto-approve")
    assert denied.code == 1
    assert f"user.{user}" in denied.out
    assert "ALTER on the cluster" in denied.out

    grants.cluster("User:carol", "ALTER")
    try:
        done = eventually(lambda: _succeeds(project.run("apply", "--auto-approve")), timeout=60)
        assert f"user.{user}" in done
        await_login(stack, user, PASSWORD, "SCRAM-SHA-512", True)
    finally:
        project.specs("topics: []\n")
        append_project(project, f"owned_user_prefixes: [{p}-]\n")
        cleanup = project.run("apply", "--auto-approve", "--allow-deletes")
        assert cleanup.code == 0, cleanup.out + cleanup.err


def _succeeds(result: object) -> str:
    code, out, err = (getattr(result, k) for k in ("code", "out", "err"))
    assert code == 0, out + err
    return str(out)


@pytest.mark.parametrize("iterations", [4095, 16385])
def test_iterations_outside_kafkas_bounds_are_spec_errors(
    make_project: MakeProject, iterations: int
) -> None:
    project = make_project()
    project.specs(
        f"users:\n  - name: {project.prefix}-x\n    iterations: {iterations}\n"
        "    password_env: X_PASSWORD\n"
    )
    result = project.run("validate")
    assert result.code == 1
    assert "specs/main.yaml:3" in result.err
