"""Load specs into the desired state, collecting every problem with its file and line.

The stages: find the spec files of the project, parse each (safe YAML, positions kept),
substitute the environment's variables, check the shape (pydantic models), then the meaning
(config names and values, topic names, duplicates and collisions across files), then the
policies. Nothing stops at the first problem: ``SpecError`` carries them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from msgspec import Struct, field
from pydantic import BaseModel, ValidationError

from kafkaplan.errors import Diagnostic, ProjectError, SpecError
from kafkaplan.kinds import subject_address, topic_address, user_address
from kafkaplan.spec import policy, schema_policy, schemas
from kafkaplan.spec.acls import (
    AclEntry,
    Binding,
    DesiredAcls,
    Scope,
    acl_address,
    dead_letter_writes,
    expand_entry,
)
from kafkaplan.spec.acls import protected_principals as own_principals
from kafkaplan.spec.classes import (
    DEFAULTS,
    TOPIC,
    ResolvedClass,
    class_origin,
    class_shapes,
    dead_letter_defaults,
    dead_letter_topic,
    resolve_classes,
)
from kafkaplan.spec.desired import (
    DesiredState,
    DesiredSubject,
    DesiredTopic,
    RegistrySettings,
    Source,
    is_internal_topic,
)
from kafkaplan.spec.groups import GroupSpec, desired_groups
from kafkaplan.spec.mirror import mirrored_state
from kafkaplan.spec.models import (
    DeadLetter,
    DeadLetterReader,
    DeadLetterSpec,
    SchemaSpec,
    SpecFile,
    SubjectSpec,
    TopicSpec,
)
from kafkaplan.spec.names import check_subject_name, check_topic_name
from kafkaplan.spec.project import Environment, Policy, Project, validation_diagnostics
from kafkaplan.spec.quotas import (
    DesiredQuota,
    DesiredQuotas,
    QuotaEntity,
    QuotaEntry,
    QuotaScope,
)
from kafkaplan.spec.quotas import check_entry as check_quota_entry
from kafkaplan.spec.source import (
    Document,
    PathKey,
    Written,
    YamlProblem,
    interpolate,
    read_yaml,
)
from kafkaplan.spec.topic_configs import (
    TOPIC_CONFIGS,
    ConfigValueError,
    normalize,
    unknown_config_hint,
)
from kafkaplan.spec.users import UserSpec, load_users

SPEC_SUFFIXES = (".yaml", ".yml")


class LoadedSpec(Struct, frozen=True):
    document: Document
    # The topics that passed the shape check, with their index in the file's `topics` list.
    topics: list[tuple[int, TopicSpec]]
    # Likewise the ACL entries of the file's `acls` list.
    acls: list[tuple[int, AclEntry]] = field(default_factory=list)
    # The same for the file's `subjects` list, and the spec file on disk.
    subjects: list[tuple[int, SubjectSpec]] = field(default_factory=list)
    path: Path | None = None
    # And of the file's `users` list.
    users: list[tuple[int, UserSpec]] = field(default_factory=list)
    # The file's `groups` entries that passed the shape check.
    groups: list[tuple[int, GroupSpec]] = field(default_factory=list)
    # The same for the file's `quotas` list.
    quotas: list[tuple[int, QuotaEntry]] = field(default_factory=list)


def find_spec_files(project: Project) -> list[Path]:
    files: list[Path] = []
    for entry in project.spec_paths():
        if entry.is_file():
            files.append(entry)
        elif entry.is_dir():
            files.extend(
                path
                for path in sorted(entry.rglob("*"))
                if path.suffix in SPEC_SUFFIXES and path.is_file() and not _hidden(path, entry)
            )
    return sorted(set(files))


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _display(project: Project, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project.root))
    except ValueError:
        return str(path)


def parse_spec_files(
    project: Project,
    environment: Environment,
    problems: list[Diagnostic],
    written: Mapping[Path, Written] | None = None,
) -> list[LoadedSpec]:
    """Parse and shape-check every spec file; problems are appended, not raised.

    ``written``: files kafkaplan has just written (by absolute path), taken as what it wrote
    instead of being read and parsed again."""
    for entry in project.spec_paths():
        if not entry.exists():
            problems.append(
                Diagnostic(
                    f"spec path {entry} does not exist",
                    file=str(project.file),
                    hint="fix `specs` in the project file",
                )
            )
    variables: dict[str, Any] = dict(environment.variables)

    def resolve(name: str) -> Any:
        return variables[name]

    loaded: list[LoadedSpec] = []
    for path in find_spec_files(project):
        display = _display(project, path)
        known = written.get(path) if written is not None else None
        try:
            document = known.document(display) if known is not None else None
            if document is None:
                document = read_yaml(path, display=display)
        except YamlProblem as exc:
            problems.append(exc.diagnostic)
            continue
        if document.data is None:
            problems.append(
                Diagnostic(
                    "spec file is empty",
                    file=document.file,
                    line=1,
                    hint="declare `topics:` (or delete the file)",
                )
            )
            continue
        if not isinstance(document.data, dict):
            problems.append(
                document.diagnostic((), "a spec file must be a mapping (e.g. `topics: [...]`)")
            )
            continue
        failed: list[PathKey] = []
        interpolate(document, resolve, problems, failed)
        # An item (a topic, a binding, a subject) that names an unknown variable is left
        # out, so its unresolved text causes no follow-on errors; the rest of the file is
        # checked. A reference outside such items leaves the whole file out.
        broken = {path[:2] for path in failed if len(path) >= 2 and path[0] in _SECTIONS}
        if len(broken) < len({path[:2] for path in failed}):
            continue

        try:
            model = SpecFile.model_validate(document.data)
            topics = list(enumerate(model.topics))
            acls = list(enumerate(model.acls))
            subjects = list(enumerate(model.subjects))
            users = list(enumerate(model.users))
            groups = list(enumerate(model.groups))
            quotas = list(enumerate(model.quotas))
        except ValidationError as exc:
            problems.extend(
                validation_diagnostics(document, exc, skip=partial(_within, frozenset(broken)))
            )
            topics = _salvage(document.data.get("topics"), TopicSpec)
            acls = _salvage(document.data.get("acls"), AclEntry)
            subjects = _salvage(document.data.get("subjects"), SubjectSpec)
            users = _salvage(document.data.get("users"), UserSpec)
            groups = _salvage(document.data.get("groups"), GroupSpec)
            quotas = _salvage(document.data.get("quotas"), QuotaEntry)
        if broken:
            topics = [(i, t) for i, t in topics if ("topics", i) not in broken]
            acls = [(i, a) for i, a in acls if ("acls", i) not in broken]
            subjects = [(i, s) for i, s in subjects if ("subjects", i) not in broken]
            users = [(i, u) for i, u in users if ("users", i) not in broken]
            groups = [(i, g) for i, g in groups if ("groups", i) not in broken]
            quotas = [(i, q) for i, q in quotas if ("quotas", i) not in broken]
        loaded.append(LoadedSpec(document, topics, acls, subjects, path, users, groups, quotas))
    return loaded


M = TypeVar("M", bound=BaseModel)

# The top-level lists of a spec file, whose items are checked one by one.
_SECTIONS = ("topics", "acls", "subjects", "users", "groups", "quotas")
# Keys that decide what an item is: one with such a key wrong is not checked further (an
# ACL entry without its `role` would be judged as a raw binding, a quota entry without its
# `user` as another entity's).
_ESSENTIAL = frozenset(
    {
        "name",
        "class",
        "topic_class",
        "principal",
        "role",
        "resource_type",
        "topic",
        "file",
        "type",
        "id",
        "user",
        "client_id",
        "ip",
    }
)


def _salvage(raw: Any, model: type[M]) -> list[tuple[int, M]]:
    """The well-formed items of a list in a file with shape errors, so their meaning is
    checked too."""
    if not isinstance(raw, list):
        return []
    items = []
    for index, item in enumerate(raw):
        salvaged = _valid_part(item, model)
        if salvaged is not None:
            items.append((index, salvaged))
    return items


def _within(items: frozenset[tuple[str | int, ...]], path: tuple[str | int, ...]) -> bool:
    return path[:2] in items


def _valid_part(item: Any, model: type[M]) -> M | None:
    """``item`` as a model, or, when some of its keys are wrong, the item without them (so
    that a topic whose `partitions` is not a number still has its configs checked); None
    when what is wrong is not one key (a missing name, a rule across keys)."""
    for _ in range(3):
        try:
            return model.model_validate(item)
        except ValidationError as exc:
            if not isinstance(item, dict):
                return None
            wrong = {error["loc"][0] for error in exc.errors() if error["loc"]}
            if not wrong or any(not error["loc"] for error in exc.errors()):
                return None
            if wrong & _ESSENTIAL:
                return None  # without it, the item would mean something else
            kept = {key: value for key, value in item.items() if key not in wrong}
            if len(kept) == len(item):
                return None
            item = kept
    return None


class _Topics(Struct):
    """The declared topics with their dead-letter companions, and what the ACLs and the
    schema checks need to know about them."""

    topics: dict[str, DesiredTopic] = field(default_factory=dict)
    # Parent topic -> its companion's name, and the companion's readers (each at its line).
    companions: dict[str, str] = field(default_factory=dict)
    readers: dict[str, list[tuple[DeadLetterReader, Document, PathKey]]] = field(
        default_factory=dict
    )
    # Topic -> the schemas its class requires ("key", "value").
    requires_schemas: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Topic -> where it was marked `protected: true`.
    protected: dict[str, Source] = field(default_factory=dict)


def _topics(
    loaded: list[LoadedSpec],
    environment: Environment,
    classes: dict[str, ResolvedClass],
    rules: Policy,
    problems: list[Diagnostic],
) -> _Topics:
    result = _Topics()
    topics = result.topics
    collision_keys: dict[str, DesiredTopic] = {}

    def add(desired: DesiredTopic, hint_first: str = "") -> None:
        first = topics.get(desired.name)
        if first is not None:
            companion = first.dead_letter_of or desired.dead_letter_of
            message = (
                f"topic {desired.name!r} is the dead-letter topic of {companion!r} and is "
                "declared as well"
                if companion
                else f"topic {desired.name!r} is declared twice"
            )
            problems.append(
                Diagnostic(
                    message,
                    file=desired.source.file,
                    line=desired.source.line,
                    hint=hint_first or f"first declared at {first.source}",
                )
            )
            return
        key = desired.name.replace(".", "_")
        twin = collision_keys.get(key)
        if twin is not None:
            problems.append(
                Diagnostic(
                    f"topics {twin.name!r} and {desired.name!r} differ only by '.' and '_'",
                    file=desired.source.file,
                    line=desired.source.line,
                    hint=f"they collide in Kafka's metric names; the other is at {twin.source}",
                )
            )
            return
        topics[desired.name] = desired
        collision_keys[key] = desired

    pending: list[tuple[DesiredTopic, DeadLetterSpec | None, Source, Document, PathKey]] = []
    for spec in loaded:
        document = spec.document
        for index, topic in spec.topics:
            path = ("topics", index)
            source = Source(document.file, document.line_of(path))
            reason = check_topic_name(topic.name)
            if reason:
                problems.append(
                    document.diagnostic(
                        (*path, "name"), reason, hint="use letters, digits, '.', '_' and '-'"
                    )
                )
                continue
            if is_internal_topic(topic.name):
                problems.append(
                    document.diagnostic(
                        (*path, "name"),
                        f"{topic.name!r} is an internal topic name",
                        hint="Kafka's, Connect's, Streams' and the registry's internal topics "
                        "are never managed",
                    )
                )
                continue
            topic_class: ResolvedClass | None = None
            if topic.topic_class is not None:
                topic_class = classes.get(topic.topic_class)
                if topic_class is None:
                    known = ", ".join(sorted(classes)) or "none are declared"
                    problems.append(
                        document.diagnostic(
                            (*path, "class"),
                            f"unknown topic class {topic.topic_class!r}",
                            hint=f"classes are declared in kafkaplan.yaml under "
                            f"`topic_classes` ({known})",
                        )
                    )
                    continue
            desired = _desired_topic(
                topic, topic_class, document, path, source, environment, problems
            )
            add(desired)
            if topics.get(topic.name) is not desired:
                continue
            if topic.protected:
                result.protected[topic.name] = source
            if topic_class is not None:
                model = topic_class.model
                required = tuple(
                    role
                    for role, needed in (
                        ("key", model.require_key_schema),
                        ("value", model.require_value_schema),
                    )
                    if needed
                )
                if required:
                    result.requires_schemas[topic.name] = required
            dead_letter, dl_document, dl_path = _dead_letter(topic, topic_class, document, path)
            if dead_letter is None or dead_letter is False or dl_document is None:
                continue
            settings = dead_letter if isinstance(dead_letter, DeadLetterSpec) else None
            dl_file = dl_document.file
            if topic.dead_letter is None and topic_class is not None:
                dl_file = topic_class.file
            dl_source = Source(dl_file, dl_document.line_of(dl_path))
            pending.append((desired, settings, dl_source, dl_document, dl_path))
    # Companions after every declared topic, so a declared `<name>.dlq` is reported wherever
    # it is.
    for parent, settings, dl_source, dl_document, dl_path in pending:
        companion = dead_letter_topic(
            parent, settings, rules.dead_letter, dl_source, dl_document, dl_path, problems
        )
        if companion is None:
            continue
        first = topics.get(companion.name)
        if first is not None:
            problems.append(
                Diagnostic(
                    f"topic {companion.name!r} is the dead-letter topic of {parent.name!r} "
                    "and is declared as well",
                    file=first.source.file,
                    line=first.source.line,
                    hint=f"remove this declaration (the companion comes from {dl_source}), or "
                    "set `dead_letter: false` on the topic",
                )
            )
            continue
        add(companion)
        if topics.get(companion.name) is not companion:
            continue
        result.companions[parent.name] = companion.name
        if settings is not None and settings.readers:
            result.readers[parent.name] = [
                (reader, dl_document, (*dl_path, "readers", index))
                for index, reader in enumerate(settings.readers)
            ]
        if parent.name in result.protected:
            result.protected[companion.name] = result.protected[parent.name]
    return result


def _dead_letter(
    topic: TopicSpec, topic_class: ResolvedClass | None, document: Document, path: PathKey
) -> tuple[DeadLetter | None, Document | None, PathKey]:
    """The effective `dead_letter` of a topic: its own, else its class's; and where it is."""
    if topic.dead_letter is not None:
        return topic.dead_letter, document, (*path, "dead_letter")
    if topic_class is not None and topic_class.model.dead_letter is not None:
        return (
            topic_class.model.dead_letter,
            topic_class.document,
            ("topic_classes", topic_class.name, "dead_letter"),
        )
    return None, None, ()


