"""compute_plan: pure, declared-only, normalized, and convergent with apply."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kafkaplan.apply.runner import Status, Targets, apply_plan
from kafkaplan.live.read import read_live
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.model import Action, Plan, RiskLabel
from kafkaplan.plan.options import PlanOptions
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from tests.fakes import FakeTopic, MemoryCluster


def topic(name: str, partitions: int = 3, rf: int = 1, **configs: str | None) -> DesiredTopic:
    return DesiredTopic(
        name=name,
        partitions=partitions,
        replication_factor=rf,
        configs={k.replace("_", "."): v for k, v in configs.items()},
        source=Source("specs/t.yaml", 1),
    )


def desired(*topics: DesiredTopic) -> DesiredState:
    return DesiredState(topics={t.name: t for t in topics})


def plan_for(cluster: MemoryCluster, state: DesiredState) -> Plan:
    return compute_plan(state, read_live(cluster, state))


def test_new_topic_is_created() -> None:
    cluster = MemoryCluster()
    plan = plan_for(cluster, desired(topic("a.b.v1", retention_ms="86400000")))
    [change] = plan.changes
    assert change.action is Action.CREATE
    assert change.address == "topic.a.b.v1"
    assert change.after == {
        "partitions": 3,
        "replication_factor": 1,
        "configs": {"retention.ms": "86400000"},
    }
    assert plan.resource_fingerprints == {"topic.a.b.v1": "absent"}


def test_no_diff_for_matching_or_default_values() -> None:
    cluster = MemoryCluster(
        topics={
            "a.b.v1": FakeTopic(
                3, 1, {"retention.ms": "604800000", "cleanup.policy": "compact,delete"}
            ),
        }
    )
    state = desired(
        topic(
            "a.b.v1",
            retention_ms="604800000",
            cleanup_policy="compact,delete",
            # Not overridden, but the broker default already has this value.
            max_message_bytes="1048588",
            # Declared "no override" and there is none.
            segment_bytes=None,
        )
    )
    plan = plan_for(cluster, state)
    assert plan.changes == []
    assert plan.errors == []


def test_only_declared_configs_are_compared() -> None:
    cluster = MemoryCluster(topics={"a.b.v1": FakeTopic(3, 1, {"segment.ms": "3600000"})})
    assert plan_for(cluster, desired(topic("a.b.v1"))).changes == []


def test_config_update_and_override_removal() -> None:
    cluster = MemoryCluster(
        topics={"a.b.v1": FakeTopic(3, 1, {"retention.ms": "86400000", "segment.ms": "3600000"})}
    )
    plan = plan_for(cluster, desired(topic("a.b.v1", retention_ms="604800000", segment_ms=None)))
    [change] = plan.changes
    assert change.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("configs.retention.ms", "86400000", "604800000"),
        ("configs.segment.ms", "3600000", None),
    ]
    assert change.risks == []


def test_partition_increase_is_flagged_for_ordering() -> None:
    cluster = MemoryCluster(topics={"a.b.v1": FakeTopic(3, 1)})
    [change] = plan_for(cluster, desired(topic("a.b.v1", partitions=6))).changes
    assert [(f.path, f.before, f.after) for f in change.fields] == [("partitions", 3, 6)]
    assert [r.label for r in change.risks] == [RiskLabel.ORDERING]


def test_impossible_changes_are_errors_not_noops() -> None:
    cluster = MemoryCluster(
        brokers=2, topics={"a.b.v1": FakeTopic(6, 1), "a.c.v1": FakeTopic(3, 1)}
    )
    plan = plan_for(cluster, desired(topic("a.b.v1", partitions=3), topic("a.c.v1", rf=3)))
    assert plan.changes == []
    messages = sorted(str(e) for e in plan.errors)
    assert "partitions cannot decrease (6 -> 3)" in messages[0]
    assert "Kafka can only add partitions" in messages[0]
    assert (
        "replication factor 3 needs at least that many brokers; the cluster has 2" in (messages[1])
    )


def test_replication_beyond_brokers_is_an_error() -> None:
    plan = plan_for(MemoryCluster(brokers=1), desired(topic("a.b.v1", rf=3)))
    assert plan.changes == []
    assert "the cluster has 1" in plan.errors[0].message


def test_dot_underscore_collision_with_live_topic() -> None:
    cluster = MemoryCluster(topics={"a_b.v1": FakeTopic(3, 1)})
    plan = plan_for(cluster, desired(topic("a.b.v1")))
    assert "collides with existing topic 'a_b.v1'" in plan.errors[0].message


def test_unmanaged_and_internal_topics() -> None:
    cluster = MemoryCluster(
        topics={
            "__consumer_offsets": FakeTopic(50, 1),
            "_schemas": FakeTopic(1, 1),
            "app-store-changelog": FakeTopic(1, 1),
            "legacy.topic": FakeTopic(1, 1),
        }
    )
    plan = plan_for(cluster, desired())
    assert plan.unmanaged == ["topic.legacy.topic"]


def test_risky_config_changes() -> None:
    cluster = MemoryCluster(topics={"a.b.v1": FakeTopic(3, 1, {"retention.ms": "604800000"})})
    [change] = plan_for(
        cluster, desired(topic("a.b.v1", retention_ms="86400000", cleanup_policy="compact"))
    ).changes
    messages = [r.message for r in change.risks]
    assert [r.label for r in change.risks] == [RiskLabel.DATA_LOSS, RiskLabel.DATA_LOSS]
    assert "retention.ms shortened 7d -> 1d" in messages[1]
    assert "compaction keeps only the latest record per key" in messages[0]


def test_plan_is_deterministic() -> None:
    cluster = MemoryCluster(topics={"a.b.v1": FakeTopic(3, 1, {"retention.ms": "1000"})})
    state = desired(topic("a.b.v1", retention_ms="2000"), topic("c.d.v1"))
    assert plan_for(cluster, state) == plan_for(cluster, state)


# Property: whatever the specs and the cluster, applying the plan converges in one step.
CONFIG_VALUES = {
    "retention.ms": st.sampled_from(["3600000", "86400000", "604800000", "-1"]),
    "cleanup.policy": st.sampled_from(["delete", "compact", "compact,delete"]),
    "min.insync.replicas": st.sampled_from(["1"]),
    "segment.bytes": st.sampled_from(["1048576", "1073741824", None]),
    "compression.type": st.sampled_from(["zstd", "lz4", "producer"]),
}
names = st.sampled_from(["a.x.v1", "a.y.v1", "b.x.v1", "b.z.v2"])
configs = st.fixed_dictionaries({}, optional=CONFIG_VALUES)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[DesiredState, MemoryCluster]:
    wanted = draw(st.dictionaries(names, st.tuples(st.integers(1, 8), configs), max_size=4))
    existing = draw(st.dictionaries(names, st.tuples(st.integers(1, 8), configs), max_size=4))
    cluster = MemoryCluster(
        topics={
            n: FakeTopic(p, 1, {k: v for k, v in c.items() if v is not None})
            for n, (p, c) in existing.items()
        }
    )
    state = DesiredState(
        topics={
            n: DesiredTopic(n, p, 1, dict(c), Source("specs/t.yaml", 1))
            for n, (p, c) in wanted.items()
        }
    )
    return state, cluster


@settings(max_examples=200, deadline=None)
@given(scenario())
def test_apply_then_replan_is_empty(case: tuple[DesiredState, MemoryCluster]) -> None:
    state, cluster = case
    plan = plan_for(cluster, state)
    report = apply_plan(plan, Targets(cluster=cluster))
    assert all(o.status is Status.DONE for o in report.outcomes), report.outcomes
    again = plan_for(cluster, state)
    assert again.changes == []
    # Errors (partition decreases) are stable: the plan never pretends to fix them.
    assert again.errors == plan.errors


def owned(*topics: DesiredTopic, prefixes: tuple[str, ...] = ("a.",)) -> DesiredState:
    return DesiredState(topics={t.name: t for t in topics}, owned_topic_prefixes=prefixes)


def test_deletes_are_opt_in_and_scoped() -> None:
    cluster = MemoryCluster(
        topics={
            "a.old.v1": FakeTopic(4, 1, {"retention.ms": "1000"}),
            "b.other.v1": FakeTopic(1, 1),
        },
        messages={"a.old.v1": 1234},
    )
    state = owned(topic("a.b.v1"))
    kept = compute_plan(state, read_live(cluster, state))
    assert [c.action for c in kept.changes] == [Action.CREATE]
    assert [w.address for w in kept.warnings] == ["topic.a.old.v1"]
    assert "pass --allow-deletes" in str(kept.warnings[0])
    assert kept.unmanaged == ["topic.b.other.v1"]
    assert "topic_message_counts:1" in cluster.calls

    deleting = compute_plan(state, read_live(cluster, state), PlanOptions(allow_deletes=True))
    delete = deleting.changes[1]
    assert delete.action is Action.DELETE
    assert delete.address == "topic.a.old.v1"
    assert delete.before == {
        "partitions": 4,
        "replication_factor": 1,
        "configs": {"retention.ms": "1000"},
    }
    assert delete.risks[0].label is RiskLabel.DATA_LOSS
    assert "1,234 message(s) in 4 partition(s)" in delete.risks[0].message
    assert deleting.unmanaged == ["topic.b.other.v1"]

    report = apply_plan(deleting, Targets(cluster=cluster))
    assert all(o.status is Status.DONE for o in report.outcomes)
    assert set(cluster.topics) == {"a.b.v1", "b.other.v1"}
    assert cluster.calls[-1] == "delete_topics:1", "deletes run last"


def test_internal_topics_are_never_owned() -> None:
    cluster = MemoryCluster(topics={"__consumer_offsets": FakeTopic(1, 1)})
    state = owned(prefixes=("",))
    plan = compute_plan(state, read_live(cluster, state), PlanOptions(allow_deletes=True))
    assert plan.changes == []


def test_max_destroy_refuses_large_deletions() -> None:
    cluster = MemoryCluster(topics={f"a.t{i}.v1": FakeTopic(1, 1) for i in range(3)})
    state = owned()
    plan = compute_plan(
        state, read_live(cluster, state), PlanOptions(allow_deletes=True, max_destroy=2)
    )
    assert len(plan.changes) == 3
    assert "this plan deletes 3 resources, more than the limit of 2" in plan.errors[0].message
    ok = compute_plan(
        state, read_live(cluster, state), PlanOptions(allow_deletes=True, max_destroy=3)
    )
    assert ok.errors == []


def test_targets_restrict_the_plan() -> None:
    cluster = MemoryCluster(topics={"a.x.v1": FakeTopic(6, 1)})
    state = desired(topic("a.x.v1", partitions=3), topic("a.y.v1"), topic("b.z.v1"))
    plan = compute_plan(state, read_live(cluster, state), PlanOptions(targets=("topic.b.*",)))
    assert [c.address for c in plan.changes] == ["topic.b.z.v1"]
    assert plan.errors == [], "errors of untargeted resources are left out"
    assert list(plan.resource_fingerprints) == ["topic.b.z.v1"]
    assert plan.targets == ["topic.b.*"]
    [warning] = plan.warnings
    assert warning.message.startswith("targeting is in effect ('topic.b.*')")


def test_a_target_that_matches_nothing_says_so() -> None:
    cluster = MemoryCluster(topics={"a.x.v1": FakeTopic(3, 1)})
    state = desired(topic("a.x.v1"))
    plan = compute_plan(state, read_live(cluster, state), PlanOptions(targets=("topic.b.*",)))
    assert plan.changes == []
    assert [w.message for w in plan.warnings] == [
        "--target 'topic.b.*' matches no resource of the specs or the cluster"
    ]


def test_updates_are_dry_run_in_one_batch_each_and_refusals_fail_the_plan() -> None:
    from kafkaplan.commands import decide

    cluster = MemoryCluster(
        topics={"a.b.v1": FakeTopic(3, 1), "a.c.v1": FakeTopic(3, 1), "a.d.v1": FakeTopic(3, 1)}
    )
    state = desired(
        topic("a.b.v1", remote_storage_enable="true"),
        topic("a.c.v1", partitions=6, retention_ms="86400000"),
        topic("a.d.v1", partitions=6),
    )
    plan = decide(state, read_live(cluster, state), cluster, None)
    assert [str(error) for error in plan.errors] == [
        "specs/t.yaml:1: topic.a.b.v1: the broker would refuse this config update: Tiered Storage "
        "functionality is disabled in the broker. Topic cannot be configured with remote log "
        "storage."
    ]
    assert [c for c in cluster.calls if ":validate" in c] == [
        "alter_topic_configs:2:validate",
        "create_partitions:2:validate",
    ]
    # The dry runs changed nothing.
    assert cluster.topics["a.c.v1"].partitions == 3
    assert "retention.ms" not in cluster.topics["a.c.v1"].overrides


def test_an_update_the_principal_may_not_dry_run_is_a_warning() -> None:
    from kafkaplan.commands import decide
    from kafkaplan.errors import PermissionDenied
    from tests.fakes import Fault

    cluster = MemoryCluster(topics={"a.b.v1": FakeTopic(3, 1)})
    denied = PermissionDenied("denied", resource="topic.a.b.v1", code="TOPIC_AUTHORIZATION_FAILED")
    cluster.faults.append(Fault("alter_topic_configs", denied))
    state = desired(topic("a.b.v1", retention_ms="86400000"))
    plan = decide(state, read_live(cluster, state), cluster, None)
    assert plan.errors == []
    assert [w.message for w in plan.warnings] == [
        "could not dry-run the config update (no ALTER_CONFIGS permission for this "
        "principal); the broker validates it at apply"
    ]
    assert len(plan.changes) == 1


def test_plan_text_says_a_warning_about_many_topics_once() -> None:
    from kafkaplan.render.text import TEXT_LIMIT, render_text

    cluster = MemoryCluster(
        topics={f"a.byhand{i:04}.v1": FakeTopic(1, 1) for i in range(1800)}
        | {f"b.other{i:04}.v1": FakeTopic(1, 1) for i in range(1800)}
    )
    state = owned(topic("a.b.v1"))
    plan = compute_plan(state, read_live(cluster, state))
    assert len(plan.warnings) == 1800
    assert len(plan.unmanaged) == 1800
    lines = render_text(plan).splitlines()
    assert len(lines) < 100
    assert (
        "  ! 1800 resources: in the owned topic scope but in no spec: kept, because deletes "
        "are not enabled for this run (hint: declare it, or pass --allow-deletes to plan "
        "its deletion)"
    ) in lines
    assert "      topic.a.byhand0000.v1" in lines
    more = f"... and {1800 - TEXT_LIMIT} more (the JSON plan, --format json, lists every one)"
    assert lines.count(f"      {more}") == 1
    assert lines.count(f"  {more}") == 1
    assert sum(line.startswith("  ? ") for line in lines) == TEXT_LIMIT
