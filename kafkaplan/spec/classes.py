"""Topic classes and dead-letter companions: the expansion of what a topic declares into the
topics the plan compares (``kafkaplan.spec.load`` calls it).

A class is typed data from the project file (``topic_classes``); a topic that says
``class: state`` takes the class's partitions, replication factor, configs, dead-letter
settings and schema requirements, and its own values win key by key. Every effective value
records where it came from (``DesiredTopic.origins``), so plans and docs can say "from class
state". A topic (or a class) with ``dead_letter`` gets a companion ``<name><suffix>`` topic,
planned as a topic of its own, with its retention and partitions from the policy.
"""

from __future__ import annotations

from collections.abc import Mapping

from msgspec import Struct

from kafkaplan.errors import Diagnostic
from kafkaplan.spec.desired import ClassShape, DeadLetterDefaults, DesiredTopic, Source
from kafkaplan.spec.models import DeadLetterSpec
from kafkaplan.spec.names import check_topic_name
from kafkaplan.spec.project import DeadLetterPolicy, Project, TopicClass
from kafkaplan.spec.source import Document, PathKey
from kafkaplan.spec.topic_configs import (
    TOPIC_CONFIGS,
    ConfigValueError,
    normalize,
    unknown_config_hint,
)
from kafkaplan.spec.units import UnitError, parse_duration_ms

TOPIC = "topic"
DEFAULTS = "environment defaults"
DEAD_LETTER_POLICY = "policy.dead_letter"


def class_origin(name: str) -> str:
    return f"class {name}"


class ResolvedClass(Struct, frozen=True):
    """A topic class with its configs normalized and the line of each of its values."""

    name: str
    model: TopicClass
    configs: Mapping[str, str | None]
    config_sources: Mapping[str, Source]
    source: Source
    document: Document | None
    file: str  # the project file, as sources show it


def resolve_classes(project: Project, problems: list[Diagnostic]) -> dict[str, ResolvedClass]:
    """The project's topic classes, each config checked once, at its line in the project file."""
    document = project.document
    try:
        file = str(project.file.resolve().relative_to(project.root))
    except ValueError:
        file = str(project.file)

    def line(path: PathKey) -> int | None:
        return document.line_of(path) if document is not None else None

    resolved: dict[str, ResolvedClass] = {}
    for name, model in project.model.topic_classes.items():
        path: PathKey = ("topic_classes", name)
        configs: dict[str, str | None] = {}
        sources: dict[str, Source] = {}
        for key, value in model.configs.items():
            key_path = (*path, "configs", key)
            sources[key] = Source(file, line(key_path))
            if key not in TOPIC_CONFIGS:
                problems.append(
                    Diagnostic(
                        f"topic class {name!r}: unknown topic config {key!r}",
                        file=file,
                        line=line(key_path),
                        hint=unknown_config_hint(key),
                    )
                )
                continue
            if value is None:
                configs[key] = None
                continue
            try:
                configs[key] = normalize(key, value)
            except ConfigValueError as exc:
                problems.append(
                    Diagnostic(
                        f"topic class {name!r}: {exc}",
                        file=file,
                        line=line(key_path),
                        hint=exc.hint,
                    )
                )
        resolved[name] = ResolvedClass(
            name, model, configs, sources, Source(file, line(path)), document, file
        )
    return resolved


def dead_letter_topic(
    parent: DesiredTopic,
    settings: DeadLetterSpec | None,
    policy: DeadLetterPolicy,
    source: Source,
    document: Document,
    path: PathKey,
    problems: list[Diagnostic],
) -> DesiredTopic | None:
    """The companion of ``parent``: ``<name><suffix>``, the policy's retention and
    partitions unless ``settings`` overrides them, the parent's replication factor and
    min.insync.replicas."""
    name = parent.name + policy.suffix
    reason = check_topic_name(name)
    if reason:
        problems.append(
            document.diagnostic(
                path,
                f"dead-letter topic of {parent.name!r}: {reason}",
                hint="shorten the topic name or policy.dead_letter.suffix",
            )
        )
        return None
    origins: dict[str, str] = {"replication_factor": f"topic {parent.name}"}
    if settings is not None and settings.partitions is not None:
        partitions, origins["partitions"] = settings.partitions, TOPIC
    elif policy.partitions is not None:
        partitions, origins["partitions"] = policy.partitions, DEAD_LETTER_POLICY
    else:
        partitions, origins["partitions"] = parent.partitions, f"topic {parent.name}"
    retention: str | int = policy.retention
    origins["configs.retention.ms"] = DEAD_LETTER_POLICY
    if settings is not None and settings.retention is not None:
        retention, origins["configs.retention.ms"] = settings.retention, TOPIC
    try:
        retention_ms = str(parse_duration_ms(retention))
    except UnitError as exc:
        problems.append(document.diagnostic((*path, "retention"), str(exc)))
        return None
    configs: dict[str, str | None] = {"cleanup.policy": "delete", "retention.ms": retention_ms}
    origins["configs.cleanup.policy"] = DEAD_LETTER_POLICY
    config_sources = {"retention.ms": source, "cleanup.policy": source}
    insync = parent.configs.get("min.insync.replicas")
    if insync is not None:
        configs["min.insync.replicas"] = insync
        origins["configs.min.insync.replicas"] = f"topic {parent.name}"
        config_sources["min.insync.replicas"] = parent.config_sources.get(
            "min.insync.replicas", parent.source
        )
    return DesiredTopic(
        name=name,
        partitions=partitions,
        replication_factor=parent.replication_factor,
        configs=dict(sorted(configs.items())),
        source=source,
        config_sources=config_sources,
        origins=dict(sorted(origins.items())),
        dead_letter_of=parent.name,
    )


def dead_letter_defaults(policy: DeadLetterPolicy) -> DeadLetterDefaults:
    return DeadLetterDefaults(
        suffix=policy.suffix,
        partitions=policy.partitions,
        retention_ms=str(parse_duration_ms(policy.retention)),
    )


def class_shapes(classes: Mapping[str, ResolvedClass]) -> dict[str, ClassShape]:
    """The classes as ``import`` matches live topics against them."""
    shapes = {}
    for name, resolved in sorted(classes.items()):
        model = resolved.model
        dead_letter = model.dead_letter is not None and model.dead_letter is not False
        shapes[name] = ClassShape(
            name=name,
            partitions=model.partitions,
            replication_factor=model.replication_factor,
            configs={k: v for k, v in sorted(resolved.configs.items()) if v is not None},
            dead_letter=dead_letter,
            requires_schemas=tuple(
                role
                for role, needed in (
                    ("key", model.require_key_schema),
                    ("value", model.require_value_schema),
                )
                if needed
            ),
        )
    return shapes