def _desired_topic(
    topic: TopicSpec,
    topic_class: ResolvedClass | None,
    document: Document,
    path: tuple[str | int, ...],
    source: Source,
    environment: Environment,
    problems: list[Diagnostic],
) -> DesiredTopic:
    configs: dict[str, str | None] = {}
    config_sources: dict[str, Source] = {}
    origins: dict[str, str] = {}
    if topic_class is not None:
        of_class = class_origin(topic_class.name)
        for key, class_value in topic_class.configs.items():
            configs[key] = class_value
            config_sources[key] = topic_class.config_sources[key]
            origins[f"configs.{key}"] = of_class
    for key, value in topic.configs.items():
        key_path = (*path, "configs", key)
        config_sources[key] = Source(document.file, document.line_of(key_path))
        origins[f"configs.{key}"] = TOPIC
        if key not in TOPIC_CONFIGS:
            problems.append(
                document.diagnostic(
                    key_path, f"unknown topic config {key!r}", unknown_config_hint(key)
                )
            )
            continue
        if value is None:
            configs[key] = None
            continue
        try:
            configs[key] = normalize(key, value)
        except ConfigValueError as exc:
            problems.append(document.diagnostic(key_path, str(exc), exc.hint))
    defaults = environment.defaults
    model = topic_class.model if topic_class is not None else None
    of_class = class_origin(topic_class.name) if topic_class is not None else ""
    partitions, origins["partitions"] = _pick(
        topic.partitions, model.partitions if model else None, defaults.partitions, of_class
    )
    replication, origins["replication_factor"] = _pick(
        topic.replication_factor,
        model.replication_factor if model else None,
        defaults.replication_factor,
        of_class,
    )
    return DesiredTopic(
        name=topic.name,
        partitions=partitions,
        replication_factor=replication,
        configs=configs,
        source=source,
        config_sources=config_sources,
        topic_class=topic_class.name if topic_class is not None else None,
        # Where each value came from, for topics whose values do not all come from the
        # topic itself and the defaults (a topic of a class).
        origins=dict(sorted(origins.items())) if topic_class is not None else {},
        owner=topic.owner,
    )


