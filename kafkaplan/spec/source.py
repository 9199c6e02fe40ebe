"""Safe YAML loading that remembers where every value came from.

PyYAML's safe loader builds plain Python values and forgets their position. Specs need
``file:line`` in every error, so this module composes the node graph itself (still with the
safe resolver: no Python objects, no tags beyond YAML's core schema), builds the values, and
records the line of every mapping key and sequence item in a table keyed by path — the same
path pydantic reports in its validation errors.

It also refuses what a safe loader lets through: anchors, aliases and merge keys (settings
are shared with topic classes, typed data, not YAML templating; this also rules out the
"billion laughs" alias bomb), documents beyond a bounded number of nodes, duplicate keys,
absurd nesting, huge files and bytes that are not UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml.constructor

from kafkaplan.errors import Diagnostic

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

# Why anchors and merge keys are refused, and what to use instead.
SHARING_HINT = (
    "specs are plain YAML: share topic settings with topic classes (`topic_classes` in "
    "kafkaplan.yaml, `class: <name>` on a topic; docs/topic-classes.md), not anchors"
)
_MERGE_TAG = "tag:yaml.org,2002:merge"

# libyaml's safe loader when PyYAML has it (about 10x faster on big spec files: composing
# a 10,000-topic file took 8 s in pure Python), the pure-Python one otherwise. Both build
# the same node graph with the same marks.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Document:
    """One loaded YAML document: its plain value and the line of every path in it."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def diagnostic(self, path: PathKey, message: str, hint: str | None = None) -> Diagnostic:
        return Diagnostic(message, file=self.file, line=self.line_of(path), hint=hint)


class YamlProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.nodes = 0
        self.lines: dict[PathKey, int] = {}
        self.constructor = yaml.constructor.SafeConstructor()

    def fail(self, node: yaml.Node, message: str, hint: str | None = None) -> YamlProblem:
        return YamlProblem(
            Diagnostic(message, file=self.file, line=node.start_mark.line + 1, hint=hint)
        )

    def build(self, node: yaml.Node, path: PathKey, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(
                node,
                f"document expands to more than {MAX_NODES} values",
                hint="split the file, or check for recursive aliases (a YAML alias bomb)",
            )
        if depth > MAX_DEPTH:
            raise self.fail(node, f"document is nested deeper than {MAX_DEPTH} levels")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if node.tag not in _CORE_TAGS:
            raise self.fail(
                node,
                f"unsupported YAML tag {node.tag!r}",
                hint="specs use plain YAML values: remove the tag",
            )
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    raise self.fail(
                        key_node, "YAML merge keys (`<<`) are not supported", SHARING_HINT
                    )
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, "mapping keys must be plain values")
                key = self.constructor.construct_object(key_node)
                if not isinstance(key, str | int):
                    raise self.fail(
                        key_node, f"unsupported mapping key {key!r}", hint="quote the key"
                    )
                if key in result:
                    raise self.fail(
                        key_node,
                        f"duplicate key {key!r}",
                        hint=f"it was first set on line {self.lines.get((*path, key))}",
                    )
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*path, key), depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, (*path, index), depth + 1) for index, item in enumerate(node.value)
            ]
        try:
            return self.constructor.construct_object(node)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a 13th month
            raise self.fail(node, f"invalid {node.tag.rsplit(':', 1)[-1]} value: {exc}") from exc


