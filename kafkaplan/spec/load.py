"""Load specs into the desired state, collecting every problem with its file and line.

The stages: find the spec files of the project, parse each (safe YAML, positions kept),
substitute the environment's variables, check the shape (pydantic models), then the meaning
(config names and values, topic names, duplicates and collisions across files), then the
policies. Nothing stops at the first problem: ``SpecError`` carries them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kafkaplan.errors import Diagnostic, ProjectError, SpecError
from kafkaplan.spec import policy, schema_policy, schemas
from kafkaplan.spec.acls import AclEntry, Binding, DesiredAcls, Scope, expand_entry
from kafkaplan.spec.acls import protected_principals as own_principals
from kafkaplan.spec.desired import (
    DesiredState,
    DesiredSubject,
    DesiredTopic,
    RegistrySettings,
    Source,
    is_internal_topic,
)
from kafkaplan.spec.mirror import mirrored_state
from kafkaplan.spec.models import SchemaSpec, SpecFile, SubjectSpec, TopicSpec
from kafkaplan.spec.names import check_subject_name, check_topic_name
from kafkaplan.spec.project import Environment, Project, validation_diagnostics
from kafkaplan.spec.source import Document, YamlProblem, interpolate, read_yaml
from kafkaplan.spec.topic_configs import (
    TOPIC_CONFIGS,
    ConfigValueError,
    normalize,
    unknown_config_hint,
)

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedSpec:
    document: Document
    # The topics that passed the shape check, with their index in the file's `topics` list.
    topics: list[tuple[int, TopicSpec]]
    # Likewise the ACL entries of the file's `acls` list.
    acls: list[tuple[int, AclEntry]] = field(default_factory=list)
    # The same for the file's `subjects` list, and the spec file on disk.
    subjects: list[tuple[int, SubjectSpec]] = field(default_factory=list)
    path: Path | None = None


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
    project: Project, environment: Environment, problems: list[Diagnostic]
) -> list[LoadedSpec]:
    """Parse and shape-check every spec file; problems are appended, not raised."""
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
        try:
            document = read_yaml(path, display=_display(project, path))
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
        before = len(problems)
        interpolate(document, resolve, problems)
        if len(problems) > before:
            continue
        try:
            model = SpecFile.model_validate(document.data)
            topics = list(enumerate(model.topics))
            acls = list(enumerate(model.acls))
            subjects = list(enumerate(model.subjects))
        except ValidationError as exc:
            problems.extend(validation_diagnostics(document, exc))
            topics = _salvage(document.data.get("topics"), TopicSpec)
            acls = _salvage(document.data.get("acls"), AclEntry)
            subjects = _salvage(document.data.get("subjects"), SubjectSpec)
        loaded.append(LoadedSpec(document, topics, acls, subjects, path))
    return loaded


M = TypeVar("M", bound=BaseModel)


def _salvage(raw: Any, model: type[M]) -> list[tuple[int, M]]:
    """The well-formed items of a list in a file with shape errors, so their meaning is
    checked too."""
    if not isinstance(raw, list):
        return []
    items = []
    for index, item in enumerate(raw):
        try:
            items.append((index, model.model_validate(item)))
        except ValidationError:
            continue
    return items


def _topics(
    loaded: list[LoadedSpec], environment: Environment, problems: list[Diagnostic]
) -> dict[str, DesiredTopic]:
    topics: dict[str, DesiredTopic] = {}
    collision_keys: dict[str, DesiredTopic] = {}
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
            desired = _desired_topic(topic, document, path, source, environment, problems)
            first = topics.get(topic.name)
            if first is not None:
                problems.append(
                    Diagnostic(
                        f"topic {topic.name!r} is declared twice",
                        file=source.file,
                        line=source.line,
                        hint=f"first declared at {first.source}",
                    )
                )
                continue
            key = topic.name.replace(".", "_")
            twin = collision_keys.get(key)
            if twin is not None:
                problems.append(
                    Diagnostic(
                        f"topics {twin.name!r} and {topic.name!r} differ only by '.' and '_'",
                        file=source.file,
                        line=source.line,
                        hint=f"they collide in Kafka's metric names; the other is at {twin.source}",
                    )
                )
                continue
            topics[topic.name] = desired
            collision_keys[key] = desired
    return topics


def _desired_topic(
    topic: TopicSpec,
    document: Document,
    path: tuple[str | int, ...],
    source: Source,
    environment: Environment,
    problems: list[Diagnostic],
) -> DesiredTopic:
    configs: dict[str, str | None] = {}
    config_sources: dict[str, Source] = {}
    for key, value in topic.configs.items():
        key_path = (*path, "configs", key)
        config_sources[key] = Source(document.file, document.line_of(key_path))
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
    return DesiredTopic(
        name=topic.name,
        partitions=topic.partitions or environment.defaults.partitions,
        replication_factor=topic.replication_factor or environment.defaults.replication_factor,
        configs=configs,
        source=source,
        config_sources=config_sources,
    )


def _acls(
    loaded: list[LoadedSpec], project: Project, environment: Environment, problems: list[Diagnostic]
) -> DesiredAcls:
    """Every declared binding with where it was first declared, and the project's settings."""
    settings = project.model.acls
    scopes = tuple(Scope.of(scope) for scope in settings.ownership)
    external = [scope for scope in scopes if scope.external]
    bindings: dict[Binding, str] = {}
    for spec in loaded:
        document = spec.document
        for index, entry in spec.acls:
            path = ("acls", index)
            source = str(Source(document.file, document.line_of(path)))
            for binding in expand_entry(entry, document, path, problems):
                owner = next((s for s in external if s.matches(binding)), None)
                if owner is not None:
                    problems.append(
                        document.diagnostic(
                            path,
                            f"{binding.describe()} for {binding.principal} is inside the "
                            f"scope of team {owner.team!r}, which manages its ACLs elsewhere",
                            hint="ask that team to grant it, or change the ownership in "
                            "kafkaplan.yaml",
                        )
                    )
                    break
                bindings.setdefault(binding, source)
    return DesiredAcls(
        bindings=bindings,
        scopes=scopes,
        protected_principals=own_principals(environment.kafka.sasl_username),
    )


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


