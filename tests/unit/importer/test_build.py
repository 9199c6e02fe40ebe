"""kafkaplan import of ACLs and subjects: role collapse, selection, schema files, and the
round trip (import, then plan: no changes) against the in-memory cluster and registry."""

from __future__ import annotations

import itertools
import json
import random
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from kafkaplan import commands
from kafkaplan.errors import SpecError
from kafkaplan.importer.acls import (
    Entry,
    _raw_entry,
    collapse,
    expand,
    principal_file,
    select,
    writable,
)
from kafkaplan.importer.build import (
    ImportResult,
    build_import,
    read_for_import,
    read_subjects_for_import,
)
from kafkaplan.importer.subjects import pretty, topic_of
from kafkaplan.live.read import read_live
from kafkaplan.live.registry import SchemaPayload, SchemaReference
from kafkaplan.plan.compute import compute_plan
from kafkaplan.spec import load, source
from kafkaplan.spec.acls import (
    VALID_OPERATIONS,
    Binding,
    DesiredAcls,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    Scope,
)
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.fmt import format_spec
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from tests.conftest import PROJECT, MakeProject
from tests.conftest import run_cli as run
from tests.fakes import FakeTopic, MemoryCluster, MemoryRegistry

T, G, C, X = (
    ResourceType.TOPIC,
    ResourceType.GROUP,
    ResourceType.CLUSTER,
    ResourceType.TRANSACTIONAL_ID,
)
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
ALLOW, DENY = Permission.ALLOW, Permission.DENY
Op = Operation


def dumped(content: dict[str, Any]) -> str:
    """The text of a spec file the importer writes for ``content``."""
    result = ImportResult()
    result.add_spec("specs.yaml", "", content)
    return result.files["specs.yaml"]


def expand_all(entries: Iterable[Entry]) -> set[Binding]:
    """Every binding the entries expand to."""
    found: set[Binding] = set()
    for entry in entries:
        found |= expand(entry)[0]
    return found


def raw_entry(binding: Binding) -> Entry:
    """The compact raw entry of one binding."""
    return _raw_entry(
        binding.principal,
        binding.resource_type,
        binding.pattern_type,
        binding.permission,
        [binding.resource_name],
        [binding.operation],
        [binding.host],
    )


def b(
    principal: str,
    kind: ResourceType,
    name: str,
    op: Operation,
    pattern: PatternType = LIT,
    permission: Permission = ALLOW,
    host: str = "*",
) -> Binding:
    return Binding(principal, kind, pattern, name, op, permission, host)


def bindings_of(*entries: dict[str, Any]) -> set[Binding]:
    found: set[Binding] = set()
    for entry in entries:
        expansion, problems = expand(entry)
        assert problems == []
        found |= expansion
    return found


# ---------------------------------------------------------------------------------------
# Role collapse
# ---------------------------------------------------------------------------------------

ROLES: list[dict[str, Any]] = [
    {
        "principal": "User:billing",
        "role": "consumer",
        "topics": ["orders.cancelled.v1", "orders.created.v1"],
        "group": "billing",
    },
    {"principal": "User:checkout", "role": "producer", "topic_prefixes": ["orders."]},
    {
        "principal": "User:fraud",
        "role": "streams",
        "application_id": "fraud",
        "input_topics": ["orders.created.v1"],
        "input_prefixes": ["payments."],
        "output_topics": ["fraud.alerts.v1"],
        "exactly_once": True,
    },
    {
        "principal": "User:gateway",
        "role": "transactional-producer",
        "topics": ["payments.authorized.v1"],
        "transactional_id_prefix": "gateway-",
    },
    {
        "principal": "User:recon",
        "role": "consumer",
        "topic_prefixes": ["payments."],
        "group_prefix": "recon-",
    },
    {
        "principal": "User:scorer",
        "role": "streams",
        "application_id": "scorer",
        "input_topics": ["orders.created.v1"],
    },
]


def test_role_shaped_bindings_collapse_back_into_their_roles() -> None:
    assert collapse(bindings_of(*ROLES)) == ROLES


