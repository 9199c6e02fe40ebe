"""The applier: batches, per-change reports, and honest outcomes when the broker goes away."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from kafkaplan.apply.runner import Outcome, Status, Targets, apply_plan
from kafkaplan.errors import ClusterUnreachable, LeaseLost
from kafkaplan.live.cluster import NewTopicRequest, Results
from kafkaplan.live.read import read_live
from kafkaplan.live.retry import RetryingCluster, RetryPolicy
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.model import Plan
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from tests.fakes import FakeTopic, Fault, MemoryCluster


def desired(count: int, retention: str = "86400000") -> DesiredState:
    topics = {
        f"t{i:02}.events.v1": DesiredTopic(
            f"t{i:02}.events.v1", 1, 1, {"retention.ms": retention}, Source("a.yaml", i + 1)
        )
        for i in range(count)
    }
    return DesiredState(topics=topics)


def plan_for(cluster: MemoryCluster, state: DesiredState) -> Plan:
    return compute_plan(state, read_live(cluster, state))


def timeout() -> ClusterUnreachable:
    return ClusterUnreachable("broker did not answer (_TIMED_OUT)", code="_TIMED_OUT")


def test_changes_are_sent_in_batches_and_reported_one_by_one() -> None:
    cluster = MemoryCluster(brokers=1)
    plan = plan_for(cluster, desired(7))
    seen: list[Outcome] = []
    progress: list[tuple[int, int, int]] = []
    report = apply_plan(
        plan,
        Targets(cluster),
        batch_size=3,
        on_outcome=seen.append,
        progress=lambda *args, note="": progress.append(args),
    )
    assert report.ok
    assert report.interrupted is None
    assert [c for c in cluster.calls if c.startswith("create_topics")] == [
        "create_topics:3:False",
        "create_topics:3:False",
        "create_topics:1:False",
    ]
    assert [o.address for o in seen] == [c.address for c in plan.changes]
    assert progress == [(3, 7, 0), (6, 7, 0), (7, 7, 0)]


@dataclass
class DiesAfter(MemoryCluster):
    """Answers ``healthy`` create requests; makes the next one but never answers again."""

    healthy: int = 1

    def create_topics(
        self, topics: Sequence[NewTopicRequest], *, validate_only: bool = False
    ) -> Results:
        self.healthy -= 1
        if self.healthy < 0:
            self.faults.append(Fault("create_topics", timeout(), applied=True))
            self.faults += [Fault("describe", timeout()) for _ in range(5)]
        return super().create_topics(topics, validate_only=validate_only)


def test_a_broker_that_stops_answering_stops_the_apply_with_a_true_record() -> None:
    fake = DiesAfter(brokers=1)
    plan = plan_for(fake, desired(6))
    cluster = RetryingCluster(fake, RetryPolicy(attempts=2), sleep=lambda _: None)
    report = apply_plan(plan, Targets(cluster), batch_size=2)
    statuses = [o.status for o in report.outcomes]
    assert statuses == [Status.DONE] * 2 + [Status.UNKNOWN] * 2 + [Status.SKIPPED] * 2
    assert report.interrupted == "the broker stopped answering"
    assert "may or may not have been made" in report.outcomes[2].detail
    assert report.outcomes[4].detail.startswith("not attempted")
    # nothing reported done is missing, nothing reported skipped was made
    for outcome in report.outcomes:
        name = outcome.address.removeprefix("topic.")
        if outcome.status is Status.DONE:
            assert name in fake.topics
        if outcome.status is Status.SKIPPED:
            assert name not in fake.topics
    assert report.summary() == "2 of 6 changes applied, 2 with unknown outcome, 2 skipped"


def test_a_refusal_does_not_stop_the_apply() -> None:
    cluster = MemoryCluster(brokers=1)
    plan = plan_for(cluster, desired(4))
    cluster.denied_topics.add("t01.events.v1")
    report = apply_plan(plan, Targets(cluster), batch_size=1)
    assert [o.status for o in report.outcomes] == [
        Status.DONE,
        Status.FAILED,
        Status.DONE,
        Status.DONE,
    ]
    assert report.interrupted is None


def test_a_lost_lease_stops_before_the_next_batch() -> None:
    cluster = MemoryCluster(brokers=1)
    plan = plan_for(cluster, desired(4))
    calls = 0

    def keep() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise LeaseLost("this run's apply lease was lost")

    report = apply_plan(plan, Targets(cluster), batch_size=2, before_batch=keep)
    assert [o.status for o in report.outcomes] == [Status.DONE] * 2 + [Status.SKIPPED] * 2
    assert report.interrupted == "this run's apply lease was lost"
    assert set(cluster.topics) == {"t00.events.v1", "t01.events.v1"}


def test_updates_with_unknown_outcome() -> None:
    cluster = MemoryCluster(brokers=1)
    for i in range(2):
        cluster.topics[f"t{i:02}.events.v1"] = FakeTopic(1, 1)
    plan = plan_for(cluster, desired(2))
    cluster.faults.append(Fault("alter_topic_configs", timeout(), applied=True))
    report = apply_plan(plan, Targets(cluster), batch_size=5)
    assert {o.status for o in report.outcomes} == {Status.UNKNOWN}
    assert report.interrupted == "the broker stopped answering"


def test_an_interrupt_while_outcomes_are_told_still_tells_every_one() -> None:
    """Ctrl-C while the second of a batch's outcomes is printed: that one is told again,
    the rest of the batch too, and then the interrupt stops the apply."""
    cluster = MemoryCluster(brokers=1)
    plan = plan_for(cluster, desired(5))
    told: list[str] = []

    def on_outcome(outcome: Outcome) -> None:
        if len(told) == 1 and "interrupted" not in told:
            told.append("interrupted")
            raise KeyboardInterrupt
        told.append(outcome.address)

    report = apply_plan(plan, Targets(cluster), batch_size=3, on_outcome=on_outcome)
    assert report.interrupted == "interrupted"
    names = [c.address for c in plan.changes]
    assert [t for t in told if t != "interrupted"] == names
    assert [o.address for o in report.outcomes] == names
    assert [o.status for o in report.outcomes] == [Status.DONE] * 3 + [Status.SKIPPED] * 2


def test_a_ctrl_c_that_confluent_kafka_wraps_in_a_system_error_is_an_interrupt() -> None:
    """Ctrl-C while librdkafka runs a callback inside an admin call reaches kafkaplan as
    SystemError("... returned a result with an exception set") caused by the interrupt: the
    apply reports the batch in flight as unknown and the rest as not attempted."""
    cluster = MemoryCluster(brokers=1)
    plan = plan_for(cluster, desired(4))

    def interrupted(*_args: object, **_kwargs: object) -> Results:
        error = SystemError(
            "<built-in method create_topics> returned a result with an exception set"
        )
        error.__cause__ = KeyboardInterrupt()
        raise error

    cluster.create_topics = interrupted  # type: ignore[method-assign]
    report = apply_plan(plan, Targets(cluster), batch_size=2)
    assert report.interrupted == "interrupted"
    assert [o.status for o in report.outcomes] == [Status.UNKNOWN] * 2 + [Status.SKIPPED] * 2

    other = SystemError("a real bug")
    cluster.create_topics = lambda *a, **k: (_ for _ in ()).throw(other)  # type: ignore[method-assign]
    with pytest.raises(SystemError, match="a real bug"):
        apply_plan(plan, Targets(cluster), batch_size=2)
