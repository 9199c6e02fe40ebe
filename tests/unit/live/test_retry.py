"""The retry policy: only transient failures, bounded, writes re-checked before resending."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kafkaplan.commands import connect, connect_registry, load_context
from kafkaplan.errors import (
    AuthenticationFailed,
    ClusterError,
    ClusterNotReached,
    ClusterTransient,
    ClusterUnreachable,
    KafkaplanError,
    PermissionDenied,
    ProjectError,
    RegistryAuthenticationFailed,
    RegistryError,
    RegistryPermissionDenied,
    RegistryUnreachable,
    SchemaRejected,
)
from kafkaplan.live.cluster import ClusterInfo, NewTopicRequest, Results, TopicMetadata
from kafkaplan.live.registry import HttpRegistry
from kafkaplan.live.retry import RetryingCluster, RetryPolicy, transient
from tests.conftest import PROJECT, MakeProject
from tests.fakes import FakeTopic, Fault, MemoryCluster


def timeout() -> ClusterUnreachable:
    return ClusterUnreachable("broker did not answer (_TIMED_OUT)", code="_TIMED_OUT")


def policy_violation() -> ClusterError:
    return ClusterError("topic names are reserved (POLICY_VIOLATION)", code="POLICY_VIOLATION")


@pytest.fixture
def fake() -> MemoryCluster:
    return MemoryCluster(brokers=1)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def cluster(fake: MemoryCluster, sleeps: list[float]) -> RetryingCluster:
    return RetryingCluster(fake, RetryPolicy(attempts=3, backoff=0.5), sleep=sleeps.append)


def new(name: str, partitions: int = 3) -> NewTopicRequest:
    return NewTopicRequest(name, partitions, 1)


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(attempts=6, backoff=0.5, max_backoff=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_transient_read_is_retried_with_backoff(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float]
) -> None:
    fake.faults += [Fault("describe", timeout()), Fault("describe", timeout())]
    info, _ = cluster.describe()
    assert info.cluster_id == "fake-cluster"
    assert fake.calls == ["describe"] * 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    "refusal",
    [
        AuthenticationFailed("authentication failed", code="_AUTHENTICATION"),
        ClusterNotReached("no broker answered within 30s (tried bootstrap_servers x:9092)"),
    ],
)
def test_a_refusal_or_a_cluster_never_reached_is_not_retried(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float], refusal: ClusterError
) -> None:
    fake.faults.append(Fault("describe", refusal))
    with pytest.raises(type(refusal)):
        cluster.describe()
    assert fake.calls == ["describe"]
    assert sleeps == []


@pytest.mark.parametrize("read", ["describe_acls", "describe_topic_configs"])
def test_a_read_unanswered_while_no_broker_has_answered_is_not_retried(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float], read: str
) -> None:
    """Sent alongside the metadata read to an address where nothing answers: one timeout,
    then the error that says so, instead of a timeout per attempt."""
    fake.not_reached = ClusterNotReached(
        "no broker answered within 30s (tried bootstrap_servers x:9092)", resource="kafka"
    )
    fake.faults += [Fault(read, timeout()) for _ in range(3)]
    calls: dict[str, Callable[[], object]] = {
        "describe_acls": cluster.describe_acls,
        "describe_topic_configs": lambda: cluster.describe_topic_configs(["a"]),
    }
    call = calls[read]
    with pytest.raises(ClusterNotReached, match="tried bootstrap_servers x:9092"):
        call()
    assert len(fake.faults) == 2
    assert sleeps == []


def test_another_transient_failure_before_any_broker_answered_is_retried(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float]
) -> None:
    fake.not_reached = ClusterNotReached("no broker answered within 30s", resource="kafka")
    moving = ClusterTransient("Broker: Not controller (NOT_CONTROLLER)", code="NOT_CONTROLLER")
    fake.faults += [Fault("describe_acls", moving)]
    assert cluster.describe_acls() == ([], [])
    assert sleeps == [0.5]


def test_a_read_unanswered_once_a_broker_has_answered_is_retried(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float]
) -> None:
    fake.faults += [Fault("describe_acls", timeout())]
    assert cluster.describe_acls() == ([], [])
    assert sleeps == [0.5]


def test_reads_give_up_after_the_last_attempt(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float]
) -> None:
    fake.faults += [Fault("describe_topic_configs", timeout()) for _ in range(5)]
    with pytest.raises(ClusterUnreachable):
        cluster.describe_topic_configs(["a"])
    assert fake.calls == ["describe_topic_configs:1"] * 3
    assert len(fake.faults) == 2
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    "error",
    [
        PermissionDenied("permission denied", code="TOPIC_AUTHORIZATION_FAILED"),
        AuthenticationFailed("authentication failed", code="SASL_AUTHENTICATION_FAILED"),
        ClusterError("Invalid config (INVALID_CONFIG)", code="INVALID_CONFIG"),
        policy_violation(),
    ],
)
def test_final_errors_are_never_retried(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float], error: ClusterError
) -> None:
    fake.faults.append(Fault("describe", error))
    with pytest.raises(type(error)):
        cluster.describe()
    fake.topics["t"] = FakeTopic(1, 1)
    calls: list[tuple[str, Callable[[], Results]]] = [
        ("create_topics", lambda: cluster.create_topics([new("n")])),
        ("alter_topic_configs", lambda: cluster.alter_topic_configs({"t": {"retention.ms": "1"}})),
        ("create_partitions", lambda: cluster.create_partitions({"t": 2})),
        ("delete_topics", lambda: cluster.delete_topics(["t"])),
    ]
    for operation, call in calls:
        fake.calls.clear()
        fake.faults.append(Fault(operation, error))
        results = call()
        assert list(results.values()) == [error], operation
        assert len(fake.calls) == 1, (operation, fake.calls)  # no re-check, no resend
    assert sleeps == []


def test_a_create_whose_answer_was_lost_is_rechecked_not_resent(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float]
) -> None:
    fake.faults.append(Fault("create_topics", timeout(), applied=True))
    assert cluster.create_topics([new("a"), new("b")]) == {"a": None, "b": None}
    assert fake.calls == ["create_topics:2:False", "describe"]
    assert set(fake.topics) == {"a", "b"}
    assert sleeps == []


def test_a_create_that_did_not_happen_is_resent_after_the_recheck(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float]
) -> None:
    fake.faults.append(Fault("create_topics", timeout()))
    assert cluster.create_topics([new("a")]) == {"a": None}
    assert fake.calls == ["create_topics:1:False", "describe", "create_topics:1:False"]
    assert sleeps == [0.5]


class LateCreate(MemoryCluster):
    """The lost first request lands on the broker just after the re-check read."""

    def describe(self) -> tuple[ClusterInfo, dict[str, TopicMetadata]]:
        result = super().describe()
        self.topics.setdefault("a", FakeTopic(3, 1))
        return result


def test_a_resent_create_refused_as_existing_is_rechecked(sleeps: list[float]) -> None:
    fake = LateCreate(brokers=1)
    cluster = RetryingCluster(fake, RetryPolicy(attempts=3, backoff=0.5), sleep=sleeps.append)
    fake.faults.append(Fault("create_topics", timeout()))
    assert cluster.create_topics([new("a")]) == {"a": None}
    assert fake.calls == [
        "create_topics:1:False",
        "describe",  # not there yet: resend
        "create_topics:1:False",  # refused: already exists
        "describe",  # there, as requested: done
    ]


def test_a_write_that_cannot_be_rechecked_stays_unknown(
    fake: MemoryCluster, cluster: RetryingCluster
) -> None:
    fake.faults.append(Fault("create_topics", timeout()))
    fake.faults += [Fault("describe", timeout()) for _ in range(3)]
    results = cluster.create_topics([new("a")])
    assert isinstance(results["a"], ClusterTransient)
    assert fake.calls == ["create_topics:1:False", *["describe"] * 3]


def test_an_existing_topic_of_another_shape_is_not_taken_for_ours(
    fake: MemoryCluster, cluster: RetryingCluster
) -> None:
    fake.topics["a"] = FakeTopic(1, 1)
    fake.faults.append(Fault("create_topics", timeout()))
    results = cluster.create_topics([new("a", partitions=3)])
    error = results["a"]
    assert error is not None
    assert error.code == "TOPIC_ALREADY_EXISTS"


def test_writes_give_up_after_the_last_attempt_as_unknown(
    fake: MemoryCluster, cluster: RetryingCluster, sleeps: list[float]
) -> None:
    fake.faults += [Fault("create_topics", timeout()) for _ in range(3)]
    results = cluster.create_topics([new("a")])
    assert isinstance(results["a"], ClusterTransient)
    assert fake.calls.count("create_topics:1:False") == 3
    assert sleeps == [0.5, 1.0]


def test_config_changes_are_resent_without_recheck(
    fake: MemoryCluster, cluster: RetryingCluster
) -> None:
    fake.topics["t"] = FakeTopic(1, 1)
    fake.faults.append(Fault("alter_topic_configs", timeout(), applied=True))
    assert cluster.alter_topic_configs({"t": {"retention.ms": "1000"}}) == {"t": None}
    assert fake.calls == ["alter_topic_configs:1", "alter_topic_configs:1"]
    assert fake.topics["t"].overrides == {"retention.ms": "1000"}


def test_partition_increase_is_rechecked(fake: MemoryCluster, cluster: RetryingCluster) -> None:
    fake.topics["t"] = FakeTopic(2, 1)
    fake.faults.append(Fault("create_partitions", timeout(), applied=True))
    assert cluster.create_partitions({"t": 4}) == {"t": None}
    assert fake.calls == ["create_partitions:1", "describe"]
    assert fake.topics["t"].partitions == 4


def test_delete_is_rechecked_and_resent(fake: MemoryCluster, cluster: RetryingCluster) -> None:
    fake.topics.update({"gone": FakeTopic(1, 1), "kept": FakeTopic(1, 1)})
    fake.faults.append(Fault("delete_topics", timeout(), applied=True))
    assert cluster.delete_topics(["gone"]) == {"gone": None}
    fake.calls.clear()
    fake.faults.append(Fault("delete_topics", timeout()))
    assert cluster.delete_topics(["kept"]) == {"kept": None}
    assert fake.calls == ["delete_topics:1", "describe", "delete_topics:1"]
    assert fake.topics == {}


def test_dry_runs_are_resent(fake: MemoryCluster, cluster: RetryingCluster) -> None:
    fake.faults.append(Fault("create_topics", timeout()))
    assert cluster.create_topics([new("a")], validate_only=True) == {"a": None}
    assert fake.calls == ["create_topics:1:True", "create_topics:1:True"]
    assert fake.topics == {}


# -- One policy for the cluster and the registry ----------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (timeout(), True),
        (ClusterTransient("leader moving (NOT_LEADER_OR_FOLLOWER)"), True),
        (policy_violation(), False),
        (AuthenticationFailed("authentication failed"), False),
        (PermissionDenied("permission denied"), False),
        (RegistryUnreachable("the registry did not answer (timed out)"), True),
        (RegistryError("the registry failed (HTTP 503)", status=503), True),
        (RegistryError("too many requests (HTTP 429)", status=429), True),
        (RegistryError("the registry failed (HTTP 500)", status=500), False),
        (RegistryAuthenticationFailed("registry authentication failed", status=401), False),
        (RegistryPermissionDenied("registry permission denied", status=403), False),
        (RegistryError("not found", status=404), False),
        (SchemaRejected("incompatible", status=409), False),
        (SchemaRejected("invalid", status=422), False),
        (ProjectError("a wrong cluster"), False),
    ],
)
def test_one_classification_for_cluster_and_registry(error: KafkaplanError, expected: bool) -> None:
    assert transient(error) is expected
    sleeps: list[float] = []
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        RetryPolicy.of(2, sleep=sleeps.append).run("call", failing)
    assert len(calls) == (3 if expected else 1)
    assert sleeps == ([0.5, 1.0] if expected else [])


def test_the_run_builds_one_policy_for_cluster_and_registry(make_project: MakeProject) -> None:
    registry_settings = "    schema_registry:\n      url: http://127.0.0.1:1\n"
    project = make_project(
        {"a.yaml": "topics:\n  - name: orders.created.v1\n"},
        project=PROJECT.replace(
            "      bootstrap_servers:", "      retries: 4\n      bootstrap_servers:", 1
        ).replace("    defaults:\n", registry_settings + "    defaults:\n", 1),
    )
    context = load_context(project, None)
    cluster = connect(context, read_only=True, environ={})
    registry = connect_registry(context, read_only=True, environ={})
    assert isinstance(cluster, RetryingCluster)
    assert isinstance(registry, HttpRegistry)
    assert cluster.policy == registry.policy == RetryPolicy(attempts=5)
    cluster.close()
    registry.close()
