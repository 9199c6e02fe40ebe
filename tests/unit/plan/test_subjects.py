"""Subjects planned and applied against the in-memory registry."""

from __future__ import annotations

import json

import pytest
from msgspec.structs import replace

from kafkaplan.apply.runner import Status, Targets, apply_plan
from kafkaplan.commands import decide
from kafkaplan.errors import RegistryError, RegistryUnreachable
from kafkaplan.live.read import REGISTRY_WORKERS, read_addresses, read_live, read_registry
from kafkaplan.live.registry import SchemaPayload, SchemaReference
from kafkaplan.plan.compute import compute_plan, live_fingerprints
from kafkaplan.plan.drift import DriftKind, compute_drift
from kafkaplan.plan.model import Action, Plan, RiskLabel, RollBackSchema
from kafkaplan.plan.options import PlanOptions
from kafkaplan.spec import schemas
from kafkaplan.spec.desired import (
    DesiredReference,
    DesiredState,
    DesiredSubject,
    RegistrySettings,
    Source,
)
from tests.fakes import MemoryCluster, MemoryRegistry

MONEY = '{"type": "record", "name": "Money", "namespace": "acme", "fields": [{"name": "cents", "type": "long"}]}'


def order(*extra_fields: str) -> str:
    fields = ['{"name": "id", "type": "string"}', '{"name": "total", "type": "acme.Money"}']
    fields += extra_fields
    return f'{{"type": "record", "name": "Order", "namespace": "acme", "fields": [{", ".join(fields)}]}}'


def record(*fields: str) -> str:
    return f'{{"type": "record", "name": "R", "fields": [{", ".join(fields)}]}}'


ID = '{"name": "id", "type": "string"}'
NOTE = '{"name": "note", "type": ["null", "string"], "default": null}'
COUNT = '{"name": "count", "type": "int"}'


def subject(
    name: str,
    text: str,
    *,
    compatibility: str | None = None,
    references: tuple[tuple[str, str, int | None], ...] = (),
    schema_type: str = "AVRO",
) -> DesiredSubject:
    parsed = schemas.parse(schema_type, text)
    return DesiredSubject(
        name=name,
        schema_type=schema_type,
        schema=text,
        canonical=parsed.canonical,
        file=f"specs/schemas/{name}.avsc",
        source=Source("specs/s.yaml", 7),
        references=tuple(
            DesiredReference(n, s, v, Source("specs/s.yaml", 9)) for n, s, v in references
        ),
        compatibility=compatibility,
        fields=parsed.fields,
    )


def state(*subjects: DesiredSubject, **settings: object) -> DesiredState:
    return DesiredState(
        topics={},
        subjects={s.name: s for s in subjects},
        registry=RegistrySettings(**settings),  # type: ignore[arg-type]
    )


def plan_for(
    registry: MemoryRegistry, desired: DesiredState, *, allow_deletes: bool = False
) -> Plan:
    """What commands.make_plan does, without a project: read, ask the registry, decide."""
    cluster = MemoryCluster()
    live = read_live(cluster, desired, registry)
    return decide(desired, live, cluster, registry, PlanOptions(allow_deletes=allow_deletes))


def apply(registry: MemoryRegistry, plan: Plan) -> list[tuple[str, Status, str]]:
    assert not plan.errors, plan.errors
    report = apply_plan(plan, Targets(cluster=MemoryCluster(), registry=registry))
    return [(o.address, o.status, o.detail) for o in report.outcomes]


def seed(registry: MemoryRegistry, name: str, text: str, schema_type: str = "AVRO") -> None:
    registry.register(name, SchemaPayload(schema_type, text))


WITH_MONEY = (("acme.Money", "money", None),)