def test_a_role_with_one_binding_missing_is_written_raw() -> None:
    consumer = bindings_of(ROLES[0])
    no_group = consumer - {b("User:billing", G, "billing", Op.READ)}
    assert collapse(no_group) == [
        {
            "principal": "User:billing",
            "resource_type": "topic",
            "names": ["orders.cancelled.v1", "orders.created.v1"],
            "operations": ["READ", "DESCRIBE"],
        }
    ]
    # One topic without DESCRIBE: the other still makes a consumer, the READ stays raw.
    partial = consumer - {b("User:billing", T, "orders.created.v1", Op.DESCRIBE)}
    assert collapse(partial) == [
        {
            "principal": "User:billing",
            "role": "consumer",
            "topics": ["orders.cancelled.v1"],
            "group": "billing",
        },
        {
            "principal": "User:billing",
            "resource_type": "topic",
            "names": "orders.created.v1",
            "operations": "READ",
        },
    ]
    # A streams application without its group is a producer plus raw bindings.
    streams = bindings_of(ROLES[5]) - {b("User:scorer", G, "scorer", Op.READ)}
    entries = collapse(streams)
    assert all(entry.get("role") != "streams" for entry in entries)
    assert expand_all(entries) == streams


def test_deny_hosts_and_extra_operations_are_raw_and_compact() -> None:
    p = "User:ops"
    live = {
        *bindings_of({"principal": p, "role": "consumer", "topics": ["a.b.v1"], "group": "ops"}),
        b(p, T, "a.b.v1", Op.DESCRIBE_CONFIGS),
        b(p, T, "secret.", Op.READ, PRE, DENY),
        b(p, T, "hidden.", Op.READ, PRE, DENY),
        b(p, T, "a.b.v1", Op.WRITE, host="10.0.0.1"),
        b(p, T, "a.b.v1", Op.DESCRIBE, host="10.0.0.1"),
        b(p, T, "c.d.v1", Op.WRITE, host="10.0.0.1"),
        b(p, T, "c.d.v1", Op.WRITE, host="10.0.0.2"),
        b(p, C, "kafka-cluster", Op.DESCRIBE),
    }
    assert collapse(live) == [
        {"principal": p, "role": "consumer", "topics": ["a.b.v1"], "group": "ops"},
        {
            "principal": p,
            "resource_type": "topic",
            "names": "a.b.v1",
            "operations": ["WRITE", "DESCRIBE"],
            "hosts": "10.0.0.1",
        },
        {
            "principal": p,
            "resource_type": "topic",
            "names": "a.b.v1",
            "operations": "DESCRIBE_CONFIGS",
        },
        {
            "principal": p,
            "resource_type": "topic",
            "names": "c.d.v1",
            "operations": "WRITE",
            "hosts": ["10.0.0.1", "10.0.0.2"],
        },
        {
            "principal": p,
            "resource_type": "topic",
            "pattern_type": "prefixed",
            "names": ["hidden.", "secret."],
            "operations": "READ",
            "permission": "deny",
        },
        {"principal": p, "resource_type": "cluster", "operations": "DESCRIBE"},
    ]


def test_collapse_is_deterministic_and_the_yaml_reads_back_the_same() -> None:
    live = sorted(bindings_of(*ROLES))
    first = collapse(live)
    random.Random(7).shuffle(live)
    assert collapse(live) == first
    text = dumped({"acls": first})
    assert "operations: [DESCRIBE, DESCRIBE_CONFIGS]" not in text
    assert "topics: [orders.cancelled.v1, orders.created.v1]" in text
    assert yaml.safe_load(text) == {"acls": first}


PRINCIPALS = ["User:app", "User:other", "Group:team"]
TOPICS = ["orders.a.v1", "orders.b.v1", "pay.c.v1", "*"]
PREFIXES = ["orders.", "pay.", "app-", "other-"]
GROUPS = ["app", "other", "grp"]
HOSTS = ["*", "10.0.0.1", "0:0:0:0:0:0:0:1"]


