"""Schema files: canonical forms, summaries, references, file:line errors, policies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkaplan.errors import SpecError
from kafkaplan.spec import schemas
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.load import load_desired
from kafkaplan.spec.project import load_project
from kafkaplan.spec.schemas import dependency_order, field_changes, implies, parse
from tests.conftest import PROJECT, MakeProject


def canonical(schema_type: str, text: str) -> str:
    return parse(schema_type, text).canonical


# -- canonical forms ------------------------------------------------------------------------

AVRO = """\
{"type": "record", "name": "Order", "namespace": "com.acme",
 "fields": [
   {"name": "id", "type": "string", "doc": "the id"},
   {"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line",
     "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
   {"name": "first", "type": ["null", "Line"], "default": null}
 ]}
"""

AVRO_REFORMATTED = """\
{
  "namespace": "com.acme",
  "fields": [
    {"doc": "the id", "type": {"type": "string"}, "name": "id"},
    {
      "type": {
        "items": {
          "fields": [{"type": "string", "name": "sku"}, {"name": "qty", "type": "int"}],
          "name": "com.acme.Line",
          "type": "record"
        },
        "type": "array"
      },
      "name": "lines"
    },
    {"default": null, "name": "first", "type": ["null", "com.acme.Line"]}
  ],
  "type": "record",
  "name": "Order"
}
"""


def test_avro_formatting_key_order_and_name_spelling_never_differ() -> None:
    assert canonical("AVRO", AVRO) == canonical("AVRO", AVRO_REFORMATTED)
    # A doc on a primitive is not Avro (registries drop it): not part of the comparison.
    assert canonical("AVRO", '{"type": "string", "doc": "x"}') == canonical("AVRO", '"string"')


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"type": "int"}]}}}', '"type": "long"}]}}}'),  # a type
        ('"name": "qty"', '"name": "quantity"'),  # a field name
        ('"the id"', '"the order id"'),  # a doc: registered as a new version
        ('"default": null', '"default": null, "aliases": ["head"]'),
        ('"namespace": "com.acme"', '"namespace": "com.acme.v2"'),
    ],
)
def test_avro_real_changes_always_differ(old: str, new: str) -> None:
    assert old in AVRO
    assert canonical("AVRO", AVRO) != canonical("AVRO", AVRO.replace(old, new))


def test_json_schema_canonical() -> None:
    one = '{"type": "object", "required": ["b", "a"], "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}'
    two = '{\n  "properties": {"b": {"type": "integer"},\n "a": {"type": "string"}},\n  "required": ["a", "b"],\n  "type": "object"\n}'
    assert canonical("JSON", one) == canonical("JSON", two)
    assert canonical("JSON", one) != canonical("JSON", one.replace("integer", "number"))
    assert canonical("JSON", one) != canonical("JSON", one.replace('["b", "a"]', '["b"]'))


PROTO = """\
syntax = "proto3";
package acme.orders;
import "acme/common/money.proto";
message Order {
  string id = 1;
  repeated Line lines = 2;
  acme.common.Money total = 3;
  message Line { string sku = 1; int32 qty = 2; }
}
"""

PROTO_REFORMATTED = """\
// Orders, as the order service writes them.
syntax="proto3";

package acme.orders;   // the package

import "acme/common/money.proto";

/* One order.
   Several lines. */
message Order
{
    string id=1;  // a UUID
    repeated Line lines = 2;
    acme.common.Money total = 3;
    message Line {
        string sku = 1;
        int32 qty = 2;
    }
}
"""


def test_protobuf_whitespace_and_comments_never_differ() -> None:
    assert canonical("PROTOBUF", PROTO) == canonical("PROTOBUF", PROTO_REFORMATTED)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("string id = 1;", "string id = 4;"),
        ("int32 qty = 2;", "int64 qty = 2;"),
        ("repeated Line lines", "Line lines"),
        ("string sku = 1;", "string sku = 1 [deprecated = true];"),
        ("package acme.orders;", "package acme.orders.v2;"),
    ],
)
def test_protobuf_real_changes_always_differ(old: str, new: str) -> None:
    assert old in PROTO
    assert canonical("PROTOBUF", PROTO) != canonical("PROTOBUF", PROTO.replace(old, new))


# Property: however an Avro record is written (key order, whitespace, namespace spelling),
# its canonical form is the same; any change to a field changes it.
AVRO_TYPES = ["string", "int", "long", "boolean", "double", "bytes"]
field_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def avro_records(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(field_names, min_size=1, max_size=6, unique=True))
    fields = []
    for name in names:
        item: dict[str, Any] = {"name": name, "type": draw(st.sampled_from(AVRO_TYPES))}
        if draw(st.booleans()):
            item["type"] = ["null", item["type"]]
            item["default"] = None
        if draw(st.booleans()):
            item["doc"] = draw(st.text(max_size=10))
        fields.append(item)
    result: dict[str, Any] = {"type": "record", "name": "R", "namespace": "t.x"}
    result["fields"] = fields
    return result


def _shuffled(value: Any, draw: st.DrawFn) -> Any:
    if isinstance(value, dict):
        keys = draw(st.permutations(list(value)))
        return {key: _shuffled(value[key], draw) for key in keys}
    if isinstance(value, list):
        return [_shuffled(item, draw) for item in value]
    return value


@st.composite
def rewritten(draw: st.DrawFn, record: dict[str, Any]) -> str:
    """The same record written another way."""
    copy = json.loads(json.dumps(record))
    if draw(st.booleans()):
        copy["name"] = "t.x.R"
        del copy["namespace"]
    for item in copy["fields"]:
        if isinstance(item["type"], str) and draw(st.booleans()):
            item["type"] = {"type": item["type"]}
    indent = draw(st.sampled_from([None, 1, 2, 4]))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " :  ")]))
    return json.dumps(_shuffled(copy, draw), indent=indent, separators=separators)


@st.composite
def mutated(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(record))
    fields = copy["fields"]
    index = draw(st.integers(0, len(fields) - 1))
    target = fields[index]
    kind = draw(st.sampled_from(["type", "name", "add", "remove", "doc", "default"]))
    if kind == "type":
        current = target["type"] if isinstance(target["type"], str) else target["type"][1]
        other = draw(st.sampled_from([t for t in AVRO_TYPES if t != current]))
        target["type"] = other if isinstance(target["type"], str) else ["null", other]
    elif kind == "name":
        target["name"] = target["name"] + "_x"
    elif kind == "add":
        fields.append({"name": "added_field_z", "type": "string"})
    elif kind == "remove" and len(fields) > 1:
        fields.pop(index)
    elif kind == "doc":
        target["doc"] = target.get("doc", "") + "!"
    elif "default" in target:  # drop the default there is, or add one
        del target["default"]
    else:
        target["type"] = ["null", target["type"]]
        target["default"] = None
    if copy == record:  # the mutation drawn was a no-op (e.g. removing the only field)
        fields.append({"name": "added_field_z", "type": "string"})
    return copy


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_avro_canonical_property(data: st.DataObject) -> None:
    record = data.draw(avro_records())
    original = canonical("AVRO", json.dumps(record))
    assert canonical("AVRO", data.draw(rewritten(record))) == original
    changed = data.draw(mutated(record))
    assert canonical("AVRO", json.dumps(changed)) != original
    assert canonical("AVRO", data.draw(rewritten(changed))) != original


# -- field summaries and the compatibility order ----------------------------------------------


def test_avro_field_summary_changes() -> None:
    old = parse("AVRO", AVRO).fields
    new_text = AVRO.replace(
        '{"name": "id", "type": "string", "doc": "the id"},',
        '{"name": "id", "type": "string", "doc": "the id"},\n'
        '   {"name": "note", "type": ["null", "string"], "default": null},',
    ).replace('"type": "int"', '"type": "long"')
    new = parse("AVRO", new_text).fields
    assert field_changes(old, new) == [
        ("lines.qty", "int", "long"),
        ("note", None, "null | string = null"),
    ]
    removed = parse(
        "AVRO",
        AVRO.replace(', "default": null', "").replace(
            ',\n   {"name": "first", "type": ["null", "Line"]}', ""
        ),
    ).fields
    assert ("first", "null | com.acme.Line = null", None) in field_changes(old, removed)


def test_json_and_protobuf_field_summaries() -> None:
    json_fields = parse(
        "JSON",
        '{"type": "object", "required": ["a"], "properties": {"a": {"type": "string", "format": "uuid"}, "b": {"type": "array", "items": {"type": "integer"}}}}',
    ).fields
    assert json_fields == {
        "(schema)": "object",
        "a": "string (uuid), required",
        "b": "array<integer>",
    }
    proto_fields = parse("PROTOBUF", PROTO).fields
    assert proto_fields == {
        "Order.id": "string = 1",
        "Order.lines": "repeated Line = 2",
        "Order.total": "acme.common.Money = 3",
        "Order.Line.sku": "string = 1",
        "Order.Line.qty": "int32 = 2",
    }


def test_compatibility_order() -> None:
    assert implies("FULL_TRANSITIVE", "BACKWARD")
    assert implies("FULL", "FORWARD")
    assert implies("BACKWARD_TRANSITIVE", "BACKWARD")
    assert implies("BACKWARD", "NONE")
    assert implies("NONE", "NONE")
    assert not implies("BACKWARD", "BACKWARD_TRANSITIVE")
    assert not implies("FORWARD", "BACKWARD")
    assert not implies("FULL", "BACKWARD_TRANSITIVE")
    assert not implies("NONE", "BACKWARD")


def test_dependency_order() -> None:
    graph = {"app": ["money", "address"], "money": [], "address": ["country"], "country": []}
    order = dependency_order(graph)
    assert order.index("money") < order.index("app")
    assert order.index("country") < order.index("address") < order.index("app")


# -- loading from specs: errors with file and line -------------------------------------------


def problems(project_file: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_desired(load_project(project_file), None)
    return [str(d) for d in info.value.diagnostics]


def load(project_file: Path) -> DesiredState:
    return load_desired(load_project(project_file), None)[2]


MONEY = '{"type": "record", "name": "Money", "namespace": "com.acme", "fields": [{"name": "cents", "type": "long"}]}'


def test_subjects_from_topics_and_lists(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: orders.created.v1
                value_schema: schemas/order.avsc
                key_schema:
                  file: schemas/key.txt
                  type: AVRO
                  compatibility: FULL
            subjects:
              - name: com.acme.Money
                file: schemas/money.avsc
              - topic: orders.cancelled.v1
                role: value
                file: schemas/cancelled.json
            """,
            "schemas/order.avsc": '{"type": "record", "name": "Order", "namespace": "com.acme", "fields": [{"name": "total", "type": "Money"}]}',
            "schemas/key.txt": '"string"',
            "schemas/money.avsc": MONEY,
            "schemas/cancelled.json": '{"type": "object", "properties": {"id": {"type": "string"}}}',
        }
    )
    desired = load(project)
    assert sorted(desired.subjects) == [
        "com.acme.Money",
        "orders.cancelled.v1-value",
        "orders.created.v1-key",
        "orders.created.v1-value",
    ]
    order = desired.subjects["orders.created.v1-value"]
    assert (order.schema_type, order.file, order.topic) == (
        "AVRO",
        "specs/schemas/order.avsc",
        "orders.created.v1",
    )
    assert order.source.line == 3
    [reference] = order.references
    assert (reference.name, reference.subject, reference.version) == (
        "com.acme.Money",
        "com.acme.Money",
        None,
    )
    assert desired.subjects["orders.created.v1-key"].compatibility == "FULL"
    assert desired.subjects["orders.cancelled.v1-value"].schema_type == "JSON"


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        (
            "bad.avsc",
            '{\n  "type": "record",\n  "name": "A",\n  "fields": [\n    {"name": "a", "type": "int", "default": "x"}\n  ]\n}',
            "specs/schemas/bad.avsc:5: invalid Avro schema: Default value <x> must match schema type: int",
        ),
        (
            "bad.avsc",
            '{\n  "type": "record",\n  "fields": [,]\n}',
            "specs/schemas/bad.avsc:3: invalid JSON",
        ),
        (
            "bad.json",
            '{\n  "type": "object",\n  "properties": {"a": {"type": 12}}\n}',
            "specs/schemas/bad.json:3: invalid JSON Schema at properties/a/type",
        ),
        (
            "bad.proto",
            'syntax = "proto3";\nmessage A {\n  string a = ;\n}\n',
            "specs/schemas/bad.proto:3: invalid Protobuf schema: missing INT_LITERAL",
        ),
        ("bad.txt", '"string"', "specs/a.yaml:3: cannot tell the schema type of 'schemas/bad.txt'"),
        ("other.avsc", '"string"', "specs/a.yaml:3: schema file 'schemas/bad.avsc' does not exist"),
    ],
)
def test_invalid_schema_files(
    make_project: MakeProject, file: str, text: str, expected: str
) -> None:
    name = "bad" + Path(file).suffix if file != "other.avsc" else "bad.avsc"
    project = make_project(
        {
            "a.yaml": f"topics:\n  - name: a.b.v1\n    value_schema: schemas/{name}\n",
            f"schemas/{file}": text,
        }
    )
    found = problems(project)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_schema_paths_must_stay_in_the_project(make_project: MakeProject, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.avsc"
    outside.write_text('"string"')
    project = make_project(
        {
            "a.yaml": f"""\
            topics:
              - name: a.b.v1
                value_schema: ../../{outside.name}
              - name: a.c.v1
                value_schema: {outside}
              - name: a.d.v1
                value_schema: schemas/link.avsc
              - name: a.e.v1
                value_schema: ../specs/schemas/ok.avsc
            """,
            "schemas/ok.avsc": '"string"',
        }
    )
    os.symlink(outside, tmp_path / "specs" / "schemas" / "link.avsc")
    found = problems(project)
    assert any(
        p.startswith("specs/a.yaml:3:") and "is outside the project folder" in p for p in found
    )
    assert any(p.startswith("specs/a.yaml:5:") and "is an absolute path" in p for p in found)
    assert any(
        p.startswith("specs/a.yaml:7:") and "resolves outside the project folder (symlink)" in p
        for p in found
    )
    assert len(found) == 3, found  # ../specs/... stays inside: fine


def test_detected_references_of_each_type(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: a.avro.v1
                value_schema: schemas/order.avsc
              - name: a.json.v1
                value_schema: schemas/json/order.json
              - name: a.proto.v1
                value_schema: schemas/proto/app/order.proto
            subjects:
              - {name: com.acme.Money, file: schemas/money.avsc}
              - {name: common-json, file: schemas/json/common.json}
              - {name: common-proto, file: schemas/proto/acme/common.proto}
            """,
            "schemas/order.avsc": '{"type": "record", "name": "Order", "namespace": "com.acme", "fields": [{"name": "total", "type": "Money"}]}',
            "schemas/money.avsc": MONEY,
            "schemas/json/order.json": '{"type": "object", "properties": {"c": {"$ref": "common.json#/definitions/c"}}}',
            "schemas/json/common.json": '{"definitions": {"c": {"type": "string"}}}',
            "schemas/proto/app/order.proto": 'syntax = "proto3";\nimport "acme/common.proto";\nimport "google/protobuf/timestamp.proto";\nmessage O { acme.C c = 1; }\n',
            "schemas/proto/acme/common.proto": 'syntax = "proto3";\npackage acme;\nmessage C { string x = 1; }\n',
        }
    )
    desired = load(project)

    def refs(subject: str) -> list[tuple[str, str]]:
        return [(r.name, r.subject) for r in desired.subjects[subject].references]

    assert refs("a.avro.v1-value") == [("com.acme.Money", "com.acme.Money")]
    assert refs("a.json.v1-value") == [("common.json", "common-json")]
    assert refs("a.proto.v1-value") == [("acme/common.proto", "common-proto")]


def test_declared_references_and_missing_ones(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: a.b.v1
                value_schema:
                  file: schemas/order.avsc
                  references:
                    - {name: com.acme.Money, subject: money-elsewhere, version: 3}
              - name: a.c.v1
                value_schema: schemas/lost.avsc
              - name: a.d.v1
                value_schema: schemas/lost.proto
            """,
            "schemas/order.avsc": '{"type": "record", "name": "Order", "namespace": "com.acme", "fields": [{"name": "total", "type": "Money"}]}',
            "schemas/lost.avsc": '{"type": "record", "name": "Lost",\n "fields": [\n  {"name": "x", "type": "com.acme.Nowhere"}]}',
            "schemas/lost.proto": 'syntax = "proto3";\n\nimport "nowhere/thing.proto";\nmessage L { string a = 1; }\n',
        }
    )
    found = problems(project)
    assert len(found) == 2, found
    assert found[0].startswith(
        "specs/schemas/lost.avsc:3: missing reference: type 'com.acme.Nowhere' is not defined"
    )
    assert "subject 'a.c.v1-value' (specs/a.yaml:8)" in found[0]
    assert found[1].startswith(
        "specs/schemas/lost.proto:3: missing reference: import 'nowhere/thing.proto'"
    )
    # The declared reference (to a subject no spec declares) is taken as written.
    (tmp := project.parent / "specs" / "a.yaml").write_text(
        tmp.read_text().split("  - name: a.c.v1")[0]
    )
    [reference] = load(project).subjects["a.b.v1-value"].references
    assert (reference.subject, reference.version, reference.source.line) == (
        "money-elsewhere",
        3,
        6,
    )


