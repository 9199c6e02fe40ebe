"""The blast radius: who a change affects, topics in use, exact data loss (against the double)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kafkaplan.commands import decide
from kafkaplan.errors import PermissionDenied
from kafkaplan.live.cluster import GroupMember
from kafkaplan.live.read import read_live
from kafkaplan.plan.model import Plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.spec.acls import Binding, DesiredAcls, Operation, PatternType, Permission, Scope
from kafkaplan.spec.acls import ResourceType as Rt
from kafkaplan.spec.desired import DesiredState, DesiredTopic, Source
from tests.fakes import RECORD_BYTES, FakeGroup, FakeLog, FakeTopic, Fault, MemoryCluster

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
HOUR, DAY = 3_600_000, 86_400_000
WEEK = 7 * DAY


def binding(principal: str, operation: Operation, name: str, pattern: PatternType) -> Binding:
    return Binding(principal, Rt.TOPIC, pattern, name, operation, Permission.ALLOW)


PRODUCE = binding("User:orders-svc", Operation.WRITE, "orders.created.v1", PatternType.LITERAL)
CONSUME = binding("User:billing", Operation.READ, "orders.", PatternType.PREFIXED)
LEGACY = binding("User:legacy", Operation.READ, "orders.created.v1", PatternType.LITERAL)
OTHER = binding("User:other", Operation.READ, "payments.", PatternType.PREFIXED)


def estate() -> tuple[MemoryCluster, DesiredState]:
    cluster = MemoryCluster(
        brokers=1,
        topics={
            "orders.created.v1": FakeTopic(2, 1, {"retention.ms": str(WEEK)}),
            "orders.retired.v1": FakeTopic(1, 1),
            "orders.quiet.v1": FakeTopic(1, 1),
        },
        acls={LEGACY, OTHER},
        logs={
            # 5 records 3 days old, then 3 an hour old.
            ("orders.created.v1", 0): FakeLog(0, [NOW_MS - 3 * DAY] * 5 + [NOW_MS - HOUR] * 3),
            # Log starts at 10: 2 records 2 days old, 1 ten minutes old.
            ("orders.created.v1", 1): FakeLog(10, [NOW_MS - 2 * DAY] * 2 + [NOW_MS - 600_000]),
            # 2 records 30 days old, then 2 a day old.
            ("orders.retired.v1", 0): FakeLog(0, [NOW_MS - 30 * DAY] * 2 + [NOW_MS - DAY] * 2),
        },
        groups={
            "billing-app": FakeGroup(
                "STABLE",
                [
                    GroupMember(
                        "m-1",
                        "billing-1",
                        "/10.0.0.5",
                        (("orders.created.v1", 0), ("orders.created.v1", 1)),
                    )
                ],
                {("orders.created.v1", 0): 2, ("orders.created.v1", 1): 11},
            ),
            # Read a record written within the window: in use, though it has no members.
            "old-reader": FakeGroup("EMPTY", [], {("orders.retired.v1", 0): 3}),
            # Stopped before the records of the last week: not in use.
            "stale-reader": FakeGroup("EMPTY", [], {("orders.retired.v1", 0): 2}),
            "unrelated": FakeGroup("EMPTY", [], {("payments.v1", 0): 1}),
        },
    )
    desired = DesiredState(
        topics={
            "orders.created.v1": DesiredTopic(
                "orders.created.v1",
                2,
                1,
                {"retention.ms": str(DAY)},
                Source("specs/orders.yaml", 2),
                owner="team-orders",
            ),
            "orders.quiet.v1": DesiredTopic("orders.quiet.v1", 1, 1, {}, Source("specs/o.yaml", 9)),
        },
        owned_topic_prefixes=("orders.",),
        acls=DesiredAcls(
            bindings={PRODUCE: "specs/acls.yaml:3", CONSUME: "specs/acls.yaml:9"},
            roles={PRODUCE: "producer", CONSUME: "consumer"},
        ),
    )
    return cluster, desired


def plan_of(
    cluster: MemoryCluster, desired: DesiredState, *, allow_in_use_deletes: bool = False
) -> Plan:
    live = read_live(cluster, desired)
    return decide(
        desired,
        live,
        cluster,
        None,
        PlanOptions(allow_deletes=True, allow_in_use_deletes=allow_in_use_deletes),
        window_ms=WEEK,
        now=NOW,
    )


def test_blast_radius_of_a_retention_cut() -> None:
    cluster, desired = estate()
    plan = plan_of(cluster, desired, allow_in_use_deletes=True)
    change = next(c for c in plan.changes if c.name == "orders.created.v1")
    affected = change.affected
    assert affected is not None
    assert affected.owner == "team-orders"
    assert [(p.principal, p.role, p.declared, p.source) for p in affected.producers] == [
        ("User:orders-svc", "producer", True, "specs/acls.yaml:3")
    ]
    assert [(p.principal, p.role, p.declared) for p in affected.consumers] == [
        ("User:billing", "consumer", True),  # a prefixed binding
        ("User:legacy", None, False),  # only live on the cluster
    ]
    [group] = affected.groups
    assert group.group == "billing-app"
    assert group.members == ["billing-1@10.0.0.5"]
    assert group.active
    # Lag: (8 - 2) + (13 - 11).
    assert group.lag == 8
    # Older than 1 day: 5 records in partition 0, 2 in partition 1 (from its log start 10).
    assert affected.messages_lost == 7
    # Of those, billing-app has not read 3 (offsets 2-4) and 1 (offset 11).
    assert group.unread_lost == 4
    [risk] = [r for r in change.risks if "retention.ms" in r.message]
    assert "7 message(s) older than 1d are deleted" in risk.message


def test_deleting_a_topic_in_use_is_an_error_naming_the_groups() -> None:
    cluster, desired = estate()
    plan = plan_of(cluster, desired)
    [error] = [e for e in plan.errors if e.address == "topic.orders.retired.v1"]
    assert "still in use by consumer group(s) old-reader (no live members" in error.message
    assert "lag 1" in error.message
    assert "stale-reader" not in error.message
    assert error.hint is not None
    assert "--allow-in-use-deletes" in error.hint
    assert not plan.in_use_override
    change = next(c for c in plan.changes if c.name == "orders.retired.v1")
    assert change.affected is not None
    assert {g.group: g.active for g in change.affected.groups} == {
        "old-reader": True,
        "stale-reader": False,
    }


def test_the_override_is_recorded_and_shown() -> None:
    cluster, desired = estate()
    plan = plan_of(cluster, desired, allow_in_use_deletes=True)
    assert not plan.errors
    assert plan.in_use_override
    [warning] = [w for w in plan.warnings if w.address == "topic.orders.retired.v1"]
    assert "deleted anyway: --allow-in-use-deletes" in warning.message
    from kafkaplan.render import render

    assert "`--allow-in-use-deletes`" in render(plan, "markdown")
    assert "--allow-in-use-deletes" in render(plan, "text").splitlines()[1]


def test_groups_are_read_only_when_topics_change() -> None:
    cluster, desired = estate()
    desired = DesiredState(topics={}, owned_topic_prefixes=())
    plan_of(cluster, desired)
    assert not any("group" in call for call in cluster.calls)
    cluster, desired = estate()
    plan_of(cluster, desired, allow_in_use_deletes=True)
    group_calls = [c for c in cluster.calls if "group" in c]
    # One listing, then every group's offsets and descriptions in one call each.
    assert group_calls == [
        "list_consumer_groups",
        "list_group_offsets:4",
        "describe_consumer_groups:4",
    ]


def test_groups_the_principal_may_not_read_make_a_warning_not_a_failure() -> None:
    cluster, desired = estate()
    cluster.faults.append(
        Fault("list_consumer_groups", PermissionDenied("not authorized", hint="grant DESCRIBE"))
    )
    plan = plan_of(cluster, desired)
    assert not [e for e in plan.errors if "in use" in e.message]
    [warning] = [w for w in plan.warnings if w.address == "topic.orders.retired.v1"]
    assert "could not check whether consumer groups still read this topic" in warning.message
    change = next(c for c in plan.changes if c.name == "orders.created.v1")
    assert change.affected is not None
    assert not change.affected.groups_read


@pytest.mark.parametrize("policy", ["compact", "compact,delete"])
def test_compaction_says_plainly_what_cannot_be_known(policy: str) -> None:
    cluster, desired = estate()
    topic = desired.topics["orders.quiet.v1"]
    desired = DesiredState(
        topics={
            **desired.topics,
            "orders.quiet.v1": DesiredTopic(
                topic.name, 1, 1, {"cleanup.policy": policy}, topic.source
            ),
        },
        owned_topic_prefixes=desired.owned_topic_prefixes,
        acls=desired.acls,
    )
    plan = plan_of(cluster, desired, allow_in_use_deletes=True)
    change = next(c for c in plan.changes if c.name == "orders.quiet.v1")
    assert change.affected is not None
    assert change.affected.messages_lost is None
    assert any("cannot be known before it runs" in note for note in change.affected.notes)


# -- access in use: the last binding that lets a principal read or write --------------------

READER_GROUP = Binding(
    "User:legacy", Rt.GROUP, PatternType.PREFIXED, "legacy-", Operation.READ, Permission.ALLOW
)


def access_estate(*, keep: frozenset[Binding] = frozenset()) -> tuple[MemoryCluster, DesiredState]:
    """The estate, with ``User:legacy``'s and ``User:orders-svc``'s bindings live and owned by
    the project: the specs declare only ``keep``, so the others are deleted."""
    cluster, desired = estate()
    cluster.acls |= {PRODUCE, READER_GROUP}
    cluster.groups["legacy-app"] = FakeGroup(
        "STABLE",
        [GroupMember("m-9", "legacy-1", "/10.0.0.9", (("orders.created.v1", 0),))],
        {("orders.created.v1", 0): 7},
    )
    # A group User:legacy may not read: not one of its consumers.
    cluster.groups["someone-else"] = FakeGroup("EMPTY", [], {("orders.created.v1", 0): 8})
    desired = DesiredState(
        topics=desired.topics,
        owned_topic_prefixes=desired.owned_topic_prefixes,
        acls=DesiredAcls(
            bindings={CONSUME: "specs/acls.yaml:9", **dict.fromkeys(keep, "specs/acls.yaml:20")},
            roles={CONSUME: "consumer"},
            scopes=(Scope("orders", frozenset({"User:legacy", "User:orders-svc"})),),
        ),
    )
    return cluster, desired


def test_removing_the_last_read_of_a_topic_a_live_group_reads_is_an_error() -> None:
    cluster, desired = access_estate()
    plan = plan_of(cluster, desired)
    legacy = next(c for c in plan.changes if c.name == LEGACY.key)
    [use] = [u for u in legacy.in_use if u.operation == "READ"]
    assert use.principal == "User:legacy"
    assert use.resource == "topic orders.created.v1"
    # Only the group its group binding lets it read; someone-else is not its group.
    assert [g.group for g in use.groups] == ["legacy-app"]
    assert any(
        r.label.value == "access-loss" and "legacy-app (members legacy-1@10.0.0.9" in r.message
        for r in legacy.risks
    )
    [error] = [e for e in plan.errors if e.address == legacy.address]
    assert "User:legacy loses READ on topic orders.created.v1" in error.message
    assert error.hint is not None
    assert "--allow-in-use-deletes" in error.hint


def test_removing_the_last_write_of_a_topic_written_recently_is_an_error() -> None:
    cluster, desired = access_estate()
    plan = plan_of(cluster, desired)
    produce = next(c for c in plan.changes if c.name == PRODUCE.key)
    [use] = produce.in_use
    # Written within the week: 8 records in partition 0, 3 in partition 1.
    assert (use.operation, use.written) == ("WRITE", 11)
    [error] = [e for e in plan.errors if e.address == produce.address]
    assert "written 11 message(s) in the last 7d" in error.message
    assert "Kafka does not say by which principal" in error.message


def test_removing_the_read_of_a_group_with_live_members_is_an_error() -> None:
    cluster, desired = access_estate()
    plan = plan_of(cluster, desired)
    group = next(c for c in plan.changes if c.name == READER_GROUP.key)
    [use] = group.in_use
    assert use.resource == "group legacy-app"
    assert [e for e in plan.errors if e.address == group.address]


def test_access_kept_by_another_binding_is_no_risk() -> None:
    # The principal keeps READ (and the group) through another binding the specs declare.
    wider = binding("User:legacy", Operation.ALL, "orders.", PatternType.PREFIXED)
    cluster, desired = access_estate(keep=frozenset({wider, READER_GROUP, PRODUCE}))
    plan = plan_of(cluster, desired)
    legacy = next(c for c in plan.changes if c.name == LEGACY.key)
    assert legacy.in_use == []
    assert not [e for e in plan.errors if e.address == legacy.address]


def test_the_override_lets_access_in_use_go_with_a_warning() -> None:
    cluster, desired = access_estate()
    plan = plan_of(cluster, desired, allow_in_use_deletes=True)
    assert not plan.errors
    legacy = next(c for c in plan.changes if c.name == LEGACY.key)
    assert legacy.in_use
    [warning] = [w for w in plan.warnings if w.address == legacy.address]
    assert "deleted anyway: --allow-in-use-deletes" in warning.message
    from kafkaplan.render import render

    assert "User:legacy loses READ on topic orders.created.v1" in render(plan, "text")
    assert "User:legacy loses READ on topic orders.created.v1" in render(plan, "markdown")
    assert '"in_use": [' in render(plan, "json")


def test_access_deletions_read_the_usage_in_one_pass() -> None:
    cluster, desired = access_estate()
    # No topic changes: only the ACL deletions ask for the groups and offsets.
    desired = DesiredState(
        topics={
            name: DesiredTopic(t.name, t.partitions, t.replication_factor, {}, t.source)
            for name, t in desired.topics.items()
        },
        owned_topic_prefixes=(),
        acls=desired.acls,
    )
    cluster.topics["orders.created.v1"].overrides.clear()
    plan_of(cluster, desired)
    assert [c for c in cluster.calls if "group" in c] == [
        "list_consumer_groups",
        "list_group_offsets:6",
        "describe_consumer_groups:6",
    ]
    offsets = [c for c in cluster.calls if c.startswith("list_offsets")]
    assert len(offsets) == len(set(offsets)) == 2  # log ends, and offsets at the window


# -- bytes lost --------------------------------------------------------------------------------


def test_a_deletion_loses_the_topics_size_and_a_cut_at_most_its_partitions() -> None:
    cluster, desired = estate()
    plan = plan_of(cluster, desired, allow_in_use_deletes=True)
    retired = next(c for c in plan.changes if c.name == "orders.retired.v1")
    assert retired.affected is not None
    # Deleted: every byte of its one partition, 4 records.
    assert retired.affected.bytes_lost == 4 * RECORD_BYTES
    assert not retired.affected.bytes_upper_bound
    cut = next(c for c in plan.changes if c.name == "orders.created.v1")
    assert cut.affected is not None
    # Both partitions lose records: at most their whole size (8 + 3 records).
    assert cut.affected.bytes_lost == 11 * RECORD_BYTES
    assert cut.affected.bytes_upper_bound
    from kafkaplan.render import render

    text = render(plan, "text")
    assert "bytes      up to 1,100 bytes (1.1 KiB): the partitions that lose records" in text
    assert "bytes      400 bytes" in text
    assert [c for c in cluster.calls if c.startswith("describe_log_dirs")] == [
        "describe_log_dirs:3"
    ]


def test_a_cut_that_drops_nothing_of_a_partition_counts_none_of_its_bytes() -> None:
    cluster, desired = estate()
    # Partition 1 keeps everything: its records are all younger than a day.
    cluster.logs[("orders.created.v1", 1)] = FakeLog(10, [NOW_MS - 600_000] * 3)
    plan = plan_of(cluster, desired, allow_in_use_deletes=True)
    cut = next(c for c in plan.changes if c.name == "orders.created.v1")
    assert cut.affected is not None
    assert cut.affected.bytes_lost == 8 * RECORD_BYTES


def test_sizes_the_principal_may_not_read_are_said_not_guessed() -> None:
    cluster, desired = estate()
    cluster.faults.append(
        Fault("describe_log_dirs", PermissionDenied("not authorized", hint="grant DESCRIBE"))
    )
    plan = plan_of(cluster, desired, allow_in_use_deletes=True)
    cut = next(c for c in plan.changes if c.name == "orders.created.v1")
    assert cut.affected is not None
    assert cut.affected.bytes_lost is None
    assert any(
        n.startswith("bytes on disk not checked: not authorized") for n in cut.affected.notes
    )


def test_group_entries_built_without_validation_equal_validated_ones() -> None:
    from kafkaplan.plan.blast import _built
    from kafkaplan.plan.model import GroupUsage

    values: dict[str, object] = {
        "group": "g",
        "state": "STABLE",
        "members": ["c@h"],
        "lag": 3,
        "active": True,
        "unread_lost": None,
    }
    built = _built(GroupUsage, **values)
    validated = GroupUsage.model_validate(values)
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_copy(update={"lag": 4}).lag == 4