@st.composite
def role_entries(draw: st.DrawFn) -> dict[str, Any]:
    principal = draw(st.sampled_from(PRINCIPALS))
    role = draw(st.sampled_from(["consumer", "producer", "transactional-producer", "streams"]))
    topics = draw(st.lists(st.sampled_from(TOPICS), max_size=2, unique=True))
    prefixes = draw(st.lists(st.sampled_from(PREFIXES[:2]), max_size=2, unique=True))
    if not topics and not prefixes:
        topics = [TOPICS[0]]
    entry: dict[str, Any] = {"principal": principal, "role": role}
    if role == "streams":
        entry["application_id"] = draw(st.sampled_from(["app", "other"]))
        entry["input_topics"], entry["input_prefixes"] = topics, prefixes
        entry["output_topics"] = draw(st.lists(st.sampled_from(TOPICS), max_size=2, unique=True))
        entry["exactly_once"] = draw(st.booleans())
        return entry
    entry["topics"], entry["topic_prefixes"] = topics, prefixes
    anchor = draw(st.sampled_from(GROUPS))
    prefixed = draw(st.booleans())
    if role == "consumer":
        entry["group_prefix" if prefixed else "group"] = anchor
    elif role == "transactional-producer":
        entry["transactional_id_prefix" if prefixed else "transactional_id"] = anchor
    return entry


@st.composite
def raw_bindings(draw: st.DrawFn) -> Binding:
    kind = draw(st.sampled_from([T, G, C, X]))
    pattern = LIT if kind is C else draw(st.sampled_from([LIT, PRE]))
    if kind is C:
        name = "kafka-cluster"
    elif kind is T:
        name = draw(st.sampled_from(TOPICS[:3] if pattern is PRE else TOPICS))
        name = draw(st.sampled_from(PREFIXES)) if pattern is PRE else name
    else:
        name = draw(st.sampled_from(GROUPS))
    operations = sorted(VALID_OPERATIONS[kind])
    return Binding(
        draw(st.sampled_from(PRINCIPALS)),
        kind,
        pattern,
        name,
        draw(st.sampled_from(operations)),
        draw(st.sampled_from([ALLOW, ALLOW, DENY])),
        draw(st.sampled_from(HOSTS)),
    )


@st.composite
def binding_sets(draw: st.DrawFn) -> set[Binding]:
    found = bindings_of(*draw(st.lists(role_entries(), max_size=4)))
    found |= set(draw(st.lists(raw_bindings(), max_size=8)))
    drop = draw(st.booleans())
    if found and drop:  # near a role: one binding missing
        found.discard(draw(st.sampled_from(sorted(found))))
    return found


@settings(max_examples=400, deadline=None)
@given(binding_sets(), st.randoms(use_true_random=False))
def test_expanding_the_imported_entries_gives_exactly_the_live_bindings(
    live: set[Binding], shuffle: random.Random
) -> None:
    entries = collapse(live)
    for entry in entries:
        assert expand(entry)[1] == [], entry
    assert expand_all(entries) == live
    shuffled = list(live)
    shuffle.shuffle(shuffled)
    assert collapse(shuffled) == entries
    assert yaml.safe_load(dumped({"acls": entries})) == {"acls": entries}


def test_selection_by_prefix_and_external_scopes() -> None:
    live = [
        b("User:billing", T, "orders.created.v1", Op.READ),
        b("User:billing", G, "billing", Op.READ),
        b("User:search", T, "search.docs.v1", Op.READ),
        b("User:orders-app", C, "kafka-cluster", Op.DESCRIBE),
        b("User:connect", T, "orders.created.v1", Op.WRITE),
    ]
    external = Scope("data-platform", principals=frozenset({"User:connect"}), external=True)
    assert select(live, ["orders."], [external]) == [
        b("User:billing", T, "orders.created.v1", Op.READ)
    ]
    assert select(live, ["orders"], [external]) == sorted([live[0], live[3]]), (
        "the principal User:orders-app's name starts with the prefix"
    )
    assert select(live, ["billing"], []) == sorted(live[:2])
    assert select(live, [], [external]) == sorted(live[:4])


def test_bindings_the_spec_format_cannot_hold_are_skipped() -> None:
    assert writable(b("User:a", T, "orders.x", Op.READ)) is None
    assert "not an operation on a group" in (writable(b("User:a", G, "g", Op.WRITE)) or "")
    assert "not an IP address" in (writable(b("User:a", T, "t", Op.READ, host="gw")) or "")
    cluster = MemoryCluster(
        acls={b("User:a", T, "t", Op.READ, host="gw"), b("User:a", T, "t", Op.READ)}
    )
    ignore = DesiredState(topics={})
    result = build_import(read_for_import(cluster, ignore, (), acls=True), ignore)
    assert result.counts["acl_bindings"] == 1
    assert result.skipped == [
        "acl.User:a.topic.literal.t.READ.ALLOW.gw: host 'gw' is not an IP address; Kafka "
        "matches ACL hosts on the client's IP"
    ]


