"""Schema Registry subjects planned and applied end to end against the real registry.

Every subject a test creates starts with its project's unique prefix and is deleted (soft,
then hard) when the test ends; the registry's global level is never changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.conftest import Project, Registry, call, quote

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]


@pytest.fixture(scope="session")
def registry(stack: dict[str, str]) -> Registry:
    return Registry(stack["KAFKAPLAN_SCHEMA_REGISTRY_URL"])


@pytest.fixture
def project(make_project: MakeProject, registry: Registry) -> Iterator[Project]:
    """A project that owns the subjects under its prefix + 'owned.'."""
    project = make_project()
    project_file = project.root / "kafkaplan.yaml"
    project_file.write_text(
        project_file.read_text() + f"schemas:\n  owned_subjects: ['{project.prefix}owned.']\n"
    )
    global_level = registry.level()
    yield project
    registry.purge(project.prefix)
    assert registry.level() == global_level


def money(prefix: str) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": "Money",
            "namespace": f"{prefix}.common",
            "fields": [{"name": "cents", "type": "long"}, {"name": "currency", "type": "string"}],
        }
    )


@pytest.mark.matrix
def test_three_types_with_references_then_no_changes(project: Project, registry: Registry) -> None:
    p = project.prefix
    orders, payments, customers = (
        project.name("orders"),
        project.name("payments"),
        project.name("customers"),
    )
    project.write("specs/schemas/money.avsc", money(p))
    project.write(
        "specs/schemas/order.avsc",
        json.dumps(
            {
                "type": "record",
                "name": "Order",
                "namespace": f"{p}.orders",
                "fields": [
                    {"name": "id", "type": "string"},
                    {"name": "total", "type": f"{p}.common.Money"},
                ],
            },
            indent=2,
        ),
    )
    project.write(
        "specs/schemas/payment.json",
        """\
        {
          "$schema": "http://json-schema.org/draft-07/schema#",
          "type": "object",
          "properties": {"id": {"type": "string"}, "amount": {"$ref": "amount.json"}},
          "required": ["id"]
        }
        """,
    )
    project.write(
        "specs/schemas/amount.json",
        '{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", '
        '"properties": {"cents": {"type": "integer"}}}',
    )
    project.write(
        "specs/schemas/proto/acme/address.proto",
        'syntax = "proto3";\npackage acme;\n\nmessage Address { string city = 1; }\n',
    )
    project.write(
        "specs/schemas/proto/customer.proto",
        """\
        // A customer.
        syntax = "proto3";
        package acme.customers;
        import "acme/address.proto";

        message Customer {
          string id = 1;
          acme.Address address = 2;
        }
        """,
    )
    project.specs(
        f"""\
        topics:
          - name: {orders}
            value_schema: schemas/order.avsc
        subjects:
          - name: {p}money
            file: schemas/money.avsc
          - topic: {payments}
            file: schemas/payment.json
          - name: {p}amount
            file: schemas/amount.json
          - topic: {customers}
            file: schemas/proto/customer.proto
          - name: {p}address
            file: schemas/proto/acme/address.proto
        """
    )
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err
    assert "Plan: 7 to create, 0 to update, 0 to delete." in plan.out
    assert f"references.{p}.common.Money.subject  {p}money" in plan.out

    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    lines = [line.strip() for line in applied.out.splitlines() if "subject." in line]
    done = [re.sub(r" \(create\).*", "", line).removeprefix("✓ ") for line in lines]
    # Referenced schemas are registered before the schemas that refer to them.
    assert done.index(f"subject.{p}money") < done.index(f"subject.{orders}-value")
    assert done.index(f"subject.{p}amount") < done.index(f"subject.{payments}-value")
    assert done.index(f"subject.{p}address") < done.index(f"subject.{customers}-value")
    assert re.search(
        rf"✓ subject\.{re.escape(orders)}-value \(create\) done: version 1, schema id \d+",
        applied.out,
    )

    order = registry.latest(f"{orders}-value")
    assert order["references"] == [
        {"name": f"{p}.common.Money", "subject": f"{p}money", "version": 1}
    ]
    assert registry.latest(f"{payments}-value")["references"] == [
        {"name": "amount.json", "subject": f"{p}amount", "version": 1}
    ]
    customer = registry.latest(f"{customers}-value")
    assert customer["schemaType"] == "PROTOBUF"
    assert customer["references"] == [
        {"name": "acme/address.proto", "subject": f"{p}address", "version": 1}
    ]

    again = project.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "No changes." in again.out
    reapply = project.run("apply", "--auto-approve")
    assert reapply.code == 0
    assert "No changes." in reapply.out
    assert registry.versions(f"{orders}-value") == [1]


def record(*fields: dict[str, Any]) -> str:
    return json.dumps(
        {"type": "record", "name": "Event", "namespace": "it", "fields": list(fields)}
    )


ID = {"name": "id", "type": "string"}
COUNT = {"name": "count", "type": "int"}
NOTE = {"name": "note", "type": ["null", "string"], "default": None}


def one_subject(project: Project, schema: str, compatibility: str | None = None) -> str:
    subject = f"{project.prefix}events"
    project.write("specs/event.avsc", schema)
    level = f"\n    compatibility: {compatibility}" if compatibility else ""
    project.specs(f"subjects:\n  - name: {subject}\n    file: event.avsc{level}\n")
    return subject


@pytest.mark.matrix
def test_compatible_evolution_is_applied(project: Project, registry: Registry) -> None:
    subject = one_subject(project, record(ID))
    assert project.run("apply", "--auto-approve").code == 0
    one_subject(project, json.dumps(json.loads(record(ID, NOTE)), indent=4))
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err
    assert f"~ subject.{subject}" in plan.out
    assert "~ fields.note  (none) -> null | string = null" in plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert f"✓ subject.{subject} (update) done: version 2" in applied.out
    assert registry.versions(subject) == [1, 2]
    assert project.run("plan", "--detailed-exitcode").code == 0


@pytest.mark.matrix
def test_incompatible_changes_are_refused_at_plan_time(
    project: Project, registry: Registry, registry_kind: str
) -> None:
    # BACKWARD (the registry's global level): a new field without a default.
    subject = one_subject(project, record(ID))
    assert project.run("apply", "--auto-approve").code == 0
    one_subject(project, record(ID, COUNT))
    plan = project.run("plan")
    assert plan.code == 1
    # The reason is the registry's own: AxonOps gives it with verbose=true, Apicurio only
    # through its own API's dry run.
    reason = {
        "apicurio": "Incompatible artifact",
        "axonops": "BACKWARD compatibility check failed against version 1: root: "
        "reader field 'count' has no default and is missing from writer",
    }[registry_kind]
    assert (
        f"subject.{subject}: specs/event.avsc: incompatible with the latest registered version "
        f"under BACKWARD: {reason}" in plan.out
    ), plan.out
    assert "count" in plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 1
    assert "Nothing was applied." in applied.err
    assert registry.versions(subject) == [1]


@pytest.mark.matrix
def test_forward_refuses_removing_a_field_without_default(
    project: Project, registry: Registry
) -> None:
    subject = one_subject(project, record(ID, COUNT), compatibility="FORWARD")
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out
    assert registry.level(subject) == "FORWARD"
    one_subject(project, record(ID), compatibility="FORWARD")
    plan = project.run("plan")
    assert plan.code == 1
    assert "incompatible with the latest registered version under FORWARD" in plan.out
    assert registry.versions(subject) == [1]


@pytest.mark.matrix
def test_compatibility_changes(project: Project, registry: Registry) -> None:
    subject = one_subject(project, record(ID))
    assert project.run("apply", "--auto-approve").code == 0
    # Lowering to NONE lets an incompatible change through: planned, with its risk.
    one_subject(project, record(ID, COUNT), compatibility="NONE")
    plan = project.run("plan", "--format", "json")
    assert plan.code == 0, plan.out
    document = json.loads(plan.out)
    config, registration = document["changes"]
    assert (config["address"], config["action"]) == (f"subject-config.{subject}", "create")
    assert registration["depends_on"] == [f"subject-config.{subject}"]
    assert [r["label"] for r in config["risks"]] == ["schema-break"]
    assert "allowed only because compatibility goes BACKWARD -> NONE" in json.dumps(
        registration["risks"]
    )
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert applied.out.index(f"subject-config.{subject}") < applied.out.index(
        f"subject.{subject} (update)"
    )
    assert registry.level(subject) == "NONE"
    assert registry.versions(subject) == [1, 2]
    # Raising it again is a change of its own.
    one_subject(project, record(ID, COUNT), compatibility="FULL")
    plan = project.run("plan")
    assert f"~ subject-config.{subject}" in plan.out
    assert "compatibility  NONE -> FULL" in plan.out
    assert "Plan: 0 to create, 1 to update, 0 to delete." in plan.out
    assert project.run("apply", "--auto-approve").code == 0
    assert registry.level(subject) == "FULL"
    assert project.run("plan", "--detailed-exitcode").code == 0


@pytest.mark.matrix
def test_soft_delete_in_the_owned_scope(project: Project, registry: Registry) -> None:
    p = project.prefix
    kept, dropped, outside = f"{p}owned.kept", f"{p}owned.dropped", f"{p}other"
    project.write("specs/a.avsc", record(ID))
    project.specs(
        f"subjects:\n  - {{name: {kept}, file: a.avsc}}\n  - {{name: {dropped}, file: a.avsc}}\n"
    )
    assert project.run("apply", "--auto-approve").code == 0
    registry.register(outside, record(ID))  # not in the owned scope: never touched
    project.specs(f"subjects:\n  - {{name: {kept}, file: a.avsc}}\n")

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert f"! subject.{dropped}: in the owned subject scope but in no spec: kept" in plan.out
    assert outside not in plan.out

    plan = project.run("plan", "--allow-deletes")
    assert f"- subject.{dropped}" in plan.out
    assert "schema-break: soft delete" in plan.out
    assert "Plan: 0 to create, 0 to update, 1 to delete." in plan.out
    applied = project.run("apply", "--auto-approve", "--allow-deletes")
    assert applied.code == 0, applied.out + applied.err
    assert f"✓ subject.{dropped} (delete) done: soft-deleted versions [1]" in applied.out
    assert dropped not in registry.subjects()
    assert dropped in registry.subjects(deleted=True)
    assert registry.versions(outside) == [1]
    assert project.run("plan", "--allow-deletes", "--detailed-exitcode").code == 0


@pytest.mark.matrix
def test_a_subject_an_older_version_refers_to_is_kept_and_said(
    project: Project, registry: Registry
) -> None:
    """A referenced schema moves to another subject: the subject referring to it gets a
    version that refers to the new one, and the old subject is in no spec. Version 1 still
    refers to the old subject, which the registry refuses to delete (42206, soft-deleted
    referrers too): the plan keeps it and says why, the apply succeeds, and the next plan
    has nothing to do."""
    p = project.prefix
    old, new, orders = f"{p}owned.money", f"{p}owned.money-v2", f"{p}owned.orders-value"
    project.write("specs/money.avsc", money(p))
    project.write(
        "specs/order.avsc",
        json.dumps(
            {
                "type": "record",
                "name": "Order",
                "namespace": f"{p}.orders",
                "fields": [{"name": "total", "type": f"{p}.common.Money"}],
            }
        ),
    )

    def declare(money_subject: str) -> None:
        project.specs(
            f"subjects:\n  - {{name: {money_subject}, file: money.avsc}}\n"
            f"  - {{name: {orders}, file: order.avsc}}\n"
        )

    declare(old)
    assert project.run("apply", "--auto-approve").code == 0
    declare(new)
    plan = project.run("plan", "--allow-deletes", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err
    assert f"+ subject.{new}" in plan.out
    assert f"- subject.{old}" not in plan.out
    said = re.search(rf"! subject\.{re.escape(old)}: (.*)", plan.out)
    assert said is not None, plan.out
    assert "kept, because schema id" in said.group(1)
    assert f"({orders} version 1) still refers to it" in said.group(1)

    applied = project.run("apply", "--auto-approve", "--allow-deletes")
    assert applied.code == 0, applied.out + applied.err
    assert registry.latest(orders)["references"] == [
        {"name": f"{p}.common.Money", "subject": new, "version": 1}
    ]
    again = project.run("plan", "--allow-deletes", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert f"! subject.{old}: in the owned subject scope but in no spec: kept" in again.out
    assert registry.versions(old) == [1]


@pytest.mark.matrix
def test_failed_registration_skips_its_dependents(project: Project, registry: Registry) -> None:
    p = project.prefix
    # A JSON Schema kafkaplan accepts and both registries refuse with HTTP 422 (42201):
    # Apicurio cannot tell it is a JSON Schema (no $schema, no properties), AxonOps compiles
    # it and finds nothing where its $ref points.
    project.write("specs/base.json", '{"type": "object", "$ref": "#/definitions/missing"}')
    project.write(
        "specs/user.json",
        '{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", '
        '"properties": {"base": {"$ref": "base.json"}}}',
    )
    project.specs(
        f"subjects:\n  - {{name: {p}base, file: base.json}}\n  - {{name: {p}user, file: user.json}}\n"
    )
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 1
    assert (
        f"✗ subject.{p}base (create) failed: the registry refused the request as invalid (HTTP 422"
        in applied.out
    )
    assert (
        f"- subject.{p}user (create) skipped: depends on subject.{p}base, which did not succeed"
        in applied.out
    )
    assert registry.versions(f"{p}user") == []


@pytest.mark.matrix
def test_unreachable_registry_is_one_line(project: Project) -> None:
    project.env["KAFKAPLAN_SCHEMA_REGISTRY_URL"] = "http://127.0.0.1:1/apis/ccompat/v7"
    subject = one_subject(project, record(ID))
    result = project.run("plan")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(
        f"Error: subject.{subject}: the registry at http://127.0.0.1:1/apis/ccompat/v7 did not answer"
    )
    assert lines[0].endswith("(hint: check schema_registry.url and that the registry is up)")
    assert "Traceback" not in result.out + result.err


@pytest.mark.matrix
def test_registry_behaviours_kafkaplan_works_around(
    project: Project, registry: Registry, registry_kind: str
) -> None:
    """Where the Confluent-compatible APIs of Apicurio and AxonOps differ from Confluent
    Schema Registry or from each other (docs/schemas.md): if one of these starts failing, the
    registry changed and so may the workaround."""
    p = project.prefix
    base, user = f"{p}base", f"{p}user"
    registry.register(base, record(ID))
    status, body = call(f"{registry.url}/config/{quote(base)}?defaultToGlobal=false")
    if registry_kind == "apicurio":
        # Confluent: 404 (40408) for a subject without its own level; Apicurio: the global one.
        assert (status, body) == (200, {"compatibilityLevel": registry.level()})
    else:
        # AxonOps as Confluent; and without defaultToGlobal=false the same 40408, where
        # Confluent would answer the global level.
        assert (status, body["error_code"]) == (404, 40408)
        status, body = call(f"{registry.url}/config/{quote(base)}")
        assert (status, body["error_code"]) == (404, 40408)
    status, body = call(
        f"{registry.url}/compatibility/subjects/{quote(base)}/versions?verbose=true",
        "POST",
        {"schema": record(ID, COUNT)},
    )
    if registry_kind == "apicurio":
        # The compatibility check says no more than false, even with verbose=true.
        assert (status, body) == (200, {"is_compatible": False})
    else:
        # verbose=true gives the reasons, as on Confluent.
        assert status == 200
        assert body["is_compatible"] is False
        assert any("count" in message for message in body["messages"]), body
    registry.register(user, record(ID))
    status, body = call(f"{registry.url}/subjects?subjectPrefix={quote(user)}")
    assert status == 200
    if registry_kind == "apicurio":
        # subjectPrefix is ignored: the list holds subjects outside the prefix.
        assert base in body
    else:
        assert body == [user]
    # As on Confluent: a hard delete needs a soft delete first (Apicurio answers 409,
    # AxonOps and Confluent 404), and a subject another refers to cannot be deleted.
    status, body = call(f"{registry.url}/subjects/{quote(user)}?permanent=true", "DELETE")
    expected = {"apicurio": 409, "axonops": 404}[registry_kind]
    assert (status, body["error_code"]) == (expected, 40405)
    referring = f"{p}referring"
    status, body = call(
        f"{registry.url}/subjects/{quote(referring)}/versions",
        "POST",
        {
            "schema": '{"type": "record", "name": "X", "fields": [{"name": "e", "type": "it.Event"}]}',
            "references": [{"name": "it.Event", "subject": base, "version": 1}],
        },
    )
    assert status == 200, body
    referrer = body["id"]
    status, body = call(f"{registry.url}/subjects/{quote(base)}", "DELETE")
    assert (status, body["error_code"]) == (422, 42206)
    # A soft-deleted referrer: Apicurio still lists it and refuses the delete until it is
    # deleted for good; AxonOps neither lists it nor refuses. The plan asks, and keeps the
    # subject while the registry lists a referrer (test_a_subject_an_older_version_...).
    status, _ = call(f"{registry.url}/subjects/{quote(referring)}", "DELETE")
    assert status == 200
    status, body = call(f"{registry.url}/subjects/{quote(base)}/versions/1/referencedby")
    if registry_kind == "apicurio":
        assert (status, body) == (200, [referrer])
        status, body = call(f"{registry.url}/subjects/{quote(base)}", "DELETE")
        assert (status, body["error_code"]) == (422, 42206)
    else:
        assert (status, body) == (200, [])
        status, body = call(f"{registry.url}/subjects/{quote(base)}", "DELETE")
        assert status == 200, body


@pytest.mark.matrix
def test_a_wrong_registry_path_names_the_url_with_a_hint(
    project: Project, stack: dict[str, str], registry_kind: str
) -> None:
    """Apicurio serves the Confluent API under /apis/ccompat/v7 (AxonOps at the root of its
    port); a URL with a wrong path answers 404 for every path, which is a wrong URL, not a
    missing subject."""
    one_subject(project, record(ID))
    url = stack["KAFKAPLAN_SCHEMA_REGISTRY_URL"]
    wrong = url.replace("/ccompat/v7", "/v7") if registry_kind == "apicurio" else f"{url}/v7"
    assert wrong != url
    project.env["KAFKAPLAN_SCHEMA_REGISTRY_URL"] = wrong
    plan = project.run("plan")
    assert plan.code == 1, plan.out + plan.err
    assert f"the registry answered HTTP 404 for GET {wrong}/" in plan.err, plan.err
    assert ": no such path (hint: check schema_registry.url: it must be the root of the " in (
        plan.err
    )


@pytest.mark.matrix
def test_a_schema_with_references_evolves_though_the_registry_cannot_check_it(
    project: Project, registry: Registry, registry_kind: str
) -> None:
    """Apicurio 3.3's compatibility endpoint answers 422 for any schema with references.
    The plan says so, naming the subject and the answer, and proceeds; the registry checks
    the level when the version is registered. AxonOps checks such a schema: the plan has
    no warning, and an incompatible change is refused at plan time with its reason."""
    p = project.prefix
    orders = project.name("orders")
    subject = f"{orders}-value"

    def order(*extra: dict[str, Any]) -> str:
        fields = [{"name": "id", "type": "string"}, {"name": "total", "type": f"{p}.common.Money"}]
        return json.dumps(
            {
                "type": "record",
                "name": "Order",
                "namespace": f"{p}.orders",
                "fields": [*fields, *extra],
            }
        )

    project.write("specs/schemas/money.avsc", money(p))
    project.write("specs/schemas/order.avsc", order())
    project.specs(
        f"""\
        topics:
          - name: {orders}
            value_schema: schemas/order.avsc
        subjects:
          - name: {p}money
            file: schemas/money.avsc
        """
    )
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    project.write(
        "specs/schemas/order.avsc",
        order({"name": "note", "type": ["null", "string"], "default": None}),
    )
    if registry_kind == "axonops":
        project.write("specs/schemas/order.avsc", order({"name": "count", "type": "int"}))
        refused = project.run("plan")
        assert refused.code == 1, refused.out + refused.err
        assert f"subject.{subject}: specs/schemas/order.avsc: incompatible with the latest" in (
            refused.out + refused.err
        )
        assert "new fields need a default (count has none)" in refused.out + refused.err
        project.write(
            "specs/schemas/order.avsc",
            order({"name": "note", "type": ["null", "string"], "default": None}),
        )
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.out + plan.err
    unchecked = (
        f"subject.{subject}: compatibility could not be checked: the registry cannot check a "
        "schema with references (it answered: the registry refused the request as invalid "
        "(HTTP 422"
    )
    if registry_kind == "apicurio":
        assert unchecked in plan.out, plan.out
        assert "it enforces the subject's level when the version is registered at apply" in plan.out
    else:
        assert "could not be checked" not in plan.out, plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert registry.versions(subject) == [1, 2]
    assert project.run("plan", "--detailed-exitcode").code == 0
