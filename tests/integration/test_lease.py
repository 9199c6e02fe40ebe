"""The apply lease against the real broker: concurrent applies, expired leases, unlock."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from kafkaplan.errors import LeaseLost
from kafkaplan.live.cluster import KafkaCluster
from kafkaplan.live.lease import Lease, LeaseLog, replay
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


def lease_log(topic: str) -> LeaseLog:
    return KafkaCluster(connection(), os.environ).lease_log(topic)


def other_run(project: Project, owner: str, ttl: float) -> Lease:
    """Another run holding (or trying for) the project's lease, from inside the test."""
    return Lease(lease_log(lease_topic(project.prefix)), ttl=ttl, owner=owner)


def spawn(project: Project, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
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
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(run: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    """What ``run`` writes to standard output up to and including ``marker``."""
    assert run.stdout is not None
    fd, seen = run.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            run.kill()
            raise AssertionError(f"no {marker!r} in time; output so far: {seen.decode()!r}")
        seen += chunk
    return seen.decode()


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
    # The first run takes the lease, shows its plan and waits at the confirmation (asked
    # only on a terminal, so its input is one); the second runs while the lease is held.
    controller, terminal = pty.openpty()
    waiting = spawn(first, "apply", "--batch-size", "1", stdin=terminal)
    os.close(terminal)
    try:
        shown = read_until(waiting, "Only 'yes' will be accepted")
        assert "Plan:" in shown, shown
        refused = spawn(second, "apply", "--auto-approve")
        out, err = refused.communicate(timeout=120)
        assert refused.returncode == 1, out + err
        assert "the apply lease is held by " in err, out + err
        assert f"(pid {waiting.pid}, environment it" in err
        assert " since 20" in err
        assert "Apply" not in out  # the refused run changed nothing
        assert "Traceback" not in err
        os.write(controller, b"yes\n")
        applied, applied_err = waiting.communicate(timeout=120)
    finally:
        os.close(controller)
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, shown + applied + applied_err
    assert "Apply complete" in applied
    live = admin.list_topics(timeout=10).topics
    assert all(first.name(f"c{i}") in live for i in range(12))
    assert not any(second.name(f"c{i}") in live for i in range(12))

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
    log = lease_log(lease_topic(first.prefix))
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


# -- The lease is only ever touched on the expected cluster -----------------------------------


def lease_records(admin: AdminClient, topic: str) -> int | None:
    """How many records the lease topic holds (None: it does not exist), read with the
    stack's admin user, independently of kafkaplan."""
    metadata = admin.list_topics(timeout=10)
    if topic not in metadata.topics:
        return None
    [offsets] = admin.list_offsets(
        {TopicPartition(topic, 0): OffsetSpec.latest()},  # type: ignore[no-untyped-call]
        request_timeout=10,
    ).values()
    return int(offsets.result().offset)


def expecting(project: Project, cluster_id: str) -> None:
    config = project.root / "kafkaplan.yaml"
    config.write_text(
        config.read_text().replace(
            "      timeout: ", f"      expected_cluster_id: {cluster_id}\n      timeout: ", 1
        )
    )


def test_a_wrong_expected_cluster_id_refuses_before_the_lease_is_touched(
    make_project: MakeProject, admin: AdminClient
) -> None:
    """A wrong bootstrap address (here: an expected_cluster_id the stack does not have):
    apply and unlock refuse in one line, and the lease topic is never created."""
    project = make_project()
    project.specs(f"topics:\n  - name: {project.name('x')}\n")
    topic = lease_topic(project.prefix)
    actual = admin.describe_cluster(request_timeout=10).result().cluster_id
    expecting(project, "not-this-cluster")
    line = (
        f"Error: connected to cluster {actual}, but this environment expects not-this-cluster "
        "(hint: check bootstrap_servers and expected_cluster_id)"
    )
    for args in (("apply", "--auto-approve"), ("unlock", "--force"), ("unlock",)):
        result = project.run(*args)
        assert (result.code, result.err.splitlines()) == (1, [line]), (args, result)
        assert result.out == ""
    assert lease_records(admin, topic) is None, "the lease topic was created"
    assert project.name("x") not in admin.list_topics(timeout=10).topics


def test_a_saved_plan_for_another_cluster_refuses_before_the_lease_is_touched(
    make_project: MakeProject, admin: AdminClient
) -> None:
    project = make_project()
    project.specs(f"topics:\n  - name: {project.name('x')}\n")
    topic = lease_topic(project.prefix)
    planfile = project.root / "plan.json"
    assert project.run("plan", "--out", str(planfile)).code == 0
    saved = json.loads(planfile.read_text())
    planfile.write_text(json.dumps({**saved, "cluster_id": "elsewhere"}))
    result = project.run("apply", str(planfile))
    assert result.code == 1
    assert result.err.splitlines() == [
        f"Error: plan was made for cluster elsewhere, but this is cluster {saved['cluster_id']} "
        "(hint: check the environment's bootstrap servers)"
    ]
    assert lease_records(admin, topic) is None, "the lease topic was created"

    # The right cluster: the lease is taken and given back (two records), the plan applied.
    planfile.write_text(json.dumps(saved))
    assert project.run("apply", str(planfile)).code == 0
    assert lease_records(admin, topic) == 2
    # Then a plan for another cluster writes no further lease record.
    planfile.write_text(json.dumps({**saved, "cluster_id": "elsewhere"}))
    assert project.run("apply", str(planfile)).code == 1
    assert lease_records(admin, topic) == 2
