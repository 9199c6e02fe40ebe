"""One canonical form of a spec file (``kafkaplan fmt``), comments kept.

The file is read and written with ruamel.yaml's round-trip mode, which keeps comments,
blank lines and the order of what it does not touch. What changes:

- keys in the order of the spec models (``kafkaplan.spec.models``): a topic's ``name``
  first, then ``class``, ``description``, ``owner``, ``partitions``, ...; a subject's
  ``name`` (or ``topic`` and ``role``) first too; topic configs sorted by name. Keys the
  models do not know stay after the known ones, in their order (``validate`` reports them);
- topic config values in the units ``import`` writes: ``604800000`` -> ``7d``,
  ``1073741824`` -> ``1GiB``, ``"true"`` -> ``true`` (a value with a ``${variable}``, an
  unknown config or an invalid value is left as written: ``validate`` reports those);
- quoting: plain where YAML 1.1 (what kafkaplan reads) leaves the value a string, single
  quotes otherwise (``'yes'``, ``'010'``); indentation of two spaces, sequences indented.

The result means the same to kafkaplan: the same specs, the same plan.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import yaml as pyyaml
from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from kafkaplan.errors import Diagnostic, KafkaplanError, SpecError
from kafkaplan.spec.acls import AclEntry
from kafkaplan.spec.groups import GroupSpec
from kafkaplan.spec.models import ReferenceSpec, SchemaSpec, SpecFile, SubjectSpec, TopicSpec
from kafkaplan.spec.quotas import QuotaEntry
from kafkaplan.spec.topic_configs import ConfigValueError, normalize, to_spec_value


class _Yaml11Resolver(VersionedResolver):
    """Resolve and quote plain scalars as YAML 1.1 does (kafkaplan reads specs with PyYAML:
    ``yes`` is a boolean there), without writing a ``%YAML 1.1`` directive."""

    @property
    def processing_version(self) -> Any:
        return (1, 1)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Resolver = _Yaml11Resolver
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold long values
    yaml.preserve_quotes = False
    # `null` stays written out: an empty value reads as a mistake where `null` (remove the
    # override) is meant.
    yaml.representer.add_representer(type(None), _represent_null)
    return yaml


def _represent_null(representer: Any, _data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _fields(model: type[BaseModel], first: Sequence[str] = ("name",)) -> list[str]:
    """The model's keys, those that say what the item is (``first``) in front."""
    names = [field.alias or name for name, field in model.model_fields.items()]
    leading = [name for name in first if name in names]
    return leading + [name for name in names if name not in leading]


def _order(node: CommentedMap, keys: Sequence[str]) -> None:
    """Known keys first, in ``keys`` order, then the others as they were (comments move
    with their keys)."""
    others = [key for key in node if key not in keys]
    for key in [*(k for k in keys if k in node), *others]:
        node.move_to_end(key)


def _canonical_config(name: str, value: Any) -> Any:
    if value is None or isinstance(value, list | dict):
        return value
    if isinstance(value, str) and "${" in value:
        return value
    try:
        canonical = to_spec_value(name, normalize(name, value))
    except ConfigValueError:
        return value
    if type(canonical) is type(value) and canonical == value:
        return value  # keep the scalar as written (its comment, its style)
    if isinstance(value, bool) or isinstance(canonical, bool):
        return canonical
    if str(canonical) == str(value) and isinstance(value, int | float):
        return value
    return canonical


def _configs(node: Any) -> None:
    if not isinstance(node, CommentedMap):
        return
    for key in list(node):
        if isinstance(key, str):
            node[key] = _canonical_config(key, node[key])
    _order(node, sorted(str(key) for key in node))


def _schema(node: Any) -> None:
    if isinstance(node, CommentedMap):
        _order(node, _fields(SchemaSpec))
        _each(node.get("references"), _fields(ReferenceSpec))


def _each(node: Any, keys: Sequence[str]) -> list[CommentedMap]:
    if not isinstance(node, CommentedSeq):
        return []
    items = [item for item in node if isinstance(item, CommentedMap)]
    for item in items:
        _order(item, keys)
    return items


# A place in the document that can hold the comment lines that follow it: a mapping and
# one of its keys, or a sequence and an index.
Place = tuple[CommentedMap | CommentedSeq, Any]


def _places(node: Any) -> list[Place]:
    """Every key and item, in document order."""
    found: list[Place] = []
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            found.append((node, key))
            found.extend(_places(value))
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            found.append((node, index))
            found.extend(_places(value))
    return found


def _slot(place: Place) -> int:
    return 2 if isinstance(place[0], CommentedMap) else 0