def _pick(own: int | None, of_class: int | None, default: int, class_name: str) -> tuple[int, str]:
    if own is not None:
        return own, TOPIC
    if of_class is not None:
        return of_class, class_name
    return default, DEFAULTS


def _acls(
    loaded: list[LoadedSpec],
    project: Project,
    environment: Environment,
    declared: _Topics,
    problems: list[Diagnostic],
) -> tuple[DesiredAcls, dict[str, str]]:
    """Every declared binding with where it was first declared, and the project's settings;
    with the bindings dead-letter topics add (WRITE for the topic's consumers, a consumer
    role for the readers). Also the bindings marked protected, by address."""
    settings = project.model.acls
    scopes = tuple(Scope.of(scope) for scope in settings.ownership)
    external = [scope for scope in scopes if scope.external]
    bindings: dict[Binding, str] = {}
    protected: dict[str, str] = {}
    roles: dict[Binding, str] = {}

    def add(
        expanded: list[Binding],
        document: Document,
        path: PathKey,
        source: str,
        role: str | None = None,
    ) -> list[Binding]:
        added = []
        for binding in expanded:
            owner = next((s for s in external if s.matches(binding)), None)
            if owner is not None:
                problems.append(
                    document.diagnostic(
                        path,
                        f"{binding.describe()} for {binding.principal} is inside the "
                        f"scope of team {owner.team!r}, which manages its ACLs elsewhere",
                        hint="ask that team to grant it, or change the ownership in kafkaplan.yaml",
                    )
                )
                break
            bindings.setdefault(binding, source)
            if role is not None:
                roles.setdefault(binding, role)
            added.append(binding)
        return added

    companions = declared.companions
    for spec in loaded:
        document = spec.document
        for index, entry in spec.acls:
            path = ("acls", index)
            source = str(Source(document.file, document.line_of(path)))
            added = add(
                expand_entry(entry, document, path, problems), document, path, source, entry.role
            )
            if entry.protected:
                for binding in added:
                    protected[acl_address(binding)] = f"`protected: true` at {source}"
            if companions:
                dead_letter = dead_letter_writes(entry, companions)
                add(dead_letter, document, path, source)
    for parent, readers in sorted(declared.readers.items()):
        for reader, document, reader_path in readers:
            entry = AclEntry(
                principal=reader.principal,
                role="consumer",
                topics=[companions[parent]],
                group=reader.group,
                group_prefix=reader.group_prefix,
            )
            source = str(Source(document.file, document.line_of(reader_path)))
            expanded = expand_entry(entry, document, reader_path, problems)
            add(expanded, document, reader_path, source, entry.role)
    acls = DesiredAcls(
        bindings=bindings,
        roles=roles,
        scopes=scopes,
        protected_principals=own_principals(environment.kafka.sasl_username),
    )
    return acls, protected