def load_desired(project: Project, env_name: str | None) -> tuple[str, Environment, DesiredState]:
    """Load and check every spec for an environment. Raises SpecError with all problems.

    A mirror environment (``mirror_of``) gets what its source's specs make of the mirror
    cluster (``kafkaplan.spec.mirror``), checked as the source's."""
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
        _, _, source = load_desired(project, source_name)
        return name, environment, mirrored_state(source, source_name, environment)
    problems: list[Diagnostic] = []
    loaded = parse_spec_files(project, environment, problems)
    topics = _topics(loaded, environment, problems)
    acls = _acls(loaded, project, environment, problems)
    subjects: dict[str, DesiredSubject] = schemas.load_subjects(
        project.root, _schema_declarations(loaded, problems), problems
    )
    settings = project.effective_schemas(environment)
    desired = DesiredState(
        topics=topics,
        ignore_topics=tuple(project.model.ignore_topics),
        owned_topic_prefixes=tuple(project.model.owned_topic_prefixes),
        acls=acls,
        subjects=subjects,
        registry=RegistrySettings(
            compatibility=settings.compatibility,
            owned_prefixes=tuple(settings.owned_subjects or ()),
            hard_delete=bool(settings.hard_delete),
        ),
    )
    rules = project.effective_policy(environment)
    problems.extend(policy.check(desired, rules))
    problems.extend(schema_policy.check(desired, rules))
    if problems:
        raise SpecError(sorted(problems, key=_order))
    return name, environment, desired


def _order(diagnostic: Diagnostic) -> tuple[str, int]:
    return (diagnostic.file or "", diagnostic.line or 0)
