"""The spec reader's YAML (kafkaplan.spec.source): one pass over the parser's events gives
the values PyYAML's safe loader gives and the line of every path, as the node graph has it;
its problems come in the order a parser would meet them."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.source import MAX_DEPTH, PathKey, YamlProblem, interpolate, parse_yaml

# Strings that look like other YAML types are the interesting ones: PyYAML quotes them.
texts = st.one_of(
    st.sampled_from(["", "1", "1.5", "true", "no", "~", "null", "2001-12-14", "0x1f", "1_000"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
scalars = st.one_of(
    texts,
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(texts, st.integers(0, 99)), children, max_size=4),
    ),
    max_leaves=25,
)


def node_lines(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> None:
    """The lines as the node graph has them: a value's own line, unless it is a mapping's
    value (the line of its key)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            lines[(*path, key)] = key_node.start_mark.line + 1
            node_lines(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            node_lines(item, (*path, index), lines)


@settings(max_examples=300, deadline=None)
@given(documents, st.booleans())
def test_values_and_lines_are_the_safe_loaders_and_the_node_graphs(
    document: Any, flow: bool
) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
    parsed = parse_yaml(text, "a.yaml")
    assert parsed.data == yaml.safe_load(text)
    expected: dict[PathKey, int] = {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert root is not None
    node_lines(root, (), expected)
    assert parsed.lines == expected


def problem(text: str) -> tuple[int | None, str]:
    with pytest.raises(YamlProblem) as raised:
        parse_yaml(text, "a.yaml")
    return raised.value.diagnostic.line, raised.value.diagnostic.message


def test_a_syntax_error_anywhere_comes_before_a_problem_with_a_value() -> None:
    line, message = problem("a: 1\na: 2\nb: [\n")
    assert message.startswith("invalid YAML")
    assert line == 4


def test_a_second_document_comes_before_a_problem_with_a_value() -> None:
    assert problem("a: 1\na: 2\n---\nb: 1\n") == (4, "a spec file holds one YAML document")
    assert problem("a: 1\na: 2\n") == (2, "duplicate key 'a'")


def test_anchors_and_limits_are_refused_where_they_are_met() -> None:
    line, message = problem("a: [\n  &x 1, *x\n")  # before the syntax error after them
    assert (line, message) == (2, "YAML anchors and aliases are not supported")
    deep = "a:\n" + "".join("  " * i + "- \n" for i in range(1, MAX_DEPTH + 2))
    assert "nested deeper" in problem(deep)[1]


def test_the_first_problem_with_a_value_is_the_one_reported() -> None:
    assert problem("a: !!set {x}\nb: 1\nb: 2\n") == (
        1,
        "unsupported YAML tag 'tag:yaml.org,2002:set'",
    )
    assert problem("a:\n  2001-13-01: x\n")[1].startswith("invalid timestamp value")
    assert problem("? [a]\n: 1\n") == (1, "mapping keys must be plain values")
    assert problem("a: 1\n<<: {b: 2}\n")[1] == "YAML merge keys (`<<`) are not supported"


def test_empty_and_null_documents_have_no_value() -> None:
    assert parse_yaml("", "a.yaml").data is None
    assert parse_yaml("# nothing\n", "a.yaml").lines == {}
    null = parse_yaml("---\n", "a.yaml")
    assert null.data is None
    assert null.lines == {(): 2}


def test_interpolation_builds_no_reference_cycle() -> None:
    """A cycle would keep the document and its line map alive until the collector runs
    (the CLI runs it rarely), instead of until the spec is checked."""
    document = parse_yaml("a: ${x}\nb:\n  - ${y}\n  - pre-${x}\n", "a.yaml")
    problems: list[Diagnostic] = []
    gc.collect()
    gc.disable()
    try:
        interpolate(document, {"x": 1}.__getitem__, problems)
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert document.data == {"a": 1, "b": ["${y}", "pre-1"]}
    assert [(p.line, p.message) for p in problems] == [(3, "unknown variable 'y'")]


def test_a_document_without_a_reference_is_left_as_it_is() -> None:
    variables: dict[str, Any] = {}
    plain = parse_yaml("a: 1\nb:\n  - x\n  - $ {y}\n", "a.yaml")
    assert plain.references is False
    data = plain.data
    interpolate(plain, variables.__getitem__, [])
    assert plain.data is data  # not walked, let alone copied
    referring = parse_yaml("a: 1\n# ${x} in a comment is text too\n", "a.yaml")
    assert referring.references is True
    interpolate(referring, variables.__getitem__, [])
    assert referring.data == {"a": 1}