def _prescan(text: str, file: str, loader: Any = None) -> None:
    """Refuse documents that nest deeper than MAX_DEPTH or hold more than MAX_NODES values,
    before composing them: PyYAML's composer recurses (a deep document would exhaust the
    stack) and builds every node (a huge one would take long). Its event parser does
    neither, and stops here at the first value over a limit. Syntax errors are left to the
    composer, which reports them best."""
    depth = nodes = 0
    # libyaml's event parser where PyYAML was built with it: the same events, much faster.
    fast = getattr(yaml, "CSafeLoader", None)
    try:
        for event in yaml.parse(text, Loader=loader or fast or yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise _problem(
                    event, file, "YAML anchors and aliases are not supported", SHARING_HINT
                )
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    raise _problem(
                        event,
                        file,
                        f"document has more than {MAX_NODES} values",
                        "split the file into several files",
                    )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _problem(
                        event, file, f"document is nested deeper than {MAX_DEPTH} levels"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        # libyaml refuses some documents outright (its own nesting limit, for one); the
        # pure-Python parser then finds where ours is exceeded, if it is.
        if loader is None and fast is not None:
            _prescan(text, file, yaml.SafeLoader)


def _problem(event: yaml.Event, file: str, message: str, hint: str | None = None) -> YamlProblem:
    line = event.start_mark.line + 1 if event.start_mark is not None else 1
    return YamlProblem(Diagnostic(message, file=file, line=line, hint=hint))


# The tags of YAML's core schema; anything else (``!!python/...``, custom tags) is refused.
_CORE_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")
}


def parse_yaml(text: str, file: str) -> Document:
    """Parse one YAML document. Raises YamlProblem with file and line."""
    try:
        _prescan(text, file)
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except (ValueError, OverflowError) as exc:
        # PyYAML's scanner turns an escape beyond Unicode ("\U00110000") into chr()'s error.
        raise YamlProblem(
            Diagnostic(
                f"invalid YAML: {exc}",
                file=file,
                line=1,
                hint="is there a \\U escape beyond \\U0010FFFF in a double-quoted string?",
            )
        ) from exc
    except RecursionError:  # the prescan stops deep documents first; a last guard
        raise YamlProblem(Diagnostic("document is nested too deeply", file=file, line=1)) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        at = text[: exc.position].count("\n") + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise YamlProblem(
            Diagnostic(
                f"invalid YAML: character {character!r} (#x{ord(character):04x}) is not allowed",
                file=file,
                line=at,
                hint="remove control characters; write them as escapes in a double-quoted string",
            )
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        lines = text.splitlines()
        tabbed = line is not None and 0 < line <= len(lines) and "\t" in lines[line - 1]
        hint = "YAML indentation must use spaces, not tabs" if "\\t" in problem or tabbed else None
        context = f" {exc.context}" if exc.context else ""
        raise YamlProblem(
            Diagnostic(f"invalid YAML:{context} {problem}".strip(), file=file, line=line, hint=hint)
        ) from exc
    except yaml.YAMLError as exc:  # e.g. reader errors (control characters)
        raise YamlProblem(Diagnostic(f"invalid YAML: {exc}", file=file)) from exc
    documents = [doc for doc in documents if doc is not None]
    if len(documents) > 1:
        second = documents[1]
        raise YamlProblem(
            Diagnostic(
                "a spec file holds one YAML document",
                file=file,
                line=second.start_mark.line + 1,
                hint="split the documents into separate files",
            )
        )
    if not documents:
        return Document(file=file, data=None)
    builder = _Builder(file)
    try:
        data = builder.build(documents[0], (), 0)
    except yaml.MarkedYAMLError as exc:  # a constructor error, e.g. a bad timestamp
        mark = exc.problem_mark or exc.context_mark
        raise YamlProblem(
            Diagnostic(
                f"invalid YAML: {exc.problem or exc.context or 'cannot build this value'}",
                file=file,
                line=mark.line + 1 if mark is not None else None,
            )
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(Diagnostic(f"invalid YAML: {exc}", file=file, line=1)) from exc
    except RecursionError as exc:
        raise YamlProblem(Diagnostic("document is nested too deeply", file=file)) from exc
    return Document(file=file, data=data, lines=builder.lines)


@dataclass(frozen=True)
class Written:
    """A spec file kafkaplan has just written (``import``): its text, the value that text
    is the YAML of, and the line of each value in it, as ``parse_yaml`` would record them.
    The importer's writer guarantees the three agree (``tests/unit/importer/test_emit.py``)."""

    text: str
    data: Any
    lines: dict[PathKey, int]

    def document(self, file: str) -> Document | None:
        """The document ``parse_yaml`` would make of the text, without parsing it again;
        None when the text may be over a limit ``read_yaml`` enforces (read it to be told:
        the bounds here are loose, each value counted as if it had a key and a collection)."""
        values, deepest = len(self.lines), max(map(len, self.lines))
        too_big = len(self.text.encode()) > MAX_FILE_BYTES or 2 * values > MAX_NODES
        if too_big or deepest + 1 > MAX_DEPTH:
            return None
        return Document(file=file, data=self.data, lines=self.lines)


def read_yaml(path: Path, display: str | None = None) -> Document:
    """Read and parse a YAML file, refusing huge files and bytes that are not UTF-8."""
    name = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlProblem(
                Diagnostic(
                    f"file is {size} bytes; spec files are limited to {MAX_FILE_BYTES}",
                    file=name,
                    line=1,
                    hint="split it into several files",
                )
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlProblem(
            Diagnostic(f"cannot read file: {exc.strerror}", file=name, line=1)
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(
            Diagnostic("file is not valid UTF-8", file=name, line=line, hint="save it as UTF-8")
        ) from exc
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise YamlProblem(
            Diagnostic("file contains NUL bytes (binary data?)", file=name, line=line)
        )
    return parse_yaml(text.removeprefix("\ufeff"), name)


_REFERENCE = re.compile(r"\$\{([^}]*)\}")


def interpolate(
    document: Document,
    resolve: Callable[[str], Any],
    problems: list[Diagnostic],
    failed: list[PathKey] | None = None,
) -> None:
    """Replace ``${name}`` in every string of the document, in place (``failed``, if given,
    gets the path of each value that names an unknown variable).

    ``resolve(name)`` returns the value or raises KeyError (reported with file and line).
    A string that is exactly one reference takes the value's own type (``${partitions}``
    can be an integer); references inside longer strings are spliced in as text. ``$${``
    escapes a literal ``${``.
    """

    def visit(value: Any, path: PathKey) -> Any:
        if isinstance(value, Mapping):
            return {key: visit(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [visit(item, (*path, index)) for index, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        escaped = value.replace("$${", "\x00")
        whole = _REFERENCE.fullmatch(escaped)
        try:
            if whole:
                return resolve(whole.group(1).strip())
            return _REFERENCE.sub(lambda m: str(resolve(m.group(1).strip())), escaped).replace(
                "\x00", "${"
            )
        except KeyError as exc:
            problems.append(
                document.diagnostic(
                    path,
                    f"unknown variable {exc.args[0]!r}",
                    hint="define it under the environment's `variables` in kafkaplan.yaml",
                )
            )
            if failed is not None:
                failed.append(path)
            return value

    document.data = visit(document.data, ())
