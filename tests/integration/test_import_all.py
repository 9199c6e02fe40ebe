"""kafkaplan import of topics, ACLs and subjects from a realistic estate built with plain
confluent-kafka and plain HTTP (not kafkaplan), then a plan that must show no changes.

Everything is named after the test's unique prefix: topics, ACL principals, groups,
transactional ids and subjects. The bindings it creates are deleted again, exactly; its
subjects are purged; the registry's global level is never changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from tests.integration.conftest import Project, Registry, call, eventually, quote, revoke
from tests.integration.conftest import grant as grant_topics

pytestmark = pytest.mark.integration

MakeProject = Callable[..., Project]
Op = AclOperation
LIT, PRE = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
TOPIC, GROUP, TXN, CLUSTER = (
    ResourceType.TOPIC,
    ResourceType.GROUP,
    ResourceType.TRANSACTIONAL_ID,
    ResourceType.BROKER,
)


@pytest.fixture(scope="session")
def registry(stack: dict[str, str]) -> Registry:
    return Registry(stack["KAFKAPLAN_SCHEMA_REGISTRY_URL"])


def grant(
    principal: str,
    kind: ResourceType,
    name: str,
    ops: list[AclOperation],
    pattern: ResourcePatternType = LIT,
    permission: AclPermissionType = ALLOW,
    host: str = "*",
) -> list[AclBinding]:
    return [AclBinding(kind, name, pattern, principal, host, op, permission) for op in ops]


def register(registry: Registry, subject: str, body: dict[str, Any]) -> int:
    status, answer = call(f"{registry.url}/subjects/{quote(subject)}/versions", "POST", body)
    assert status == 200, answer
    return int(answer["id"])


def set_level(registry: Registry, subject: str, level: str) -> None:
    status, answer = call(
        f"{registry.url}/config/{quote(subject)}", "PUT", {"compatibility": level}
    )
    assert status == 200, answer


def avro(name: str, namespace: str, fields: list[dict[str, Any]]) -> str:
    return json.dumps({"type": "record", "name": name, "namespace": namespace, "fields": fields})


@pytest.mark.matrix
def test_import_round_trip_of_topics_acls_and_subjects(
    make_project: MakeProject,
    admin: AdminClient,
    registry: Registry,
    out_of_band: Callable[[list[AclBinding]], None],
) -> None:
    project = make_project()
    p = project.prefix
    users = {name: f"User:{p}{name}" for name in ("billing", "checkout", "gateway", "fraud")}
    users |= {name: f"User:{p}{name}" for name in ("ops", "odd", "near", "connect")}
    with (project.root / "kafkaplan.yaml").open("a") as file:
        owned = ", ".join(v for k, v in sorted(users.items()) if k != "connect")
        file.write(
            f"schemas:\n  owned_subjects: ['{p}']\n"
            "acls:\n  ownership:\n"
            f"    - team: it\n      principals: [{owned}]\n"
            f"    - team: platform\n      external: true\n      principals: [{users['connect']}]\n"
        )
    global_level = registry.level()

    # Topics: delete and compact policies, many configs.
    orders, snapshot = f"{p}orders.created.v1", f"{p}orders.snapshot.v1"
    payments, audit, alerts = (
        f"{p}payments.settled.v1",
        f"{p}audit.events.v1",
        f"{p}fraud.alerts.v1",
    )
    topics = [
        NewTopic(
            orders,
            3,
            1,
            config={
                "retention.ms": "604800000",
                "compression.type": "zstd",
                "min.insync.replicas": "1",
                "max.message.bytes": "2097152",
            },
        ),
        NewTopic(
            snapshot,
            2,
            1,
            config={
                "cleanup.policy": "compact",
                "min.compaction.lag.ms": "3600000",
                "delete.retention.ms": "86400000",
                "segment.bytes": "268435456",
            },
        ),
        NewTopic(
            payments,
            1,
            1,
            config={
                "retention.ms": "2592000000",
                "retention.bytes": "10737418240",
                "unclean.leader.election.enable": "false",
            },
        ),
        NewTopic(
            audit,
            1,
            1,
            config={
                "cleanup.policy": "compact,delete",
                "message.timestamp.type": "LogAppendTime",
                "min.cleanable.dirty.ratio": "0.3",
            },
        ),
        NewTopic(alerts, 1, 1),
    ]
    for future in admin.create_topics(topics).values():
        future.result()

    # ACLs: role-shaped, near a role, prefixed and literal, a DENY, a specific host.
    rw, wd = [Op.READ, Op.DESCRIBE], [Op.WRITE, Op.DESCRIBE]
    internal = [Op.READ, Op.WRITE, Op.CREATE, Op.DELETE, Op.DESCRIBE, Op.DESCRIBE_CONFIGS]
    out_of_band(
        [
            *grant(users["billing"], TOPIC, orders, rw),
            *grant(users["billing"], TOPIC, payments, rw),
            *grant(users["billing"], GROUP, f"{p}billing", [Op.READ]),
            *grant(users["checkout"], TOPIC, f"{p}orders.", wd, PRE),
            *grant(users["gateway"], TOPIC, payments, wd),
            *grant(users["gateway"], TXN, f"{p}gateway-", wd, PRE),
            *grant(users["fraud"], TOPIC, orders, rw),
            *grant(users["fraud"], TOPIC, alerts, wd),
            *grant(users["fraud"], TOPIC, f"{p}fraud-", internal, PRE),
            *grant(users["fraud"], GROUP, f"{p}fraud", [Op.READ]),
            *grant(users["fraud"], TXN, f"{p}fraud-", wd, PRE),
            *grant(users["ops"], TOPIC, f"{p}orders.", [Op.DESCRIBE, Op.DESCRIBE_CONFIGS], PRE),
            *grant(users["ops"], TOPIC, f"{p}payments.", [Op.DESCRIBE, Op.DESCRIBE_CONFIGS], PRE),
            *grant(users["ops"], CLUSTER, "kafka-cluster", [Op.DESCRIBE]),
            *grant(users["odd"], TOPIC, f"{p}payments.", [Op.WRITE], PRE, DENY),
            *grant(users["odd"], TOPIC, audit, [Op.READ], host="10.1.2.3"),
            # A consumer without DESCRIBE on its topic: not a role.
            *grant(users["near"], TOPIC, audit, [Op.READ]),
            *grant(users["near"], GROUP, f"{p}near", [Op.READ]),
            *grant(users["connect"], TOPIC, orders, [Op.WRITE]),
        ]
    )

    # Subjects: Avro with a reference to an older and to the latest version, JSON Schema
    # and Protobuf with references, subject-level levels.
    money = f"{p}common.Money"
    money_v1 = avro("Money", f"{p}.common", [{"name": "cents", "type": "long"}])
    currency = {"name": "currency", "type": "string", "default": "EUR"}
    money_v2 = avro("Money", f"{p}.common", [{"name": "cents", "type": "long"}, currency])
    register(registry, money, {"schema": money_v1})
    register(registry, money, {"schema": money_v2})
    total = {"name": "total", "type": f"{p}.common.Money"}
    ref = {"name": f"{p}.common.Money", "subject": money}
    register(
        registry,
        f"{orders}-value",
        {
            "schema": avro("Order", f"{p}.orders", [{"name": "id", "type": "string"}, total]),
            "references": [{**ref, "version": 1}],
        },
    )
    register(
        registry,
        f"{snapshot}-key",
        {
            "schema": avro("OrderKey", f"{p}.orders", [total]),
            "references": [{**ref, "version": 2}],
        },
    )
    draft7 = "http://json-schema.org/draft-07/schema#"
    register(
        registry,
        f"{p}amount",
        {
            "schemaType": "JSON",
            "schema": json.dumps(
                {"$schema": draft7, "type": "object", "properties": {"cents": {"type": "integer"}}}
            ),
        },
    )
    register(
        registry,
        f"{payments}-value",
        {
            "schemaType": "JSON",
            "schema": json.dumps(
                {
                    "$schema": draft7,
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "amount": {"$ref": "amount.json"}},
                    "required": ["id"],
                }
            ),
            "references": [{"name": "amount.json", "subject": f"{p}amount", "version": 1}],
        },
    )
    register(
        registry,
        f"{p}address",
        {
            "schemaType": "PROTOBUF",
            "schema": 'syntax = "proto3";\npackage acme;\n\nmessage Address { string city = 1; }\n',
        },
    )
    customers = f"{p}customers.profile.v1"  # no such topic: a subject of its own
    register(
        registry,
        f"{customers}-value",
        {
            "schemaType": "PROTOBUF",
            "schema": 'syntax = "proto3";\npackage acme.customers;\nimport "acme/address.proto";\n\n'
            "message Customer {\n  string id = 1;\n  acme.Address address = 2;\n}\n",
            "references": [{"name": "acme/address.proto", "subject": f"{p}address", "version": 1}],
        },
    )
    set_level(registry, money, "FULL_TRANSITIVE")
    set_level(registry, f"{payments}-value", "FORWARD")
    set_level(registry, f"{p}amount", global_level)  # the same as global: none of its own

    try:
        imported = project.root / "specs" / "imported"

        def imports_everything() -> str:
            result = project.run("import", "--out", str(imported), "--prefix", p, "--force")
            assert result.code == 0, result.err
            assert (
                "Imported 5 topics, 33 ACL bindings (as 10 entries), 7 subjects into 22 file(s)."
                in result.out
            ), result.out + result.err
            return result.out

        out = eventually(imports_everything)  # bindings propagate through the metadata log
        assert f"Note: the registry's global compatibility is {global_level}" in out
        files = sorted(
            str(path.relative_to(imported)) for path in imported.rglob("*") if path.is_file()
        )
        assert files == sorted(
            [
                f"acls/{p}billing.yaml",
                f"acls/{p}checkout.yaml",
                f"acls/{p}fraud.yaml",
                f"acls/{p}gateway.yaml",
                f"acls/{p}near.yaml",
                f"acls/{p}odd.yaml",
                f"acls/{p}ops.yaml",
                f"{p}address.yaml",
                f"{p}amount.yaml",
                f"{p}audit.yaml",
                f"{p}common.yaml",
                f"{p}customers.yaml",
                f"{p}fraud.yaml",
                f"{p}orders.yaml",
                f"{p}payments.yaml",
                f"schemas/{p}address.proto",
                f"schemas/{p}amount.json",
                f"schemas/{p}common.Money.avsc",
                f"schemas/{p}customers.profile.v1-value.proto",
                f"schemas/{p}orders.created.v1-value.avsc",
                f"schemas/{p}orders.snapshot.v1-key.avsc",
                f"schemas/{p}payments.settled.v1-value.json",
            ]
        )

        def spec(name: str) -> Any:
            return yaml.safe_load((imported / name).read_text())

        assert spec(f"acls/{p}billing.yaml")["acls"] == [
            {
                "principal": users["billing"],
                "role": "consumer",
                "topics": [orders, payments],
                "group": f"{p}billing",
            }
        ]
        assert spec(f"acls/{p}fraud.yaml")["acls"] == [
            {
                "principal": users["fraud"],
                "role": "streams",
                "application_id": f"{p}fraud",
                "input_topics": [orders],
                "output_topics": [alerts],
                "exactly_once": True,
            }
        ]
        assert spec(f"acls/{p}gateway.yaml")["acls"][0]["role"] == "transactional-producer"
        assert spec(f"acls/{p}checkout.yaml")["acls"][0]["role"] == "producer"
        assert spec(f"acls/{p}odd.yaml")["acls"] == [
            {
                "principal": users["odd"],
                "resource_type": "topic",
                "names": audit,
                "operations": "READ",
                "hosts": "10.1.2.3",
            },
            {
                "principal": users["odd"],
                "resource_type": "topic",
                "pattern_type": "prefixed",
                "names": f"{p}payments.",
                "operations": "WRITE",
                "permission": "deny",
            },
        ]
        assert all("role" not in entry for entry in spec(f"acls/{p}near.yaml")["acls"])
        assert "connect" not in "".join(files), "bindings in an external scope are not imported"
        order_topics = {t["name"]: t for t in spec(f"{p}orders.yaml")["topics"]}
        assert order_topics[orders]["value_schema"]["references"] == [
            {"name": f"{p}.common.Money", "subject": money, "version": 1}
        ]
        assert order_topics[snapshot]["key_schema"]["references"][0]["version"] == "latest"
        assert order_topics[orders]["configs"]["max.message.bytes"] == "2MiB"
        assert spec(f"{p}payments.yaml")["topics"][0]["value_schema"]["compatibility"] == "FORWARD"
        assert spec(f"{p}common.yaml")["subjects"] == [
            {"name": money, "file": f"schemas/{money}.avsc", "compatibility": "FULL_TRANSITIVE"}
        ]
        assert spec(f"{p}customers.yaml")["subjects"][0]["topic"] == customers
        assert spec(f"{p}amount.yaml")["subjects"] == [
            {"name": f"{p}amount", "file": f"schemas/{p}amount.json"}
        ]

        plan = project.run("plan", "--detailed-exitcode")
        assert plan.code == 0, plan.out + plan.err
        assert "No changes." in plan.out

        # The same estate gives the same files, byte for byte.
        before = {f: (imported / f).read_bytes() for f in files}
        again = project.run("import", "--out", str(imported), "--prefix", p, "--force")
        assert again.code == 0
        assert {f: (imported / f).read_bytes() for f in files} == before
    finally:
        registry.purge(p)
        assert registry.level() == global_level


def test_import_by_a_principal_that_may_not_read_acls(
    make_project: MakeProject, admin: AdminClient
) -> None:
    """alice may describe the prefix's topics and their configs but not the cluster: the
    default import takes the topics and leaves ACLs out, naming the permission; asked for
    ACLs explicitly, it fails."""

    project = make_project(username="alice", password_env="KAFKAPLAN_STACK_PASSWORD_ALICE")
    project.env["KAFKAPLAN_STACK_PASSWORD_ALICE"] = "alice-secret"
    topic = project.name("orders")
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result()
    filters = grant_topics(admin, "User:alice", project.prefix, Op.DESCRIBE, Op.DESCRIBE_CONFIGS)
    try:
        out = project.root / "specs" / "imported"

        def imports_topics_only() -> None:
            result = project.run("import", "--out", str(out), "--prefix", project.prefix, "--force")
            assert result.code == 0, result.err
            assert "Imported 1 topic, 0 subjects into 1 file(s)." in result.out
            assert (
                "skipped ACLs: not imported: permission denied (CLUSTER_AUTHORIZATION_FAILED) "
                "reading ACLs (kafkaplan needs DESCRIBE on the cluster to read ACLs)"
            ) in result.err

        eventually(imports_topics_only)
        refused = project.run("import", "--out", str(project.root / "other"), "--resources", "acls")
        assert refused.code == 1
        assert "needs DESCRIBE on the cluster" in refused.err
    finally:
        revoke(admin, filters)


def test_an_estate_of_every_kind_imports_to_specs_that_plan_no_change(
    make_project: MakeProject, admin: AdminClient
) -> None:
    """Topics (with a class and a dead-letter companion), ACL roles, subjects, SCRAM users,
    group configs and client quotas, applied by kafkaplan; imported back with every resource
    type (the default); the imported specs alone plan no change."""
    project = make_project()
    p = project.prefix
    orders, billing, svc = project.name("orders"), f"User:{p}billing", f"{p}svc"
    with (project.root / "kafkaplan.yaml").open("a") as file:
        file.write(
            f"schemas:\n  owned_subjects: ['{p}']\n"
            f"acls:\n  ownership:\n    - team: it\n      principals: [{billing}]\n"
            f"owned_user_prefixes: [{p}]\n"
            "quotas:\n  ownership:\n    - team: it\n      entity_types: [user]\n"
            f"      prefixes: [{p}]\n"
            "topic_classes:\n  event:\n    configs: {retention.ms: 3d, compression.type: zstd}\n"
        )
    project.write(
        "specs/schemas/order.avsc",
        json.dumps({"type": "record", "name": "Order", "namespace": f"{p}.orders", "fields": []}),
    )
    project.env = {"SVC_PASSWORD": f"pw-{p}"}
    project.specs(
        f"""\
        topics:
          - name: {orders}
            class: event
            partitions: 2
            value_schema: schemas/order.avsc
            dead_letter: true
        acls:
          - principal: {billing}
            role: consumer
            topics: [{orders}]
            group: {p}billing
        users:
          - name: {svc}
            mechanism: SCRAM-SHA-512
            iterations: 8192
            password_env: SVC_PASSWORD
        groups:
          - id: {p}billing
            configs: {{consumer.session.timeout.ms: 50s}}
        quotas:
          - user: {svc}
            producer_byte_rate: 1MiB/s
        """
    )
    try:
        applied = project.run("apply", "--auto-approve")
        assert applied.code == 0, applied.out + applied.err
        imported = project.root / "imported"

        def imports_every_kind() -> str:
            result = project.run("import", "--out", str(imported), "--prefix", p, "--force")
            assert result.code == 0, result.out + result.err
            for kind in ("2 topics", "1 subject", "1 user", "1 group", "1 quota entity"):
                assert kind in result.out, result.out
            return result.out

        eventually(imports_every_kind)
        for spec in (project.root / "specs").glob("*.yaml"):
            spec.unlink()
        for path in imported.rglob("*"):
            if path.is_file():
                target = project.root / "specs" / path.relative_to(imported)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(path.read_text())
        fmt = project.run("fmt", "--check")
        assert fmt.code == 0, fmt.out + fmt.err
        project.env = {}  # an unchanged user needs no password
        # With deletes allowed, whatever the import missed in an owned scope would be a
        # planned deletion.
        clean = project.run("plan", "--allow-deletes", "--detailed-exitcode")
        assert clean.code == 0, clean.out + clean.err
        assert "No changes." in clean.out
    finally:
        # Nothing declared any more: every owned resource of the test is deleted (the group
        # config has no owner: its keys go back to the broker's defaults).
        for spec in (project.root / "specs").rglob("*.yaml"):
            spec.unlink()
        project.specs(
            f"groups:\n  - id: {p}billing\n    configs: {{consumer.session.timeout.ms: null}}\n"
        )
        removed = project.run("apply", "--auto-approve", "--allow-deletes")
        assert removed.code == 0, removed.out + removed.err
        left = project.run("plan", "--allow-deletes", "--detailed-exitcode")
        assert left.code == 0, left.out + left.err
