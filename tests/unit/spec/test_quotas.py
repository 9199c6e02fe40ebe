"""Client quotas: the spec format with file:line problems, the diff of declared keys,
ownership and delete gating, the broker's dry run, apply with convergence, import round
trip and rendering — against the in-memory cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kafkaplan.apply.runner import Status, Targets, apply_plan
from kafkaplan.apply.settle import settle
from kafkaplan.errors import ClusterTransient, SpecError
from kafkaplan.importer.build import build_import, read_for_import
from kafkaplan.kinds import ResourceKind
from kafkaplan.live.checks import ask
from kafkaplan.live.read import read_live
from kafkaplan.live.retry import RetryingCluster, RetryPolicy
from kafkaplan.plan.checks import questions
from kafkaplan.plan.compute import compute_plan
from kafkaplan.plan.drift import DriftKind, compute_drift
from kafkaplan.plan.model import Action, AlterQuotas, DeleteQuotas, Plan
from kafkaplan.plan.options import PlanOptions
from kafkaplan.render import render_markdown, render_text
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.fmt import format_spec
from kafkaplan.spec.load import import_settings, load_desired
from kafkaplan.spec.project import load_project
from kafkaplan.spec.quotas import QuotaEntity, parse_quota_value
from tests.conftest import PROJECT, MakeProject
from tests.fakes import Fault, MemoryCluster, quota_refusal

ALICE = QuotaEntity.of(user="alice")
ALICE_APP = QuotaEntity.of(user="alice", client_id="app")
DEFAULT_USER = QuotaEntity.of(user="<default>")
IP = QuotaEntity.of(ip="10.0.0.1")

SPEC = """\
quotas:
  - user: alice
    producer_byte_rate: 10MiB/s
    consumer_byte_rate: 20971520
  - user: alice
    client_id: app
    request_percentage: 25.5
  - user: <default>
    producer_byte_rate: 1MiB/s
  - ip: 10.0.0.1
    connection_creation_rate: 20
"""

OWNED = (
    PROJECT
    + """\
quotas:
  ownership:
    - team: platform
      entity_types: [user, user+client-id]
      prefixes: [alice, team-]
    - team: others
      prefixes: [ext-]
      external: true
