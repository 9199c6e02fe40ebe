"""Replication-factor changes: planned per partition, rendered, applied as a throttled
reassignment, and an interrupted one found and finished by the next run (in-memory cluster)."""

from __future__ import annotations

from kafkaplan.apply.runner import Targets, apply_plan
from kafkaplan.live.read import read_live
from kafkaplan.live.state import BROKER_THROTTLE_CONFIGS, TOPIC_THROTTLE_CONFIGS
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.model import Action, Plan, RiskLabel
from kafkaplan.render import render
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from kafkaplan.spec.project import ReassignmentSettings
from tests.fakes import FakeTopic, MemoryCluster

FAST = ReassignmentSettings(throttle="10MiB", timeout="5s", poll_interval="10ms")


def want(name: str = "a.b.v1", partitions: int = 3, rf: int = 3) -> DesiredState:
    return DesiredState(
        topics={name: DesiredTopic(name, partitions, rf, {}, Source("specs/t.yaml", 4))}
    )


def plan_for(cluster: MemoryCluster, state: DesiredState) -> Plan:
    return compute_plan(state, read_live(cluster, state))


def apply(cluster: MemoryCluster, plan: Plan, settings: ReassignmentSettings = FAST) -> list[str]:
    notes: list[str] = []

    def progress(done: int, total: int, failed: int, *, note: str = "") -> None:
        notes.append(note)

    report = apply_plan(plan, Targets(cluster=cluster, reassignment=settings), progress=progress)
    assert report.outcomes, "nothing applied"
    return [f"{o.address} {o.status.value} {o.detail}".strip() for o in report.outcomes] + notes


def single_replica_topic() -> MemoryCluster:
    return MemoryCluster(
        brokers=3, topics={"a.b.v1": FakeTopic(3, 1, replicas=[[1], [2], [3]], leaders=[1, 2, 3])}
    )


def test_increase_is_planned_per_partition() -> None:
    plan = plan_for(single_replica_topic(), want(rf=3))
    [change] = plan.changes
    assert change.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("replication_factor", 1, 3),
        ("replicas.0", [1], [1, 2, 3]),
        ("replicas.1", [2], [2, 1, 3]),
        ("replicas.2", [3], [3, 1, 2]),
    ]
    assert [r.label for r in change.risks] == [RiskLabel.DATA_MOVEMENT]
    assert "replicas are added to 3 partition(s) on broker(s) 1, 2, 3" in change.risks[0].message
    assert "copied" in change.risks[0].message
    assert plan.errors == []


def test_decrease_is_planned_and_flagged() -> None:
    cluster = MemoryCluster(
        brokers=3,
        topics={"a.b.v1": FakeTopic(3, 3, replicas=[[1, 2, 3], [2, 3, 1], [3, 1, 2]])},
    )
    [change] = plan_for(cluster, want(rf=2)).changes
    assert [(f.path, f.after) for f in change.fields] == [
        ("replication_factor", 2),
        ("replicas.0", [1, 2]),
        ("replicas.1", [2, 3]),
        ("replicas.2", [3, 1]),
    ]
    assert [r.label for r in change.risks] == [RiskLabel.DURABILITY]
    assert "survives 1 broker failure(s) instead of 2" in change.risks[0].message


def test_rendered_readably() -> None:
    plan = plan_for(single_replica_topic(), want(rf=3))
    text = render(plan, "text")
    assert "~ replication_factor  1 -> 3" in text
    assert "~ replicas.0          [1] -> [1, 2, 3]" in text
    assert "! data-movement: replicas are added to 3 partition(s)" in text
    markdown = render(plan, "markdown")
    assert "| `replicas.1` | [2] | [2, 1, 3] |" in markdown
    assert "**data-movement**" in markdown