def test_create_in_dependency_order_then_nothing_to_do() -> None:
    registry = MemoryRegistry()
    desired = state(
        subject("orders-value", order(), references=WITH_MONEY), subject("money", MONEY)
    )
    plan = plan_for(registry, desired)
    assert [(c.address, c.action) for c in plan.changes] == [
        ("subject.money", Action.CREATE),
        ("subject.orders-value", Action.CREATE),
    ]
    created = plan.changes[1]
    assert created.depends_on == ["subject.money"]
    assert created.after is not None
    assert created.after["references"] == {"acme.Money": {"subject": "money", "version": "latest"}}
    assert created.after["fields"] == {"id": "string", "total": "acme.Money"}
    assert plan.resource_fingerprints == {
        "subject.money": "absent",
        "subject.orders-value": "absent",
    }

    assert apply(registry, plan) == [
        ("subject.money", Status.DONE, "version 1, schema id 1"),
        ("subject.orders-value", Status.DONE, "version 1, schema id 2"),
    ]
    [stored] = registry.subjects["orders-value"]
    assert stored.payload.references == (SchemaReference("acme.Money", "money", 1),)

    again = plan_for(registry, desired)
    assert (again.changes, again.errors, again.warnings) == ([], [], [])
    # The same schemas written differently are still the same.
    reformatted = json.dumps(json.loads(order()), indent=4, sort_keys=True)
    assert (
        plan_for(
            registry,
            state(
                subject("orders-value", reformatted, references=WITH_MONEY), subject("money", MONEY)
            ),
        ).changes
        == []
    )


def test_reads_only_managed_subjects() -> None:
    registry = MemoryRegistry()
    seed(registry, "someone-else", MONEY)
    registry.calls.clear()
    plan_for(registry, state(subject("mine", MONEY)))
    assert not any("someone-else" in call for call in registry.calls)
    assert "list_subjects" not in registry.calls


def test_an_unchanged_subject_costs_one_registry_read() -> None:
    """The registry has no bulk read: a no-op plan reads each subject's latest version and
    nothing else (not its versions, not its level), however the schema is spelled."""
    registry = MemoryRegistry()
    seed(registry, "plain", record(ID))
    seed(registry, "spelled", record(ID, NOTE))
    reformatted = json.dumps(json.loads(record(ID, NOTE)), indent=2)
    registry.calls.clear()
    plan = plan_for(registry, state(subject("plain", record(ID)), subject("spelled", reformatted)))
    assert plan.changes == []
    assert sorted(registry.calls) == ["global_compatibility", "latest:plain", "latest:spelled"]


def test_what_a_change_needs_is_read() -> None:
    registry = MemoryRegistry()
    seed(registry, "money", MONEY)
    seed(registry, "money", MONEY.replace('"long"}', '"long"}, ' + NOTE))
    seed(registry, "r", record(ID))
    registry.levels["r"] = "NONE"
    seed(registry, "declared", record(ID))
    registry.calls.clear()
    desired = state(
        # A new version, checked at the subject's own level: that level is read.
        subject("r", record(ID, COUNT)),
        # A level the specs set is read, even with the schema unchanged.
        subject("declared", record(ID), compatibility="FULL"),
        # A reference pinning a version: the versions of the subject it points at are read.
        subject("orders-value", order(), references=(("acme.Money", "money", 1),)),
    )
    plan = plan_for(registry, desired)
    assert "subject_compatibility:r" in registry.calls
    assert "subject_compatibility:declared" in registry.calls
    assert "versions:money" in registry.calls
    # (The registry check of the new version of r reads its versions; declared is unchanged.)
    assert "versions:declared" not in registry.calls
    changed = {c.address: c for c in plan.changes}
    after = changed["subject.r"].after
    assert after is not None
    assert after["compatibility"] == "NONE"
    assert [r.label for r in changed["subject.r"].risks] == [RiskLabel.SCHEMA_BREAK]
    assert "subject-config.declared" in changed
    assert plan.errors == []


def test_compatible_evolution() -> None:
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    plan = plan_for(registry, state(subject("r", record(ID, NOTE))))
    [change] = plan.changes
    assert change.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("fields.note", None, "null | string = null")
    ]
    assert change.before == {
        "version": 1,
        "id": 1,
        "schema_type": "AVRO",
        "compatibility": "BACKWARD",
    }
    assert plan.errors == []
    assert registry.calls.count("check_compatibility:r") == 1
    assert apply(registry, plan) == [("subject.r", Status.DONE, "version 2, schema id 2")]
    assert plan_for(registry, state(subject("r", record(ID, NOTE)))).changes == []


def test_incompatible_changes_are_plan_errors() -> None:
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    plan = plan_for(registry, state(subject("r", record(ID, COUNT))))
    [error] = plan.errors
    assert str(error) == (
        "specs/s.yaml:7: subject.r: specs/schemas/r.avsc: incompatible with the latest "
        "registered version under BACKWARD: READER_FIELD_MISSING_DEFAULT_VALUE: count (hint: "
        "new fields need a default (count has none), or lower the subject's "
        "compatibility deliberately)"
    )
    # FORWARD: removing a field without a default breaks old readers; nothing was added.
    registry = MemoryRegistry(global_level="FORWARD")
    seed(registry, "r", record(ID, COUNT))
    [error] = plan_for(registry, state(subject("r", record(ID)))).errors
    assert "under FORWARD: READER_FIELD_MISSING_DEFAULT_VALUE: count" in error.message
    assert error.hint is not None
    assert "new fields need a default" not in error.hint
    assert "a field added or removed needs a default" in error.hint


