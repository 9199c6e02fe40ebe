"""``kafkaplan import``: write specs for what is live, so that a plan right after shows no
changes.

The output reads like specs a person would write (docs/import.md):

- topics and subjects in one file per entity (the first dot-separated part of a name:
  ``orders.created.v1`` goes to ``orders.yaml``), topics sorted by name, only the configs
  set on the topic itself (never broker defaults), in human units (``7d``, ``1GiB``), and
  explicit partitions and replication factors;
- each subject's latest schema in ``schemas/<subject>.avsc|.json|.proto``, declared on its
  topic when the topic is imported too (``kafkaplan.importer.subjects``);
- group configs (the values each group sets itself) in ``groups.yaml``
  (``kafkaplan.importer.groups``);
- ACL bindings in one file per principal, ``acls/<principal name>.yaml``, collapsed into
  roles where they match a role's expansion exactly (``kafkaplan.importer.acls``);
- SCRAM users in ``users.yaml``, each with a placeholder ``password_env`` and no secret
  (``kafkaplan.importer.users``).
- client quotas in ``quotas.yaml``, one entry per entity (``kafkaplan.importer.quotas``).

The same cluster and registry always give the same files, byte for byte.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import yaml
from msgspec import Struct, field
from msgspec.structs import replace

from kafkaplan.errors import AuthenticationFailed, ClusterError, ClusterUnreachable, ProjectError
from kafkaplan.importer import acls as import_acls
from kafkaplan.importer import emit
from kafkaplan.importer import groups as import_groups
from kafkaplan.importer import topics as import_topics
from kafkaplan.importer.quotas import QUOTAS_FILE, import_quotas
from kafkaplan.importer.subjects import import_subjects
from kafkaplan.importer.users import import_users
from kafkaplan.live.cluster import Cluster
from kafkaplan.live.read import (
    ACLS_NOT_CHECKED,
    QUOTAS_NOT_CHECKED,
    REGISTRY_WORKERS,
    USERS_NOT_CHECKED,
    read_registry,
    read_selected,
    read_users,
)
from kafkaplan.live.registry import Registry
from kafkaplan.live.state import LiveRegistry, LiveState, LiveSubject, LiveTopic
from kafkaplan.output import write_atomically
from kafkaplan.spec.acls import (
    DEAD_LETTER_WRITE_OPS,
    WILDCARD,
    AclEntry,
    Binding,
    PatternType,
    Permission,
    ResourceType,
    dead_letter_writes,
)
from kafkaplan.spec.desired import DesiredState
from kafkaplan.spec.source import Written
from kafkaplan.spec.topic_configs import REFUSED_CONFIGS, TOPIC_CONFIGS, to_spec_value

RESOURCE_TYPES = ("topics", "acls", "subjects", "users", "groups", "quotas")

T = TypeVar("T")


class ImportResult(Struct):
    files: dict[str, str] = field(default_factory=dict)  # relative path -> file text
    # relative path -> a spec file among them as what it holds (where the writer knows it)
    specs: dict[str, Written] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # what was left out, and why
    notes: list[str] = field(default_factory=list)  # what the user may want to do next

    def add_spec(self, path: str, header: str, content: dict[str, Any]) -> None:
        """A spec file: ``header`` (whole lines of comments) and the YAML of ``content``."""
        emitted = emit.dump(content, first_line=header.count("\n") + 1)
        if emitted is None:
            self.files[path] = header + _pyyaml(content)
            return
        self.files[path] = text = header + emitted.text
        self.specs[path] = Written(text, content, emitted.lines)

    def summary(self) -> str:
        """``4 topics, 5 ACL bindings (as 3 entries), 1 subject``."""

        def count(n: int, one: str, many: str | None = None) -> str:
            return f"{n} {one if n == 1 else many or one + 's'}"

        parts = []
        if "topics" in self.counts:
            parts.append(count(self.counts["topics"], "topic"))
        if "acl_bindings" in self.counts:
            bindings, entries = self.counts["acl_bindings"], self.counts["acl_entries"]
            parts.append(
                count(bindings, "ACL binding")
                + (f" (as {count(entries, 'entry', 'entries')})" if bindings else "")
            )
        if "subjects" in self.counts:
            parts.append(count(self.counts["subjects"], "subject"))
        if "users" in self.counts:
            parts.append(count(self.counts["users"], "user"))
        if "groups" in self.counts:
            parts.append(count(self.counts["groups"], "group"))
        if "quotas" in self.counts:
            parts.append(count(self.counts["quotas"], "quota entity", "quota entities"))
        return ", ".join(parts) or "nothing"


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, as people write YAML; short lists of
    plain values (operations, topic names) inline, as ``[READ, DESCRIBE]``."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value met twice is written twice: specs refuse anchors and aliases


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    scalars = all(isinstance(item, str | int | float | bool) for item in data)
    return dumper.represent_sequence(
        "tag:yaml.org,2002:seq", data, flow_style=scalars and bool(data)
    )


_Dumper.add_representer(list, _represent_list)


def entity_of(name: str) -> str:
    head = name.split(".", 1)[0]
    return head or "topics"


def _topic_spec(topic: LiveTopic, skipped: list[str]) -> dict[str, Any]:
    configs: dict[str, Any] = {}
    for key, value in sorted(topic.overrides().items()):
        if value is None:
            continue
        if key in REFUSED_CONFIGS or key not in TOPIC_CONFIGS:
            skipped.append(
                f"topic.{topic.name}: config {key} ({REFUSED_CONFIGS.get(key, 'not a topic config kafkaplan manages')})"
            )
            continue
        configs[key] = to_spec_value(key, value)
    spec: dict[str, Any] = {
        "name": topic.name,
        "partitions": topic.partitions,
        "replication_factor": topic.replication_factor,
    }
    if configs:
        spec["configs"] = configs
    return spec


def _selected(name: str, prefixes: Sequence[str]) -> bool:
    return not prefixes or name.startswith(tuple(prefixes))


def build_import(
    live: LiveState,
    ignore: DesiredState,
    *,
    prefixes: Sequence[str] = (),
    resources: Sequence[str] = RESOURCE_TYPES,
) -> ImportResult:
    """The files for the live state (pure): relative path -> text.

    ``ignore`` carries what the project says about the estate: the topics it never
    touches (``ignore_topics``, internal topics) and its ACL ownership scopes (bindings in
    an ``external`` scope are never imported)."""
    result = ImportResult()
    topics: dict[str, dict[str, Any]] = {}
    if "topics" in resources:
        for name in sorted(live.topics):
            if ignore.is_ignored_topic(name) or not _selected(name, prefixes):
                continue
            topics[name] = _topic_spec(live.topics[name], result.skipped)
        result.counts["topics"] = len(topics)
    subjects: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if "subjects" in resources and live.registry is not None:
        _subjects(live.subjects, live.registry, prefixes, topics, subjects, result)
    companions = _dead_letters(live, ignore, topics)
    for name, spec in list(topics.items()):
        shape = import_topics.recognise_class(spec, live.topics[name], dict(ignore.topic_classes))
        if shape is not None:
            topics[name] = import_topics.apply_class(spec, shape)
    by_entity: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for name, spec in topics.items():
        by_entity[entity_of(name)].setdefault("topics", []).append(spec)
    for entity, entries in subjects.items():
        by_entity[entity]["subjects"] = entries
    if "groups" in resources:
        group_entries = import_groups.group_specs(live.groups, result.skipped)
        if group_entries:  # counted (and summarized) only when there are any
            result.counts["groups"] = len(group_entries)
            by_entity[import_groups.GROUPS_FILE.removesuffix(".yaml")]["groups"] = group_entries
    header = (
        f"# Imported by `kafkaplan import` from cluster {live.cluster_id}.\n"
        "# Edit freely: only what is written here is managed.\n"
    )
    for entity, content in sorted(by_entity.items()):
        result.add_spec(f"{entity}.yaml", header, content)
    if "acls" in resources:
        for path, entries in _acls(live, ignore, prefixes, companions, result).items():
            result.add_spec(path, header, {"acls": entries})
    if "users" in resources and USERS_NOT_CHECKED in live.not_checked:
        result.skipped.append(f"users: {live.not_checked[USERS_NOT_CHECKED]}")
    elif "users" in resources:
        users = import_users(live.users, ignore, prefixes, result.skipped)
        if users:
            result.counts["users"] = len(users)
            result.add_spec(
                "users.yaml",
                header + "# Passwords are never imported: export each password_env (or rename it)\n"
                "# before a plan creates, changes or rotates the user.\n",
                {"users": users},
            )
    if "quotas" in resources:
        _quotas(live, ignore, prefixes, header, result)
    result.files = dict(sorted(result.files.items()))
    return result


def _quotas(
    live: LiveState,
    ignore: DesiredState,
    prefixes: Sequence[str],
    header: str,
    result: ImportResult,
) -> None:
    """Every quota entity (outside external scopes) in ``quotas.yaml``."""
    if QUOTAS_NOT_CHECKED in live.not_checked:
        result.skipped.append(f"quotas: {live.not_checked[QUOTAS_NOT_CHECKED]}")
        return
    found = import_quotas(live.quotas, prefixes, ignore.quotas.scopes)
    result.skipped.extend(found.skipped)
    if found.entries:
        result.counts["quotas"] = len(found.entries)
        result.add_spec(QUOTAS_FILE, header, {"quotas": found.entries})


def _pyyaml(content: dict[str, Any]) -> str:
    return yaml.dump(content, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=emit.WIDTH)


def _subjects(
    live: Mapping[str, LiveSubject],
    registry: LiveRegistry,
    prefixes: Sequence[str],
    topics: dict[str, dict[str, Any]],
    entries: dict[str, list[dict[str, Any]]],
    result: ImportResult,
) -> None:
    selected = [name for name in live if _selected(name, prefixes)]
    found = import_subjects(live, registry, selected, set(topics), entity_of)
    for topic, schemas in sorted(found.on_topics.items()):
        for key in ("key_schema", "value_schema"):
            if key in schemas:
                topics[topic][key] = schemas[key]
    for entity, entry in found.entries:
        entries[entity].append(entry)
    result.files.update(found.files)
    result.skipped.extend(found.skipped)
    result.counts["subjects"] = found.count
    level = registry.global_compatibility
    if level is not None:
        result.notes.append(
            f"the registry's global compatibility is {level}; kafkaplan leaves it alone unless "
            f"the project declares it: add `schemas: {{compatibility: {level}}}` to the project "
            "file to manage it"
        )


def _dead_letters(
    live: LiveState, ignore: DesiredState, topics: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Collapse live dead-letter companions into `dead_letter` on their topics; returns
    topic -> companion for those collapsed."""
    suffix = ignore.dead_letter.suffix
    companions: dict[str, str] = {}
    for name in sorted(topics):
        dlq = name + suffix
        spec = topics.get(name)
        if spec is None or dlq not in topics or "dead_letter" in spec:
            continue
        if any(key in topics[dlq] for key in ("key_schema", "value_schema")):
            continue
        setting = import_topics.companion_setting(
            live.topics[name], live.topics[dlq], ignore.dead_letter
        )
        if setting is None:
            continue
        spec["dead_letter"] = setting
        del topics[dlq]
        companions[name] = dlq
    return companions