def _token(place: Place) -> Any:
    container, key = place
    entry = container.ca.items.get(key)
    return entry[_slot(place)] if entry else None


def _detach_following_lines(place: Place) -> tuple[str, Any] | None:
    """Take the whole-line comments (and blank lines) stored after ``place``: YAML keeps
    them with the key before, but they introduce what comes next."""
    token = _token(place)
    if token is None or not isinstance(token.value, str):
        return None
    first, newline, rest = token.value.partition("\n")
    if not rest:
        return None
    token.value = first + newline
    return rest, token


def _attach_following_lines(place: Place, lines: str, like: Any) -> None:
    token = _token(place)
    if token is not None and isinstance(token.value, str):
        token.value = (token.value if token.value.endswith("\n") else token.value + "\n") + lines
        return
    container, key = place
    new = CommentToken("\n" + lines, like.start_mark, None)
    empty: list[Any] = (
        [None, None, None, None] if isinstance(container, CommentedMap) else [None, None]
    )
    container.ca.items.setdefault(key, empty)[_slot(place)] = new


def _is_flow(place: Place) -> bool:
    container, key = place
    value = container[key]
    return (
        isinstance(container, CommentedSeq)
        and isinstance(value, CommentedMap | CommentedSeq)
        and bool(value.fa.flow_style())
    )


def _in_flow(container: CommentedMap | CommentedSeq) -> bool:
    return bool(container.fa.flow_style())


def _opens_collection(place: Place) -> bool:
    container, key = place
    if not isinstance(container, CommentedSeq):
        return False
    value = container[key]
    return isinstance(value, CommentedMap | CommentedSeq) and len(value) > 0


def _format_document(document: CommentedMap) -> None:
    # Comment lines belong to what follows them; note which, reorder, put them back.
    places = _places(document)
    moving: list[tuple[str, Any, Place | None]] = []
    for index, place in enumerate(places):
        detached = _detach_following_lines(place)
        if detached is not None:
            # After an item written in flow style (`- {name: a}`) the comment follows the
            # whole item, not its first key.
            after_item = index + 1 + (len(_places(place[0][place[1]])) if _is_flow(place) else 0)
            owner = places[after_item] if after_item < len(places) else None
            moving.append((*detached, owner))
    _reorder(document)
    after = _places(document)
    position = {(id(c), k): i for i, (c, k) in enumerate(after)}
    # The place whose value each collection is.
    holder = {
        id(c[k]): i
        for i, (c, k) in enumerate(after)
        if isinstance(c[k], CommentedMap | CommentedSeq)
    }
    for lines, token, owner in moving:
        at = (len(after) if owner is None else position[(id(owner[0]), owner[1])]) - 1
        # YAML cannot keep comment lines between a `-` and the first key of its mapping:
        # they go before the `-`, after what precedes the item. Nor inside a collection
        # written in flow style (`{a: 1}`): they go after it.
        while at > 0 and (_opens_collection(after[at]) or _in_flow(after[at][0])):
            if _in_flow(after[at][0]):
                at = holder[id(after[at][0])]
            else:
                at -= 1
        if at >= 0:
            _attach_following_lines(after[at], lines, token)


def _reorder(document: CommentedMap) -> None:
    _order(document, _fields(SpecFile))
    for topic in _each(document.get("topics"), _fields(TopicSpec)):
        _configs(topic.get("configs"))
        _schema(topic.get("value_schema"))
        _schema(topic.get("key_schema"))
    _each(document.get("acls"), _fields(AclEntry))
    for subject in _each(
        document.get("subjects"), _fields(SubjectSpec, first=("name", "topic", "role"))
    ):
        _each(subject.get("references"), _fields(ReferenceSpec))
    for group in _each(document.get("groups"), _fields(GroupSpec)):
        _configs(group.get("configs"))
    _each(document.get("quotas"), _fields(QuotaEntry))


# Strings that ruamel.yaml may write plain although a reader would not read them back the
# same (`:a` in a flow sequence, say): always single-quoted. Inside flow collections (`[a,
# b]`) the flow indicators too.
_NEEDS_QUOTES = re.compile(r"""^[\s:#,\[\]{}&*!|>'"%@`?-]|: |:$| #|\s$""")
_FLOW_INDICATORS = re.compile(r"[,\[\]{}]")


