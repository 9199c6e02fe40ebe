"""The batched read of the live state (kafkaplan.live.read): the metadata read started
before the specs are parsed, the declared topics' configs read while the rest of them is
checked, and reading only the configs a plan compares."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from kafkaplan import commands
from kafkaplan.errors import ClusterError, ClusterUnreachable, ProjectError, SpecError
from kafkaplan.live.cluster import KafkaCluster
from kafkaplan.live.read import EarlyRead, read_live
from kafkaplan.live.state import ConfigSource
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from kafkaplan.spec.project import KafkaConnection
from tests.conftest import MakeProject
from tests.fakes import FakeTopic, Fault, MemoryCluster


def desired(*topics: DesiredTopic) -> DesiredState:
    return DesiredState(topics={t.name: t for t in topics})


def topic(name: str, configs: dict[str, str | None]) -> DesiredTopic:
    return DesiredTopic(name, 1, 1, configs, Source("a.yaml", 2))


def test_an_early_describe_is_the_plans_one_metadata_read() -> None:
    cluster = MemoryCluster(brokers=1)
    cluster.topics["orders.created.v1"] = FakeTopic(1, 1)
    early = EarlyRead(cluster)
    live = read_live(cluster, desired(topic("orders.created.v1", {})), early=early)
    assert set(live.topics) >= {"orders.created.v1"}
    assert cluster.calls.count("describe") == 1


def test_the_error_of_an_early_describe_is_raised_by_the_read() -> None:
    cluster = MemoryCluster(brokers=1)
    cluster.faults.append(Fault("describe", ClusterUnreachable("no broker", resource="kafka")))
    early = EarlyRead(cluster)
    with pytest.raises(ClusterUnreachable, match="no broker"):
        read_live(cluster, desired(), early=early)


def test_only_the_declared_config_keys_and_the_overrides_are_kept() -> None:
    cluster = MemoryCluster(brokers=1)
    cluster.topics["orders.created.v1"] = FakeTopic(1, 1, overrides={"segment.ms": "3600000"})
    live = read_live(cluster, desired(topic("orders.created.v1", {"retention.ms": "86400000"})))
    configs = live.topics["orders.created.v1"].configs
    assert sorted(configs) == ["retention.ms", "segment.ms"]
    assert configs["retention.ms"].source is ConfigSource.DEFAULT
    assert configs["segment.ms"].is_override


# -- the declared topics' configs, read while the rest of the specs is checked ---------------


def test_configs_read_early_are_the_plans_one_config_read() -> None:
    cluster = MemoryCluster(brokers=1)
    cluster.topics["orders.created.v1"] = FakeTopic(1, 1, overrides={"segment.ms": "3600000"})
    wanted = desired(
        topic("orders.created.v1", {"retention.ms": "86400000"}),
        topic("orders.missing.v1", {}),
    )
    early = EarlyRead(cluster)
    early()  # the metadata is in: only the declared topics that exist are asked for
    early.prefetch_configs(wanted.topics)
    live = read_live(cluster, wanted, early=early)
    # One read, of the declared topic that exists, kept to the declared keys and overrides.
    assert [c for c in cluster.calls if c.startswith("describe_topic_configs")] == [
        "describe_topic_configs:1"
    ]
    assert sorted(live.topics["orders.created.v1"].configs) == ["retention.ms", "segment.ms"]


def test_configs_are_asked_for_while_the_metadata_is_still_read() -> None:
    """Listing a cluster's topics can take longer than checking the specs: the declared
    topics' configs are asked for without waiting for it, and what the plan reads is the
    same (the topic that does not exist is dropped, not an error)."""
    cluster = MemoryCluster(brokers=1)
    cluster.topics["orders.created.v1"] = FakeTopic(1, 1, overrides={"segment.ms": "3600000"})
    listed, asked = threading.Event(), threading.Event()
    describe, describe_configs = cluster.describe, cluster.describe_topic_configs

    def slow_describe() -> Any:
        assert listed.wait(10), "the metadata read was never let through"
        return describe()

    def recorded_describe_configs(names: Any, keys: Any = None) -> Any:
        asked.set()
        return describe_configs(names, keys)

    cluster.describe = slow_describe  # type: ignore[method-assign]
    cluster.describe_topic_configs = recorded_describe_configs  # type: ignore[method-assign]
    wanted = desired(
        topic("orders.created.v1", {"retention.ms": "86400000"}),
        topic("orders.missing.v1", {}),
    )
    early = EarlyRead(cluster)
    early.prefetch_configs(wanted.topics)
    assert asked.wait(10), "the configs were not asked for while the metadata was read"
    assert "describe" not in cluster.calls
    listed.set()
    live = read_live(cluster, wanted, early=early)
    assert [c for c in cluster.calls if c.startswith("describe_topic_configs")] == [
        "describe_topic_configs:2"
    ]
    assert "orders.missing.v1" not in live.topics
    assert live.not_checked == {}
    assert sorted(live.topics["orders.created.v1"].configs) == ["retention.ms", "segment.ms"]


def test_configs_read_early_for_other_keys_are_read_again() -> None:
    cluster = MemoryCluster(brokers=1)
    cluster.topics["orders.created.v1"] = FakeTopic(1, 1)
    early = EarlyRead(cluster)
    early.prefetch_configs(desired(topic("orders.created.v1", {})).topics)
    wanted = desired(topic("orders.created.v1", {"retention.ms": "86400000"}))
    live = read_live(cluster, wanted, early=early)
    assert [c for c in cluster.calls if c.startswith("describe_topic_configs")] == [
        "describe_topic_configs:1",
        "describe_topic_configs:1",
    ]
    assert "retention.ms" in live.topics["orders.created.v1"].configs


def test_topics_declared_after_the_early_read_are_read_with_the_rest() -> None:
    cluster = MemoryCluster(brokers=1)
    for name in ("orders.created.v1", "orders.shipped.v1"):
        cluster.topics[name] = FakeTopic(1, 1, overrides={"segment.ms": "3600000"})
    early = EarlyRead(cluster)
    early.prefetch_configs(desired(topic("orders.created.v1", {})).topics)
    wanted = desired(topic("orders.created.v1", {}), topic("orders.shipped.v1", {}))
    live = read_live(cluster, wanted, early=early)
    assert [c for c in cluster.calls if c.startswith("describe_topic_configs")] == [
        "describe_topic_configs:1",
        "describe_topic_configs:1",
    ]
    for name in ("orders.created.v1", "orders.shipped.v1"):
        assert sorted(live.topics[name].configs) == ["segment.ms"]


def test_the_error_of_an_early_config_read_is_raised_by_the_read() -> None:
    cluster = MemoryCluster(brokers=1)
    cluster.topics["orders.created.v1"] = FakeTopic(1, 1)
    cluster.faults.append(
        Fault("describe_topic_configs", ClusterUnreachable("no broker", resource="kafka"))
    )
    early = EarlyRead(cluster)
    early.prefetch_configs(desired(topic("orders.created.v1", {})).topics)
    with pytest.raises(ClusterUnreachable, match="no broker"):
        read_live(cluster, desired(topic("orders.created.v1", {})), early=early)


def test_a_plan_reads_the_declared_topics_configs_before_its_specs_are_all_checked(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The configs are asked for once the topics are known; a spec problem found after
    that (a schema file that is missing) still fails the plan."""
    fake = MemoryCluster(brokers=1)
    fake.topics["orders.created.v1"] = FakeTopic(1, 1)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    asked: list[list[str]] = []
    prefetch = EarlyRead.prefetch_configs

    def recorded(self: EarlyRead, topics: Any) -> None:
        asked.append(sorted(topics))
        prefetch(self, topics)

    monkeypatch.setattr(EarlyRead, "prefetch_configs", recorded)
    good = "topics:\n  - name: orders.created.v1\n  - name: orders.other.v1\n"
    plan = commands.plan_specs(make_project({"a.yaml": good}), None)
    assert asked == [["orders.created.v1", "orders.other.v1"]]
    assert [c for c in fake.calls if c.startswith("describe_topic_configs")] == [
        "describe_topic_configs:1"
    ]
    assert plan.changes
    bad = good + "    value_schema: schemas/missing.avsc\n"
    with pytest.raises(SpecError) as raised:
        commands.plan_specs(make_project({"a.yaml": bad}), None)
    assert "missing.avsc" in str(raised.value.diagnostics)
    assert len(asked) == 2
    broken = "topics:\n  - name: orders.created.v1\n    partitions: many\n"
    with pytest.raises(SpecError):
        commands.plan_specs(make_project({"a.yaml": broken}), None)
    assert len(asked) == 2  # topics with a problem: nothing is read early for them