def test_writable_agrees_with_the_spec_checks() -> None:
    """Every combination of valid and invalid parts: ``writable`` (which checks each part on
    its own) says what expanding the whole binding as a raw entry says."""
    for parts in itertools.product(
        ["User:a", "user:a", "User: a"],
        list(ResourceType),
        [LIT, PRE],
        ["orders.a.v1", "*", "a b", "kafka-cluster", ""],
        list(Operation),
        [ALLOW],
        ["*", "10.0.0.1", "gw"],
    ):
        binding = Binding(*parts)
        _, problems = expand(raw_entry(binding))
        assert (writable(binding) is None) == (not problems), binding


def test_principal_files() -> None:
    assert principal_file("User:billing") == "acls/billing.yaml"
    assert principal_file("User:CN=App,O=Acme") == "acls/cn_app_o_acme.yaml"
    assert principal_file("Group:Ops") == "acls/group-ops.yaml"
    assert principal_file("User:*") == "acls/every-user.yaml"


# ---------------------------------------------------------------------------------------
# Subjects
# ---------------------------------------------------------------------------------------


def test_topic_of_and_pretty() -> None:
    assert topic_of("orders.created.v1-value") == ("orders.created.v1", "value")
    assert topic_of("orders.id-key") == ("orders.id", "key")
    assert topic_of("com.acme.Money") is None
    assert topic_of("bad topic-value") is None
    assert pretty("AVRO", '{"type":"record","name":"A","fields":[]}') == (
        '{\n  "type": "record",\n  "name": "A",\n  "fields": []\n}\n'
    )
    assert pretty("PROTOBUF", 'syntax = "proto3";') == 'syntax = "proto3";\n'


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6))
def test_pretty_json_reads_back_the_same(document: dict[str, Any]) -> None:
    text = pretty("JSON", json.dumps(document))
    assert json.loads(text) == document
    assert text == pretty("JSON", text), "stable"


MONEY_1 = json.dumps(
    {
        "type": "record",
        "name": "Money",
        "namespace": "com.acme",
        "fields": [{"name": "cents", "type": "long"}],
    }
)
MONEY_2 = json.dumps(
    {
        "type": "record",
        "name": "Money",
        "namespace": "com.acme",
        "fields": [
            {"name": "cents", "type": "long"},
            {"name": "currency", "type": "string", "default": "EUR"},
        ],
    }
)


def order(name: str) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "com.acme",
            "fields": [
                {"name": "id", "type": "string"},
                {"name": "total", "type": "com.acme.Money"},
            ],
        }
    )


def estate() -> tuple[MemoryCluster, MemoryRegistry]:
    cluster = MemoryCluster(
        brokers=1,
        topics={
            "orders.created.v1": FakeTopic(3, 1, {"retention.ms": "604800000"}),
            "orders.snapshot.v1": FakeTopic(2, 1, {"cleanup.policy": "compact"}),
            "search.docs.v1": FakeTopic(1, 1),
        },
        acls=bindings_of(*ROLES)
        | {
            b("User:ops", T, "orders.", Op.DESCRIBE, PRE),
            b("User:ops", T, "orders.", Op.ALTER, PRE, DENY, "10.1.2.3"),
            b("User:connect", T, "orders.created.v1", Op.READ),
        },
    )
    registry = MemoryRegistry(reports_global_for_subjects=True)
    money = SchemaReference("com.acme.Money", "orders.common.Money", 1)
    registry.register("orders.common.Money", SchemaPayload("AVRO", MONEY_1))
    registry.register("orders.common.Money", SchemaPayload("AVRO", MONEY_2))
    # Refers to an older version of Money: pinned. The snapshot's key refers to the latest.
    registry.register("orders.created.v1-value", SchemaPayload("AVRO", order("Order"), (money,)))
    registry.register(
        "orders.snapshot.v1-key",
        SchemaPayload("AVRO", order("Key"), (replace(money, version=2),)),
    )
    registry.register(
        "orders.legacy-value",
        SchemaPayload(
            "JSON",
            '{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"id": {"type": "string"}}}',
        ),
    )
    registry.register(
        "orders.proto.v1-value",
        SchemaPayload(
            "PROTOBUF", 'syntax = "proto3";\npackage acme;\nmessage P { string id = 1; }\n'
        ),
    )
    registry.set_compatibility("orders.common.Money", "FULL_TRANSITIVE")
    registry.set_compatibility("orders.created.v1-value", "BACKWARD")  # = global: none of its own
    registry.register("search.docs.v1-value", SchemaPayload("AVRO", '"string"'))
    return cluster, registry