def _quote_strings(node: Any, flow: bool = False) -> Any:
    if isinstance(node, CommentedMap):
        inner = flow or node.fa.flow_style()
        for key in list(node):
            node[key] = _quote_strings(node[key], inner)
    elif isinstance(node, CommentedSeq):
        inner = flow or node.fa.flow_style()
        for index, item in enumerate(node):
            node[index] = _quote_strings(item, inner)
    elif (
        isinstance(node, str)
        and not isinstance(node, SingleQuotedScalarString)
        and "\n" not in node
        and (_NEEDS_QUOTES.search(node) or (flow and _FLOW_INDICATORS.search(node)))
    ):
        return SingleQuotedScalarString(node)
    return node


def _plain(node: Any) -> Any:
    """A loaded document as PyYAML would build it (to check the output means the same)."""
    if isinstance(node, dict):
        return {_plain(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (str, int, float):
        if isinstance(node, kind):
            return kind(node)
    return node


def _comments(text: str) -> dict[str, int]:
    """The comments of a YAML text (``#`` outside scalars), each with its first line."""
    found: dict[str, int] = {}
    previous_end = 0
    gaps: list[tuple[int, int]] = []
    try:
        for token in pyyaml.scan(text, Loader=pyyaml.SafeLoader):
            gaps.append((previous_end, token.start_mark.index))
            previous_end = max(previous_end, token.end_mark.index)
    except pyyaml.YAMLError:
        return {}
    gaps.append((previous_end, len(text)))
    for start, end in gaps:
        for match in re.finditer(r"(?:^|(?<=\s))#[^\n]*", text[start:end]):
            comment = match.group().rstrip()
            line = text.count("\n", 0, start + match.start()) + 1
            found.setdefault(comment, line)
    return found


def is_spec_document(document: Any) -> bool:
    """A mapping of spec sections only (``topics``, ``acls``, ``subjects``, ``quotas``); anything else
    (a workflow, the project file) is not formatted."""
    return isinstance(document, CommentedMap) and all(
        isinstance(key, str) and key in SpecFile.model_fields for key in document
    )


def format_spec(text: str, file: str = "<spec>") -> str | None:
    """The canonical form of a spec file's text; None when it is not a spec file (not
    every document a mapping of spec sections), which is then left alone. Raises
    ``SpecError`` when the text is not YAML.

    Moving comments can leave one where a second pass would move it again: the text is
    formatted until it no longer changes (twice, nearly always), so that formatting a
    formatted file changes nothing."""
    current = _format_once(text, file)
    for _ in range(3):
        if current is None:
            return None
        again = _format_once(current, file)
        if again == current:
            return current
        current = again
    raise KafkaplanError(
        "cannot find a canonical form of this file: formatting it keeps changing it",
        resource=file,
        hint="leave it as it is, and report it with the file",
    )


def _format_once(text: str, file: str) -> str | None:
    yaml = _yaml()
    try:
        documents = list(yaml.load_all(text))
    except YAMLError as exc:
        mark = exc.problem_mark if isinstance(exc, MarkedYAMLError) else None
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError([Diagnostic(f"not valid YAML: {problem}", file=file, line=line)]) from exc
    if not documents or not all(is_spec_document(doc) for doc in documents):
        return None
    for document in documents:
        _format_document(document)
        _quote_strings(document)
    out = io.StringIO()
    yaml.explicit_start = len(documents) > 1 or text.lstrip().startswith("---")
    yaml.dump_all(documents, out)
    formatted = out.getvalue()
    # What kafkaplan will read back must be what was formatted, value for value.
    try:
        reread = list(pyyaml.safe_load_all(formatted))
    except pyyaml.YAMLError:
        reread = None
    kept = _comments(formatted)
    lost = sorted(
        (line, comment) for comment, line in _comments(text).items() if comment not in kept
    )
    if lost:
        line, comment = lost[0]
        raise KafkaplanError(
            f"formatting would lose the comment {comment!r} (line {line}); the YAML library "
            "drops some comments after items written in flow style ({...})",
            resource=file,
            hint="write that item in block style, or move the comment",
        )
    if reread != [_plain(document) for document in documents]:
        spaced = _BLANK_LINES.sub("", text)
        if spaced != text:
            # ruamel.yaml keeps blank lines as comments, and some that follow a value
            # written in flow style ({...}) land in the wrong place when keys move: the
            # file is formatted again without its blank lines (the check above still
            # guards what it says, a block scalar's blank lines included).
            return _format_once(spaced, file)
        raise KafkaplanError(
            "cannot write this file in canonical form without changing what it says",
            resource=file,
            hint="leave it as it is, and report it with the file",
        )
    return formatted


_BLANK_LINES = re.compile(r"\n[ \t]*(?=\n)")