@pytest.mark.parametrize(
    ("schema_type", "old", "new", "advice"),
    [
        (
            "JSON",
            '{"type": "object", "properties": {"a": {"type": "string"}}}',
            '{"type": "object", "properties": {"a": {"type": "integer"}}}',
            "a new version must accept the documents the old one accepted",
        ),
        (
            "PROTOBUF",
            'syntax = "proto3";\nmessage M { string a = 1; }\n',
            'syntax = "proto3";\nmessage M { int64 a = 1; }\n',
            "keep each field's number and type",
        ),
    ],
)
def test_the_incompatibility_hint_fits_the_format(
    schema_type: str, old: str, new: str, advice: str
) -> None:
    """JSON Schema and Protobuf have no field defaults: their hint never says so."""
    registry = MemoryRegistry()
    registry.incompatible_types = {schema_type}
    seed(registry, "r", old, schema_type=schema_type)
    [error] = plan_for(registry, state(subject("r", new, schema_type=schema_type))).errors
    assert error.hint is not None
    assert advice in error.hint
    assert "default" not in error.hint


def test_lowering_compatibility_comes_first_and_is_a_risk() -> None:
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    plan = plan_for(registry, state(subject("r", record(ID, COUNT), compatibility="NONE")))
    assert plan.errors == []
    config, registration = plan.changes
    assert (config.address, config.action) == ("subject-config.r", Action.CREATE)
    assert [(f.path, f.before, f.after) for f in config.fields] == [
        ("compatibility", "BACKWARD", "NONE")
    ]
    assert [r.label for r in config.risks] == [RiskLabel.SCHEMA_BREAK]
    assert registration.depends_on == ["subject-config.r"]
    assert registration.after is not None
    assert registration.after["compatibility"] == "NONE"
    messages = [r.message for r in registration.risks]
    assert [r.label for r in registration.risks] == [RiskLabel.SCHEMA_BREAK] * 2
    assert (
        "compatibility is NONE, so the registry accepts this unchecked: count added" in messages[0]
    )
    assert messages[1].startswith("allowed only because compatibility goes BACKWARD -> NONE")

    registry.calls.clear()
    outcomes = apply(registry, plan)
    assert [o[:2] for o in outcomes] == [
        ("subject-config.r", Status.DONE),
        ("subject.r", Status.DONE),
    ]
    assert registry.calls.index("set_compatibility:r:NONE") < registry.calls.index("register:r")
    assert (
        plan_for(registry, state(subject("r", record(ID, COUNT), compatibility="NONE"))).changes
        == []
    )


def test_raising_compatibility_is_checked_as_far_as_the_registry_can() -> None:
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    # Incompatible under BACKWARD, so under the stricter FULL too: an error.
    plan = plan_for(registry, state(subject("r", record(ID, COUNT), compatibility="FULL")))
    [error] = plan.errors
    assert (
        "incompatible under BACKWARD, and so under the stricter FULL this plan sets"
        in error.message
    )
    # Compatible under BACKWARD: FULL is only checked at apply, and the plan says so.
    plan = plan_for(registry, state(subject("r", record(ID, NOTE), compatibility="FULL")))
    assert plan.errors == []
    [warning] = plan.warnings
    assert (
        "the registry checks it under FULL only when this plan has set that level"
        in warning.message
    )
    # Incomparable levels (BACKWARD -> FORWARD) and incompatible now: a warning and a risk.
    plan = plan_for(registry, state(subject("r", record(ID, COUNT), compatibility="FORWARD")))
    assert plan.errors == []
    assert "whether FORWARD accepts it is only known at apply" in plan.warnings[0].message


