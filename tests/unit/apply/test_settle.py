"""After an apply, kafkaplan waits (bounded) until the cluster reports what it did."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kafkaplan import commands
from kafkaplan.apply.runner import ApplyReport
from kafkaplan.apply.settle import settle
from kafkaplan.commands import run_apply
from kafkaplan.errors import ClusterError, ClusterUnreachable
from kafkaplan.live.cluster import TopicMetadata
from kafkaplan.live.read import read_live
from kafkaplan.live.state import LiveConfig
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.model import Plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.spec.acls import (
    Binding,
    DesiredAcls,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    Scope,
)
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from tests.conftest import MakeProject
from tests.conftest import run_cli as run
from tests.fakes import FakeTopic, MemoryCluster

OLD = Binding(
    "User:app",
    ResourceType.TOPIC,
    PatternType.LITERAL,
    "old.t.v1",
    Operation.READ,
    Permission.ALLOW,
)
NEW = Binding(
    "User:app",
    ResourceType.TOPIC,
    PatternType.LITERAL,
    "new.t.v1",
    Operation.READ,
    Permission.ALLOW,
)


@dataclass
class LaggingCluster(MemoryCluster):
    """Answers DescribeTopics and DescribeAcls from a snapshot taken before the apply, for
    the next ``stale_reads`` ACL reads (as a broker still applying the metadata log)."""

    stale_reads: int = 0
    frozen_topics: dict[str, TopicMetadata] = field(default_factory=dict)
    frozen_acls: list[Binding] = field(default_factory=list)
    reads: int = 0  # DescribeAcls calls since the last freeze
    full_reads: int = 0  # of those, the ones asking for every binding

    def freeze(self, stale_reads: int) -> None:
        self.frozen_topics = super().describe()[1]
        self.frozen_acls = sorted(self.acls)
        self.stale_reads = stale_reads
        self.reads = 0

    def topics_exist(self, names: Sequence[str]) -> dict[str, bool]:
        if self.stale_reads > 0:
            return {name: name in self.frozen_topics for name in names}
        return super().topics_exist(names)

    def _stale(self) -> bool:
        self.reads += 1
        if self.stale_reads > 0:
            self.stale_reads -= 1
            return True
        return False

    def describe_acls(self) -> tuple[list[Binding], list[str]]:
        bindings, unreadable = super().describe_acls()
        self.full_reads += 1
        return (list(self.frozen_acls) if self._stale() else bindings), unreadable

    def acls_exist(self, bindings: Sequence[Binding]) -> dict[Binding, bool]:
        shown = set(self.frozen_acls) if self._stale() else self.acls
        return {binding: binding in shown for binding in bindings}


def desired() -> DesiredState:
    """Topic new.t.v1 and a binding on it; old.* topics and User:app's bindings are owned."""
    topic = DesiredTopic("new.t.v1", 1, 1, {}, Source("a.yaml", 2))
    acls = DesiredAcls(
        bindings={NEW: "a.yaml:5"}, scopes=(Scope("app", principals=frozenset({"User:app"})),)
    )
    return DesiredState(topics={topic.name: topic}, acls=acls, owned_topic_prefixes=("old.",))


def planned(cluster: MemoryCluster) -> Plan:
    state = desired()
    return compute_plan(state, read_live(cluster, state), PlanOptions(allow_deletes=True))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_apply_returns_once_the_cluster_reports_its_changes() -> None:
    cluster = LaggingCluster(brokers=1)
    plan = planned(cluster)
    assert {c.address for c in plan.changes} == {"topic.new.t.v1", NEW_ADDRESS}
    cluster.freeze(stale_reads=3)
    report = run_apply(plan, cluster, settle_timeout=0)  # no waiting: reports what lags
    assert report.ok
    assert report.unsettled == sorted(["topic.new.t.v1", NEW_ADDRESS])

    cluster = LaggingCluster(brokers=1)
    plan = planned(cluster)
    cluster.freeze(stale_reads=3)
    report = run_apply(plan, cluster)
    assert report.unsettled == []
    assert cluster.reads == 4, "polled until the bindings showed up, not longer"