ROUND_TRIP_PROJECT = PROJECT.replace(
    "      bootstrap_servers: 127.0.0.1:1\n",
    "      bootstrap_servers: 127.0.0.1:1\n    schema_registry:\n      url: http://127.0.0.1:1\n",
) + textwrap.dedent(
    """\
        schemas:
          owned_subjects: [orders.]
        acls:
          ownership:
            - team: commerce
              principals: [User:billing, User:checkout, User:fraud, User:gateway, User:ops]
            - team: streams
              principals: [User:recon, User:scorer]
            - team: platform
              external: true
              principals: [User:connect]
        """
)


def imported(prefixes: tuple[str, ...] = ("orders.",)) -> tuple[Any, MemoryCluster, MemoryRegistry]:
    cluster, registry = estate()
    project = load_project_text(ROUND_TRIP_PROJECT)
    ignore = DesiredState(
        topics={},
        acls=DesiredAcls(scopes=tuple(Scope.of(s) for s in project.model.acls.ownership)),
    )
    live = read_for_import(cluster, ignore, prefixes, acls=True)
    subjects, levels = read_subjects_for_import(registry, prefixes)
    live = replace(live, subjects=subjects, registry=levels)
    return build_import(live, ignore, prefixes=prefixes), cluster, registry


def load_project_text(text: str) -> Any:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    (folder / "kafkaplan.yaml").write_text(text)
    return load_project(folder / "kafkaplan.yaml")


def test_import_reads_version_lists_only_of_subjects_pinned_at_an_older_version() -> None:
    _cluster, registry = estate()
    subjects, _ = read_subjects_for_import(registry, ("orders.",))
    listed = [call for call in registry.calls if call.startswith("versions:")]
    # orders.created.v1-value pins version 1 of Money (latest 2): only Money's list is read.
    assert listed == ["versions:orders.common.Money"]
    assert subjects["orders.common.Money"].versions == (1, 2)
    assert all(
        s.versions == (s.version,) for n, s in subjects.items() if n != "orders.common.Money"
    )
    result, _, _ = imported()
    assert not [s for s in result.skipped if "no longer lists" in s]


def test_a_reference_to_a_version_the_registry_no_longer_lists_is_reported() -> None:
    cluster, registry = estate()
    live = read_for_import(cluster, DesiredState(topics={}), ("orders.",), acls=False)
    subjects, levels = read_subjects_for_import(registry, ("orders.",))
    money = subjects["orders.common.Money"]
    # As if version 1 had been deleted after orders.created.v1-value referred to it.
    subjects["orders.common.Money"] = replace(money, versions=(2,))
    live = replace(live, subjects=subjects, registry=levels)
    result = build_import(live, DesiredState(topics={}), prefixes=("orders.",))
    assert [s for s in result.skipped if "no longer lists" in s] == [
        "subject.orders.created.v1-value: reference 'com.acme.Money' points at version 1 of "
        "'orders.common.Money', which the registry no longer lists; a plan will report it"
    ]