def test_global_compatibility_is_its_own_change() -> None:
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    desired = state(
        subject("r", record(ID, NOTE)),
        subject("s", MONEY, compatibility="FULL"),
        compatibility="FULL",
    )
    plan = plan_for(registry, desired)
    addresses = [c.address for c in plan.changes]
    assert addresses == ["registry-config.global", "subject.r", "subject.s"]
    assert plan.changes[1].depends_on == ["registry-config.global"]
    assert plan.changes[2].depends_on == []  # its own level; nothing to set (FULL = new global)
    assert plan.changes[0].risks == []  # raising is not a risk
    apply(registry, plan)
    assert registry.global_level == "FULL"
    assert plan_for(registry, desired).changes == []
    lowered = plan_for(registry, replace(desired, registry=RegistrySettings(compatibility="NONE")))
    assert [r.label for r in lowered.changes[0].risks] == [RiskLabel.SCHEMA_BREAK]


def test_dependents_of_a_failed_registration_are_skipped() -> None:
    registry = MemoryRegistry()
    registry.failures["money"] = RegistryError(
        "the registry failed (HTTP 500): boom", resource="subject.money", status=500
    )
    desired = state(
        subject("orders-value", order(), references=WITH_MONEY),
        subject("money", MONEY),
        subject("other", record(ID)),
    )
    outcomes = apply(registry, plan_for(registry, desired))
    assert outcomes == [
        ("subject.money", Status.FAILED, "the registry failed (HTTP 500): boom"),
        ("subject.orders-value", Status.SKIPPED, "depends on subject.money, which did not succeed"),
        ("subject.other", Status.DONE, "version 1, schema id 1"),
    ]
    assert "register:orders-value" not in registry.calls


def test_a_registration_answered_with_a_server_error_is_looked_up() -> None:
    """A 5xx says the request failed, not that nothing was stored: the registration is
    reported done if the schema is there after all, failed only if it is not."""
    registry = MemoryRegistry()
    boom = RegistryError(
        "the registry failed (HTTP 500): boom", resource="subject.money", status=500
    )
    registry.failures_after["money"] = boom
    desired = state(
        subject("orders-value", order(), references=WITH_MONEY), subject("money", MONEY)
    )
    outcomes = apply(registry, plan_for(registry, desired))
    assert outcomes == [
        (
            "subject.money",
            Status.DONE,
            "version 1, schema id 1 (stored, although the registry answered HTTP 500)",
        ),
        ("subject.orders-value", Status.DONE, "version 1, schema id 2"),
    ]
    assert registry.calls.count("lookup:money") == 1
    assert plan_for(registry, desired).changes == []


def test_a_registration_without_answer_is_unknown_and_stops_the_apply() -> None:
    """A registry that stops answering: the registration in flight may or may not have been
    made (unknown, not failed), nothing more is sent to it, and the apply says it stopped."""
    registry = MemoryRegistry()
    desired = state(
        subject("orders-value", order(), references=WITH_MONEY),
        subject("money", MONEY),
        subject("other", record(ID)),
        subject("zzz", record(ID, NOTE)),
    )
    plan = plan_for(registry, desired)
    registry.failures["orders-value"] = RegistryUnreachable(
        "the registry at http://r did not answer (timed out)", resource="subject.orders-value"
    )
    report = apply_plan(plan, Targets(cluster=MemoryCluster(), registry=registry))
    assert [(o.address, o.status, o.detail) for o in report.outcomes] == [
        ("subject.money", Status.DONE, "version 1, schema id 1"),
        (
            "subject.orders-value",
            Status.UNKNOWN,
            "no answer (the registry at http://r did not answer (timed out)); it may or may "
            "not have been made",
        ),
        (
            "subject.other",
            Status.SKIPPED,
            "not attempted: the apply stopped (the registry stopped answering)",
        ),
        (
            "subject.zzz",
            Status.SKIPPED,
            "not attempted: the apply stopped (the registry stopped answering)",
        ),
    ]
    assert report.interrupted == "the registry stopped answering"
    assert [c for c in registry.calls if c.startswith("register:")] == [
        "register:money",
        "register:orders-value",
    ]


def test_latest_references_resolve_across_batches() -> None:
    """A `latest` reference to a subject registered in an earlier batch (--batch-size)
    uses the version that batch registered."""
    registry = MemoryRegistry()
    seed(registry, "unrelated", record(ID))
    desired = state(
        subject("orders-value", order(), references=WITH_MONEY), subject("money", MONEY)
    )
    plan = plan_for(registry, desired)
    report = apply_plan(plan, Targets(cluster=MemoryCluster(), registry=registry), batch_size=1)
    assert [(o.address, o.status, o.detail) for o in report.outcomes] == [
        ("subject.money", Status.DONE, "version 1, schema id 2"),
        ("subject.orders-value", Status.DONE, "version 1, schema id 3"),
    ]
    [stored] = registry.subjects["orders-value"]
    assert stored.payload.references == (SchemaReference("acme.Money", "money", 1),)


