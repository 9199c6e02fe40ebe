"""Broker errors as kafkaplan reports them: a permission error names the resource, what was
refused and, in its hint, the permission to grant; never the broker's request dump."""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from hypothesis import given
from hypothesis import strategies as st
from kafka import errors as kafka_errors

from kafkaplan.errors import (
    ClusterError,
    ClusterNotReached,
    ClusterTransient,
    ClusterUnreachable,
    PermissionDenied,
)
from kafkaplan.live.cluster import (
    MAX_RECORDS_PER_REQUEST,
    KafkaCluster,
    _within_records,
    silence_reason,
    translate,
    translate_kafka_python,
)
from kafkaplan.spec.project import KafkaConnection

# What a Kafka 4.1 broker answers to CreateAcls without ALTER on the cluster: the request is
# forwarded to the KRaft controller, whose refusal carries the Java request object.
FORWARDED = (
    "Request Request(processor=0, connectionId=127.0.0.1:22093-127.0.0.1:43812-0-1, "
    "session=org.apache.kafka.network.Session@aab3e50, listenerName=ListenerName(CONTROLLER), "
    "securityProtocol=PLAINTEXT, buffer=java.nio.HeapByteBuffer[pos=122 lim=122 cap=144]"
)


def refused(code: int, reason: str) -> KafkaException:
    return KafkaException(KafkaError(code, reason))


@pytest.mark.parametrize(
    ("code", "reason", "resource", "operation", "line"),
    [
        (
            KafkaError.CLUSTER_AUTHORIZATION_FAILED,
            FORWARDED,
            "acl.User:app.topic.literal.orders.v1.WRITE.ALLOW.*",
            "create_acls",
            "acl.User:app.topic.literal.orders.v1.WRITE.ALLOW.*: permission denied "
            "(CLUSTER_AUTHORIZATION_FAILED) creating the ACL binding (hint: kafkaplan needs "
            "ALTER on the cluster to change ACLs)",
        ),
        (
            KafkaError.CLUSTER_AUTHORIZATION_FAILED,
            FORWARDED,
            "acl.User:old.group.literal.g.READ.ALLOW.*",
            "delete_acls",
            "acl.User:old.group.literal.g.READ.ALLOW.*: permission denied "
            "(CLUSTER_AUTHORIZATION_FAILED) deleting the ACL binding (hint: kafkaplan needs "
            "ALTER on the cluster to change ACLs)",
        ),
        (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            "Broker: Topic authorization failed",
            "topic.orders.v1",
            "delete_topics",
            "topic.orders.v1: permission denied (TOPIC_AUTHORIZATION_FAILED) deleting the topic "
            "(hint: grant DELETE on the owned topics)",
        ),
        (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            "Broker: Topic authorization failed",
            "topic.orders.v1",
            "alter_configs",
            "topic.orders.v1: permission denied (TOPIC_AUTHORIZATION_FAILED) changing the "
            "topic's configs (hint: grant ALTER_CONFIGS on the managed topics)",
        ),
    ],
)
def test_permission_errors_name_what_was_refused_and_the_permission(
    code: int, reason: str, resource: str, operation: str, line: str
) -> None:
    error = translate(refused(code, reason), resource=resource, operation=operation)
    assert isinstance(error, PermissionDenied)
    assert str(error) == line
    assert error.code == KafkaError(code).name()


def test_the_brokers_text_of_a_refusal_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kafkaplan.live.cluster"):
        error = translate(
            refused(KafkaError.CLUSTER_AUTHORIZATION_FAILED, FORWARDED),
            resource="acl.x",
            operation="create_acls",
        )
    assert "Request(" not in str(error)
    assert FORWARDED in caplog.text


def test_an_operation_without_a_phrase_still_names_the_code() -> None:
    error = translate(
        refused(KafkaError.GROUP_AUTHORIZATION_FAILED, "Broker: Group authorization failed"),
        resource="group.g",
        operation="something_new",
    )
    assert str(error) == "group.g: permission denied (GROUP_AUTHORIZATION_FAILED)"


def test_other_errors_keep_the_brokers_reason() -> None:
    error = translate(
        refused(KafkaError.POLICY_VIOLATION, "retention.ms above the limit"),
        resource="topic.t",
        operation="alter_configs",
    )
    assert type(error) is ClusterError
    assert str(error) == "topic.t: retention.ms above the limit (POLICY_VIOLATION)"


def test_kafka_python_refusals_read_the_same() -> None:
    error = translate_kafka_python(
        kafka_errors.ClusterAuthorizationFailedError(),
        resource="topic.t",
        operation="reassign",
    )
    assert isinstance(error, PermissionDenied)
    assert str(error) == (
        "topic.t: permission denied (CLUSTER_AUTHORIZATION_FAILED) reassigning partitions "
        "(hint: grant ALTER on the cluster (partition reassignments need it))"
    )