def _quotas(
    loaded: list[LoadedSpec], project: Project, problems: list[Diagnostic]
) -> DesiredQuotas:
    """Every declared quota entity (declared once), and the project's ownership scopes."""
    scopes = tuple(QuotaScope.of(scope) for scope in project.model.quotas.ownership)
    entities: dict[QuotaEntity, DesiredQuota] = {}
    for spec in loaded:
        document = spec.document
        for index, entry in spec.quotas:
            path = ("quotas", index)
            quota = check_quota_entry(entry, document, path, problems)
            if quota is None:
                continue
            owner = next((s for s in scopes if s.external and s.matches(quota.entity)), None)
            if owner is not None:
                problems.append(
                    document.diagnostic(
                        path,
                        f"the quotas of {quota.entity.phrase()} are inside the scope of team "
                        f"{owner.team!r}, which manages them elsewhere",
                        hint="ask that team to set them, or change quotas.ownership in "
                        "kafkaplan.yaml",
                    )
                )
                continue
            first = entities.get(quota.entity)
            if first is not None:
                problems.append(
                    document.diagnostic(
                        path,
                        f"the quotas of {quota.entity.phrase()} are declared twice (first at "
                        f"{first.source})",
                        hint="declare each entity's quotas in one entry",
                    )
                )
                continue
            entities[quota.entity] = quota
    return DesiredQuotas(entities=dict(sorted(entities.items())), scopes=scopes)