def test_waiting_is_bounded_and_backs_off() -> None:
    cluster = LaggingCluster(brokers=1)
    plan = planned(cluster)
    cluster.freeze(stale_reads=1000)
    report = run_apply(plan, cluster, settle_timeout=0)
    clock = Clock()
    pending = settle(cluster, plan, report, timeout=5, sleep=clock.sleep, clock=clock)
    assert pending == sorted(["topic.new.t.v1", NEW_ADDRESS])
    assert clock.now == pytest.approx(5)
    assert clock.sleeps[:4] == [0.05, 0.1, 0.2, 0.4]
    assert max(clock.sleeps) == 0.5


def test_deletes_are_awaited_too_and_failures_are_not() -> None:
    cluster = LaggingCluster(brokers=1, acls={OLD}, topics={"old.t.v1": FakeTopic(1, 1)})
    cluster.denied_topics.add("new.t.v1")  # creating the topic fails: nothing to await
    plan = planned(cluster)
    assert {"topic.old.t.v1", "acl." + OLD.key} <= {c.address for c in plan.changes}
    cluster.freeze(stale_reads=1000)
    report = run_apply(plan, cluster, settle_timeout=0)
    assert not report.ok
    # The deleted topic and binding are still reported; the failed creation is not awaited.
    assert report.unsettled == sorted([NEW_ADDRESS, "acl." + OLD.key, "topic.old.t.v1"])


def test_a_cluster_that_stops_answering_ends_the_wait() -> None:
    cluster = LaggingCluster(brokers=1)
    plan = planned(cluster)
    cluster.freeze(stale_reads=1000)
    report = run_apply(plan, cluster, settle_timeout=0)

    def unreachable() -> tuple[list[Binding], list[str]]:
        raise ClusterUnreachable("broker did not answer (_TIMED_OUT)", code="_TIMED_OUT")

    def unreachable_by_name(bindings: Sequence[Binding]) -> dict[Binding, bool]:
        raise ClusterUnreachable("broker did not answer (_TIMED_OUT)", code="_TIMED_OUT")

    cluster.describe_acls = unreachable  # type: ignore[method-assign]
    cluster.acls_exist = unreachable_by_name  # type: ignore[method-assign]
    clock = Clock()
    pending = settle(cluster, plan, report, timeout=60, sleep=clock.sleep, clock=clock)
    assert pending == sorted(["topic.new.t.v1", NEW_ADDRESS])
    assert clock.sleeps == []


def many_bindings(count: int) -> list[Binding]:
    return [
        Binding(
            "User:app",
            ResourceType.TOPIC,
            PatternType.LITERAL,
            f"new.t{i:03d}.v1",
            Operation.READ,
            Permission.ALLOW,
        )
        for i in range(count)
    ]


def applied_bindings(cluster: LaggingCluster, bindings: list[Binding]) -> tuple[Plan, ApplyReport]:
    state = DesiredState(
        topics={},
        acls=DesiredAcls(
            bindings=dict.fromkeys(bindings, "a.yaml:5"),
            scopes=(Scope("app", principals=frozenset({"User:app"})),),
        ),
    )
    plan = compute_plan(state, read_live(cluster, state), PlanOptions())
    report = run_apply(plan, cluster, settle_timeout=0)
    cluster.reads = cluster.full_reads = 0  # the plan's and the apply's own
    return plan, report


def test_many_bindings_are_read_in_full_only_once_the_last_applied_shows() -> None:
    cluster = LaggingCluster(brokers=1)
    plan, report = applied_bindings(cluster, many_bindings(60))
    cluster.freeze(stale_reads=4)
    cluster.frozen_acls = []  # the next four reads see none of the new bindings
    clock = Clock()
    pending = settle(cluster, plan, report, timeout=60, sleep=clock.sleep, clock=clock)
    assert pending == []
    assert cluster.reads == 6, "four probes of the last binding, then one more and a full read"
    assert cluster.full_reads == 1


