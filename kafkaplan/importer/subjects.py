"""Import of Schema Registry subjects: the latest schema of each into a file, and its spec
entry, so that a plan right after shows no changes.

- The schema goes to ``schemas/<subject>.avsc|.json|.proto`` beside the spec files. Avro and
  JSON Schema are pretty-printed (two-space indent, keys in the registry's order), Protobuf
  is written as the registry returns it; kafkaplan compares canonical forms, so the
  formatting never shows up as a change.
- A subject of the topic-name strategy (``<topic>-value``, ``<topic>-key``) whose topic is
  imported too is declared on the topic (``value_schema`` / ``key_schema``); one whose
  topic is not imported is a ``subjects:`` entry with ``topic`` and ``role`` (so that the
  project's compatibility policies, which match topic names, apply to it); any other
  subject is a ``subjects:`` entry with its explicit ``name``.
- The subject's own compatibility level is written when it has one (a level equal to the
  registry's global one counts as none: Apicurio reports the global level for subjects
  without their own).
- References are written as declared references. A reference to the latest version of a
  subject that is imported too is written ``version: latest`` (the two then move together,
  as kafkaplan's own references do); any other is pinned to its version, so a newer
  version of a subject this import does not manage never changes the referring subject.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from msgspec import Struct, field

from kafkaplan.live.state import LiveRegistry, LiveSubject
from kafkaplan.spec.names import check_subject_name, check_topic_name
from kafkaplan.spec.schemas import parse_lenient

SUFFIXES = {"AVRO": ".avsc", "JSON": ".json", "PROTOBUF": ".proto"}
SCHEMA_FOLDER = "schemas"
JSON_WIDTH = 88  # what fits in this many columns is written on one line
_ROLES = ("value", "key")


class SubjectImport(Struct):
    # topic -> "value_schema" / "key_schema" -> the spec value
    on_topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # entity file key -> entries of its `subjects:` list
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text
    skipped: list[str] = field(default_factory=list)
    count: int = 0


def topic_of(subject: str) -> tuple[str, str] | None:
    """(topic, role) of a topic-name-strategy subject, or None."""
    for role in _ROLES:
        suffix = f"-{role}"
        if subject.endswith(suffix) and check_topic_name(subject[: -len(suffix)]) is None:
            return subject[: -len(suffix)], role
    return None


def pretty(schema_type: str, text: str) -> str:
    """The schema as a file: Avro and JSON Schema indented (keys in the order given, what
    fits on a line on one line, as people write Avro fields), Protobuf as it is; always
    one final newline."""
    if schema_type in ("AVRO", "JSON"):
        try:
            document = json.loads(text)
        except ValueError:
            pass
        else:
            return _json(document, 0, top=True) + "\n"
    return text.rstrip("\n") + "\n"


def _json(value: Any, indent: int, column: int = 0, *, top: bool = False) -> str:
    """``value`` starting at ``column`` of a line indented by ``indent``."""
    inline = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(value, dict | list) or not value:
        return inline
    if not top and column + len(inline) <= JSON_WIDTH:
        return inline
    inner = " " * (indent + 2)
    if isinstance(value, list):
        items = [inner + _json(item, indent + 2, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    members = []
    for key, item in value.items():
        name = f"{json.dumps(key, ensure_ascii=False)}: "
        members.append(inner + name + _json(item, indent + 2, indent + 2 + len(name)))
    return "{\n" + ",\n".join(members) + "\n" + " " * indent + "}"


def file_name(subject: str, schema_type: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", subject).strip(".") or "subject"
    suffix = SUFFIXES.get(schema_type, ".txt")
    name, n = f"{SCHEMA_FOLDER}/{stem}{suffix}", 1
    while name.lower() in taken:
        n += 1
        name = f"{SCHEMA_FOLDER}/{stem}-{n}{suffix}"
    taken.add(name.lower())
    return name


def import_subjects(
    subjects: Mapping[str, LiveSubject],
    registry: LiveRegistry,
    selected: Collection[str],
    topics: Collection[str],
    entity_of: Callable[[str], str],
) -> SubjectImport:
    """The spec values and schema files for the ``selected`` subjects (pure).

    ``subjects`` holds what was read: the selected subjects and those they refer to;
    ``topics`` the names of the topics imported beside them; ``entity_of`` maps a name to
    the file key its entry goes to."""
    result = SubjectImport()
    chosen = sorted(name for name in selected if name in subjects)
    taken: set[str] = set()
    for name in chosen:
        reason = check_subject_name(name)
        if reason:
            result.skipped.append(f"subject.{name}: {reason}")
            continue
        have = subjects[name]
        if have.schema_type not in SUFFIXES:
            result.skipped.append(
                f"subject.{name}: schema type {have.schema_type} is not one kafkaplan manages"
            )
            continue
        path = file_name(name, have.schema_type, taken)
        result.files[path] = pretty(have.schema_type, have.schema)
        value: dict[str, Any] = {"file": path}
        level = registry.subject_compatibility.get(name)
        if level is not None:
            value["compatibility"] = level
        references = []
        for ref in have.references:
            target = subjects.get(ref.subject)
            follows = ref.subject in chosen and target is not None and target.version == ref.version
            references.append(
                {
                    "name": ref.name,
                    "subject": ref.subject,
                    "version": "latest" if follows else ref.version,
                }
            )
            if target is None or ref.version not in target.versions:
                result.skipped.append(
                    f"subject.{name}: reference {ref.name!r} points at version {ref.version} "
                    f"of {ref.subject!r}, which the registry no longer lists; a plan will "
                    "report it"
                )
        if references:
            value["references"] = references
        covered = {ref.name for ref in have.references}
        uncovered = [
            e.name
            for e in parse_lenient(have.schema_type, have.schema).externals
            if e.name not in covered
        ]
        if uncovered:
            result.skipped.append(
                f"subject.{name}: its schema uses {', '.join(uncovered)} but no registered "
                "reference has that name; declare the reference in the spec, or a plan may "
                "propose a new version"
            )
        result.count += 1
        strategy = topic_of(name)
        if strategy is not None and strategy[0] in topics:
            topic, role = strategy
            short = value["file"] if set(value) == {"file"} else value
            result.on_topics.setdefault(topic, {})[f"{role}_schema"] = short
        elif strategy is not None:
            topic, role = strategy
            entry = {"topic": topic, "role": role, **value}
            result.entries.append((entity_of(topic), entry))
        else:
            result.entries.append((entity_of(name), {"name": name, **value}))
    return result