def test_reference_cycle(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            subjects:
              - name: one
                file: one.json
              - name: two
                file: two.json
            """,
            "one.json": '{"properties": {"x": {"$ref": "two.json"}}}',
            "two.json": '{\n  "properties": {\n    "y": {"$ref": "one.json"}\n  }\n}',
        }
    )
    found = problems(project)
    assert found == [
        "specs/two.json:3: reference cycle: one -> two -> one (hint: registries cannot register "
        "schemas that refer to each other; move the shared types into a schema of their own)"
    ], found


def test_subject_declarations_checked(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: a.b.v1
                value_schema: s.avsc
            subjects:
              - {topic: a.b.v1, file: s.avsc}
              - {name: x, topic: a.b.v1, file: s.avsc}
              - {name: "bad/name", file: s.avsc}
              - {name: y, file: s.avsc, compatibility: SOMETIMES}
            """,
            "s.avsc": '"string"',
        }
    )
    found = problems(project)
    assert any(
        p.startswith("specs/a.yaml:5: subject 'a.b.v1-value' is declared twice")
        and "first declared at specs/a.yaml:3" in p
        for p in found
    )
    assert any(p.startswith("specs/a.yaml:6: a subject needs exactly one of `name`") for p in found)
    assert any(
        p.startswith("specs/a.yaml:7: subject name 'bad/name' has characters") for p in found
    )
    assert any(
        p.startswith("specs/a.yaml:8: subjects.3.compatibility: Input should be") for p in found
    )


