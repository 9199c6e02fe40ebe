"""Safe YAML loading that remembers where every value came from.

PyYAML's safe loader builds plain Python values and forgets their position. Specs need
``file:line`` in every error, so this module builds the values itself from the parser's
events, in one pass (still with the safe resolver and constructor: no Python objects, no
tags beyond YAML's core schema), and records the line of every mapping key and sequence
item in a table keyed by path — the same path pydantic reports in its validation errors.

It also refuses what a safe loader lets through: anchors, aliases and merge keys (settings
are shared with topic classes, typed data, not YAML templating; this also rules out the
"billion laughs" alias bomb), documents beyond a bounded number of nodes, duplicate keys,
absurd nesting, huge files and bytes that are not UTF-8.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
import yaml.constructor
import yaml.resolver
from msgspec import Struct, field

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

# libyaml's event parser when PyYAML has it (about 10x faster on big spec files: composing
# a 10,000-topic file took 8 s in pure Python), the pure-Python one otherwise. Both give
# the same events with the same marks.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Document(Struct):
    """One loaded YAML document: its plain value and the line of every path in it."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    # Whether the text may hold a ``${...}`` reference: False when it has no ``${`` at all,
    # so that ``interpolate`` has nothing to look for.
    references: bool = True

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


_STR_TAG = "tag:yaml.org,2002:str"
_NOT_BUILT = object()


class _Frame:
    """A mapping or sequence being filled: its value, its path, and (a mapping) the key
    whose value comes next."""

    __slots__ = ("is_map", "key", "path", "value")

    def __init__(self, value: dict[Any, Any] | list[Any], path: PathKey):
        self.value: Any = value
        self.path = path
        self.is_map = isinstance(value, dict)
        self.key: Any = _NOT_BUILT


class _Builder:
    """The plain value of a document and the line of every path in it, built in one pass
    over the parser's events (no node graph, no recursion). Anchors, aliases and the
    limits are refused as soon as they are met; the first problem with a value (a tag, a
    key, a duplicate) is kept while the rest of the stream is still parsed, so that a
    syntax error anywhere, or a second document, is reported before it, as a parser would."""

    def __init__(self, file: str):
        self.file = file
        self.lines: dict[PathKey, int] = {}
        # PyYAML's (untyped) resolver, as its composer uses it.
        self.resolve: Any = yaml.resolver.Resolver().resolve
        self.constructor = yaml.constructor.SafeConstructor()
        # Scalars that are not strings, by (tag, text): most values repeat (1, true, 7d).
        self.scalars: dict[tuple[str, str], Any] = {}
        self.problem: YamlProblem | None = None
        self.second_document: int | None = None  # the line the second document starts on

    def fail(self, event: Any, message: str, hint: str | None = None) -> YamlProblem:
        return _problem(event, self.file, message, hint)

    def scalar(self, event: Any, tag: str) -> Any:
        if tag == _STR_TAG:
            return event.value
        key = (tag, event.value)
        value = self.scalars.get(key, _NOT_BUILT)
        if value is _NOT_BUILT:
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
            try:
                value = self.constructor.construct_object(node)
            except (ValueError, TypeError, OverflowError) as exc:  # e.g. a 13th month
                raise self.fail(event, f"invalid {tag.rsplit(':', 1)[-1]} value: {exc}") from exc
            except yaml.MarkedYAMLError as exc:
                raise self.fail(
                    event,
                    f"invalid YAML: {exc.problem or exc.context or 'cannot build this value'}",
                ) from exc
            self.scalars[key] = value
        return value

    def build(self, events: Iterable[Any]) -> Any:
        """The first document's value (``_NOT_BUILT`` for a stream without one). Raises
        YamlProblem for an anchor or a limit; the first other problem goes to ``problem``
        and the line of a second document to ``second_document``, for the caller."""
        data: Any = _NOT_BUILT
        stack: list[_Frame] = []
        depth = nodes = documents = 0
        building = False
        for event in events:
            kind = type(event)
            if kind is yaml.DocumentStartEvent:
                documents += 1
                building = documents == 1
                continue
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                depth -= 1
                if building:
                    stack.pop()
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            if kind is yaml.AliasEvent or event.anchor:
                raise self.fail(event, "YAML anchors and aliases are not supported", SHARING_HINT)
            nodes += 1
            if nodes > MAX_NODES:
                raise self.fail(
                    event,
                    f"document has more than {MAX_NODES} values",
                    "split the file into several files",
                )
            collection = kind is not yaml.ScalarEvent
            if collection:
                depth += 1
                if depth > MAX_DEPTH:
                    raise self.fail(event, f"document is nested deeper than {MAX_DEPTH} levels")
            if documents == 2 and self.second_document is None:  # its root
                self.second_document = _line(event)
            if not building:
                continue
            root = not stack
            try:
                value = self._place(event, kind, stack)
            except YamlProblem as problem:
                self.problem, building = problem, False
                continue
            if root:
                data = value
        return data

    def _place(self, event: Any, kind: type, stack: list[_Frame]) -> Any:
        """Put the value an event starts where it belongs (as a key, a value or an item);
        a collection is pushed to be filled."""
        tag = event.tag
        if tag is None or tag == "!":  # not given: resolved as PyYAML's composer does
            if kind is yaml.ScalarEvent:
                tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)
            elif kind is yaml.MappingStartEvent:
                tag = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
            else:
                tag = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
        parent = stack[-1] if stack else None
        if parent is not None and parent.is_map and parent.key is _NOT_BUILT:
            # A mapping key.
            if tag == _MERGE_TAG:
                raise self.fail(event, "YAML merge keys (`<<`) are not supported", SHARING_HINT)
            if kind is not yaml.ScalarEvent:
                raise self.fail(event, "mapping keys must be plain values")
            if tag not in _CORE_TAGS:
                raise self._unsupported(event, tag)
            key = self.scalar(event, tag)
            if not isinstance(key, str | int):
                raise self.fail(event, f"unsupported mapping key {key!r}", hint="quote the key")
            if key in parent.value:
                first = self.lines.get((*parent.path, key))
                raise self.fail(
                    event, f"duplicate key {key!r}", hint=f"it was first set on line {first}"
                )
            self.lines[(*parent.path, key)] = _line(event)
            parent.key = key
            return key
        if tag not in _CORE_TAGS:
            raise self._unsupported(event, tag)
        if parent is None:
            path: PathKey = ()
        elif parent.is_map:
            path = (*parent.path, parent.key)
        else:
            path = (*parent.path, len(parent.value))
        self.lines.setdefault(path, _line(event))
        value: Any
        if kind is yaml.ScalarEvent:
            value = self.scalar(event, tag)
        else:
            value = {} if kind is yaml.MappingStartEvent else []
            stack.append(_Frame(value, path))
        if parent is not None:
            if parent.is_map:
                parent.value[parent.key] = value
                parent.key = _NOT_BUILT
            else:
                parent.value.append(value)
        return value

    def _unsupported(self, event: Any, tag: str) -> YamlProblem:
        return self.fail(
            event,
            f"unsupported YAML tag {tag!r}",
            hint="specs use plain YAML values: remove the tag",
        )