def test_reads_stop_once_the_registry_does_not_answer() -> None:
    """Reads run over a pool; once one got no answer the queued ones are not sent (each
    would wait for its own timeout), and the plan fails with the registry's error."""
    registry = MemoryRegistry(answering=False)
    desired = state(*(subject(f"s{i:02}", record(ID)) for i in range(30)))
    with pytest.raises(RegistryUnreachable, match="did not answer") as raised:
        read_registry(registry, list(desired.subjects))
    # At most one call per worker was under way when the first one failed (not 91).
    assert 1 <= len(registry.calls) <= REGISTRY_WORKERS
    # The error names the first subject, whether its read was sent or not.
    assert raised.value.resource == "subject.s00"


def test_failed_compatibility_change_skips_the_registration() -> None:
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    plan = plan_for(registry, state(subject("r", record(ID, NOTE), compatibility="FULL")))
    registry.levels["boom"] = "x"  # unrelated
    original = registry.set_compatibility

    def refuse(subject_name: str | None, level: str) -> None:
        raise RegistryError("registry permission denied (HTTP 403)", status=403)

    registry.set_compatibility = refuse  # type: ignore[method-assign,assignment]
    outcomes = apply(registry, plan)
    registry.set_compatibility = original  # type: ignore[method-assign]
    assert outcomes == [
        ("subject-config.r", Status.FAILED, "registry permission denied (HTTP 403)"),
        ("subject.r", Status.SKIPPED, "depends on subject-config.r, which did not succeed"),
    ]


def test_references_to_unmanaged_subjects() -> None:
    registry = MemoryRegistry()
    plan = plan_for(registry, state(subject("orders-value", order(), references=WITH_MONEY)))
    [error] = plan.errors
    assert str(error).startswith(
        "specs/s.yaml:9: subject.orders-value: reference 'acme.Money': subject 'money' does not "
        "exist in the registry and no spec declares it"
    )
    seed(registry, "money", MONEY)
    plan = plan_for(registry, state(subject("orders-value", order(), references=WITH_MONEY)))
    assert plan.errors == []
    assert plan.changes[0].after is not None
    assert plan.changes[0].after["references"]["acme.Money"]["version"] == 1
    pinned = (("acme.Money", "money", 4),)
    [error] = plan_for(registry, state(subject("orders-value", order(), references=pinned))).errors
    assert "subject 'money' has no version 4" in error.message


def test_new_version_of_a_referenced_schema_moves_latest_references() -> None:
    registry = MemoryRegistry()
    desired = state(
        subject("orders-value", order(), references=WITH_MONEY), subject("money", MONEY)
    )
    apply(registry, plan_for(registry, desired))
    money2 = MONEY.replace("]}", ', {"name": "currency", "type": "string", "default": "EUR"}]}')
    plan = plan_for(
        registry, replace(desired, subjects={**desired.subjects, "money": subject("money", money2)})
    )
    money, orders = plan.changes
    assert (money.address, orders.address) == ("subject.money", "subject.orders-value")
    assert [(f.path, f.before, f.after) for f in orders.fields] == [
        ("references.acme.Money", "money version 1", "money version latest")
    ]
    assert orders.depends_on == ["subject.money"]
    assert any("refers to a version this plan registers" in w.message for w in plan.warnings)
    apply(registry, plan)
    assert registry.subjects["orders-value"][-1].payload.references == (
        SchemaReference("acme.Money", "money", 2),
    )