def test_subjects_are_written_beside_their_topics_with_references_and_levels() -> None:
    result, _, _ = imported()
    assert sorted(result.files) == [
        "acls/billing.yaml",
        "acls/checkout.yaml",
        "acls/fraud.yaml",
        "acls/ops.yaml",
        "acls/scorer.yaml",
        "orders.yaml",
        "schemas/orders.common.Money.avsc",
        "schemas/orders.created.v1-value.avsc",
        "schemas/orders.legacy-value.json",
        "schemas/orders.proto.v1-value.proto",
        "schemas/orders.snapshot.v1-key.avsc",
    ]
    assert result.files["orders.yaml"].split("\n", 2)[2] == textwrap.dedent(
        """\
        topics:
          - name: orders.created.v1
            partitions: 3
            replication_factor: 1
            configs:
              retention.ms: 7d
            value_schema:
              file: schemas/orders.created.v1-value.avsc
              references:
                - name: com.acme.Money
                  subject: orders.common.Money
                  version: 1
          - name: orders.snapshot.v1
            partitions: 2
            replication_factor: 1
            configs:
              cleanup.policy: compact
            key_schema:
              file: schemas/orders.snapshot.v1-key.avsc
              references:
                - name: com.acme.Money
                  subject: orders.common.Money
                  version: latest
        subjects:
          - name: orders.common.Money
            file: schemas/orders.common.Money.avsc
            compatibility: FULL_TRANSITIVE
          - topic: orders.legacy
            role: value
            file: schemas/orders.legacy-value.json
          - topic: orders.proto.v1
            role: value
            file: schemas/orders.proto.v1-value.proto
        """
    )
    assert result.files["schemas/orders.common.Money.avsc"].startswith('{\n  "type": "record",\n')
    assert "search" not in "".join(result.files), "outside the prefix"
    assert "connect" not in "".join(result.files), "inside an external scope"
    assert result.counts == {"topics": 2, "subjects": 5, "acl_bindings": 12, "acl_entries": 6}
    assert result.files["acls/ops.yaml"].split("\n", 2)[2] == textwrap.dedent(
        """\
        acls:
          - principal: User:ops
            resource_type: topic
            pattern_type: prefixed
            names: orders.
            operations: DESCRIBE
          - principal: User:ops
            resource_type: topic
            pattern_type: prefixed
            names: orders.
            operations: ALTER
            permission: deny
            hosts: 10.1.2.3
        """
    )
    assert result.notes == [
        "the registry's global compatibility is BACKWARD; kafkaplan leaves it alone unless the "
        "project declares it: add `schemas: {compatibility: BACKWARD}` to the project file to "
        "manage it",
        "User:billing, User:fraud, User:scorer also have bindings outside the prefixes, which "
        "were not imported (so their roles may show as raw bindings); add a principal's name "
        "as a --prefix to import all of its bindings",
    ]
    whole, _, _ = imported(("orders.", "billing", "fraud"))
    billing = whole.files["acls/billing.yaml"]
    assert "role: consumer" in billing
    assert "role: streams" in whole.files["acls/fraud.yaml"]
    again, _, _ = imported()
    assert again.files == result.files


def test_import_then_plan_shows_no_changes(make_project: MakeProject) -> None:
    for prefixes in [("orders.",), ()]:
        result, cluster, registry = imported(prefixes)
        project_file = make_project(dict(result.files), project=ROUND_TRIP_PROJECT)
        _, _, desired = load_desired(load_project(project_file), None)
        plan = compute_plan(desired, read_live(cluster, desired, registry))
        assert plan.changes == []
        assert plan.errors == []
        # Importing by topic prefix leaves the owned principals' other bindings (groups,
        # other topics) out: kept, with a warning, but no change.
        assert [w.message.split(":")[0] for w in plan.warnings] == (
            ["28 ACL bindings in the owned scope are in no spec"] if prefixes else []
        )
        assert len(desired.subjects) == (5 if prefixes else 6)
        for path, text in result.files.items():  # what import writes, `fmt --check` passes
            assert format_spec(text, path) in (None, text), path
        for path in result.files:
            (project_file.parent / "specs" / path).unlink()


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> tuple[MemoryCluster, MemoryRegistry]:
    cluster, registry = estate()
    monkeypatch.setattr(commands, "connect", lambda context, read_only: cluster)
    monkeypatch.setattr(commands, "connect_registry", lambda context, read_only: registry)
    return cluster, registry