def test_a_binding_that_lags_behind_the_last_one_is_still_awaited() -> None:
    bindings = many_bindings(60)
    cluster = LaggingCluster(brokers=1)
    plan, report = applied_bindings(cluster, bindings)
    # The last binding shows, an earlier one never does (another broker answering, say).
    cluster.acls.discard(bindings[7])
    clock = Clock()
    pending = settle(cluster, plan, report, timeout=3, sleep=clock.sleep, clock=clock)
    assert pending == ["acl." + bindings[7].key]
    # One full read found it missing; after that it alone is asked for, on every poll.
    assert cluster.full_reads == 1
    assert cluster.reads == 2 + len(clock.sleeps)


def test_a_few_bindings_are_asked_for_by_name_alone() -> None:
    cluster = LaggingCluster(brokers=1)
    plan, report = applied_bindings(cluster, many_bindings(3))
    assert settle(cluster, plan, report, timeout=60) == []
    assert cluster.full_reads == 0
    assert cluster.reads == 1


def test_the_cli_names_what_the_cluster_does_not_report_yet(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = LaggingCluster(brokers=1, stale_reads=10**6)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: cluster)
    project: Path = make_project({"a.yaml": "topics:\n  - name: new.t.v1\n"})
    text = project.read_text().replace(
        "bootstrap_servers: 127.0.0.1:1", "bootstrap_servers: 127.0.0.1:1\n      timeout: 10ms"
    )
    project.write_text(text)
    code, out, err = run(project, "apply", "--auto-approve", capsys=capsys)
    assert code == 0, out + err
    assert "Apply complete: 1 of 1 changes applied." in out
    assert (
        "Warning: the cluster does not report these changes yet: topic.new.t.v1. They were "
        "acknowledged; a plan right now may still show them."
    ) in err


NEW_ADDRESS = "acl." + NEW.key


@dataclass
class LaggingConfigs(MemoryCluster):
    """Answers DescribeConfigs from a snapshot for the next ``stale_reads`` reads (a broker
    whose metadata image does not have the controller's config change yet)."""

    stale_reads: int = 0
    frozen: dict[str, dict[str, LiveConfig] | ClusterError] = field(default_factory=dict)
    config_reads: int = 0

    def freeze_configs(self, stale_reads: int) -> None:
        self.frozen = super().describe_topic_configs(sorted(self.topics))
        self.stale_reads = stale_reads
        self.config_reads = 0

    def describe_topic_configs(
        self, names: Sequence[str], keys: Collection[str] | None = None
    ) -> dict[str, dict[str, LiveConfig] | ClusterError]:
        self.config_reads += 1
        live = super().describe_topic_configs(names, keys)
        if self.stale_reads > 0:
            self.stale_reads -= 1
            return {name: self.frozen.get(name, live[name]) for name in names}
        return live


def test_config_changes_are_awaited_until_describe_configs_shows_them() -> None:
    topic = DesiredTopic("new.t.v1", 1, 1, {"retention.ms": "86400000"}, Source("a.yaml", 2))
    state = DesiredState(topics={topic.name: topic})
    cluster = LaggingConfigs(
        brokers=1, topics={"new.t.v1": FakeTopic(1, 1, {"retention.ms": "3600000"})}
    )
    plan = compute_plan(state, read_live(cluster, state))
    assert [c.address for c in plan.changes] == ["topic.new.t.v1"]
    cluster.freeze_configs(stale_reads=3)
    report = run_apply(plan, cluster, settle_timeout=0)  # no waiting: reports what lags
    assert report.ok
    assert report.unsettled == ["topic.new.t.v1"], "the broker still shows the old value"
    clock = Clock()
    assert settle(cluster, plan, report, timeout=10, sleep=clock.sleep, clock=clock) == []
    assert cluster.config_reads == 4, "polled until the new value showed, not longer"
    assert len(clock.sleeps) == 2
