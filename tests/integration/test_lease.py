"""The apply lease against the real broker: concurrent applies, expired leases, unlock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from kafkaplan.errors import LeaseLost
from kafkaplan.live.lease import KafkaLeaseLog, Lease, replay
from kafkaplan.spec.project import KafkaConnection
from tests.integration.conftest import Project, lease_topic

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]


def connection() -> KafkaConnection:
    return KafkaConnection(
        bootstrap_servers=os.environ["KAFKAPLAN_BOOTSTRAP_SERVERS"],
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="admin",
        sasl_password_env="KAFKAPLAN_SASL_PASSWORD",
        timeout="10s",
    )


def other_run(project: Project, owner: str, ttl: float) -> Lease:
    """Another run holding (or trying for) the project's lease, from inside the test."""
    log = KafkaLeaseLog(connection(), os.environ, lease_topic(project.prefix))
    return Lease(log, ttl=ttl, owner=owner)


def spawn(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kafkaplan",
            "--project",
            str(project.root / "kafkaplan.yaml"),
            "--no-color",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def twin_projects(make_project: MakeProject, count: int) -> tuple[Project, Project]:
    """Two projects managing different topics of one cluster under one lease."""
    first, second = make_project(), make_project()
    shared = lease_topic(first.prefix)
    config = second.root / "kafkaplan.yaml"
    config.write_text(config.read_text().replace(lease_topic(second.prefix), shared))
    for project in (first, second):
        project.specs(
            "topics:\n" + "".join(f"  - name: {project.name(f'c{i}')}\n" for i in range(count))
        )
    return first, second


def test_concurrent_applies_do_not_interleave(
    make_project: MakeProject, admin: AdminClient
) -> None:
    first, second = twin_projects(make_project, 12)
    runs = [spawn(p, "apply", "--auto-approve", "--batch-size", "1") for p in (first, second)]
    results = [(run.pid, *run.communicate(timeout=120), run.returncode) for run in runs]
    codes = sorted(code for *_, code in results)
    assert codes == [0, 1], results
    [(winner, *_)] = [r for r in results if r[3] == 0]
    [(_, out, err, _)] = [r for r in results if r[3] == 1]
    assert "the apply lease is held by " in err
    assert f"(pid {winner}, environment it" in err
    assert " since 20" in err
    assert "Apply" not in out  # the loser changed nothing
    assert "Traceback" not in err

    # Waiting for the lease instead: both apply, one after the other.
    for project in (first, second):
        project.specs(
            "topics:\n" + "".join(f"  - name: {project.name(f'd{i}')}\n" for i in range(12))
        )
    runs = [
        spawn(p, "apply", "--auto-approve", "--batch-size", "1", "--lease-wait", "60s")
        for p in (first, second)
    ]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out + err
        assert "Apply complete" in out
    # The lease log shows the two runs strictly one after the other.
    log = KafkaLeaseLog(connection(), os.environ, lease_topic(first.prefix))
    records, _ = log.read()
    log.close()
    valid: list[tuple[str, str]] = []
    for end in range(len(records)):
        before = replay(records[:end])
        after = replay(records[: end + 1])
        if after.head != before.head:
            valid.append((records[end].kind, records[end].holder))
    holders = [holder for kind, holder in valid if kind == "acquire"]
    assert len(holders) == 3  # the winner of the first round, then both of the second
    for index in range(0, len(valid) - 1):
        kind, holder = valid[index]
        if kind == "acquire":
            # the next valid record that is not a renewal is this holder's release
            rest = [v for v in valid[index + 1 :] if v[0] != "renew"]
            assert rest[0] == ("release", holder), valid


def test_an_expired_lease_of_a_crashed_run_is_taken_over(make_project: MakeProject) -> None:
    project = make_project()
    project.specs(f"topics:\n  - name: {project.name('x')}\n")
    crashed = other_run(project, "crashed@ci (pid 1)", ttl=2)
    crashed.acquire(wait=0)  # and never gives it back
    refused = project.run("apply", "--auto-approve")
    assert refused.code == 1
    assert "the apply lease is held by crashed@ci (pid 1) since" in refused.err
    assert "kafkaplan unlock" in refused.err
    assert project.run("plan").code == 0  # plans need no lease

    result = project.run("apply", "--auto-approve", "--lease-wait", "15s")
    assert result.code == 0, result.out + result.err
    assert "took over an expired apply lease (the apply lease is held by crashed@ci" in result.err
    assert "Apply complete" in result.out
    time.sleep(1)
    crashed._renewed_at = 0  # as if a third of its ttl had passed
    with pytest.raises(LeaseLost):
        crashed.keep()


def test_unlock(make_project: MakeProject) -> None:
    project = make_project()
    project.specs(f"topics:\n  - name: {project.name('x')}\n")
    holder = other_run(project, "stuck@ci (pid 2)", ttl=300)
    assert project.run("unlock", "--force").out == "The apply lease is not held; nothing to do.\n"
    holder.acquire(wait=0)

    blocked = project.run("apply", "--auto-approve")
    assert blocked.code == 1
    assert "held by stuck@ci (pid 2)" in blocked.err

    refused = project.run("unlock")  # no terminal to confirm on
    assert refused.code == 1
    assert "The apply lease is held by stuck@ci (pid 2) since" in refused.out
    assert "refusing to release the lease without confirmation" in refused.err
    assert "--force" in refused.err

    released = project.run("unlock", "--force")
    assert released.code == 0, released.err
    assert "Released the apply lease." in released.out
    assert project.run("apply", "--auto-approve").code == 0
    # the run whose lease was broken stops before its next batch
    holder._renewed_at = 0
    with pytest.raises(LeaseLost, match="lost"):
        holder.keep()


def test_lease_topic_is_never_planned(make_project: MakeProject, tmp_path: Path) -> None:
    project = make_project()
    config = project.root / "kafkaplan.yaml"
    config.write_text(config.read_text() + "owned_topic_prefixes: ['__kafkaplan', 't']\n")
    project.specs(f"topics:\n  - name: {project.name('x')}\n")
    assert project.run("apply", "--auto-approve").code == 0
    plan = project.run("plan", "--allow-deletes", "--format", "json")
    assert "__kafkaplan_lease" not in plan.out