def _schema_declarations(
    loaded: list[LoadedSpec], problems: list[Diagnostic]
) -> list[schemas.Declaration]:
    """Every subject the specs declare: on topics (`value_schema`, `key_schema`) and in
    `subjects` lists (named, or derived from a topic name)."""
    declarations: list[schemas.Declaration] = []
    for spec in loaded:
        document, spec_file = spec.document, spec.path
        if spec_file is None:
            continue
        for index, topic in spec.topics:
            for role, value in (("value", topic.value_schema), ("key", topic.key_schema)):
                if value is None:
                    continue
                schema = SchemaSpec(file=value) if isinstance(value, str) else value
                declarations.append(
                    schemas.Declaration(
                        f"{topic.name}-{role}",
                        schema,
                        document,
                        ("topics", index, f"{role}_schema"),
                        spec_file,
                        topic=topic.name,
                    )
                )
        for index, subject in spec.subjects:
            path = ("subjects", index)
            if (subject.name is None) == (subject.topic is None):
                problems.append(
                    document.diagnostic(
                        path,
                        "a subject needs exactly one of `name` (explicit subject name) and "
                        "`topic` (subject <topic>-value or <topic>-key)",
                    )
                )
                continue
            if subject.topic is not None:
                reason = check_topic_name(subject.topic)
                if reason:
                    problems.append(document.diagnostic((*path, "topic"), reason))
                    continue
                name = f"{subject.topic}-{subject.role}"
            else:
                name = subject.name or ""
                reason = check_subject_name(name)
                if reason:
                    problems.append(document.diagnostic((*path, "name"), reason))
                    continue
            declarations.append(
                schemas.Declaration(name, subject, document, path, spec_file, topic=subject.topic)
            )
    return declarations


