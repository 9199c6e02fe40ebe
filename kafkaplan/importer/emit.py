"""The YAML text of imported specs, written fast.

``import`` writes tens of thousands of entries (a 10,000-topic estate: 140,000 YAML nodes),
and PyYAML's emitter is pure Python (libyaml's cannot indent a list under its key, as the
specs are written). ``dump`` writes the common case itself: mappings with plain keys,
lists of mappings (indented under their key), short lists of scalars inline (``[READ,
WRITE]``, wrapped at the line width as PyYAML wraps them), and scalars that are ints,
booleans or strings of letters, digits and ``_ . - / :`` (plain where PyYAML writes them
plain, single-quoted where a plain one would read as another type or, inside ``[...]``,
holds a colon). Its output is byte for byte what ``yaml.dump`` with the importer's dumper
writes (``tests/unit/importer/test_emit.py`` checks this on generated documents); for
anything else (other characters, floats, None, long keys) it returns None and the caller
uses PyYAML. It also gives the line of every value it wrote, so what it wrote can be checked
as a spec without reading the text back (the same test checks those lines against a read).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

import yaml

from kafkaplan.spec.source import PathKey

# PyYAML's line width for the import (``yaml.dump(..., width=WIDTH)``).
WIDTH = 100
INDENT = 2
_SAFE = re.compile(r"[A-Za-z0-9_./:-]+")
_STR = "tag:yaml.org,2002:str"
# The tag PyYAML's resolver gives a plain scalar (its stubs leave ``resolve`` untyped).
_resolve: Callable[[type[yaml.Node], str, tuple[bool, bool]], str] = (
    yaml.resolver.Resolver().resolve
)
# PyYAML writes a key of 128 characters or more as a complex key (``? key``).
_MAX_SIMPLE_KEY = 127


class _Unsupported(Exception):
    """The document holds something only PyYAML writes exactly."""


@lru_cache(maxsize=65536)
def _scalar(value: str, flow: bool) -> str:
    """``value`` as PyYAML writes it (``value`` matches ``_SAFE``)."""
    # As PyYAML's analysis: a document marker, or a lone "-", or ":" ending the scalar
    # (as if followed by a space) cannot be plain anywhere; any ":" not inside [...].
    indicator = value.startswith(("---", "...")) or value == "-" or value.endswith(":")
    plain = not indicator and not (flow and ":" in value)
    if plain and _resolve(yaml.ScalarNode, value, (True, False)) == _STR:
        return value
    return f"'{value}'"


def _text(value: Any, flow: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and _SAFE.fullmatch(value):
        return _scalar(value, flow)
    raise _Unsupported


def _key(key: Any) -> str:
    if not isinstance(key, str) or len(key) > _MAX_SIMPLE_KEY:
        raise _Unsupported
    return _text(key, False)


class _Writer:
    """The text, and the line of every value in it as ``kafkaplan.spec.source`` records them
    when it reads the text back: a key's value at its key's line, a list item at its ``- ``
    or, inline, where it stands after a wrap; the document at its first line."""

    def __init__(self, first_line: int):
        self.out: list[str] = []
        self.line = first_line
        self.lines: dict[PathKey, int] = {(): first_line}

    def newline(self, indent: int) -> None:
        self.out.append("\n" + " " * indent)
        self.line += 1

    def flow_list(self, items: list[Any], path: PathKey, column: int, indent: int) -> None:
        """Write ``[a, b]`` starting at ``column`` (after ``key:``). Like PyYAML, after a
        comma beyond the width the next item goes on a new line, indented one step more
        than the mapping that holds the list."""
        out = self.out
        out.append(" [")
        column += 2
        inner = indent + INDENT
        for index, item in enumerate(items):
            text = _text(item, True)
            if index:
                out.append(",")
                column += 1
            if column > WIDTH:
                self.newline(inner)
                column = inner
            elif index:
                out.append(" ")
                column += 1
            out.append(text)
            self.lines[(*path, index)] = self.line
            column += len(text)
        out.append("]")

    def mapping(self, node: dict[Any, Any], path: PathKey, indent: int, column: int) -> None:
        """A block mapping whose keys go at ``indent``; the first key goes where the line is
        (``column``: right after ``- ``, or at the start of a new line)."""
        for index, (key, value) in enumerate(node.items()):
            if index or column != indent:
                self.newline(indent)
            text = _key(key) + ":"
            self.out.append(text)
            child = (*path, key)
            self.lines[child] = self.line
            self.value(value, child, indent, indent + len(text))

    def value(self, value: Any, path: PathKey, indent: int, column: int) -> None:
        out = self.out
        if isinstance(value, dict):
            if not value:
                out.append(" {}")
            else:
                self.mapping(value, path, indent + INDENT, -1)
        elif isinstance(value, list):
            if not value:
                out.append(" []")
            elif _is_scalar_list(value):
                self.flow_list(value, path, column, indent)
            elif all(isinstance(item, dict) and item for item in value):
                items = indent + INDENT
                for index, item in enumerate(value):
                    self.newline(items)
                    out.append("- ")
                    item_path = (*path, index)
                    self.lines[item_path] = self.line
                    self.mapping(item, item_path, items + INDENT, items + INDENT)
            else:
                raise _Unsupported
        else:
            out.append(" " + _text(value, False))


def _is_scalar_list(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(item, str | int | float | bool) for item in value)


class Emitted(NamedTuple):
    text: str
    # The line of each value (by its path of keys and indexes) in a file whose text begins
    # with ``text`` on line ``first_line``: what ``kafkaplan.spec.source`` would record.
    lines: dict[PathKey, int]


def dump(content: dict[str, Any], first_line: int = 1) -> Emitted | None:
    """``content`` as YAML, exactly as the importer's PyYAML dumper writes it, with the line
    of each value in it; None when it holds something this writer leaves to PyYAML."""
    if not content:
        return None
    writer = _Writer(first_line)
    try:
        writer.mapping(content, (), 0, 0)
    except _Unsupported:
        return None
    writer.out.append("\n")
    return Emitted("".join(writer.out), writer.lines)