def test_owned_subjects_not_in_specs() -> None:
    registry = MemoryRegistry()
    for name in ("t.old", "t.base", "elsewhere"):
        seed(registry, name, MONEY)
    registry.register(
        "t.old-user", SchemaPayload("AVRO", order(), (SchemaReference("acme.Money", "t.old", 1),))
    )
    registry.register(
        "t.kept", SchemaPayload("AVRO", order(), (SchemaReference("acme.Money", "t.base", 1),))
    )
    kept = subject("t.kept", order(), references=(("acme.Money", "t.base", None),))
    desired = state(kept, owned_prefixes=("t.",))
    plan = plan_for(registry, desired)
    assert plan.changes == []
    assert plan.unmanaged == ["subject.t.base"]
    assert [w.address for w in plan.warnings] == ["subject.t.old", "subject.t.old-user"]
    assert "deletes are not enabled" in plan.warnings[0].message

    plan = plan_for(registry, desired, allow_deletes=True)
    assert plan.unmanaged == ["subject.t.base"]  # referenced by a declared schema: kept
    # t.old-user refers to t.old, and a soft-deleted schema still does: the registry would
    # refuse to delete t.old, so the plan keeps it and says why.
    [user] = plan.changes
    assert (user.address, user.action) == ("subject.t.old-user", Action.DELETE)
    assert user.before is not None
    assert user.before["delete"] == "soft"
    assert [r.label for r in user.risks] == [RiskLabel.SCHEMA_BREAK]
    [warning] = plan.warnings
    assert warning.address == "subject.t.old"
    referrer = registry.latest("t.old-user")
    assert referrer is not None
    said = f"schema id {referrer.schema_id} (t.old-user version 1) still refers to it"
    assert said in warning.message
    assert "schemas.hard_delete" in (warning.hint or "")
    assert apply(registry, plan) == [
        ("subject.t.old-user", Status.DONE, "soft-deleted versions [1]"),
    ]
    assert registry.soft_deleted == {"t.old-user"}
    assert "elsewhere" in registry.subjects
    # Planned again: the same, soft-deleted referrer included.
    assert plan_for(registry, desired, allow_deletes=True).changes == []


def test_hard_deletes_go_referrers_first() -> None:
    """Deleted for good, a referrer no longer holds what it refers to: both are deleted,
    the referrer first. A subject a kept one refers to is kept in turn."""
    registry = MemoryRegistry()
    seed(registry, "t.money", MONEY)
    registry.register(
        "t.order", SchemaPayload("AVRO", order(), (SchemaReference("acme.Money", "t.money", 1),))
    )
    desired = state(owned_prefixes=("t.",), hard_delete=True)
    plan = plan_for(registry, desired, allow_deletes=True)
    assert [(c.address, c.depends_on) for c in plan.changes] == [
        ("subject.t.money", ["subject.t.order"]),
        ("subject.t.order", []),
    ]
    assert plan.warnings == []
    assert apply(registry, plan) == [
        ("subject.t.order", Status.DONE, "permanently deleted versions [1]"),
        ("subject.t.money", Status.DONE, "permanently deleted versions [1]"),
    ]
    assert registry.subjects == {}


def test_hard_deletes_order_by_the_versions_the_registry_names() -> None:
    """t.order's latest version refers to nothing, its version 1 to t.money: the registry
    names it, so t.order still goes first."""
    registry = MemoryRegistry(levels={"t.order": "NONE"})
    seed(registry, "t.money", MONEY)
    registry.register(
        "t.order", SchemaPayload("AVRO", order(), (SchemaReference("acme.Money", "t.money", 1),))
    )
    seed(registry, "t.order", record(ID))
    desired = state(owned_prefixes=("t.",), hard_delete=True)
    plan = plan_for(registry, desired, allow_deletes=True)
    assert [(c.address, c.depends_on) for c in plan.changes] == [
        ("subject.t.money", ["subject.t.order"]),
        ("subject.t.order", []),
    ]
    assert [o[:2] for o in apply(registry, plan)] == [
        ("subject.t.order", Status.DONE),
        ("subject.t.money", Status.DONE),
    ]


def test_a_kept_referrer_keeps_what_it_refers_to_under_hard_deletes() -> None:
    registry = MemoryRegistry()
    seed(registry, "t.money", MONEY)
    registry.register(
        "t.order", SchemaPayload("AVRO", order(), (SchemaReference("acme.Money", "t.money", 1),))
    )
    # Outside the owned scope, a third subject refers to t.order: it cannot go, so
    # neither can t.money.
    registry.register(
        "x.audit",
        SchemaPayload("AVRO", record(ID), (SchemaReference("acme.Order", "t.order", 1),)),
    )
    desired = state(owned_prefixes=("t.",), hard_delete=True)
    plan = plan_for(registry, desired, allow_deletes=True)
    assert plan.changes == []
    assert [(w.address, "still refers to it" in w.message) for w in plan.warnings] == [
        ("subject.t.money", True),
        ("subject.t.order", True),
    ]
    assert "(x.audit version 1)" in plan.warnings[1].message
    assert "(t.order version 1)" in plan.warnings[0].message