# -- the order of errors: the specs' own come first ---------------------------------------


def test_bad_specs_are_reported_before_a_connection_that_cannot_be_made(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(context: Any, read_only: bool) -> MemoryCluster:
        raise ProjectError("environment variable KAFKA_PASSWORD is not set")

    monkeypatch.setattr(commands, "connect", refuse)
    project = make_project(
        {"bad.yaml": "topics:\n  - name: orders.created.v1\n    partitions: many\n"}
    )
    with pytest.raises(SpecError):
        commands.plan_specs(project, None)
    good = make_project({"bad.yaml": "topics:\n  - name: orders.created.v1\n"})
    with pytest.raises(ProjectError, match="KAFKA_PASSWORD"):
        commands.plan_specs(good, None)


def test_specs_that_do_not_load_close_the_client_of_the_early_read(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = MemoryCluster(brokers=1)
    closed: list[bool] = []
    monkeypatch.setattr(fake, "close", lambda: closed.append(True))
    monkeypatch.setattr(commands, "connect", lambda context, read_only: fake)
    project = make_project({"bad.yaml": "topics:\n  - name: orders.created.v1\n    bogus: 1\n"})
    with pytest.raises(SpecError):
        commands.plan_specs(project, None)
    assert closed == [True]


# -- KafkaCluster: an early read stops once the client is closed ---------------------------


class WaitingAdmin:
    """An admin client whose metadata request never gets an answer: each call waits until
    the test lets it time out. DescribeCluster, sent with it, is never answered either."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        self.calls: list[str] = []

    def list_topics(self, timeout: float) -> Any:
        self.calls.append("list_topics")
        self.asked.set()
        self.release.wait()
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "timed out"))

    def poll(self, timeout: float) -> int:
        return 0

    def describe_cluster(self, **kwargs: Any) -> Future[Any]:
        self.calls.append("describe_cluster")
        return Future()


def test_an_early_describe_stops_when_the_cluster_is_closed(tmp_path: Path) -> None:
    admin = WaitingAdmin()
    connection = KafkaConnection(bootstrap_servers="127.0.0.1:1", timeout="300s")
    cluster = KafkaCluster(connection, {}, read_only=True, admin_factory=lambda config: admin)
    early = EarlyRead(cluster)
    assert admin.asked.wait(30)
    cluster.close()
    admin.release.set()  # the request in flight times out; no other is sent
    with pytest.raises(ClusterError, match="client was closed"):
        early()
    # DescribeCluster goes out with the metadata request, not behind requests sent later.
    assert admin.calls == ["describe_cluster", "list_topics"]