# -- policies -----------------------------------------------------------------------------

POLICY_PROJECT = PROJECT.replace(
    "policy:\n  max_retention: 30d\n",
    """policy:
  max_retention: 30d
  schemas:
    min_compatibility:
      - {match: '\\.v[0-9]+$', minimum: BACKWARD}
    require_key_schema_for_compacted: true
schemas:
  compatibility: BACKWARD
""",
)


def test_compatibility_policy(make_project: MakeProject) -> None:
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: a.ok.v1
                value_schema: {file: s.avsc, compatibility: FULL_TRANSITIVE}
              - name: a.inherits.v1
                value_schema: s.avsc
              - name: a.forward.v1
                value_schema: {file: s.avsc, compatibility: FORWARD}
              - name: a.none.v1
                value_schema: {file: s.avsc, compatibility: NONE}
              - name: a.compacted.v1
                configs: {cleanup.policy: compact}
                value_schema: s.avsc
              - name: a.keyed.v1
                configs: {cleanup.policy: "compact,delete"}
                key_schema: s.avsc
            subjects:
              - {name: unversioned, file: s.avsc, compatibility: NONE}
            """,
            "s.avsc": '"string"',
        },
        project=POLICY_PROJECT,
    )
    found = problems(project)
    assert len(found) == 3, found
    assert found[0].startswith(
        "specs/a.yaml:7: subject 'a.forward.v1-value' has compatibility FORWARD (its own); "
        "the policy requires at least BACKWARD"
    )
    assert found[1].startswith("specs/a.yaml:9: subject 'a.none.v1-value' has compatibility NONE")
    assert found[2].startswith(
        "specs/a.yaml:10: topic 'a.compacted.v1' is compacted but declares no key schema"
    )


def test_compatibility_policy_needs_a_declared_level(make_project: MakeProject) -> None:
    project = make_project(
        {"a.yaml": "topics:\n  - name: a.b.v1\n    value_schema: s.avsc\n", "s.avsc": '"int"'},
        project=POLICY_PROJECT.replace("schemas:\n  compatibility: BACKWARD\n", ""),
    )
    [found] = problems(project)
    assert found.startswith(
        "specs/a.yaml:3: subject 'a.b.v1-value' must have compatibility at least BACKWARD, "
        "but declares none"
    )


def test_schema_module_docs_match_the_order() -> None:
    assert schemas.LEVELS.keys() == {
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    }


def test_a_default_of_a_referenced_avro_type_must_be_one_of_its_values(
    make_project: MakeProject,
) -> None:
    order = (
        '{"type": "record", "name": "Order", "namespace": "com.acme", "fields": [\n'
        '  {"name": "id", "type": "string"},\n'
        '  {"name": "total", "type": "Money", "default": %s},\n'
        '  {"name": "tip", "type": ["null", "com.acme.Money"], "default": null}]}'
    )
    specs = {
        "a.yaml": """\
        topics:
          - name: a.b.v1
            value_schema: schemas/order.avsc
        subjects:
          - name: money
            file: schemas/money.avsc
        """,
        "schemas/money.avsc": '{"type": "record", "name": "Money", "namespace": "com.acme", '
        '"fields": [{"name": "cents", "type": "long"}]}',
        "schemas/order.avsc": order % '"x"',
    }
    found = problems(make_project(specs))
    assert found == [
        "specs/schemas/order.avsc:3: invalid Avro schema: the default of field 'total' is not "
        "a value of its type 'Money': \"x\" (hint: AVRO schema of subject 'a.b.v1-value', "
        "declared at specs/a.yaml:3)"
    ]
    valid = make_project({**specs, "schemas/order.avsc": order % '{"cents": 0}'})
    _, _, desired = load_desired(load_project(valid), None)
    assert set(desired.subjects) == {"a.b.v1-value", "money"}


def test_one_bad_avro_file_does_not_add_a_missing_reference_elsewhere(
    make_project: MakeProject,
) -> None:
    specs = {
        "a.yaml": """\
        topics:
          - name: a.b.v1
            value_schema: schemas/order.avsc
        subjects:
          - name: money
            file: schemas/money.avsc
        """,
        # A field without a type in Money: its own error, and Order cannot find Money.
        "schemas/money.avsc": '{"type": "record", "name": "Money", "namespace": "com.acme", '
        '"fields": [{"name": "cents"}]}',
        "schemas/order.avsc": '{"type": "record", "name": "Order", "namespace": "com.acme", '
        '"fields": [{"name": "total", "type": "com.acme.Money"}]}',
    }
    found = problems(make_project(specs))
    assert len(found) == 1, found
    assert found[0].startswith("specs/schemas/money.avsc:1: "), found
    assert "missing reference" not in found[0]
    # Without the Money subject at all, the missing reference is still reported.
    del specs["schemas/money.avsc"]
    specs["a.yaml"] = "topics:\n  - name: a.b.v1\n    value_schema: schemas/order.avsc\n"
    [missing] = problems(make_project(specs))
    assert "missing reference: type 'com.acme.Money'" in missing


def test_a_schema_file_too_big_or_not_utf8_is_a_located_problem(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also when another schema refers to a type either might define (before, reading it
    again to look for that type ended the run with an internal error)."""
    monkeypatch.setattr(schemas, "MAX_SCHEMA_BYTES", 100)
    project = make_project(
        {
            "a.yaml": """\
            topics:
              - name: orders.created.v1
                value_schema: schemas/order.avsc
              - name: orders.big.v1
                value_schema: schemas/big.avsc
              - name: orders.binary.v1
                value_schema: schemas/binary.avsc
            """,
            "schemas/order.avsc": '{"type": "record", "name": "Order", "fields": []}',
            "schemas/big.avsc": '{"type": "record", "name": "Big", "fields": []}' + " " * 64,
        }
    )
    (project.parent / "specs" / "schemas" / "binary.avsc").write_bytes(b'{"x": "\xff"}')
    order = project.parent / "specs" / "schemas" / "order.avsc"
    order.write_text(
        '{"type": "record", "name": "Order", "fields": [{"name": "b", "type": "Big"}]}'
    )
    found = problems(project)
    assert any(
        p.startswith("specs/schemas/big.avsc:1: schema file is 111 bytes; the limit is 100")
        for p in found
    ), found
    assert any(
        p.startswith("specs/schemas/binary.avsc:1: schema file is not valid UTF-8") for p in found
    ), found