def load_desired(
    project: Project,
    env_name: str | None,
    written: Mapping[Path, Written] | None = None,
    *,
    on_topics: Callable[[Mapping[str, DesiredTopic]], None] | None = None,
) -> tuple[str, Environment, DesiredState]:
    """Load and check every spec for an environment. Raises SpecError with all problems.

    A mirror environment (``mirror_of``) gets what its source's specs make of the mirror
    cluster (``kafkaplan.spec.mirror``), checked as the source's. ``written``: as for
    ``parse_spec_files``. ``on_topics``: called with the declared topics as soon as they
    are known without a problem, before the rest of the specs is checked (a plan starts
    reading their configs then); not for a mirror environment."""
    name, environment = project.environment(env_name)
    if environment.mirror_of is not None:
        source_name = environment.mirror_of
        source_env = project.model.environments.get(source_name)
        if source_env is None or source_env.mirror_of is not None or source_name == name:
            raise ProjectError(
                f"environment {name!r} mirrors {source_name!r}, which is not an environment "
                "of the project or is itself a mirror",
                resource=str(project.file),
                hint="`mirror_of` names the environment of the source cluster",
            )
        _, _, source = load_desired(project, source_name, written)
        return name, environment, mirrored_state(source, source_name, environment)
    problems: list[Diagnostic] = []
    rules = project.effective_policy(environment)
    loaded = parse_spec_files(project, environment, problems, written)
    classes = resolve_classes(project, problems)
    declared = _topics(loaded, environment, classes, rules, problems)
    if on_topics is not None and not problems:
        on_topics(declared.topics)
    acls, protected = _acls(loaded, project, environment, declared, problems)
    subjects: dict[str, DesiredSubject] = schemas.load_subjects(
        project.root, _schema_declarations(loaded, problems), problems
    )
    quotas = _quotas(loaded, project, problems)
    protected.update(_protected(loaded, declared))
    users = load_users(
        ((spec.document, index, user) for spec in loaded for index, user in spec.users), problems
    )
    protected.update(
        {
            user_address(name): f"`protected: true` at {user.source}"
            for name, user in users.items()
            if user.protected
        }
    )
    groups = desired_groups(
        [(spec.document, index, group) for spec in loaded for index, group in spec.groups],
        problems,
    )
    settings = project.effective_schemas(environment)
    desired = DesiredState(
        topics=declared.topics,
        ignore_topics=tuple(project.model.ignore_topics),
        owned_topic_prefixes=tuple(project.model.owned_topic_prefixes),
        acls=acls,
        subjects=subjects,
        registry=RegistrySettings(
            compatibility=settings.compatibility,
            owned_prefixes=tuple(settings.owned_subjects or ()),
            hard_delete=bool(settings.hard_delete),
        ),
        protected=dict(sorted(protected.items())),
        protect_patterns=tuple(project.model.protect),
        dead_letter=dead_letter_defaults(rules.dead_letter),
        topic_classes=class_shapes(classes),
        users=users,
        owned_user_prefixes=tuple(project.model.owned_user_prefixes),
        protected_users=frozenset(
            {environment.kafka.sasl_username} if environment.kafka.sasl_username else ()
        ),
        groups=groups,
        quotas=quotas,
    )
    problems.extend(policy.check(desired, rules))
    problems.extend(schema_policy.check(desired, rules))
    problems.extend(schema_policy.check_required(desired, declared.requires_schemas))
    if problems:
        raise SpecError(sorted(problems, key=_order))
    return name, environment, desired


