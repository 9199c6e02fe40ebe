"""The apply lease is only ever read or written on the cluster the environment expects: the
lease log comes from the cluster client, which checks the cluster's identity first."""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kafkaplan import commands
from kafkaplan.errors import ClusterError, ClusterUnreachable, ProjectError
from kafkaplan.live.cluster import KafkaCluster
from kafkaplan.live.retry import RetryingCluster, RetryPolicy
from kafkaplan.spec.project import KafkaConnection
from tests.conftest import MakeProject
from tests.conftest import run_cli as run
from tests.fakes import Fault, MemoryCluster

SPEC = "topics:\n  - name: orders.created.v1\n"
WRONG = (
    "Error: connected to cluster fake-cluster, but this environment expects another-cluster "
    "(hint: check bootstrap_servers and expected_cluster_id)"
)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> MemoryCluster:
    fake = MemoryCluster(brokers=1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    return fake


def test_apply_and_unlock_refuse_another_cluster_before_touching_the_lease(
    cluster: MemoryCluster, make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC})
    cluster.expected_cluster_id = "another-cluster"
    for args in (("apply", "--auto-approve"), ("unlock", "--force"), ("unlock",)):
        assert run(project, *args, capsys=capsys) == (1, "", WRONG + "\n"), args
    assert (cluster.lease.exists, cluster.lease.appends) == (False, 0)
    assert "describe" not in cluster.calls, "nothing but the cluster's identity was read"
    assert cluster.topics == {}


def test_the_expected_cluster_gets_its_lease_taken_and_given_back(
    cluster: MemoryCluster, make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project({"a.yaml": SPEC})
    cluster.expected_cluster_id = "fake-cluster"
    code, out, _ = run(project, "apply", "--auto-approve", capsys=capsys)
    assert code == 0, out
    assert cluster.lease.topic == "__kafkaplan_lease"
    assert cluster.lease.appends == 2  # acquire, release
    assert cluster.calls.index("identify") < cluster.calls.index("describe")
    assert run(project, "unlock", capsys=capsys)[:2] == (
        0,
        "The apply lease is not held; nothing to do.\n",
    )


def test_a_saved_plan_for_another_cluster_is_refused_before_the_lease(
    cluster: MemoryCluster,
    make_project: MakeProject,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    project = make_project({"a.yaml": SPEC})
    planfile = tmp_path / "plan.json"
    assert run(project, "plan", "--out", str(planfile), capsys=capsys)[0] == 0
    saved = json.loads(planfile.read_text())
    planfile.write_text(json.dumps({**saved, "cluster_id": "elsewhere"}))
    code, out, err = run(project, "apply", str(planfile), capsys=capsys)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "Error: plan was made for cluster elsewhere, but this is cluster fake-cluster "
        "(hint: check the environment's bootstrap servers)"
    ]
    assert cluster.lease.appends == 0
    planfile.write_text(json.dumps(saved))
    assert run(project, "apply", str(planfile), capsys=capsys)[0] == 0
    assert cluster.lease.appends == 2


def test_the_retrying_client_retries_the_identity_check_before_handing_out_the_lease() -> None:
    fake = MemoryCluster(brokers=1)
    fake.faults.append(Fault("identify", ClusterUnreachable("no answer", code="_TIMED_OUT")))
    sleeps: list[float] = []
    retrying = RetryingCluster(fake, RetryPolicy(attempts=2), sleep=sleeps.append)
    assert retrying.lease_log("__kafkaplan_lease.x") is fake.lease
    assert sleeps == [0.5]
    fake.expected_cluster_id = "another-cluster"
    with pytest.raises(ProjectError, match="expects another-cluster"):
        retrying.lease_log("__kafkaplan_lease.x")


# -- KafkaCluster itself, over a scripted admin client ----------------------------------------


@dataclass
class Described:
    cluster_id: str


@dataclass
class ScriptedAdmin:
    cluster_id: str
    calls: list[str] = field(default_factory=list)

    def describe_cluster(self, **kwargs: Any) -> Future[Described]:
        self.calls.append("describe_cluster")
        future: Future[Described] = Future()
        future.set_result(Described(self.cluster_id))
        return future

    def create_topics(self, *args: Any, **kwargs: Any) -> dict[str, Future[None]]:
        self.calls.append("create_topics")
        raise AssertionError("the lease topic must not be created")

    def poll(self, timeout: float) -> int:
        return 0


def kafka_cluster(admin: ScriptedAdmin, *, read_only: bool = False) -> KafkaCluster:
    connection = KafkaConnection(
        bootstrap_servers="127.0.0.1:1", expected_cluster_id="expected", timeout="1s"
    )
    return KafkaCluster(connection, {}, read_only=read_only, admin_factory=lambda config: admin)


def test_kafka_cluster_hands_out_no_lease_log_on_another_cluster() -> None:
    admin = ScriptedAdmin("other")
    cluster = kafka_cluster(admin)
    with pytest.raises(ProjectError, match="connected to cluster other, but this environment"):
        cluster.lease_log("__kafkaplan_lease")
    assert admin.calls == ["describe_cluster"]


def test_kafka_cluster_checks_its_identity_once_and_read_only_logs_refuse_writes() -> None:
    admin = ScriptedAdmin("expected")
    cluster = kafka_cluster(admin, read_only=True)
    assert cluster.identify() == "expected"
    log = cluster.lease_log("__kafkaplan_lease")
    assert admin.calls == ["describe_cluster"], "asked once per client"
    with pytest.raises(ClusterError, match="read-only"):
        log.append(b"{}", create=True)
    assert "create_topics" not in admin.calls
    cluster.close()