def test_a_registry_that_cannot_say_who_refers_leaves_the_delete_with_a_warning() -> None:
    registry = MemoryRegistry()
    seed(registry, "t.old", MONEY)

    def cannot(subject: str, version: int) -> list[int]:
        raise RegistryError(
            "the registry answered HTTP 404 for GET /subjects/t.old/versions/1/referencedby: "
            "no such path",
            resource=f"subject.{subject}",
            status=404,
        )

    registry.referenced_by = cannot  # type: ignore[method-assign]
    plan = plan_for(registry, state(owned_prefixes=("t.",)), allow_deletes=True)
    assert [(c.address, c.action) for c in plan.changes] == [("subject.t.old", Action.DELETE)]
    [warning] = plan.warnings
    assert warning.address == "subject.t.old"
    assert warning.message.startswith("could not check which schemas refer to it")
    assert "no such path" in warning.message


def test_only_deletes_ask_who_refers() -> None:
    registry = MemoryRegistry()
    seed(registry, "t.old", MONEY)
    plan_for(registry, state(owned_prefixes=("t.",)))
    assert not [c for c in registry.calls if c.startswith(("referenced_by", "schema_usages"))]
    plan_for(registry, state(owned_prefixes=("t.",)), allow_deletes=True)
    assert "referenced_by:t.old:1" in registry.calls


def test_hard_delete_needs_its_setting() -> None:
    registry = MemoryRegistry()
    seed(registry, "t.old", MONEY)
    desired = state(owned_prefixes=("t.",), hard_delete=True)
    [change] = plan_for(registry, desired, allow_deletes=True).changes
    assert [r.label for r in change.risks] == [RiskLabel.DATA_LOSS]
    assert apply(registry, plan_for(registry, desired, allow_deletes=True)) == [
        ("subject.t.old", Status.DONE, "permanently deleted versions [1]")
    ]
    assert registry.subjects == {}


def test_subject_levels_reported_like_apicurio_do_not_diff_forever() -> None:
    registry = MemoryRegistry(reports_global_for_subjects=True)
    seed(registry, "r", record(ID))
    desired = state(subject("r", record(ID), compatibility="BACKWARD"))
    assert plan_for(registry, desired).changes == []  # BACKWARD is what the subject has
    desired = state(subject("r", record(ID), compatibility="FULL"))
    [change] = plan_for(registry, desired).changes
    assert change.address == "subject-config.r"
    apply(registry, plan_for(registry, desired, allow_deletes=True))
    assert plan_for(registry, desired, allow_deletes=True).changes == []


def test_live_fingerprints_follow_the_registry() -> None:
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    desired = state(subject("r", record(ID, NOTE), compatibility="FULL"))
    plan = plan_for(registry, desired)
    assert sorted(plan.resource_fingerprints) == ["subject-config.r", "subject.r"]

    def now() -> dict[str, str]:
        live = read_addresses(MemoryCluster(), list(plan.resource_fingerprints), registry)
        return live_fingerprints(live, plan.resource_fingerprints)

    assert now() == plan.resource_fingerprints
    seed(registry, "r", record(ID, '{"name": "x", "type": "int", "default": 1}'))
    assert now()["subject.r"] != plan.resource_fingerprints["subject.r"]
    registry.levels["r"] = "NONE"
    assert now()["subject-config.r"] != plan.resource_fingerprints["subject-config.r"]


def test_an_old_version_becomes_the_latest_again_only_by_deleting_the_newer_ones() -> None:
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    seed(registry, "r", record(ID, NOTE))  # registered outside the specs
    seed(registry, "r", record(ID, NOTE, '{"name": "x", "type": "int", "default": 1}'))
    desired = state(subject("r", record(ID)))
    # Registering it again would only answer version 1: without deletes, kept with a warning.
    plan = plan_for(registry, desired)
    assert plan.changes == []
    assert [(w.address, w.message) for w in plan.warnings] == [
        (
            "subject.r",
            "the declared schema is version 1 of this subject; versions 2, 3 were registered "
            "outside the specs: kept, because deletes are not enabled for this run",
        )
    ]
    plan = plan_for(registry, desired, allow_deletes=True)
    [change] = plan.changes
    assert change.action is Action.UPDATE
    assert change.fields[0].model_dump() == {
        "path": "version",
        "before": 3,
        "after": "1 (rollback)",
    }
    assert [r.label.value for r in change.risks] == ["schema-break"]
    assert apply(registry, plan) == [
        (
            "subject.r",
            Status.DONE,
            "version 1 is the latest again (soft-deleted versions [2, 3])",
        )
    ]
    assert registry.versions("r") == [1]
    assert plan_for(registry, desired, allow_deletes=True).changes == []
    # A new registration after that gets a new number: numbers are never reused.
    seed(registry, "r", record(ID, NOTE))
    assert registry.versions("r") == [1, 4]