def _protected(loaded: list[LoadedSpec], declared: _Topics) -> dict[str, str]:
    """Topics and subjects marked `protected: true`, by address, with where."""
    protected: dict[str, str] = {}
    for name, source in declared.protected.items():
        reason = f"`protected: true` at {source}"
        protected[topic_address(name)] = reason
        if name not in declared.companions.values():
            for role in ("key", "value"):
                protected[subject_address(f"{name}-{role}")] = reason
    for spec in loaded:
        document = spec.document
        for index, subject in spec.subjects:
            if not subject.protected:
                continue
            name = subject.name or f"{subject.topic}-{subject.role}"
            source = Source(document.file, document.line_of(("subjects", index)))
            protected[subject_address(name)] = f"`protected: true` at {source}"
    return protected


def _order(diagnostic: Diagnostic) -> tuple[str, int]:
    return (diagnostic.file or "", diagnostic.line or 0)


def import_settings(project: Project, environment: Environment) -> DesiredState:
    """What ``import`` needs to know of the project: the topics it never touches, the ACL
    ownership scopes, the dead-letter policy and the topic classes (whose configs, when one
    of them is malformed, are left out rather than failing the import)."""
    model = project.model
    problems: list[Diagnostic] = []
    classes = resolve_classes(project, problems)
    return DesiredState(
        topics={},
        ignore_topics=tuple(model.ignore_topics),
        acls=DesiredAcls(scopes=tuple(Scope.of(scope) for scope in model.acls.ownership)),
        dead_letter=dead_letter_defaults(project.effective_policy(environment).dead_letter),
        topic_classes={} if problems else class_shapes(classes),
        protected_users=frozenset(
            {environment.kafka.sasl_username} if environment.kafka.sasl_username else ()
        ),
        quotas=DesiredQuotas(scopes=tuple(QuotaScope.of(s) for s in model.quotas.ownership)),
    )