def test_cli_import_then_plan(
    make_project: MakeProject,
    doubles: tuple[MemoryCluster, MemoryRegistry],
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project({}, project=ROUND_TRIP_PROJECT)
    out = str(project.parent / "specs" / "imported")
    code, stdout, err = run(project, "import", "--out", out, "--prefix", "orders.", capsys=capsys)
    assert code == 0, err
    assert (
        "Imported 2 topics, 12 ACL bindings (as 6 entries), 5 subjects into 11 file(s)." in stdout
    )
    assert "Note: the registry's global compatibility is BACKWARD" in stdout
    code, stdout, err = run(project, "plan", "--detailed-exitcode", capsys=capsys)
    assert (code, err) == (0, ""), stdout
    assert "No changes." in stdout
    code, _, err = run(project, "import", "--out", out, "--prefix", "orders.", capsys=capsys)
    assert code == 1
    assert "refusing to overwrite existing files" in err
    code, _, err = run(
        project, "import", "--out", out, "--prefix", "orders.", "--force", capsys=capsys
    )
    assert code == 0, err


def test_cli_import_resources(
    make_project: MakeProject,
    doubles: tuple[MemoryCluster, MemoryRegistry],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    project = make_project({}, project=ROUND_TRIP_PROJECT)
    code, stdout, _ = run(
        project, "import", "--out", str(tmp_path / "a"), "--resources", "acls", capsys=capsys
    )
    assert code == 0
    assert "Imported 40 ACL bindings (as 8 entries) into 7 file(s)." in stdout
    assert not (tmp_path / "a" / "orders.yaml").exists()
    code, _, err = run(
        project, "import", "--out", str(tmp_path / "b"), "--resources", "topics,nope", capsys=capsys
    )
    assert code == 2
    assert "unknown resource type nope" in err


def test_cli_import_without_registry_or_acl_permission(
    make_project: MakeProject,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from kafkaplan.errors import PermissionDenied

    cluster, _ = estate()

    def denied() -> Any:
        raise PermissionDenied(
            "permission denied (CLUSTER_AUTHORIZATION_FAILED)",
            hint="kafkaplan needs DESCRIBE on the cluster to read ACLs",
        )

    monkeypatch.setattr(cluster, "describe_acls", denied)
    monkeypatch.setattr(commands, "connect", lambda context, read_only: cluster)
    project = make_project({})  # no schema_registry
    code, stdout, err = run(project, "import", "--out", str(tmp_path / "a"), capsys=capsys)
    assert code == 0, err
    assert "Imported 3 topics, 0 subjects" not in stdout
    assert "Imported 3 topics into 2 file(s)." in stdout
    assert "Note: subjects not imported: environment 'test' has no registry." in stdout
    assert (
        "skipped ACLs: not imported: permission denied (CLUSTER_AUTHORIZATION_FAILED) "
        "(kafkaplan needs DESCRIBE on the cluster to read ACLs)"
    ) in err
    code, _, err = run(
        project, "import", "--out", str(tmp_path / "b"), "--resources", "acls", capsys=capsys
    )
    assert code == 1
    assert "CLUSTER_AUTHORIZATION_FAILED" in err
    code, _, err = run(
        project, "import", "--out", str(tmp_path / "c"), "--resources", "subjects", capsys=capsys
    )
    assert code == 1
    assert "cannot import subjects: environment 'test' has no schema_registry" in err


def test_import_reports_the_problems_a_read_of_its_files_finds(
    make_project: MakeProject,
    doubles: tuple[MemoryCluster, MemoryRegistry],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What import wrote is checked as written, without reading it back: the same problems,
    # at the same lines, as a plan that reads the files would report.
    read_back: list[Path] = []

    def read_yaml(path: Path, display: str | None = None) -> Any:
        read_back.append(path)
        return source.read_yaml(path, display)

    strict = ROUND_TRIP_PROJECT.replace(
        "  max_retention: 30d\n", "  max_retention: 1d\n  min_replication_factor: 2\n"
    )
    assert strict != ROUND_TRIP_PROJECT
    project = make_project({}, project=strict)
    out = str(project.parent / "specs" / "imported")
    with monkeypatch.context() as patched:
        patched.setattr(load, "read_yaml", read_yaml)
        code, _, err = run(project, "import", "--out", out, "--prefix", "orders.", capsys=capsys)
    assert code == 0, err
    assert read_back == []
    reported = [line.removeprefix("policy: ") for line in err.splitlines()]
    with pytest.raises(SpecError) as read:
        load_desired(load_project(project), None)
    assert reported == [str(problem) for problem in read.value.diagnostics]
    # Both topics are below the replication factor, one over the retention, each at its line.
    assert len(reported) == 3, reported
    assert all(re.match(r"specs/imported/orders\.yaml:\d+: ", line) for line in reported), reported


def test_a_value_met_twice_is_written_twice_not_as_an_alias() -> None:
    # The specs refuse anchors and aliases; PyYAML writes one for an object met twice.
    shared = {"description": "two words", "hosts": ["10.0.0.1"]}
    text = dumped({"acls": [shared, shared]})
    assert "&" not in text, text
    assert "*" not in text, text
    assert yaml.safe_load(text) == {"acls": [shared, shared]}