def test_too_many_replicas_is_an_error() -> None:
    plan = plan_for(MemoryCluster(brokers=2, topics={"a.b.v1": FakeTopic(1, 1)}), want(rf=3))
    assert plan.changes == []
    assert "needs at least that many brokers; the cluster has 2" in plan.errors[0].message


def test_apply_throttles_reassigns_waits_and_cleans_up() -> None:
    cluster = single_replica_topic()
    cluster.reassign_polls = 3
    plan = plan_for(cluster, want(rf=3))
    lines = apply(cluster, plan)
    assert lines[0] == "topic.a.b.v1 done"
    topic = cluster.topics["a.b.v1"]
    assert topic.replicas == [[1, 2, 3], [2, 1, 3], [3, 1, 2]]
    assert topic.leaders == [1, 2, 3]
    # Throttles were set for the copy (brokers, then reassignment) and are gone now.
    calls = cluster.calls
    assert calls.index("alter_broker_configs:3") < calls.index("alter_reassignments:3")
    assert calls.index("alter_reassignments:3") < calls.index("elect_preferred_leaders:3")
    assert calls.count("alter_broker_configs:3") == 2
    assert not any(TOPIC_THROTTLE_CONFIGS[0] in k for k in topic.overrides)
    assert all(not configs for configs in cluster.broker_configs.values())
    assert any("waiting for new replicas to catch up: 0/3" in n for n in lines)
    assert any("replicas in sync: 3/3" in n for n in lines)
    assert plan_for(cluster, want(rf=3)).changes == []


def test_throttle_values_name_senders_and_receivers() -> None:
    cluster = single_replica_topic()
    cluster.stuck = True
    apply(cluster, plan_for(cluster, want(rf=2)), FAST.model_copy(update={"timeout": "0ms"}))
    overrides = cluster.topics["a.b.v1"].overrides
    assert overrides["leader.replication.throttled.replicas"] == "0:1,1:2,2:3"
    assert overrides["follower.replication.throttled.replicas"] == "0:2,1:3,2:1"
    assert cluster.broker_configs[1] == dict.fromkeys(BROKER_THROTTLE_CONFIGS, str(10 * 2**20))


def test_decrease_applies_without_throttles() -> None:
    cluster = MemoryCluster(
        brokers=3,
        topics={"a.b.v1": FakeTopic(3, 3, replicas=[[1, 2, 3], [2, 3, 1], [3, 1, 2]])},
    )
    lines = apply(cluster, plan_for(cluster, want(rf=2)))
    assert lines[0] == "topic.a.b.v1 done"
    assert cluster.topics["a.b.v1"].replicas == [[1, 2], [2, 3], [3, 1]]
    assert not any(c.startswith("alter_broker_configs") for c in cluster.calls)


def test_timeout_then_the_next_run_finishes_it() -> None:
    cluster = single_replica_topic()
    cluster.stuck = True
    lines = apply(
        cluster, plan_for(cluster, want(rf=3)), FAST.model_copy(update={"timeout": "50ms"})
    )
    assert lines[0].startswith("topic.a.b.v1 failed replicas: reassignment still in progress")
    assert "Run `kafkaplan apply` again" in lines[0]
    # Throttles stay while Kafka goes on copying.
    assert set(TOPIC_THROTTLE_CONFIGS) <= set(cluster.topics["a.b.v1"].overrides)
    assert cluster.broker_configs[2]

    # The next plan sees the reassignment in progress and finishes it.
    again = plan_for(cluster, want(rf=3))
    [change] = again.changes
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("replicas.0", [1], [1, 2, 3]),
        ("replicas.1", [2], [2, 1, 3]),
        ("replicas.2", [3], [3, 1, 2]),
    ]
    assert "a partition reassignment is in progress on 3 partition(s)" in change.risks[0].message
    cluster.stuck = False
    assert apply(cluster, again)[0] == "topic.a.b.v1 done"
    assert cluster.reassignments == {}
    assert not set(TOPIC_THROTTLE_CONFIGS) & set(cluster.topics["a.b.v1"].overrides)
    assert all(not c for c in cluster.broker_configs.values())
    assert plan_for(cluster, want(rf=3)).changes == []


