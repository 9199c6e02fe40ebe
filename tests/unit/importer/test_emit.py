"""The import's own YAML writer (kafkaplan.importer.emit) writes exactly what PyYAML's
dumper writes, or leaves the document to it, and knows the line of every value it wrote."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kafkaplan.importer import emit
from kafkaplan.importer.build import _pyyaml as pyyaml
from kafkaplan.spec.source import parse_yaml

# Strings of the writer's alphabet, biased towards the ones PyYAML treats specially.
tricky = st.sampled_from(
    [
        "true",
        "No",
        "on",
        "null",
        "123",
        "0x1f",
        "1_000",
        "1.5",
        ".5",
        "2026-12-01",
        "-",
        "-1",
        ":",
        "a:",
        "User:alice",
        "::",
        "---",
        "...x",
        "7d",
        "10MiB/s",
        "-x",
        ":a",
        "a-",
        "orders.created.v1",
        "__consumer_offsets",
        "0",
        "1e3",
        "TRUE",
        "y",
        "n",
        ".inf",
    ]
)
# (st.text over an alphabet draws these many times faster than the equivalent st.from_regex)
words = st.text(string.ascii_letters + string.digits + "_./:-", min_size=1, max_size=40)
scalars = st.one_of(tricky, words, st.integers(-(10**12), 10**12), st.booleans())
keys = st.one_of(
    tricky, st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=30)
)


def mappings(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(keys, children, max_size=5)


values = st.recursive(
    st.one_of(scalars, st.lists(scalars, max_size=30)),
    lambda inner: st.one_of(
        mappings(inner), st.lists(mappings(inner).filter(bool), min_size=1, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(content=mappings(values).filter(bool), comments=st.integers(0, 3))
def test_the_writer_writes_what_pyyaml_writes_and_where(
    content: dict[str, Any], comments: int
) -> None:
    header = "# imported\n" * comments
    written = emit.dump(content, first_line=comments + 1)
    if written is not None:
        assert written.text == pyyaml(content)
        read = parse_yaml(header + written.text, "topics.yaml")
        assert read.data == content
        assert written.lines == read.lines


def test_long_inline_lists_wrap_as_pyyaml_wraps_them() -> None:
    names = [f"orders.topic-{i:03d}.v1" for i in range(30)]
    content = {"acls": [{"principal": "User:app", "operations": ["READ"], "names": names}]}
    written = emit.dump(content)
    assert written is not None
    assert written.text.count("\n") > 4
    assert written.text == pyyaml(content)
    read = parse_yaml(written.text, "acls.yaml")
    assert written.lines == read.lines
    assert written.lines[("acls", 0, "names", 29)] > written.lines[("acls", 0, "names", 0)]


def test_what_the_writer_leaves_to_pyyaml() -> None:
    for content in (
        {"description": "two words"},
        {"retention": 1.5},
        {"value": None},
        {"names": [None]},
        {"k" * 128: 1},
        {"nested": [["a"]]},
        {},
    ):
        assert emit.dump(content) is None, content
