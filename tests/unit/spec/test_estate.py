"""Topic classes, dead-letter companions and deletion protection: from the specs to the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kafkaplan.errors import SpecError
from kafkaplan.live.read import read_live
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.model import Action, Plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.render.markdown import render_markdown
from kafkaplan.render.text import render_text
from kafkaplan.spec.acls import Binding, Operation, PatternType, Permission, ResourceType
from kafkaplan.spec.desired import DesiredState, Source
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from tests.conftest import PROJECT, MakeProject
from tests.fakes import FakeTopic, MemoryCluster

CLASSES = (
    PROJECT
    + """\
topic_classes:
  state:
    partitions: 6
    configs:
      cleanup.policy: compact
      min.compaction.lag.ms: 1h
    require_key_schema: true
  event:
    configs:
      retention.ms: 7d
    dead_letter: true
"""
)


def load(project: Path) -> DesiredState:
    return load_desired(load_project(project), None)[2]


def problems(project: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(project)
    return [str(d) for d in info.value.diagnostics]


def plan(state: DesiredState, cluster: MemoryCluster, **options: object) -> Plan:
    return compute_plan(state, read_live(cluster, state), PlanOptions(**options))  # type: ignore[arg-type]


# --- topic classes ---------------------------------------------------------------------------


def test_class_values_apply_and_the_topic_overrides_key_by_key(make_project: MakeProject) -> None:
    project = make_project(
        {
            "s.yaml": """\
            topics:
              - name: orders.snapshot.v1
                class: state
                configs:
                  min.compaction.lag.ms: 2h
                  segment.bytes: 256MiB
                key_schema: k.avsc
            """,
            "k.avsc": '"string"',
        },
        CLASSES,
    )
    topic = load(project).topics["orders.snapshot.v1"]
    assert topic.partitions == 6
    assert topic.topic_class == "state"
    assert topic.configs == {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "7200000",
        "segment.bytes": "268435456",
    }
    assert topic.origins == {
        "configs.cleanup.policy": "class state",
        "configs.min.compaction.lag.ms": "topic",
        "configs.segment.bytes": "topic",
        "partitions": "class state",
        "replication_factor": "environment defaults",
    }
    # A class config's source is its line in the project file (for policy errors).
    assert topic.config_sources["cleanup.policy"] == Source("kafkaplan.yaml", 18)


def test_plan_shows_where_each_value_came_from(make_project: MakeProject) -> None:
    project = make_project(
        {
            "s.yaml": """\
            topics:
              - name: orders.snapshot.v1
                class: state
                key_schema: k.avsc
            """,
            "k.avsc": '"string"',
        },
        CLASSES,
    )
    state = load(project)
    result = plan(DesiredState(topics=state.topics), MemoryCluster())
    [change] = result.changes
    assert change.origins["configs.cleanup.policy"] == "class state"
    assert json.loads(result.model_dump_json())["changes"][0]["origins"]["partitions"] == (
        "class state"
    )
    assert "compact   (class state)" in render_text(result)
    assert "| `configs.cleanup.policy` | compact | class state |" in render_markdown(result)
    # An update names the origin of the changed value too.
    cluster = MemoryCluster(
        topics={"orders.snapshot.v1": FakeTopic(6, 1, {"cleanup.policy": "delete"})}
    )
    updated = plan(DesiredState(topics=state.topics), cluster)
    assert "compact   (class state)" in render_text(updated)


def test_class_schema_requirement_and_unknown_class(make_project: MakeProject) -> None:
    project = make_project(
        {
            "s.yaml": """\
            topics:
              - name: orders.snapshot.v1
                class: state
              - name: orders.other.v1
                class: stat
            """
        },
        CLASSES,
    )
    found = problems(project)
    assert any(
        p.startswith(
            "specs/s.yaml:2: topic 'orders.snapshot.v1' is of class 'state', which "
            "requires a key schema"
        )
        for p in found
    ), found
    assert any(
        p.startswith("specs/s.yaml:5: unknown topic class 'stat'") and "event, state" in p
        for p in found
    ), found


def test_class_configs_are_checked_at_their_line(make_project: MakeProject) -> None:
    project = make_project(
        {},
        PROJECT + "topic_classes:\n  raw:\n    configs:\n      retention.mss: 3d\n",
    )
    assert problems(project)[0].startswith(
        "kafkaplan.yaml:17: topic class 'raw': unknown topic config 'retention.mss'"
    )


def test_class_shape_is_strict(make_project: MakeProject) -> None:
    project = make_project({}, PROJECT + "topic_classes:\n  raw:\n    partition: 3\n")
    with pytest.raises(SpecError) as info:
        load_project(project)
    assert "kafkaplan.yaml:16: unknown key 'partition'" in str(info.value.diagnostics[0])


# --- dead-letter topics ----------------------------------------------------------------------

DLQ_SPECS = {
    "t.yaml": """\
    topics:
      - name: orders.created.v1
        partitions: 6
        configs:
          min.insync.replicas: 1
        dead_letter:
          retention: 3d
          readers:
            - principal: User:ops
              group: ops-dlq
      - name: payments.settled.v1
        class: event
    acls:
      - principal: User:billing
        role: consumer
        topics: [orders.created.v1]
        group: billing
      - principal: User:recon
        role: consumer
        topic_prefixes: [payments.]
        group: recon
      - principal: User:writer
        role: producer
        topics: [orders.created.v1]
    """
}


def allow(principal: str, name: str, operation: Operation, kind: ResourceType) -> Binding:
    return Binding(principal, kind, PatternType.LITERAL, name, operation, Permission.ALLOW)


def test_dead_letter_companion_and_its_acls(make_project: MakeProject) -> None:
    state = load(make_project(DLQ_SPECS, CLASSES))
    dlq = state.topics["orders.created.v1.dlq"]
    assert dlq.dead_letter_of == "orders.created.v1"
    assert (dlq.partitions, dlq.replication_factor) == (6, 1)
    assert dlq.configs == {
        "cleanup.policy": "delete",
        "min.insync.replicas": "1",
        "retention.ms": str(3 * 86_400_000),
    }
    assert dlq.origins["configs.retention.ms"] == "topic"
    assert dlq.source.line == 6
    # From the class: the policy's defaults (14 days, the topic's partitions).
    class_dlq = state.topics["payments.settled.v1.dlq"]
    assert class_dlq.configs["retention.ms"] == str(14 * 86_400_000)
    assert class_dlq.origins["configs.retention.ms"] == "policy.dead_letter"
    assert class_dlq.source.file == "kafkaplan.yaml"
    bindings = set(state.acls.bindings)
    topic = ResourceType.TOPIC
    for principal, name in (
        ("User:billing", "orders.created.v1.dlq"),
        ("User:recon", "payments.settled.v1.dlq"),
    ):
        assert allow(principal, name, Operation.WRITE, topic) in bindings
        assert allow(principal, name, Operation.DESCRIBE, topic) in bindings
    # Producers get nothing on the dead-letter topic; the reader gets a consumer role.
    assert not any(
        b.principal == "User:writer" and b.resource_name.endswith(".dlq") for b in bindings
    )
    assert allow("User:ops", "orders.created.v1.dlq", Operation.READ, topic) in bindings
    assert allow("User:ops", "ops-dlq", Operation.READ, ResourceType.GROUP) in bindings
    assert state.acls.bindings[
        allow("User:ops", "ops-dlq", Operation.READ, ResourceType.GROUP)
    ] == ("specs/t.yaml:9")


def test_dead_letter_names_are_exempt_from_the_pattern_and_the_suffix_is_policy(
    make_project: MakeProject,
) -> None:
    project = make_project(
        {"t.yaml": "topics:\n  - name: orders.created.v1\n    dead_letter: true\n"},
        PROJECT.replace(
            "  max_retention: 30d\n",
            "  max_retention: 30d\n  dead_letter:\n    suffix: -dead\n    partitions: 1\n",
        ),
    )
    state = load(project)
    assert set(state.topics) == {"orders.created.v1", "orders.created.v1-dead"}
    assert state.topics["orders.created.v1-dead"].partitions == 1


def test_declaring_the_companion_too_is_an_error(make_project: MakeProject) -> None:
    project = make_project(
        {
            "t.yaml": """\
            topics:
              - name: orders.created.v1
                dead_letter: true
              - name: orders.created.v1.dlq
            """
        },
        PROJECT.replace(
            "  max_retention: 30d\n", "  max_retention: 30d\n  naming:\n    pattern: '.*'\n"
        ),
    )
    found = problems(project)
    assert found[0].startswith(
        "specs/t.yaml:4: topic 'orders.created.v1.dlq' is the dead-letter topic of "
        "'orders.created.v1' and is declared as well"
    ), found


def test_dead_letter_false_turns_off_the_class(make_project: MakeProject) -> None:
    project = make_project(
        {"t.yaml": "topics:\n  - name: a.b.v1\n    class: event\n    dead_letter: false\n"},
        CLASSES,
    )
    assert set(load(project).topics) == {"a.b.v1"}


def test_companion_is_its_own_topic_resource_in_the_plan(make_project: MakeProject) -> None:
    state = load(make_project(DLQ_SPECS, CLASSES))
    result = plan(state, MemoryCluster())
    addresses = [c.address for c in result.changes]
    assert "topic.orders.created.v1.dlq" in addresses
    assert "acl.User:billing.topic.literal.orders.created.v1.dlq.WRITE.ALLOW.*" in addresses


# --- deletion protection ---------------------------------------------------------------------

PROTECTING = PROJECT + "owned_topic_prefixes: [orders.]\nprotect: ['topic.orders.keep.*']\n"


def test_protected_deletes_fail_whatever_the_options(make_project: MakeProject) -> None:
    state = load(make_project({"t.yaml": "topics: []\n"}, PROTECTING))
    cluster = MemoryCluster(
        topics={"orders.keep.v1": FakeTopic(3, 1, {}), "orders.gone.v1": FakeTopic(3, 1, {})}
    )
    result = plan(state, cluster, allow_deletes=True, max_destroy=100)
    deletes = {c.address: c for c in result.changes if c.action is Action.DELETE}
    assert set(deletes) == {"topic.orders.keep.v1", "topic.orders.gone.v1"}
    assert deletes["topic.orders.keep.v1"].protected == "project pattern 'topic.orders.keep.*'"
    assert deletes["topic.orders.gone.v1"].protected is None
    [error] = result.errors
    assert error.address == "topic.orders.keep.v1"
    assert "protected from deletion (project pattern 'topic.orders.keep.*')" in error.message
    text = render_text(result)
    assert "[protected: project pattern 'topic.orders.keep.*']" in text
    assert "🔒 protected" in render_markdown(result)
    # Without the protection the same plan is fine.
    unprotected = load(make_project({"t.yaml": "topics: []\n"}, PROTECTING.replace("keep", "none")))
    assert plan(unprotected, cluster, allow_deletes=True, max_destroy=100).errors == []


def test_markers_flag_declared_resources(make_project: MakeProject) -> None:
    project = make_project(
        {
            "t.yaml": """\
            topics:
              - name: orders.created.v1
                protected: true
                dead_letter: true
            acls:
              - principal: User:billing
                protected: true
                role: consumer
                topics: [orders.created.v1]
                group: billing
            """
        },
        PROJECT,
    )
    state = load(project)
    assert state.protection("topic.orders.created.v1") == "`protected: true` at specs/t.yaml:2"
    assert state.protection("topic.orders.created.v1.dlq") is not None
    assert state.protection("subject.orders.created.v1-value") is not None
    assert state.protection("acl.User:billing.group.literal.billing.READ.ALLOW.*") == (
        "`protected: true` at specs/t.yaml:6"
    )
    # The bindings the dead-letter topic adds are not the entry's own.
    assert (
        state.protection("acl.User:billing.topic.literal.orders.created.v1.dlq.WRITE.ALLOW.*")
        is None
    )
    result = plan(state, MemoryCluster())
    flagged = {c.address for c in result.changes if c.protected}
    assert "topic.orders.created.v1" in flagged
    assert "acl.User:billing.group.literal.billing.READ.ALLOW.*" in flagged
    assert not result.errors


# --- import ----------------------------------------------------------------------------------

ROUND_TRIP = {
    "t.yaml": """\
    topics:
      - name: orders.created.v1
        class: event
        partitions: 6
      - name: orders.snapshot.v1
        class: state
        configs:
          segment.bytes: 256MiB
        key_schema: k.avsc
      - name: orders.audit.v1
        configs:
          retention.ms: 1d
        dead_letter:
          partitions: 1
          retention: 2d
    acls:
      - principal: User:billing
        role: consumer
        topics: [orders.created.v1, orders.audit.v1]
        group: billing
    """,
    "k.avsc": '"string"',
}


def test_import_recognises_classes_and_dead_letter_topics(
    make_project: MakeProject, tmp_path: Path
) -> None:
    from kafkaplan.apply.runner import Status, Targets, apply_plan
    from kafkaplan.importer.build import build_import, read_for_import
    from kafkaplan.spec.load import import_settings

    project = load_project(make_project(ROUND_TRIP, CLASSES))
    state = load_desired(project, None)[2]
    state = DesiredState(topics=state.topics, acls=state.acls, topic_classes=state.topic_classes)
    cluster = MemoryCluster()
    report = apply_plan(plan(state, cluster), Targets(cluster=cluster))
    assert all(o.status is Status.DONE for o in report.outcomes), report.outcomes
    assert "orders.audit.v1.dlq" in cluster.topics

    # A dead-letter topic that leaves cleanup.policy at the broker's default (delete) is a
    # companion too: import reads that config of every topic, whatever its source.
    assert cluster.topics["orders.created.v1.dlq"].overrides.pop("cleanup.policy") == "delete"
    ignore = import_settings(project, project.environment(None)[1])
    result = build_import(read_for_import(cluster, ignore, (), acls=True), ignore)
    orders = result.files["orders.yaml"]
    assert "orders.created.v1.dlq" not in orders
    # The class's dead-letter topic is the class's: nothing to say on the topic.
    assert "  - name: orders.created.v1\n    class: event\n    partitions: 6\n" in orders
    assert "    dead_letter:\n      partitions: 1\n      retention: 2d\n" in orders
    # orders.snapshot.v1 has no key schema in the cluster (no registry here): not `state`.
    assert "cleanup.policy: compact" in orders
    billing = result.files["acls/billing.yaml"]
    assert ".dlq" not in billing, "the consumer role implies the WRITE on the dead-letter topics"

    imported = tmp_path / "imported"
    for relative, text in result.files.items():
        (imported / "specs" / relative).parent.mkdir(parents=True, exist_ok=True)
        (imported / "specs" / relative).write_text(text)
    (imported / "kafkaplan.yaml").write_text(CLASSES)
    again = load_desired(load_project(imported / "kafkaplan.yaml"), None)[2]
    replanned = compute_plan(again, read_live(cluster, again))
    assert replanned.errors == []
    assert replanned.changes == []


def test_a_protected_subject_may_not_be_rolled_back() -> None:
    from kafkaplan.kinds import ResourceKind
    from kafkaplan.plan.limits import check_protection, flag_protected
    from kafkaplan.plan.model import Change, RegisterSchema, RollBackSchema

    def change(operation: RollBackSchema | RegisterSchema) -> Change:
        return Change(
            address="subject.payments.settled.v1-value",
            kind=ResourceKind.SUBJECT,
            name="payments.settled.v1-value",
            action=Action.UPDATE,
            operation=operation,
        )

    state = DesiredState(topics={}, protect_patterns=("subject.payments.*",))
    rollback = flag_protected([change(RollBackSchema(version=2, delete_versions=[3]))], state)
    [error] = check_protection(rollback)
    assert "but this plan deletes versions of it" in error.message
    register = flag_protected([change(RegisterSchema(schema_type="AVRO", schema_text="{}"))], state)
    assert register[0].protected == "project pattern 'subject.payments.*'"
    assert check_protection(register) == [], "a new version deletes nothing"


def test_drift_reports_a_protected_extra_topic_once() -> None:
    from kafkaplan.plan.drift import DriftKind, compute_drift

    cluster = MemoryCluster(topics={"orders.keep.v1": FakeTopic(1, 1)})
    state = DesiredState(
        topics={}, owned_topic_prefixes=("orders.",), protect_patterns=("topic.orders.*",)
    )
    report = compute_drift(state, read_live(cluster, state, tolerant=True), None)
    # Not also as "changed" with the plan's protection refusal: that is not a difference.
    assert [(i.kind, i.address) for i in report.items] == [
        (DriftKind.UNMANAGED, "topic.orders.keep.v1")
    ]