def test_killed_after_submit_is_detected_and_resumed() -> None:
    """The process died right after submitting: reassignment and throttles are live."""
    cluster = single_replica_topic()
    cluster.alter_topic_configs(
        {"a.b.v1": {TOPIC_THROTTLE_CONFIGS[0]: "0:1", TOPIC_THROTTLE_CONFIGS[1]: "0:2,0:3"}}
    )
    cluster.alter_broker_configs(
        {b: dict.fromkeys(BROKER_THROTTLE_CONFIGS, "1000") for b in (1, 2, 3)}
    )
    cluster.alter_reassignments({("a.b.v1", 0): [1, 2, 3]})
    plan = plan_for(cluster, want(rf=3))
    [change] = plan.changes
    assert ("replicas.0", [1], [1, 2, 3]) in [(f.path, f.before, f.after) for f in change.fields]
    assert any("in progress on 1 partition(s)" in r.message for r in change.risks)
    assert "describe_broker_throttles:3" in cluster.calls
    assert apply(cluster, plan)[0] == "topic.a.b.v1 done"
    assert cluster.topics["a.b.v1"].replicas[0] == [1, 2, 3]
    assert all(not c for c in cluster.broker_configs.values())
    assert plan_for(cluster, want(rf=3)).changes == []


def test_leftover_throttles_are_cleaned_up() -> None:
    """The process died after the copy but before the clean-up."""
    cluster = MemoryCluster(
        brokers=3,
        topics={
            "a.b.v1": FakeTopic(
                2,
                3,
                overrides={TOPIC_THROTTLE_CONFIGS[0]: "0:1", TOPIC_THROTTLE_CONFIGS[1]: "0:2"},
                replicas=[[1, 2, 3], [2, 3, 1]],
                leaders=[2, 2],
            )
        },
        broker_configs={2: dict.fromkeys(BROKER_THROTTLE_CONFIGS, "1000")},
    )
    plan = plan_for(cluster, want(partitions=2, rf=3))
    assert [c.address for c in plan.changes] == ["topic.a.b.v1", "broker.2"]
    topic_change, broker_change = plan.changes
    assert [(f.path, f.before, f.after) for f in topic_change.fields] == [
        ("configs.follower.replication.throttled.replicas", "0:2", None),
        ("configs.leader.replication.throttled.replicas", "0:1", None),
        ("leader.0", 2, 1),
    ]
    assert [f.path for f in broker_change.fields] == [
        "configs.follower.replication.throttled.rate",
        "configs.leader.replication.throttled.rate",
    ]
    assert {w.address for w in plan.warnings} == {"topic.a.b.v1", "broker.2"}
    lines = apply(cluster, plan)
    assert lines[:2] == ["broker.2 done", "topic.a.b.v1 done"]
    assert cluster.topics["a.b.v1"].overrides == {}
    assert cluster.topics["a.b.v1"].leaders == [1, 2]
    assert cluster.broker_configs[2] == {}
    assert plan_for(cluster, want(partitions=2, rf=3)).changes == []


def test_broker_rates_are_left_alone_while_another_reassignment_runs() -> None:
    cluster = single_replica_topic()
    cluster.topics["other"] = FakeTopic(1, 1, replicas=[[1]], leaders=[1])
    cluster.topics["a.b.v1"].overrides[TOPIC_THROTTLE_CONFIGS[0]] = "0:1"
    cluster.broker_configs[1] = dict.fromkeys(BROKER_THROTTLE_CONFIGS, "1000")
    cluster.stuck = True
    cluster.alter_reassignments({("other", 0): [2]})
    plan = plan_for(cluster, want(rf=1))
    assert [c.address for c in plan.changes] == ["topic.a.b.v1"]