def _line(event: Any) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1


def _problem(event: Any, file: str, message: str, hint: str | None = None) -> YamlProblem:
    return YamlProblem(Diagnostic(message, file=file, line=_line(event), hint=hint))


# The tags of YAML's core schema; anything else (``!!python/...``, custom tags) is refused.
_CORE_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")
}


def parse_yaml(text: str, file: str) -> Document:
    """Parse one YAML document. Raises YamlProblem with file and line."""
    builder = _Builder(file)
    try:
        try:
            data = builder.build(yaml.parse(text, Loader=_LOADER))
        except yaml.YAMLError:
            if _LOADER is not yaml.SafeLoader:
                _limits(text, file)
            raise
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
    if builder.second_document is not None:
        raise YamlProblem(
            Diagnostic(
                "a spec file holds one YAML document",
                file=file,
                line=builder.second_document,
                hint="split the documents into separate files",
            )
        )
    if builder.problem is not None:
        raise builder.problem
    if data is _NOT_BUILT:
        return Document(file=file, data=None)
    return Document(file=file, data=data, lines=builder.lines, references="${" in text)


def _limits(text: str, file: str) -> None:
    """Refuse a document over a limit (or with an anchor) that libyaml refused outright
    (its own nesting limit, for one): the pure-Python parser finds where ours is exceeded,
    if it is; its syntax errors are left to libyaml's message."""
    with contextlib.suppress(yaml.YAMLError):
        _Builder(file).build(yaml.parse(text, Loader=yaml.SafeLoader))


class Written(Struct, frozen=True):
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
        return Document(file=file, data=self.data, lines=self.lines, references="${" in self.text)


def read_yaml(path: Path, display: str | None = None) -> Document:
    """Read and parse a YAML file, refusing huge files and bytes that are not UTF-8."""
    name = display or str(path)
    return parse_yaml(read_spec_text(path, name), name)


def read_spec_text(path: Path, name: str) -> str:
    """A spec file's text (without a byte-order mark), refusing an unreadable or huge file,
    bytes that are not UTF-8 and binary data (``YamlProblem``, located)."""
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
    return text.removeprefix("\ufeff")


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

    if document.references:
        document.data = _Interpolation(document, resolve, problems, failed).visit(document.data, ())


class _Interpolation:
    """One document's ``interpolate``. A class rather than a recursive closure: a nested
    function that calls itself is a reference cycle, which would keep the document (and its
    line map) alive until the collector runs, instead of until the spec is checked."""

    def __init__(
        self,
        document: Document,
        resolve: Callable[[str], Any],
        problems: list[Diagnostic],
        failed: list[PathKey] | None,
    ) -> None:
        self.document = document
        self.resolve = resolve
        self.problems = problems
        self.failed = failed

    def visit(self, value: Any, path: PathKey) -> Any:
        if isinstance(value, Mapping):
            return {key: self.visit(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.visit(item, (*path, index)) for index, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        escaped = value.replace("$${", "\x00")
        whole = _REFERENCE.fullmatch(escaped)
        resolve = self.resolve
        try:
            if whole:
                return resolve(whole.group(1).strip())
            return _REFERENCE.sub(lambda m: str(resolve(m.group(1).strip())), escaped).replace(
                "\x00", "${"
            )
        except KeyError as exc:
            self.problems.append(
                self.document.diagnostic(
                    path,
                    f"unknown variable {exc.args[0]!r}",
                    hint="define it under the environment's `variables` in kafkaplan.yaml",
                )
            )
            if self.failed is not None:
                self.failed.append(path)
            return value