def _without_dead_letter_writes(
    chosen: list[Binding], companions: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The entries for ``chosen``, leaving out the WRITE and DESCRIBE bindings on
    dead-letter topics that the entries' consumer roles imply anyway."""
    if not companions:
        return import_acls.collapse(chosen)
    names = set(companions.values())
    candidates = {
        b
        for b in chosen
        if b.resource_type is ResourceType.TOPIC
        and b.pattern_type is PatternType.LITERAL
        and b.resource_name in names
        and b.operation in DEAD_LETTER_WRITE_OPS
        and b.permission is Permission.ALLOW
        and b.host == WILDCARD
    }
    entries = import_acls.collapse([b for b in chosen if b not in candidates])
    implied: set[Binding] = set()
    for entry in entries:
        implied.update(dead_letter_writes(AclEntry.model_validate(entry), companions))
    rest = [b for b in chosen if b not in candidates or b not in implied]
    entries = import_acls.collapse(rest)
    implied = set()
    for entry in entries:
        implied.update(dead_letter_writes(AclEntry.model_validate(entry), companions))
    if candidates - implied - set(rest):
        return import_acls.collapse(chosen)  # a role changed shape: import them all
    return entries


def _acls(
    live: LiveState,
    ignore: DesiredState,
    prefixes: Sequence[str],
    companions: Mapping[str, str],
    result: ImportResult,
) -> dict[str, list[dict[str, Any]]]:
    """ACL spec entries per file (``acls/<principal>.yaml``)."""
    if ACLS_NOT_CHECKED in live.not_checked:
        result.skipped.append(f"ACLs: {live.not_checked[ACLS_NOT_CHECKED]}")
        return {}
    result.skipped.extend(
        f"ACL binding {text}: this Kafka client cannot read it" for text in live.unreadable_acls
    )
    selected = import_acls.select(live.acls, prefixes, ignore.acls.scopes)
    if prefixes:
        principals = {binding.principal for binding in selected}
        everything = import_acls.select(live.acls, (), ignore.acls.scopes)
        kept = set(selected)
        partial = sorted(
            {b.principal for b in everything if b.principal in principals and b not in kept}
        )
        if partial:
            shown = ", ".join(partial[:5]) + (
                f" and {len(partial) - 5} more" if len(partial) > 5 else ""
            )
            result.notes.append(
                f"{shown} also {'have' if len(partial) > 1 else 'has'} bindings outside the "
                "prefixes, which were not imported (so their roles may show as raw bindings); "
                "add a principal's name as a --prefix to import all of its bindings"
            )
    chosen = []
    for binding in selected:
        reason = import_acls.writable(binding)
        if reason is None:
            chosen.append(binding)
        else:
            result.skipped.append(f"acl.{binding.key}: {reason}")
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    entries = _without_dead_letter_writes(chosen, companions)
    for entry in entries:
        files[import_acls.principal_file(entry["principal"])].append(entry)
    result.counts["acl_bindings"] = len(chosen)
    result.counts["acl_entries"] = len(entries)
    return files


def read_for_import(
    cluster: Cluster,
    ignore: DesiredState,
    prefixes: Sequence[str],
    *,
    acls: bool = False,
    tolerant: bool = False,
    users: bool = False,
    quotas: bool = False,
) -> LiveState:
    """Live state with the configs of every topic that will be imported (its overrides,
    and the configs a dead-letter companion is recognised by), and (with ``acls``) every
    ACL binding, read while the topics are. ``tolerant``: ACLs the principal may not read
    (or a cluster without an authorizer) are recorded in ``not_checked`` instead of
    failing."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafkaplan-acls") as pool:
        acls_read = pool.submit(cluster.describe_acls) if acls else None
        live = read_selected(
            cluster,
            lambda name: not ignore.is_ignored_topic(name) and _selected(name, prefixes),
            config_keys=import_topics.COMPANION_CONFIGS,
        )
        if users:
            found, unread = read_users(cluster, tolerant=tolerant)
            live = replace(live, users=found, not_checked={**live.not_checked, **unread})
        if quotas:
            found_quotas, live = _read_or_note(
                cluster.describe_quotas, live, QUOTAS_NOT_CHECKED, tolerant
            )
            if found_quotas is not None:
                live = replace(live, quotas=found_quotas)
        if acls_read is None:
            return live
        found_acls, live = _read_or_note(acls_read.result, live, ACLS_NOT_CHECKED, tolerant)
    if found_acls is None:
        return live
    bindings, unreadable = found_acls
    return replace(live, acls=frozenset(bindings), unreadable_acls=tuple(unreadable))


def _read_or_note(
    read: Callable[[], T], live: LiveState, key: str, tolerant: bool
) -> tuple[T | None, LiveState]:
    """``read()``'s answer. With ``tolerant``, a refusal (not an unreachable cluster or a
    failed login) is noted in ``not_checked`` under ``key`` instead, and the answer is None."""
    try:
        return read(), live
    except (ClusterUnreachable, AuthenticationFailed):
        raise
    except ClusterError as error:
        if not tolerant:
            raise
        reason = f"not imported: {error.message}" + (f" ({error.hint})" if error.hint else "")
        return None, replace(live, not_checked={**live.not_checked, key: reason})


def read_subjects_for_import(
    registry: Registry, prefixes: Sequence[str]
) -> tuple[dict[str, LiveSubject], LiveRegistry]:
    """The subjects starting with one of ``prefixes`` (every subject without prefixes),
    with the subjects their latest versions refer to, and the registry's levels. Version
    lists are read only of the subjects a reference pins an older version of (to say when
    the registry no longer has it): two requests per subject, not three."""
    listed = registry.list_subjects(list(prefixes) or [""])
    subjects, levels = read_registry(registry, listed, version_lists=False)
    referenced = {r.subject for s in subjects.values() for r in s.references} - set(subjects)
    if referenced:
        more, more_levels = read_registry(registry, referenced)
        subjects = {**subjects, **more}
        levels = replace(
            levels,
            subject_compatibility={
                **more_levels.subject_compatibility,
                **levels.subject_compatibility,
            },
        )
    older = sorted(
        {
            ref.subject
            for subject in subjects.values()
            for ref in subject.references
            if ref.subject in listed
            and ref.subject in subjects
            and ref.version != subjects[ref.subject].version
        }
    )
    if older:
        with ThreadPoolExecutor(max_workers=REGISTRY_WORKERS) as pool:
            found = dict(zip(older, pool.map(registry.versions, older), strict=True))
        subjects.update(
            {
                name: replace(
                    subjects[name], versions=tuple(found[name]) or subjects[name].versions
                )
                for name in older
            }
        )
    return subjects, levels


def write_import(result: ImportResult, out: Path, *, force: bool) -> list[Path]:
    """Write the files; refuse to overwrite existing ones unless ``force``."""
    targets = [out / relative for relative in sorted(result.files)]
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:3]) + (" ..." if len(existing) > 3 else "")
        raise ProjectError(
            f"refusing to overwrite existing files: {shown}",
            hint="choose an empty --out folder, or pass --force to overwrite",
        )
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, result.files[path.relative_to(out).as_posix()])
    return targets