def test_growing_partitions_and_replication_together_converges() -> None:
    cluster = single_replica_topic()
    plan = plan_for(cluster, want(partitions=4, rf=2))
    [change] = plan.changes
    assert ("replicas.3", None, change.fields[-1].after) == (
        change.fields[-1].path,
        change.fields[-1].before,
        change.fields[-1].after,
    )
    assert apply(cluster, plan)[0] == "topic.a.b.v1 done"
    assert [len(r) for r in cluster.topics["a.b.v1"].replicas] == [2, 2, 2, 2]
    assert plan_for(cluster, want(partitions=4, rf=2)).changes == []


def test_permission_denied_reassignment_fails_cleanly() -> None:
    cluster = single_replica_topic()
    cluster.denied_operations.add("reassign")
    lines = apply(cluster, plan_for(cluster, want(rf=2)))
    assert lines[0].startswith("topic.a.b.v1 failed replicas: partition 0: permission denied")
    # Nothing is left behind.
    assert cluster.topics["a.b.v1"].overrides == {}
    assert all(not c for c in cluster.broker_configs.values())
    assert cluster.topics["a.b.v1"].replicas == [[1], [2], [3]]


def test_saved_plan_fingerprints_cover_replicas() -> None:
    cluster = single_replica_topic()
    before = plan_for(cluster, want(rf=3)).resource_fingerprints
    cluster.topics["a.b.v1"].replicas[0] = [2]
    assert plan_for(cluster, want(rf=3)).resource_fingerprints != before


def test_planning_without_permission_to_list_reassignments() -> None:
    """A read-only principal (no DESCRIBE on the cluster) still plans; where it matters,
    the plan says what it could not check."""
    cluster = single_replica_topic()
    cluster.denied_operations.add("list_reassignments")
    plan = plan_for(cluster, want(rf=2))
    assert [c.address for c in plan.changes] == ["topic.a.b.v1"]
    assert "could not check for a partition reassignment in progress" in plan.warnings[0].message
    assert plan_for(cluster, want(rf=1)).warnings == []


def test_refused_reassignment_request_leaves_nothing_behind() -> None:
    cluster = single_replica_topic()
    cluster.denied_operations.add("alter_reassignments")
    lines = apply(cluster, plan_for(cluster, want(rf=2)))
    assert lines[0].startswith("topic.a.b.v1 failed replicas: partition 0: permission denied")
    assert cluster.topics["a.b.v1"].overrides == {}
    assert all(not c for c in cluster.broker_configs.values())


def test_no_op_plan_does_not_list_reassignments() -> None:
    """Nothing out of sync and no replica to change: no reassignment can be in progress,
    and the plan does not open the second client that listing them needs."""
    cluster = single_replica_topic()
    plan = plan_for(cluster, want(rf=1))
    assert plan.changes == []
    assert plan.warnings == []
    assert "list_reassignments" not in cluster.calls


def test_a_reassignment_elsewhere_is_still_found() -> None:
    """A partition of an unmanaged topic out of sync (being reassigned): the plan lists the
    reassignments and leaves the broker throttle rates alone."""
    cluster = single_replica_topic()
    cluster.topics["other"] = FakeTopic(1, 1, replicas=[[1]], leaders=[1])
    cluster.broker_configs[1] = dict.fromkeys(BROKER_THROTTLE_CONFIGS, "1000")
    cluster.stuck = True
    cluster.alter_reassignments({("other", 0): [2]})
    cluster.calls.clear()
    plan = plan_for(cluster, want(rf=1))
    assert "list_reassignments" in cluster.calls
    assert plan.changes == []


def test_leftover_topic_throttles_make_the_plan_list_reassignments() -> None:
    cluster = single_replica_topic()
    cluster.topics["a.b.v1"].overrides[TOPIC_THROTTLE_CONFIGS[0]] = "0:1"
    plan_for(cluster, want(rf=1))
    assert "list_reassignments" in cluster.calls