def test_a_partition_without_its_leader_yet_is_transient() -> None:
    """A new topic's partitions answer ListOffsets with error 6 for a moment after the
    metadata already shows their leader (seen in tests/contract on Kafka 4.1)."""
    error = translate(
        refused(KafkaError.NOT_LEADER_FOR_PARTITION, "Broker: Not leader for partition"),
        resource="topic.orders.v1",
        operation="list_offsets",
    )
    assert isinstance(error, ClusterTransient)


# -- a read that timed out before any broker answered ----------------------------------------


@dataclass
class Described:
    cluster_id: str


class AnsweringAdmin:
    """An admin client whose DescribeCluster is answered at once."""

    def describe_cluster(self, **kwargs: Any) -> Future[Described]:
        future: Future[Described] = Future()
        future.set_result(Described("c1"))
        return future

    def poll(self, timeout: float) -> int:
        return 0


def test_a_timeout_before_any_broker_answered_means_the_cluster_was_never_reached() -> None:
    connection = KafkaConnection(bootstrap_servers="127.0.0.1:1,127.0.0.1:2", timeout="3s")
    cluster = KafkaCluster(connection, {}, admin_factory=lambda config: AnsweringAdmin())
    timed_out = ClusterUnreachable("broker did not answer (_TIMED_OUT)", code="_TIMED_OUT")
    moving = ClusterTransient("Broker: Not controller (NOT_CONTROLLER)", code="NOT_CONTROLLER")

    error = cluster.unreached(timed_out)
    assert isinstance(error, ClusterNotReached)
    assert str(error) == (
        "kafka: no broker answered within 3s (tried bootstrap_servers 127.0.0.1:1,127.0.0.1:2)"
        " (hint: check bootstrap_servers and that the cluster is up)"
    )
    assert cluster.unreached(moving) is None  # an answer, if not the one hoped for

    assert cluster.identify() == "c1"
    assert cluster.unreached(timed_out) is None  # answered once: a timeout is transient


DEFAULT_HINT = "check bootstrap_servers and that the cluster is up"


@pytest.mark.parametrize(
    ("reported", "reason", "hint"),
    [
        ([], None, DEFAULT_HINT),  # not a word: a connection that never completed
        (
            [("_ALL_BROKERS_DOWN", "1/1 brokers are down")],
            None,
            "check bootstrap_servers, that the cluster is up, and that security_protocol and "
            "sasl_mechanism match the broker's listener",
        ),
        (
            [
                (
                    "_TRANSPORT",
                    "k:1/bootstrap: Connect to ipv4#10.0.0.1:1 failed: Connection "
                    "refused (after 0ms in state CONNECT)",
                ),
                ("_ALL_BROKERS_DOWN", "1/1 brokers are down"),
            ],
            "k:1/bootstrap: Connect to ipv4#10.0.0.1:1 failed: Connection refused",
            DEFAULT_HINT,
        ),
        (
            [("_RESOLVE", "k.invalid:1/bootstrap: Failed to resolve 'k.invalid:1'")],
            "k.invalid:1/bootstrap: Failed to resolve 'k.invalid:1'",
            "check the host names in bootstrap_servers",
        ),
        (
            [
                (
                    "_BAD_MSG",
                    "r:8081/bootstrap: Receive failed: Invalid response size 1213486160 "
                    "(0..100000000): increase receive.message.max.bytes",
                )
            ],
            "r:8081/bootstrap: the answer began with 'HTTP'",
            "something answers at that address, but not as a Kafka broker does: check the "
            "port in bootstrap_servers",
        ),
        (
            [("_BAD_MSG", "r:1/bootstrap: Receive failed: Invalid response size 3 (0..100000000)")],
            "r:1/bootstrap: Receive failed: Invalid response size 3 (0..100000000)",
            "something answers at that address, but not as a Kafka broker does: check the "
            "port in bootstrap_servers",
        ),
    ],
    ids=["silent", "dropped", "refused", "unresolved", "http", "other-bytes"],
)
def test_a_silent_cluster_is_explained_by_what_the_client_last_reported(
    reported: list[tuple[str, str]], reason: str | None, hint: str
) -> None:
    assert silence_reason(reported) == (reason, hint)


@given(st.lists(st.integers(min_value=1, max_value=3 * MAX_RECORDS_PER_REQUEST), max_size=60))
def test_requests_stay_within_the_controllers_records_but_keep_every_item_in_order(
    costs: list[int],
) -> None:
    batches = list(_within_records(costs, lambda cost: cost))
    assert [cost for batch in batches for cost in batch] == costs
    for batch in batches:
        assert batch
        # Over the limit only alone: the controller then refuses that item, not the others.
        assert sum(batch) <= MAX_RECORDS_PER_REQUEST or len(batch) == 1
    for batch, following in itertools.pairwise(batches):
        assert sum(batch) + following[0] > MAX_RECORDS_PER_REQUEST  # not split too early