def test_a_registration_answered_with_an_old_version_fails() -> None:
    """If the registry only finds the old version when registering (not at plan time), the
    apply says so rather than reporting the old version as applied."""
    registry = MemoryRegistry()
    seed(registry, "r", record(ID))
    seed(registry, "r", record(ID, NOTE))
    desired = state(subject("r", record(ID)))
    plan = compute_plan(desired, read_live(MemoryCluster(), desired, registry))
    [change] = plan.changes
    assert change.action is Action.UPDATE
    assert apply(registry, plan) == [
        (
            "subject.r",
            Status.FAILED,
            "the registry already has this schema as version 1, and version 2 stays the latest "
            "(hint: plan again: with --allow-deletes the plan soft-deletes the newer versions "
            "instead; or change the schema (its doc, say) so that it registers as a new version)",
        )
    ]


def test_rolling_back_a_referenced_subject_leaves_its_referrers_alone() -> None:
    """An out-of-band new version of a referenced subject, rolled back with deletes allowed:
    the referring subject already refers to the version the rollback returns to, so the plan
    has the rollback only, and one apply converges."""
    registry = MemoryRegistry()
    desired = state(
        subject("orders-value", order(), references=WITH_MONEY), subject("money", MONEY)
    )
    apply(registry, plan_for(registry, desired))
    money2 = MONEY.replace("]}", ', {"name": "currency", "type": "string", "default": "EUR"}]}')
    seed(registry, "money", money2)  # registered outside the specs: version 2
    plan = plan_for(registry, desired, allow_deletes=True)
    [rollback] = plan.changes
    assert rollback.address == "subject.money"
    assert isinstance(rollback.operation, RollBackSchema)
    assert (rollback.operation.version, rollback.operation.delete_versions) == (1, [2])
    assert [(o[0], o[1]) for o in apply(registry, plan)] == [("subject.money", Status.DONE)]
    assert registry.subjects["orders-value"][-1].payload.references == (
        SchemaReference("acme.Money", "money", 1),
    )
    assert plan_for(registry, desired, allow_deletes=True).changes == []


def test_a_referenced_subject_kept_without_deletes_keeps_its_referrers_as_they_are() -> None:
    registry = MemoryRegistry()
    desired = state(
        subject("orders-value", order(), references=WITH_MONEY), subject("money", MONEY)
    )
    apply(registry, plan_for(registry, desired))
    money2 = MONEY.replace("]}", ', {"name": "currency", "type": "string", "default": "EUR"}]}')
    seed(registry, "money", money2)
    plan = plan_for(registry, desired)
    # The referrer's `latest` is now version 2 of money: re-pointing it is a real change,
    # checked by the registry like any other; the kept subject is only warned about.
    assert [c.address for c in plan.changes] == ["subject.orders-value"]
    assert any(w.address == "subject.money" for w in plan.warnings)


@pytest.mark.parametrize("out_of_band", [None, "FULL"])
def test_drift_reports_a_subject_level_changed_out_of_band_as_changed(
    out_of_band: str | None,
) -> None:
    """Removed (so the subject follows the global level) or set to another level: the same
    class in drift, worded like the plan's change, never "declared but absent"."""
    registry = MemoryRegistry()
    desired = state(subject("r", record(ID), compatibility="NONE"))
    apply(registry, plan_for(registry, desired))
    if out_of_band is None:
        del registry.levels["r"]
    else:
        registry.levels["r"] = out_of_band
    report = compute_drift(desired, read_live(MemoryCluster(), desired, registry))
    [item] = report.items
    assert (item.kind, item.address) == (DriftKind.CHANGED, "subject-config.r")
    assert item.message == "differs from its spec: compatibility"
    assert [(f.path, f.before, f.after) for f in item.fields] == [
        ("compatibility", out_of_band or "BACKWARD", "NONE")
    ]