"""
)


def desired_of(make_project: MakeProject, spec: str, project: str = PROJECT) -> DesiredState:
    _, _, desired = load_desired(load_project(make_project({"a.yaml": spec}, project)), None)
    return desired


def problems(make_project: MakeProject, spec: str, project: str = PROJECT) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_desired(load_project(make_project({"a.yaml": spec}, project)), None)
    return [str(d) for d in info.value.diagnostics]


def plan_of(desired: DesiredState, cluster: MemoryCluster, *, allow_deletes: bool = False) -> Plan:
    options = PlanOptions(allow_deletes=allow_deletes)
    live = read_live(cluster, desired)
    draft = compute_plan(desired, live, options)
    return compute_plan(desired, live, options, ask(cluster, None, questions(draft)))


# --- The spec format ---------------------------------------------------------------------


def test_entities_and_values_are_normalized(make_project: MakeProject) -> None:
    desired = desired_of(make_project, SPEC)

    entities = desired.quotas.entities
    assert set(entities) == {ALICE, ALICE_APP, DEFAULT_USER, IP}
    assert entities[ALICE].values == {
        "producer_byte_rate": 10 * 1024 * 1024,
        "consumer_byte_rate": 20971520,
    }
    assert entities[ALICE_APP].values == {"request_percentage": 25.5}
    assert DEFAULT_USER.parts == (("user", None),)
    assert entities[IP].source == "specs/a.yaml:10"
    assert ALICE_APP.key == "user=alice,client-id=app"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("- user: a\n    producer_byte_rate: 10 furlongs/s", "is not a byte rate"),
        ("- user: a\n    producer_byte_rate: 0", "must be greater than 0"),
        ("- user: a\n    request_percentage: -1", "must be greater than 0"),
        ("- user: a\n    request_percentage: yes", "expected a number, got a boolean"),
        ("- user: a\n    connection_creation_rate: 5", "does not apply to user 'a'"),
        ("- ip: 10.0.0.1\n    producer_byte_rate: 1MiB/s", "does not apply to ip"),
        ("- ip: 10.0.0.1\n    user: a\n    connection_creation_rate: 5", "stands alone"),
        ("- ip: 10.0.0.0/8\n    connection_creation_rate: 5", "is not an IP address"),
        ("- producer_byte_rate: 1MiB/s", "names no entity"),
        ("- user: a", "sets no quota"),
        ("- user: a\n    produce_byte_rate: 1MiB/s", "produce_byte_rate"),
    ],
)
def test_bad_entries_are_diagnostics_at_their_line(
    make_project: MakeProject, entry: str, expected: str
) -> None:
    found = problems(make_project, f"topics: []\nquotas:\n  {entry}\n")

    assert len(found) == 1, found
    assert found[0].startswith("specs/a.yaml:3") or found[0].startswith("specs/a.yaml:4")
    assert expected in found[0]


def test_an_entity_declared_twice_is_refused(make_project: MakeProject) -> None:
    spec = (
        "quotas:\n  - user: a\n    request_percentage: 5\n  - user: a\n    request_percentage: 6\n"
    )

    found = problems(make_project, spec)

    assert found == [
        "specs/a.yaml:4: the quotas of user 'a' are declared twice (first at specs/a.yaml:2) "
        "(hint: declare each entity's quotas in one entry)"
    ]


def test_an_entity_in_an_external_scope_is_refused(make_project: MakeProject) -> None:
    found = problems(make_project, "quotas:\n  - user: ext-bob\n    request_percentage: 5\n", OWNED)

    assert len(found) == 1
    assert "inside the scope of team 'others'" in found[0]


def test_byte_rates_take_units_per_second() -> None:
    assert parse_quota_value("producer_byte_rate", "512KiB/s") == 524288
    assert parse_quota_value("consumer_byte_rate", "1 MB/sec") == 1_000_000
    assert parse_quota_value("controller_mutation_rate", 0.5) == 0.5


# --- Plan, apply, converge --------------------------------------------------------------


def test_plan_creates_the_declared_entities_and_apply_converges(
    make_project: MakeProject,
) -> None:
    desired = desired_of(make_project, SPEC)
    cluster = MemoryCluster()

    plan = plan_of(desired, cluster)

    assert [(c.address, c.action) for c in plan.changes] == [
        ("quota.user=<default>", Action.CREATE),
        ("quota.user=alice", Action.CREATE),
        ("quota.user=alice,client-id=app", Action.CREATE),
        ("quota.ip=10.0.0.1", Action.CREATE),
    ]
    assert "alter_quotas:4:validate" in cluster.calls
    assert cluster.quotas == {}
    report = apply_plan(plan, Targets(cluster))
    assert report.ok, report.outcomes
    assert cluster.quotas[ALICE] == {
        "producer_byte_rate": 10485760.0,
        "consumer_byte_rate": 20971520.0,
    }
    assert settle(cluster, plan, report, timeout=1) == []
    assert not plan_of(desired, cluster).changes


def test_only_declared_keys_are_managed_and_null_removes_one(make_project: MakeProject) -> None:
    spec = (
        "quotas:\n  - user: alice\n    producer_byte_rate: 2MiB/s\n    consumer_byte_rate: null\n"
    )
    cluster = MemoryCluster(
        quotas={
            ALICE: {
                "producer_byte_rate": 1048576.0,
                "consumer_byte_rate": 5.0,
                "request_percentage": 50.0,
            }
        }
    )

    plan = plan_of(desired_of(make_project, spec), cluster)

    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert change.operation == AlterQuotas.of(
        ALICE, {"consumer_byte_rate": None, "producer_byte_rate": 2097152.0}
    )
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("quotas.consumer_byte_rate", 5, None),
        ("quotas.producer_byte_rate", 1048576, 2097152),
    ]
    assert apply_plan(plan, Targets(cluster)).ok
    # request_percentage is not declared: left alone.
    assert cluster.quotas[ALICE] == {"producer_byte_rate": 2097152.0, "request_percentage": 50.0}
    text = render_text(plan)
    assert "~ quotas.producer_byte_rate  1048576 (1MiB/s) -> 2097152 (2MiB/s)" in text
    assert "quotas.consumer_byte_rate  5 -> (not set)" in text
    assert "quota.user=alice" in render_markdown(plan)


def test_owned_undeclared_entities_are_deleted_only_with_allow_deletes(
    make_project: MakeProject,
) -> None:
    cluster = MemoryCluster(
        quotas={
            QuotaEntity.of(user="team-x"): {"request_percentage": 10.0},
            QuotaEntity.of(user="ext-bob"): {"request_percentage": 10.0},
            QuotaEntity.of(client_id="team-y"): {"request_percentage": 10.0},
        }
    )
    desired = desired_of(make_project, "topics: []\n", OWNED)

    kept = plan_of(desired, cluster)
    deleting = plan_of(desired, cluster, allow_deletes=True)

    assert kept.changes == []
    assert "1 quota entity in the owned scope is in no spec" in kept.warnings[0].message
    # client-id entities are not in the scope's types; external ones are not even listed.
    assert kept.unmanaged == ["quota.client-id=team-y"]
    (delete,) = deleting.changes
    assert (delete.address, delete.action) == ("quota.user=team-x", Action.DELETE)
    assert delete.operation == DeleteQuotas.of(
        QuotaEntity.of(user="team-x"), ["request_percentage"]
    )
    assert delete.before is not None
    assert delete.before["owner"] == "platform"
    assert apply_plan(deleting, Targets(cluster)).ok
    assert QuotaEntity.of(user="team-x") not in cluster.quotas


def test_a_value_the_broker_refuses_fails_the_plan(make_project: MakeProject) -> None:
    cluster = MemoryCluster()
    desired = desired_of(make_project, SPEC)
    # What the spec checks let through but a broker refuses (a newer broker's own rule,
    # say): the dry run's answer.
    refusal = quota_refusal(42, "Invalid configuration key producer_byte_rate", "q", "alter_quotas")
    cluster.faults.append(Fault("alter_quotas", refusal))

    plan = plan_of(desired, cluster)

    assert len(plan.errors) == 4
    assert plan.errors[0].message == (
        "the broker would refuse this quota change: Invalid configuration key "
        "producer_byte_rate (INVALID_REQUEST)"
    )


def test_a_principal_that_may_not_alter_quotas_plans_with_a_warning(
    make_project: MakeProject,
) -> None:
    cluster = MemoryCluster(denied_operations={"alter_quotas"})

    plan = plan_of(desired_of(make_project, SPEC), cluster)

    assert not plan.errors
    assert len(plan.changes) == 4
    assert all("could not dry-run the quota change" in w.message for w in plan.warnings)
    report = apply_plan(plan, Targets(cluster))
    assert {o.status for o in report.outcomes} == {Status.FAILED}
    assert report.outcomes[0].detail.startswith("permission denied (CLUSTER_AUTHORIZATION_FAILED)")


def test_an_unanswered_alter_is_sent_again(make_project: MakeProject) -> None:
    cluster = MemoryCluster()
    plan = plan_of(desired_of(make_project, SPEC), cluster)
    cluster.faults.append(Fault("alter_quotas", ClusterTransient("timed out"), applied=False))
    retrying = RetryingCluster(cluster, RetryPolicy(attempts=2), sleep=lambda _: None)

    report = apply_plan(plan, Targets(retrying))

    assert report.ok
    assert len(cluster.quotas) == 4


def test_drift_reports_an_out_of_band_change(make_project: MakeProject) -> None:
    desired = desired_of(make_project, SPEC)
    cluster = MemoryCluster()
    assert apply_plan(plan_of(desired, cluster), Targets(cluster)).ok
    cluster.quotas[ALICE]["producer_byte_rate"] = 1.0

    report = compute_drift(desired, read_live(cluster, desired, tolerant=True))

    (item,) = report.items
    assert (item.kind, item.address) == (DriftKind.CHANGED, "quota.user=alice")
    assert [(f.path, f.before, f.after) for f in item.fields] == [
        ("quotas.producer_byte_rate", 1, 10485760)
    ]


def test_drift_says_not_checked_when_quotas_cannot_be_read(make_project: MakeProject) -> None:
    desired = desired_of(make_project, SPEC)
    cluster = MemoryCluster(denied_operations={"describe_quotas"})

    report = compute_drift(desired, read_live(cluster, desired, tolerant=True))

    assert report.items == []
    assert [m.address for m in report.not_checked] == ["quota"]
    assert "DESCRIBE_CONFIGS on the cluster" in report.not_checked[0].message


# --- Import -----------------------------------------------------------------------------


def test_import_round_trips(make_project: MakeProject, tmp_path: Path) -> None:
    cluster = MemoryCluster(
        quotas={
            ALICE: {"producer_byte_rate": 10485760.0, "consumer_byte_rate": 1000.0},
            ALICE_APP: {"request_percentage": 12.5, "controller_mutation_rate": 3.0},
            DEFAULT_USER: {"producer_byte_rate": 1048576.0},
            IP: {"connection_creation_rate": 7.0},
            QuotaEntity.of(ip="broker.example"): {"connection_creation_rate": 7.0},
            QuotaEntity.of(user="ext-bob"): {"request_percentage": 1.0},
        }
    )
    project = load_project(make_project({}, OWNED))
    _, environment = project.environment(None)
    ignore = import_settings(project, environment)

    result = build_import(
        read_for_import(cluster, ignore, (), quotas=True), ignore, resources=["quotas"]
    )

    text = result.files["quotas.yaml"]
    assert "producer_byte_rate: 10MiB/s" in text
    assert "consumer_byte_rate: 1000" in text
    assert "ext-bob" not in text
    assert result.skipped == [
        "quota.ip=broker.example: 'broker.example' is a host name; specs name IP entities by "
        "address"
    ]
    assert result.counts["quotas"] == 4
    (tmp_path / "specs" / "quotas.yaml").write_text(text)
    _, _, desired = load_desired(project, None)
    assert plan_of(desired, cluster, allow_deletes=True).changes == []


def test_plan_json_carries_the_typed_operation(make_project: MakeProject) -> None:
    plan = plan_of(desired_of(make_project, SPEC), MemoryCluster())

    data = json.loads(plan.model_dump_json())
    change = next(c for c in data["changes"] if c["address"] == "quota.user=<default>")
    assert change["kind"] == ResourceKind.QUOTA.value
    assert change["operation"] == {
        "type": "alter-quotas",
        "entity": [{"entity_type": "user", "name": None}],
        "values": {"producer_byte_rate": 1048576.0},
    }
    assert Plan.model_validate(data) == plan


def test_fmt_orders_a_quota_entry_entity_first() -> None:
    text = "quotas:\n  - request_percentage: 5\n    client_id: c\n    user: <default>\n"

    formatted = format_spec(text)

    assert (
        formatted == "quotas:\n  - user: <default>\n    client_id: c\n    request_percentage: 5\n"
    )
