"""Drift classification and import round trips, against the in-memory cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaplan.errors import PermissionDenied
from kafkaplan.importer.build import build_import, read_for_import
from kafkaplan.live.read import read_live
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.drift import DriftKind, compute_drift
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
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from tests.conftest import MakeProject
from tests.fakes import FakeTopic, MemoryCluster

NAMING = r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9_-]*\.v[0-9]+$"


def topic(name: str, partitions: int = 3, **configs: str | None) -> DesiredTopic:
    return DesiredTopic(
        name,
        partitions,
        1,
        {k.replace("_", "."): v for k, v in configs.items()},
        Source("s.yaml", 1),
    )


def test_drift_classes() -> None:
    cluster = MemoryCluster(
        topics={
            "orders.created.v1": FakeTopic(6, 1, {"retention.ms": "3600000"}),
            "orders.grown.v1": FakeTopic(9, 1),
            "orders.byhand.v1": FakeTopic(1, 1),
            "scratch-topic": FakeTopic(1, 1),
            "__consumer_offsets": FakeTopic(1, 1),
        }
    )
    desired = DesiredState(
        topics={
            t.name: t
            for t in [
                topic("orders.created.v1", 6, retention_ms="604800000"),
                topic("orders.grown.v1", 3),
                topic("orders.missing.v1"),
            ]
        }
    )
    report = compute_drift(desired, read_live(cluster, desired, tolerant=True), NAMING)
    found = [(item.kind, item.address) for item in report.items]
    assert found == [
        (DriftKind.CHANGED, "topic.orders.created.v1"),
        (DriftKind.CHANGED, "topic.orders.grown.v1"),
        (DriftKind.MISSING, "topic.orders.missing.v1"),
        (DriftKind.UNMANAGED, "topic.orders.byhand.v1"),
    ], "scratch-topic matches no taxonomy and no owned scope; internal topics never count"
    changed = report.items[0]
    assert [(f.path, f.before, f.after) for f in changed.fields] == [
        ("configs.retention.ms", "3600000", "604800000")
    ]
    grown = report.items[1]
    assert grown.message == "partitions 3 -> 9 (live has more than declared)"
    assert [(f.path, f.before, f.after) for f in grown.fields] == [("partitions", 9, 3)]
    assert report.counts() == {"changed": 2, "missing": 1, "unmanaged": 1}
    assert report.failing({DriftKind.UNMANAGED}) == [report.items[3]]


def test_drift_reports_each_resource_once_with_every_difference() -> None:
    cluster = MemoryCluster(topics={"orders.grown.v1": FakeTopic(9, 1, {"retention.ms": "1"})})
    desired = DesiredState(
        topics={"orders.grown.v1": topic("orders.grown.v1", 6, retention_ms="604800000")}
    )
    report = compute_drift(desired, read_live(cluster, desired, tolerant=True), NAMING)
    [item] = report.items
    assert item.kind is DriftKind.CHANGED
    assert [(f.path, f.before, f.after) for f in item.fields] == [
        ("configs.retention.ms", "1", "604800000"),
        ("partitions", 9, 6),
    ]
    assert item.message == (
        "differs from its spec: configs.retention.ms; "
        "partitions 6 -> 9 (live has more than declared)"
    )
    assert report.counts() == {"changed": 1, "missing": 0, "unmanaged": 0}


def test_drift_text_states_totals_first_and_groups_long_lists() -> None:
    from kafkaplan.render.drift import TEXT_LIMIT, render_drift

    cluster = MemoryCluster(
        topics={f"orders.byhand{i:04}.v1": FakeTopic(1, 1) for i in range(1800)}
        | {"orders.created.v1": FakeTopic(1, 1, {"retention.ms": "1"})}
    )
    desired = DesiredState(
        topics={"orders.created.v1": topic("orders.created.v1", 1, retention_ms="604800000")}
    )
    report = compute_drift(desired, read_live(cluster, desired, tolerant=True), NAMING)
    assert report.counts() == {"changed": 1, "missing": 0, "unmanaged": 1800}
    text = render_drift(report, "text")
    lines = text.splitlines()
    assert lines[1] == "Drift: 1 changed, 0 missing, 1800 unmanaged."
    assert sum(line.startswith("  ? ") for line in lines) == TEXT_LIMIT
    assert (
        f"  ... and {1800 - TEXT_LIMIT} more (the JSON report, --format json, lists every one)"
        in lines
    )
    assert len(lines) < 60
    assert len(render_drift(report, "json")) > 1800 * 40, "the JSON keeps every item"


def test_drift_says_how_much_was_not_checked() -> None:
    from kafkaplan.render.drift import render_drift

    cluster = MemoryCluster(
        topics={"orders.secret.v1": FakeTopic(1, 1)}, hidden_topics={"orders.secret.v1"}
    )
    desired = DesiredState(topics={"orders.secret.v1": topic("orders.secret.v1", 1)})
    report = compute_drift(desired, read_live(cluster, desired, tolerant=True), NAMING)
    assert report.items == []
    assert not report.complete
    assert render_drift(report, "text").splitlines()[1] == (
        "No drift in what could be checked, but 1 not checked: the report is incomplete."
    )
    assert "**No drift in what could be checked, but 1 not checked" in render_drift(
        report, "markdown"
    )


def test_drift_reports_bindings_of_its_scope_not_other_teams() -> None:
    def read(principal: str, topic: str) -> Binding:
        return Binding(
            principal,
            ResourceType.TOPIC,
            PatternType.LITERAL,
            topic,
            Operation.READ,
            Permission.ALLOW,
        )

    declared, stray, foreign = (
        read("User:app", "orders.created.v1"),
        read("User:app", "orders.byhand.v1"),
        read("User:other-team", "billing.v1"),
    )
    cluster = MemoryCluster(acls={stray, foreign})
    acls = DesiredAcls(
        bindings={declared: "a.yaml:3"},
        scopes=(Scope("it", principals=frozenset({"User:app"})),),
    )
    desired = DesiredState(topics={}, acls=acls)
    live = read_live(cluster, desired, tolerant=True)
    assert "acl." + foreign.key in compute_plan(desired, live).unmanaged  # the plan lists it
    report = compute_drift(desired, live, NAMING)
    assert [(item.kind, item.address) for item in report.items] == [
        (DriftKind.MISSING, "acl." + declared.key),
        (DriftKind.UNMANAGED, "acl." + stray.key),
    ]


def test_drift_reports_unreadable_topics_as_not_checked() -> None:
    cluster = MemoryCluster(
        topics={"orders.secret.v1": FakeTopic(3, 1)}, hidden_topics={"orders.secret.v1"}
    )
    desired = DesiredState(topics={"orders.secret.v1": topic("orders.secret.v1")})
    report = compute_drift(desired, read_live(cluster, desired, tolerant=True), NAMING)
    assert report.items == [], "a topic we may not see is not reported missing"
    assert [m.address for m in report.not_checked] == ["topic.orders.secret.v1"]
    assert "permission denied" in report.not_checked[0].message


def test_a_plan_never_proposes_to_create_a_topic_it_may_not_see() -> None:
    cluster = MemoryCluster(
        topics={"orders.secret.v1": FakeTopic(3, 1), "orders.other.v1": FakeTopic(3, 1)},
        hidden_topics={"orders.secret.v1", "orders.other.v1"},
    )
    desired = DesiredState(
        topics={n: topic(n) for n in ("orders.secret.v1", "orders.other.v1", "orders.new.v1")}
    )
    with pytest.raises(PermissionDenied) as raised:
        read_live(cluster, desired)
    message = str(raised.value)
    assert "cannot read 2 declared topic(s): orders.other.v1, orders.secret.v1" in message
    assert "cannot tell whether they exist" in message
    assert "DESCRIBE" in (raised.value.hint or "")


def test_import_is_stable_human_and_round_trips(make_project: MakeProject, tmp_path: Path) -> None:
    cluster = MemoryCluster(
        topics={
            "orders.created.v1": FakeTopic(
                6, 1, {"retention.ms": "604800000", "cleanup.policy": "delete"}
            ),
            "orders.snapshot.v1": FakeTopic(
                3, 1, {"cleanup.policy": "compact", "segment.bytes": "268435456"}
            ),
            "payments.settled.v1": FakeTopic(
                2, 1, {"max.message.bytes": "2097152", "leader.replication.throttled.replicas": "*"}
            ),
            "__consumer_offsets": FakeTopic(50, 1),
        }
    )
    ignore = DesiredState(topics={})
    result = build_import(read_for_import(cluster, ignore, ()), ignore)
    assert sorted(result.files) == ["orders.yaml", "payments.yaml"]
    orders = result.files["orders.yaml"]
    assert "retention.ms: 7d" in orders
    assert "segment.bytes: 256MiB" in orders
    assert "__consumer_offsets" not in "".join(result.files.values())
    assert result.skipped == [
        "topic.payments.settled.v1: config leader.replication.throttled.replicas (replication "
        "throttles are set during partition reassignments, not declared)"
    ]
    again = build_import(read_for_import(cluster, ignore, ()), ignore)
    assert again.files == result.files, "the same cluster always gives the same files"

    project_file = make_project(dict(result.files))
    _, _, desired = load_desired(load_project(project_file), None)
    plan = compute_plan(desired, read_live(cluster, desired))
    assert plan.errors == []
    # Only the leftover replication throttle (never imported) is planned: for removal.
    [change] = plan.changes
    assert change.address == "topic.payments.settled.v1"
    assert [(f.path, f.after) for f in change.fields] == [
        ("configs.leader.replication.throttled.replicas", None)
    ]


def test_import_by_prefix() -> None:
    cluster = MemoryCluster(
        topics={"orders.a.v1": FakeTopic(1, 1), "payments.b.v1": FakeTopic(1, 1)}
    )
    ignore = DesiredState(topics={})
    result = build_import(
        read_for_import(cluster, ignore, ("pay",)), ignore, prefixes=("pay",), resources=("topics",)
    )
    assert list(result.files) == ["payments.yaml"]
    assert result.counts == {"topics": 1}


def test_drift_reports_unreadable_acls_as_not_checked_and_still_checks_topics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kafkaplan.errors import PermissionDenied
    from kafkaplan.spec.acls import Binding, DesiredAcls, Operation, PatternType, Permission
    from kafkaplan.spec.acls import ResourceType as Kind

    cluster = MemoryCluster(topics={"orders.a.v1": FakeTopic(3, 1, {"retention.ms": "1"})})

    def denied() -> None:
        raise PermissionDenied(
            "permission denied (CLUSTER_AUTHORIZATION_FAILED)",
            hint="kafkaplan needs DESCRIBE on the cluster to read ACLs",
        )

    monkeypatch.setattr(cluster, "describe_acls", denied)
    binding = Binding(
        "User:app", Kind.TOPIC, PatternType.LITERAL, "orders.a.v1", Operation.READ, Permission.ALLOW
    )
    desired = DesiredState(
        topics={"orders.a.v1": topic("orders.a.v1", retention_ms="604800000")},
        acls=DesiredAcls(bindings={binding: "s.yaml:3"}),
    )
    report = compute_drift(desired, read_live(cluster, desired, tolerant=True), NAMING)
    assert [(i.kind, i.address) for i in report.items] == [
        (DriftKind.CHANGED, "topic.orders.a.v1")
    ], "the binding is not reported missing: it could not be read"
    assert [(m.address, m.message) for m in report.not_checked] == [
        (
            "acl",
            "not checked: permission denied (CLUSTER_AUTHORIZATION_FAILED) (kafkaplan needs "
            "DESCRIBE on the cluster to read ACLs)",
        )
    ]
